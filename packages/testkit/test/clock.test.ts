import test from 'ava';
import { VirtualClock } from '../src/index.js';

test('timers fire in time order; timers due at the same instant fire in scheduling order', (t) => {
  const clock = new VirtualClock();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b@10'), 10);
  clock.setTimeout(() => fired.push('a@5'), 5);
  clock.setTimeout(() => fired.push('c@10'), 10);
  clock.at(10, () => fired.push('d@10'));
  clock.advance(10);
  t.deepEqual(fired, ['a@5', 'b@10', 'c@10', 'd@10']);
  t.is(clock.now(), 10);
});

test('time moves only when advanced, and advance stops at the requested instant', (t) => {
  const clock = new VirtualClock(1000);
  let fired = false;
  clock.setTimeout(() => (fired = true), 50);
  clock.advance(49);
  t.false(fired);
  t.is(clock.now(), 1049);
  clock.advance(1);
  t.true(fired);
  t.is(clock.now(), 1050);
});

test('a callback sees its own due time as now and may schedule more timers', (t) => {
  const clock = new VirtualClock();
  const seen: number[] = [];
  const tick = () => {
    seen.push(clock.now());
    if (seen.length < 4) clock.setTimeout(tick, 7);
  };
  clock.setTimeout(tick, 7);
  clock.advance(100);
  t.deepEqual(seen, [7, 14, 21, 28]);
});

test('a zero-delay timer scheduled from a callback runs after the current instant’s earlier timers', (t) => {
  const clock = new VirtualClock();
  const fired: string[] = [];
  clock.setTimeout(() => {
    fired.push('first');
    clock.setTimeout(() => fired.push('nested'), 0);
  }, 1);
  clock.setTimeout(() => fired.push('second'), 1);
  clock.advance(1);
  t.deepEqual(fired, ['first', 'second', 'nested']);
});

test('cleared timers never fire and do not count as pending', (t) => {
  const clock = new VirtualClock();
  let fired = 0;
  const h = clock.setTimeout(() => fired++, 5);
  clock.setTimeout(() => fired++, 6);
  t.is(clock.pending, 2);
  clock.clearTimeout(h);
  clock.clearTimeout(h); // idempotent
  t.is(clock.pending, 1);
  clock.advance(10);
  t.is(fired, 1);
  t.is(clock.pending, 0);
});

test('step jumps to the next timer; nextAt reports it', (t) => {
  const clock = new VirtualClock();
  clock.setTimeout(() => undefined, 30);
  t.is(clock.nextAt(), 30);
  t.true(clock.step());
  t.is(clock.now(), 30);
  t.false(clock.step());
  t.is(clock.nextAt(), undefined);
});

test('runUntil waits for a condition, not a fixed time, and gives up at the limit', (t) => {
  const clock = new VirtualClock();
  let count = 0;
  const every = () => {
    count++;
    clock.setTimeout(every, 10);
  };
  clock.setTimeout(every, 10);
  t.true(clock.runUntil(() => count === 3, 1000));
  t.is(clock.now(), 30);
  t.false(clock.runUntil(() => count === 1000, 100));
  t.is(clock.now(), 130);
});

test('negative, NaN and infinite delays are rejected', (t) => {
  const clock = new VirtualClock();
  t.throws(() => clock.setTimeout(() => undefined, -1), { instanceOf: RangeError });
  t.throws(() => clock.setTimeout(() => undefined, Number.NaN), { instanceOf: RangeError });
  t.throws(() => clock.setTimeout(() => undefined, Infinity), { instanceOf: RangeError });
  t.throws(() => clock.advance(-5), { instanceOf: RangeError });
});
