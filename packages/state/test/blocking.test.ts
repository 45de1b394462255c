import test from 'ava';
import { blockingQuery } from '../src/index.js';
import { Harness, ok } from './helpers.js';

test('minIndex 0 answers at once without parking', async (t) => {
  const h = new Harness();
  ok(h.set('a', '1'));
  const r = await blockingQuery(h.store, { minIndex: 0 }, (ws) => h.store.kvGet('a', ws));
  t.is(r.index, 1);
  t.deepEqual(h.store.watchStats(), { parked: 0, channels: 0 });
});

test('an index below the current one answers at once (Consul: index > minIndex returns)', async (t) => {
  const h = new Harness();
  ok(h.set('a', '1'));
  ok(h.set('a', '2'));
  const r = await blockingQuery(h.store, { minIndex: 1 }, (ws) => h.store.kvGet('a', ws));
  t.is(r.index, 2);
  t.deepEqual(h.store.watchStats(), { parked: 0, channels: 0 });
});

test('parks until a write raises the index, ignoring writes to things it did not read', async (t) => {
  const h = new Harness();
  ok(h.set('app/a', '1')); // 1
  const pending = blockingQuery(h.store, { minIndex: 1 }, (ws) => h.store.kvList('app/', ws));
  ok(h.set('other', 'x')); // 2
  t.is(h.store.watchStats().parked, 1);
  ok(h.set('app/b', '1')); // 3
  const r = await pending;
  t.is(r.index, 3);
  t.deepEqual(
    r.value.map((e) => e.Key),
    ['app/a', 'app/b'],
  );
  t.deepEqual(h.store.watchStats(), { parked: 0, channels: 0 });
});

test('abort ends the wait with the current result and leaves nothing parked', async (t) => {
  const h = new Harness();
  ok(h.set('a', '1'));
  const ac = new AbortController();
  const pending = blockingQuery(h.store, { minIndex: 1, signal: ac.signal }, (ws) =>
    h.store.kvGet('a', ws),
  );
  t.is(h.store.watchStats().parked, 1);
  ac.abort();
  const r = await pending;
  t.is(r.index, 1);
  t.deepEqual(h.store.watchStats(), { parked: 0, channels: 0 });
});
