/**
 * HTTP upgrades: a real WebSocket echo app (the `ws` package) behind db's sidecar, reached
 * through web's upstream listener (and through the ingress gateway). The upgrade request is
 * decided by the L7 intentions like any request; allowed, it is forwarded with its upgrade
 * headers and the sockets are piped after the 101.
 */
import test, { type ExecutionContext } from 'ava';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws';
import type { IntentionRule, SnapshotTls } from '@trellis/connect';
import {
  gatewayPort,
  gatewaySnapshot,
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

/** A WebSocket echo app; `upgrades` holds the headers of every upgrade request it accepted. */
async function wsEchoApp(t: ExecutionContext) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const app = {
    wss,
    port: (wss.address() as { port: number }).port,
    upgrades: [] as IncomingHttpHeaders[],
    clients: [] as WebSocket[],
  };
  wss.on('connection', (ws, req) => {
    app.upgrades.push(req.headers);
    app.clients.push(ws);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return app;
}

function openWs(t: ExecutionContext, url: string, o: ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 10_000, ...o });
    t.teardown(() => ws.terminate());
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** The answer to an upgrade that is not a 101. */
function wsRefusal(url: string, o: ClientOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 10_000, ...o });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('error', (e) => reject(e));
  });
}

function echo(ws: WebSocket, data: string | Buffer): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    ws.once('error', onError);
    ws.once('message', (d, binary) => {
      ws.off('error', onError);
      resolve({ data: d as Buffer, binary });
    });
    ws.send(data);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve(1006);
    else ws.once('close', (code) => resolve(code));
  });
}

/** db (WebSocket app, http protocol, L7 intentions) ← web's upstream listener. */
async function pair(
  t: ExecutionContext,
  appPort: number,
  o: { rules?: IntentionRule[]; localRequestTimeoutMs?: number } = {},
) {
  const ca = await newCa();
  const db = await startProxy(t, 'db');
  const allowChat = [
    rule('web', 'db', undefined, [{ Action: 'allow', HTTP: { PathPrefix: '/chat' } }]),
  ];
  const dbSnap = (tls: SnapshotTls, rules = o.rules ?? allowChat) =>
    sidecarSnapshot({
      service: 'db',
      tls,
      public: {
        appPort,
        protocol: 'http',
        defaultAllow: false,
        rules,
        ...(o.localRequestTimeoutMs !== undefined
          ? { localRequestTimeoutMs: o.localRequestTimeoutMs }
          : {}),
      },
    });
  await db.apply(dbSnap(await ca.tls('db')));
  const web = await startProxy(t, 'web');
  const webSnap = (tls: SnapshotTls) =>
    sidecarSnapshot({
      service: 'web',
      tls,
      upstreams: [{ name: 'db', protocol: 'http', endpoints: [{ port: publicPort(db) }] }],
    });
  await web.apply(webSnap(await ca.tls('web')));
  return { ca, db, web, dbSnap, webSnap, port: upstreamPort(web, 'db') };
}

test('WebSocket echo through two sidecars, authorized at L7; a denied upgrade gets 403', async (t) => {
  const app = await wsEchoApp(t);
  const { db, web, port } = await pair(t, app.port);
  const ws = await openWs(t, `ws://127.0.0.1:${port}/chat/room1`);
  const text = await echo(ws, 'hello');
  t.is(text.data.toString(), 'hello');
  t.false(text.binary);
  const big = Buffer.alloc(200_000, 7);
  const bin = await echo(ws, big);
  t.true(bin.binary);
  t.true(bin.data.equals(big));
  for (let i = 0; i < 50; i++) t.is((await echo(ws, `m${i}`)).data.toString(), `m${i}`);
  // The app saw the upgrade with the caller's identity in XFCC.
  t.is(app.upgrades.length, 1);
  t.regex(
    String(app.upgrades[0]?.['x-forwarded-client-cert']),
    new RegExp(`URI=${spiffe('web')}$`),
  );
  t.is(app.upgrades[0]?.upgrade, 'websocket');

  // Denied by the L7 intention (path): Envoy's 403, the app never sees it.
  const denied = await wsRefusal(`ws://127.0.0.1:${port}/admin`);
  t.deepEqual(denied, { status: 403, body: 'RBAC: access denied' });
  t.is(app.upgrades.length, 1);
  t.is(await db.metrics.value('trellis_proxy_intention_denials_total', { layer: 'l7' }), 1);

  // A close from the client ends both sides; the 101 is counted once the connection ends.
  ws.close(1000, 'bye');
  t.is(await closed(ws), 1000);
  await waitFor(
    'the upgraded request counted',
    async () =>
      (await db.metrics.value('trellis_proxy_http_requests_total', { code: '101' })) === 1 &&
      (await web.metrics.value('trellis_proxy_http_requests_total', { code: '101' })) === 1,
  );
  t.is(await web.metrics.value('trellis_proxy_http_requests_total', { code: '403' }), 1);
});

