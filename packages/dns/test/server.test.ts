// The listener on real loopback sockets: UDP and TCP on one port, TCP framing and its
// limits, and — when Debian's dig is installed — a client nobody here wrote: SRV over TCP,
// a truncated UDP answer that dig retries over TCP, and a reverse lookup.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import {
  DnsServer,
  RCode,
  RRType,
  decodeMessage,
  encodeMessage,
  makeQuery,
  type DnsAnswerer,
} from '../src/index.js';
import { Catalog, FakeBackend, handlerFor, lines, sampleCatalog } from './helpers.js';
import { peerTest, probe } from '@trellis/testkit/peers';

async function serve(
  t: { teardown: (fn: () => Promise<void>) => void },
  handler: DnsAnswerer,
  opts: Partial<Parameters<typeof DnsServer.listen>[0]> = {},
): Promise<DnsServer> {
  const s = await DnsServer.listen({ handler, host: '127.0.0.1', port: 0, ...opts });
  t.teardown(() => s.close());
  return s;
}

function udpAsk(port: number, bytes: Uint8Array, timeoutMs = 2_000): Promise<Uint8Array | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (v: Uint8Array | null): void => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    s.on('message', (msg) => done(Uint8Array.from(msg)));
    s.send(bytes, port, '127.0.0.1');
  });
}

/** Connects; resolves with the socket and a reader of framed messages. */
async function tcpClient(port: number): Promise<{
  sock: Socket;
  next: (timeoutMs?: number) => Promise<Uint8Array | 'closed' | 'timeout'>;
  closed: Promise<void>;
}> {
  const sock = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  let buf = Buffer.alloc(0);
  const frames: Uint8Array[] = [];
  let waiter: (() => void) | undefined;
  let isClosed = false;
  const closed = new Promise<void>((r) =>
    sock.on('close', () => {
      isClosed = true;
      waiter?.();
      r();
    }),
  );
  sock.on('error', () => undefined);
  sock.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      frames.push(Uint8Array.from(buf.subarray(2, 2 + len)));
      buf = buf.subarray(2 + len);
    }
    waiter?.();
  });
  const next = async (timeoutMs = 2_000): Promise<Uint8Array | 'closed' | 'timeout'> => {
    const deadline = Date.now() + timeoutMs;
    while (frames.length === 0) {
      if (isClosed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((r) => {
        waiter = r;
        setTimeout(r, left);
      });
    }
    return frames.shift()!;
  };
  return { sock, next, closed };
}

function frame(bytes: Uint8Array): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

const query = (id: number, name: string, type: number): Uint8Array =>
  encodeMessage(makeQuery(id, name, type));

function handler(): ReturnType<typeof handlerFor> {
  return handlerFor(new FakeBackend(sampleCatalog().store), { config: { node_meta_txt: false } });
}

test('UDP and TCP listen on the same port and answer the same query', async (t) => {
  const s = await serve(t, handler());
  t.is(s.udpPort, s.tcpPort);
  const viaUdp = decodeMessage(
    (await udpAsk(s.udpPort, query(11, 'web.service.consul', RRType.SRV)))!,
  );
  const c = await tcpClient(s.tcpPort);
  c.sock.write(frame(query(12, 'web.service.consul', RRType.SRV)));
  const viaTcp = decodeMessage((await c.next()) as Uint8Array);
  c.sock.destroy();
  t.is(viaUdp.header.id, 11);
  t.is(viaTcp.header.id, 12);
  t.deepEqual(lines(viaUdp.answer).sort(), lines(viaTcp.answer).sort());
  t.is(viaTcp.answer.length, 2);
});

test('TCP: several queries on one connection (RFC 7766) are answered in order', async (t) => {
  const s = await serve(t, handler());
  const c = await tcpClient(s.tcpPort);
  c.sock.write(
    Buffer.concat([
      frame(query(1, 'web.service.consul', RRType.A)),
      frame(query(2, 'n1.node.consul', RRType.A)),
      frame(query(3, 'nosuch.service.consul', RRType.A)),
    ]),
  );
  const ids: number[] = [];
  const rcodes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const m = decodeMessage((await c.next()) as Uint8Array);
    ids.push(m.header.id);
    rcodes.push(m.header.rcode);
  }
  c.sock.destroy();
  t.deepEqual(ids, [1, 2, 3]);
  t.deepEqual(rcodes, [RCode.NoError, RCode.NoError, RCode.NXDomain]);
});

