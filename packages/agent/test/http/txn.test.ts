// PUT /v1/txn: Consul's txn_endpoint.go behaviour over a DirectBackend — write transactions
// through Raft (all-or-nothing, 409 with Errors), read-only transactions answered from the local
// replica after the read barrier, the pre-checks, and bad input refused with Consul's texts
// before anything is applied.
import test from 'ava';
import { MessageType } from '@trellis/state';
import { serve, type Server } from './helpers.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const put = (s: Server, ops: unknown, query = ''): ReturnType<Server['call']> =>
  s.call('PUT', `/v1/txn${query}`, { body: typeof ops === 'string' ? ops : JSON.stringify(ops) });

function session(s: Server, id: string, lockDelayNs = 0): void {
  const store = s.backend.store;
  for (const cmd of [
    {
      type: MessageType.Register,
      now: Date.now(),
      body: { Node: 'node1', Address: '127.0.0.1' },
    },
    {
      type: MessageType.Session,
      now: Date.now(),
      body: { Op: 'create', Session: { ID: id, Node: 'node1', LockDelay: lockDelayNs } },
    },
  ] as const) {
    const r = store.applyCommand(store.lastIndex + 1, cmd);
    if (!r.ok) throw r.error;
  }
}

test('a write transaction applies every op at one index: Results in op order (values blanked except get), Errors null', async (t) => {
  const s = await serve(t.teardown);
  const r = await put(s, [
    { KV: { Verb: 'set', Key: 'a', Value: b64('1'), Flags: 7 } },
    { KV: { Verb: 'cas', Key: 'b', Value: b64('2'), Index: 0 } },
    { KV: { Verb: 'get', Key: 'a' } },
    { KV: { Verb: 'check-not-exists', Key: 'zzz' } },
  ]);
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  t.is(
    r.text,
    '{"Results":[' +
      '{"KV":{"LockIndex":0,"Key":"a","Flags":7,"Value":null,"CreateIndex":1,"ModifyIndex":1}},' +
      '{"KV":{"LockIndex":0,"Key":"b","Flags":0,"Value":null,"CreateIndex":1,"ModifyIndex":1}},' +
      `{"KV":{"LockIndex":0,"Key":"a","Flags":7,"Value":"${b64('1')}","CreateIndex":1,"ModifyIndex":1}}` +
      '],"Errors":null}',
  );
  t.is(s.backend.store.lastIndex, 1);
  t.is(r.headers['x-consul-index'], undefined);
});

test('a failing op aborts the whole transaction: 409, Results null, every failed op in Errors, nothing written', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('k', 'v');
  const r = await put(s, [
    { KV: { Verb: 'set', Key: 'new', Value: b64('x') } },
    { KV: { Verb: 'cas', Key: 'k', Value: b64('y'), Index: idx + 100 } },
    { KV: { Verb: 'delete-cas', Key: 'k', Index: idx + 100 } },
  ]);
  t.is(r.status, 409);
  t.is(r.headers['content-type'], 'application/json');
  t.deepEqual(r.json(), {
    Results: null,
    Errors: [
      { OpIndex: 1, What: 'failed to set key "k", index is stale' },
      { OpIndex: 2, What: 'failed to delete key "k", index is stale' },
    ],
  });
  t.is(s.backend.store.kvGet('new').value, undefined);
  t.is(Buffer.from(s.backend.store.kvGet('k').value?.Value ?? []).toString(), 'v');
});

