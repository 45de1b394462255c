/**
 * L4 through two sidecars fed hand-made snapshots, over real loopback sockets: web's upstream
 * listener → (mTLS) → db's public listener → db's echo app.
 */
import test from 'ava';
import { connect as tlsConnect } from 'node:tls';
import { createServer as createNetServer, type Socket } from 'node:net';
import {
  TcpClient,
  echoApp,
  listening,
  newCa,
  publicPort,
  recordingRelay,
  rule,
  sidecarSnapshot,
  spiffe,
  startProxy,
  tcpExchange,
  upstreamPort,
  waitFor,
} from './helpers.js';

test('TCP echo through web → db sidecars; only TLS between the sidecars', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app.port } }),
  );
  const relay = await recordingRelay(t, publicPort(db));
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [{ port: relay.port }] }],
    }),
  );
  const secret = 'SELECT secret FROM plaintext_marker;';
  const answer = await tcpExchange(upstreamPort(web, 'db'), secret);
  t.is(answer, secret);
  t.is(app.connections, 1);
  const wire = relay.all();
  t.true(wire.length > 0);
  t.false(wire.includes(Buffer.from('plaintext_marker')), 'the app bytes never cross in clear');
  t.is(wire[0], 0x16, 'a TLS handshake record opens the connection');
  // Metrics: a connection on each side, bytes counted, a connect latency observed.
  await waitFor(
    'bytes counted',
    async () => (await db.metrics.value('trellis_proxy_received_bytes_total')) > 0,
  );
  t.is(await db.metrics.value('trellis_proxy_connections_total', { listener: 'public' }), 1);
  t.is(await web.metrics.value('trellis_proxy_connections_total', { listener: 'upstream:db' }), 1);
  t.is(await web.metrics.value('trellis_proxy_upstream_connect_seconds', { upstream: 'db' }), 1);
});

test('TLS sessions are resumed for later TCP connections to an endpoint', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app.port } }),
  );
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }],
    }),
  );
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'one'), 'one');
  await waitFor('a session kept', () => web.status().upstreams[0]?.endpoints[0]?.hasSession);
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'two'), 'two');
  t.is(app.connections, 2);
  // The second handshake resumed, and the identity was still read from the session.
  t.is(await db.metrics.value('trellis_proxy_tls_sessions_resumed_total'), 1);
});

test('bytes written in pieces are not held back by Nagle’s algorithm', async (t) => {
  // The public listener's sockets set TCP_NODELAY: without it every piece after the first
  // waits for the caller's delayed ACK, 40 ms on Linux.
  const ca = await newCa();
  const sockets = new Set<Socket>();
  const app = createNetServer({ noDelay: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      s.write(d.subarray(0, 1));
      setTimeout(() => s.write(d.subarray(1)), 1);
    });
  });
  const appPort = await listening(app);
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    app.close();
  });
  const db = await startProxy(t, 'db');
  await db.apply(sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort } }));
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }],
    }),
  );
  const client = new TcpClient(upstreamPort(web, 'db'));
  t.teardown(() => client.destroy());
  const ms: number[] = [];
  for (let i = 0; i < 11; i++) {
    const t0 = performance.now();
    await client.roundTrip(`ping${i};`);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  t.true((ms[5] ?? Infinity) < 30, `median ${ms[5]?.toFixed(1)} ms`);
});

test('a deny intention closes the connection before the app sees it', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: await ca.tls('db'),
      public: { appPort: app.port, rules: [rule('web', 'db', 'deny')] },
    }),
  );
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }],
    }),
  );
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'hello'), '');
  t.is(app.connections, 0);
  t.is(await db.metrics.value('trellis_proxy_intention_denials_total', { layer: 'l4' }), 1);
  // An L7 intention denies at L4 too (a tcp listener has no requests to judge).
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: await ca.tls('db'),
      public: {
        appPort: app.port,
        rules: [rule('web', 'db', undefined, [{ Action: 'allow', HTTP: { PathPrefix: '/' } }])],
      },
    }),
  );
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'hello'), '');
  t.is(app.connections, 0);
});

test('an upstream whose certificate is not one of the expected SPIFFE IDs is refused', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app.port } }),
  );
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [
        {
          name: 'db',
          endpoints: [{ port: publicPort(db) }],
          expectedSpiffeIds: [spiffe('billing')],
        },
      ],
    }),
  );
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'hello'), '');
  t.is(app.connections, 0);
  t.true((await web.metrics.value('trellis_proxy_upstream_connect_failures_total')) >= 1);
});

