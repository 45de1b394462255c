/**
 * Runs every data-driven interaction script in packages/raft/testdata/ (one ava test per
 * file). Regenerate expected outputs with TRELLIS_REWRITE=1.
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatMismatches, runDataDriven } from '@trellis/testkit';
import { InteractionEnv } from './interaction.js';

const dir = new URL('../../testdata/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

for (const file of files) {
  test(`interaction: ${file}`, (t) => {
    const env = new InteractionEnv();
    const res = runDataDriven(fileURLToPath(new URL(file, dir)), (tc) => env.handle(tc));
    t.true(res.cases > 0, 'script has no cases');
    t.deepEqual(res.mismatches, [], formatMismatches(res.mismatches));
  });
}