test('delete, delete-tree, delete-cas and a successful cas; ops with no KV part are dropped as Consul does', async (t) => {
  const s = await serve(t.teardown);
  for (const k of ['t/1', 't/2', 'd', 'c']) s.backend.put(k, k);
  const c = s.backend.store.kvGet('c').value?.ModifyIndex ?? 0;
  const r = await put(s, [
    { KV: { Verb: 'delete-tree', Key: 't/' } },
    {},
    { KV: { Verb: 'delete', Key: 'd' } },
    { KV: { Verb: 'cas', Key: 'c', Value: b64('c2'), Index: c } },
    { KV: { Verb: 'delete-cas', Key: 'missing', Index: 5 } },
  ]);
  t.is(r.status, 200);
  const body = r.json() as { Results: Array<{ KV: { Key: string } }>; Errors: null };
  t.deepEqual(
    body.Results.map((x) => x.KV.Key),
    ['c'],
  );
  t.deepEqual(s.backend.store.kvKeys('').value, ['c']);
});

test('lock, check-session and unlock with a session; a held lock and lock-delay fail with Consul’s texts', async (t) => {
  const s = await serve(t.teardown);
  const sid = '11111111-2222-3333-4444-555555555555';
  session(s, sid, 60_000_000_000);
  const lock = await put(s, [
    { KV: { Verb: 'lock', Key: 'l', Value: b64('me'), Session: sid } },
    { KV: { Verb: 'check-session', Key: 'l', Session: sid } },
  ]);
  t.is(lock.status, 200);
  t.like((lock.json() as { Results: unknown[] }).Results, [
    { KV: { Key: 'l', Session: sid, LockIndex: 1, Value: null } },
    { KV: { Key: 'l', Session: sid } },
  ]);
  const unlock = await put(s, [{ KV: { Verb: 'unlock', Key: 'l', Session: sid } }]);
  t.is(unlock.status, 200);
  t.is(s.backend.store.kvGet('l').value?.Session, undefined);
  const relock = await put(s, [{ KV: { Verb: 'lock', Key: 'l', Session: sid } }]);
  t.like((relock.json() as { Results: unknown[] }).Results, [{ KV: { LockIndex: 2 } }]);
  const missing = await put(s, [{ KV: { Verb: 'lock', Key: 'x', Session: 'nope' } }]);
  t.is(missing.status, 409);
  t.deepEqual((missing.json() as { Errors: unknown }).Errors, [
    { OpIndex: 0, What: 'invalid session "nope"' },
  ]);
  // Destroying the session sets a lock-delay on the keys it held: Txn.Apply's pre-check.
  await s.backend.apply({
    type: MessageType.Session,
    now: Date.now(),
    body: { Op: 'destroy', Session: { ID: sid } },
  });
  const other = '66666666-2222-3333-4444-555555555555';
  session(s, other);
  const before = s.backend.store.lastIndex;
  const delayed = await put(s, [{ KV: { Verb: 'lock', Key: 'l', Session: other } }]);
  t.is(delayed.status, 409);
  t.deepEqual(delayed.json(), {
    Results: null,
    Errors: [{ OpIndex: 0, What: 'failed to lock key "l" due to lock delay' }],
  });
  t.is(s.backend.store.lastIndex, before);
});

test('a read-only transaction is answered from the local store after the read barrier, with TxnReadResponse’s meta and no Raft write', async (t) => {
  const s = await serve(t.teardown);
  s.backend.put('r/a', 'A');
  s.backend.put('r/b', 'B');
  const before = s.backend.store.lastIndex;
  s.backend.barriers.length = 0;
  const r = await put(s, [
    { KV: { Verb: 'get', Key: 'r/a' } },
    { KV: { Verb: 'get-tree', Key: 'r/' } },
    { KV: { Verb: 'check-index', Key: 'r/b', Index: 2 } },
    { KV: { Verb: 'check-session', Key: 'r/b' } },
    { KV: { Verb: 'check-not-exists', Key: 'r/c' } },
  ]);
  t.is(r.status, 200);
  t.is(s.backend.store.lastIndex, before);
  t.deepEqual(s.backend.barriers, ['default']);
  t.is(r.headers['x-consul-knownleader'], 'true');
  t.is(r.headers['x-consul-lastcontact'], '0');
  t.is(r.headers['x-consul-index'], undefined);
  const body = r.json() as Record<string, unknown>;
  t.deepEqual(Object.keys(body), [
    'Results',
    'Errors',
    'Index',
    'LastContact',
    'KnownLeader',
    'ConsistencyLevel',
    'NotModified',
    'Backend',
    'ResultsFilteredByACLs',
  ]);
  t.is(body.Errors, null);
  t.like(body.Results, [
    { KV: { Key: 'r/a', Value: b64('A') } },
    { KV: { Key: 'r/a', Value: b64('A') } },
    { KV: { Key: 'r/b', Value: b64('B') } },
    { KV: { Key: 'r/b', Value: null, ModifyIndex: 2 } },
    { KV: { Key: 'r/b', Value: null } },
  ]);
  t.is((body.Results as unknown[]).length, 5);
  const stale = await put(s, [{ KV: { Verb: 'get', Key: 'r/a' } }], '?stale');
  t.is(stale.status, 200);
  t.deepEqual(s.backend.barriers, ['default', 'stale']);
});

