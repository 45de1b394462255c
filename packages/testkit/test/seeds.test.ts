import test from 'ava';
import {
  SimulationFailure,
  parseSimArgs,
  runSeeds,
  seedRange,
  seedsFromEnv,
} from '../src/index.js';

test('runSeeds runs every seed with its own trace and returns the count', async (t) => {
  const seen: number[] = [];
  const hashes = new Set<string>();
  const n = await runSeeds({
    name: 'unit',
    seeds: seedRange(10, 5),
    replay: (s) => `npm run sim:unit -- --seed ${s}`,
    run: ({ seed, trace }) => {
      seen.push(seed);
      trace.record(0, 'start', `seed=${seed}`);
      hashes.add(trace.hash());
    },
  });
  t.is(n, 5);
  t.deepEqual(seen, [10, 11, 12, 13, 14]);
  t.is(hashes.size, 5);
});

test('a failing seed is reported with its replay command and the tail of its trace', async (t) => {
  const err = await t.throwsAsync(
    runSeeds({
      name: 'unit',
      seeds: [1, 2, 3, 4],
      replay: (s) => `npm run sim:unit -- --seed ${s}`,
      run: ({ seed, trace }) => {
        trace.record(5, 'deliver', `seed ${seed} message`);
        if (seed === 3) throw new Error('election safety violated: two leaders in term 4');
      },
    }),
    { instanceOf: SimulationFailure },
  );
  t.is(err.failures.length, 1);
  t.is(err.failures[0]!.seed, 3);
  t.regex(err.message, /seed 3 failed: Error: election safety violated/);
  t.regex(err.message, /replay: npm run sim:unit -- --seed 3/);
  t.regex(err.message, /5\.000 deliver seed 3 message/);
});

test('stopOnFailure=false collects every failing seed', async (t) => {
  const err = await t.throwsAsync(
    runSeeds({
      name: 'unit',
      seeds: seedRange(1, 6),
      replay: (s) => String(s),
      stopOnFailure: false,
      run: ({ seed }) => {
        if (seed % 2 === 0) throw new Error('even');
      },
    }),
    { instanceOf: SimulationFailure },
  );
  t.deepEqual(
    err.failures.map((f) => f.seed),
    [2, 4, 6],
  );
});

test('sim command arguments: --seeds, --seed, --first and extras, with clear errors', (t) => {
  const a = parseSimArgs(['--seeds', '500', '--members=50', '--first', '7'], 100);
  t.is(a.seeds, 500);
  t.is(a.first, 7);
  t.is(a.seed, undefined);
  t.is(a.extra.get('members'), '50');
  t.is(parseSimArgs(['--seed=42'], 100).seed, 42);
  t.is(parseSimArgs([], 100).seeds, 100);
  t.throws(() => parseSimArgs(['--seeds', '0'], 1), { message: /positive integer/ });
  t.throws(() => parseSimArgs(['--seed', 'x'], 1), { message: /non-negative integer/ });
  t.throws(() => parseSimArgs(['--seeds'], 1), { message: /needs a value/ });
  t.throws(() => parseSimArgs(['seeds'], 1), { message: /unexpected argument/ });
});

test('seedsFromEnv honours TRELLIS_SEED and TRELLIS_SEEDS', (t) => {
  const saved = { one: process.env['TRELLIS_SEED'], many: process.env['TRELLIS_SEEDS'] };
  try {
    delete process.env['TRELLIS_SEED'];
    delete process.env['TRELLIS_SEEDS'];
    t.deepEqual(seedsFromEnv(3), [1, 2, 3]);
    process.env['TRELLIS_SEEDS'] = '2';
    t.deepEqual(seedsFromEnv(3, 100), [100, 101]);
    process.env['TRELLIS_SEED'] = '77';
    t.deepEqual(seedsFromEnv(3), [77]);
  } finally {
    for (const [k, v] of [
      ['TRELLIS_SEED', saved.one],
      ['TRELLIS_SEEDS', saved.many],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
