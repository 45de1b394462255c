/**
 * Applying versions: refused snapshots (NACK reasons) leave the running one in place;
 * listeners on the same port stay bound; removed upstreams close their listener; live
 * connections survive new versions; metrics on their own port.
 */
import test from 'ava';
import { createServer as createNetServer } from 'node:net';
import type { ProxySnapshot } from '@trellis/connect';
import { ProxyConfigError } from '../src/index.js';
import {
  TcpClient,
  echoApp,
  listening,
  newCa,
  publicPort,
  sidecarSnapshot,
  spiffe,
  startProxy,
  tcpExchange,
  upstreamPort,
  waitFor,
} from './helpers.js';

async function refusedConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = new TcpClient(port);
    c.socket.once('error', (e: Error & { code?: string }) => resolve(e.code === 'ECONNREFUSED'));
    c.socket.once('connect', () => {
      c.destroy();
      resolve(false);
    });
  });
}

test('a snapshot whose port is taken is refused with the reason; the previous version keeps running', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  const dbSnap = sidecarSnapshot({
    service: 'db',
    tls: await ca.tls('db'),
    public: { appPort: app.port },
  });
  await db.apply(dbSnap);
  const web = await startProxy(t, 'web');
  const tls = await ca.tls('web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls,
      upstreams: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }],
    }),
    1,
  );
  const port = upstreamPort(web, 'db');
  const blocker = createNetServer();
  const taken = await listening(blocker);
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const bad = sidecarSnapshot({
    service: 'web',
    tls,
    upstreams: [
      { name: 'db', endpoints: [{ port: publicPort(db) }] },
      { name: 'cache', endpoints: [], bindPort: taken },
    ],
  });
  const err = await t.throwsAsync(web.apply(bad, 2), { instanceOf: ProxyConfigError });
  t.regex(
    err?.message ?? '',
    new RegExp(`upstream cache listener 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`),
  );
  t.is(web.version, 1);
  t.is(upstreamPort(web, 'db'), port);
  t.is(await tcpExchange(port, 'still'), 'still');
});

test('malformed snapshots, bad PEM and another proxy’s snapshot are refused', async (t) => {
  const ca = await newCa();
  const web = await startProxy(t, 'web');
  const good = sidecarSnapshot({ service: 'web', tls: await ca.tls('web'), upstreams: [] });
  await web.apply(good, 1);
  const cases: Array<[unknown, RegExp]> = [
    [null, /snapshot\.: expected a map/],
    [{ ...good, kind: 'mesh-gateway' }, /kind/],
    [{ ...good, upstreams: [{ id: 'db' }] }, /upstreams\[0\]\.destinationName: expected a string/],
    [{ ...good, upstreams: 'x' }, /upstreams: expected a list/],
    [{ ...good, tls: { ...good.tls, certPem: 'not a pem' } }, /^tls: /],
    [{ ...good, tls: { ...good.tls, rootPems: [] } }, /no CA roots/],
    [{ ...good, proxyId: 'api-sidecar-proxy' }, /snapshot is for proxy api-sidecar-proxy/],
    [
      {
        ...sidecarSnapshot({ service: 'web', tls: good.tls, public: { appPort: 1 } }),
        kind: 'ingress-gateway',
      },
      /an ingress-gateway snapshot has no publicListener and no upstreams/,
    ],
    [
      {
        ...good,
        gatewayListeners: [{ bindAddress: '127.0.0.1', port: 0, protocol: 'tcp', services: [] }],
      },
      /a connect-proxy snapshot has no gatewayListeners/,
    ],
    [
      {
        ...good,
        kind: 'ingress-gateway',
        gatewayListeners: [{ bindAddress: '127.0.0.1', port: 0, protocol: 'tcp', services: [] }],
      },
      /gatewayListeners\[0\]: a tcp listener has exactly one service \(it has 0\)/,
    ],
    [
      {
        ...good,
        kind: 'ingress-gateway',
        gatewayListeners: [{ bindAddress: '127.0.0.1', port: 'x', protocol: 'http', services: [] }],
      },
      /gatewayListeners\[0\]\.port: expected an integer/,
    ],
    [
      {
        ...good,
        upstreams: [
          {
            id: 'a',
            destinationName: 'a',
            bindAddress: '127.0.0.1',
            bindPort: 70000,
            protocol: 'tcp',
            connectTimeoutMs: 1,
            expectedSpiffeIds: [],
            endpoints: [],
          },
        ],
      },
      /bindPort: expected an integer in 0\.\.65535/,
    ],
  ];
  for (const [snap, re] of cases) {
    const err = await t.throwsAsync(web.apply(snap as ProxySnapshot, 2));
    t.regex(err?.message ?? '', re);
  }
  t.is(web.version, 1);
});

