// The CSR signing limiter with a fake clock: Consul's rate (burst 1) and concurrency modes.
import test from 'ava';
import {
  CSR_LIMIT_WAIT_MS,
  CaError,
  DEFAULT_CSR_MAX_PER_SECOND,
  ERR_RATE_LIMITED,
  SigningLimiter,
} from '../src/index.js';

test("Consul's error text and defaults", (t) => {
  t.is(ERR_RATE_LIMITED, 'Rate limit reached, try again later');
  t.is(CSR_LIMIT_WAIT_MS, 500);
  t.is(DEFAULT_CSR_MAX_PER_SECOND, 50);
  const l = new SigningLimiter();
  t.is(l.mode, 'rate');
});

test('rate: a hard limit of one per 1/rate seconds', (t) => {
  const l = new SigningLimiter({ maxPerSecond: 50 });
  let clock = 1_000_000;
  t.true(l.tryAcquire(clock));
  t.false(l.tryAcquire(clock));
  t.is(l.msUntilAvailable(clock), 20);
  clock += 19;
  t.false(l.tryAcquire(clock));
  t.is(l.msUntilAvailable(clock), 1);
  clock += 1;
  t.true(l.tryAcquire(clock));
  // A long idle period does not bank more than one token (burst 1).
  clock += 10_000;
  t.true(l.tryAcquire(clock));
  t.false(l.tryAcquire(clock));
  // Over one simulated minute at 1 kHz polling, exactly 50/s get through.
  let granted = 0;
  const start = clock;
  for (; clock < start + 60_000; clock++) if (l.tryAcquire(clock)) granted++;
  t.true(granted >= 2999 && granted <= 3001, String(granted));
  // Releases do not matter in rate mode, and never go negative.
  for (let i = 0; i < 5000; i++) l.release();
  t.is(l.inFlight, 0);
});

test('rate: burst, fractional rates, a clock going backwards', (t) => {
  const l = new SigningLimiter({ maxPerSecond: 0.5, burst: 3 });
  t.true(l.tryAcquire(0));
  t.true(l.tryAcquire(0));
  t.true(l.tryAcquire(0));
  t.false(l.tryAcquire(0));
  t.is(l.msUntilAvailable(0), 2000);
  t.false(l.tryAcquire(1999));
  t.true(l.tryAcquire(2000));
  // Backwards: no tokens appear, no crash.
  t.false(l.tryAcquire(1000));
  t.true(l.tryAcquire(3000));
});

test('concurrency: only when the rate is 0, as Consul', (t) => {
  const ignored = new SigningLimiter({ maxPerSecond: 1000, maxConcurrent: 1 });
  t.is(ignored.mode, 'rate');
  t.true(ignored.tryAcquire(0));
  t.true(ignored.tryAcquire(1));

  const l = new SigningLimiter({ maxPerSecond: 0, maxConcurrent: 2 });
  t.is(l.mode, 'concurrency');
  t.true(l.tryAcquire(0));
  t.true(l.tryAcquire(0));
  t.false(l.tryAcquire(0));
  t.is(l.inFlight, 2);
  t.is(l.msUntilAvailable(0), Infinity);
  l.release();
  t.is(l.msUntilAvailable(0), 0);
  t.true(l.tryAcquire(5));
  t.false(l.tryAcquire(5));
  l.release();
  l.release();
  t.is(l.inFlight, 0);
});

test('unlimited, and reconfiguration', (t) => {
  const l = new SigningLimiter({ maxPerSecond: 0 });
  t.is(l.mode, 'unlimited');
  for (let i = 0; i < 1000; i++) t.true(l.tryAcquire(0));
  t.is(l.inFlight, 1000);
  l.reconfigure({ maxPerSecond: 1 });
  t.is(l.mode, 'rate');
  t.true(l.tryAcquire(10));
  t.false(l.tryAcquire(10));
  t.is(l.msUntilAvailable(10), 1000);
  // Unchanged settings keep the bucket's state.
  l.reconfigure({ maxPerSecond: 1 });
  t.false(l.tryAcquire(10));
});

test('bad settings', (t) => {
  for (const opts of [
    { maxPerSecond: -1 },
    { maxPerSecond: NaN },
    { maxPerSecond: Infinity },
    { maxConcurrent: 1.5 },
    { maxConcurrent: -1 },
    { burst: 0 },
  ]) {
    const e = t.throws(() => new SigningLimiter(opts));
    t.true(e instanceof CaError);
    t.is((e as CaError).code, 'bad-config');
  }
});
