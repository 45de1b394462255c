// /v1/kv: Consul's kvs_endpoint.go behaviour over a DirectBackend — response shapes, blocking
// queries, every error path, and hostile input that must be refused without changing state.
import test from 'ava';
import { request } from 'node:http';
import { MessageType } from '@trellis/state';
import { serve, until } from './helpers.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('PUT stores the raw body and answers true; GET answers [DirEntry] in Consul field order with meta headers', async (t) => {
  const s = await serve(t.teardown);
  const put = await s.call('PUT', '/v1/kv/app/config?flags=42', { body: 'hello' });
  t.is(put.status, 200);
  t.is(put.text, 'true');
  t.is(put.headers['content-type'], 'application/json');
  t.is(put.headers['x-consul-default-acl-policy'], 'allow');
  const get = await s.call('GET', '/v1/kv/app/config');
  t.is(get.status, 200);
  t.is(
    get.text,
    `[{"LockIndex":0,"Key":"app/config","Flags":42,"Value":"${b64('hello')}","CreateIndex":1,"ModifyIndex":1}]`,
  );
  t.is(get.headers['x-consul-index'], '1');
  t.is(get.headers['x-consul-knownleader'], 'true');
  t.is(get.headers['x-consul-lastcontact'], '0');
  t.is(get.headers['x-consul-effective-consistency'], 'leader');
  t.deepEqual(s.backend.barriers, ['default']);
});

test('an empty PUT body stores Value null; ?raw answers the bytes as text/plain with Consul hardening headers', async (t) => {
  const s = await serve(t.teardown);
  await s.call('PUT', '/v1/kv/empty');
  t.like((await s.call('GET', '/v1/kv/empty')).json(), [{ Key: 'empty', Value: null }]);
  const bytes = Buffer.from([0, 1, 2, 255, 0x7b]);
  await s.call('PUT', '/v1/kv/bin', { body: bytes });
  const raw = await s.call('GET', '/v1/kv/bin?raw');
  t.is(raw.status, 200);
  t.deepEqual(raw.body, bytes);
  t.is(raw.headers['content-type'], 'text/plain');
  t.is(raw.headers['x-content-type-options'], 'nosniff');
  t.is(raw.headers['content-security-policy'], 'sandbox');
  t.is((await s.call('GET', '/v1/kv/empty?raw')).body.length, 0);
});

test('a missing key is 404 with an empty body and still carries X-Consul-Index (never 0)', async (t) => {
  const s = await serve(t.teardown);
  const r = await s.call('GET', '/v1/kv/nope');
  t.is(r.status, 404);
  t.is(r.body.length, 0);
  t.is(r.headers['x-consul-index'], '1');
});

test('?recurse lists by prefix (root included); ?keys with ?separator cuts at the separator; misspelt ?seperator is honoured', async (t) => {
  const s = await serve(t.teardown);
  for (const k of ['foo/a', 'foo/b/1', 'foo/b/2', 'fox']) s.backend.put(k, k);
  const rec = await s.call('GET', '/v1/kv/foo/?recurse');
  t.deepEqual(
    (rec.json() as Array<{ Key: string }>).map((e) => e.Key),
    ['foo/a', 'foo/b/1', 'foo/b/2'],
  );
  t.is(rec.headers['x-consul-index'], '3');
  t.is(((await s.call('GET', '/v1/kv/?recurse')).json() as unknown[]).length, 4);
  t.is((await s.call('GET', '/v1/kv/zzz?recurse')).status, 404);
  t.deepEqual((await s.call('GET', '/v1/kv/foo/?keys&separator=/')).json(), ['foo/a', 'foo/b/']);
  t.deepEqual((await s.call('GET', '/v1/kv/foo/?keys&seperator=/')).json(), ['foo/a', 'foo/b/']);
  t.deepEqual((await s.call('GET', '/v1/kv/?keys')).json(), ['foo/a', 'foo/b/1', 'foo/b/2', 'fox']);
  t.is((await s.call('GET', '/v1/kv/zzz?keys')).status, 404);
  // ?recurse with ?raw is still the JSON list (raw applies to single gets only).
  t.is(
    (await s.call('GET', '/v1/kv/foo/?recurse&raw')).headers['content-type'],
    'application/json',
  );
});

