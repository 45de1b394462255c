// /v1/status, /v1/agent, /v1/operator and /v1/snapshot over a DirectBackend, plus the shared
// behaviour every endpoint has (405 + Allow, OPTIONS, ?dc, headers, unknown paths).
import test from 'ava';
import { BackendError } from '../../src/http/index.js';
import { serve } from './helpers.js';

test('status: leader is the JSON string ("" without a leader), peers the voter list', async (t) => {
  const s = await serve(t.teardown);
  const l = await s.call('GET', '/v1/status/leader');
  t.is(l.status, 200);
  t.is(l.text, '"127.0.0.1:8300"');
  t.is(l.headers['content-type'], 'application/json');
  t.is(l.headers['x-consul-default-acl-policy'], 'allow');
  t.is((await s.call('GET', '/v1/status/peers')).text, '["127.0.0.1:8300"]');
  s.backend.leader = '';
  t.is((await s.call('GET', '/v1/status/leader')).text, '""');
  t.is((await s.call('GET', '/v1/status/leader?dc=dc9')).text, 'No path to datacenter');
});

test('agent: self and members answer the backend shapes; ?wan lists no members; PUT leave answers 200 empty', async (t) => {
  const s = await serve(t.teardown);
  const self = (await s.call('GET', '/v1/agent/self')).json() as Record<string, unknown>;
  t.deepEqual(Object.keys(self), ['Config', 'DebugConfig', 'Coord', 'Member', 'Stats', 'Meta']);
  t.like(self, { Config: { Datacenter: 'dc1', NodeName: 'node1', Server: true }, Coord: null });
  const members = (await s.call('GET', '/v1/agent/members')).json() as Array<
    Record<string, unknown>
  >;
  t.like(members, [{ Name: 'node1', Addr: '127.0.0.1', Port: 8301, Status: 1 }]);
  t.is((await s.call('GET', '/v1/agent/members?wan')).text, '[]');
  const leave = await s.call('PUT', '/v1/agent/leave');
  t.is(leave.status, 200);
  t.is(leave.body.length, 0);
  t.deepEqual(s.backend.calls, ['leave']);
  const wrong = await s.call('GET', '/v1/agent/leave');
  t.is(wrong.status, 405);
  t.is(wrong.headers.allow, 'OPTIONS,PUT');
  t.is(wrong.text, 'method GET not allowed');
});

test('operator raft configuration, peer removal by id or address, leadership transfer', async (t) => {
  const s = await serve(t.teardown);
  const cfg = await s.call('GET', '/v1/operator/raft/configuration');
  t.is(
    cfg.text,
    '{"Servers":[{"ID":"id-1","Node":"node1","Address":"127.0.0.1:8300","Leader":true,"Voter":true,"ProtocolVersion":"3","LastIndex":0}],"Index":1}',
  );
  t.is((await s.call('GET', '/v1/operator/raft/configuration?stale&consistent')).status, 400);
  t.is((await s.call('DELETE', '/v1/operator/raft/peer?id=id-2')).status, 200);
  t.is((await s.call('DELETE', '/v1/operator/raft/peer?address=10.0.0.2:8300')).status, 200);
  const none = await s.call('DELETE', '/v1/operator/raft/peer');
  t.is(none.status, 400);
  t.is(
    none.text,
    "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
  );
  t.is(
    (await s.call('DELETE', '/v1/operator/raft/peer?id=a&address=b')).text,
    'Must specify only one of ?id or ?address',
  );
  const missing = await s.call('DELETE', '/v1/operator/raft/peer?id=missing');
  t.is(missing.status, 400);
  t.is(missing.text, 'id "missing" was not found in the Raft configuration');
  const tl = await s.call('POST', '/v1/operator/raft/transfer-leader?id=id-2');
  t.is(tl.text, '{"Success":true}');
  await s.call('POST', '/v1/operator/raft/transfer-leader');
  t.deepEqual(s.backend.calls, [
    'remove {"id":"id-2"}',
    'remove {"address":"10.0.0.2:8300"}',
    'transfer id-2',
    'transfer (any)',
  ]);
  t.is((await s.call('GET', '/v1/operator/raft/transfer-leader')).headers.allow, 'OPTIONS,POST');
  t.is((await s.call('GET', '/v1/operator/raft/peer')).headers.allow, 'OPTIONS,DELETE');
});

test('operator errors map: NO_LEADER → 500 "No cluster leader", NOT_FOUND → 404, INTERNAL → 500 with the cause', async (t) => {
  const s = await serve(t.teardown);
  s.backend.fail = new BackendError('NO_LEADER', 'x');
  t.is((await s.call('POST', '/v1/operator/raft/transfer-leader')).text, 'No cluster leader');
  s.backend.fail = new BackendError('NOT_FOUND', 'no such server');
  const nf = await s.call('GET', '/v1/operator/raft/configuration');
  t.is(nf.status, 404);
  t.is(nf.text, 'no such server');
  s.backend.fail = new BackendError('INTERNAL', 'not a server');
  const i = await s.call('DELETE', '/v1/operator/raft/peer?id=x');
  t.is(i.status, 500);
  t.is(i.text, 'not a server');
});

