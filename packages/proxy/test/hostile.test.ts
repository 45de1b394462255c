/**
 * Hostile input on the public listener: plaintext, garbage, TLS without a client
 * certificate, a certificate without a service identity, garbage HTTP after a good
 * handshake. Each is closed and counted; the proxy keeps serving.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { DEFAULT_LEAF_TTL_MS, createLeafKeyAndCsr, spiffeIdForAgent } from '@trellis/ca';
import {
  DC,
  echoApp,
  httpApp,
  httpGet,
  newCa,
  publicPort,
  sidecarSnapshot,
  startProxy,
  tcpExchange,
  upstreamPort,
} from './helpers.js';

/** Sends raw bytes, resolves with what came back once the peer closed (bounded). */
function raw(port: number, bytes: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('the proxy did not close the connection'));
    }, 15_000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** A TLS client; resolves with how it ended. */
function tlsClient(port: number, o: { cert?: string; key?: string; ca: string; send: string }) {
  return new Promise<string>((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ...(o.cert !== undefined ? { cert: o.cert, key: o.key } : {}),
      ca: [o.ca],
      checkServerIdentity: () => undefined,
    });
    let got = '';
    s.on('secureConnect', () => s.write(o.send));
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', (e: Error) => resolve(`error: ${e.message}`));
    s.on('close', () => resolve(`closed: ${got}`));
  });
}

for (const protocol of ['tcp', 'http'] as const) {
  test(`${protocol}: plaintext, garbage and certificate-less clients are closed and counted; service goes on`, async (t) => {
    const ca = await newCa();
    const app = protocol === 'tcp' ? await echoApp(t) : await httpApp(t, 'db');
    const db = await startProxy(t, 'db', { handshakeTimeoutMs: 300 });
    const dbTls = await ca.tls('db');
    await db.apply(
      sidecarSnapshot({ service: 'db', tls: dbTls, public: { appPort: app.port, protocol } }),
    );
    const port = publicPort(db);

    // Each is closed, with at most a TLS alert record (0x15) as the answer.
    const closedWithAlert = (b: Buffer) => b.length === 0 || b[0] === 0x15;
    t.true(closedWithAlert(await raw(port, 'GET / HTTP/1.1\r\nHost: db\r\n\r\n')), 'plaintext');
    t.true(closedWithAlert(await raw(port, randomBytes(4096))), 'random bytes');
    // A TLS record header announcing a huge handshake, then nothing sensible.
    t.true(
      closedWithAlert(await raw(port, Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1, 0, 0, 0]))),
    );
    const noCert = await tlsClient(port, { ca: ca.root.certPem, send: 'hi' });
    t.regex(noCert, /^error|^closed: $/);
    await t.notThrowsAsync(async () => {
      for (let i = 0; i < 4; i++) await raw(port, randomBytes(64));
    });
    // Silent, and stalled mid-record: closed at the handshake timeout.
    t.is((await raw(port, '')).length, 0, 'silent client');
    t.true(closedWithAlert(await raw(port, Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01]))));
    t.true((await db.metrics.value('trellis_proxy_tls_handshake_errors_total')) >= 9);

    // A certificate of the right CA without a service identity (an agent certificate).
    const agentUri = spiffeIdForAgent({
      trustDomain: ca.trustDomain,
      datacenter: DC,
      node: 'node1',
    });
    const { keyPem, csrPem } = await createLeafKeyAndCsr({ uri: agentUri });
    const agentCert = await ca.signer.signLeaf(csrPem, {
      trustDomain: ca.trustDomain,
      datacenter: DC,
      ttlMs: DEFAULT_LEAF_TTL_MS,
      now: new Date(),
    });
    const agentOutcome = await tlsClient(port, {
      cert: agentCert.certPem,
      key: keyPem,
      ca: ca.root.certPem,
      send: 'GET / HTTP/1.1\r\nHost: db\r\n\r\n',
    });
    t.regex(agentOutcome, /^error|^closed: $/);
    t.is(await db.metrics.value('trellis_proxy_intention_denials_total', { layer: 'identity' }), 1);

    if (protocol === 'http') {
      // A good handshake, then garbage instead of HTTP: a 400 and the connection closes.
      const leaf = await ca.leaf('web');
      const bad = await tlsClient(port, {
        cert: leaf.certPem,
        key: leaf.keyPem,
        ca: ca.root.certPem,
        send: '\x00\x01garbage\r\n\r\n',
      });
      t.regex(bad, /^closed: HTTP\/1\.1 400 Bad Request/);
    }

    // Still serving a proper peer.
    const web = await startProxy(t, 'web');
    await web.apply(
      sidecarSnapshot({
        service: 'web',
        tls: await ca.tls('web'),
        upstreams: [{ name: 'db', protocol, endpoints: [{ port }] }],
      }),
    );
    if (protocol === 'tcp') t.is(await tcpExchange(upstreamPort(web, 'db'), 'fine'), 'fine');
    else t.is((await httpGet(upstreamPort(web, 'db'), '/fine')).body, 'db GET /fine');
  });
}

test('garbage on an upstream listener (http) gets a 400; the listener keeps serving', async (t) => {
  const ca = await newCa();
  const app = await httpApp(t, 'db');
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: await ca.tls('db'),
      public: { appPort: app.port, protocol: 'http' },
    }),
  );
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', protocol: 'http', endpoints: [{ port: publicPort(db) }] }],
    }),
  );
  const port = upstreamPort(web, 'db');
  const answer = (await raw(port, randomBytes(512))).toString();
  t.regex(answer, /^HTTP\/1\.1 400 Bad Request/);
  t.is((await httpGet(port, '/ok')).status, 200);
});
