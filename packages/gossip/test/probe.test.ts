import test from 'ava';
import {
  MessageType,
  encodeMessage,
  type GossipCore,
  type Message,
  type Output,
} from '../src/index.js';
import {
  alive,
  memberEvents,
  pkt,
  sent,
  tickAcking,
  tickTo,
  tickUntil,
  udps,
  withPeers,
} from './helpers.js';

const PEERS = ['b', 'c', 'd', 'e', 'f'];
// No gossip rounds in these tests, so that only probe traffic shows up.
const quiet = { gossipInterval: 1e9, pushPullInterval: 0 };
// …and no probes either (the first probe is drawn within [0, 1e9) ms).
const noProbe = { ...quiet, probeInterval: 1e9 };

/** Runs until the core sends a probe; returns target, seq and start time. */
function nextProbe(core: GossipCore, from = 0): { target: string; seq: number; at: number } {
  const { at, outs } = tickUntil(core, (o) => sent(o, MessageType.Ping).length > 0, 60_000, from);
  const [p] = sent(outs, MessageType.Ping);
  return { target: p!.msg.target, seq: p!.msg.seq, at };
}

const ack = (seq: number): Uint8Array =>
  pkt({ type: MessageType.Ack, seq, payload: new Uint8Array(0) });

test('probe → ack: no indirect phase, member stays alive', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p = nextProbe(a);
  t.true(PEERS.includes(p.target));
  a.handlePacket(p.target, ack(p.seq), p.at + 5);
  const outs = tickTo(a, p.at + 999);
  t.deepEqual(sent(outs, MessageType.IndirectPing), []);
  t.false(outs.some((o) => o.type === 'tcp-ping'));
  t.is(a.member(p.target)!.status, 'alive');
  t.is(a.healthScore(), 0);
});

test('probe timeout → indirect pings to k members and a TCP fallback request', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p = nextProbe(a);
  t.deepEqual(sent(tickTo(a, p.at + 499), MessageType.IndirectPing), []);
  const outs = a.tick(p.at + 500);
  const ind = sent(outs, MessageType.IndirectPing);
  t.is(ind.length, 3, 'IndirectChecks = 3');
  t.is(new Set(ind.map((i) => i.to)).size, 3);
  for (const i of ind) {
    t.not(i.to, p.target);
    t.not(i.to, 'a');
    t.is(i.msg.target, p.target);
    t.is(i.msg.targetAddr, p.target);
    t.is(i.msg.seq, p.seq);
    t.true(i.msg.nack);
  }
  const tcp = outs.find((o): o is Extract<Output, { type: 'tcp-ping' }> => o.type === 'tcp-ping');
  t.truthy(tcp);
  t.is(tcp!.to, p.target);
  t.is(tcp!.seq, p.seq);
  t.is(tcp!.deadline, p.at + 1000);
});

test('an indirect ack counts as success', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p = nextProbe(a);
  const ind = sent(a.tick(p.at + 500), MessageType.IndirectPing);
  a.handlePacket(ind[0]!.to, ack(p.seq), p.at + 700);
  tickTo(a, p.at + 1000);
  t.is(a.member(p.target)!.status, 'alive');
  t.is(a.healthScore(), 0);
});

test('no ack at all → suspect; missed nacks raise our health score a probe timeout later', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p = nextProbe(a);
  const outs = tickTo(a, p.at + 1000);
  t.is(a.member(p.target)!.status, 'suspect');
  t.true(outs.some((o) => o.type === 'log' && o.message.includes('no acks received')));
  const snap = a.queueSnapshot();
  t.true(
    snap.some((s) => s.name === p.target),
    'suspect message queued for gossip',
  );
  // A relay nacks one probe timeout after our indirect ping reached it: a round trip after
  // the deadline. The count waits for them (memberlist counts at the deadline).
  t.is(a.healthScore(), 0, 'nacks may still come');
  tickTo(a, p.at + 1500);
  t.is(a.healthScore(), 3, 'three expected nacks, none received');
});

