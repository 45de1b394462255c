import test from 'ava';
import {
  ErrorCode,
  GossipError,
  MessageType,
  NodeState,
  decodeStream,
  encodeMessage,
  type Output,
  type PushNodeState,
} from '../src/index.js';
import { VSN, alive, memberEvents, mkCore, pkt, sent, tickTo, withPeers } from './helpers.js';

const noProbe = { gossipInterval: 1e9, pushPullInterval: 0, probeInterval: 1e9 };
const dead = (node: string, incarnation: number, from: string): Uint8Array =>
  pkt({ type: MessageType.Dead, incarnation, node, from });
const suspect = (node: string, incarnation: number, from: string): Uint8Array =>
  pkt({ type: MessageType.Suspect, incarnation, node, from });

test('start announces ourselves: join event for self, alive queued', (t) => {
  const a = mkCore('a');
  t.deepEqual(
    a.members().map((m) => [m.name, m.status, m.incarnation]),
    [['a', 'alive', 1]],
  );
  t.deepEqual(
    a.queueSnapshot().map((s) => s.name),
    ['a'],
  );
});

test('alive precedence: new → join, same incarnation ignored, newer tags → update', (t) => {
  const a = mkCore('a', noProbe);
  t.deepEqual(memberEvents(a.handlePacket('b', pkt(alive('b', 3)), 0)), ['join b']);
  t.deepEqual(memberEvents(a.handlePacket('b', pkt(alive('b', 3, { role: 'x' })), 0)), []);
  t.deepEqual(a.member('b')!.tags, {});
  t.deepEqual(memberEvents(a.handlePacket('b', pkt(alive('b', 2, { role: 'x' })), 0)), []);
  t.deepEqual(memberEvents(a.handlePacket('b', pkt(alive('b', 4, { role: 'x' })), 0)), [
    'update b',
  ]);
  t.deepEqual(a.member('b')!.tags, { role: 'x' });
  t.deepEqual(
    memberEvents(a.handlePacket('b', pkt(alive('b', 5, { role: 'x' })), 0)),
    [],
    'no tag change: no event',
  );
  t.is(a.member('b')!.incarnation, 5);
});

test('suspect precedence: older incarnation and unknown members ignored', (t) => {
  const a = withPeers('a', ['b', 'c'], noProbe);
  a.handlePacket('b', pkt(alive('b', 3)), 0);
  a.handlePacket('c', suspect('b', 2, 'c'), 0);
  t.is(a.member('b')!.status, 'alive');
  a.handlePacket('c', suspect('zz', 9, 'c'), 0);
  t.is(a.member('zz'), undefined);
  a.handlePacket('c', suspect('b', 4, 'c'), 0);
  t.is(a.member('b')!.status, 'suspect');
  t.is(a.member('b')!.incarnation, 4);
});

test('dead precedence: fail, ignore older, resurrect only with a newer alive', (t) => {
  const a = withPeers('a', ['b', 'c'], noProbe);
  a.handlePacket('b', pkt(alive('b', 3)), 0);
  t.deepEqual(memberEvents(a.handlePacket('c', dead('b', 2, 'c'), 0)), []);
  t.is(a.member('b')!.status, 'alive');
  t.deepEqual(memberEvents(a.handlePacket('c', dead('b', 3, 'c'), 0)), ['fail b']);
  t.is(a.member('b')!.status, 'dead');
  t.deepEqual(memberEvents(a.handlePacket('c', dead('b', 4, 'c'), 0)), [], 'already dead');
  t.deepEqual(
    memberEvents(a.handlePacket('c', suspect('b', 9, 'c'), 0)),
    [],
    'dead is not suspected',
  );
  t.deepEqual(memberEvents(a.handlePacket('b', pkt(alive('b', 3)), 0)), [], 'not newer');
  t.deepEqual(memberEvents(a.handlePacket('b', pkt(alive('b', 4)), 0)), ['join b']);
  t.is(a.member('b')!.status, 'alive');
});

