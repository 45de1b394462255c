/**
 * End to end with a real in-process dev agent: web and db registered with sidecars, two
 * proxies configured over the agent's proxy stream, apps on ephemeral ports. Traffic flows
 * web → db with an allow; a deny written to the agent stops it; the agent shows the ACKed
 * versions and a NACK with its reason.
 */
import test from 'ava';
import { createServer as createNetServer } from 'node:net';
import { Proxy } from '@trellis/proxy';
import { devAgent, freePort, req, sidecar, type StreamStatusJson } from './dev-agent.js';
import { TcpClient, echoApp, listening, tcpExchange, waitFor } from '@trellis/proxy/testing';

test('web → db through two proxies configured by the agent; a deny stops it; ACKs and NACKs show', async (t) => {
  const { url, grpc } = await devAgent(t);
  const app = await echoApp(t);
  const [dbPublic, webPublic, dbUpstream] = [await freePort(), await freePort(), await freePort()];
  t.is(
    (await req(url, 'PUT', '/v1/agent/service/register', sidecar('db', app.port, dbPublic))).status,
    200,
  );
  t.is(
    (
      await req(
        url,
        'PUT',
        '/v1/agent/service/register',
        sidecar('web', 1, webPublic, [{ DestinationName: 'db', LocalBindPort: dbUpstream }]),
      )
    ).status,
    200,
  );
  t.is(
    (
      await req(url, 'PUT', '/v1/config', {
        Kind: 'service-intentions',
        Name: 'db',
        Sources: [{ Name: 'web', Action: 'allow' }],
      })
    ).text,
    'true',
  );
  const db = await Proxy.start({ agentAddr: grpc, proxyId: 'db-sidecar-proxy' });
  t.teardown(() => db.close());
  const web = await Proxy.start({ agentAddr: grpc, proxyId: 'web-sidecar-proxy' });
  t.teardown(() => web.close());

  await waitFor(
    'db listening with a leaf',
    () => (db.snapshot?.tls ?? null) !== null && db.publicAddress()?.port === dbPublic,
  );
  await waitFor(
    'web with its leaf, seeing db healthy',
    () =>
      (web.snapshot?.tls ?? null) !== null &&
      (web.snapshot?.upstreams[0]?.endpoints.length ?? 0) > 0,
  );
  t.is(web.upstreamAddress('db')?.port, dbUpstream);
  t.is(await tcpExchange(dbUpstream, 'ping'), 'ping');
  const open = new TcpClient(dbUpstream);
  await open.roundTrip('held');

  // The agent saw the ACKs.
  for (const id of ['db-sidecar-proxy', 'web-sidecar-proxy']) {
    const s = await waitFor(`${id} acked`, async () => {
      const st = (await req(url, 'GET', `/v1/agent/connect/proxy/${id}`)).json<StreamStatusJson>();
      const s0 = st.Streams[0];
      return s0 !== undefined && s0.Version > 0 && s0.AckedVersion === s0.Version ? s0 : undefined;
    });
    t.is(s.LastNack, null);
  }
  t.is(db.status().stream?.state, 'open');
  t.is((await req(url, 'GET', '/v1/agent/connect/proxy/db-sidecar-proxy')).status, 200);
  const dbVersion = db.version;
  t.true(dbVersion >= 1);

  // A deny: new connections stop within a few seconds, the open one is closed.
  const t0 = Date.now();
  t.is(
    (
      await req(url, 'PUT', '/v1/config', {
        Kind: 'service-intentions',
        Name: 'db',
        Sources: [{ Name: 'web', Action: 'deny' }],
      })
    ).text,
    'true',
  );
  await waitFor(
    'the deny in force',
    async () => (await tcpExchange(dbUpstream, 'x')) === '',
    5_000,
  );
  t.true(Date.now() - t0 < 5_000);
  await waitFor('the open connection closed', () => open.closed, 5_000);
  t.true(db.version > dbVersion);

  // A registration the proxy cannot apply (its upstream port is taken): NACK with the reason,
  // the running version stays.
  const blocker = createNetServer();
  const taken = await listening(blocker);
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const webVersion = web.version;
  t.is(
    (
      await req(
        url,
        'PUT',
        '/v1/agent/service/register',
        sidecar('web', 1, webPublic, [
          { DestinationName: 'db', LocalBindPort: dbUpstream },
          { DestinationName: 'cache', LocalBindPort: taken },
        ]),
      )
    ).status,
    200,
  );
  const nack = await waitFor('the NACK at the agent', async () => {
    const st = (
      await req(url, 'GET', '/v1/agent/connect/proxy/web-sidecar-proxy')
    ).json<StreamStatusJson>();
    return st.Streams[0]?.LastNack ?? undefined;
  });
  t.regex(nack.Error, new RegExp(`upstream cache listener 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`));
  t.is(web.version, webVersion);
  t.is(web.status().lastNack?.version, nack.Version);
  t.is(web.upstreamAddress('db')?.port, dbUpstream);
});

test('a proxy started before its registration is refused, retries, and is served once registered', async (t) => {
  const { url, grpc } = await devAgent(t);
  const app = await echoApp(t);
  // Start the proxy before its service exists: the agent refuses, the proxy retries.
  const db = await Proxy.start({ agentAddr: grpc, proxyId: 'db-sidecar-proxy' });
  t.teardown(() => db.close());
  await waitFor('a refusal', () => db.status().stream?.lastError?.includes('not a proxy service'));
  const dbPublic = await freePort();
  await req(url, 'PUT', '/v1/agent/service/register', sidecar('db', app.port, dbPublic));
  await waitFor('configured', () => db.publicAddress()?.port === dbPublic, 15_000);
  t.true((db.status().stream?.opened ?? 0) >= 2);
});
