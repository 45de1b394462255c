/**
 * The ingress gateway fed hand-made snapshots: plain HTTP and TCP from outside, routed by
 * Host to the services' sidecars over mutual TLS with the gateway's own identity, so the
 * destination sidecars decide intentions with `ingress` as the source.
 */
import test, { type ExecutionContext } from 'ava';
import { Agent } from 'node:http';
import type { IntentionRule, SnapshotTls } from '@trellis/connect';
import { ProxyConfigError, compileGatewayRoutes, routeHost, type Proxy } from '../src/index.js';
import {
  TcpClient,
  echoApp,
  gatewayPort,
  gatewaySnapshot,
  hostGet,
  httpApp,
  newCa,
  publicPort,
  rule,
  sidecarSnapshot,
  spiffe,
  startProxy,
  tcpExchange,
  type Ca,
  type GatewaySpec,
} from './helpers.js';

async function gateway(t: ExecutionContext, name = 'ingress'): Promise<Proxy> {
  return startProxy(t, name, { proxyId: name });
}

/** An HTTP app behind its sidecar (public listener protocol http). */
async function httpService(
  t: ExecutionContext,
  ca: Ca,
  name: string,
  o: { rules?: IntentionRule[]; defaultAllow?: boolean } = {},
) {
  const app = await httpApp(t, name);
  const proxy = await startProxy(t, name);
  await proxy.apply(
    sidecarSnapshot({
      service: name,
      tls: await ca.tls(name),
      public: {
        appPort: app.port,
        protocol: 'http',
        rules: o.rules ?? [],
        defaultAllow: o.defaultAllow ?? true,
      },
    }),
  );
  return { app, proxy, port: publicPort(proxy) };
}

test('HTTP listener: Host routes to two services, default <svc>.ingress.* and :port forms, unknown host 404', async (t) => {
  const ca = await newCa();
  const web = await httpService(t, ca, 'web');
  const api = await httpService(t, ca, 'api');
  const gw = await gateway(t);
  const tls = await ca.tls('ingress');
  await gw.apply(
    gatewaySnapshot({
      service: 'ingress',
      tls,
      listeners: [
        {
          protocol: 'http',
          services: [
            { name: 'web', endpoints: [{ port: web.port }] },
            { name: 'api', endpoints: [{ port: api.port }], hosts: ['api.example.com'] },
          ],
        },
      ],
    }),
  );
  const port = gatewayPort(gw, 0);
  const cases: Array<[string | undefined, number, string]> = [
    ['web.ingress.consul', 200, 'web GET /x'],
    ['web.ingress.consul:8080', 200, 'web GET /x'],
    ['WEB.Ingress.dc1.consul', 200, 'web GET /x'],
    ['api.example.com', 200, 'api GET /x'],
    ['api.example.com:8080', 200, 'api GET /x'],
    // api has hosts of its own: no default form.
    ['api.ingress.consul', 404, 'route_not_found'],
    ['web.ingress.', 404, 'route_not_found'],
    ['other.example.com', 404, 'route_not_found'],
  ];
  for (const [host, status, body] of cases) {
    const r = await hostGet(port, host, '/x');
    t.is(r.status, status, `Host: ${host}`);
    t.is(r.body, body, `Host: ${host}`);
  }
  // HTTP/1.1 without a Host header is a bad request (as for Envoy).
  t.is((await hostGet(port, undefined, '/x')).status, 400);
  // The sidecars saw the gateway's identity (XFCC URI) and the original Host header.
  const seen = web.app.seen[0];
  t.is(seen?.headers.host, 'web.ingress.consul');
  t.regex(
    String(seen?.headers['x-forwarded-client-cert']),
    new RegExp(`URI=${spiffe('ingress')}$`),
  );
  t.is(web.app.seen.length, 3);
  t.is(api.app.seen.length, 2);
  const label = `ingress:${port}`;
  t.is(await gw.metrics.value('trellis_proxy_http_requests_total', { listener: label }), 8);
  t.is(await gw.metrics.value('trellis_proxy_http_requests_total', { code: '404' }), 3);
  t.deepEqual(
    gw.status().gatewayListeners[0]?.services.map((s) => [s.name, s.endpoints.length]),
    [
      ['web', 1],
      ['api', 1],
    ],
  );
});