test('late nacks (after the probe deadline, within a probe timeout) still count', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p = nextProbe(a);
  const ind = sent(a.tick(p.at + 500), MessageType.IndirectPing);
  tickTo(a, p.at + 1000);
  t.is(a.member(p.target)!.status, 'suspect');
  a.handlePacket(ind[0]!.to, pkt({ type: MessageType.Nack, seq: p.seq }), p.at + 1004);
  a.handlePacket(ind[1]!.to, pkt({ type: MessageType.Nack, seq: p.seq }), p.at + 1006);
  tickTo(a, p.at + 1500);
  t.is(a.healthScore(), 1, 'one of three nacks missing');
});

test('a refused TCP ping ends the probe at once (nothing listens: the process is gone)', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p = nextProbe(a);
  const outs = a.tick(p.at + 500);
  t.true(outs.some((o) => o.type === 'tcp-ping' && o.seq === p.seq));
  a.tcpPingRefused(p.seq, p.at + 502);
  t.is(a.member(p.target)!.status, 'suspect', 'at 502 ms, not at the 1 s deadline');
  // The nacks still get their time: counted from the nominal deadline.
  tickTo(a, p.at + 1499);
  t.is(a.healthScore(), 0);
  tickTo(a, p.at + 1500);
  t.is(a.healthScore(), 3);
  // A refusal for anything else (an old or unknown sequence number) is ignored.
  a.tcpPingRefused(9_999, p.at + 1501);
  t.is(a.healthScore(), 3);
});

test('nacks from all relays: the target is suspected, our health is unchanged', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p = nextProbe(a);
  const ind = sent(a.tick(p.at + 500), MessageType.IndirectPing);
  for (const i of ind)
    a.handlePacket(i.to, pkt({ type: MessageType.Nack, seq: p.seq }), p.at + 900);
  tickTo(a, p.at + 1000);
  t.is(a.member(p.target)!.status, 'suspect');
  t.is(a.healthScore(), 0);
});

test('a successful TCP fallback prevents suspicion', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p = nextProbe(a);
  a.tick(p.at + 500);
  const reply = encodeMessage({ type: MessageType.Ack, seq: p.seq, payload: new Uint8Array(0) });
  a.handleTcpPingReply(p.seq, reply, p.at + 600);
  const outs = tickTo(a, p.at + 1000);
  t.is(a.member(p.target)!.status, 'alive');
  t.true(
    outs.some((o) => o.type === 'log' && o.message.includes('over TCP but UDP probes failed')),
  );
});

test('Lifeguard: a degraded node scales its probe interval and timeout', (t) => {
  const a = withPeers('a', PEERS, quiet);
  const p1 = nextProbe(a);
  // The first probe fails; the second starts at its deadline with the healthy timing and
  // is answered; the first probe's missed nacks count one probe timeout after its deadline
  // (score 3 → multiplier 4).
  const outs = tickTo(a, p1.at + 1000);
  const [ping2] = sent(outs, MessageType.Ping);
  t.truthy(ping2);
  a.handlePacket(ping2!.to, ack(ping2!.msg.seq), p1.at + 1001);
  tickTo(a, p1.at + 1500);
  t.is(a.healthScore(), 3);
  // The third probe starts one (healthy) interval after the second.
  const [ping3] = sent(tickTo(a, p1.at + 2000), MessageType.Ping);
  t.truthy(ping3);
  const p3 = { at: p1.at + 2000, seq: ping3!.msg.seq };
  // Direct timeout is now 4 × 500 ms.
  t.deepEqual(sent(tickTo(a, p3.at + 1999), MessageType.IndirectPing), []);
  t.is(sent(a.tick(p3.at + 2000), MessageType.IndirectPing).length, 3);
  // Relays nack: no penalty this time, and the probe lasts 4 × 1 s.
  for (const peer of PEERS)
    a.handlePacket(peer, pkt({ type: MessageType.Nack, seq: p3.seq }), p3.at + 2100);
  t.deepEqual(sent(tickTo(a, p3.at + 3999), MessageType.Ping), []);
  const [ping4] = sent(a.tick(p3.at + 4000), MessageType.Ping);
  t.truthy(ping4);
  t.is(a.healthScore(), 3);
  // A success lowers the score by one.
  a.handlePacket(ping4!.to, ack(ping4!.msg.seq), p3.at + 4001);
  t.is(a.healthScore(), 2);
});

