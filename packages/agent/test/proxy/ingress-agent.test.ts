/**
 * End to end with a real in-process dev agent: web and api (HTTP) and db (TCP) registered with
 * sidecars, an ingress-gateway service registered on the agent and its ingress-gateway config
 * entry written with PUT /v1/config; the gateway and the sidecars are configured over the
 * agent's proxy stream. Host routing, the default `<svc>.ingress.*` hosts, a TCP listener,
 * service-defaults LocalRequestTimeoutMs (504 at api's sidecar), and an intention denying the
 * gateway (403 at web's sidecar).
 */
import test from 'ava';
import { Proxy } from '@trellis/proxy';
import { devAgent, freePort, req, sidecar, type StreamStatusJson } from './dev-agent.js';
import { echoApp, hostGet, httpApp, tcpExchange, waitFor } from '@trellis/proxy/testing';

test('an ingress gateway configured by the agent routes HTTP by Host and TCP into the mesh', async (t) => {
  const { url, grpc } = await devAgent(t);
  const put = async (path: string, body: unknown) => {
    const r = await req(url, 'PUT', path, body);
    t.is(r.status, 200, `${path}: ${r.text}`);
    return r;
  };
  // Protocols first: an http ingress listener requires http services.
  await put('/v1/config', { Kind: 'service-defaults', Name: 'web', Protocol: 'http' });
  await put('/v1/config', {
    Kind: 'service-defaults',
    Name: 'api',
    Protocol: 'http',
    LocalRequestTimeoutMs: 300,
  });
  const webApp = await httpApp(t, 'web');
  const apiApp = await httpApp(t, 'api');
  const dbApp = await echoApp(t);
  const [webPublic, apiPublic, dbPublic, httpPort, tcpPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  await put('/v1/agent/service/register', sidecar('web', webApp.port, webPublic));
  await put('/v1/agent/service/register', sidecar('api', apiApp.port, apiPublic));
  await put('/v1/agent/service/register', sidecar('db', dbApp.port, dbPublic));
  await put('/v1/agent/service/register', {
    Kind: 'ingress-gateway',
    Name: 'ingress',
    Address: '127.0.0.1',
    Port: httpPort,
  });
  const entry = await put('/v1/config', {
    Kind: 'ingress-gateway',
    Name: 'ingress',
    Listeners: [
      {
        Port: httpPort,
        Protocol: 'http',
        Services: [{ Name: 'web' }, { Name: 'api', Hosts: ['api.example.com'] }],
      },
      { Port: tcpPort, Protocol: 'tcp', Services: [{ Name: 'db' }] },
    ],
  });
  t.is(entry.text, 'true');

  const proxies: Proxy[] = [];
  for (const id of ['web-sidecar-proxy', 'api-sidecar-proxy', 'db-sidecar-proxy', 'ingress']) {
    const p = await Proxy.start({ agentAddr: grpc, proxyId: id });
    t.teardown(() => p.close());
    proxies.push(p);
  }
  const gw = proxies[3] as Proxy;
  await waitFor('the gateway with its leaf, listeners and healthy endpoints', () => {
    const s = gw.snapshot;
    return (
      s?.kind === 'ingress-gateway' &&
      s.tls !== null &&
      s.gatewayListeners.length === 2 &&
      s.gatewayListeners.every((l) => l.services.every((svc) => svc.endpoints.length > 0))
    );
  });
  await waitFor('the sidecars listening', () =>
    proxies.slice(0, 3).every((p) => p.snapshot?.tls != null && p.publicAddress() !== null),
  );
  // Listeners come sorted by port; each is bound on the gateway's registered address.
  const listeners = gw.status().gatewayListeners;
  const httpListener = listeners.find((l) => l.port === httpPort);
  t.is(httpListener?.protocol, 'http');
  t.is(httpListener?.address?.address, '127.0.0.1');
  t.is(httpListener?.address?.port, httpPort);
  t.deepEqual(
    httpListener?.services.map((s) => s.name),
    ['web', 'api'],
  );
  t.is(listeners.find((l) => l.port === tcpPort)?.address?.port, tcpPort);
  const compiled = gw.snapshot?.gatewayListeners.find((l) => l.port === httpPort);
  t.deepEqual(compiled?.services[0]?.hosts, ['web.ingress.*', `web.ingress.*:${httpPort}`]);

  const web = await hostGet(httpPort, 'web.ingress.consul', '/hello');
  t.is(web.status, 200);
  t.is(web.body, 'web GET /hello');
  t.is((await hostGet(httpPort, `web.ingress.dc1.consul:${httpPort}`, '/')).status, 200);
  t.is((await hostGet(httpPort, 'api.example.com', '/v1')).body, 'api GET /v1');
  t.deepEqual(
    [(await hostGet(httpPort, 'unknown.example.com')).status, webApp.seen.length],
    [404, 2],
  );
  t.is(await tcpExchange(tcpPort, 'through the gateway'), 'through the gateway');

  // service-defaults LocalRequestTimeoutMs: api's sidecar gives up on its app after 300 ms.
  const started = Date.now();
  const slow = await hostGet(httpPort, 'api.example.com', '/slow?ms=3000');
  t.is(slow.status, 504);
  t.is(slow.body, 'upstream request timeout');
  t.true(Date.now() - started < 2_500);
  t.is((await hostGet(httpPort, 'web.ingress.consul', '/slow?ms=500')).status, 200);

  // An intention denying the gateway: web's sidecar answers 403; api is untouched.
  await put('/v1/config', {
    Kind: 'service-intentions',
    Name: 'web',
    Sources: [{ Name: 'ingress', Action: 'deny' }],
  });
  const denied = await waitFor('the deny at web', async () => {
    const r = await hostGet(httpPort, 'web.ingress.consul');
    return r.status === 403 ? r : undefined;
  });
  t.is(denied.body, 'RBAC: access denied');
  t.is((await hostGet(httpPort, 'api.example.com')).status, 200);

  // The agent saw the gateway's ACKs.
  const st = await waitFor('the ingress ACK', async () => {
    const s = (await req(url, 'GET', '/v1/agent/connect/proxy/ingress')).json<StreamStatusJson>();
    const s0 = s.Streams[0];
    return s0 !== undefined && s0.Version > 0 && s0.AckedVersion === s0.Version ? s0 : undefined;
  });
  t.is(st.LastNack, null);
});
