// Hostile input against a running agent on real sockets: garbage, truncated, replayed,
// wrongly keyed and oversized UDP packets, and bad TCP frames. Every one is dropped and
// counted by reason; the member table does not change; the agent keeps working.
import test from 'ava';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Prng } from '@trellis/testkit';
import {
  MessageType,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  encodeCompound,
  encodeMessage,
  generateKey,
  parseAddr,
  parseKey,
  sealEnvelope,
  type DropReason,
  type GossipAgent,
  type Message,
} from '../src/index.js';
import { CALM, allSee, startAgent, waitFor } from './net-helpers.js';

const VSN = { min: PROTOCOL_VERSION_MIN, max: PROTOCOL_VERSION_MAX, cur: PROTOCOL_VERSION_MAX };

/** The parts of the member table that gossip input could change. */
function table(a: GossipAgent): string {
  return JSON.stringify(a.members().map((m) => [m.name, m.addr, m.status, m.incarnation, m.tags]));
}

/** A forged packet: "evil" joins, "b" is declared dead and re-announced at a high incarnation. */
function forgedPacket(bAddr: string): Uint8Array {
  const msgs: Message[] = [
    {
      type: MessageType.Alive,
      incarnation: 1,
      node: 'evil',
      addr: '127.0.0.1:9',
      tags: {},
      vsn: VSN,
    },
    { type: MessageType.Dead, incarnation: 50, node: 'b', from: 'evil' },
    {
      type: MessageType.Alive,
      incarnation: 99,
      node: 'b',
      addr: bAddr,
      tags: { x: 'y' },
      vsn: VSN,
    },
  ];
  return encodeCompound(msgs.map((m) => encodeMessage(m)));
}

async function sendUdp(to: string, packets: readonly Uint8Array[]): Promise<void> {
  const { host, port } = parseAddr(to);
  const s = createSocket('udp4');
  try {
    for (const p of packets) {
      await new Promise<void>((resolve, reject) =>
        s.send(p, port, host, (err) => (err ? reject(err) : resolve())),
      );
    }
  } finally {
    s.close();
  }
}

/** Opens a TCP connection, writes `bytes`, optionally ends, and waits (bounded) for close. */
function sendTcp(to: string, bytes: Uint8Array, end = true): Promise<Buffer> {
  const { host, port } = parseAddr(to);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host, port }, () => {
      sock.write(bytes);
      if (end) sock.end();
    });
    const timer = setTimeout(() => sock.destroy(), 5_000);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

const frame = (payload: Uint8Array, len = payload.length): Uint8Array => {
  const b = Buffer.alloc(4 + payload.length);
  b.writeUInt32BE(len >>> 0, 0);
  b.set(payload, 4);
  return b;
};

