import test from 'ava';
import { Waiters } from '../src/waiters.js';

test('waiters wake together, end with their signal, and leave nothing behind either way', async (t) => {
  const w = new Waiters();
  const ac = new AbortController();
  const a = w.wait(ac.signal);
  const b = w.wait(new AbortController().signal);
  t.is(w.size, 2);
  w.wake();
  t.deepEqual(await Promise.all([a, b]), [true, true]);
  t.is(w.size, 0);
  const c = w.wait(ac.signal);
  ac.abort();
  t.false(await c);
  t.is(w.size, 0);
  t.false(await w.wait(ac.signal), 'an aborted signal ends the wait at once');
  t.is(w.size, 0);
});
