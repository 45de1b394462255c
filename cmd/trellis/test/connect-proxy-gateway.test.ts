// `trellis connect proxy -gateway=ingress`: flag errors, and a run with -register against a
// dev agent that registers the ingress-gateway service and serves its config entry's listener.
import test from 'ava';
import { request } from 'node:http';
import { parseGatewayAddress, runConnectProxy } from '../src/commands/connect-proxy.js';
import { FlagError } from '../src/flags.js';
import { accepts, capture, closedPort as freePort, inProcessAgent, waitFor } from './helpers.js';

function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('gateway flag errors', async (t) => {
  const env = {};
  const cases: Array<[string[], RegExp]> = [
    [['-gateway=edge', '-service=x'], /^-gateway must be one of: terminating, mesh, or ingress\n$/],
    [['-gateway=mesh', '-service=x'], /mesh gateways are not supported; only -gateway=ingress/],
    [['-gateway=ingress'], /-gateway=ingress requires -service or -proxy-id/],
    [['-gateway=ingress', '-register', '-proxy-id=x'], /-register requires -service/],
    [['-gateway=ingress', '-sidecar-for=web'], /-sidecar-for and -gateway are mutually exclusive/],
    [['-register', '-proxy-id=x'], /Auto-Registration can only be used for gateways/],
    [['-gateway=ingress', '-service=x', '-address=1.2.3.4'], /-address requires -register/],
  ];
  for (const [args, re] of cases) {
    const c = capture();
    t.is(await runConnectProxy(args, c.io, { env }), 1, args.join(' '));
    t.regex(c.out.stderr, re, args.join(' '));
  }
  t.deepEqual(parseGatewayAddress('127.0.0.1'), { host: '127.0.0.1' });
  t.deepEqual(parseGatewayAddress('10.0.0.1:8443'), { host: '10.0.0.1', port: 8443 });
  t.deepEqual(parseGatewayAddress('[::1]:8443'), { host: '::1', port: 8443 });
  t.deepEqual(parseGatewayAddress('::1'), { host: '::1' });
  t.throws(() => parseGatewayAddress('h:99999'), { instanceOf: FlagError });
  t.throws(() => parseGatewayAddress('a b'), { instanceOf: FlagError });
});

test('-gateway=ingress -register registers the gateway and serves its listeners until stopped', async (t) => {
  const { url, grpc } = await inProcessAgent(t);
  await waitFor(
    'a leader',
    async () => (await (await fetch(`${url}/v1/status/leader`)).text()).length > 2,
  );
  const put = async (path: string, body: unknown) => {
    const r = await fetch(url + path, { method: 'PUT', body: JSON.stringify(body) });
    t.is(r.status, 200, await r.text());
  };
  const listenerPort = await freePort();
  await put('/v1/config', { Kind: 'service-defaults', Name: 'web', Protocol: 'http' });
  await put('/v1/config', {
    Kind: 'ingress-gateway',
    Name: 'edge',
    Listeners: [{ Port: listenerPort, Protocol: 'http', Services: [{ Name: 'web' }] }],
  });

  const c = capture();
  const ac = new AbortController();
  const run = runConnectProxy(
    [
      '-gateway=ingress',
      '-register',
      '-service=edge',
      '-address=127.0.0.1',
      `-http-addr=${url}`,
      `-grpc-addr=${grpc}`,
    ],
    c.io,
    { signal: ac.signal, env: {} },
  );
  await waitFor('the banner', () => c.out.stdout.includes('Proxy ID: edge'));
  t.regex(c.out.stdout, /Registered service: edge\n/);
  t.regex(c.out.stdout, /Gateway: ingress/);
  const services = (await (await fetch(`${url}/v1/agent/services`)).json()) as Record<
    string,
    { Kind?: string; Service?: string; Address?: string }
  >;
  t.like(services['edge'], { Kind: 'ingress-gateway', Service: 'edge', Address: '127.0.0.1' });
  await waitFor('the ingress listener', () => accepts(listenerPort));
  // web has no instances: the gateway answers for it.
  t.deepEqual(await get(listenerPort, 'web.ingress.consul'), {
    status: 503,
    body: 'no healthy upstream',
  });
  t.is((await get(listenerPort, 'other.example.com')).status, 404);
  ac.abort();
  t.is(await run, 0);
  t.false(await accepts(listenerPort));
});