test('encrypted agent: hostile UDP and TCP input is dropped, counted, and changes nothing', async (t) => {
  const key = generateKey();
  const prng = new Prng(20261123);
  const captured: { kind: 'udp' | 'tcp'; wire: Uint8Array }[] = [];
  let aAddr = '';
  const a = await startAgent('a', {
    keys: [key],
    config: CALM,
    transport: { maxPacketBytes: 2_048 },
  });
  aAddr = a.addr;
  // b records what it sends to a (a wiretap): real packets and frames to replay later.
  const b = await startAgent('b', {
    keys: [key],
    config: CALM,
    transport: {
      outboundFilter: (kind, to, wire) => {
        if (to === aAddr) captured.push({ kind, wire: wire.slice() });
        return true;
      },
    },
  });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.is(await b.join([a.addr]), 1);
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');
  await waitFor(() => captured.filter((c) => c.kind === 'udp').length >= 5, 5_000, 'capture');

  const before = table(a);
  const drops0 = a.stats().dropped;
  const udp = captured.filter((c) => c.kind === 'udp').map((c) => c.wire);
  const tcpRequest = captured.find((c) => c.kind === 'tcp')!.wire;
  const random = (n: number, first?: number): Uint8Array => {
    const r = new Uint8Array(n);
    for (let i = 0; i < n; i++) r[i] = prng.int(256);
    if (first !== undefined) r[0] = first;
    return r;
  };
  const forged = forgedPacket(b.addr);
  const expected: Partial<Record<DropReason, number>> = {};
  const expect = (r: DropReason, n: number): void => void (expected[r] = (expected[r] ?? 0) + n);

  // UDP ------------------------------------------------------------------------------
  // Garbage: not our envelope version (and at least as long as an envelope).
  await sendUdp(
    a.addr,
    Array.from({ length: 20 }, () => random(29 + prng.int(300), 0x7f)),
  );
  expect('garbage', 20);
  // A well-formed core packet, unencrypted: refused by an encrypting agent.
  await sendUdp(a.addr, [forged]);
  expect('garbage', 1);
  // Truncated: shorter than the envelope.
  await sendUdp(
    a.addr,
    udp.slice(0, 5).map((p) => p.subarray(0, 10)),
  );
  expect('truncated', 5);
  // Cut inside the ciphertext: the tag no longer matches.
  await sendUdp(
    a.addr,
    udp.slice(0, 5).map((p) => p.subarray(0, p.length - 3)),
  );
  expect('decrypt', 5);
  // Wrongly keyed: the forged packet sealed with another key (AAD right).
  const wrong = parseKey(generateKey());
  await sendUdp(
    a.addr,
    Array.from({ length: 5 }, () => sealEnvelope(wrong, forged, new Uint8Array([1]))),
  );
  expect('decrypt', 5);
  // Right key, wrong channel (a TCP-request AAD on UDP): authentication fails.
  await sendUdp(a.addr, [sealEnvelope(parseKey(key), forged, new Uint8Array([2]))]);
  expect('decrypt', 1);
  // Replayed: real packets b sent to a, sent again verbatim.
  await sendUdp(a.addr, udp.slice(0, 5));
  expect('replay', 5);
  // Oversized: above a's 2,048-byte limit (never decrypted).
  await sendUdp(a.addr, [random(4_000, 1), random(60_000, 1)]);
  expect('oversized', 2);

  // TCP ------------------------------------------------------------------------------
  await sendTcp(a.addr, frame(random(50, 0x7f)));
  expect('garbage', 1);
  await sendTcp(a.addr, frame(random(50, 1)));
  expect('decrypt', 1);
  await sendTcp(a.addr, frame(new Uint8Array(0), 0xffff_ffff));
  expect('oversized', 1);
  await sendTcp(a.addr, frame(random(10), 100));
  expect('truncated', 1);
  await sendTcp(a.addr, frame(new Uint8Array(0)));
  expect('truncated', 1);
  await sendTcp(a.addr, Buffer.concat([frame(random(40, 1)), Buffer.from('trailing')]));
  expect('garbage', 1);
  // A connection that sends nothing is cut at the TCP timeout.
  await sendTcp(a.addr, new Uint8Array(0), false);
  expect('tcp-timeout', 1);
  // A replayed push-pull request (the join's frame): refused, no reply.
  const replyToReplay = await sendTcp(a.addr, tcpRequest);
  t.is(replyToReplay.length, 0);
  expect('replay', 1);

  const want = Object.entries(expected) as [DropReason, number][];
  const delta = (r: DropReason): number => a.stats().dropped[r] - drops0[r];
  // On timeout, fall through: the per-reason assertions below say which count is off.
  await waitFor(() => want.every(([r, n]) => delta(r) >= n), 5_000, 'all drops').catch(() => 0);
  for (const [r, n] of want) t.is(delta(r), n, `dropped as ${r}`);
  for (const r of ['malformed', 'version', 'unexpected', 'tcp-limit'] as const) t.is(delta(r), 0);
  t.is(table(a), before, 'member table unchanged');

  // Still working: probes keep flowing, a newcomer joins through a and sees everyone.
  const inNow = a.stats().packetsIn;
  await waitFor(() => a.stats().packetsIn > inNow + 5, 5_000, 'a keeps receiving');
  const c = await startAgent('c', { keys: [key] });
  t.teardown(() => c.close());
  t.is(await c.join([a.addr]), 1);
  await waitFor(() => allSee([a, b, c], ['a', 'b', 'c'], 'alive'), 5_000, 'c joined');
  t.is(a.member('b')?.incarnation, 1);
  t.is(a.member('evil'), undefined);
});

