import test, { type ExecutionContext } from 'ava';
import { Prng } from '@trellis/testkit';
import {
  ErrorCode,
  GossipError,
  MAX_EVENT_PAYLOAD,
  MAX_META_BYTES,
  MAX_PACKET_BYTES,
  MessageType,
  NodeState,
  decodeMessage,
  decodePacket,
  decodeStream,
  encodeCompound,
  encodeMessage,
  type Message,
} from '../src/index.js';
import { VSN } from './helpers.js';

const samples: Message[] = [
  {
    type: MessageType.Ping,
    seq: 0xffff_ffff,
    target: 'node-ü',
    sourceAddr: '10.0.0.1:8301',
    sourceNode: 'a',
  },
  { type: MessageType.Ping, seq: 1, target: '', sourceAddr: '', sourceNode: '' },
  {
    type: MessageType.IndirectPing,
    seq: 7,
    target: 'b',
    targetAddr: '10.0.0.2:8301',
    nack: true,
    sourceAddr: '10.0.0.1:8301',
    sourceNode: 'a',
  },
  { type: MessageType.Ack, seq: 3, payload: new Uint8Array([1, 2, 3]) },
  { type: MessageType.Nack, seq: 4 },
  { type: MessageType.Suspect, incarnation: 9, node: 'b', from: 'a' },
  {
    type: MessageType.Alive,
    incarnation: 2,
    node: 'b',
    addr: '10.0.0.2:8301',
    tags: { role: 'server', dc: 'dc1', build: '0.1.0', rpc_addr: '10.0.0.2:8300' },
    vsn: VSN,
  },
  { type: MessageType.Dead, incarnation: 5, node: 'c', from: 'c' },
  {
    type: MessageType.PushPull,
    join: true,
    nodes: [
      { name: 'a', addr: 'x:1', tags: {}, incarnation: 1, state: NodeState.Alive, vsn: VSN },
      {
        name: 'b',
        addr: 'x:2',
        tags: { role: 'client' },
        incarnation: 4,
        state: NodeState.Left,
        vsn: VSN,
      },
    ],
    eventLTime: 2 ** 40,
    events: [{ ltime: 3, name: 'deploy', payload: new Uint8Array([9]) }],
  },
  {
    type: MessageType.UserEvent,
    ltime: Number.MAX_SAFE_INTEGER,
    name: 'deploy',
    payload: new Uint8Array(0),
  },
];

test('every message type round-trips', (t) => {
  for (const m of samples) {
    const b = encodeMessage(m);
    t.deepEqual(
      decodeMessage(b, { maxBytes: 1 << 20 }),
      m,
      MessageType[m.type as never] ?? String(m.type),
    );
  }
});

test('compound packets round-trip; a single message is sent bare', (t) => {
  const parts = samples.filter((m) => m.type !== MessageType.PushPull).map((m) => encodeMessage(m));
  const packet = encodeCompound(parts);
  t.is(packet[0], MessageType.Compound);
  t.is(packet[1], parts.length);
  t.deepEqual(
    decodePacket(packet),
    samples.filter((m) => m.type !== MessageType.PushPull),
  );
  t.is(encodeCompound([parts[0]!]), parts[0]!);
});

test('tags encode canonically (sorted keys)', (t) => {
  const a = encodeMessage({
    type: MessageType.Alive,
    incarnation: 1,
    node: 'n',
    addr: '',
    tags: { b: '2', a: '1' },
    vsn: VSN,
  });
  const b = encodeMessage({
    type: MessageType.Alive,
    incarnation: 1,
    node: 'n',
    addr: '',
    tags: { a: '1', b: '2' },
    vsn: VSN,
  });
  t.deepEqual(a, b);
});

function expectCode(t: ExecutionContext, f: () => unknown, codes: string[]): GossipError {
  try {
    f();
  } catch (e) {
    t.true(e instanceof GossipError, `threw ${String(e)}`);
    const g = e as GossipError;
    t.true(codes.includes(g.code), `code ${g.code} not in ${codes.join(',')}`);
    return g;
  }
  t.fail('did not throw');
  throw new Error('unreachable');
}

test('truncation at every byte is a typed error', (t) => {
  const all = [...samples, { type: MessageType.Compound, parts: samples.slice(0, 4) } as Message];
  for (const m of all) {
    const b = encodeMessage(m);
    for (let i = 0; i < b.length; i++) {
      expectCode(t, () => decodeMessage(b.subarray(0, i), { maxBytes: 1 << 20 }), [
        ErrorCode.Truncated,
        ErrorCode.Malformed,
      ]);
    }
  }
});

test('trailing bytes are rejected', (t) => {
  for (const m of samples) {
    const b = encodeMessage(m);
    const longer = new Uint8Array(b.length + 1);
    longer.set(b);
    expectCode(t, () => decodeMessage(longer, { maxBytes: 1 << 20 }), [ErrorCode.Malformed]);
  }
});

test('random bytes never throw anything but a GossipError', (t) => {
  const prng = new Prng(20261123);
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    const len = prng.int(64);
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = prng.int(256);
    // Bias the first byte toward known types so the bodies get exercised.
    if (len > 0 && prng.chance(0.8)) b[0] = prng.int(11);
    try {
      decodePacket(b);
      decodeStream(b);
      accepted++;
    } catch (e) {
      if (!(e instanceof GossipError)) t.fail(`non-GossipError: ${String(e)}`);
    }
  }
  t.log(`${accepted} random inputs decoded`);
  t.pass();
});