test('leave intent: dead about oneself with from = node → left, not failed', (t) => {
  const a = withPeers('a', ['b', 'c'], noProbe);
  t.deepEqual(memberEvents(a.handlePacket('b', dead('b', 1, 'b'), 0)), ['leave b']);
  t.is(a.member('b')!.status, 'left');
  // A left member's name may be taken from a new address at once.
  t.deepEqual(memberEvents(a.handlePacket('x', pkt(alive('b', 1, {}, 'new-addr')), 1)), ['join b']);
  t.is(a.member('b')!.addr, 'new-addr');
});

test('leave(): broadcasts the intent, stops probing, completes after retransmits', (t) => {
  const a = withPeers('a', ['b', 'c', 'd'], { pushPullInterval: 0 });
  const outs = a.leave(10);
  t.deepEqual(memberEvents(outs), ['leave a']);
  t.true(a.hasLeft());
  t.is(a.localMember().status, 'left');
  // No refutation of accusations any more.
  a.handlePacket('b', suspect('a', 1, 'b'), 20);
  a.handlePacket('b', dead('a', 1, 'b'), 20);
  t.is(a.localMember().incarnation, 1);
  t.throws(() => a.userEvent('x', new Uint8Array(0), 20), {
    instanceOf: GossipError,
    message: /GOSSIP_LEFT/,
  });
  const later = tickTo(a, 5_000);
  t.deepEqual(sent(later, MessageType.Ping), [], 'no more probes');
  const leaveMsgs = sent(later, MessageType.Dead).filter((d) => d.msg.node === 'a');
  t.true(leaveMsgs.length > 0);
  t.true(leaveMsgs.every((d) => d.msg.from === 'a'));
  t.is(leaveMsgs.length, 4 * Math.ceil(Math.log10(4 + 1)), 'RetransmitMult × ceil(log10(N + 1))');
  t.is(later.filter((o) => o.type === 'leave-complete').length, 1);
});

test('leave() alone completes at once', (t) => {
  const a = mkCore('a');
  t.true(a.leave(1).some((o) => o.type === 'leave-complete'));
});

test('dead-node name reclaim only after DeadNodeReclaimTime', (t) => {
  const a = withPeers('a', ['b', 'c'], { ...noProbe, deadNodeReclaimTime: 30_000 });
  a.handlePacket('c', dead('b', 1, 'c'), 1_000);
  const early = a.handlePacket('x', pkt(alive('b', 1, {}, 'b2')), 20_000);
  const conflict = early.find(
    (o): o is Extract<Output, { type: 'conflict' }> => o.type === 'conflict',
  );
  t.truthy(conflict);
  t.is(conflict!.existing.addr, 'b');
  t.is(conflict!.otherAddr, 'b2');
  t.is(a.member('b')!.status, 'dead');
  // An alive member's name is never taken over.
  t.truthy(
    a.handlePacket('x', pkt(alive('c', 5, {}, 'c2')), 20_000).find((o) => o.type === 'conflict'),
  );
  // After the reclaim time, the new address wins even at a lower incarnation.
  t.deepEqual(memberEvents(a.handlePacket('x', pkt(alive('b', 1, {}, 'b2')), 31_001)), ['join b']);
  t.is(a.member('b')!.addr, 'b2');
  t.is(a.member('b')!.status, 'alive');
});

test('reclaim disabled (0): a dead name stays taken until reaped', (t) => {
  const a = withPeers('a', ['b', 'c'], { ...noProbe, deadNodeReclaimTime: 0 });
  a.handlePacket('c', dead('b', 1, 'c'), 0);
  t.truthy(
    a.handlePacket('x', pkt(alive('b', 9, {}, 'b2')), 1e6).find((o) => o.type === 'conflict'),
  );
});

