// `trellis connect proxy` in-process against a dev agent: flag errors, the -sidecar-for lookup
// (Consul's messages), and a run that configures the proxy over the stream until stopped.
import test from 'ava';
import { resolveGrpcAddr, runConnectProxy } from '../src/commands/connect-proxy.js';
import { FlagError } from '../src/flags.js';
import { accepts, capture, closedPort as freePort, inProcessAgent, waitFor } from './helpers.js';

test('flag errors', async (t) => {
  const env = {};
  let c = capture();
  t.is(await runConnectProxy([], c.io, { env }), 1);
  t.is(c.out.stderr, 'One of -sidecar-for or -proxy-id must be specified\n');
  c = capture();
  t.is(await runConnectProxy(['-sidecar-for=web', '-proxy-id=x'], c.io, { env }), 1);
  t.regex(c.out.stderr, /mutually exclusive/);
  c = capture();
  t.is(await runConnectProxy(['-proxy-id=x', '-log-level=loud'], c.io, { env }), 1);
  t.regex(c.out.stderr, /Invalid log level: "loud"/);
  await t.throwsAsync(runConnectProxy(['-proxy-id=x', '-grpc-addr=https://h:1'], c.io, { env }), {
    instanceOf: FlagError,
  });
  await t.throwsAsync(runConnectProxy(['-proxy-id=x', 'extra'], c.io, { env }), {
    instanceOf: FlagError,
  });
  t.is(resolveGrpcAddr(undefined, {}), '127.0.0.1:8502');
  t.is(resolveGrpcAddr(undefined, { CONSUL_GRPC_ADDR: 'http://10.0.0.1:8502' }), '10.0.0.1:8502');
  t.is(resolveGrpcAddr('[::1]:9', { CONSUL_GRPC_ADDR: 'x:1' }), '[::1]:9');
  t.throws(() => resolveGrpcAddr('nohost', {}), { instanceOf: FlagError });
});

test('runs a sidecar found by -sidecar-for until stopped', async (t) => {
  const { url, grpc } = await inProcessAgent(t);
  const env = {};
  await waitFor(
    'a leader',
    async () => (await (await fetch(`${url}/v1/status/leader`)).text()).length > 2,
  );

  let c = capture();
  t.is(
    await runConnectProxy(['-sidecar-for=db', `-http-addr=${url}`, `-grpc-addr=${grpc}`], c.io, {
      env,
    }),
    1,
  );
  t.is(
    c.out.stderr,
    'Failed looking up sidecar proxy info for db: No sidecar proxy registered for db\n',
  );

  const publicPort = await freePort();
  const reg = await fetch(`${url}/v1/agent/service/register`, {
    method: 'PUT',
    body: JSON.stringify({
      Name: 'db',
      Port: 5432,
      Connect: {
        SidecarService: { Port: publicPort, Proxy: { Config: { bind_address: '127.0.0.1' } } },
      },
    }),
  });
  t.is(reg.status, 200);
  c = capture();
  const ac = new AbortController();
  const run = runConnectProxy(
    [
      '-sidecar-for=db',
      `-http-addr=${url}`,
      `-grpc-addr=${grpc}`,
      '-metrics-port=0',
      '-log-level=debug',
    ],
    c.io,
    { signal: ac.signal, env },
  );
  await waitFor('the banner', () => c.out.stdout.includes('Proxy ID: db-sidecar-proxy'));
  t.regex(c.out.stdout, /Sidecar for ID: db/);
  const metrics = /Metrics: (http:\S+)/.exec(c.out.stdout)?.[1] ?? '';
  await waitFor('the public listener', () => accepts(publicPort));
  await waitFor('the ack at the agent', async () => {
    const st = (await (await fetch(`${url}/v1/agent/connect/proxy/db-sidecar-proxy`)).json()) as {
      Streams: Array<{ AckedVersion: number }>;
    };
    return (st.Streams[0]?.AckedVersion ?? 0) >= 1;
  });
  t.regex(await (await fetch(metrics)).text(), /trellis_proxy_config_version [1-9]/);
  ac.abort();
  t.is(await run, 0);
  t.regex(c.out.stdout, /==> Caught signal: abort\n==> Trellis Connect proxy stopped\n$/);
  t.false(await accepts(publicPort));
});
