/**
 * L7: HTTP through web's upstream listener → db's public listener → db's app, with intentions
 * per request, XFCC, connection limits, keep-alive pools, timeouts and leaf rotation under
 * load.
 */
import test from 'ava';
import { X509Certificate, createHash } from 'node:crypto';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { IntentionRule, SnapshotTls } from '@trellis/connect';
import type { Proxy } from '../src/index.js';
import {
  httpApp,
  httpGet,
  listening,
  newCa,
  publicPort,
  rule,
  sidecarSnapshot,
  spiffe,
  startProxy,
  upstreamPort,
  waitFor,
} from './helpers.js';

async function pair(
  t: Parameters<typeof startProxy>[0],
  o: {
    rules?: IntentionRule[];
    defaultAllow?: boolean;
    maxInboundConnections?: number;
    localRequestTimeoutMs?: number;
  } = {},
) {
  const ca = await newCa();
  const app = await httpApp(t, 'db');
  const db = await startProxy(t, 'db');
  const dbTls = await ca.tls('db');
  const dbSnap = (tls: SnapshotTls, rules = o.rules ?? []) =>
    sidecarSnapshot({
      service: 'db',
      tls,
      public: {
        appPort: app.port,
        protocol: 'http',
        rules,
        defaultAllow: o.defaultAllow ?? true,
        maxInboundConnections: o.maxInboundConnections ?? 0,
        ...(o.localRequestTimeoutMs !== undefined
          ? { localRequestTimeoutMs: o.localRequestTimeoutMs }
          : {}),
      },
    });
  await db.apply(dbSnap(dbTls));
  const web = await startProxy(t, 'web');
  const webTls = await ca.tls('web');
  const webSnap = (tls: SnapshotTls) =>
    sidecarSnapshot({
      service: 'web',
      tls,
      upstreams: [{ name: 'db', protocol: 'http', endpoints: [{ port: publicPort(db) }] }],
    });
  await web.apply(webSnap(webTls));
  return { ca, app, db, web, dbTls, webTls, dbSnap, webSnap, port: upstreamPort(web, 'db') };
}

function hashOf(tls: SnapshotTls): string {
  return createHash('sha256').update(new X509Certificate(tls.certPem).raw).digest('hex');
}

test('L7 intentions: GET allowed, POST denied with Envoy’s 403; XFCC reaches the app', async (t) => {
  const { app, db, port, webTls } = await pair(t, {
    defaultAllow: false,
    rules: [rule('web', 'db', undefined, [{ Action: 'allow', HTTP: { Methods: ['GET'] } }])],
  });
  const ok = await httpGet(port, '/orders?id=1');
  t.is(ok.status, 200);
  t.is(ok.body, 'db GET /orders?id=1');
  const denied = await httpGet(port, '/orders', { method: 'POST', body: 'x=1' });
  t.is(denied.status, 403);
  t.is(denied.body, 'RBAC: access denied');
  t.is(app.seen.length, 1);
  t.is(
    app.seen[0]?.headers['x-forwarded-client-cert'],
    `By=${spiffe('db')};Hash=${hashOf(webTls)};URI=${spiffe('web')}`,
  );
  t.is(await db.metrics.value('trellis_proxy_intention_denials_total', { layer: 'l7' }), 1);
  t.is(await db.metrics.value('trellis_proxy_http_requests_total', { code: '403' }), 1);
  t.is(await db.metrics.value('trellis_proxy_http_requests_total', { code: '200' }), 1);
});

test('a caller cannot forge x-forwarded-client-cert; bodies and headers pass through', async (t) => {
  const { app, port, webTls } = await pair(t);
  const res = await new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/upload',
        method: 'PUT',
        headers: { 'x-forwarded-client-cert': 'By=evil', 'x-custom': 'kept', connection: 'close' },
      },
      (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end('a'.repeat(100_000));
  });
  t.is(res, 200);
  const seen = app.seen[0];
  t.is(seen?.body.length, 100_000);
  t.is(seen?.headers['x-custom'], 'kept');
  t.is(
    seen?.headers['x-forwarded-client-cert'],
    `By=${spiffe('db')};Hash=${hashOf(webTls)};URI=${spiffe('web')}`,
  );
});