test('metadata update propagates as alive with a higher incarnation', (t) => {
  const a = withPeers('a', ['b'], noProbe);
  const b = withPeers('b', ['a'], noProbe);
  const outs = a.setTags(
    { role: 'server', dc: 'dc1', rpc_addr: '10.0.0.1:8300', build: '0.1.0' },
    5,
  );
  t.deepEqual(memberEvents(outs), ['update a']);
  t.is(a.localMember().incarnation, 2);
  // Gossip it to b by hand: take what a would piggyback.
  const gossip = sent(tickTo(a, 1e9 + 5), MessageType.Alive).find((x) => x.msg.node === 'a');
  t.truthy(gossip);
  const upd = b.handlePacket('a', pkt(gossip!.msg), 10);
  t.deepEqual(memberEvents(upd), ['update a']);
  t.deepEqual(b.member('a')!.tags, {
    build: '0.1.0',
    dc: 'dc1',
    role: 'server',
    rpc_addr: '10.0.0.1:8300',
  });
  t.is(b.member('a')!.incarnation, 2);
});

test('tags are bounded', (t) => {
  const a = mkCore('a');
  const err = t.throws(
    () => a.setTags({ big: 'x'.repeat(250), big2: 'y'.repeat(250), big3: 'z'.repeat(20) }, 1),
    {
      instanceOf: GossipError,
    },
  );
  t.is(err.code, ErrorCode.MetaTooLarge);
  t.throws(() => mkCore('b', { tags: { k: 'v'.repeat(300) } }), { instanceOf: GossipError });
});

test('push-pull merge: alive/suspect/dead/left precedence (memberlist mergeState)', (t) => {
  const a = withPeers('a', ['b', 'c', 'd', 'e'], noProbe);
  const remote: PushNodeState[] = [
    { name: 'b', addr: 'b', tags: { v: '2' }, incarnation: 3, state: NodeState.Alive, vsn: VSN },
    { name: 'c', addr: 'c', tags: {}, incarnation: 1, state: NodeState.Suspect, vsn: VSN },
    // A remote "dead" about a member we believe alive is verified first (a check probe),
    // neither a death nor (yet) a suspicion: see verification.test.ts.
    { name: 'd', addr: 'd', tags: {}, incarnation: 1, state: NodeState.Dead, vsn: VSN },
    { name: 'e', addr: 'e', tags: {}, incarnation: 1, state: NodeState.Left, vsn: VSN },
    // Unknown and dead: ignored. Unknown and alive: join.
    { name: 'f', addr: 'f', tags: {}, incarnation: 1, state: NodeState.Dead, vsn: VSN },
    { name: 'g', addr: 'g', tags: {}, incarnation: 1, state: NodeState.Alive, vsn: VSN },
  ];
  const res = a.handleStream(
    'x',
    encodeMessage({
      type: MessageType.PushPull,
      join: false,
      nodes: remote,
      eventLTime: 0,
      events: [],
    }),
    100,
  );
  t.deepEqual(memberEvents(res.outputs), ['update b', 'leave e', 'join g']);
  t.deepEqual(
    a.members().map((m) => `${m.name}:${m.status}:${m.incarnation}`),
    ['a:alive:1', 'b:alive:3', 'c:suspect:1', 'd:alive:1', 'e:left:1', 'g:alive:1'],
  );
  const check = res.outputs.find(
    (o) => o.type === 'udp' && o.to === 'd' && o.messages[0]?.type === MessageType.Suspect,
  );
  t.truthy(check, 'd is probed, and told of the accusation');
  // The reply is our state *before* the merge.
  const reply = decodeStream(res.reply!);
  t.is(reply.type, MessageType.PushPull);
  if (reply.type === MessageType.PushPull) {
    t.deepEqual(reply.nodes.map((n) => n.name).sort(), ['a', 'b', 'c', 'd', 'e']);
  }
  t.true(res.outputs.some((o) => o.type === 'push-pull-merged'));
});