test('the root lists as [] when empty (keys) and GET /v1/kv/ without recurse/keys is 400 "Missing key name"', async (t) => {
  const s = await serve(t.teardown);
  const keys = await s.call('GET', '/v1/kv/?keys');
  t.is(keys.status, 200);
  t.is(keys.text, '[]');
  const bare = await s.call('GET', '/v1/kv/');
  t.is(bare.status, 400);
  t.is(bare.text, 'Missing key name');
  t.is(bare.headers['content-type'], 'text/plain; charset=utf-8');
  t.is((await s.call('PUT', '/v1/kv/', { body: 'x' })).text, 'Missing key name');
  t.is((await s.call('DELETE', '/v1/kv/')).text, 'Missing key name');
  t.is(s.backend.store.lastIndex, 0);
});

test('?cas: 0 writes only if absent, else the ModifyIndex must match; answers true/false', async (t) => {
  const s = await serve(t.teardown);
  t.is((await s.call('PUT', '/v1/kv/c?cas=0', { body: '1' })).text, 'true');
  t.is((await s.call('PUT', '/v1/kv/c?cas=0', { body: '2' })).text, 'false');
  t.is((await s.call('PUT', '/v1/kv/c?cas=7', { body: '2' })).text, 'false');
  t.is((await s.call('PUT', '/v1/kv/c?cas=1', { body: '2' })).text, 'true');
  t.like((await s.call('GET', '/v1/kv/c')).json(), [{ Value: b64('2'), ModifyIndex: 4 }]);
});

test('?acquire / ?release use the lock and unlock ops; a bogus session is the store refusal as 500', async (t) => {
  const s = await serve(t.teardown);
  const now = Date.now();
  const store = s.backend.store;
  t.true(
    store.applyCommand(1, {
      type: MessageType.Register,
      now,
      body: { Node: 'n1', Address: '10.0.0.1' },
    }).ok,
  );
  t.true(
    store.applyCommand(2, {
      type: MessageType.Session,
      now,
      body: { Op: 'create', Session: { ID: 'sess-1', Node: 'n1' } },
    }).ok,
  );
  t.is((await s.call('PUT', '/v1/kv/lock?acquire=sess-1', { body: 'me' })).text, 'true');
  const held = (await s.call('GET', '/v1/kv/lock')).json() as Array<Record<string, unknown>>;
  t.like(held, [{ Session: 'sess-1', LockIndex: 1 }]);
  t.deepEqual(Object.keys(held[0]!), [
    'LockIndex',
    'Key',
    'Flags',
    'Value',
    'Session',
    'CreateIndex',
    'ModifyIndex',
  ]);
  t.is((await s.call('PUT', '/v1/kv/lock?release=other')).text, 'false');
  t.is((await s.call('PUT', '/v1/kv/lock?release=sess-1')).text, 'true');
  t.false('Session' in ((await s.call('GET', '/v1/kv/lock')).json() as object[])[0]!);
  const bogus = await s.call('PUT', '/v1/kv/lock?acquire=bogus');
  t.is(bogus.status, 500);
  t.is(bogus.text, 'invalid session "bogus"');
});

test('DELETE: plain, ?recurse (delete-tree, root allowed), ?cas (delete-cas answers true/false)', async (t) => {
  const s = await serve(t.teardown);
  for (const k of ['a/1', 'a/2', 'b']) s.backend.put(k, 'v');
  t.is((await s.call('DELETE', '/v1/kv/b')).text, 'true');
  t.is((await s.call('GET', '/v1/kv/b')).status, 404);
  t.is((await s.call('DELETE', '/v1/kv/a/1?cas=99')).text, 'false');
  t.is((await s.call('DELETE', '/v1/kv/a/1?cas=1')).text, 'true');
  t.is((await s.call('DELETE', '/v1/kv/a/?recurse')).text, 'true');
  t.is((await s.call('GET', '/v1/kv/a/?recurse')).status, 404);
  s.backend.put('x', 'v');
  t.is((await s.call('DELETE', '/v1/kv/?recurse')).text, 'true');
  t.is((await s.call('GET', '/v1/kv/?keys')).text, '[]');
});

test('conflicting flags are 400 with Consul text echoing the encoded query; nothing is written', async (t) => {
  const s = await serve(t.teardown);
  const r = await s.call('PUT', '/v1/kv/k?release=s&cas=0&acquire=a+b', { body: 'x' });
  t.is(r.status, 400);
  t.is(r.text, 'Conflicting flags: acquire=a+b&cas=0&release=s\n');
  const d = await s.call('DELETE', '/v1/kv/k?recurse&cas=1');
  t.is(d.status, 400);
  t.is(d.text, 'Conflicting flags: cas=1&recurse=\n');
  t.is(s.backend.store.lastIndex, 0);
});

