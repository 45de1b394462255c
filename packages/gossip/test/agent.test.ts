// Agents on real loopback sockets, in-process: pings, TCP fallback, push-pull over TCP,
// user events, graceful leave, encryption on and off.
import test from 'ava';
import { connect } from 'node:net';
import {
  GossipAgent,
  GossipTransport,
  IoErrorCode,
  generateKey,
  isGossipIoError,
  type Member,
  type MemberEventKind,
} from '../src/index.js';
import { allSee, startAgent, view, waitFor } from './net-helpers.js';

function recorder(agent: GossipAgent): string[] {
  const seen: string[] = [];
  agent.onMember((kind: MemberEventKind, m: Member) => seen.push(`${kind} ${m.name}`));
  agent.onUserEvent((e) => seen.push(`event ${e.name} ${new TextDecoder().decode(e.payload)}`));
  return seen;
}

for (const encrypted of [false, true]) {
  const label = encrypted ? 'encrypted' : 'plaintext';
  test(`${label}: two agents join, ping each other, exchange an event, leave`, async (t) => {
    const keys = encrypted ? [generateKey()] : [];
    const a = await startAgent('a', { keys });
    const b = await startAgent('b', { keys });
    t.teardown(() => Promise.all([a.close(), b.close()]));
    t.is(a.addr, `127.0.0.1:${a.port}`);
    t.true(a.port > 0);
    const evA = recorder(a);
    const evB = recorder(b);

    t.is(await b.join([a.addr]), 1);
    await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');
    // Probes flow both ways over UDP (the first probe is within one interval).
    const before = { a: a.stats().packetsIn, b: b.stats().packetsIn };
    await waitFor(
      () => a.stats().packetsIn > before.a + 3 && b.stats().packetsIn > before.b + 3,
      5_000,
      'pings and acks',
    );
    t.log(`TCP fallback pings: ${a.stats().tcpPings} (only under load)`);
    t.true(a.stats().bytesOut > 0 && b.stats().bytesIn > 0);

    a.userEvent('deploy', 'v1');
    await waitFor(() => evB.includes('event deploy v1'), 5_000, 'user event at b');
    t.true(evA.includes('event deploy v1'));
    t.true(evA.includes('join b'));
    t.true(evB.includes('join a'));

    b.setTags({ role: 'web' });
    await waitFor(() => evA.includes('update b'), 5_000, 'a sees b update');
    t.is(a.member('b')?.tags['role'], 'web');

    t.true(await b.leave(5_000));
    await waitFor(() => view(a)['b'] === 'left', 5_000, 'a sees b left');
    t.true(evA.includes('leave b'));
    t.false(evA.includes('fail b'));
    const dropped = Object.values(a.stats().dropped).reduce((x, y) => x + y, 0);
    t.is(dropped, 0, JSON.stringify(a.stats().dropped));
  });
}

test('TCP fallback ping keeps a member alive when UDP to it is dropped', async (t) => {
  const keys = [generateKey()];
  let blocked = '';
  const a = await startAgent('a', {
    keys,
    transport: { outboundFilter: (kind, to) => !(kind === 'udp' && to === blocked) },
  });
  const b = await startAgent('b', { keys });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const evA = recorder(a);
  t.is(await b.join([a.addr]), 1);
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');

  // a's UDP to b is lost from now on: a's pings to b, and a's acks to b's pings, so both
  // sides' direct probes fail and both fall back to TCP.
  blocked = b.addr;
  await waitFor(() => a.stats().tcpPings >= 3 && b.stats().tcpPings >= 3, 10_000, 'TCP pings');
  t.is(view(a)['b'], 'alive');
  t.is(view(b)['a'], 'alive');
  t.false(evA.some((e) => e.startsWith('fail')));
});

test('without the TCP fallback the same loss fails the member (the filter bites)', async (t) => {
  let blocked = '';
  const a = await startAgent('a', {
    config: { disableTcpPings: true },
    transport: { outboundFilter: (kind, to) => !(kind === 'udp' && to === blocked) },
  });
  const b = await startAgent('b', { config: { disableTcpPings: true } });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.is(await b.join([a.addr]), 1);
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');
  blocked = b.addr;
  await waitFor(() => view(a)['b'] === 'dead', 10_000, 'a fails b');
  t.is(a.stats().tcpPings, 0);
});