test('mutated valid messages never throw anything but a GossipError', (t) => {
  const prng = new Prng(7);
  for (const m of samples) {
    const orig = encodeMessage(m);
    for (let i = 0; i < 2_000; i++) {
      const b = orig.slice();
      const flips = 1 + prng.int(3);
      for (let f = 0; f < flips; f++) b[prng.int(b.length)] = prng.int(256);
      try {
        decodeMessage(b, { maxBytes: 1 << 20 });
      } catch (e) {
        if (!(e instanceof GossipError)) t.fail(`non-GossipError: ${String(e)}`);
      }
    }
  }
  t.pass();
});

test('oversized inputs, lengths and counts', (t) => {
  expectCode(t, () => decodePacket(new Uint8Array(MAX_PACKET_BYTES + 1)), [ErrorCode.Oversized]);
  // A push-pull claiming 2^32 − 1 members in a 20-byte message: rejected before allocating.
  const pp = new Uint8Array([
    MessageType.PushPull,
    0,
    0xff,
    0xff,
    0xff,
    0xff,
    ...new Array<number>(14).fill(0),
  ]);
  expectCode(t, () => decodeStream(pp), [ErrorCode.Truncated]);
  // Tag block longer than MetaMaxSize.
  const big = new Uint8Array(1 + 4 + 2 + 1 + 2 + MAX_META_BYTES + 1 + 3);
  big.set([MessageType.Alive, 0, 0, 0, 1, 1, 0x6e, 0]);
  big[8] = ((MAX_META_BYTES + 1) >> 8) & 0xff;
  big[9] = (MAX_META_BYTES + 1) & 0xff;
  expectCode(t, () => decodePacket(big), [ErrorCode.Oversized]);
  // User event payload length above the hard limit.
  const ev = new Uint8Array([MessageType.UserEvent, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x65, 0xff, 0xff]);
  expectCode(t, () => decodePacket(ev), [ErrorCode.Oversized]);
  t.true(MAX_EVENT_PAYLOAD < 0xffff);
  // Lamport time above 2^53.
  const lt = new Uint8Array([MessageType.UserEvent, 0xff, 0, 0, 0, 0, 0, 0, 1, 1, 0x65, 0, 0]);
  expectCode(t, () => decodePacket(lt), [ErrorCode.Oversized]);
  // Encoding refuses too: a 300-byte name.
  expectCode(
    t,
    () =>
      encodeMessage({
        type: MessageType.Suspect,
        incarnation: 1,
        node: 'x'.repeat(300),
        from: 'a',
      }),
    [ErrorCode.Oversized],
  );
});

test('structural garbage is malformed or unknown', (t) => {
  expectCode(t, () => decodePacket(new Uint8Array([200])), [ErrorCode.UnknownType]);
  expectCode(t, () => decodePacket(new Uint8Array([])), [ErrorCode.Truncated]);
  // Nested compound.
  const inner = encodeCompound([encodeMessage(samples[4]!), encodeMessage(samples[4]!)]);
  const outer = new Uint8Array([MessageType.Compound, 1, 0, inner.length, ...inner]);
  expectCode(t, () => decodePacket(outer), [ErrorCode.Malformed]);
  // Empty compound.
  expectCode(t, () => decodePacket(new Uint8Array([MessageType.Compound, 0])), [
    ErrorCode.Malformed,
  ]);
  // Bad bool.
  const ip = encodeMessage(samples[2]!);
  const nackAt = 1 + 4 + 2 + 'b'.length + '10.0.0.2:8301'.length;
  const badBool = ip.slice();
  badBool[nackAt] = 2;
  expectCode(t, () => decodePacket(badBool), [ErrorCode.Malformed]);
  // Invalid UTF-8 in a name.
  const bad = new Uint8Array([MessageType.Suspect, 0, 0, 0, 1, 1, 0xff, 1, 0x61]);
  expectCode(t, () => decodePacket(bad), [ErrorCode.Malformed]);
  // Empty node name.
  const empty = new Uint8Array([MessageType.Dead, 0, 0, 0, 1, 0, 1, 0x61]);
  expectCode(t, () => decodePacket(empty), [ErrorCode.Malformed]);
  // Push-pull on a UDP packet is decodable but a stream compound is not.
  expectCode(
    t,
    () => decodeStream(encodeCompound([encodeMessage(samples[4]!), encodeMessage(samples[4]!)])),
    [ErrorCode.Malformed],
  );
  // Bad node state in push-pull.
  const pp = encodeMessage({
    type: MessageType.PushPull,
    join: false,
    nodes: [{ name: 'a', addr: '', tags: {}, incarnation: 1, state: NodeState.Alive, vsn: VSN }],
    eventLTime: 0,
    events: [],
  });
  const stateAt = 1 + 1 + 4 + 2 + 1 + 2 + 4;
  const badState = pp.slice();
  badState[stateAt] = 9;
  const err = expectCode(t, () => decodeStream(badState), [ErrorCode.Malformed]);
  t.is(err.offset, stateAt);
});