test('HTTP listener: keep-alive pools to the sidecars; no endpoints is 503 no healthy upstream', async (t) => {
  const ca = await newCa();
  const web = await httpService(t, ca, 'web');
  const gw = await gateway(t);
  await gw.apply(
    gatewaySnapshot({
      service: 'ingress',
      tls: await ca.tls('ingress'),
      listeners: [
        {
          protocol: 'http',
          services: [
            { name: 'web', endpoints: [{ port: web.port }] },
            { name: 'api', endpoints: [] },
          ],
        },
      ],
    }),
  );
  const port = gatewayPort(gw, 0);
  for (let i = 0; i < 10; i++) t.is((await hostGet(port, 'web.ingress.consul')).status, 200);
  // Ten requests, each on a new downstream connection, one mTLS connection to the sidecar.
  t.is(await web.proxy.metrics.value('trellis_proxy_connections_total', { listener: 'public' }), 1);
  const r = await hostGet(port, 'api.ingress.consul');
  t.is(r.status, 503);
  t.is(r.body, 'no healthy upstream');
  t.is(await gw.metrics.value('trellis_proxy_upstream_no_healthy_total', { upstream: 'api' }), 1);
});

test('TCP listener: bytes to its one service over mTLS; a tcp listener with two services is refused', async (t) => {
  const ca = await newCa();
  const app = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: app.port } }),
  );
  const gw = await gateway(t);
  const tls = await ca.tls('ingress');
  const spec: GatewaySpec = {
    service: 'ingress',
    tls,
    listeners: [
      { protocol: 'tcp', services: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }] },
    ],
  };
  await gw.apply(gatewaySnapshot(spec), 1);
  const port = gatewayPort(gw, 0);
  t.is(await tcpExchange(port, 'hello db'), 'hello db');
  t.is(app.connections, 1);
  t.is(await db.metrics.value('trellis_proxy_connections_total', { listener: 'public' }), 1);

  const err = await t.throwsAsync(
    gw.apply(
      gatewaySnapshot({
        ...spec,
        listeners: [
          {
            protocol: 'tcp',
            services: [
              { name: 'db', endpoints: [{ port: publicPort(db) }] },
              { name: 'cache', endpoints: [] },
            ],
          },
        ],
      }),
      2,
    ),
    { instanceOf: ProxyConfigError },
  );
  t.regex(err?.message ?? '', /a tcp listener has exactly one service \(it has 2\)/);
  t.is(gw.version, 1);
  t.is(await tcpExchange(port, 'still'), 'still');
});

test('the gateway dials with its own identity: an intention denying ingress gets 403 (HTTP) or a close (TCP) at the destination', async (t) => {
  const ca = await newCa();
  const web = await httpService(t, ca, 'web', { rules: [rule('ingress', 'web', 'deny')] });
  const api = await httpService(t, ca, 'api', {
    defaultAllow: false,
    rules: [rule('ingress', 'api', 'allow')],
  });
  const echo = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({
      service: 'db',
      tls: await ca.tls('db'),
      public: { appPort: echo.port, defaultAllow: false, rules: [rule('web', 'db', 'allow')] },
    }),
  );
  const gw = await gateway(t);
  await gw.apply(
    gatewaySnapshot({
      service: 'ingress',
      tls: await ca.tls('ingress'),
      listeners: [
        {
          protocol: 'http',
          services: [
            { name: 'web', endpoints: [{ port: web.port }] },
            { name: 'api', endpoints: [{ port: api.port }] },
          ],
        },
        { protocol: 'tcp', services: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }] },
      ],
    }),
  );
  const denied = await hostGet(gatewayPort(gw, 0), 'web.ingress.consul');
  t.is(denied.status, 403);
  t.is(denied.body, 'RBAC: access denied');
  t.is(web.app.seen.length, 0);
  t.is((await hostGet(gatewayPort(gw, 0), 'api.ingress.consul')).status, 200);
  t.is(await tcpExchange(gatewayPort(gw, 1), 'x'), '');
  t.is(echo.connections, 0);
  t.is(await db.metrics.value('trellis_proxy_intention_denials_total', { layer: 'l4' }), 1);
  t.is(await web.proxy.metrics.value('trellis_proxy_intention_denials_total', { layer: 'l7' }), 1);
});