test('blocking GET wakes on a change to the key and answers the new index', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('w', '1');
  const pending = s.call('GET', `/v1/kv/w?index=${idx}&wait=30s`);
  await until(() => s.backend.store.watchStats().parked === 1);
  s.backend.put('w', '2');
  const r = await pending;
  t.is(r.status, 200);
  t.is(r.headers['x-consul-index'], String(idx + 1));
  t.like(r.json(), [{ Value: b64('2') }]);
});

test('blocking ?recurse and ?keys wake on a new key under the prefix; an index already passed answers at once', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('p/a', '1');
  const rec = s.call('GET', `/v1/kv/p/?recurse&index=${idx}`);
  const keys = s.call('GET', `/v1/kv/p/?keys&index=${idx}`);
  await until(() => s.backend.store.watchStats().parked === 2);
  s.backend.put('p/b', '1');
  t.is(((await rec).json() as unknown[]).length, 2);
  t.deepEqual((await keys).json(), ['p/a', 'p/b']);
  const now = await s.call('GET', '/v1/kv/p/a?index=0&wait=10m');
  t.is(now.status, 200);
});

test('blocking GET times out after ?wait (plus at most wait/16 jitter) with the same index', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('t', '1');
  const started = Date.now();
  const r = await s.call('GET', `/v1/kv/t?index=${idx}&wait=200ms`);
  const took = Date.now() - started;
  t.is(r.status, 200);
  t.is(r.headers['x-consul-index'], String(idx));
  t.true(took >= 190, `took ${took} ms`);
  t.is(s.backend.store.watchStats().parked, 0);
});

test('a blocking GET on a missing key times out with 404 and wakes with 200 when the key appears', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('other', '1');
  t.is((await s.call('GET', `/v1/kv/later?index=${idx}&wait=50ms`)).status, 404);
  const pending = s.call('GET', `/v1/kv/later?index=${idx}&wait=30s`);
  await until(() => s.backend.store.watchStats().parked === 1);
  s.backend.put('later', 'here');
  t.is((await pending).status, 200);
});

test('?consistent re-runs the consistent barrier after every wake; ?stale reports the replica staleness', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('c', '1');
  const pending = s.call('GET', `/v1/kv/c?consistent&index=${idx}`);
  await until(() => s.backend.store.watchStats().parked === 1);
  s.backend.put('c', '2');
  const r = await pending;
  t.deepEqual(s.backend.barriers, ['consistent', 'consistent']);
  t.is(r.headers['x-consul-effective-consistency'], 'consistent');
  s.backend.meta = { knownLeader: false, lastContactMs: 1234.7 };
  const st = await s.call('GET', '/v1/kv/c?stale');
  t.is(st.headers['x-consul-effective-consistency'], 'stale');
  t.is(st.headers['x-consul-knownleader'], 'false');
  t.is(st.headers['x-consul-lastcontact'], '1234');
});

test('a client that abandons a blocking GET cancels its watch', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('gone', '1');
  const ac = new AbortController();
  const pending = s.call('GET', `/v1/kv/gone?index=${idx}&wait=5m`, { signal: ac.signal });
  await until(() => s.backend.store.watchStats().parked === 1);
  ac.abort();
  await t.throwsAsync(pending);
  await until(() => s.backend.store.watchStats().parked === 0);
  t.is(s.backend.store.watchStats().channels, 0);
});

test('closing the server ends parked blocking queries and their watches', async (t) => {
  const s = await serve(() => {});
  const idx = s.backend.put('k', '1');
  const pending = s.call('GET', `/v1/kv/k?index=${idx}&wait=5m`);
  await until(() => s.backend.store.watchStats().parked === 1);
  await s.api.close();
  await t.throwsAsync(pending);
  await until(() => s.backend.store.watchStats().parked === 0);
});

// ---------------------------------------------------------------- errors and hostile input

const badQueries: Array<[string, number, string]> = [
  ['/v1/kv/k?index=abc', 400, 'Invalid index'],
  ['/v1/kv/k?index=-1', 400, 'Invalid index'],
  ['/v1/kv/k?index=1.5', 400, 'Invalid index'],
  ['/v1/kv/k?index=18446744073709551616', 400, 'Invalid index'],
  ['/v1/kv/k?wait=10', 400, 'Invalid wait time'],
  ['/v1/kv/k?wait=abc', 400, 'Invalid wait time'],
  ['/v1/kv/k?wait=5S', 400, 'Invalid wait time'],
  ['/v1/kv/k?wait=.s', 400, 'Invalid wait time'],
  [
    '/v1/kv/k?stale&consistent',
    400,
    'Cannot specify ?stale with ?consistent, conflicting semantics.',
  ],
  ['/v1/kv/k?dc=dc2', 500, 'No path to datacenter'],
  ['/v1/kv/k?x=%zz', 400, 'Failed to decode query: invalid URL escape in "x=%zz"'],
  ['/v1/kv/k?a;b=1', 400, 'Failed to decode query: invalid semicolon separator in query'],
];

