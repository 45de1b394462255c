// /v1/event: Consul's event_endpoint.go behaviour over a DirectBackend — the fired event's JSON,
// the list with its UUID-derived X-Consul-Index, blocking on that index (which wakes on a new
// event and times out otherwise), and refused input that fires nothing.
import test from 'ava';
import { BackendError } from '../../src/http/index.js';
import { uuidToUint64 } from '../../src/http/event.js';
import { DirectBackend, serve, until, type Server } from './helpers.js';

/** Counts parked event waits, so tests wait for "parked" rather than for time. */
class CountingBackend extends DirectBackend {
  waiting = 0;
  override waitEvent(signal: AbortSignal): Promise<boolean> {
    this.waiting++;
    return super.waitEvent(signal).finally(() => {
      this.waiting--;
    });
  }
}

async function setup(t: {
  teardown: (fn: () => Promise<void>) => void;
}): Promise<Server & { backend: CountingBackend }> {
  const backend = new CountingBackend();
  return (await serve(t.teardown, {}, backend)) as Server & { backend: CountingBackend };
}

interface Ev {
  ID: string;
  Name: string;
  Payload: string | null;
  LTime: number;
}

test('uuidToUint64 XORs the UUID’s 64-bit halves, as Consul derives the event-list index', (t) => {
  t.is(uuidToUint64('b54fe110-7af5-cafc-d1fb-afc8ba432b1c'), 7256511592453824992n);
  t.is(uuidToUint64('00000000-0000-0000-0000-000000000000'), 0n);
  t.is(uuidToUint64('not-a-uuid'), 1n);
});

test('fire answers the event in Consul’s field order: Payload base64, the filters from the query, Version 1', async (t) => {
  const s = await setup(t);
  const r = await s.call('PUT', '/v1/event/fire/deploy?node=web.*&service=api&tag=v1', {
    body: 'hello',
  });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  const ev = r.json() as Ev;
  t.deepEqual(Object.keys(ev), [
    'ID',
    'Name',
    'Payload',
    'NodeFilter',
    'ServiceFilter',
    'TagFilter',
    'Version',
    'LTime',
  ]);
  t.like(ev, {
    Name: 'deploy',
    Payload: Buffer.from('hello').toString('base64'),
    NodeFilter: 'web.*',
    ServiceFilter: 'api',
    TagFilter: 'v1',
    Version: 1,
  });
  t.is(s.backend.eventLog.length, 1);
  t.is(s.backend.eventLog[0]?.ID, ev.ID);
  t.is(Buffer.from(s.backend.eventLog[0]?.Payload ?? []).toString(), 'hello');
  // No body: no payload.
  const bare = await s.call('PUT', '/v1/event/fire/ping');
  t.is((bare.json() as Ev).Payload, null);
});

test('list returns the agent’s events oldest first, ?name filters them, and X-Consul-Index is derived from the last one', async (t) => {
  const s = await setup(t);
  const empty = await s.call('GET', '/v1/event/list');
  t.is(empty.status, 200);
  t.is(empty.text, '[]');
  t.is(empty.headers['x-consul-index'], '1');
  // No other query meta: the list is agent-local.
  t.is(empty.headers['x-consul-knownleader'], undefined);
  const a = (await s.call('PUT', '/v1/event/fire/a', { body: '1' })).json() as Ev;
  const b = (await s.call('PUT', '/v1/event/fire/b')).json() as Ev;
  const a2 = (await s.call('PUT', '/v1/event/fire/a')).json() as Ev;
  const all = await s.call('GET', '/v1/event/list');
  t.deepEqual(
    (all.json() as Ev[]).map((e) => e.ID),
    [a.ID, b.ID, a2.ID],
  );
  t.is(all.headers['x-consul-index'], uuidToUint64(a2.ID).toString());
  const onlyB = await s.call('GET', '/v1/event/list?name=b');
  t.deepEqual(
    (onlyB.json() as Ev[]).map((e) => e.ID),
    [b.ID],
  );
  t.is(onlyB.headers['x-consul-index'], uuidToUint64(b.ID).toString());
  t.is((await s.call('GET', '/v1/event/list?name=none')).headers['x-consul-index'], '1');
});