test('plaintext agent: garbage is dropped by the core; a forged-but-stale replay changes nothing', async (t) => {
  const prng = new Prng(7);
  const a = await startAgent('a', { config: CALM });
  const b = await startAgent('b', { config: CALM });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.is(await b.join([a.addr]), 1);
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');
  b.setTags({ v: '2' });
  await waitFor(() => a.member('b')?.tags['v'] === '2', 5_000, 'tags update');
  const before = table(a);
  const d0 = a.stats().dropped;
  const garbage = Array.from({ length: 30 }, () => {
    const r = new Uint8Array(1 + prng.int(200));
    for (let i = 0; i < r.length; i++) r[i] = prng.int(256);
    return r;
  });
  await sendUdp(a.addr, garbage);
  // Stale news about b (incarnation 1, old tags): accepted by the wire, ignored by SWIM.
  const stale = encodeCompound([
    encodeMessage({
      type: MessageType.Alive,
      incarnation: 1,
      node: 'b',
      addr: b.addr,
      tags: {},
      vsn: VSN,
    }),
    encodeMessage({ type: MessageType.Suspect, incarnation: 1, node: 'b', from: 'a' }),
  ]);
  await sendUdp(a.addr, [stale, stale, stale]);
  await sendUdp(a.addr, [new Uint8Array(5_000)]); // 5,000 zero bytes: not a valid packet
  const dropped = (): number =>
    Object.entries(a.stats().dropped).reduce((s, [r, n]) => s + n - d0[r as DropReason], 0);
  await waitFor(() => dropped() >= 31, 5_000, 'garbage counted');
  t.is(dropped(), 31);
  t.is(table(a), before);
  t.is(a.member('b')?.status, 'alive');
});

test('encrypted replays beyond the replay window are harmless (SWIM ordering)', async (t) => {
  const key = generateKey();
  const captured: Uint8Array[] = [];
  let aAddr = '';
  // replayWindow 0: no replay cache, every replay reaches the core.
  const a = await startAgent('a', { keys: [key], config: CALM, transport: { replayWindow: 0 } });
  aAddr = a.addr;
  const b = await startAgent('b', {
    keys: [key],
    config: CALM,
    transport: {
      outboundFilter: (kind, to, wire) => {
        if (kind === 'udp' && to === aAddr) captured.push(wire.slice());
        return true;
      },
    },
  });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.is(await b.join([a.addr]), 1);
  const events: string[] = [];
  a.onUserEvent((e) => events.push(e.name));
  b.userEvent('once', 'payload');
  await waitFor(() => allSee([a, b], ['a', 'b'], 'alive'), 5_000, 'both alive');
  await waitFor(() => events.length === 1, 5_000, 'the user event at a');
  b.setTags({ v: '2' });
  await waitFor(() => a.member('b')?.tags['v'] === '2', 5_000, 'tags update');
  await waitFor(() => captured.length >= 10, 5_000, 'capture');
  const before = table(a);
  const d0 = a.stats().dropped;
  // Everything b ever sent to a (old alives, the user event, pings, acks), again.
  const replays = captured.slice();
  const p0 = a.stats().packetsIn;
  await sendUdp(a.addr, replays);
  // Received, handled (packets are handled on arrival), and then some regular traffic.
  await waitFor(() => a.stats().packetsIn > p0 + replays.length + 3, 5_000, 'replays handled');
  t.is(table(a), before);
  t.deepEqual(events, ['once'], 'the user event is not delivered twice');
  t.deepEqual(a.stats().dropped, d0);
  t.is(a.member('b')?.tags['v'], '2');
});
