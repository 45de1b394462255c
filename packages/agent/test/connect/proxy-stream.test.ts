/**
 * The proxy configuration stream on a real in-process dev agent, over real sockets: a proxy
 * (an RpcClient stream) gets a versioned snapshot with its leaf, roots, intentions and the
 * healthy endpoints of its upstreams; every change yields a new version; ACK/NACK are
 * recorded; a reconnect starts over; unknown proxies and bad messages are refused.
 */
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import {
  PROXY_CONFIG_METHOD,
  decodeProxyStreamDown,
  type ProxySnapshot,
  type ProxyStreamDown,
} from '@trellis/connect';
import { RPC_PATH, RpcClient, type RpcStream } from '@trellis/rpc';
import {
  devAgent as startDevAgent,
  req as httpReq,
  waitFor,
  type Teardown,
} from '../http/dev-agent.js';

async function devAgent(t: Teardown) {
  const d = await startDevAgent(t, {
    extra: {
      ports: { http: 0, dns: -1, grpc: 0, server: 0, serf_lan: 0 },
      ae_interval: '1s',
      check_update_interval: '0s',
    },
  });
  const port = d.agent.proxies?.address()?.port ?? 0;
  return { agent: d.agent, url: d.url, port };
}

const req = httpReq;

/** A proxy's end of the stream: every message decoded, kept in order. */
class FakeProxy {
  readonly got: ProxyStreamDown[] = [];
  readonly stream: RpcStream;
  readonly done: Promise<void>;
  constructor(
    readonly client: RpcClient,
    stream: RpcStream,
    readonly autoAck = true,
  ) {
    this.stream = stream;
    this.done = (async () => {
      try {
        for await (const m of stream) {
          const d = decodeProxyStreamDown(m);
          this.got.push(d);
          if (d.type === 'snapshot' && this.autoAck)
            await stream.send({ type: 'ack', version: d.version });
        }
      } catch {
        // cancelled
      }
    })();
  }
  static async open(port: number, proxyId: string, autoAck = true): Promise<FakeProxy> {
    const client = new RpcClient({ url: `ws://127.0.0.1:${port}${RPC_PATH}`, nodeName: 'proxy' });
    const conn = await client.connection({ timeoutMs: 5_000 });
    return new FakeProxy(client, conn.openStream(PROXY_CONFIG_METHOD, { proxyId }), autoAck);
  }
  snapshots(): Array<{ version: number; snapshot: ProxySnapshot }> {
    return this.got.flatMap((m) =>
      m.type === 'snapshot' ? [{ version: m.version, snapshot: m.snapshot }] : [],
    );
  }
  latest(): { version: number; snapshot: ProxySnapshot } | undefined {
    return this.snapshots().at(-1);
  }
  async close(): Promise<void> {
    this.stream.cancel();
    await this.client.close();
  }
}

const webWithSidecar = {
  Name: 'web',
  Port: 8080,
  Connect: {
    SidecarService: {
      Proxy: { Upstreams: [{ DestinationName: 'db', LocalBindPort: 9191 }] },
    },
  },
};

