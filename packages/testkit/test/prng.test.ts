import test from 'ava';
import { Prng } from '../src/index.js';

test('xoshiro128** matches the reference implementation from state (1, 2, 3, 4)', (t) => {
  // Outputs of Blackman & Vigna's xoshiro128starstar.c compiled with gcc.
  const g = Prng.fromState(1, 2, 3, 4);
  t.deepEqual(
    Array.from({ length: 6 }, () => g.nextUint32()),
    [11520, 0, 5927040, 70819200, 2031721883, 1637235492],
  );
});

test('the same seed yields the same sequence; different seeds differ', (t) => {
  const draw = (seed: number | string) => {
    const g = new Prng(seed);
    return Array.from({ length: 32 }, () => g.nextUint32());
  };
  t.deepEqual(draw(42), draw(42));
  t.deepEqual(draw('raft/7'), draw('raft/7'));
  t.notDeepEqual(draw(42), draw(43));
  t.notDeepEqual(draw(0), draw(2 ** 32)); // the high word of the seed matters
});

test('a seed pins the sequence across machines and versions (golden values)', (t) => {
  // If this changes, every recorded failing seed stops replaying: change it deliberately.
  const g = new Prng(1);
  t.deepEqual(
    Array.from({ length: 4 }, () => g.nextUint32()),
    [2442144158, 3238099751, 3819917871, 2104621829],
  );
});

test('int(n) stays in range and is close to uniform', (t) => {
  const g = new Prng(7);
  const counts = new Array<number>(10).fill(0);
  const draws = 100_000;
  for (let i = 0; i < draws; i++) {
    const v = g.int(10);
    t.true(v >= 0 && v < 10);
    counts[v]!++;
  }
  // Each bucket expects 10,000; 5 standard deviations is ±~475.
  for (const c of counts) t.true(Math.abs(c - 10_000) < 500, `bucket count ${c}`);
});

test('float() is in [0, 1) and intBetween / floatBetween respect their bounds', (t) => {
  const g = new Prng(9);
  for (let i = 0; i < 10_000; i++) {
    const f = g.float();
    t.true(f >= 0 && f < 1);
    const k = g.intBetween(-3, 3);
    t.true(k >= -3 && k <= 3 && Number.isInteger(k));
    const x = g.floatBetween(5, 6);
    t.true(x >= 5 && x < 6);
  }
});

test('shuffle returns a permutation and pick draws members', (t) => {
  const g = new Prng(11);
  const items = Array.from({ length: 50 }, (_, i) => i);
  const shuffled = g.shuffle([...items]);
  t.notDeepEqual(shuffled, items);
  t.deepEqual(
    [...shuffled].sort((a, b) => a - b),
    items,
  );
  for (let i = 0; i < 100; i++) t.true(items.includes(g.pick(items)));
});

test('derive gives each label its own stream without consuming the parent', (t) => {
  const parent = new Prng(5);
  const a1 = Prng.derive(5, 'network');
  const before = new Prng(5).nextUint32();
  t.is(parent.nextUint32(), before);
  const a2 = Prng.derive(5, 'network');
  const b = Prng.derive(5, 'disk');
  const x = a1.nextUint32();
  t.is(a2.nextUint32(), x);
  t.not(b.nextUint32(), x);
});

test('exponential and normal have roughly the requested means', (t) => {
  const g = new Prng(13);
  let e = 0;
  let n = 0;
  const k = 50_000;
  for (let i = 0; i < k; i++) {
    e += g.exponential(4);
    n += g.normal(10, 2);
  }
  t.true(Math.abs(e / k - 4) < 0.1);
  t.true(Math.abs(n / k - 10) < 0.05);
});

test('bad arguments are rejected with RangeError', (t) => {
  t.throws(() => new Prng(-1), { instanceOf: RangeError });
  t.throws(() => new Prng(1.5), { instanceOf: RangeError });
  const g = new Prng(1);
  t.throws(() => g.int(0), { instanceOf: RangeError });
  t.throws(() => g.int(2.5), { instanceOf: RangeError });
  t.throws(() => g.intBetween(3, 1), { instanceOf: RangeError });
  t.throws(() => g.pick([]), { instanceOf: RangeError });
  t.throws(() => Prng.fromState(0, 0, 0, 0), { instanceOf: RangeError });
});
