// The npm `consul` client (v2) against our server: KV, status and agent/self as real Consul
// clients drive them.
import test from 'ava';
import Consul from 'consul';
import { serve } from './helpers.js';

test('the consul npm client drives kv, status and agent/self', async (t) => {
  const s = await serve(t.teardown);
  const consul = new Consul({ host: '127.0.0.1', port: s.api.port });
  t.true(await consul.kv.set('app/name', 'trellis'));
  t.true(await consul.kv.set({ key: 'app/flagged', value: 'x', flags: 7 }));
  const got = await consul.kv.get('app/name');
  t.like(got, { Key: 'app/name', Value: 'trellis', CreateIndex: 1, ModifyIndex: 1 });
  t.falsy(await consul.kv.get('app/missing'));
  const all = await consul.kv.get({ key: 'app/', recurse: true });
  t.true(Array.isArray(all));
  t.deepEqual(await consul.kv.keys('app/'), ['app/flagged', 'app/name']);
  // A refused CAS answers `false`; this client turns a false body into undefined.
  t.falsy(await consul.kv.set({ key: 'app/name', value: 'y', cas: 99 }));
  t.like(await consul.kv.get('app/name'), { Value: 'trellis' });
  t.true(await consul.kv.del('app/name'));
  t.true(await consul.kv.del({ key: 'app/', recurse: true }));
  t.deepEqual(await consul.kv.keys(''), []);
  t.is(await consul.status.leader(), '127.0.0.1:8300');
  t.deepEqual(await consul.status.peers(), ['127.0.0.1:8300']);
  const self = (await consul.agent.self()) as { Config: { Datacenter: string } };
  t.is(self.Config.Datacenter, 'dc1');
  await t.throwsAsync(consul.kv.get({ key: 'x', dc: 'nowhere' }), {
    message: /No path to datacenter/,
  });
});
