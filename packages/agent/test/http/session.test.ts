// /v1/session: Consul's session_endpoint.go behaviour over a DirectBackend — create defaults and
// body decoding, the session JSON shape, destroy/renew/info/node/list with blocking queries and
// consistency modes, KV locks and lock-delay through /v1/kv, and refused input that changes
// nothing.
import test from 'ava';
import { MessageType } from '@trellis/state';
import { serve, until, type Server } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Registers `node` with a passing serfHealth check (what the leader does for live members). */
function registerNode(s: Server, node = 'node1', checks: Array<[string, string]> = []): void {
  const store = s.backend.store;
  const r = store.applyCommand(store.lastIndex + 1, {
    type: MessageType.Register,
    now: Date.now(),
    body: {
      Node: node,
      Address: '127.0.0.1',
      Checks: [
        { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
        ...checks.map(([CheckID, Status]) => ({
          CheckID,
          Name: CheckID,
          Status: Status as 'passing' | 'critical',
        })),
      ],
    },
  });
  if (!r.ok) throw r.error;
}

async function setup(t: { teardown: (fn: () => Promise<void>) => void }): Promise<Server> {
  const s = await serve(t.teardown);
  registerNode(s);
  return s;
}

async function create(s: Server, body?: unknown): Promise<string> {
  const r = await s.call('PUT', '/v1/session/create', {
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (r.status !== 200) throw new Error(`create: ${r.status} ${r.text}`);
  return (r.json() as { ID: string }).ID;
}

test('create with no body takes Consul’s defaults and answers {"ID"}; info shows Consul’s Session JSON in field order', async (t) => {
  const s = await setup(t);
  const r = await s.call('PUT', '/v1/session/create');
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  const id = (r.json() as { ID: string }).ID;
  t.regex(id, UUID);
  t.is(r.text, `{"ID":"${id}"}`);
  const info = await s.call('GET', `/v1/session/info/${id}`);
  t.is(info.status, 200);
  const idx = s.backend.store.lastIndex;
  t.is(
    info.text,
    `[{"ID":"${id}","Name":"","Node":"node1","LockDelay":15000000000,"Behavior":"release",` +
      `"TTL":"","NodeChecks":["serfHealth"],"ServiceChecks":null,` +
      `"CreateIndex":${idx},"ModifyIndex":${idx}}]`,
  );
  t.is(info.headers['x-consul-index'], String(idx));
  t.is(info.headers['x-consul-knownleader'], 'true');
  t.is(info.headers['x-consul-effective-consistency'], 'leader');
});

test('create decodes the body case-insensitively: Name, Behavior, TTL, NodeChecks, ServiceChecks', async (t) => {
  const s = await setup(t);
  registerNode(s, 'node2', [['svc-check', 'passing']]);
  const id = await create(s, {
    name: 'lock-holder',
    NODE: 'node2',
    behavior: 'delete',
    ttl: '30s',
    nodechecks: ['serfHealth'],
    servicechecks: [{ id: 'svc-check', namespace: '' }],
    Unknown: 'ignored, as Consul’s Session.UnmarshalJSON ignores it',
  });
  const [sess] = (await s.call('GET', `/v1/session/info/${id}`)).json() as Array<
    Record<string, unknown>
  >;
  t.like(sess, {
    Name: 'lock-holder',
    Node: 'node2',
    Behavior: 'delete',
    TTL: '30s',
    NodeChecks: ['serfHealth'],
    ServiceChecks: [{ ID: 'svc-check', Namespace: '' }],
  });
  t.false(Object.hasOwn(sess ?? {}, 'Checks'));
});

test('LockDelay follows Consul’s Session.UnmarshalJSON: durations, numbers below 1000 as seconds, other types as 0', async (t) => {
  const s = await setup(t);
  const cases: Array<[unknown, number]> = [
    ['10s', 10_000_000_000],
    ['1.5s', 1_500_000_000],
    ['20ns', 20_000_000_000], // below the threshold: seconds
    [5, 5_000_000_000],
    [1.9, 1_000_000_000], // time.Duration(1.9) is 1 ns, then seconds
    [2_500_000_000, 2_500_000_000],
    [true, 0],
    [null, 15_000_000_000], // null leaves the default
  ];
  for (const [input, want] of cases) {
    const id = await create(s, { LockDelay: input });
    const [sess] = (await s.call('GET', `/v1/session/info/${id}`)).json() as Array<{
      LockDelay: number;
    }>;
    t.is(sess?.LockDelay, want, `LockDelay ${JSON.stringify(input)}`);
  }
});

test('legacy Checks: [] drops the default serfHealth; custom Checks are kept beside NodeChecks (fixupEmptySessionChecks)', async (t) => {
  const s = await setup(t);
  registerNode(s, 'node1', [['extra', 'passing']]);
  const none = await create(s, { Checks: [] });
  t.like(((await s.call('GET', `/v1/session/info/${none}`)).json() as unknown[])[0], {
    NodeChecks: [],
  });
  const custom = await create(s, { Checks: ['extra'] });
  const [sess] = (await s.call('GET', `/v1/session/info/${custom}`)).json() as Array<
    Record<string, unknown>
  >;
  t.deepEqual(sess?.Checks, ['extra']);
  t.deepEqual(sess?.NodeChecks, ['serfHealth']);
  // The keys of the JSON follow Consul's struct order, Checks after ServiceChecks.
  t.deepEqual(Object.keys(sess ?? {}), [
    'ID',
    'Name',
    'Node',
    'LockDelay',
    'Behavior',
    'TTL',
    'NodeChecks',
    'ServiceChecks',
    'Checks',
    'CreateIndex',
    'ModifyIndex',
  ]);
});

test('refused creates answer Consul’s status and text and change nothing', async (t) => {
  const s = await setup(t);
  registerNode(s, 'node1', [['bad', 'critical']]);
  const cases: Array<[string, number, string | RegExp]> = [
    ['{"Name":', 400, /^Request decode failed: /],
    ['[1]', 400, /^Request decode failed: json: cannot unmarshal array into Go value of type /],
    [
      '{"Name":5}',
      400,
      'Request decode failed: json: cannot unmarshal number into Go struct field .Name of type string',
    ],
    [
      '{"NodeChecks":"serfHealth"}',
      400,
      'Request decode failed: json: cannot unmarshal string into Go struct field .NodeChecks of type []string',
    ],
    ['{"LockDelay":"20"}', 400, 'Request decode failed: time: missing unit in duration "20"'],
    ['{"LockDelay":"abc"}', 400, 'Request decode failed: time: invalid duration "abc"'],
    ['{"TTL":"5s"}', 500, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"],
    [
      '{"TTL":"86401s"}',
      500,
      "Invalid Session TTL '86401000000000', must be between [10s=24h0m0s]",
    ],
    ['{"TTL":"abc"}', 500, 'Session TTL \'abc\' invalid: time: invalid duration "abc"'],
    ['{"TTL":"10x"}', 500, 'Session TTL \'10x\' invalid: time: unknown unit "x" in duration "10x"'],
    ['{"Behavior":"bogus"}', 500, "Invalid Behavior setting 'bogus'"],
    ['{"Node":""}', 500, 'Must provide Node'],
    ['{"Node":"nowhere"}', 500, 'Missing node registration'],
    ['{"NodeChecks":["missing"]}', 500, "Missing check 'missing' registration"],
    ['{"NodeChecks":["bad"]}', 500, "Check 'bad' is in critical state"],
  ];
  const before = s.backend.store.lastIndex;
  for (const [body, status, text] of cases) {
    const r = await s.call('PUT', '/v1/session/create', { body });
    t.is(r.status, status, body);
    if (typeof text === 'string') t.is(r.text, text, body);
    else t.regex(r.text, text, body);
    t.is(r.headers['content-type'], 'text/plain; charset=utf-8');
  }
  const dc = await s.call('PUT', '/v1/session/create?dc=dc2');
  t.is(dc.status, 500);
  t.is(dc.text, 'No path to datacenter');
  const big = await s.call('PUT', '/v1/session/create', {
    body: JSON.stringify({ Name: 'x'.repeat(70 * 1024) }),
  });
  t.is(big.status, 413);
  t.is(s.backend.store.lastIndex, before);
  t.deepEqual((await s.call('GET', '/v1/session/list')).json(), []);
});

test('TTLs at the bounds (10s, 24h) and 0s are accepted', async (t) => {
  const s = await setup(t);
  for (const ttl of ['10s', '24h', '86400s', '0s']) {
    const id = await create(s, { TTL: ttl });
    t.like(((await s.call('GET', `/v1/session/info/${id}`)).json() as unknown[])[0], {
      TTL: ttl,
    });
  }
});

test('destroy answers true (also for an unknown session); info of a missing session is [] with an index', async (t) => {
  const s = await setup(t);
  const id = await create(s);
  const r = await s.call('PUT', `/v1/session/destroy/${id}`);
  t.is(r.status, 200);
  t.is(r.text, 'true');
  const info = await s.call('GET', `/v1/session/info/${id}`);
  t.is(info.status, 200);
  t.is(info.text, '[]');
  t.is(info.headers['x-consul-index'], String(s.backend.store.lastIndex));
  t.is((await s.call('PUT', '/v1/session/destroy/not-a-session')).text, 'true');
  const missing = await s.call('PUT', '/v1/session/destroy/');
  t.is(missing.status, 400);
  t.is(missing.text, 'Missing session');
  t.is((await s.call('GET', '/v1/session/info/')).text, 'Missing session');
});

test('renew answers a one-element list through backend.renewSession; an unknown session is 404 with Consul’s text', async (t) => {
  const s = await setup(t);
  const id = await create(s, { TTL: '15s' });
  const r = await s.call('PUT', `/v1/session/renew/${id}`);
  t.is(r.status, 200);
  const list = r.json() as Array<{ ID: string; TTL: string }>;
  t.is(list.length, 1);
  t.like(list[0], { ID: id, TTL: '15s' });
  t.deepEqual(s.backend.renewed, [id]);
  // Consul sets no query meta on renew.
  t.is(r.headers['x-consul-index'], undefined);
  const gone = await s.call('PUT', '/v1/session/renew/0000-nope');
  t.is(gone.status, 404);
  t.is(gone.text, "Session id '0000-nope' not found");
  t.is((await s.call('PUT', '/v1/session/renew/')).text, 'Missing session');
  const bad = await s.call('PUT', `/v1/session/renew/${id}?stale&consistent`);
  t.is(bad.status, 400);
  t.is(bad.text, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
});

test('list and node list every session (by ID) with meta; node names match case-insensitively', async (t) => {
  const s = await setup(t);
  registerNode(s, 'node2');
  const a = await create(s);
  const b = await create(s, { Node: 'node2' });
  const all = await s.call('GET', '/v1/session/list');
  t.deepEqual(
    (all.json() as Array<{ ID: string }>).map((x) => x.ID),
    [a, b].sort(),
  );
  t.is(all.headers['x-consul-index'], String(s.backend.store.lastIndex));
  const node = await s.call('GET', '/v1/session/node/NODE2');
  t.deepEqual(
    (node.json() as Array<{ ID: string }>).map((x) => x.ID),
    [b],
  );
  t.is((await s.call('GET', '/v1/session/node/none')).text, '[]');
  const missing = await s.call('GET', '/v1/session/node/');
  t.is(missing.status, 400);
  t.is(missing.text, 'Missing node name');
});

test('methods are Consul’s: create/destroy/renew are PUT, reads are GET (405 with Allow)', async (t) => {
  const s = await setup(t);
  const r = await s.call('GET', '/v1/session/create');
  t.is(r.status, 405);
  t.is(r.headers.allow, 'OPTIONS,PUT');
  t.is(r.text, 'method GET not allowed');
  t.is((await s.call('PUT', '/v1/session/list')).headers.allow, 'OPTIONS,GET');
  t.is((await s.call('DELETE', '/v1/session/destroy/x')).status, 405);
});

test('consistency modes pass the backend’s barrier and report it', async (t) => {
  const s = await setup(t);
  s.backend.barriers.length = 0;
  const stale = await s.call('GET', '/v1/session/list?stale');
  t.is(stale.headers['x-consul-effective-consistency'], 'stale');
  const consistent = await s.call('GET', '/v1/session/list?consistent');
  t.is(consistent.headers['x-consul-effective-consistency'], 'consistent');
  t.deepEqual(s.backend.barriers, ['stale', 'consistent']);
});

test('a blocking list parks until a session is created, and a blocking info wakes on destroy', async (t) => {
  const s = await setup(t);
  const idx = s.backend.store.lastIndex;
  const pending = s.call('GET', `/v1/session/list?index=${idx}&wait=30s`);
  await until(() => s.backend.store.watchStats().parked === 1);
  const id = await create(s);
  const r = await pending;
  t.is(r.status, 200);
  t.deepEqual(
    (r.json() as Array<{ ID: string }>).map((x) => x.ID),
    [id],
  );
  t.is(r.headers['x-consul-index'], String(s.backend.store.lastIndex));

  const at = s.backend.store.lastIndex;
  const info = s.call('GET', `/v1/session/info/${id}?index=${at}&wait=30s`);
  await until(() => s.backend.store.watchStats().parked === 1);
  await s.call('PUT', `/v1/session/destroy/${id}`);
  const gone = await info;
  t.is(gone.text, '[]');
  t.true(Number(gone.headers['x-consul-index']) > at);
});

test('a blocking node list times out with the same index when nothing changes', async (t) => {
  const s = await setup(t);
  await create(s);
  const idx = s.backend.store.lastIndex;
  const r = await s.call('GET', `/v1/session/node/node1?index=${idx}&wait=50ms`);
  t.is(r.status, 200);
  t.is(r.headers['x-consul-index'], String(idx));
  t.is((r.json() as unknown[]).length, 1);
  t.is(s.backend.store.watchStats().parked, 0);
});

// ---------------------------------------------------------------- KV locks

const kvEntry = async (s: Server, key: string): Promise<Record<string, unknown> | undefined> => {
  const r = await s.call('GET', `/v1/kv/${key}`);
  return r.status === 404 ? undefined : (r.json() as Array<Record<string, unknown>>)[0];
};

test('KV ?acquire locks a key for one session; destroy releases it (behavior release) and lock-delay refuses others meanwhile', async (t) => {
  const s = await setup(t);
  const a = await create(s); // default 15 s lock-delay
  const b = await create(s, { LockDelay: '0s' });
  t.is((await s.call('PUT', `/v1/kv/lock?acquire=${a}`, { body: 'a' })).text, 'true');
  t.like(await kvEntry(s, 'lock'), { Session: a, LockIndex: 1 });
  // Held: another session cannot take it; the holder re-acquires without a new LockIndex.
  t.is((await s.call('PUT', `/v1/kv/lock?acquire=${b}`, { body: 'b' })).text, 'false');
  t.is((await s.call('PUT', `/v1/kv/lock?acquire=${a}`, { body: 'a2' })).text, 'true');
  t.like(await kvEntry(s, 'lock'), { Session: a, LockIndex: 1 });
  // Destroying the holder releases the key (value kept, Session gone) and starts the delay.
  t.is((await s.call('PUT', `/v1/session/destroy/${a}`)).text, 'true');
  const released = await kvEntry(s, 'lock');
  t.false(Object.hasOwn(released ?? {}, 'Session'));
  t.like(released, { LockIndex: 1, Value: Buffer.from('a2').toString('base64') });
  t.is((await s.call('PUT', `/v1/kv/lock?acquire=${b}`, { body: 'b' })).text, 'false');
  t.like(await kvEntry(s, 'lock'), { Value: Buffer.from('a2').toString('base64') });
  // ?release by the holder unlocks without delay.
  const c = await create(s, { LockDelay: '0s' });
  t.is((await s.call('PUT', `/v1/kv/free?acquire=${c}`)).text, 'true');
  t.is((await s.call('PUT', `/v1/kv/free?release=${c}`)).text, 'true');
  t.is((await s.call('PUT', `/v1/kv/free?acquire=${b}`)).text, 'true');
  t.like(await kvEntry(s, 'free'), { Session: b, LockIndex: 2 });
});

test('the lock-delay of a destroyed session ends: the key can be acquired again once it passes', async (t) => {
  const s = await setup(t);
  const a = await create(s, { LockDelay: '150ms' });
  const b = await create(s, { LockDelay: '0s' });
  t.is((await s.call('PUT', `/v1/kv/k?acquire=${a}`)).text, 'true');
  await s.call('PUT', `/v1/session/destroy/${a}`);
  const start = Date.now();
  let got = 'false';
  while (got !== 'true' && Date.now() - start < 5000) {
    got = (await s.call('PUT', `/v1/kv/k?acquire=${b}`)).text;
    if (got !== 'true') await new Promise((r) => setTimeout(r, 10));
  }
  t.is(got, 'true');
  t.true(Date.now() - start >= 100, 'not before the delay (allowing for clock granularity)');
});

test('behavior delete removes the held keys when the session is destroyed; acquiring with an unknown session is Consul’s 500', async (t) => {
  const s = await setup(t);
  const d = await create(s, { Behavior: 'delete' });
  t.is((await s.call('PUT', `/v1/kv/eph?acquire=${d}`, { body: 'x' })).text, 'true');
  await s.call('PUT', `/v1/session/destroy/${d}`);
  t.is(await kvEntry(s, 'eph'), undefined);
  const before = s.backend.store.lastIndex;
  const r = await s.call('PUT', '/v1/kv/eph?acquire=no-such-session');
  t.is(r.status, 500);
  t.is(r.text, 'invalid session "no-such-session"');
  t.is(s.backend.store.lastIndex, before);
});