test('round-robin probing visits every member once per cycle, reshuffled', (t) => {
  const peers = Array.from({ length: 8 }, (_, i) => `p${i}`);
  const a = withPeers('a', peers, quiet);
  const cycles: string[][] = [];
  let from = 0;
  for (let c = 0; c < 4; c++) {
    const order: string[] = [];
    for (let i = 0; i < peers.length; i++) {
      const p = nextProbe(a, from);
      a.handlePacket(p.target, ack(p.seq), p.at + 1);
      order.push(p.target);
      from = p.at;
    }
    t.deepEqual([...order].sort(), peers, `cycle ${c}`);
    cycles.push(order);
  }
  t.true(new Set(cycles.map((c) => c.join())).size > 1, 'order reshuffled between cycles');
});

test('a suspect target gets the accusation with the ping', (t) => {
  const a = withPeers('a', ['b'], quiet);
  a.handlePacket('c', pkt({ type: MessageType.Suspect, incarnation: 1, node: 'b', from: 'c' }), 0);
  const { outs } = tickUntil(a, (o) => sent(o, MessageType.Ping).length > 0);
  const u = outs.find((o) => o.type === 'udp')!;
  t.is(u.type === 'udp' ? u.messages[1]?.type : undefined, MessageType.Suspect);
});

test('relaying an indirect ping: forward the ack, or nack after the probe timeout', (t) => {
  const a = withPeers('a', ['b', 'c'], noProbe);
  const req = pkt({
    type: MessageType.IndirectPing,
    seq: 77,
    target: 'c',
    targetAddr: 'c',
    nack: true,
    sourceAddr: 'b',
    sourceNode: 'b',
  });
  const pings = sent(a.handlePacket('b', req, 10), MessageType.Ping);
  t.is(pings.length, 1);
  t.is(pings[0]!.to, 'c');
  const fwd = sent(a.handlePacket('c', ack(pings[0]!.msg.seq), 20), MessageType.Ack);
  t.deepEqual(
    fwd.map((f) => [f.to, f.msg.seq]),
    [['b', 77]],
  );
  // Second request, no answer from the target: a nack at +ProbeTimeout.
  const pings2 = sent(a.handlePacket('b', req, 1000), MessageType.Ping);
  t.is(pings2.length, 1);
  t.deepEqual(sent(a.tick(1499), MessageType.Nack), []);
  t.deepEqual(
    sent(a.tick(1500), MessageType.Nack).map((n) => [n.to, n.msg.seq]),
    [['b', 77]],
  );
});

test('pings are answered; pings for another name are ignored', (t) => {
  const a = withPeers('a', ['b'], noProbe);
  const ping = (target: string): Uint8Array =>
    pkt({ type: MessageType.Ping, seq: 5, target, sourceAddr: 'b-addr', sourceNode: 'b' });
  const acks = sent(a.handlePacket('b', ping('a'), 1), MessageType.Ack);
  t.deepEqual(
    acks.map((x) => [x.to, x.msg.seq]),
    [['b-addr', 5]],
  );
  t.deepEqual(sent(a.handlePacket('b', ping('zz'), 2), MessageType.Ack), []);
  const stream = a.handleStream(
    'b',
    encodeMessage({ type: MessageType.Ping, seq: 6, target: 'a', sourceAddr: '', sourceNode: 'b' }),
    3,
  );
  t.truthy(stream.reply);
});