test('a sidecar gets its snapshot, then a new version for each change: intention, endpoints, health', async (t) => {
  const { url, port } = await devAgent(t);
  t.is((await req(url, 'PUT', '/v1/agent/service/register', webWithSidecar)).status, 200);
  const proxy = await FakeProxy.open(port, 'web-sidecar-proxy');
  t.teardown(() => proxy.close());

  // Version 1 arrives once roots and the leaf are there.
  const first = await waitFor('a snapshot with a leaf', () => {
    const s = proxy.latest();
    return s !== undefined && s.snapshot.tls !== null ? s : undefined;
  });
  t.is(first.snapshot.kind, 'connect-proxy');
  t.is(first.snapshot.service, 'web');
  t.regex(
    first.snapshot.spiffeId,
    /^spiffe:\/\/[0-9a-f-]+\.consul\/ns\/default\/dc\/dc1\/svc\/web$/,
  );
  const leaf = new X509Certificate(first.snapshot.tls?.certPem ?? '');
  t.true(leaf.subjectAltName?.includes(first.snapshot.spiffeId));
  t.true(leaf.verify(new X509Certificate(first.snapshot.tls?.rootPems[0] ?? '').publicKey));
  t.is(first.snapshot.publicListener?.localApp.port, 8080);
  t.deepEqual(
    first.snapshot.upstreams.map((u) => [u.id, u.bindPort, u.endpoints.length]),
    [['db', 9191, 0]],
  );
  // Versions are consecutive from 1 and every one is acknowledged.
  t.deepEqual(
    proxy.snapshots().map((s) => s.version),
    proxy.snapshots().map((_, i) => i + 1),
  );

  // An intention: a new version whose rules deny `*`.
  const before = proxy.latest()?.version ?? 0;
  t.is(
    (
      await req(url, 'PUT', '/v1/config', {
        Kind: 'service-intentions',
        Name: 'web',
        Sources: [{ Name: '*', Action: 'deny' }],
      })
    ).text,
    'true',
  );
  const withIntention = await waitFor('the intention in a snapshot', () => {
    const s = proxy.latest();
    return s !== undefined &&
      s.version > before &&
      JSON.stringify(s.snapshot.publicListener?.authz).includes('deny')
      ? s
      : undefined;
  });
  t.true(withIntention.version > before);

  // The upstream `db` appears on another node with a sidecar: its endpoint is the sidecar's
  // public listener, at the node's address.
  const dbSidecar = (status: string) => ({
    Node: 'n2',
    Address: '10.0.0.2',
    Service: {
      ID: 'db-sidecar-proxy',
      Service: 'db-sidecar-proxy',
      Kind: 'connect-proxy',
      Port: 21500,
      Proxy: { DestinationServiceName: 'db', DestinationServiceID: 'db', LocalServicePort: 5432 },
    },
    Check: {
      CheckID: 'db-sidecar-alive',
      Name: 'alive',
      Status: status,
      ServiceID: 'db-sidecar-proxy',
    },
  });
  t.is((await req(url, 'PUT', '/v1/catalog/register', dbSidecar('passing'))).text, 'true');
  const withDb = await waitFor('db endpoints', () => {
    const s = proxy.latest();
    const u = s?.snapshot.upstreams.find((x) => x.id === 'db');
    return u !== undefined && u.endpoints.length === 1 ? u : undefined;
  });
  t.like(withDb.endpoints[0], { address: '10.0.0.2', port: 21500 });
  t.regex(withDb.expectedSpiffeIds[0] ?? '', /\/svc\/db$/);

  // Its check turns critical: the endpoint leaves the snapshot.
  t.is((await req(url, 'PUT', '/v1/catalog/register', dbSidecar('critical'))).text, 'true');
  await waitFor(
    'db endpoint dropped',
    () => proxy.latest()?.snapshot.upstreams.find((x) => x.id === 'db')?.endpoints.length === 0,
  );

  // The agent saw every ACK.
  const status = (await req(url, 'GET', '/v1/agent/connect/proxy/web-sidecar-proxy')).json<{
    Streams: Array<{ Version: number; AckedVersion: number; LastNack: unknown }>;
  }>();
  await waitFor('acks', async () => {
    const s = (await req(url, 'GET', '/v1/agent/connect/proxy/web-sidecar-proxy')).json<
      typeof status
    >();
    return s.Streams[0] !== undefined && s.Streams[0].AckedVersion === s.Streams[0].Version;
  });
  t.is(status.Streams.length, 1);
  t.is(status.Streams[0]?.LastNack, null);
});

test('a NACK is recorded and visible; the next change still yields a new version', async (t) => {
  const { url, port } = await devAgent(t);
  await req(url, 'PUT', '/v1/agent/service/register', webWithSidecar);
  const proxy = await FakeProxy.open(port, 'web-sidecar-proxy', false);
  t.teardown(() => proxy.close());
  const v = await waitFor('a snapshot', () => proxy.latest());
  await proxy.stream.send({
    type: 'nack',
    version: v.version,
    error: 'listener 9191: address in use',
  });
  const st = await waitFor('the nack in the status', async () => {
    const s = (await req(url, 'GET', '/v1/agent/connect/proxy/web-sidecar-proxy')).json<{
      Streams: Array<{ LastNack: { Version: number; Error: string } | null; AckedVersion: number }>;
    }>();
    return s.Streams[0]?.LastNack !== null && s.Streams[0]?.LastNack !== undefined
      ? s.Streams[0]
      : undefined;
  });
  t.is(st.LastNack?.Error, 'listener 9191: address in use');
  t.is(st.AckedVersion, 0);
  // A version never sent and a malformed message are ignored; the stream keeps serving.
  await proxy.stream.send({ type: 'ack', version: 999 });
  await proxy.stream.send({ type: 'bogus' });
  await proxy.stream.send('junk');
  const n = proxy.latest()?.version ?? 0;
  await req(url, 'PUT', '/v1/config', {
    Kind: 'service-intentions',
    Name: 'web',
    Sources: [{ Name: 'api', Action: 'allow' }],
  });
  await waitFor('a newer version', () => (proxy.latest()?.version ?? 0) > n);
  t.pass();
});