test('new versions keep the listeners and open connections; services come and go', async (t) => {
  const ca = await newCa();
  const web = await httpService(t, ca, 'web');
  const api = await httpService(t, ca, 'api');
  const echo = await echoApp(t);
  const db = await startProxy(t, 'db');
  await db.apply(
    sidecarSnapshot({ service: 'db', tls: await ca.tls('db'), public: { appPort: echo.port } }),
  );
  const gw = await gateway(t);
  const snap = (tls: SnapshotTls, withApi: boolean, httpPort: number, tcpPort: number) =>
    gatewaySnapshot({
      service: 'ingress',
      tls,
      listeners: [
        {
          protocol: 'http',
          port: httpPort,
          services: [
            { name: 'web', endpoints: [{ port: web.port }] },
            ...(withApi ? [{ name: 'api', endpoints: [{ port: api.port }] }] : []),
          ],
        },
        {
          protocol: 'tcp',
          port: tcpPort,
          services: [{ name: 'db', endpoints: [{ port: publicPort(db) }] }],
        },
      ],
    });
  await gw.apply(snap(await ca.tls('ingress'), false, 0, 0), 1);
  // Fix the ports the first version got, as the agent would.
  const httpPort = gatewayPort(gw, 0);
  const tcpPort = gatewayPort(gw, 1);
  await gw.apply(snap(await ca.tls('ingress'), false, httpPort, tcpPort), 2);
  t.is(gatewayPort(gw, 0), httpPort);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.is((await hostGet(httpPort, 'web.ingress.consul', '/', { agent })).status, 200);
  t.is((await hostGet(httpPort, 'api.ingress.consul', '/', { agent })).status, 404);
  const held = new TcpClient(tcpPort);
  await held.roundTrip('one');

  // A new leaf and a new service: same sockets, the new route works.
  await gw.apply(snap(await ca.tls('ingress'), true, httpPort, tcpPort), 3);
  t.is(gatewayPort(gw, 0), httpPort);
  t.is(gatewayPort(gw, 1), tcpPort);
  t.is((await hostGet(httpPort, 'api.ingress.consul', '/', { agent })).status, 200);
  t.is((await hostGet(httpPort, 'web.ingress.consul', '/', { agent })).status, 200);
  await held.roundTrip('two', 'onetwo');
  t.false(held.closed);
  const label = `ingress:${httpPort}`;
  t.is(await gw.metrics.value('trellis_proxy_connections_total', { listener: label }), 1);

  // api removed again: its host is unrouted at once on the same connection.
  await gw.apply(snap(await ca.tls('ingress'), false, httpPort, tcpPort), 4);
  t.is((await hostGet(httpPort, 'api.ingress.consul', '/', { agent })).status, 404);
  await held.roundTrip('three', 'onetwothree');
  held.destroy();
});

test('Host matching follows Envoy: exact, then leading wildcards, then trailing ones, longest first, then *', (t) => {
  const routes = compileGatewayRoutes(
    {
      bindAddress: '127.0.0.1',
      port: 8080,
      protocol: 'http',
      services: [
        { name: 'a', hosts: ['a.example.com', '*.example.com'], ...noEndpoints() },
        {
          name: 'b',
          hosts: ['*.b.example.com', 'b.ingress.*', 'b.ingress.*:8080'],
          ...noEndpoints(),
        },
        { name: 'c', hosts: ['*'], ...noEndpoints() },
        { name: 'd', hosts: ['d.ingress.dc1.*'], ...noEndpoints() },
      ],
    },
    'l',
  );
  const cases: Array<[string | undefined, string | undefined]> = [
    ['a.example.com', 'a'],
    ['x.example.com', 'a'],
    ['x.b.example.com', 'b'],
    ['b.example.com', 'a'],
    ['b.ingress.consul', 'b'],
    ['b.ingress.consul:8080', 'b'],
    ['b.ingress.', 'c'],
    ['d.ingress.dc1.consul', 'd'],
    ['d.ingress.consul', 'c'],
    ['nothing', 'c'],
    [undefined, 'c'],
  ];
  for (const [host, want] of cases) t.is(routeHost(routes, host), want, `host ${host}`);
  t.throws(
    () =>
      compileGatewayRoutes(
        {
          bindAddress: '127.0.0.1',
          port: 1,
          protocol: 'http',
          services: [
            { name: 'a', hosts: ['x.example.com'], ...noEndpoints() },
            { name: 'b', hosts: ['X.example.com'], ...noEndpoints() },
          ],
        },
        'gatewayListeners[0]',
      ),
    { message: /gatewayListeners\[0\]: host X\.example\.com is routed to both a and b/ },
  );
});

function noEndpoints() {
  return { connectTimeoutMs: 1000, expectedSpiffeIds: [], endpoints: [] };
}