test('a client certificate from another root fails the handshake; the listener keeps serving', async (t) => {
  const ca = await newCa();
  const other = await newCa('99999999-8888-7777-6666-555555555555');
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app.port } }),
  );
  // A client with a leaf of another CA that still trusts db's root: only db can refuse it.
  const leaf = await other.leaf('web');
  const outcome = await new Promise<string>((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: publicPort(db),
      cert: leaf.certPem,
      key: leaf.keyPem,
      ca: [ca.root.certPem],
      checkServerIdentity: () => undefined,
    });
    let got = '';
    s.on('secureConnect', () => s.write('hello'));
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', (e: Error) => resolve(`error: ${e.message}`));
    s.on('close', () => resolve(`closed: ${got}`));
  });
  t.regex(outcome, /error|closed: $/);
  t.is(app.connections, 0);
  await waitFor(
    'the handshake error counted',
    async () => (await db.metrics.value('trellis_proxy_tls_handshake_errors_total')) >= 1,
  );
  // And a proper client still gets through.
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }],
    }),
  );
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'ok'), 'ok');
});

test('writing a deny closes the open connections from that source, and only those', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  const dbTls = await ca.tls('db');
  await db.apply(sidecarSnapshot({ service: 'db', tls: dbTls, public: { appPort: app.port } }));
  const sidecarFor = async (name: string) => {
    const p = await startProxy(t, name);
    await p.apply(
      sidecarSnapshot({
        service: name,
        tls: await ca.tls(name),
        upstreams: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }],
      }),
    );
    return p;
  };
  const web = await sidecarFor('web');
  const api = await sidecarFor('api');
  const fromWeb = new TcpClient(upstreamPort(web, 'db'));
  const fromApi = new TcpClient(upstreamPort(api, 'db'));
  await fromWeb.roundTrip('w1');
  await fromApi.roundTrip('a1');
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: dbTls,
      public: { appPort: app.port, rules: [rule('web', 'db', 'deny')] },
    }),
  );
  await waitFor('web connection closed', () => fromWeb.closed);
  await fromApi.roundTrip('a2', 'a1a2');
  t.false(fromApi.closed);
  fromApi.destroy();
  t.is(app.connections, 2);
});

test('an endpoint that fails to connect is skipped at once and ejected; traffic goes to the healthy one', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app.port } }),
  );
  // A broken endpoint: accepts TCP and closes at once (the handshake fails).
  let brokenHits = 0;
  const broken = createNetServer((s: Socket) => {
    brokenHits++;
    s.destroy();
  });
  const brokenPort = await listening(broken);
  t.teardown(() => new Promise<void>((r) => broken.close(() => r())));
  const web = await startProxy(t, 'web', {
    outlier: { consecutiveFailures: 2, baseEjectionMs: 60_000 },
  });
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [{ port: brokenPort }, { port: publicPort(db) }] }],
    }),
  );
  for (let i = 0; i < 10; i++) {
    t.is(await tcpExchange(upstreamPort(web, 'db'), `m${i}`), `m${i}`, `connection ${i}`);
  }
  t.is(brokenHits, 2, 'two failures, then ejected');
  const eps = web.status().upstreams[0]?.endpoints ?? [];
  t.true(eps.find((e) => e.port === brokenPort)?.ejected);
  t.false(eps.find((e) => e.port === publicPort(db))?.ejected);
  t.is(await web.metrics.value('trellis_proxy_upstream_ejections_total'), 1);
});

test('no endpoints: the connection is closed', async (t) => {
  const ca = await newCa();
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [] }],
    }),
  );
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'x'), '');
  t.is(await web.metrics.value('trellis_proxy_upstream_no_healthy_total'), 1);
});

test('weighted round-robin spreads connections by weight', async (t) => {
  const ca = await newCa();
  const a = await echoApp(t);
  const b = await echoApp(t);
  const dbA = await startProxy(t, 'db');
  await dbA.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: a.port } }),
  );
  const dbB = await startProxy(t, 'db');
  await dbB.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: b.port } }),
  );
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [
        {
          name: 'db',
          endpoints: [
            { port: publicPort(dbA), weight: 3 },
            { port: publicPort(dbB), weight: 1 },
          ],
        },
      ],
    }),
  );
  for (let i = 0; i < 8; i++) await tcpExchange(upstreamPort(web, 'db'), 'x');
  t.is(a.connections, 6);
  t.is(b.connections, 2);
});
