#!/usr/bin/env node
/**
 * The gossip simulation from the command line:
 *
 *   npm run sim:gossip -- [--seeds N] [--seed S] [--first F] [--members M]
 *                         [--scenario partitions,crash,crash-lossy,slow,refutation,scale]
 *                         [--scale 1000,10000] [--scale-seeds K] [--view V]
 *                         [--loss P] [--duration MS] [--trace] [--trace-net]
 *
 * --seeds N       seeds per membership scenario (default 5); --first F: first seed (1)
 * --seed S        run seed S only (replay); with --trace, print its whole trace
 * --members M     cluster size of partitions / crash / slow / refutation (default 50);
 *                 with `--scenario scale` alone, the scale size
 * --scale LIST    member counts of the scale runs (default 1000,10000)
 * --scale-seeds K seeds per scale size (default 1; --seed S overrides)
 * --view V        partial view size of the scale runs (default 128; ≥ N − 1 = full)
 * --loss P        UDP loss of every scenario (default: each scenario's own)
 * --duration MS   fault phase length (partitions, slow)
 * --trace         with --seed: print every trace line (TRELLIS_SEED does the same)
 * --trace-net 0|1 trace every packet (default: on, off for scale)
 * --allow-stale   do not fail on stale declarations (a member that missed a refutation
 *                 declaring the refuted member dead at its old incarnation; see scenarios.ts)
 *
 * Prints one line per seed, a summary per scenario, the table N → rounds to full
 * dissemination, and for every failing seed the replay command and the trace tail.
 * Exits 1 on any violation.
 */
import { spawnSync } from 'node:child_process';
import { SimulationFailure, parseSimArgs, runSeeds, seedRange } from '@trellis/testkit';
import { FIRST_PROBE_ROUNDS, detectionBound, median, timingOf } from './checks.js';
import { SCENARIOS, type ScenarioOptions, type ScenarioResult } from './scenarios.js';
import { checkScaleGrowth, formatScaleTable } from './report.js';

function fail(msg: string): never {
  console.error(`sim:gossip: ${msg}`);
  process.exit(2);
}

function num(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0) fail(`${what} must be a number ≥ 0, got "${v}"`);
  return x;
}

function list(v: string, what: string): number[] {
  return v.split(',').map((s) => {
    const x = Number(s);
    if (!Number.isSafeInteger(x) || x < 3) fail(`${what}: bad member count "${s}"`);
    return x;
  });
}