for (const [path, status, text] of badQueries) {
  test(`GET ${path} → ${status} ${JSON.stringify(text)}`, async (t) => {
    const s = await serve(t.teardown);
    const r = await s.call('GET', path);
    t.is(r.status, status);
    t.is(r.text, text);
    t.is(r.headers['content-type'], 'text/plain; charset=utf-8');
  });
}

test('a valid dc (this agent own) and a huge index are accepted', async (t) => {
  const s = await serve(t.teardown);
  s.backend.put('k', 'v');
  t.is((await s.call('GET', '/v1/kv/k?dc=dc1')).status, 200);
  t.is((await s.call('GET', '/v1/kv/k?index=18446744073709551615&wait=20ms')).status, 200);
});

const badWrites: Array<[string, string, number, string]> = [
  ['PUT', '/v1/kv/k?flags=abc', 400, 'strconv.ParseUint: parsing "abc": invalid syntax'],
  ['PUT', '/v1/kv/k?flags=-1', 400, 'strconv.ParseUint: parsing "-1": invalid syntax'],
  [
    'PUT',
    '/v1/kv/k?flags=99999999999999999999',
    400,
    'strconv.ParseUint: parsing "99999999999999999999": value out of range',
  ],
  ['PUT', '/v1/kv/k?cas=x', 400, 'strconv.ParseUint: parsing "x": invalid syntax'],
  ['DELETE', '/v1/kv/k?cas=', 400, 'strconv.ParseUint: parsing "": invalid syntax'],
  ['PUT', '/v1/kv/k?dc=elsewhere', 500, 'No path to datacenter'],
  ['PUT', '/v1/kv/%20lead', 400, 'key must not have leading or trailing whitespace'],
  ['PUT', '/v1/kv/trail%20', 400, 'key must not have leading or trailing whitespace'],
  ['PUT', '/v1/kv/a/..%5Cb', 400, 'key contains path traversal sequence'],
  ['PUT', '/v1/kv/a%252e%252e%252fb', 400, 'key contains encoded path traversal sequence'],
  ['PUT', '/v1/kv/a/%2e%2e%2fetc', 301, ''],
  ['PATCH', '/v1/kv/k', 405, 'method PATCH not allowed'],
  ['HEAD', '/v1/kv/k', 405, ''],
  ['POST', '/v1/kv/k', 405, 'method POST not allowed'],
];

for (const [method, path, status, text] of badWrites) {
  test(`${method} ${path} → ${status} and no state change`, async (t) => {
    const s = await serve(t.teardown);
    const before = s.backend.store.lastIndex;
    const r = await s.call(method, path, { body: 'value' });
    t.is(r.status, status);
    t.is(r.text, text);
    if (status === 405) t.is(r.headers.allow, 'OPTIONS,GET,PUT,DELETE');
    t.is(s.backend.store.lastIndex, before);
  });
}

test('OPTIONS answers 200 with the Allow list and no body', async (t) => {
  const s = await serve(t.teardown);
  const r = await s.call('OPTIONS', '/v1/kv/anything');
  t.is(r.status, 200);
  t.is(r.headers.allow, 'OPTIONS,GET,PUT,DELETE');
  t.is(r.body.length, 0);
});

test('a value of exactly 512 KiB is stored; one byte more is 413 with Consul text and nothing is written', async (t) => {
  const s = await serve(t.teardown);
  const max = 512 * 1024;
  t.is((await s.call('PUT', '/v1/kv/big', { body: Buffer.alloc(max, 1) })).text, 'true');
  const r = await s.call('PUT', '/v1/kv/big2', { body: Buffer.alloc(max + 1, 1) });
  t.is(r.status, 413);
  t.is(
    r.text,
    `Request body(${max + 1} bytes) too large, max size: ${max} bytes. See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.`,
  );
  t.is(s.backend.store.lastIndex, 1);
});

test('an oversized chunked body (no Content-Length) is cut off with 413 and nothing is written', async (t) => {
  const s = await serve(t.teardown, { limits: { kvMaxValueSize: 1024 } });
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: s.api.port, method: 'PUT', path: '/v1/kv/chunked', agent: false },
      (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    // Write in chunks well past the limit; the server answers before the end.
    for (let i = 0; i < 8; i++) req.write(Buffer.alloc(512, 2));
    req.end();
  });
  t.is(res.status, 413);
  t.regex(res.text, /^Request body\(\d+ bytes\) too large, max size: 1024 bytes\./);
  t.is(s.backend.store.lastIndex, 0);
});

