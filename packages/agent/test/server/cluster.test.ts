import test from 'ava';
import { MessageType, type Command } from '@trellis/state';
import { TestCluster, waitFor } from './helpers.js';

const put = (key: string, value: string): Command => ({
  type: MessageType.KVS,
  now: Date.now(),
  body: { Op: 'set', DirEnt: { Key: key, Value: Buffer.from(value) } },
});

const valueOf = (c: TestCluster, name: string, key: string): string | undefined => {
  const e = c.servers.get(name)?.store.kvGet(key).value;
  return e?.Value ? Buffer.from(e.Value).toString() : undefined;
};

test('three servers form a cluster from bootstrap_expect, take writes on any server, register as the consul service', async (t) => {
  const c = new TestCluster();
  t.teardown(() => c.close());
  const s1 = await c.start('s1', c.config('s1', { bootstrap_expect: 3 }, []));
  const seed = Number(s1.gossipAddress.split(':')[1]);
  await c.start('s2', c.config('s2', { bootstrap_expect: 3 }, [seed]));
  await c.start('s3', c.config('s3', { bootstrap_expect: 3 }, [seed]));
  const leader = await waitFor('a leader', () => c.leader());
  for (const s of c.servers.values()) {
    await waitFor(
      `${s.nodeName} to know the leader`,
      () => s.leaderAddress() === leader.rpcAddress,
    );
    // A server that found the others already bootstrapped learns the voters from the log.
    await waitFor(`${s.nodeName} to apply the 3-voter configuration`, () =>
      s.raft?.configuration.voters.length === 3 ? true : undefined,
    );
  }
  // A write through each server, read back everywhere (read-your-writes on the writer).
  for (const name of ['s1', 's2', 's3']) {
    const s = c.servers.get(name)!;
    const out = await s.apply(put(`from-${name}`, name));
    t.true(out.value);
    t.is(valueOf(c, name, `from-${name}`), name);
  }
  for (const s of c.servers.values()) {
    const meta = await s.readBarrier('consistent');
    t.true(meta.knownLeader);
    for (const name of ['s1', 's2', 's3']) t.is(valueOf(c, s.nodeName, `from-${name}`), name);
  }
  // The leader registers every server as the consul service with a passing serfHealth.
  await waitFor('consul service on 3 nodes', () => {
    const nodes = leader.store
      .nodes()
      .value.map((n) => n.Node)
      .sort();
    const checks = ['s1', 's2', 's3'].map(
      (n) => leader.store.nodeChecks(n).value.find((c) => c.CheckID === 'serfHealth')?.Status,
    );
    const svcs = ['s1', 's2', 's3'].map((n) =>
      leader.store.nodeServices(n).value?.Services.find((x) => x.ID === 'consul'),
    );
    return (
      nodes.join() === 's1,s2,s3' &&
      checks.every((x) => x === 'passing') &&
      svcs.every((x) => x !== undefined)
    );
  });
  t.is(leader.peerAddresses().length, 3);
});

test('the leader stops: a new leader, writes resume, the old leader comes back from its data dir and catches up', async (t) => {
  const c = new TestCluster();
  t.teardown(() => c.close());
  const s1 = await c.start('s1', c.config('s1', { bootstrap_expect: 3 }, []));
  const seed = Number(s1.gossipAddress.split(':')[1]);
  await c.start('s2', c.config('s2', { bootstrap_expect: 3 }, [seed]));
  await c.start('s3', c.config('s3', { bootstrap_expect: 3 }, [seed]));
  const old = await waitFor('a leader', () => c.leader());
  await old.apply(put('before', '1'));
  const oldName = old.nodeName;
  const ports = {
    server: Number(old.rpcAddress.split(':')[1]),
    serf_lan: Number(old.gossipAddress.split(':')[1]),
  };
  await old.close();
  const next = await waitFor('a new leader', () => c.leader());
  t.not(next.nodeName, oldName);
  const other = [...c.servers.values()].find((s) => !s.closed && s !== next)!;
  t.true((await other.apply(put('after', '2'))).value);
  // Restart the old leader on the same data dir and ports.
  const restarted = await c.start(
    oldName,
    c.config(oldName, { bootstrap_expect: 3, ports: { http: -1, dns: -1, grpc: -1, ...ports } }, [
      Number(next.gossipAddress.split(':')[1]),
    ]),
  );
  await waitFor('the old leader to catch up', () => valueOf(c, oldName, 'after') === '2');
  t.is(valueOf(c, oldName, 'before'), '1');
  t.is(restarted.raft?.configuration.voters.length, 3);
});

