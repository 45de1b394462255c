// Tests are TypeScript, compiled by `tsc -b` (run by scripts/setup.mjs) and run from dist/.
// rewritePaths maps each workspace's sources onto its build output, so ava reports the .ts
// paths while executing only what the current build produced (no stale compiled tests).
import { readdirSync, existsSync } from 'node:fs';

const rewritePaths = { 'test/': 'test/dist/' };
for (const group of ['packages', 'cmd']) {
  if (!existsSync(group)) continue;
  for (const name of readdirSync(group)) {
    rewritePaths[`${group}/${name}/`] = `${group}/${name}/dist/`;
  }
}

export default {
  typescript: { compile: false, rewritePaths },
  files: [
    'packages/*/test/**/*.test.ts',
    'cmd/*/test/**/*.test.ts',
    'test/**/*.test.ts',
    '!test/bench/**',
  ],
  timeout: '3m',
  // Simulations are CPU-bound; two workers match the 2-core CI machine.
  concurrency: 2,
};