test('keep-alive pools: many requests, one mTLS connection between the sidecars', async (t) => {
  const { db, port } = await pair(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 20; i++) t.is((await httpGet(port, `/r${i}`, { agent })).status, 200);
  t.is(await db.metrics.value('trellis_proxy_connections_total', { listener: 'public' }), 1);
});

test('a response written in pieces is not held back by Nagle’s algorithm', async (t) => {
  // The public listener's sockets set TCP_NODELAY: without it every piece after the first
  // waits for the caller's delayed ACK, 40 ms on Linux.
  const ca = await newCa();
  const app = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.flushHeaders();
    setTimeout(() => {
      res.write('a');
      setTimeout(() => res.end('b'), 1);
    }, 1);
  });
  const appPort = await listening(app);
  t.teardown(() => {
    app.closeAllConnections();
    app.close();
  });
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: await ca.tls('db'),
      public: { appPort, protocol: 'http' },
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
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const ms: number[] = [];
  for (let i = 0; i < 11; i++) {
    const t0 = performance.now();
    t.is((await httpGet(upstreamPort(web, 'db'), '/', { agent })).body, 'ab');
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  t.true((ms[5] ?? Infinity) < 30, `median ${ms[5]?.toFixed(1)} ms`);
});

test('max_inbound_connections 1: a second concurrent connection gets 503', async (t) => {
  const { port, db } = await pair(t, { maxInboundConnections: 1 });
  const slow = httpGet(port, '/slow?ms=500');
  await waitFor(
    'the first connection admitted',
    async () =>
      (await db.metrics.value('trellis_proxy_active_connections', { listener: 'public' })) === 1,
  );
  const second = await httpGet(port, '/fast');
  t.is(second.status, 503);
  t.is(
    second.body,
    'upstream connect error or disconnect/reset before headers. reset reason: overflow',
  );
  t.is(second.headers['x-envoy-overloaded'], 'true');
  t.is((await slow).status, 200);
  // The pooled connection is the admitted one: later requests are served.
  t.is((await httpGet(port, '/after')).status, 200);
  t.true((await db.metrics.value('trellis_proxy_connections_overflow_total')) >= 1);
});

test('max_inbound_connections set below the open connections: they are drained, the limit holds', async (t) => {
  const { port, db, app, dbTls } = await pair(t);
  const active = () => db.metrics.value('trellis_proxy_active_connections', { listener: 'public' });
  const two = () =>
    Promise.all([httpGet(port, '/slow?ms=200'), httpGet(port, '/slow?ms=200')]).then((rs) =>
      rs.map((r) => r.status).sort(),
    );
  // Two concurrent requests: web's pool keeps two connections to db, both admitted.
  t.deepEqual(await two(), [200, 200]);
  t.is(await active(), 2);
  // One of them busy when the limit arrives: it finishes its request, then closes.
  const busy = httpGet(port, '/slow?ms=300');
  await waitFor('the busy request at the app', () => app.seen.length === 3);
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: dbTls,
      public: { appPort: app.port, protocol: 'http', maxInboundConnections: 1 },
    }),
  );
  t.is((await busy).status, 200);
  await waitFor('the established connections drained', async () => (await active()) === 0);
  // New connections obey the limit: one of two concurrent callers is refused.
  t.deepEqual(await two(), [200, 503]);
});

