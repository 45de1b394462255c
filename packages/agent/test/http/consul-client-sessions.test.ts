// The npm `consul` client (v2) against our server: sessions, transactions and user events as
// real Consul clients drive them.
import test from 'ava';
import Consul from 'consul';
import { MessageType } from '@trellis/state';
import { serve } from './helpers.js';

test('the consul npm client drives session create/info/renew/destroy, txn and event fire/list', async (t) => {
  const s = await serve(t.teardown);
  const store = s.backend.store;
  const reg = store.applyCommand(store.lastIndex + 1, {
    type: MessageType.Register,
    now: Date.now(),
    body: {
      Node: 'node1',
      Address: '127.0.0.1',
      Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
    },
  });
  if (!reg.ok) throw reg.error;
  const consul = new Consul({ host: '127.0.0.1', port: s.api.port });

  // Sessions.
  const { ID: id } = await consul.session.create({ name: 'svc-lock', ttl: '15s', lockdelay: '5s' });
  const info = (await consul.session.info(id)) as unknown as Record<string, unknown>;
  t.like(info, { ID: id, Name: 'svc-lock', Node: 'node1', TTL: '15s', LockDelay: 5e9 });
  const renewed = (await consul.session.renew(id)) as Array<{ ID: string }>;
  t.is(renewed[0]?.ID, id);
  t.deepEqual(
    ((await consul.session.list()) as Array<{ ID: string }>).map((x) => x.ID),
    [id],
  );
  t.deepEqual(
    ((await consul.session.node('node1')) as Array<{ ID: string }>).map((x) => x.ID),
    [id],
  );
  // A KV lock held by the session, then checked in a transaction.
  t.true(await consul.kv.set({ key: 'svc/leader', value: 'me', acquire: id }));
  const txn = await consul.transaction.create([
    { KV: { Verb: 'check-session', Key: 'svc/leader', Session: id } },
    { KV: { Verb: 'set', Key: 'svc/term', Value: Buffer.from('1').toString('base64') } },
    { KV: { Verb: 'get', Key: 'svc/leader' } },
  ] as never);
  const results = (txn as { Results: Array<{ KV: { Key: string; Value: string | null } }> })
    .Results;
  t.deepEqual(
    results.map((r) => r.KV.Key),
    ['svc/leader', 'svc/term', 'svc/leader'],
  );
  t.is(Buffer.from(results[2]?.KV.Value ?? '', 'base64').toString(), 'me');
  // A failed check is a 409 the client reports as an error.
  await t.throwsAsync(
    consul.transaction.create([
      { KV: { Verb: 'check-session', Key: 'svc/leader', Session: 'someone-else' } },
    ] as never),
  );
  await consul.session.destroy(id);
  t.falsy(await consul.session.info(id));
  t.like(await consul.kv.get('svc/leader'), { Value: 'me' });

  // User events.
  const fired = await consul.event.fire('deploy', 'v1.2.3');
  t.like(fired, { Name: 'deploy', Payload: 'v1.2.3', Version: 1 });
  await consul.event.fire({ name: 'restart', payload: '', service: 'web' });
  const all = await consul.event.list();
  t.deepEqual(
    all.map((e) => e.Name),
    ['deploy', 'restart'],
  );
  const deploys = await consul.event.list('deploy');
  t.is(deploys.length, 1);
  t.is(deploys[0]?.ID, fired.ID);
  t.is(deploys[0]?.Payload, 'v1.2.3');
});
