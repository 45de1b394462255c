import test from 'ava';
import {
  ErrorCode,
  GossipError,
  LamportClock,
  MessageType,
  UserEvents,
  encodeMessage,
  type Output,
} from '../src/index.js';
import { mkCore, pkt, sent, tickTo, withPeers } from './helpers.js';

type Ev = Extract<Output, { type: 'user-event' }>;
const evs = (outs: Output[]): string[] =>
  outs
    .filter((o): o is Ev => o.type === 'user-event')
    .map((e) => `${e.ltime}:${e.name}:${new TextDecoder().decode(e.payload)}`);
const te = (s: string): Uint8Array => new TextEncoder().encode(s);
const noProbe = { gossipInterval: 1e9, pushPullInterval: 0, probeInterval: 1e9 };

test('Lamport clock: witness moves it past what was seen', (t) => {
  const c = new LamportClock();
  t.is(c.time(), 0);
  t.is(c.increment(), 1);
  c.witness(10);
  t.is(c.time(), 11);
  c.witness(3);
  t.is(c.time(), 11);
});

test('local events are Lamport-ordered, and follow what we have seen', (t) => {
  const a = mkCore('a', noProbe);
  t.deepEqual(evs(a.userEvent('deploy', te('v1'), 1)), ['0:deploy:v1']);
  t.deepEqual(evs(a.userEvent('deploy', te('v2'), 2)), ['1:deploy:v2']);
  const remote = pkt({
    type: MessageType.UserEvent,
    ltime: 41,
    name: 'restart',
    payload: te('web'),
  });
  t.deepEqual(evs(a.handlePacket('b', remote, 3)), ['41:restart:web']);
  t.deepEqual(evs(a.userEvent('deploy', te('v3'), 4)), ['42:deploy:v3'], 'after the witnessed 41');
  t.is(a.eventTime(), 43);
});

test('dedup by (ltime, name, payload); rebroadcast only new events', (t) => {
  const a = withPeers('a', ['b'], noProbe);
  const msg = (ltime: number, name: string, payload: string): Uint8Array =>
    pkt({ type: MessageType.UserEvent, ltime, name, payload: te(payload) });
  const before = a.pendingBroadcasts();
  t.deepEqual(evs(a.handlePacket('b', msg(5, 'e', 'x'), 1)), ['5:e:x']);
  t.is(a.pendingBroadcasts(), before + 1);
  t.deepEqual(evs(a.handlePacket('b', msg(5, 'e', 'x'), 2)), [], 'duplicate');
  t.is(a.pendingBroadcasts(), before + 1);
  t.deepEqual(evs(a.handlePacket('b', msg(5, 'e', 'y'), 3)), ['5:e:y'], 'same time, other payload');
  t.deepEqual(evs(a.handlePacket('b', msg(5, 'f', 'x'), 4)), ['5:f:x'], 'same time, other name');
});

test('events older than the buffer window are dropped', (t) => {
  const u = new UserEvents(4);
  t.true(u.handle({ ltime: 100, name: 'n', payload: te('') }));
  t.false(u.handle({ ltime: 90, name: 'n', payload: te('') }), 'older than 101 − 4');
  t.true(u.handle({ ltime: 98, name: 'n', payload: te('') }));
  // A slot reused by a newer time forgets the older event.
  t.true(u.handle({ ltime: 102, name: 'n', payload: te('') }));
  t.deepEqual(
    u.recent().map((e) => e.ltime),
    [100, 102],
  );
});

test('user events ride the broadcast queue to peers', (t) => {
  const a = withPeers('a', ['b'], { pushPullInterval: 0, probeInterval: 1e9 });
  a.userEvent('deploy', te('v1'), 1);
  const out = sent(tickTo(a, 1_000), MessageType.UserEvent);
  t.true(out.length > 0);
  t.is(out[0]!.to, 'b');
  t.is(out[0]!.msg.name, 'deploy');
});

test('size limits', (t) => {
  const a = mkCore('a');
  const err = t.throws(() => a.userEvent('big', new Uint8Array(600), 1), {
    instanceOf: GossipError,
  });
  t.is(err.code, ErrorCode.EventTooLarge);
  t.throws(() => a.userEvent('', new Uint8Array(0), 1), { instanceOf: GossipError });
  t.is(a.eventTime(), 0, 'a rejected event does not advance the clock');
});

test('push-pull carries recent events; a join may ignore old ones', (t) => {
  const a = withPeers('a', ['b'], noProbe);
  a.userEvent('one', te('1'), 1);
  a.userEvent('two', te('2'), 2);
  const state = a.localState();
  // A node joining normally replays them…
  const c = mkCore('c', noProbe);
  c.join(['a'], 3);
  t.deepEqual(evs(c.handlePushPullReply('a', state, 4)), ['0:one:1', '1:two:2']);
  t.is(c.eventTime(), 2);
  // …one joining with ignoreOldEvents does not, but its clock catches up.
  const d = mkCore('d', noProbe);
  d.join(['a'], 3, { ignoreOldEvents: true });
  const reply = encodeMessage({
    type: MessageType.PushPull,
    join: true,
    nodes: [],
    eventLTime: 2,
    events: [
      { ltime: 0, name: 'one', payload: te('1') },
      { ltime: 1, name: 'two', payload: te('2') },
    ],
  });
  t.deepEqual(evs(d.handlePushPullReply('a', reply, 4)), []);
  t.deepEqual(evs(d.userEvent('three', te('3'), 5)), ['2:three:3']);
});
