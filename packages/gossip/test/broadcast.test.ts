import test from 'ava';
import {
  BroadcastQueue,
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  MessageType,
  decodePacket,
  encodeMessage,
  packetSize,
} from '../src/index.js';
import { alive, mkCore, pkt, sent, tickUntil, udps, withPeers } from './helpers.js';

const bytes = (n: number, fill = 0): Uint8Array => new Uint8Array(n).fill(fill);

test('each broadcast is sent retransmitLimit times, then leaves the queue', (t) => {
  let finished = 0;
  const q = new BroadcastQueue(4, () => 10); // limit 4 × ceil(log10 11) = 8
  t.is(q.transmitLimit(), 8);
  q.queue({ name: 'a', msg: bytes(10), finished: () => finished++ });
  for (let i = 0; i < 8; i++) t.is(q.getBroadcasts(2, 1400).length, 1, `round ${i}`);
  t.is(q.length, 0);
  t.is(finished, 1);
  t.deepEqual(q.getBroadcasts(2, 1400), []);
});

test('least-sent first, then larger first, then newer first', (t) => {
  const q = new BroadcastQueue(1, () => 1000); // limit 4
  q.queue({ name: 'old', msg: bytes(10, 1) });
  t.is(q.getBroadcasts(2, 14).length, 1); // 'old' now has 1 transmit
  q.queue({ name: 'small', msg: bytes(5, 2) });
  q.queue({ name: 'big', msg: bytes(20, 3) });
  q.queue({ name: 'small2', msg: bytes(5, 4) });
  t.deepEqual(
    q.snapshot().map((s) => s.name),
    ['big', 'small2', 'small', 'old'],
  );
  // Budget for exactly one 20-byte message plus one 5-byte message.
  const got = q.getBroadcasts(2, 22 + 7);
  t.deepEqual(
    got.map((b) => b[0]),
    [3, 4],
  );
  t.deepEqual(
    q.snapshot().map((s) => `${s.name}:${s.transmits}`),
    ['small:0', 'big:1', 'old:1', 'small2:1'],
  );
});

test('skips what does not fit and keeps packing smaller ones', (t) => {
  const q = new BroadcastQueue(4, () => 10);
  q.queue({ msg: bytes(100, 1) });
  q.queue({ msg: bytes(30, 2) });
  q.queue({ msg: bytes(10, 3) });
  const got = q.getBroadcasts(2, 50);
  t.deepEqual(
    got.map((b) => b.length),
    [30, 10],
  );
});

test('a named broadcast invalidates older news about the same member', (t) => {
  const done: string[] = [];
  const q = new BroadcastQueue(4, () => 10);
  q.queue({ name: 'x', msg: bytes(10, 1), finished: () => done.push('x1') });
  q.queue({ name: 'y', msg: bytes(10, 2) });
  q.queue({ name: 'x', msg: bytes(10, 3) });
  q.queue({ msg: bytes(10, 4) }); // unnamed (user event): never invalidates
  q.queue({ msg: bytes(10, 5) });
  t.deepEqual(done, ['x1']);
  t.is(q.length, 4);
});

test('queue depth is bounded, dropping the most transmitted', (t) => {
  const q = new BroadcastQueue(4, () => 10, 3);
  q.queue({ name: 'a', msg: bytes(10) });
  q.getBroadcasts(2, 1400); // a: 1 transmit
  q.queue({ name: 'b', msg: bytes(10) });
  q.queue({ name: 'c', msg: bytes(10) });
  q.queue({ name: 'd', msg: bytes(10) });
  t.deepEqual(
    q
      .snapshot()
      .map((s) => s.name)
      .sort(),
    ['b', 'c', 'd'],
  );
});

test('at most maxCount broadcasts per call', (t) => {
  const q = new BroadcastQueue(4, () => 10);
  for (let i = 0; i < 10; i++) q.queue({ msg: bytes(3, i) });
  t.is(q.getBroadcasts(2, 1400, 4).length, 4);
});

test('gossip packs broadcasts into compound packets under 1,400 bytes', (t) => {
  // 40 members known: 40 alive broadcasts of ~20–30 bytes each, with 200-byte tags some.
  const names = Array.from({ length: 40 }, (_, i) => `member-${String(i).padStart(2, '0')}`);
  const core = mkCore('self');
  for (const n of names) core.handlePacket(n, pkt(alive(n, 1, { role: 'x'.repeat(200) })), 0);
  const { outs } = tickUntil(core, (o) => udps(o).length > 0);
  for (const u of udps(outs)) {
    t.true(u.packet.length <= 1400, `packet of ${u.packet.length} bytes`);
    t.is(u.packet[0], MessageType.Compound);
    t.true(u.messages.length > 1);
    // A full packet: the next broadcast would not have fitted.
    t.is(decodePacket(u.packet).length, u.messages.length);
    t.true(
      u.packet.length > 1400 - (encodeMessage(u.messages[0]!).length + COMPOUND_PART_OVERHEAD),
    );
    t.is(packetSize(u.messages.map((m) => encodeMessage(m))), u.packet.length);
  }
  t.is(COMPOUND_HEADER_OVERHEAD, 2);
});

test('probes piggyback broadcasts within the budget, reserving outer-layer bytes', (t) => {
  const core = withPeers('a', ['b', 'c'], { reservedPacketBytes: 29, gossipInterval: 1e9 });
  const { outs } = tickUntil(core, (o) => sent(o, MessageType.Ping).length > 0);
  const u = udps(outs).find((p) => p.messages.some((m) => m.type === MessageType.Ping))!;
  t.is(u.messages[0]!.type, MessageType.Ping, 'the ping comes first');
  t.true(
    u.messages.slice(1).some((m) => m.type === MessageType.Alive),
    'alive news piggybacked',
  );
  t.true(u.packet.length <= 1400 - 29);
});
