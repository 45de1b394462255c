// Hostile input, seeded: random and mutated packets into the handler and over real sockets.
// Every input gets a well-formed DNS message carrying its ID, or nothing (shorter than a
// header, or itself a response); nothing throws; the server keeps answering afterwards.
// A failure names the seed: TRELLIS_SEED=<seed> npx ava packages/dns/test/fuzz.test.ts
import test from 'ava';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Prng, seedsFromEnv } from '@trellis/testkit';
import {
  CLASS_IN,
  DnsServer,
  EDNS_CLIENT_SUBNET,
  RRType,
  decodeHeader,
  decodeMessage,
  encodeMessage,
  makeQuery,
  type DnsHandler,
  type Message,
} from '../src/index.js';
import { FakeBackend, handlerFor, sampleCatalog } from './helpers.js';

const NAMES = [
  'web.service.consul',
  'v1.web.service.consul',
  '_web._tcp.service.consul',
  'web.connect.consul',
  'web.ingress.dc1.consul',
  'n1.node.consul',
  'n1.node.dc1.dc.consul',
  '0a000001.addr.consul',
  '20010db8000000000000000000000001.addr.consul',
  '1.0.0.10.in-addr.arpa',
  '6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
  'consul',
  'api.service.consul',
  'nosuch.query.consul',
  'example.com',
];
const TYPES = [
  RRType.A,
  RRType.AAAA,
  RRType.SRV,
  RRType.TXT,
  RRType.ANY,
  RRType.SOA,
  RRType.NS,
  RRType.PTR,
  RRType.MX,
  RRType.AXFR,
  RRType.DS,
  0,
  65535,
];

