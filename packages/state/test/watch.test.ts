import test from 'ava';
import { Harness, ok } from './helpers.js';

/** Lets queued microtasks (watch callbacks) run. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a KV get watch fires once when that key changes, not for other keys', async (t) => {
  const h = new Harness();
  ok(h.set('a', '1'));
  const ws = h.store.watchSet();
  h.store.kvGet('a', ws);
  let calls = 0;
  ws.onChange(() => calls++);
  ok(h.set('b', '1'));
  t.false(ws.fired);
  ok(h.set('a', '2'));
  t.true(ws.fired);
  ok(h.set('a', '3'));
  await ws.changed;
  await tick();
  t.is(calls, 1);
  t.is(h.store.watchStats().channels, 0);
});

test('a KV get watch on a missing key fires when it is created', async (t) => {
  const h = new Harness();
  const ws = h.store.watchSet();
  h.store.kvGet('later', ws);
  ok(h.set('later', 'x'));
  await ws.changed;
  t.pass();
});

test('a prefix list watch fires for writes and deletes under the prefix only', (t) => {
  const h = new Harness();
  ok(h.set('app/x', '1'));
  const ws = h.store.watchSet();
  h.store.kvList('app/', ws);
  ok(h.set('apq', '1'));
  ok(h.set('other/app/x', '1'));
  t.false(ws.fired);
  ok(h.kv('delete', { Key: 'app/x' }));
  t.true(ws.fired);
  const keys = h.store.watchSet();
  h.store.kvKeys('app/', '/', keys);
  ok(h.set('app/deep/er', '1'));
  t.true(keys.fired);
});

test('no-op and failed writes do not wake watchers', (t) => {
  const h = new Harness();
  ok(h.set('a', 'same'));
  h.node('n1');
  const ws = h.store.watchSet();
  h.store.kvGet('a', ws);
  h.store.nodes(ws);
  ok(h.set('a', 'same'));
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
    }),
  );
  // Rolled back: the node write inside it must not leak a notification.
  t.false(
    h.register({ Node: 'n1', Address: '10.9.9.9', Check: { CheckID: 'x', ServiceID: 'missing' } })
      .ok,
  );
  t.false(ws.fired);
  ws.cancel();
});

test('service queries wake on their service, its checks and its nodes — not on other services', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', Service: { Service: 'web' } }));
  const watch = (): ReturnType<typeof h.store.watchSet> => {
    const ws = h.store.watchSet();
    h.store.checkServiceNodes('web', {}, ws);
    return ws;
  };
  const ws1 = watch();
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', Service: { Service: 'db' } }));
  h.node('n2', '10.0.0.2');
  t.false(ws1.fired);
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Check: { CheckID: 'w', ServiceID: 'web', Status: 'passing' },
    }),
  );
  t.true(ws1.fired);
  const ws2 = watch();
  // A node-level check affects every service on the node.
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Check: { CheckID: 'serfHealth', Status: 'warning' },
    }),
  );
  t.true(ws2.fired);
  const ws3 = watch();
  ok(h.register({ Node: 'n1', Address: '10.0.0.7' }));
  t.true(ws3.fired);
  const ws4 = h.store.watchSet();
  h.store.serviceNodes('not-yet', {}, ws4);
  ok(h.register({ Node: 'n2', Address: '10.0.0.2', Service: { Service: 'not-yet' } }));
  t.true(ws4.fired);
});

test('store.watch on tables, rows and prefixes', (t) => {
  const h = new Harness();
  const tables = h.store.watch({ tables: ['sessions'] });
  const row = h.store.watch({ rows: [['kvs', 'k']] });
  const prefix = h.store.watch({ prefixes: [['kvs', 'p/']] });
  ok(h.set('p/1', 'x'));
  t.deepEqual([tables.fired, row.fired, prefix.fired], [false, false, true]);
  ok(h.set('k', 'x'));
  t.deepEqual([tables.fired, row.fired], [false, true]);
  h.node('n1');
  ok(h.createSession({ ID: 's', Node: 'n1' }));
  t.true(tables.fired);
});

test('cancel and abort detach the watch with nothing left behind', async (t) => {
  const h = new Harness();
  const ws = h.store.watchSet();
  h.store.kvList('a/', ws);
  h.store.nodes(ws);
  t.deepEqual(h.store.watchStats(), { parked: 1, channels: 3 });
  ws.cancel();
  t.deepEqual(h.store.watchStats(), { parked: 0, channels: 0 });
  ok(h.set('a/1', 'x'));
  t.false(ws.fired);
  t.false(await ws.wait());

  const ac = new AbortController();
  const ws2 = h.store.watchSet();
  h.store.kvGet('k', ws2);
  const waiting = ws2.wait(ac.signal);
  ac.abort();
  t.false(await waiting);
  t.true(ws2.cancelled);
  t.deepEqual(h.store.watchStats(), { parked: 0, channels: 0 });

  const ws3 = h.store.watchSet();
  h.store.kvGet('k', ws3);
  const w3 = ws3.wait(new AbortController().signal);
  ok(h.set('k', 'x'));
  t.true(await w3);
});

test('10,000 parked waiters on one key are all woken by one write, and all detach', async (t) => {
  const h = new Harness();
  const sets = Array.from({ length: 10_000 }, () => {
    const ws = h.store.watchSet();
    h.store.kvGet('hot', ws);
    return ws;
  });
  const others = Array.from({ length: 1_000 }, (_, i) => {
    const ws = h.store.watchSet();
    h.store.kvGet(`cold/${i}`, ws);
    return ws;
  });
  t.is(h.store.watchStats().parked, 11_000);
  ok(h.set('hot', '1'));
  await Promise.all(sets.map((s) => s.changed));
  t.true(sets.every((s) => s.fired));
  t.true(others.every((s) => !s.fired));
  t.deepEqual(h.store.watchStats(), { parked: 1_000, channels: 1_000 });
  // One write to one cold key wakes exactly one.
  ok(h.set('cold/7', '1'));
  t.deepEqual(
    others.map((s, i) => (s.fired ? i : -1)).filter((i) => i >= 0),
    [7],
  );
  for (const s of others) s.cancel();
  t.deepEqual(h.store.watchStats(), { parked: 0, channels: 0 });
});

test('restore fires every parked watch', async (t) => {
  const h = new Harness();
  ok(h.set('a', '1'));
  const snap = h.store.snapshot();
  const ws = h.store.watchSet();
  h.store.kvGet('unrelated', ws);
  h.store.restore(snap);
  await ws.changed;
  t.true(ws.fired);
});