test('a new version keeps listeners bound and live connections open; a removed upstream stops accepting', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  const dbTls = await ca.tls('db');
  await db.apply(sidecarSnapshot({ service: 'db', tls: dbTls, public: { appPort: app.port } }));
  const dbPort = publicPort(db);
  const web = await startProxy(t, 'web');
  const tls = await ca.tls('web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls,
      upstreams: [
        { name: 'db', endpoints: [{ port: dbPort }] },
        // Another name for the same service.
        { name: 'db2', endpoints: [{ port: dbPort }], expectedSpiffeIds: [spiffe('db')] },
      ],
    }),
  );
  const port = upstreamPort(web, 'db');
  const port2 = upstreamPort(web, 'db2');
  const live = new TcpClient(port);
  const live2 = new TcpClient(port2);
  await live.roundTrip('a');
  await live2.roundTrip('b');
  // New versions for both sides: new leaves, an extra endpoint, db2 dropped, db's app moved.
  const app2 = await echoApp(t);
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app2.port } }),
  );
  t.is(publicPort(db), dbPort, 'the public listener stayed bound');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [
        { name: 'db', endpoints: [{ port: dbPort }, { port: dbPort, address: 'localhost' }] },
      ],
    }),
  );
  t.is(upstreamPort(web, 'db'), port, 'the db listener stayed bound');
  t.is(web.upstreamAddress('db2'), null);
  t.true(await refusedConnect(port2), 'the db2 listener is closed');
  // Established connections carry on, through the old app connection.
  await live.roundTrip('c', 'ac');
  await live2.roundTrip('d', 'bd');
  t.is(await tcpExchange(port, 'new'), 'new');
  t.is(app2.connections, 1, 'new connections reach the new app');
  live.destroy();
  live2.destroy();
});

test('moving the public listener to another port: the old port closes, the new one serves', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  const dbTls = await ca.tls('db');
  await db.apply(sidecarSnapshot({ service: 'db', tls: dbTls, public: { appPort: app.port } }));
  const oldPort = publicPort(db);
  const probe = createNetServer();
  const newPort = await listening(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: dbTls,
      public: { appPort: app.port, bindPort: newPort },
    }),
  );
  t.is(publicPort(db), newPort);
  t.true(await refusedConnect(oldPort));
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [{ port: newPort }] }],
    }),
  );
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'moved'), 'moved');
});

test('without a leaf the public listener is bound but closes every connection', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(sidecarSnapshot({ service: 'db', tls: null, public: { appPort: app.port } }));
  const web = await startProxy(t, 'web');
  await web.apply(
    sidecarSnapshot({
      service: 'web',
      tls: await ca.tls('web'),
      upstreams: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }],
    }),
  );
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'x'), '');
  t.is(app.connections, 0);
  // The leaf arrives: same port, now serving.
  const port = publicPort(db);
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app.port } }),
  );
  t.is(publicPort(db), port);
  t.is(await tcpExchange(upstreamPort(web, 'db'), 'y'), 'y');
});

test('metrics are served on their own port in Prometheus text', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db', { metricsPort: 0 });
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app.port } }),
    7,
  );
  const addr = db.metricsAddress();
  t.truthy(addr);
  const res = await fetch(`http://127.0.0.1:${addr?.port}/metrics`);
  t.is(res.status, 200);
  const text = await res.text();
  t.regex(text, /^trellis_proxy_config_version 7$/m);
  t.regex(text, /# TYPE trellis_proxy_upstream_connect_seconds histogram/);
  t.regex(text, /# TYPE trellis_proxy_tls_handshake_errors_total counter/);
  t.is((await fetch(`http://127.0.0.1:${addr?.port}/other`)).status, 404);
  await waitFor('closed', async () => {
    await db.close();
    return true;
  });
  await t.throwsAsync(fetch(`http://127.0.0.1:${addr?.port}/metrics`));
});