function randomBytes(rng: Prng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

function validQuery(rng: Prng): Uint8Array {
  const q: Message = makeQuery(rng.int(0x10000), rng.pick(NAMES), rng.pick(TYPES));
  if (rng.chance(0.5)) {
    q.edns = {
      udpSize: rng.pick([0, 512, 1232, 4096, 65535]),
      extendedRcode: 0,
      version: rng.int(2),
      dnssecOk: rng.chance(0.3),
      options: rng.chance(0.3)
        ? [{ code: EDNS_CLIENT_SUBNET, data: Uint8Array.from([0, 1, 24, 0, 10, 0, 0]) }]
        : [],
    };
  }
  if (rng.chance(0.1)) q.question[0]!.class = rng.int(0x10000);
  return encodeMessage(q);
}

/** One hostile input: random bytes, or a valid query damaged in one of several ways. */
export function hostileInput(rng: Prng): Uint8Array {
  switch (rng.int(6)) {
    case 0:
      return randomBytes(rng, rng.int(80));
    case 1:
      return randomBytes(rng, rng.int(700));
    case 2: {
      // Flip a few bytes.
      const b = validQuery(rng);
      for (let k = rng.intBetween(1, 4); k > 0; k--) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 3: {
      // Cut short, or trailing junk.
      const b = validQuery(rng);
      return rng.chance(0.5)
        ? b.subarray(0, rng.int(b.length))
        : Uint8Array.from([...b, ...randomBytes(rng, rng.intBetween(1, 40))]);
    }
    case 4: {
      // A valid header with random counts over random bytes.
      const b = validQuery(rng);
      const out = Uint8Array.from([
        ...b.subarray(0, 4),
        ...randomBytes(rng, 8),
        ...randomBytes(rng, rng.int(200)),
      ]);
      out[2] = out[2]! & 0x7f; // a query, so it is not simply ignored
      return out;
    }
    default: {
      // A compression pointer planted somewhere in the question.
      const b = validQuery(rng);
      const at = 12 + rng.int(Math.max(1, b.length - 13));
      b[at] = 0xc0 | rng.int(0x40);
      if (at + 1 < b.length) b[at + 1] = rng.int(256);
      return b;
    }
  }
}

/** The property: null only for short input or a response; otherwise a decodable reply with the ID. */
function check(
  input: Uint8Array,
  output: Uint8Array | null,
  transport: 'udp' | 'tcp',
): string | null {
  const head = decodeHeader(input);
  if (output === null) {
    if (head === null || head.qr) return null;
    return 'a query with a readable header got no answer';
  }
  if (head === null) return 'an answer to input shorter than a header';
  let m: Message;
  try {
    m = decodeMessage(output);
  } catch (err) {
    return `the answer does not decode: ${String(err)}`;
  }
  if (!m.header.qr) return 'the answer is not marked as a response';
  if (m.header.id !== head.id) return `answer ID ${m.header.id} ≠ query ID ${head.id}`;
  if (transport === 'tcp' && output.length > 65535) return 'a TCP answer over 65535 bytes';
  if (m.question.length > 1) return 'more than one question in the answer';
  return null;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function fuzzHandler(): DnsHandler {
  const b = new FakeBackend(sampleCatalog().store);
  b.serverList = [{ name: 's1', address: '10.0.0.1' }];
  return handlerFor(b, { config: { enable_truncate: true } });
}

test('thousands of random and mutated packets: a valid DNS message or nothing, never a throw', async (t) => {
  const h = fuzzHandler();
  let answered = 0;
  for (const seed of seedsFromEnv(4)) {
    const rng = new Prng(seed);
    for (let i = 0; i < 2_000; i++) {
      const input = hostileInput(rng);
      const transport = rng.chance(0.5) ? 'udp' : 'tcp';
      let output: Uint8Array | null;
      try {
        output = await h.answer(input, transport);
      } catch (err) {
        t.fail(`seed ${seed} input #${i} ${hex(input)}: answer() rejected: ${String(err)}`);
        return;
      }
      const why = check(input, output, transport);
      if (why !== null) {
        t.fail(
          `seed ${seed} input #${i} (${transport}) ${hex(input)}: ${why}\nreplay: TRELLIS_SEED=${seed} npx ava packages/dns/test/fuzz.test.ts`,
        );
        return;
      }
      if (output !== null) answered++;
    }
  }
  t.true(answered > 1_000, `${answered} inputs answered`);
});

test('a recursor answering garbage: only well-formed answers are relayed, else SERVFAIL', async (t) => {
  const up = createSocket('udp4');
  await new Promise<void>((r) => up.bind({ address: '127.0.0.1', port: 0 }, r));
  const upPort = up.address().port;
  t.teardown(() => new Promise<void>((r) => up.close(() => r())));
  const seed = seedsFromEnv(1)[0]!;
  const rng = new Prng(`${seed}/upstream`);
  up.on('message', (msg, rinfo) => {
    const q = Uint8Array.from(msg);
    let reply: Uint8Array;
    if (rng.chance(0.3)) {
      reply = randomBytes(rng, rng.int(100));
    } else {
      // The query echoed as a response, then damaged (ID kept for a chance of being accepted).
      reply = Uint8Array.from(q);
      reply[2] = reply[2]! | 0x80;
      if (rng.chance(0.6)) reply[12 + rng.int(Math.max(1, reply.length - 12))] = rng.int(256);
    }
    up.send(reply, rinfo.port, rinfo.address);
  });
  const h = handlerFor(new FakeBackend(sampleCatalog().store), {
    recursors: [`127.0.0.1:${upPort}`],
    recursorTimeoutMs: 30,
  });
  for (let i = 0; i < 120; i++) {
    const q = makeQuery(rng.int(0x10000), `host${i}.example.com`, RRType.A);
    const input = encodeMessage(q);
    const out = await h.answer(input, 'udp');
    const why = check(input, out, 'udp');
    if (why !== null) {
      t.fail(
        `seed ${seed} #${i}: ${why}\nreplay: TRELLIS_SEED=${seed} npx ava packages/dns/test/fuzz.test.ts`,
      );
      return;
    }
  }
  t.pass();
});

test('over real sockets: junk datagrams and junk TCP streams, then a good query is still answered', async (t) => {
  const s = await DnsServer.listen({
    handler: fuzzHandler(),
    host: '127.0.0.1',
    port: 0,
    tcpIdleMs: 500,
  });
  t.teardown(() => s.close());
  const seed = seedsFromEnv(1)[0]!;
  const rng = new Prng(`${seed}/sockets`);
  const client = createSocket('udp4');
  const replies: Uint8Array[] = [];
  client.on('message', (msg) => replies.push(Uint8Array.from(msg)));
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  for (let i = 0; i < 800; i++) {
    const input = hostileInput(rng);
    await new Promise<void>((r) => client.send(input, s.udpPort, '127.0.0.1', () => r()));
    // Paced, so the kernel's receive buffer does not drop most of the burst.
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 5));
  }
  // Junk over TCP: random streams, and frames of random content.
  for (let i = 0; i < 20; i++) {
    await new Promise<void>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port: s.tcpPort });
      sock.on('error', () => resolve());
      sock.on('close', () => resolve());
      sock.on('connect', () => {
        const parts: Uint8Array[] = [];
        for (let k = rng.intBetween(1, 5); k > 0; k--) {
          const body = hostileInput(rng);
          const len = rng.chance(0.8) ? body.length : rng.int(0x10000);
          parts.push(Uint8Array.from([len >> 8, len & 0xff]), body);
        }
        if (rng.chance(0.3)) parts.push(randomBytes(rng, rng.int(300)));
        sock.end(Buffer.concat(parts));
        setTimeout(() => sock.destroy(), 200);
      });
    });
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const r of replies) {
    t.notThrows(() => decodeMessage(r), `seed ${seed}: an undecodable UDP reply ${hex(r)}`);
  }
  // The server still answers.
  const good = encodeMessage(makeQuery(4242, 'web.service.consul', RRType.A));
  client.removeAllListeners('message');
  const answer = await new Promise<Message>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer after the junk')), 2_000);
    client.on('message', (msg) => {
      const m = decodeMessage(Uint8Array.from(msg));
      if (m.header.id !== 4242) return;
      clearTimeout(timer);
      resolve(m);
    });
    client.send(good, s.udpPort, '127.0.0.1');
  });
  client.close();
  t.is(answer.answer.length, 2);
  const tcp = await new Promise<Message>((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port: s.tcpPort });
    let buf = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('connect', () => sock.write(Buffer.concat([Buffer.from([0, good.length]), good])));
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.destroy();
        resolve(decodeMessage(Uint8Array.from(buf.subarray(2, 2 + buf.readUInt16BE(0)))));
      }
    });
  });
  t.is(tcp.question[0]?.class, CLASS_IN);
  t.is(tcp.answer.length, 2);
  // Loopback may drop datagrams sent in a burst; most arrive.
  t.log(`seed ${seed}: ${s.stats().udpQueries} datagrams received, ${replies.length} answered`);
  t.true(s.stats().udpQueries > 400);
});