test('TCP: an idle connection is closed after tcpIdleMs', async (t) => {
  const s = await serve(t, handler(), { tcpIdleMs: 150 });
  const c = await tcpClient(s.tcpPort);
  const started = Date.now();
  await c.closed;
  t.true(Date.now() - started >= 100);
  t.is(s.stats().tcpIdleClosed, 1);
  const deadline = Date.now() + 1_000;
  while (s.tcpConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.is(s.tcpConnections, 0);
});

test('TCP: a message dripping in slower than tcpReadTimeoutMs closes the connection', async (t) => {
  const s = await serve(t, handler(), { tcpIdleMs: 5_000, tcpReadTimeoutMs: 200 });
  const c = await tcpClient(s.tcpPort);
  const bytes = frame(query(1, 'web.service.consul', RRType.A));
  const started = Date.now();
  // One byte every 50 ms keeps the connection from idling, but the message is late.
  for (let i = 0; i < bytes.length && !c.sock.destroyed; i++) {
    c.sock.write(bytes.subarray(i, i + 1));
    await new Promise((r) => setTimeout(r, 50));
    if (Date.now() - started > 1_000) break;
  }
  t.is(await c.next(100), 'closed');
  t.true(Date.now() - started < 1_000);
});

test('TCP: connections beyond maxTcpConnections are closed on arrival', async (t) => {
  const s = await serve(t, handler(), { maxTcpConnections: 2 });
  const a = await tcpClient(s.tcpPort);
  const b = await tcpClient(s.tcpPort);
  const extra = await tcpClient(s.tcpPort);
  await extra.closed;
  t.is(s.stats().tcpRejected, 1);
  // The first two still work.
  a.sock.write(frame(query(5, 'n1.node.consul', RRType.A)));
  t.is(decodeMessage((await a.next()) as Uint8Array).header.id, 5);
  a.sock.destroy();
  b.sock.destroy();
});

test('TCP: a zero-length message closes the connection', async (t) => {
  const s = await serve(t, handler());
  const c = await tcpClient(s.tcpPort);
  c.sock.write(Buffer.from([0, 0]));
  await c.closed;
  t.pass();
});

test('UDP: at most maxUdpInflight queries are answered at once; the rest are dropped, not queued', async (t) => {
  const waiting: Array<() => void> = [];
  const stuck: DnsAnswerer = {
    answer: () => new Promise((resolve) => waiting.push(() => resolve(null))),
  };
  const s = await serve(t, stuck, { maxUdpInflight: 2 });
  const sock = createSocket('udp4');
  for (let i = 0; i < 5; i++)
    sock.send(query(i, 'x.service.consul', RRType.A), s.udpPort, '127.0.0.1');
  const deadline = Date.now() + 2_000;
  while (s.stats().udpQueries < 5 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  sock.close();
  t.like(s.stats(), { udpQueries: 5, udpDropped: 3 });
  for (const w of waiting) w();
});

test('close() stops both listeners and open connections', async (t) => {
  const s = await DnsServer.listen({ handler: handler(), host: '127.0.0.1', port: 0 });
  const c = await tcpClient(s.tcpPort);
  await s.close();
  await c.closed;
  t.is(await udpAsk(s.udpPort, query(1, 'web.service.consul', RRType.A), 300), null);
  await s.close();
});

test('IPv6 loopback works too', async (t) => {
  let s: DnsServer;
  try {
    s = await DnsServer.listen({ handler: handler(), host: '::1', port: 0 });
  } catch (err) {
    t.log(`::1 unavailable here: ${String(err)}`);
    t.pass();
    return;
  }
  t.teardown(() => s.close());
  const reply = await new Promise<Uint8Array | null>((resolve) => {
    const u = createSocket('udp6');
    const timer = setTimeout(() => {
      u.close();
      resolve(null);
    }, 2_000);
    u.on('message', (msg) => {
      clearTimeout(timer);
      u.close();
      resolve(Uint8Array.from(msg));
    });
    u.send(query(9, 'n1.node.consul', RRType.A), s.udpPort, '::1');
  });
  t.deepEqual(lines(decodeMessage(reply!).answer), ['n1.node.consul. 0 A 10.0.0.1']);
});

// ---------------------------------------------------------------------------- dig

const dig = { name: 'dig', missing: probe('dig', ['-v']) };

interface DigResult {
  status: string;
  flags: string[];
  answer: string[][];
  authority: string[][];
  additional: string[][];
  retriedOverTcp: boolean;
  raw: string;
}

function runDig(port: number, args: string[]): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    // Async: the server answering runs in this process.
    execFile(
      'dig',
      ['@127.0.0.1', '-p', String(port), '+time=3', '+tries=1', ...args],
      { timeout: 20_000 },
      (err, stdout) => {
        if (err) {
          reject(new Error(`dig ${args.join(' ')} failed: ${err.message}\n${stdout}`));
          return;
        }
        resolve(parseDig(stdout));
      },
    );
  });
}