test('push-pull tells a restarted member about its old life: it refutes', (t) => {
  const a = mkCore('a', noProbe);
  const remote: PushNodeState[] = [
    { name: 'a', addr: 'a', tags: {}, incarnation: 7, state: NodeState.Dead, vsn: VSN },
  ];
  const outs = a.join(['seed'], 0);
  const req = outs.find((o) => o.type === 'push-pull');
  t.truthy(req);
  a.handlePushPullReply(
    'seed',
    encodeMessage({
      type: MessageType.PushPull,
      join: true,
      nodes: remote,
      eventLTime: 0,
      events: [],
    }),
    1,
  );
  t.is(a.localMember().incarnation, 8);
  t.is(a.localMember().status, 'alive');
});

test('garbage input is dropped with a typed error, never thrown', (t) => {
  const a = mkCore('a');
  const outs = a.handlePacket('x', new Uint8Array([1, 2, 3]), 1);
  const d = outs.find((o): o is Extract<Output, { type: 'dropped' }> => o.type === 'dropped');
  t.truthy(d);
  t.true(d!.error instanceof GossipError);
  const s = a.handleStream('x', new Uint8Array([255]), 2);
  t.is(s.reply, undefined);
  t.is(s.outputs[0]?.type, 'dropped');
  t.is(a.handlePushPullReply('x', new Uint8Array(0), 3)[0]?.type, 'dropped');
});

test('periodic push-pull to one random alive member, interval scaled with N', (t) => {
  const small = withPeers('a', ['b', 'c'], { probeInterval: 1e9, gossipInterval: 1e9 });
  const pushes = (core: typeof small, until: number): number[] =>
    tickTo(core, until)
      .filter((o) => o.type === 'push-pull')
      .map((o) => (o.type === 'push-pull' ? o.deadline - core.config.tcpTimeout : 0));
  const times = pushes(small, 100_000);
  t.true(times.length >= 3);
  for (let i = 1; i < times.length; i++) t.is(times[i]! - times[i - 1]!, 30_000);
  // 40 members (> 32): memberlist's pushPullScale doubles the interval.
  const peers = Array.from({ length: 39 }, (_, i) => `p${i}`);
  const big = withPeers('a', peers, { probeInterval: 1e9, gossipInterval: 1e9 });
  const bigTimes = pushes(big, 200_000);
  for (let i = 1; i < bigTimes.length; i++) t.is(bigTimes[i]! - bigTimes[i - 1]!, 60_000);
});

test('an indirect-ping flood is bounded', (t) => {
  const a = withPeers('a', ['b'], noProbe);
  let dropped = 0;
  for (let i = 0; i < 1100; i++) {
    const outs = a.handlePacket(
      'b',
      pkt({
        type: MessageType.IndirectPing,
        seq: i,
        target: 'c',
        targetAddr: 'c',
        nack: true,
        sourceAddr: 'b',
        sourceNode: 'b',
      }),
      1,
    );
    dropped += outs.filter((o) => o.type === 'dropped').length;
  }
  t.is(dropped, 1100 - 1024);
});

test('join: one push-pull per seed; a merged reply reports reply = join = true', (t) => {
  const a = mkCore('a', noProbe);
  const outs = a.join(['s1', 's2'], 0);
  const reqs = outs.filter((o) => o.type === 'push-pull');
  t.deepEqual(
    reqs.map((o) => (o.type === 'push-pull' ? [o.to, o.join, o.deadline] : [])),
    [
      ['s1', true, 10_000],
      ['s2', true, 10_000],
    ],
  );
  const seed = withPeers('s1', ['x'], noProbe);
  const req = reqs[0]!.type === 'push-pull' ? reqs[0]!.request : new Uint8Array(0);
  const served = seed.handleStream('a', req, 1);
  t.deepEqual(memberEvents(served.outputs), ['join a']);
  t.true(served.outputs.some((o) => o.type === 'push-pull-merged' && !o.reply && o.join));
  const merged = a.handlePushPullReply('s1', served.reply!, 2);
  t.deepEqual(memberEvents(merged).sort(), ['join s1', 'join x']);
  t.true(merged.some((o) => o.type === 'push-pull-merged' && o.reply && o.join && o.nodes === 2));
});