test('read-only failures are 409 with every failed op; unknown verbs fail their op as Consul’s txnKVS does', async (t) => {
  const s = await serve(t.teardown);
  s.backend.put('x', '1');
  const before = s.backend.store.lastIndex;
  const r = await put(s, [
    { KV: { Verb: 'get', Key: 'nope' } },
    { KV: { Verb: 'check-index', Key: 'x', Index: 9 } },
    { KV: { Verb: 'check-session', Key: 'x', Session: 's' } },
    { KV: { Verb: 'check-not-exists', Key: 'x' } },
    { KV: { Verb: 'SET', Key: 'x' } },
  ]);
  t.is(r.status, 409);
  const body = r.json() as { Results: unknown; Errors: unknown; KnownLeader: boolean };
  t.is(body.Results, null);
  t.is(body.KnownLeader, true);
  t.deepEqual(body.Errors, [
    { OpIndex: 0, What: 'key "nope" doesn\'t exist' },
    { OpIndex: 1, What: 'failed index check for key "x", current modify index 1 != 9' },
    { OpIndex: 2, What: 'failed session check for key "x", current session "" != "s"' },
    { OpIndex: 3, What: 'key "x" exists' },
    { OpIndex: 4, What: 'unknown KV verb "SET"' },
  ]);
  const write = await put(s, [
    { KV: { Verb: 'set', Key: 'y' } },
    { KV: { Verb: 'bogus', Key: 'y' } },
    { KV: { Verb: 'set', Key: '' } },
  ]);
  t.is(write.status, 409);
  t.deepEqual(write.json(), {
    Results: null,
    Errors: [
      { OpIndex: 1, What: 'unknown KV verb "bogus"' },
      { OpIndex: 2, What: 'Must provide key' },
    ],
  });
  t.is(s.backend.store.lastIndex, before);
});

test('field names are case-insensitive and Value may be null', async (t) => {
  const s = await serve(t.teardown);
  const r = await put(s, [
    { kv: { verb: 'set', KEY: 'ci', value: b64('v'), flags: 3 } },
    { Kv: { VERB: 'set', key: 'nil', Value: null } },
  ]);
  t.is(r.status, 200);
  t.like(s.backend.store.kvGet('ci').value, { Flags: 3 });
  t.is(s.backend.store.kvGet('nil').value?.Value, null);
});