/** Reads dig's default output: header status and flags, and the record sections. */
function parseDig(out: string): DigResult {
  const status = /status: ([A-Z]+)/.exec(out)?.[1] ?? '';
  const flags = (/;; flags: ([a-z ]+);/.exec(out)?.[1] ?? '').trim().split(/\s+/);
  const section = (title: string): string[][] => {
    const at = out.indexOf(`;; ${title} SECTION:`);
    if (at < 0) return [];
    const rows: string[][] = [];
    for (const line of out.slice(at).split('\n').slice(1)) {
      if (line.trim() === '' || line.startsWith(';')) break;
      rows.push(line.trim().split(/\s+/));
    }
    return rows;
  };
  return {
    status,
    flags,
    answer: section('ANSWER'),
    authority: section('AUTHORITY'),
    additional: section('ADDITIONAL'),
    retriedOverTcp: out.includes('Truncated, retrying in TCP mode'),
    raw: out,
  };
}

peerTest(
  'dig: SRV over TCP lists both healthy web instances with their node addresses',
  dig,
  async (t) => {
    const s = await serve(t, handler());
    const r = await runDig(s.tcpPort, ['web.service.consul', 'SRV', '+tcp']);
    t.is(r.status, 'NOERROR', r.raw);
    t.true(r.flags.includes('aa'));
    t.deepEqual(r.answer.map((f) => f.slice(3).join(' ')).sort(), [
      'SRV 1 1 8080 n1.node.dc1.consul.',
      'SRV 1 2 8081 n2.node.dc1.consul.',
    ]);
    t.deepEqual(r.additional.map((f) => `${f[0]} ${f[3]} ${f[4]}`).sort(), [
      'n1.node.dc1.consul. A 10.0.0.1',
      'n2.node.dc1.consul. A 10.0.0.2',
    ]);
  },
);

peerTest(
  'dig: a truncated UDP answer (TC) makes dig retry over TCP and get every record',
  dig,
  async (t) => {
    const c = new Catalog();
    for (let i = 1; i <= 12; i++) {
      c.register({ Node: `m${i}`, Address: `10.4.0.${i}`, Service: { Service: 'big', Port: 80 } });
    }
    const h = handlerFor(new FakeBackend(c.store), { config: { enable_truncate: true } });
    const s = await serve(t, h);
    // +noedns: the 512-byte, three-answer rules; dig's default is UDP (+notcp).
    const r = await runDig(s.udpPort, ['big.service.consul', 'A', '+notcp', '+noedns']);
    t.true(r.retriedOverTcp, r.raw);
    t.is(r.status, 'NOERROR');
    t.is(r.answer.length, 12);
    t.true(s.stats().tcpQueries >= 1);
    // With EDNS (dig's default 1232-byte buffer) twelve A records fit in one datagram.
    const e = await runDig(s.udpPort, ['big.service.consul', 'A']);
    t.false(e.retriedOverTcp);
    t.is(e.answer.length, 12);
  },
);

peerTest('dig: -x 127.0.0.2 finds the node with that address', dig, async (t) => {
  const c = new Catalog();
  c.register({ Node: 'loop2', Address: '127.0.0.2', Datacenter: 'dc1' });
  const s = await serve(t, handlerFor(new FakeBackend(c.store)));
  const r = await runDig(s.udpPort, ['-x', '127.0.0.2']);
  t.is(r.status, 'NOERROR', r.raw);
  t.deepEqual(
    r.answer.map((f) => `${f[0]} ${f[3]} ${f[4]}`),
    ['2.0.0.127.in-addr.arpa. PTR loop2.node.dc1.consul.'],
  );
});

peerTest(
  'dig: an unknown service is NXDOMAIN with the consul. SOA in authority',
  dig,
  async (t) => {
    const s = await serve(t, handler());
    const r = await runDig(s.udpPort, ['nosuch.service.consul']);
    t.is(r.status, 'NXDOMAIN', r.raw);
    t.deepEqual(
      r.authority.map((f) => `${f[0]} ${f[3]} ${f[4]} ${f[5]}`),
      ['consul. SOA ns.consul. hostmaster.consul.'],
    );
    t.true(r.raw.includes('OPT PSEUDOSECTION'));
  },
);