test('a blocking list waits while the index is unchanged and answers when a new event arrives', async (t) => {
  const s = await setup(t);
  const first = (await s.call('PUT', '/v1/event/fire/e')).json() as Ev;
  const index = uuidToUint64(first.ID).toString();
  const pending = s.call('GET', `/v1/event/list?index=${index}&wait=30s`);
  await until(() => s.backend.waiting === 1);
  const second = (await s.call('PUT', '/v1/event/fire/e')).json() as Ev;
  const r = await pending;
  t.is(r.status, 200);
  t.is(r.headers['x-consul-index'], uuidToUint64(second.ID).toString());
  t.is((r.json() as Ev[]).length, 2);
  t.is(s.backend.waiting, 0);
});

test('a blocking list ignores events its name filter drops, then times out with the same index', async (t) => {
  const s = await setup(t);
  const mine = (await s.call('PUT', '/v1/event/fire/mine')).json() as Ev;
  const index = uuidToUint64(mine.ID).toString();
  const pending = s.call('GET', `/v1/event/list?name=mine&index=${index}&wait=400ms`);
  await until(() => s.backend.waiting === 1);
  await s.call('PUT', '/v1/event/fire/other');
  // Woken by the other event, the list re-parks: its index did not change.
  await until(() => s.backend.waiting === 1 && s.backend.eventLog.length === 2);
  const r = await pending;
  t.is(r.headers['x-consul-index'], index);
  t.deepEqual(
    (r.json() as Ev[]).map((e) => e.Name),
    ['mine'],
  );
  t.is(s.backend.waiting, 0);
});

test('an index that differs from the current one (it is not monotonic) answers at once', async (t) => {
  const s = await setup(t);
  await s.call('PUT', '/v1/event/fire/x');
  // Larger than 2^53: compared exactly as a uint64.
  const r = await s.call('GET', '/v1/event/list?index=18446744073709551615&wait=30s');
  t.is(r.status, 200);
  t.is((r.json() as Ev[]).length, 1);
  t.is(s.backend.waiting, 0);
});

test('a client leaving a blocking list releases its wait', async (t) => {
  const s = await setup(t);
  const ac = new AbortController();
  const pending = s.call('GET', '/v1/event/list?index=1&wait=30s', { signal: ac.signal });
  await until(() => s.backend.waiting === 1);
  ac.abort();
  await t.throwsAsync(pending);
  await until(() => s.backend.waiting === 0);
  t.pass();
});

test('refused fires answer Consul’s status and text and fire nothing', async (t) => {
  const s = await setup(t);
  const cases: Array<[string, number, string | RegExp]> = [
    ['/v1/event/fire/', 400, 'Missing name'],
    ['/v1/event/fire/x?tag=v1', 500, 'Cannot provide tag filter without service filter'],
    ['/v1/event/fire/x?node=(', 500, /^Invalid node filter: /],
    ['/v1/event/fire/x?service=[', 500, /^Invalid service filter: /],
    ['/v1/event/fire/x?service=a&tag=(', 500, /^Invalid tag filter: /],
    ['/v1/event/fire/x?dc=dc9', 500, 'No path to datacenter'],
  ];
  for (const [path, status, text] of cases) {
    const r = await s.call('PUT', path);
    t.is(r.status, status, path);
    if (typeof text === 'string') t.is(r.text, text, path);
    else t.regex(r.text, text, path);
  }
  const big = await s.call('PUT', '/v1/event/fire/big', { body: Buffer.alloc(65 * 1024) });
  t.is(big.status, 413);
  // Gossip refusing the event (too large for a gossip message) is EventFire's 500.
  s.backend.fail = new BackendError('BAD_REQUEST', 'event encodes to 900 bytes (limit 512)');
  const refused = await s.call('PUT', '/v1/event/fire/x', { body: 'y'.repeat(600) });
  t.is(refused.status, 500);
  t.is(refused.text, 'event encodes to 900 bytes (limit 512)');
  s.backend.fail = undefined;
  t.is(s.backend.eventLog.length, 0);
  const list = await s.call('GET', '/v1/event/list?wait=bogus');
  t.is(list.status, 400);
  t.is(list.text, 'Invalid wait time');
  t.is((await s.call('GET', '/v1/event/list?index=-1')).text, 'Invalid index');
  t.is((await s.call('GET', '/v1/event/fire/x')).status, 405);
});