test('bad input is refused with Consul’s status and text before anything is applied', async (t) => {
  const s = await serve(t.teardown, { limits: { kvMaxValueSize: 16 } });
  s.backend.put('k', 'v');
  const before = s.backend.store.lastIndex;
  const setOp = (extra: Record<string, unknown>): unknown[] => [
    { KV: { Verb: 'set', Key: 'a', ...extra } },
  ];
  const cases: Array<[unknown, number, string | RegExp]> = [
    ['', 400, 'Failed to parse body: EOF'],
    ['[{"KV":', 400, /^Failed to parse body: /],
    [
      '{}',
      400,
      'Failed to parse body: json: cannot unmarshal object into Go value of type api.TxnOps',
    ],
    [
      '[5]',
      400,
      'Failed to parse body: json: cannot unmarshal number into Go value of type api.TxnOp',
    ],
    [
      [{ KV: 'set' }],
      400,
      'Failed to parse body: json: cannot unmarshal string into Go struct field TxnOp.KV of type api.KVTxnOp',
    ],
    [
      setOp({ Key: 5 }),
      400,
      'Failed to parse body: json: cannot unmarshal number into Go struct field KVTxnOp.KV.Key of type string',
    ],
    [
      setOp({ Flags: -1 }),
      400,
      'Failed to parse body: json: cannot unmarshal number -1 into Go struct field KVTxnOp.KV.Flags of type uint64',
    ],
    [
      setOp({ Index: '3' }),
      400,
      'Failed to parse body: json: cannot unmarshal string into Go struct field KVTxnOp.KV.Index of type uint64',
    ],
    [setOp({ Bogus: 1 }), 400, 'Failed to parse body: json: unknown field "Bogus"'],
    [
      [{ KV: { Verb: 'set', Key: 'a' }, Extra: {} }],
      400,
      'Failed to parse body: json: unknown field "Extra"',
    ],
    [setOp({ Value: 'abc$' }), 400, 'Failed to parse body: illegal base64 data at input byte 3'],
    [setOp({ Value: 'abc' }), 400, 'Failed to parse body: illegal base64 data at input byte 0'],
    [setOp({ Value: 5 }), 400, /of type \[\]uint8$/],
    [
      [{ Node: { Verb: 'set', Node: { Node: 'n', Address: '1.2.3.4' } } }],
      400,
      'Transaction operation 0: Node operations are not supported; only KV operations are',
    ],
    [setOp({ Value: b64('x'.repeat(17)) }), 413, 'Value for key "a" is too large (17 > 16 bytes)'],
    [
      Array.from({ length: 65 }, () => ({ KV: { Verb: 'get', Key: 'k' } })),
      413,
      'Transaction contains too many operations (65 > 64)',
    ],
  ];
  for (const [body, status, text] of cases) {
    const r = await put(s, body);
    const what = typeof body === 'string' ? body : JSON.stringify(body).slice(0, 80);
    t.is(r.status, status, what);
    if (typeof text === 'string') t.is(r.text, text, what);
    else t.regex(r.text, text, what);
    t.is(r.headers['content-type'], 'text/plain; charset=utf-8', what);
  }
  // Over Consul's txn_max_req_len (512 KiB): refused from Content-Length, connection closed.
  const big = await put(s, `[${' '.repeat(512 * 1024)}]`);
  t.is(big.status, 413);
  t.is(big.text, 'Request body too large, max size: 524288 bytes');
  t.is(big.headers.connection, 'close');
  t.is(s.backend.store.lastIndex, before);
  t.deepEqual(s.backend.store.kvKeys('').value, ['k']);
});

test('exactly 64 operations are accepted; query errors of read-only transactions are Consul’s', async (t) => {
  const s = await serve(t.teardown);
  const ops = Array.from({ length: 64 }, (_, i) => ({
    KV: { Verb: 'set', Key: `k${i}`, Value: b64(String(i)) },
  }));
  const r = await put(s, ops);
  t.is(r.status, 200);
  t.is((r.json() as { Results: unknown[] }).Results.length, 64);
  const both = await put(s, [{ KV: { Verb: 'get', Key: 'k1' } }], '?stale&consistent');
  t.is(both.status, 400);
  t.is(both.text, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
  const dc = await put(s, [{ KV: { Verb: 'get', Key: 'k1' } }], '?dc=elsewhere');
  t.is(dc.status, 500);
  t.is(dc.text, 'No path to datacenter');
  t.is((await s.call('GET', '/v1/txn')).status, 405);
});