test('a reconnecting proxy starts over at version 1 with the current state; unknown proxies are refused', async (t) => {
  const { url, port } = await devAgent(t);
  await req(url, 'PUT', '/v1/agent/service/register', webWithSidecar);
  const a = await FakeProxy.open(port, 'web-sidecar-proxy');
  await waitFor('a snapshot', () => a.latest()?.snapshot.tls !== null && a.latest() !== undefined);
  await a.close();
  const b = await FakeProxy.open(port, 'web-sidecar-proxy');
  t.teardown(() => b.close());
  const s = await waitFor('a snapshot after reconnecting', () => b.latest());
  t.is(s.version, 1);
  await waitFor('the old stream is gone', async () => {
    const st = (await req(url, 'GET', '/v1/agent/connect/proxy/web-sidecar-proxy')).json<{
      Streams: unknown[];
    }>();
    return st.Streams.length === 1;
  });

  for (const id of ['nope', 'web']) {
    const p = await FakeProxy.open(port, id);
    await p.done;
    t.deepEqual(
      p.got.map((m) => m.type),
      ['error'],
      id,
    );
    await p.close();
  }
  const client = new RpcClient({ url: `ws://127.0.0.1:${port}${RPC_PATH}`, nodeName: 'proxy' });
  t.teardown(() => client.close());
  const conn = await client.connection({ timeoutMs: 5_000 });
  for (const body of [null, {}, { proxyId: '' }, { proxyId: 'x'.repeat(300) }, { proxyId: 42 }]) {
    const st = conn.openStream(PROXY_CONFIG_METHOD, body);
    const got: unknown[] = [];
    for await (const m of st) got.push(m);
    t.like(got[0], { type: 'error' }, JSON.stringify(body));
  }
});

test('an ingress gateway gets listeners from its config entry, services without Hosts included', async (t) => {
  const { url, port } = await devAgent(t);
  const put = async (path: string, body: unknown) =>
    t.is((await req(url, 'PUT', path, body)).status, 200, path);
  await put('/v1/config', { Kind: 'service-defaults', Name: 'web', Protocol: 'http' });
  await put('/v1/agent/service/register', {
    Name: 'web',
    Port: 8080,
    Connect: { SidecarService: { Checks: [{ Name: 'up', TTL: '1h', Status: 'passing' }] } },
  });
  await put('/v1/agent/service/register', {
    Kind: 'ingress-gateway',
    Name: 'ingress',
    Address: '127.0.0.1',
  });
  await put('/v1/config', {
    Kind: 'ingress-gateway',
    Name: 'ingress',
    Listeners: [
      { Port: 8081, Protocol: 'http', Services: [{ Name: 'web' }] },
      { Port: 9000, Protocol: 'tcp', Services: [{ Name: 'db' }] },
    ],
  });
  const gw = await FakeProxy.open(port, 'ingress');
  t.teardown(() => gw.close());
  const s = await waitFor('a gateway snapshot with web healthy', () => {
    const l = gw.latest()?.snapshot;
    return l?.tls != null && (l.gatewayListeners[0]?.services[0]?.endpoints.length ?? 0) > 0
      ? l
      : undefined;
  });
  t.is(s.kind, 'ingress-gateway');
  t.deepEqual(
    s.gatewayListeners.map((l) => [
      l.bindAddress,
      l.port,
      l.protocol,
      l.services.map((x) => x.name),
    ]),
    [
      ['127.0.0.1', 8081, 'http', ['web']],
      ['127.0.0.1', 9000, 'tcp', ['db']],
    ],
  );
  t.deepEqual(s.gatewayListeners[0]?.services[0]?.hosts, ['web.ingress.*', 'web.ingress.*:8081']);
  t.true(s.spiffeId.endsWith('/svc/ingress'));
});
