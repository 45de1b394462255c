/**
 * The bookinfo seed's "Rate Limiting" section end to end, all real processes: a dev agent;
 * `productpage` (test/e2e/apps/bookinfo.ts, HTTP) with a `trellis connect proxy` sidecar;
 * `fortio`, the load generator's service, whose sidecar has productpage as an upstream; the
 * load generator (test/e2e/apps/loadgen.ts, the seed's `fortio load -c 2 -qps 0 -n 2`) sends
 * through fortio's local upstream listener.
 *
 * 1. service-defaults productpage (Protocol http): every call is 200.
 * 2. MaxInboundConnections 1 written to productpage's service-defaults: the second concurrent
 *    connection is answered 503 (x-envoy-overloaded, Envoy's overflow text).
 * 3. service-defaults written again without it (the seed re-applies its circuit-breaking
 *    defaults): 200 for both connections again.
 */
import test, { type ExecutionContext } from 'ava';
import { APPS, Mesh, http } from './mesh.js';

const mesh = new Mesh('rate-limit');
let loadUrl = '';

interface LoadResult {
  calls: number;
  codes: Record<string, number>;
  bodies: Record<string, string>;
  overloaded: number;
  errors: string[];
}

/** One `fortio load -c 2 -n 2` run through fortio's sidecar. */
async function load(): Promise<LoadResult> {
  const r = await mesh.run(process.execPath, [APPS.loadgen, '-c', '2', '-n', '2', loadUrl]);
  if (r.code !== 0) throw new Error(`loadgen exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as LoadResult;
}

/** Runs the load generator until a run satisfies `ok` (bounded); returns that run. */
async function loadUntil(what: string, ok: (r: LoadResult) => boolean): Promise<LoadResult> {
  let last: LoadResult | undefined;
  try {
    return await mesh.eventually(what, async () => {
      last = await load();
      return ok(last) ? last : undefined;
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlast run: ${JSON.stringify(last)}`);
  }
}

async function productpageDefaults(t: ExecutionContext, extra: Record<string, unknown>) {
  const before = await mesh.proxyVersion('productpage-sidecar-proxy');
  await mesh.writeConfig({
    Kind: 'service-defaults',
    Name: 'productpage',
    Protocol: 'http',
    ...extra,
  });
  t.true((await mesh.waitApplied('productpage-sidecar-proxy', before)) > before);
}

test.before(async () => {
  const [appPort, sidecarPort, fortioPort, fortioSidecarPort, localPort] = await mesh.freePorts(5);
  loadUrl = `http://127.0.0.1:${localPort}/productpage`;
  await Promise.all([
    mesh.start(),
    mesh.startApp('productpage', APPS.bookinfo, appPort!, { SERVICE: 'productpage' }),
  ]);
  await mesh.writeConfig({ Kind: 'service-defaults', Name: 'productpage', Protocol: 'http' });
  await mesh.registerWithSidecar({
    name: 'productpage',
    port: appPort!,
    sidecarPort: sidecarPort!,
  });
  // The load generator's service: nothing listens on its port, it only calls out.
  await mesh.registerWithSidecar({
    name: 'fortio',
    port: fortioPort!,
    sidecarPort: fortioSidecarPort!,
    upstreams: [{ DestinationName: 'productpage', LocalBindPort: localPort! }],
  });
  await Promise.all([mesh.startSidecar('productpage'), mesh.startSidecar('fortio')]);
});

test.after.always(() => mesh.close());

test.serial('without a limit every call is 200', async (t) => {
  const run = await loadUntil('two 200s', (r) => r.codes['200'] === 2);
  t.deepEqual(run.codes, { '200': 2 });
  t.regex(run.bodies['200'] ?? '', /The Comedy of Errors/);
});

test.serial('MaxInboundConnections 1: concurrent connections see 503s', async (t) => {
  await productpageDefaults(t, { MaxInboundConnections: 1 });
  const run = await loadUntil('a 503', (r) => (r.codes['503'] ?? 0) > 0);
  t.is((run.codes['200'] ?? 0) + (run.codes['503'] ?? 0), 2, JSON.stringify(run));
  t.true(run.overloaded > 0);
  t.regex(run.bodies['503'] ?? '', /reset reason: overflow/);
  t.log('with the limit:', run.codes);
  // One caller at a time is still served.
  const single = await mesh.eventually('a single call served', async () => {
    const r = await http('GET', loadUrl);
    return r.status === 200 ? r : undefined;
  });
  t.is(single.status, 200);
});

test.serial('the limit removed: 200 for both connections again', async (t) => {
  await productpageDefaults(t, {});
  const run = await loadUntil('two 200s', (r) => r.codes['200'] === 2);
  t.deepEqual(run.codes, { '200': 2 });
  // And it stays so.
  for (let i = 0; i < 3; i++) t.deepEqual((await load()).codes, { '200': 2 });
});