test('a single -bootstrap server elects itself; a stale read reports no leader contact; bad restore archives change nothing', async (t) => {
  const c = new TestCluster();
  t.teardown(() => c.close());
  const s = await c.start('solo', c.config('solo', { bootstrap: true }, []));
  await waitFor('leadership', () => s.raft?.isLeader);
  await s.apply(put('k', 'v'));
  const saved = await s.snapshotSave('default');
  await s.apply(put('k', 'changed'));
  const before = s.store.lastIndex;
  await t.throwsAsync(() => s.snapshotRestore(Buffer.from('not an archive')), {
    message: /gzip/,
  });
  t.is(s.store.lastIndex, before);
  await s.snapshotRestore(saved.archive);
  t.is(valueOf(c, 'solo', 'k'), 'v');
  t.true(s.store.lastIndex > before);
});

async function threeServers(c: TestCluster, extra: Record<string, unknown> = {}) {
  const s1 = await c.start('s1', c.config('s1', { bootstrap_expect: 3, ...extra }, []));
  const seed = Number(s1.gossipAddress.split(':')[1]);
  await c.start('s2', c.config('s2', { bootstrap_expect: 3, ...extra }, [seed]));
  await c.start('s3', c.config('s3', { bootstrap_expect: 3, ...extra }, [seed]));
  const leader = await waitFor('a leader', () => c.leader());
  for (const s of c.servers.values()) {
    await waitFor(`${s.nodeName} in a 3-voter configuration`, () =>
      s.raft?.configuration.voters.length === 3 ? true : undefined,
    );
  }
  return { leader, seed };
}

test('a leader that leaves gracefully hands leadership over, is removed from Raft and deregistered', async (t) => {
  const c = new TestCluster();
  t.teardown(() => c.close());
  const { leader } = await threeServers(c);
  await waitFor('the leader to register every server', () =>
    leader.store.nodes().value.length === 3 ? true : undefined,
  );
  const name = leader.nodeName;
  await leader.leave();
  const next = await waitFor('a new leader', () => c.leader());
  t.not(next.nodeName, name);
  await waitFor('the leaver out of the configuration', () =>
    next.raft?.configuration.voters.length === 2 ? true : undefined,
  );
  await waitFor('the leaver deregistered from the catalog', () =>
    next.store.node(name).value === undefined ? true : undefined,
  );
  t.true((await next.apply(put('still', 'writable'))).value);
});

test('autopilot removes a dead server after stabilization, and re-adds it (learner, then voter) when it returns', async (t) => {
  const c = new TestCluster();
  t.teardown(() => c.close());
  const { leader } = await threeServers(c);
  const victim = [...c.servers.values()].find((s) => s !== leader)!;
  const name = victim.nodeName;
  const ports = {
    server: Number(victim.rpcAddress.split(':')[1]),
    serf_lan: Number(victim.gossipAddress.split(':')[1]),
  };
  await victim.close();
  await waitFor(
    'the dead server removed from the configuration',
    () => (leader.raft?.configuration.voters.length === 2 ? true : undefined),
    30_000,
  );
  const serfHealth = () =>
    leader.store.nodeChecks(name).value.find((x) => x.CheckID === 'serfHealth')?.Status;
  t.is(serfHealth(), 'critical');
  await c.start(
    name,
    c.config(name, { bootstrap_expect: 3, ports: { http: -1, dns: -1, grpc: -1, ...ports } }, [
      Number(leader.gossipAddress.split(':')[1]),
    ]),
  );
  await waitFor(
    'the returning server promoted to voter',
    () => (leader.raft?.configuration.voters.length === 3 ? true : undefined),
    30_000,
  );
  await waitFor('serfHealth passing again', () => serfHealth() === 'passing');
});

test('operator: remove a peer by address, transfer leadership to a named server, autopilot health', async (t) => {
  const c = new TestCluster();
  t.teardown(() => c.close());
  const { leader } = await threeServers(c);
  const follower = [...c.servers.values()].find((s) => s !== leader)!;
  const health = await follower.autopilotHealth();
  t.is(health.Servers.length, 3);
  await waitFor('autopilot to call every server healthy', async () =>
    (await follower.autopilotHealth()).Healthy ? true : undefined,
  );
  t.is((await follower.autopilotHealth()).FailureTolerance, 1);
  // Transfer to the follower by its node ID, asked through the other follower.
  const third = [...c.servers.values()].find((s) => s !== leader && s !== follower)!;
  await third.transferLeader(follower.nodeId);
  await waitFor('the named server to lead', () => (follower.raft?.isLeader ? true : undefined));
  // Remove the third server by address, asked through the old leader.
  await leader.removeRaftPeer({ address: third.rpcAddress });
  await waitFor('two voters', () =>
    follower.raft?.configuration.voters.length === 2 ? true : undefined,
  );
  const conf = await leader.raftConfiguration();
  t.deepEqual(conf.Servers.map((s) => s.Node).sort(), [leader.nodeName, follower.nodeName].sort());
  await t.throwsAsync(() => leader.removeRaftPeer({ id: 'no-such-id' }), {
    message: 'id "no-such-id" was not found in the Raft configuration',
  });
});