test('autopilot health: 200 when healthy, 429 with the same body when not', async (t) => {
  const s = await serve(t.teardown);
  const ok = await s.call('GET', '/v1/operator/autopilot/health');
  t.is(ok.status, 200);
  t.like(ok.json(), {
    Healthy: true,
    FailureTolerance: 0,
    Servers: [{ ID: 'id-1', SerfStatus: 'alive' }],
  });
  s.backend.healthy = false;
  const bad = await s.call('GET', '/v1/operator/autopilot/health');
  t.is(bad.status, 429);
  t.like(bad.json(), { Healthy: false });
});

test('snapshot: GET streams the archive with X-Consul-Index; PUT restores it; a bad archive is 400 and changes nothing', async (t) => {
  const s = await serve(t.teardown);
  s.backend.put('a', '1');
  s.backend.put('b', '2');
  const snap = await s.call('GET', '/v1/snapshot');
  t.is(snap.status, 200);
  t.is(snap.headers['x-consul-index'], '2');
  t.is(snap.headers['x-consul-knownleader'], 'true');
  t.is(snap.headers['content-type'], 'application/octet-stream');
  t.true(snap.body.length > 0);
  t.deepEqual(s.backend.barriers, ['default']);
  await s.call('GET', '/v1/snapshot?stale');
  t.deepEqual(s.backend.barriers, ['default', 'stale']);
  s.backend.put('c', '3');
  const restore = await s.call('PUT', '/v1/snapshot', { body: snap.body });
  t.is(restore.status, 200);
  t.is(restore.body.length, 0);
  t.deepEqual((await s.call('GET', '/v1/kv/?keys')).json(), ['a', 'b']);
  const bad = await s.call('PUT', '/v1/snapshot', { body: 'not an archive' });
  t.is(bad.status, 400);
  t.regex(bad.text, /^invalid snapshot/);
  t.deepEqual((await s.call('GET', '/v1/kv/?keys')).json(), ['a', 'b']);
  t.is((await s.call('DELETE', '/v1/snapshot')).headers.allow, 'OPTIONS,GET,PUT');
});

test('snapshot restore is bounded: an archive over the limit is 413 and the store is untouched', async (t) => {
  const s = await serve(t.teardown, { limits: { snapshotMaxBytes: 1000 } });
  s.backend.put('keep', '1');
  const r = await s.call('PUT', '/v1/snapshot', { body: Buffer.alloc(1001) });
  t.is(r.status, 413);
  t.is(r.text, 'Request body(1001 bytes) too large, max size: 1000 bytes.');
  t.deepEqual((await s.call('GET', '/v1/kv/?keys')).json(), ['keep']);
});

test('a body on an endpoint that takes none is refused over 64 KiB (413), ignored below', async (t) => {
  const s = await serve(t.teardown);
  t.is((await s.call('PUT', '/v1/agent/leave', { body: Buffer.alloc(100) })).status, 200);
  const r = await s.call('PUT', '/v1/agent/leave', { body: Buffer.alloc(70_000) });
  t.is(r.status, 413);
  t.deepEqual(s.backend.calls, ['leave']);
});

test('unknown paths are an empty 404; trailing slashes are not aliases; OPTIONS lists each endpoint methods', async (t) => {
  const s = await serve(t.teardown);
  const r = await s.call('GET', '/v1/nope');
  t.is(r.status, 404);
  t.is(r.body.length, 0);
  t.is((await s.call('GET', '/v1/status/leader/')).status, 404);
  t.is((await s.call('OPTIONS', '/v1/snapshot')).headers.allow, 'OPTIONS,GET,PUT');
  t.is((await s.call('OPTIONS', '/v1/status/peers')).headers.allow, 'OPTIONS,GET');
});

test('the ACL default-policy header is an option', async (t) => {
  const s = await serve(t.teardown, { aclDefaultPolicy: 'deny' });
  t.is((await s.call('GET', '/v1/status/leader')).headers['x-consul-default-acl-policy'], 'deny');
  t.is((await s.call('GET', '/v1/kv/')).headers['x-consul-default-acl-policy'], 'deny');
});

test('invalid limits are refused at construction', async (t) => {
  await t.throwsAsync(serve(t.teardown, { limits: { kvMaxValueSize: 0 } }), {
    instanceOf: RangeError,
  });
});

test('?pretty applies to every JSON answer', async (t) => {
  const s = await serve(t.teardown);
  t.is((await s.call('GET', '/v1/status/peers?pretty')).text, '[\n    "127.0.0.1:8300"\n]\n');
});