test('leaf rotation under load: zero failed requests, new connections use the new leaves', async (t) => {
  const { ca, app, db, web, port, dbSnap, webSnap } = await pair(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  let ok = 0;
  const failures: string[] = [];
  let stop = false;
  const worker = async () => {
    while (!stop) {
      try {
        const r = await httpGet(port, '/load', { agent });
        if (r.status === 200) ok++;
        else failures.push(`${r.status} ${r.body}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  await waitFor('some load', () => ok >= 50);
  let webTls: SnapshotTls | undefined;
  for (let round = 0; round < 3; round++) {
    const before = ok;
    const dbTls = await ca.tls('db');
    webTls = await ca.tls('web');
    await Promise.all([db.apply(dbSnap(dbTls)), web.apply(webSnap(webTls))]);
    await waitFor('load after the rotation', () => ok >= before + 50);
  }
  stop = true;
  await Promise.all(workers);
  t.deepEqual(failures, []);
  t.true(ok >= 200);
  // Requests now arrive over connections made with web's newest leaf.
  await httpGet(port, '/last', { agent });
  t.is(
    app.seen.at(-1)?.headers['x-forwarded-client-cert'],
    `By=${spiffe('db')};Hash=${hashOf(webTls as SnapshotTls)};URI=${spiffe('web')}`,
  );
});

test('leaf rotation keeps open connections and serves new ones with the new certificate', async (t) => {
  const { ca, db, port, dbSnap } = await pair(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.is((await httpGet(port, '/a', { agent })).status, 200);
  const newTls = await ca.tls('db');
  await db.apply(dbSnap(newTls));
  // The same downstream and sidecar connections carry on.
  t.is((await httpGet(port, '/b', { agent })).status, 200);
  t.is(await db.metrics.value('trellis_proxy_connections_total', { listener: 'public' }), 1);
  // A new TLS connection sees the new leaf.
  const webLeaf = await ca.leaf('web');
  const serial = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: publicPort(db),
      cert: webLeaf.certPem,
      key: webLeaf.keyPem,
      ca: [ca.root.certPem],
      checkServerIdentity: () => undefined,
    });
    s.on('secureConnect', () => {
      resolve(s.getPeerX509Certificate()?.serialNumber ?? '');
      s.destroy();
    });
    s.on('error', reject);
  });
  t.is(serial.toLowerCase(), new X509Certificate(newTls.certPem).serialNumber.toLowerCase());
});

test('no endpoints: 503 no healthy upstream; local app down: 503 connection failure', async (t) => {
  const ca = await newCa();
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', protocol: 'http', endpoints: [] }],
    }),
  );
  const r = await httpGet(upstreamPort(web, 'db'), '/');
  t.is(r.status, 503);
  t.is(r.body, 'no healthy upstream');

  // db's app is not listening.
  const closed = createNetServer();
  const deadPort = await listening(closed);
  await new Promise<void>((res) => closed.close(() => res()));
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: await ca.tls('db'),
      public: { appPort: deadPort, protocol: 'http' },
    }),
  );
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', protocol: 'http', endpoints: [{ port: publicPort(db) }] }],
    }),
  );
  const down = await httpGet(upstreamPort(web, 'db'), '/');
  t.is(down.status, 503);
  t.regex(down.body, /reset reason: connection failure/);
});

test('a slow app gets Envoy’s 504 after the request timeout', async (t) => {
  const { port } = await pair(t, { localRequestTimeoutMs: 200 });
  const r = await httpGet(port, '/slow?ms=3000');
  t.is(r.status, 504);
  t.is(r.body, 'upstream request timeout');
  t.is((await httpGet(port, '/fast')).status, 200);
});

test('HTTP: a failing endpoint is retried on the next one and ejected', async (t) => {
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
  let brokenHits = 0;
  const broken = createNetServer((s: Socket) => {
    brokenHits++;
    s.destroy();
  });
  const brokenPort = await listening(broken);
  t.teardown(() => new Promise<void>((r) => broken.close(() => r())));
  const web: Proxy = await startProxy(t, 'web', { outlier: { consecutiveFailures: 3 } });
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [
        {
          name: 'db',
          protocol: 'http',
          endpoints: [{ port: brokenPort }, { port: publicPort(db) }],
        },
      ],
    }),
  );
  for (let i = 0; i < 20; i++) {
    const r = await httpGet(upstreamPort(web, 'db'), `/x${i}`);
    t.is(r.status, 200, `request ${i}`);
  }
  t.is(brokenHits, 3);
  t.true(web.status().upstreams[0]?.endpoints.find((e) => e.port === brokenPort)?.ejected);
});
