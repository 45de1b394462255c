/**
 * The stream client against a scripted agent (an RpcServer serving Connect.ProxyConfig):
 * ACK and NACK per version, the last good version kept, and a new stream after the agent
 * goes away and comes back on the same port.
 */
import test from 'ava';
import { PROXY_CONFIG_METHOD, type ProxySnapshot } from '@trellis/connect';
import { Handlers, RpcServer, type RpcStream } from '@trellis/rpc';
import { Proxy } from '../src/index.js';
import { newCa, proxyIdOf, sidecarSnapshot, waitFor } from './helpers.js';

/** A scripted agent: records every open and every message from the proxy. */
class FakeAgent {
  readonly opens: unknown[] = [];
  readonly up: unknown[] = [];
  streams: RpcStream[] = [];
  server!: RpcServer;
  static async start(port = 0): Promise<FakeAgent> {
    const a = new FakeAgent();
    a.server = await RpcServer.listen({
      host: '127.0.0.1',
      port,
      handlers: new Handlers().stream(PROXY_CONFIG_METHOD, async (stream, body) => {
        a.opens.push(body);
        a.streams.push(stream);
        try {
          for await (const m of stream) a.up.push(m);
        } catch {
          // closed
        }
      }),
    });
    return a;
  }
  get port(): number {
    return this.server.address().port;
  }
  latest(): RpcStream {
    const s = this.streams.at(-1);
    if (s === undefined) throw new Error('no stream');
    return s;
  }
  send(version: number, snapshot: unknown): Promise<void> {
    return this.latest().send({ type: 'snapshot', version, snapshot });
  }
}

test('ACKs applied versions, NACKs the rest with the reason, keeps the last good one, reconnects', async (t) => {
  const ca = await newCa();
  let agent = await FakeAgent.start();
  const port = agent.port;
  const proxy = await Proxy.start({ agentAddr: `127.0.0.1:${port}`, proxyId: proxyIdOf('web') });
  t.teardown(() => proxy.close());
  await waitFor('the stream', () => agent.streams.length === 1);
  t.deepEqual(agent.opens, [{ proxyId: 'web-sidecar-proxy' }]);

  const good: ProxySnapshot = sidecarSnapshot({
    service: 'web',
    tls: await ca.tls('web'),
    upstreams: [{ name: 'db', endpoints: [] }],
  });
  await agent.send(1, good);
  await waitFor('ack 1', () => agent.up.length === 1);
  t.deepEqual(agent.up[0], { type: 'ack', version: 1 });
  t.truthy(proxy.upstreamAddress('db'));

  await agent.send(2, { ...good, tls: { ...good.tls, keyPem: 'garbage' } });
  await agent.send(3, { kind: 'nonsense' });
  await agent.send(4, { ...good, upstreams: [] });
  await waitFor('three answers', () => agent.up.length === 4);
  t.like(agent.up[1], { type: 'nack', version: 2 });
  t.regex((agent.up[1] as { error: string }).error, /^tls: /);
  t.like(agent.up[2], { type: 'nack', version: 3 });
  t.deepEqual(agent.up[3], { type: 'ack', version: 4 });
  t.is(proxy.version, 4);
  t.is(proxy.upstreamAddress('db'), null);
  t.is(proxy.status().lastNack?.version, 3);

  // The agent goes away and comes back on the same port: a new stream, version 1 again.
  await agent.server.close();
  await waitFor('backing off', () => proxy.status().stream?.state !== 'open');
  agent = await FakeAgent.start(port);
  await waitFor('a new stream', () => agent.streams.length === 1, 20_000);
  await agent.send(1, good);
  await waitFor('ack after reconnecting', () => agent.up.length === 1);
  t.deepEqual(agent.up[0], { type: 'ack', version: 1 });
  t.truthy(proxy.upstreamAddress('db'));
  t.true((proxy.status().stream?.opened ?? 0) >= 2);
  await proxy.close();
  t.is(proxy.status().stream?.state, 'closed');
  await agent.server.close();
});

test('an error message from the agent ends the stream; the proxy tries again', async (t) => {
  const refusals: number[] = [];
  const server = await RpcServer.listen({
    host: '127.0.0.1',
    port: 0,
    handlers: new Handlers().stream(PROXY_CONFIG_METHOD, async (stream) => {
      refusals.push(Date.now());
      await stream.send({ type: 'error', message: 'not registered' });
      stream.end();
    }),
  });
  t.teardown(() => server.close());
  const proxy = await Proxy.start({
    agentAddr: `127.0.0.1:${server.address().port}`,
    proxyId: 'web-sidecar-proxy',
  });
  t.teardown(() => proxy.close());
  await waitFor('three attempts', () => refusals.length >= 3);
  t.is(proxy.status().stream?.lastError, 'not registered');
  // Backing off between attempts (250 ms doubling, with jitter down to half).
  const gaps = refusals.slice(1).map((x, i) => x - (refusals[i] ?? 0));
  t.true(
    gaps.every((g) => g >= 200),
    JSON.stringify(gaps),
  );
});
