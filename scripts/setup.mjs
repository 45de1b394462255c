#!/usr/bin/env node
// Self-setup shared by `npm test`, `npm start` and `npm run lint`: on a fresh clone (or
// after package-lock.json changed) install the exact locked dependencies, then build
// every workspace with `tsc -b` (incremental, so a second run costs little).
//
// Usage: node scripts/setup.mjs [--no-build]
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = join(root, 'package-lock.json');
// npm writes this file at the end of every successful install: its mtime says when the
// tree under node_modules was last made to match the lock file.
const installed = join(root, 'node_modules', '.package-lock.json');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`setup: \`${cmd} ${args.join(' ')}\` exited with ${r.status ?? r.signal}`);
    process.exit(r.status ?? 1);
  }
}

function needsInstall() {
  if (!existsSync(installed)) return 'node_modules is missing';
  if (existsSync(lock) && statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
    return 'package-lock.json is newer than node_modules';
  }
  return null;
}

const reason = needsInstall();
if (reason) {
  console.error(`setup: ${reason}; installing dependencies`);
  const args = existsSync(lock)
    ? ['ci', '--no-audit', '--no-fund']
    : ['install', '--no-audit', '--no-fund'];
  run('npm', args);
}

if (!process.argv.includes('--no-build')) {
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
}
