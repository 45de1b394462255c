/**
 * Running a simulation over many seeds, and replaying one. A failing seed is reported with
 * the command that replays it and the tail of its trace, so that a red CI run can be
 * reproduced locally with one command.
 *
 * Environment:
 * - TRELLIS_SEED=S       run only seed S (any test or sim command), tracing to stdout.
 * - TRELLIS_SEEDS=N      override how many seeds a test runs (e.g. 10000 for a soak).
 */
import { Trace } from './trace.js';

export interface SeedContext {
  readonly seed: number;
  /** The run's trace; its tail is printed when the run fails. */
  readonly trace: Trace;
}

export interface RunSeedsOptions {
  /** What is simulated, for messages: "raft", "gossip". */
  readonly name: string;
  /** Seeds to run, unless TRELLIS_SEED names one. */
  readonly seeds: readonly number[];
  /** The shell command that replays one seed, e.g. `npm run sim:raft -- --seed 42`. */
  readonly replay: (seed: number) => string;
  /** One run. Throws (or rejects) on a violated property. */
  readonly run: (ctx: SeedContext) => void | Promise<void>;
  /** Lines of trace kept for the report. Default 60. */
  readonly traceTail?: number;
  /** Stop at the first failure (default) or collect every failing seed. */
  readonly stopOnFailure?: boolean;
}

export interface SeedFailure {
  readonly seed: number;
  readonly error: unknown;
  readonly replay: string;
  readonly traceTail: readonly string[];
}

export class SimulationFailure extends Error {
  readonly code = 'ERR_SIMULATION_FAILURE';
  constructor(readonly failures: readonly SeedFailure[]) {
    super(failures.map(describeFailure).join('\n\n'));
    this.name = 'SimulationFailure';
  }
}

function describeFailure(f: SeedFailure): string {
  const why = f.error instanceof Error ? (f.error.stack ?? f.error.message) : String(f.error);
  return [
    `seed ${f.seed} failed: ${why}`,
    `replay: ${f.replay}`,
    ...(f.traceTail.length > 0 ? ['last trace lines:', ...f.traceTail.map((l) => '  ' + l)] : []),
  ].join('\n');
}

/** `count` consecutive seeds from `first`. */
export function seedRange(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

/**
 * The seeds a test should run: TRELLIS_SEED alone when set, else TRELLIS_SEEDS consecutive
 * seeds when set, else `defaultCount` from `first`.
 */
export function seedsFromEnv(defaultCount: number, first = 1): number[] {
  const one = process.env['TRELLIS_SEED'];
  if (one !== undefined && one !== '') return [parseSeed(one, 'TRELLIS_SEED')];
  const n = process.env['TRELLIS_SEEDS'];
  if (n !== undefined && n !== '') return seedRange(first, parseCount(n, 'TRELLIS_SEEDS'));
  return seedRange(first, defaultCount);
}

function parseSeed(text: string, what: string): number {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`${what} must be a non-negative integer, got "${text}"`);
  return v;
}

function parseCount(text: string, what: string): number {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 1)
    throw new RangeError(`${what} must be a positive integer, got "${text}"`);
  return v;
}

/**
 * Runs `run` once per seed, each with a fresh trace. Resolves with the number of seeds run;
 * rejects with a {@link SimulationFailure} naming every failing seed and its replay command.
 */
export async function runSeeds(options: RunSeedsOptions): Promise<number> {
  const failures: SeedFailure[] = [];
  const single = process.env['TRELLIS_SEED'];
  const seeds =
    single !== undefined && single !== '' ? [parseSeed(single, 'TRELLIS_SEED')] : options.seeds;
  const keep = options.traceTail ?? 60;
  for (const seed of seeds) {
    const trace = new Trace(
      seeds.length === 1 && single !== undefined ? { keep, sink: (l) => console.log(l) } : { keep },
    );
    try {
      await options.run({ seed, trace });
    } catch (error) {
      failures.push({ seed, error, replay: options.replay(seed), traceTail: trace.tail() });
      if (options.stopOnFailure ?? true) break;
    }
  }
  if (failures.length > 0) throw new SimulationFailure(failures);
  return seeds.length;
}

export interface SimArgs {
  /** Number of seeds (`--seeds N`), default given by the caller. */
  readonly seeds: number;
  /** A single seed to replay (`--seed S`), if given. */
  readonly seed: number | undefined;
  /** First seed of the range (`--first F`), default 1. */
  readonly first: number;
  /** Other `--key value` options, for the simulation to interpret (e.g. `--members 50`). */
  readonly extra: ReadonlyMap<string, string>;
}

/** Parses `--seeds N [--seed S] [--first F] [--key value …]` for the `sim:*` commands. */
export function parseSimArgs(argv: readonly string[], defaultSeeds: number): SimArgs {
  let seeds = defaultSeeds;
  let seed: number | undefined;
  let first = 1;
  const extra = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : a;
    if (!key.startsWith('--'))
      throw new Error(`unexpected argument "${a}" (options are --name value)`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`option ${key} needs a value`);
    if (key === '--seeds') seeds = parseCount(value, '--seeds');
    else if (key === '--seed') seed = parseSeed(value, '--seed');
    else if (key === '--first') first = parseSeed(value, '--first');
    else extra.set(key.slice(2), value);
  }
  return { seeds, seed, first, extra };
}