test('push-pull over TCP spreads membership when all UDP is lost', async (t) => {
  let udpOff = false;
  const opts = {
    config: { pushPullInterval: 300 },
    transport: { outboundFilter: (kind: 'udp' | 'tcp') => !(udpOff && kind === 'udp') },
  };
  const a = await startAgent('a', opts);
  const b = await startAgent('b', opts);
  const c = await startAgent('c', opts);
  t.teardown(() => Promise.all([a.close(), b.close(), c.close()]));
  t.is(await b.join([a.addr]), 1);
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'a and b alive');
  udpOff = true;
  const pp = a.stats().pushPulls;
  // c joins b only (a TCP push-pull); a can learn about c only through push-pull.
  t.is(await c.join([b.addr]), 1);
  await waitFor(() => allSee([a, b, c], ['a', 'b', 'c'], 'alive'), 10_000, 'all see c alive');
  t.true(a.stats().pushPulls + b.stats().pushPulls > pp);
  // Probes keep succeeding through the TCP fallback (no UDP at all).
  await waitFor(() => a.stats().tcpPings > 0, 5_000, 'a TCP ping');
  t.is(view(a)['c'], 'alive');
});

test('join errors, retries and close', async (t) => {
  const a = await startAgent('a');
  // A seed that does not answer: count 0, then retry-join gives up with a stable code.
  const dead = await GossipTransport.listen({}, { onPacket: () => {}, onStream: () => undefined });
  const deadAddr = dead.addr;
  await dead.close();
  t.is(await a.join([deadAddr]), 0);
  const err = await t.throwsAsync(a.retryJoin([deadAddr], { maxAttempts: 2, interval: 50 }));
  t.true(isGossipIoError(err) && err.code === IoErrorCode.JoinFailed);

  // retry-join succeeds once the seed appears.
  const b = await startAgent('b', { retryJoin: [a.addr] });
  t.teardown(() => b.close());
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'b joined by retry-join');

  // The AbortSignal closes; calls after close fail with GOSSIP_CLOSED.
  const ac = new AbortController();
  const c = await startAgent('c', { signal: ac.signal });
  ac.abort();
  await waitFor(() => c.closed, 1_000, 'c closed');
  const e2 = t.throws(() => c.userEvent('x', ''));
  t.true(isGossipIoError(e2) && e2.code === IoErrorCode.Closed);
  await a.close();
  await a.close(); // idempotent
  const e3 = await t.throwsAsync(GossipAgent.start({ name: 'w', bindAddr: '0.0.0.0' }));
  t.true(isGossipIoError(e3) && e3.code === IoErrorCode.InvalidOption);
  const e5 = t.throws(() => b.installKey(generateKey()));
  t.true(isGossipIoError(e5) && e5.code === IoErrorCode.InvalidOption, 'encryption is off');
  const e4 = await t.throwsAsync(startAgent('k', { keys: ['short'] }));
  t.true(isGossipIoError(e4) && e4.code === IoErrorCode.KeyInvalid);
});

test('agents with different keys cannot talk; a shared extra key lets them', async (t) => {
  const k1 = generateKey();
  const k2 = generateKey();
  const a = await startAgent('a', { keys: [k1] });
  const b = await startAgent('b', { keys: [k2] });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.is(await b.join([a.addr]), 0);
  t.true(a.stats().dropped.decrypt >= 1, JSON.stringify(a.stats().dropped));
  t.is(a.members().length, 1);
  // Each side installs the other's key: requests and replies now open on both ends.
  t.true(b.installKey(k1));
  t.true(a.installKey(k2));
  t.is(await b.join([a.addr]), 1);
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');
  t.deepEqual(b.listKeys(), [k2, k1]);
});

test('IPv6 loopback: two agents on ::1', async (t) => {
  const a = await startAgent('a', { bindAddr: '::1' });
  const b = await startAgent('b', { bindAddr: '::1' });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.is(a.addr, `[::1]:${a.port}`);
  t.is(await b.join([a.addr]), 1);
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');
  const before = a.stats().packetsIn;
  await waitFor(() => a.stats().packetsIn > before + 3, 5_000, 'pings over ::1');
});

test('an inbound connection flood is capped; the agent keeps serving', async (t) => {
  const a = await startAgent('a', { transport: { maxTcpConnections: 4 } });
  t.teardown(() => a.close());
  const socks = Array.from({ length: 10 }, () => {
    const s = connect({ host: '127.0.0.1', port: a.port });
    s.on('error', () => undefined);
    return s;
  });
  t.teardown(() => socks.forEach((s) => s.destroy()));
  await waitFor(() => a.stats().dropped['tcp-limit'] === 6, 5_000, '6 refused');
  // The 4 idle ones are cut at the TCP timeout, then a real join gets through.
  await waitFor(() => a.stats().dropped['tcp-timeout'] === 4, 5_000, 'idle ones cut');
  const b = await startAgent('b');
  t.teardown(() => b.close());
  t.is(await b.join([a.addr]), 1);
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');
});
