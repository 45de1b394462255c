import test from 'ava';
import { MessageType } from '@trellis/state';
import { TestCluster, waitFor } from './helpers.js';

async function threeServers(c: TestCluster) {
  const s1 = await c.start('s1', c.config('s1', { bootstrap_expect: 3 }, []));
  const seed = Number(s1.gossipAddress.split(':')[1]);
  await c.start('s2', c.config('s2', { bootstrap_expect: 3 }, [seed]));
  await c.start('s3', c.config('s3', { bootstrap_expect: 3 }, [seed]));
  const leader = await waitFor('a leader', () => c.leader());
  await waitFor('every node registered with serfHealth', () =>
    ['s1', 's2', 's3'].every(
      (n) =>
        leader.store.nodeChecks(n).value.find((x) => x.CheckID === 'serfHealth')?.Status ===
        'passing',
    ),
  );
  return leader;
}

test('a TTL session lapses after twice its TTL unless renewed, also across a leader failover', async (t) => {
  const c = new TestCluster();
  t.teardown(() => c.close());
  const leader = await threeServers(c);
  const follower = [...c.servers.values()].find((s) => s !== leader)!;
  const create = (ID: string, TTL: string) =>
    follower.apply({
      type: MessageType.Session,
      now: Date.now(),
      body: { Op: 'create', Session: { ID, Node: follower.nodeName, TTL } },
    });
  await create('00000000-0000-0000-0000-000000000001', '300ms');
  await create('00000000-0000-0000-0000-000000000002', '300ms');
  // Renew the second one (through a follower: forwarded to the leader) while the first lapses.
  const started = Date.now();
  await waitFor('the unrenewed session to lapse', async () => {
    await follower.renewSession('00000000-0000-0000-0000-000000000002');
    return follower.store.session('00000000-0000-0000-0000-000000000001').value === undefined
      ? true
      : undefined;
  });
  t.true(Date.now() - started >= 550, 'not before 2 × TTL');
  t.truthy(follower.store.session('00000000-0000-0000-0000-000000000002').value);
  t.is(await follower.renewSession('no-such-session'), undefined);
  // The leader stops; the new leader re-arms the survivor's timer, which then lapses.
  await leader.close();
  const next = await waitFor('a new leader', () => c.leader());
  await waitFor('the session to lapse under the new leader', () =>
    next.store.session('00000000-0000-0000-0000-000000000002').value === undefined
      ? true
      : undefined,
  );
});

test('a user event fired on one server reaches every server’s buffer through gossip', async (t) => {
  const c = new TestCluster();
  t.teardown(() => c.close());
  await threeServers(c);
  const [a, b, d] = [...c.servers.values()];
  const ev = await a!.fireEvent({
    name: 'deploy',
    payload: Buffer.from('v2'),
    nodeFilter: '^s[0-9]$',
    serviceFilter: '',
    tagFilter: '',
  });
  for (const s of [a!, b!, d!]) {
    const got = await waitFor(`${s.nodeName} to receive the event`, () =>
      s.events().find((e) => e.ID === ev.ID),
    );
    t.is(got.Name, 'deploy');
    t.is(Buffer.from(got.Payload ?? []).toString(), 'v2');
    t.is(got.NodeFilter, '^s[0-9]$');
    t.true(Number.isSafeInteger(got.LTime));
  }
  // waitEvent wakes on the next event and ends with its signal.
  const ac = new AbortController();
  const woke = b!.waitEvent(ac.signal);
  await a!.fireEvent({
    name: 'x',
    payload: Buffer.alloc(0),
    nodeFilter: '',
    serviceFilter: '',
    tagFilter: '',
  });
  t.true(await woke);
  const [first, second] = b!.events().slice(-2);
  t.true(second!.LTime > first!.LTime, 'Lamport-ordered');
  const idle = b!.waitEvent(AbortSignal.timeout(50));
  t.false(await idle);
  // Events for other nodes, or for services (servers run none), are not kept.
  const before = b!.events().length;
  await a!.fireEvent({
    name: 'other',
    payload: Buffer.alloc(0),
    nodeFilter: '^elsewhere$',
    serviceFilter: '',
    tagFilter: '',
  });
  await a!.fireEvent({
    name: 'svc',
    payload: Buffer.alloc(0),
    nodeFilter: '',
    serviceFilter: 'web',
    tagFilter: '',
  });
  await a!.fireEvent({
    name: 'marker',
    payload: Buffer.alloc(0),
    nodeFilter: '',
    serviceFilter: '',
    tagFilter: '',
  });
  await waitFor('the marker event', () => b!.events().find((e) => e.Name === 'marker'));
  t.deepEqual(
    b!
      .events()
      .slice(before)
      .map((e) => e.Name),
    ['marker'],
  );
  ac.abort();
});