async function main(): Promise<number> {
  let args;
  try {
    // Flags without a value (--trace) become --trace=1 for parseSimArgs.
    const argv = process.argv.slice(2);
    const norm = argv.map((a, i) =>
      ['--trace', '--trace-net', '--allow-stale'].includes(a) &&
      (argv[i + 1] ?? '--').startsWith('--')
        ? `${a}=1`
        : a,
    );
    args = parseSimArgs(norm, 5);
  } catch (e) {
    fail((e as Error).message);
  }
  const x = args.extra;
  const known = new Set([
    'members',
    'scenario',
    'scale',
    'scale-seeds',
    'view',
    'loss',
    'duration',
    'trace',
    'trace-net',
    'allow-stale',
  ]);
  for (const k of x.keys()) if (!known.has(k)) fail(`unknown option --${k}`);
  const chosen = (x.get('scenario') ?? Object.keys(SCENARIOS).join(','))
    .split(',')
    .map((s) => s.trim());
  for (const s of chosen) if (!(s in SCENARIOS)) fail(`unknown scenario "${s}"`);
  const members = num(x.get('members'), '--members');
  const loss = num(x.get('loss'), '--loss');
  const duration = num(x.get('duration'), '--duration');
  const view = num(x.get('view'), '--view');
  const traceAll = x.get('trace') === 'true' || x.get('trace') === '1';
  const traceNetRaw = x.get('trace-net');
  const traceNet =
    traceNetRaw === undefined ? undefined : traceNetRaw !== '0' && traceNetRaw !== 'false';
  const allowStale = x.get('allow-stale') === '1' || x.get('allow-stale') === 'true';
  const scaleOnly = chosen.length === 1 && chosen[0] === 'scale';
  const scaleSizes =
    scaleOnly && members !== undefined
      ? [members]
      : list(x.get('scale') ?? '1000,10000', '--scale');
  const seeds = args.seed !== undefined ? [args.seed] : seedRange(args.first, args.seeds);
  const scaleSeeds =
    args.seed !== undefined
      ? [args.seed]
      : seedRange(args.first, num(x.get('scale-seeds'), '--scale-seeds') ?? 1);
  if (args.seed !== undefined && traceAll) process.env['TRELLIS_SEED'] = String(args.seed);

  const t = timingOf();
  console.log(
    `gossip simulation: seeds ${range(seeds)} (scale runs: ${range(scaleSeeds)}), ` +
      `preset lan (probe ${t.probeInterval} ms / timeout ${t.probeTimeout} ms, gossip ${t.gossipInterval} ms × ${t.gossipNodes}, ` +
      `suspicion mult ${t.suspicionMult}, max ×${t.suspicionMaxTimeoutMult})`,
  );
  let failed = 0;
  const summary: string[] = [];
  const scaleResults: ScenarioResult[] = [];

  for (const name of chosen) {
    const sizes = name === 'scale' ? scaleSizes : [members ?? 50];
    for (const size of sizes) {
      const opts: ScenarioOptions = {
        members: size,
        ...(loss !== undefined ? { loss } : {}),
        ...(duration !== undefined ? { durationMs: duration } : {}),
        ...(name === 'scale' && view !== undefined ? { view } : {}),
        ...(traceNet !== undefined ? { traceNetwork: traceNet } : {}),
        ...(allowStale ? { allowStale } : {}),
      };
      const replayArgs = [
        `--scenario ${name}`,
        `--members ${size}`,
        ...(loss !== undefined ? [`--loss ${loss}`] : []),
        ...(duration !== undefined ? [`--duration ${duration}`] : []),
        ...(allowStale ? ['--allow-stale'] : []),
        ...(name === 'scale' && view !== undefined ? [`--view ${view}`] : []),
      ].join(' ');
      if (name === 'crash') {
        const b = detectionBound(t, size);
        console.log(
          `\n== crash (${size} members): detection bound = probeInterval × (${FIRST_PROBE_ROUNDS} + 1) + ` +
            `suspicionMaxTimeoutMult × suspicionMult × max(1, log10 N) × probeInterval + ` +
            `retransmitLimit × gossipInterval = ${b.formula}`,
        );
      } else {
        console.log(`\n== ${name} (${size} members)`);
      }
      const results: ScenarioResult[] = [];
      const wall0 = performance.now();
      const run = SCENARIOS[name]!;
      try {
        await runSeeds({
          name: `gossip ${name}`,
          seeds: name === 'scale' ? scaleSeeds : seeds,
          stopOnFailure: false,
          replay: (seed) => `npm run sim:gossip -- --seed ${seed} ${replayArgs}`,
          run: (ctx) => {
            const w = performance.now();
            const r = run(ctx, opts);
            results.push(r);
            const m = Object.entries(r.metrics)
              .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(1) : v}`)
              .join(' ');
            console.log(
              `  seed ${ctx.seed}: ok  ${((performance.now() - w) / 1000).toFixed(1)} s wall, ` +
                `${(r.simulatedMs / 1000).toFixed(1)} s simulated  ${m}  trace ${r.hash.slice(0, 12)}`,
            );
          },
        });
      } catch (e) {
        if (!(e instanceof SimulationFailure)) throw e;
        failed += e.failures.length;
        for (const f of e.failures) {
          console.log(`  seed ${f.seed}: FAILED`);
        }
        console.log(e.message);
      }
      const total = (name === 'scale' ? scaleSeeds : seeds).length;
      const wall = ((performance.now() - wall0) / 1000).toFixed(1);
      summary.push(
        `${name.padEnd(10)} ${String(size).padStart(6)} members: ${results.length}/${total} seeds ok, ${wall} s wall` +
          aggregate(results),
      );
      if (name === 'scale') scaleResults.push(...results);
    }
  }

  console.log('\n== summary');
  for (const s of summary) console.log(s);
  if (scaleResults.length > 0) {
    console.log('\n== rounds (gossip intervals) to full dissemination of one update');
    console.log(formatScaleTable(scaleResults));
    const problems = checkScaleGrowth(scaleResults, t.gossipNodes);
    for (const p of problems) console.log(`VIOLATION: ${p}`);
    failed += problems.length;
    if (problems.length === 0) console.log('growth: logarithmic (checks in report.ts hold)');
  }
  console.log(failed === 0 ? '\nall seeds passed' : `\n${failed} failure(s)`);
  return failed === 0 ? 0 : 1;
}

function range(xs: readonly number[]): string {
  return xs.length === 1 ? String(xs[0]) : `${xs[0]}…${xs[xs.length - 1]}`;
}

/** min / median / max of the numeric metrics over the seeds that passed. */
function aggregate(results: readonly ScenarioResult[]): string {
  if (results.length === 0) return '';
  const keys = Object.keys(results[0]!.metrics).filter(
    (k) => typeof results[0]!.metrics[k] === 'number',
  );
  const parts: string[] = [];
  for (const k of keys) {
    const xs = results.map((r) => r.metrics[k]).filter((v): v is number => typeof v === 'number');
    if (xs.length === 0) continue;
    const f = (v: number) => String(+v.toFixed(1));
    parts.push(
      xs.length === 1
        ? `${k}=${f(xs[0]!)}`
        : `${k}=${f(Math.min(...xs))}/${f(median(xs))}/${f(Math.max(...xs))}`,
    );
  }
  return `\n    ${parts.join(' ')}${results.length > 1 ? '  (min/median/max)' : ''}`;
}

/**
 * Big heaps (10,000 members) spend much of their time in the young-generation GC with
 * Node's default 16 MB semi-space: re-run this file once with a larger one (halves the
 * scale run's measurement phase). TRELLIS_SIM_NO_REEXEC=1 disables it.
 */
function reexecWithBiggerYoungGen(): boolean {
  if (process.env['TRELLIS_SIM_NO_REEXEC'] === '1') return false;
  if (process.execArgv.some((a) => a.startsWith('--max-semi-space-size'))) return false;
  const r = spawnSync(
    process.execPath,
    ['--max-semi-space-size=64', ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, TRELLIS_SIM_NO_REEXEC: '1' } },
  );
  process.exit(r.status ?? 1);
}

if (!reexecWithBiggerYoungGen())
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