test('suspicion timeout: long at first, shrinking with confirmations (N = 10)', (t) => {
  const peers = ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  const a = withPeers('a', peers, quiet);
  t.is(a.numNodes(), 10);
  // Peers other than b answer every ping (also the probe that falls due meanwhile).
  const recv = (from: string, msg: Message, at: number): void => {
    for (const p of sent(a.handlePacket(from, pkt(msg), at), MessageType.Ping)) {
      if (p.to !== 'b') a.handlePacket(p.to, ack(p.msg.seq), at);
    }
  };
  recv('c', { type: MessageType.Suspect, incarnation: 1, node: 'b', from: 'c' }, 100);
  // min = 4 × log10(10) × 1 s = 4 s, max = 6 × min = 24 s, k = SuspicionMult − 2 = 2.
  t.deepEqual(a.suspicionOf('b'), { deadline: 100 + 24_000, confirmations: 0, k: 2 });
  recv('c', { type: MessageType.Suspect, incarnation: 1, node: 'b', from: 'c' }, 200);
  t.is(a.suspicionOf('b')!.confirmations, 0, 'the same accuser does not confirm');
  recv('d', { type: MessageType.Suspect, incarnation: 1, node: 'b', from: 'd' }, 300);
  t.is(a.suspicionOf('b')!.deadline, 100 + 11_381); // 24 − log 2 / log 3 × 20 s
  recv('e', { type: MessageType.Suspect, incarnation: 1, node: 'b', from: 'e' }, 400);
  t.is(a.suspicionOf('b')!.deadline, 100 + 4_000);
  t.is(a.member('b')!.status, 'suspect');
  // b has crashed (never answers); everyone else answers, so our health stays at 0 and the
  // final check takes one probe interval: it starts 1 s before the deadline (with the
  // accusation, so that a live b could refute) and fails just in time for it.
  const before = tickAcking(a, 3_099, ['b']);
  t.false(
    udps(before).some((u) => u.to === 'b' && u.messages[0]?.type === MessageType.Suspect),
    'no final check before the check window',
  );
  t.is(a.healthScore(), 0);
  const outs = tickAcking(a, 4_100, ['b']);
  const check = udps(outs).find((u) => u.to === 'b' && u.messages[0]?.type === MessageType.Suspect);
  t.truthy(check, 'the final check tells b of the accusation');
  t.is(check!.messages[1]?.type, MessageType.Ping);
  t.is(a.member('b')!.status, 'dead');
  t.deepEqual(memberEvents(outs), ['fail b']);
  t.true(a.queueSnapshot().some((s) => s.name === 'b'));
});

test('suspicion with too few members to confirm uses the minimum', (t) => {
  const a = withPeers('a', ['b', 'c'], quiet); // N = 3, k would be 2 > N − 2
  a.handlePacket('c', pkt({ type: MessageType.Suspect, incarnation: 1, node: 'b', from: 'c' }), 0);
  t.deepEqual(a.suspicionOf('b'), { deadline: 4_000, confirmations: 0, k: 0 });
});

test('a suspected member refutes with a higher incarnation', (t) => {
  const a = withPeers('a', ['b', 'c'], quiet);
  a.handlePacket('c', pkt({ type: MessageType.Suspect, incarnation: 1, node: 'b', from: 'c' }), 0);
  t.is(a.member('b')!.status, 'suspect');
  a.handlePacket('b', pkt(alive('b', 1)), 10);
  t.is(a.member('b')!.status, 'suspect', 'same incarnation does not refute');
  a.handlePacket('b', pkt(alive('b', 2)), 20);
  t.is(a.member('b')!.status, 'alive');
  t.is(a.member('b')!.incarnation, 2);
  t.is(a.suspicionOf('b'), undefined);
  tickAcking(a, 30_000);
  t.is(a.member('b')!.status, 'alive', 'the cancelled suspicion never fires');
});

test('we refute suspicion and death about ourselves, losing health', (t) => {
  const a = withPeers('a', ['b', 'c'], noProbe);
  t.is(a.localMember().incarnation, 1);
  a.handlePacket('b', pkt({ type: MessageType.Suspect, incarnation: 1, node: 'a', from: 'b' }), 0);
  t.is(a.localMember().status, 'alive');
  t.is(a.localMember().incarnation, 2);
  t.is(a.healthScore(), 1);
  a.handlePacket('b', pkt({ type: MessageType.Dead, incarnation: 5, node: 'a', from: 'b' }), 0);
  t.is(a.localMember().status, 'alive');
  t.is(a.localMember().incarnation, 6);
  t.is(a.healthScore(), 2);
  // An alive about us that differs from us (e.g. before a restart) is refuted too.
  a.handlePacket('b', pkt(alive('a', 6, { old: 'tags' })), 0);
  t.is(a.localMember().incarnation, 7);
  // Our own news coming back is not.
  a.handlePacket('b', pkt(alive('a', 7)), 0);
  t.is(a.localMember().incarnation, 7);
  const gossip = a.queueSnapshot().filter((s) => s.name === 'a');
  t.is(gossip.length, 1, 'one alive about us queued (older ones invalidated)');
});