test('an open WebSocket survives new versions and leaf rotation; the app closing ends it; a deny closes it', async (t) => {
  const app = await wsEchoApp(t);
  const { ca, db, web, dbSnap, webSnap, port } = await pair(t, app.port);
  const ws = await openWs(t, `ws://127.0.0.1:${port}/chat`);
  t.is((await echo(ws, 'before')).data.toString(), 'before');
  await db.apply(dbSnap(await ca.tls('db')));
  await web.apply(webSnap(await ca.tls('web')));
  t.is((await echo(ws, 'after')).data.toString(), 'after');
  // A second socket after the rotation works too.
  const ws2 = await openWs(t, `ws://127.0.0.1:${port}/chat`);
  t.is((await echo(ws2, 'new')).data.toString(), 'new');
  // The app closes the first one: the close reaches the client through both sidecars.
  app.clients[0]?.close(4000, 'server says bye');
  t.is(await closed(ws), 4000);
  t.is((await echo(ws2, 'still')).data.toString(), 'still');
  // An intention that now denies the upgrade request closes the upgraded connection.
  const tls = await ca.tls('db');
  await db.apply(
    dbSnap(tls, [
      rule('web', 'db', undefined, [{ Action: 'allow', HTTP: { PathPrefix: '/chat/only' } }]),
    ]),
  );
  t.is(await closed(ws2), 1006);
  t.is(await db.metrics.value('trellis_proxy_intention_denials_total', { layer: 'l7' }), 1);
});

test('upgrades: no 101 within local_request_timeout_ms → 504; an app refusing the upgrade is passed through', async (t) => {
  const sockets = new Set<Socket>();
  const server = createHttpServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req, socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    if (req.url === '/chat/refuse') {
      socket.end(
        'HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nnope',
      );
    }
    // /chat/hang: never answered
  });
  const appPort = await listening(server);
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = await pair(t, appPort, { localRequestTimeoutMs: 300 });
  const started = Date.now();
  t.deepEqual(await wsRefusal(`ws://127.0.0.1:${port}/chat/hang`), {
    status: 504,
    body: 'upstream request timeout',
  });
  t.true(Date.now() - started < 5_000);
  t.deepEqual(await wsRefusal(`ws://127.0.0.1:${port}/chat/refuse`), {
    status: 401,
    body: 'nope',
  });
});

test('WebSocket through the ingress gateway, routed by Host; the gateway is the source at db', async (t) => {
  const app = await wsEchoApp(t);
  const ca = await newCa();
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: await ca.tls('db'),
      public: {
        appPort: app.port,
        protocol: 'http',
        defaultAllow: false,
        rules: [
          rule('ingress', 'db', undefined, [{ Action: 'allow', HTTP: { PathPrefix: '/chat' } }]),
        ],
      },
    }),
  );
  const gw = await startProxy(t, 'ingress', { proxyId: 'ingress' });
  await gw.apply(
    gatewaySnapshot({
      service: 'ingress',
      tls: await ca.tls('ingress'),
      listeners: [
        { protocol: 'http', services: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }] },
      ],
    }),
  );
  const port = gatewayPort(gw, 0);
  const headers = { host: 'db.ingress.consul' };
  const ws = await openWs(t, `ws://127.0.0.1:${port}/chat`, { headers });
  t.is((await echo(ws, 'via ingress')).data.toString(), 'via ingress');
  t.regex(
    String(app.upgrades[0]?.['x-forwarded-client-cert']),
    new RegExp(`URI=${spiffe('ingress')}$`),
  );
  t.is(app.upgrades[0]?.host, 'db.ingress.consul');
  t.deepEqual(await wsRefusal(`ws://127.0.0.1:${port}/admin`, { headers }), {
    status: 403,
    body: 'RBAC: access denied',
  });
  t.deepEqual(
    await wsRefusal(`ws://127.0.0.1:${port}/chat`, { headers: { host: 'nope.example.com' } }),
    { status: 404, body: 'route_not_found' },
  );
  ws.close();
  await closed(ws);
});
