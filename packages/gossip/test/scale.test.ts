import test from 'ava';
import {
  Awareness,
  Suspicion,
  pushPullScale,
  retransmitLimit,
  suspicionTimeout,
  suspicionTimeoutAfter,
} from '../src/index.js';

// memberlist util_test.go TestSuspicionTimeout: suspicionTimeout(3, n, 1s) / 3.
test('suspicionTimeout matches memberlist', (t) => {
  const table: [number, number][] = [
    [5, 1000],
    [10, 1000],
    [50, 1698],
    [100, 2000],
    [500, 2698],
    [1000, 3000],
  ];
  for (const [n, expected] of table) t.is(suspicionTimeout(3, n, 1000) / 3, expected, `n=${n}`);
  // LAN preset, 10 members: min 4 s, max 6 × 4 s.
  t.is(suspicionTimeout(4, 10, 1000), 4000);
  t.is(suspicionTimeout(4, 100, 1000), 8000);
});

// memberlist util_test.go TestRetransmitLimit.
test('retransmitLimit matches memberlist', (t) => {
  t.is(retransmitLimit(3, 0), 0);
  t.is(retransmitLimit(3, 1), 3);
  t.is(retransmitLimit(3, 99), 6);
  t.is(retransmitLimit(4, 10), 8);
});

// memberlist util_test.go TestPushPullScale.
test('pushPullScale matches memberlist', (t) => {
  for (let n = 0; n <= 32; n++) t.is(pushPullScale(1000, n), 1000, `n=${n}`);
  for (let n = 33; n <= 64; n++) t.is(pushPullScale(1000, n), 2000, `n=${n}`);
  for (let n = 65; n <= 128; n++) t.is(pushPullScale(1000, n), 3000, `n=${n}`);
});

// memberlist suspicion_test.go TestSuspicion_remainingSuspicionTime (elapsed subtracted).
test('remaining suspicion time matches memberlist', (t) => {
  const cases: [
    n: number,
    k: number,
    elapsed: number,
    min: number,
    max: number,
    expected: number,
  ][] = [
    [0, 3, 0, 2000, 30000, 30000],
    [1, 3, 2000, 2000, 30000, 14000],
    [2, 3, 3000, 2000, 30000, 4810],
    [3, 3, 4000, 2000, 30000, -2000],
    [4, 3, 5000, 2000, 30000, -3000],
    [5, 3, 10000, 2000, 30000, -8000],
  ];
  for (const [n, k, elapsed, min, max, expected] of cases) {
    t.is(suspicionTimeoutAfter(n, k, min, max) - elapsed, expected, `n=${n}`);
  }
});

test('suspicion shrinks with independent confirmations only', (t) => {
  // memberlist suspicion_test.go TestSuspicion: k = 3, min 2 s, max 30 s.
  const s = new Suspicion('me', 3, 2000, 30000, 100);
  t.is(s.deadline(), 100 + 30000);
  t.false(s.confirm('me'), 'the accuser does not confirm itself');
  t.true(s.confirm('foo'));
  t.is(s.timeout(), 16000);
  t.false(s.confirm('foo'), 'duplicates do not count');
  t.true(s.confirm('bar'));
  t.is(s.timeout(), 7810); // 30 − log(3)/log(4) × 28 s, floored to ms
  t.true(s.confirm('baz'));
  t.is(s.timeout(), 2000);
  t.false(s.confirm('zoo'), 'beyond k: ignored');
  t.is(s.confirmations, 3);
  t.is(s.remaining(2100), 0);
});

test('suspicion with k = 0 uses the minimum at once', (t) => {
  const s = new Suspicion('me', 0, 2000, 30000, 0);
  t.is(s.deadline(), 2000);
  t.false(s.confirm('foo'));
  t.is(s.deadline(), 2000);
});

// memberlist awareness_test.go TestAwareness.
test('awareness score is clamped and scales timeouts', (t) => {
  const cases: [delta: number, score: number, timeout: number][] = [
    [0, 0, 1000],
    [-1, 0, 1000],
    [-10, 0, 1000],
    [1, 1, 2000],
    [-1, 0, 1000],
    [10, 7, 8000],
    [-1, 6, 7000],
    [-1, 5, 6000],
    [-1, 4, 5000],
    [-1, 3, 4000],
    [-1, 2, 3000],
    [-1, 1, 2000],
    [-1, 0, 1000],
    [-1, 0, 1000],
  ];
  const a = new Awareness(8);
  for (const [delta, score, timeout] of cases) {
    a.applyDelta(delta);
    t.is(a.score, score);
    t.is(a.scaleTimeout(1000), timeout);
  }
});
