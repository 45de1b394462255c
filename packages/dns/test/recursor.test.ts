// Recursion (Consul's handleRecurse / resolveCNAME) against fake upstream DNS servers on
// loopback: names outside the domain go to the recursors in order, the first NOERROR or
// NXDOMAIN answer is relayed as sent (with the client's ID), and when every recursor fails
// or times out the client gets SERVFAIL.
import test from 'ava';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import {
  CLASS_IN,
  RCode,
  RRType,
  decodeMessage,
  encodeMessage,
  makeQuery,
  type Message,
} from '../src/index.js';
import { FakeBackend, ask, handlerFor, lines, sampleCatalog } from './helpers.js';

type Behaviour = (q: Message) => Message | 'silent' | 'wrong-id';

/** A scripted upstream resolver: UDP and TCP on one loopback port. */
class Upstream {
  readonly udpQueries: Message[] = [];
  readonly tcpQueries: Message[] = [];
  /** The bytes of the last answer sent. */
  lastAnswer: Uint8Array | undefined;

  private constructor(
    readonly port: number,
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
  ) {}

  static async start(behaviour: Behaviour): Promise<Upstream> {
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (tcp.address() as { port: number }).port;
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind({ address: '127.0.0.1', port }, r));
    const u = new Upstream(port, udp, tcp);
    const respond = (q: Message): Uint8Array | undefined => {
      const out = behaviour(q);
      if (out === 'silent') return undefined;
      const m =
        out === 'wrong-id'
          ? { ...answerFor(q), header: { ...answerFor(q).header, id: (q.header.id + 1) & 0xffff } }
          : out;
      const bytes = encodeMessage(m);
      u.lastAnswer = bytes;
      return bytes;
    };
    udp.on('message', (msg, rinfo) => {
      const q = decodeMessage(Uint8Array.from(msg));
      u.udpQueries.push(q);
      const bytes = respond(q);
      if (bytes !== undefined) udp.send(bytes, rinfo.port, rinfo.address);
    });
    tcp.on('connection', (sock) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const q = decodeMessage(Uint8Array.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        u.tcpQueries.push(q);
        const bytes = respond(q);
        if (bytes === undefined) return;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(bytes.length);
        sock.end(Buffer.concat([len, bytes]));
      });
      sock.on('error', () => undefined);
    });
    return u;
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.tcp.close(() => r()));
    await new Promise<void>((r) => this.udp.close(() => r()));
  }
}

/** An answer to `q`: one A record 93.184.216.34 (or `rcode` with no records). */
function answerFor(q: Message, rcode: number = RCode.NoError): Message {
  const question = q.question[0]!;
  return {
    header: { ...q.header, qr: true, ra: true, rcode },
    question: q.question,
    answer:
      rcode === RCode.NoError
        ? [
            {
              name: question.name,
              type: RRType.A,
              class: CLASS_IN,
              ttl: 300,
              data: { kind: 'a', address: '93.184.216.34' },
            },
          ]
        : [],
    authority: [],
    additional: [],
  };
}

async function withUpstreams(
  t: { teardown: (fn: () => Promise<void>) => void },
  ...behaviours: Behaviour[]
): Promise<Upstream[]> {
  const ups: Upstream[] = [];
  for (const b of behaviours) ups.push(await Upstream.start(b));
  t.teardown(async () => {
    for (const u of ups) await u.close();
  });
  return ups;
}

function handler(recursors: string[], recursorTimeoutMs = 300): ReturnType<typeof handlerFor> {
  return handlerFor(new FakeBackend(sampleCatalog().store), { recursors, recursorTimeoutMs });
}

test("a name outside the domain is relayed to the recursor; its answer comes back verbatim with the client's ID", async (t) => {
  const [up] = await withUpstreams(t, (q) => answerFor(q));
  const h = handler([up!.addr]);
  const q = makeQuery(0xbeef, 'example.com', RRType.A);
  const out = await h.answer(encodeMessage(q), 'udp');
  t.deepEqual(out, up!.lastAnswer);
  const m = decodeMessage(out!);
  t.is(m.header.id, 0xbeef);
  t.deepEqual(lines(m.answer), ['example.com. 300 A 93.184.216.34']);
  t.is(up!.udpQueries[0]?.header.id, 0xbeef);
});

test('NXDOMAIN from a recursor is relayed; SERVFAIL or REFUSED moves on to the next recursor', async (t) => {
  const [failing, nx] = await withUpstreams(
    t,
    (q) => answerFor(q, RCode.ServFail),
    (q) => answerFor(q, RCode.NXDomain),
  );
  const h = handler([failing!.addr, nx!.addr]);
  const m = await ask(h, 'nosuch.example.com', RRType.A);
  t.is(m.header.rcode, RCode.NXDomain);
  t.is(failing!.udpQueries.length, 1);
  t.is(nx!.udpQueries.length, 1);
});

