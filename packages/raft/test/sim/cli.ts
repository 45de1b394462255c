/**
 * `npm run sim:raft -- --seeds N [--seed S] [--first F] [--voters 3|5] [--fault-ms MS] [--fault-gap-ms MS]
 *    [--faults partition,crash,…] [--verbose 1] [--quiet 1]`
 *
 * Runs the Raft simulation over N seeds (from F, default 1), or replays seed S with its
 * trace printed. Exits non-zero on the first violation, printing the seed, the replay
 * command and the tail of the trace.
 */
import { parseSimArgs, runSeeds, SimulationFailure } from '@trellis/testkit';
import { replayCommand } from './replay.js';
import {
  ALL_FAULTS,
  simulate,
  type FaultKind,
  type SimConfig,
  type SimResult,
} from './simulation.js';

async function main(): Promise<number> {
  const args = parseSimArgs(process.argv.slice(2), 100);
  const voters = args.extra.get('voters');
  const faultMs = args.extra.get('fault-ms');
  const faultGapMs = args.extra.get('fault-gap-ms');
  const faults = args.extra.get('faults')?.split(',') as FaultKind[] | undefined;
  for (const f of faults ?? []) {
    if (!ALL_FAULTS.includes(f))
      throw new Error(`unknown fault "${f}" (known: ${ALL_FAULTS.join(', ')})`);
  }
  const seeds =
    args.seed !== undefined
      ? [args.seed]
      : Array.from({ length: args.seeds }, (_, i) => args.first + i);
  const verbose = args.seed !== undefined || args.extra.get('verbose') === '1';
  // Replaying one seed: runSeeds prints its whole trace (TRELLIS_SEED), unless --quiet 1.
  if (args.seed !== undefined && args.extra.get('quiet') !== '1') {
    process.env['TRELLIS_SEED'] = String(args.seed);
  }
  const started = performance.now();
  let last = started;
  let done = 0;
  let ops = 0;
  let worstRecovery = 0;
  try {
    await runSeeds({
      name: 'raft',
      seeds,
      replay: (seed) =>
        replayCommand(seed) +
        [...args.extra]
          .filter(([k]) => k !== 'verbose' && k !== 'quiet')
          .map(([k, v]) => ` --${k} ${v}`)
          .join(''),
      traceTail: 80,
      run: async ({ seed, trace }) => {
        const cfg: SimConfig = {
          seed,
          trace,
          ...(voters === undefined ? {} : { voters: Number(voters) }),
          ...(faultMs === undefined ? {} : { faultMs: Number(faultMs) }),
          ...(faultGapMs === undefined ? {} : { faultGapMs: Number(faultGapMs) }),
          ...(faults === undefined ? {} : { faults }),
        };
        const r: SimResult = await simulate(cfg);
        done++;
        ops += r.operations;
        worstRecovery = Math.max(worstRecovery, r.recoveryMs);
        if (verbose) console.log(JSON.stringify(r));
        const now = performance.now();
        if (now - last > 5000) {
          last = now;
          console.error(
            `… ${done}/${seeds.length} seeds, ${((now - started) / 1000).toFixed(1)} s`,
          );
        }
      },
    });
  } catch (e) {
    if (e instanceof SimulationFailure) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
  const s = (performance.now() - started) / 1000;
  console.log(
    `raft simulation: ${done} seeds passed in ${s.toFixed(1)} s (${(done / s).toFixed(1)} seeds/s), ` +
      `${ops} client operations, slowest recovery after heal ${worstRecovery} virtual ms`,
  );
  return 0;
}

process.exitCode = await main();
