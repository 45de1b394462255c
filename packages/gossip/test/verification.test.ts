/**
 * Verification beyond memberlist (see the Check comment in src/core.ts): a push-pull
 * "dead" about a member we believe alive is probed before it becomes even a suspicion.
 * The final check of a suspicion and the stale-news replies are scripted in
 * testdata/verification.txt.
 */
import test from 'ava';
import {
  MessageType,
  NodeState,
  encodeMessage,
  type GossipCore,
  type Output,
  type PushNodeState,
} from '../src/index.js';
import { VSN, pkt, sent, tickAcking, udps, withPeers } from './helpers.js';

const PEERS = ['b', 'c', 'd', 'e', 'f'];
const quiet = { gossipInterval: 1e9, pushPullInterval: 0 };

/** A push-pull from x saying `node` is dead at `incarnation`. */
function remoteDead(a: GossipCore, node: string, incarnation: number, now: number): Output[] {
  const nodes: PushNodeState[] = [
    { name: node, addr: node, tags: {}, incarnation, state: NodeState.Dead, vsn: VSN },
  ];
  const req = encodeMessage({
    type: MessageType.PushPull,
    join: false,
    nodes,
    eventLTime: 0,
    events: [],
  });
  return a.handleStream('x', req, now).outputs;
}

/** The check packet to `to` (the accusation, then a ping), if any. */
function checkTo(outs: readonly Output[], to: string) {
  return udps(outs).find((u) => u.to === to && u.messages[0]?.type === MessageType.Suspect);
}

test('push-pull "dead" about an alive member: probed first, suspected only if it fails', (t) => {
  const a = withPeers('a', PEERS, quiet);
  tickAcking(a, 100);
  const dNews = () =>
    a
      .queueSnapshot()
      .filter((q) => q.name === 'd')
      .map((q) => q.size);
  const before = dNews();
  const outs = remoteDead(a, 'd', 1, 100);
  t.is(a.member('d')!.status, 'alive', 'not taken on trust');
  t.deepEqual(dNews(), before, 'no suspicion gossiped');
  const check = checkTo(outs, 'd');
  t.truthy(check, 'd is told of the accusation and pinged');
  t.like(check!.messages[0], { type: MessageType.Suspect, node: 'd', incarnation: 1, from: 'a' });
  t.is(check!.messages[1]?.type, MessageType.Ping);
  // A second push-pull saying the same while the check runs starts no second check.
  t.is(checkTo(remoteDead(a, 'd', 1, 150), 'd'), undefined);
  // d never answers (everyone else does): after the probe timeout, indirect pings; after
  // one probe interval, d is suspected (by us, gossiped) — not declared dead.
  const later = tickAcking(a, 1_100, ['d']);
  t.true(sent(later, MessageType.IndirectPing).some((p) => p.msg.target === 'd'));
  t.is(a.member('d')!.status, 'suspect');
  t.truthy(a.suspicionOf('d'));
  t.notDeepEqual(dNews(), before, 'the suspicion is gossiped');
});

test('push-pull "dead" about an alive member that answers: nothing happens', (t) => {
  const a = withPeers('a', PEERS, quiet);
  tickAcking(a, 100);
  const check = checkTo(remoteDead(a, 'd', 1, 100), 'd');
  const ping = check!.messages[1]!;
  if (ping.type !== MessageType.Ping) return t.fail('no ping');
  a.handlePacket(
    'd',
    pkt({ type: MessageType.Ack, seq: ping.seq, payload: new Uint8Array(0) }),
    120,
  );
  tickAcking(a, 30_000);
  t.is(a.member('d')!.status, 'alive');
  t.is(a.suspicionOf('d'), undefined);
});

test('push-pull "dead" at an older incarnation, or about a suspect: the usual rules', (t) => {
  const a = withPeers('a', PEERS, quiet);
  a.handlePacket(
    'd',
    pkt({ type: MessageType.Alive, incarnation: 3, node: 'd', addr: 'd', tags: {}, vsn: VSN }),
    0,
  );
  // Older than ours: ignored (the push-pull peer gets our state in the reply).
  t.is(checkTo(remoteDead(a, 'd', 2, 10), 'd'), undefined);
  t.is(a.member('d')!.status, 'alive');
  // Already suspect: a confirmation, as memberlist (the final check guards the expiry).
  a.handlePacket('c', pkt({ type: MessageType.Suspect, incarnation: 1, node: 'e', from: 'c' }), 20);
  t.is(checkTo(remoteDead(a, 'e', 1, 30), 'e'), undefined);
  t.is(a.member('e')!.status, 'suspect');
});

// A member stalled (SIGSTOP) while its final check ran must not wake up, find the check's
// deadline past and declare the member dead before it reads the answers waiting in its own
// input: that death would be at the member's current incarnation, accepted by everyone.
test('a final check found overdue after a stall starts over instead of failing', (t) => {
  const a = withPeers('a', PEERS, quiet);
  for (const from of ['c', 'e', 'f']) {
    a.handlePacket(from, pkt({ type: MessageType.Suspect, incarnation: 1, node: 'd', from }), 100);
  }
  const deadline = a.suspicionOf('d')!.deadline;
  // Run until the final check is out (every regular probe answered), then stall 10 s.
  let check: ReturnType<typeof checkTo>;
  while (check === undefined) {
    const at = a.nextDeadline()!;
    const outs = a.tick(at);
    check = checkTo(outs, 'd');
    for (const p of sent(outs, MessageType.Ping)) {
      if (check === undefined || p.to !== 'd') {
        a.handlePacket(
          p.to,
          pkt({ type: MessageType.Ack, seq: p.msg.seq, payload: new Uint8Array(0) }),
          at,
        );
      }
    }
  }
  const ping = check.messages[1]!;
  if (ping.type !== MessageType.Ping) return t.fail('no ping');
  const late = a.tick(deadline + 10_000);
  t.is(a.member('d')!.status, 'suspect', 'not declared dead on waking up');
  const again = checkTo(late, 'd');
  t.truthy(again, 'the check is sent again');
  t.like(again!.messages[1], { type: MessageType.Ping, seq: ping.seq });
  // The answer that was waiting in our input arrives: the suspicion ends.
  a.handlePacket(
    'd',
    pkt({ type: MessageType.Ack, seq: ping.seq, payload: new Uint8Array(0) }),
    deadline + 10_000,
  );
  t.is(a.member('d')!.status, 'alive');
  t.is(a.suspicionOf('d'), undefined);
});