test('a silent recursor times out and the next one answers', async (t) => {
  const [silent, ok] = await withUpstreams(
    t,
    () => 'silent',
    (q) => answerFor(q),
  );
  const h = handler([silent!.addr, ok!.addr], 200);
  const started = Date.now();
  const m = await ask(h, 'example.com', RRType.A);
  t.is(m.header.rcode, RCode.NoError);
  t.true(Date.now() - started >= 190);
});

test("every recursor silent or wrong: SERVFAIL with RA set after the timeouts (Consul's handleRecurse)", async (t) => {
  const [silent, wrongId] = await withUpstreams(
    t,
    () => 'silent',
    () => 'wrong-id',
  );
  const h = handler([silent!.addr, wrongId!.addr], 150);
  const started = Date.now();
  const m = await ask(h, 'example.com', RRType.A, { edns: { udpSize: 1232 } });
  t.like(m.header, { rcode: RCode.ServFail, ra: true, aa: false });
  t.deepEqual(m.question[0]?.name, 'example.com.');
  t.like(m.edns, { udpSize: 1232 });
  t.true(Date.now() - started >= 290);
  t.is(wrongId!.udpQueries.length, 1);
});

test('an unreachable recursor (nothing listening) fails over to the next', async (t) => {
  const [ok] = await withUpstreams(t, (q) => answerFor(q));
  const h = handler(['127.0.0.1:1', ok!.addr], 500);
  const m = await ask(h, 'example.com', RRType.A);
  t.is(m.header.rcode, RCode.NoError);
});

test("a TCP client's query is relayed over TCP, as Consul picks the client's network", async (t) => {
  const [up] = await withUpstreams(t, (q) => answerFor(q));
  const h = handler([up!.addr]);
  const m = await ask(h, 'example.com', RRType.A, { transport: 'tcp' });
  t.is(m.answer.length, 1);
  t.is(up!.tcpQueries.length, 1);
  t.is(up!.udpQueries.length, 0);
});

test('with recursors, answers from the domain set RA; an unknown PTR is relayed upstream', async (t) => {
  const [up] = await withUpstreams(t, (q) => ({
    ...answerFor(q),
    answer: [
      {
        name: q.question[0]!.name,
        type: RRType.PTR,
        class: CLASS_IN,
        ttl: 60,
        data: { kind: 'name', target: 'dns.google.' },
      },
    ],
  }));
  const h = handler([up!.addr]);
  t.true((await ask(h, 'web.service.consul', RRType.A)).header.ra);
  const m = await ask(h, '8.8.8.8.in-addr.arpa', RRType.PTR);
  t.deepEqual(lines(m.answer), ['8.8.8.8.in-addr.arpa. 60 PTR dns.google.']);
  // A known address is still answered locally.
  t.deepEqual(lines((await ask(h, '1.0.0.10.in-addr.arpa', RRType.PTR)).answer), [
    '1.0.0.10.in-addr.arpa. 0 PTR n1.node.dc1.consul.',
  ]);
});

test('a service Address outside the domain is resolved through the recursors (A query) into the answer', async (t) => {
  const [up] = await withUpstreams(t, (q) => answerFor(q));
  const h = handler([up!.addr]);
  const a = await ask(h, 'api.service.consul', RRType.A);
  t.deepEqual(lines(a.answer), [
    'api.service.consul. 0 CNAME api.example.com.',
    // The resolved record takes the service's TTL.
    'api.example.com. 0 A 93.184.216.34',
  ]);
  const srv = await ask(h, 'api.service.consul', RRType.SRV);
  t.deepEqual(lines(srv.answer), ['api.service.consul. 0 SRV 1 1 443 api.example.com.']);
  t.true(lines(srv.additional).includes('api.example.com. 0 A 93.184.216.34'));
  t.is(up!.udpQueries[0]?.question[0]?.type, RRType.A);
});

test('close() aborts upstream exchanges in flight: the client gets SERVFAIL at once', async (t) => {
  const [silent] = await withUpstreams(t, () => 'silent');
  const h = handler([silent!.addr], 10_000);
  const started = Date.now();
  const pending = ask(h, 'example.com', RRType.A);
  await new Promise((r) => setTimeout(r, 50));
  h.close();
  const m = await pending;
  t.is(m.header.rcode, RCode.ServFail);
  t.true(Date.now() - started < 2_000);
});
