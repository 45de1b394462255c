#!/usr/bin/env node
// Runs ava in TAP mode, echoes its output, and closes with the line CI reads:
//   N passed, N failed, N skipped
// Exits non-zero when any test failed, when ava itself failed, or when no test ran.
// Extra arguments are passed to ava (e.g. a file pattern or `--match`).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const child = spawn(process.execPath, [ava, '--tap', ...process.argv.slice(2)], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0' },
});

let passed = 0;
let failed = 0;
let skipped = 0;
const rl = createInterface({ input: child.stdout });
rl.on('line', (line) => {
  process.stdout.write(line + '\n');
  // TAP 13 test points: "ok 3 - title", "not ok 4 - title", "ok 5 - title # SKIP reason".
  const m = /^(not ok|ok)\b(.*)$/.exec(line);
  if (!m) return;
  if (m[1] === 'not ok') {
    // ava reports todo tests as "not ok … # TODO": they are neither run nor failures.
    if (/#\s*TODO\b/i.test(m[2])) skipped++;
    else failed++;
  } else if (/#\s*SKIP\b/i.test(m[2])) skipped++;
  else passed++;
});

child.on('close', (code, signal) => {
  rl.close();
  let exit = 0;
  if (failed > 0) exit = 1;
  else if (code !== 0) {
    console.log(`# ava exited with ${code ?? signal} although no test point failed`);
    exit = 1;
  } else if (passed === 0) {
    console.log('# no test ran');
    exit = 1;
  }
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(exit);
});
