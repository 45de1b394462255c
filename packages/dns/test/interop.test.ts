// A resolver nobody here wrote: Debian's unbound forwarding the consul. zone (and a reverse
// zone) to our server, the way Consul's docs tell operators to wire DNS. The queries go to
// unbound; the answers must come from the catalog through it.
import { createSocket } from 'node:dgram';
import {
  DnsServer,
  RCode,
  RRType,
  decodeMessage,
  encodeMessage,
  makeQuery,
  type Message,
} from '../src/index.js';
import { FakeBackend, handlerFor, sampleCatalog } from './helpers.js';
import { startUnbound } from '@trellis/testkit';
import { peerTest, probe } from '@trellis/testkit/peers';

const unbound = { name: 'unbound', missing: probe('unbound', ['-V']) };

/** A port free right now on 127.0.0.1 (UDP). */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function udpQuery(port: number, q: Message, timeoutMs: number): Promise<Message | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (m: Message | null): void => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    s.on('message', (msg) => done(decodeMessage(Uint8Array.from(msg))));
    s.send(encodeMessage(q), port, '127.0.0.1');
  });
}

peerTest(
  'unbound forwarding consul. to the server resolves services, nodes and PTRs',
  unbound,
  async (t) => {
    t.timeout(30_000);
    const b = new FakeBackend(sampleCatalog().store);
    const server = await DnsServer.listen({
      handler: handlerFor(b, { config: { node_meta_txt: false } }),
      host: '127.0.0.1',
      port: 0,
    });
    t.teardown(() => server.close());
    const port = await freePort();
    const ub = startUnbound({
      port,
      localZones: ['"10.in-addr.arpa." nodefault'],
      forward: { 'consul.': server.udpPort, '10.in-addr.arpa.': server.udpPort },
    });
    t.teardown(() => ub.stop());

    // Wait for unbound to serve.
    let srv: Message | null = null;
    for (let i = 0; i < 50 && srv === null; i++) {
      srv = await udpQuery(port, makeQuery(1, 'web.service.consul', RRType.SRV, { edns: {} }), 300);
    }
    t.not(srv, null, `unbound did not answer: ${ub.stderr()}`);
    t.is(srv?.header.rcode, RCode.NoError);
    t.deepEqual(
      srv?.answer
        .map((rr) => (rr.data.kind === 'srv' ? `${rr.data.port} ${rr.data.target}` : ''))
        .sort(),
      ['8080 n1.node.dc1.consul.', '8081 n2.node.dc1.consul.'],
    );
    const a = await udpQuery(port, makeQuery(2, 'n6.node.consul', RRType.AAAA), 3_000);
    t.deepEqual(
      a?.answer.map((rr) => (rr.data.kind === 'aaaa' ? rr.data.address : '')),
      ['2001:db8::6'],
    );
    const nx = await udpQuery(port, makeQuery(3, 'nosuch.service.consul', RRType.A), 3_000);
    t.is(nx?.header.rcode, RCode.NXDomain);
    const ptr = await udpQuery(port, makeQuery(4, '2.0.0.10.in-addr.arpa', RRType.PTR), 3_000);
    t.deepEqual(
      ptr?.answer.map((rr) => (rr.data.kind === 'name' ? rr.data.target : '')),
      ['n2.node.dc1.consul.'],
    );
    t.true(b.calls.length > 0);
  },
);