test('percent-encoding: spaces, unicode and %2F in keys round-trip; //, ./ and ../ redirect to the clean path', async (t) => {
  const s = await serve(t.teardown);
  t.is((await s.call('PUT', '/v1/kv/with%20space', { body: 'a' })).text, 'true');
  t.is((await s.call('PUT', '/v1/kv/caf%C3%A9/%E2%9C%93', { body: 'b' })).text, 'true');
  t.is((await s.call('PUT', '/v1/kv/a%2Fb', { body: 'c' })).text, 'true');
  t.deepEqual((await s.call('GET', '/v1/kv/?keys')).json(), ['a/b', 'café/✓', 'with space']);
  const r = await s.call('GET', '/v1/kv/a//b?raw');
  t.is(r.status, 301);
  t.is(r.headers.location, '/v1/kv/a/b?raw');
  t.is((await s.call('PUT', '/v1/kv/x/./y')).headers.location, '/v1/kv/x/y');
  t.is(
    (await s.call('PUT', '/v1/kv/x/../../../v1/status/leader')).headers.location,
    '/v1/status/leader',
  );
  t.is((await s.call('GET', '/v1/kv?keys')).headers.location, '/v1/kv/?keys');
  t.is(s.backend.store.lastIndex, 3);
});

test('non-printable characters in the path are a bare 400; malformed path escapes are Go 400 Bad Request', async (t) => {
  const s = await serve(t.teardown);
  for (const p of ['/v1/kv/a%00b', '/v1/kv/a%0Ab', '/v1/kv/a%E2%80%8Bb', '/v1/kv/a%C2%A0b']) {
    const r = await s.call('PUT', p, { body: 'x' });
    t.is(r.status, 400, p);
    t.is(r.body.length, 0, p);
  }
  for (const p of ['/v1/kv/a%zz', '/v1/kv/%C3%28', '/v1/kv/%']) {
    const r = await s.call('PUT', p, { body: 'x' });
    t.is(r.status, 400, p);
    t.is(r.text, '400 Bad Request', p);
  }
  t.is(s.backend.store.lastIndex, 0);
});

test('a huge query string is refused by the server (431) and nothing is written', async (t) => {
  const s = await serve(t.teardown);
  const r = await s.call('PUT', `/v1/kv/k?flags=1&pad=${'x'.repeat(70_000)}`, { body: 'v' });
  t.is(r.status, 431);
  t.is(s.backend.store.lastIndex, 0);
  // The server keeps serving.
  t.is((await s.call('PUT', '/v1/kv/k', { body: 'v' })).text, 'true');
});

test('a Content-Type of JSON does not make the body parsed: the value is the raw bytes', async (t) => {
  const s = await serve(t.teardown);
  const body = '{"not": valid json';
  await s.call('PUT', '/v1/kv/j', { body, headers: { 'content-type': 'application/json' } });
  t.is((await s.call('GET', '/v1/kv/j?raw')).text, body);
});

test('no leader: reads and writes answer 500 "No cluster leader"; stale reads still work', async (t) => {
  const s = await serve(t.teardown);
  s.backend.put('k', 'v');
  const { BackendError } = await import('../../src/http/index.js');
  s.backend.fail = new BackendError('NO_LEADER', 'raft: no leader');
  const r = await s.call('GET', '/v1/kv/k');
  t.is(r.status, 500);
  t.is(r.text, 'No cluster leader');
  t.is((await s.call('PUT', '/v1/kv/k', { body: 'x' })).text, 'No cluster leader');
  t.is((await s.call('GET', '/v1/kv/k?stale')).status, 200);
  s.backend.fail = new BackendError('UNAVAILABLE', 'rpc error: timeout');
  const u = await s.call('DELETE', '/v1/kv/k');
  t.is(u.status, 500);
  t.is(u.text, 'rpc error: timeout');
});

test('?pretty indents with four spaces and a trailing newline, as Go MarshalIndent', async (t) => {
  const s = await serve(t.teardown);
  s.backend.put('k', '<&>');
  const r = await s.call('GET', '/v1/kv/?keys&pretty');
  t.is(r.text, '[\n    "k"\n]\n');
  const p = await s.call('PUT', '/v1/kv/%3Ca%3E?pretty', { body: '' });
  t.is(p.text, 'true\n');
  // Go escapes <, > and & in JSON strings.
  t.is((await s.call('GET', '/v1/kv/?keys')).text, '["\\u003ca\\u003e","k"]');
});
