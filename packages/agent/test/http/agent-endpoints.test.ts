/**
 * The local agent endpoints on a real in-process agent (-dev: server and client in one):
 * services and checks registered through /v1/agent/*, run against real sockets, synced to
 * the catalog by anti-entropy; maintenance, local health, TTL updates; and bad input.
 */
import test from 'ava';
import { createServer, type Server as HttpServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../src/agent.js';
import { buildConfig, type Fragment } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { waitFor } from '../server/helpers.js';

interface Answer {
  status: number;
  text: string;
  json: () => unknown;
}

async function req(base: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    ...(body === undefined
      ? {}
      : {
          body:
            typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
        }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as unknown };
}

async function devAgent(
  t: { teardown(fn: () => Promise<void> | void): void },
  extra: Record<string, unknown> = {},
): Promise<{ agent: Agent; url: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-agent-ep-'));
  const flags = {
    node_name: 'dev1',
    datacenter: 'dc1',
    server: true,
    bootstrap: true,
    data_dir: join(dir, 'data'),
    bind_addr: '127.0.0.1',
    client_addr: '127.0.0.1',
    log_level: 'error',
    ports: { http: 0, dns: -1, grpc: -1, server: 0, serf_lan: 0 },
    ae_interval: '1s',
    check_update_interval: '0s',
    ...extra,
  } as Fragment;
  const config = buildConfig({ flags });
  const agent = await Agent.start({
    config,
    version: '0.0.0-test',
    logger: createLogger({ level: 'error', write: () => {} }),
    gossipPreset: 'local',
    reapIntervalMs: 100,
  });
  t.teardown(async () => {
    await agent.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = agent.httpInfo?.url ?? '';
  await waitFor(
    'a leader',
    async () => (await req(url, 'GET', '/v1/status/leader')).text.length > 2,
  );
  return { agent, url, dir };
}

async function backend(
  t: { teardown(fn: () => Promise<void>): void },
  mode: { code: number; hang?: boolean },
) {
  const server: HttpServer = createServer((_req, res) => {
    if (mode.hang === true) return; // never answers
    res.statusCode = mode.code;
    res.end(`status ${mode.code}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

test('register a service with a sidecar: agent view, catalog via anti-entropy, deregister', async (t) => {
  const { url } = await devAgent(t);
  const r = await req(url, 'PUT', '/v1/agent/service/register', {
    Name: 'web',
    Port: 8080,
    Tags: ['v1'],
    Meta: { team: 'a' },
    Connect: {
      SidecarService: { Proxy: { Upstreams: [{ DestinationName: 'db', LocalBindPort: 9191 }] } },
    },
  });
  t.is(r.status, 200, r.text);
  const services = (await req(url, 'GET', '/v1/agent/services')).json() as Record<
    string,
    Record<string, unknown>
  >;
  t.deepEqual(Object.keys(services).sort(), ['web', 'web-sidecar-proxy']);
  const sc = services['web-sidecar-proxy']!;
  t.is(sc.Kind, 'connect-proxy');
  t.is(sc.Port, 21000);
  t.like(sc.Proxy, {
    DestinationServiceName: 'web',
    DestinationServiceID: 'web',
    LocalServicePort: 8080,
  });
  t.is((await req(url, 'GET', '/v1/agent/service/web')).status, 200);
  t.is((await req(url, 'GET', '/v1/agent/service/nope')).status, 404);
  const checks = (await req(url, 'GET', '/v1/agent/checks')).json() as Record<
    string,
    { Name: string }
  >;
  t.truthy(checks['service:web-sidecar-proxy:1']);
  t.is(checks['service:web-sidecar-proxy:2']?.Name, 'Connect Sidecar Aliasing web');
  // Anti-entropy puts both in the catalog.
  await waitFor('catalog has web and its sidecar', async () => {
    const n = (await req(url, 'GET', '/v1/catalog/node/dev1')).json() as {
      Services: Record<string, unknown>;
    } | null;
    return n && 'web' in n.Services && 'web-sidecar-proxy' in n.Services;
  });
  const filtered = (
    await req(
      url,
      'GET',
      '/v1/agent/services?filter=' + encodeURIComponent('Kind == "connect-proxy"'),
    )
  ).json() as Record<string, unknown>;
  t.deepEqual(Object.keys(filtered), ['web-sidecar-proxy']);
  // Deregistering the service takes its sidecar along, here and in the catalog.
  t.is((await req(url, 'PUT', '/v1/agent/service/deregister/web')).status, 200);
  t.deepEqual((await req(url, 'GET', '/v1/agent/services')).json(), {});
  await waitFor('catalog emptied', async () => {
    const n = (await req(url, 'GET', '/v1/catalog/node/dev1')).json() as {
      Services: Record<string, unknown>;
    } | null;
    return n && Object.keys(n.Services).filter((k) => k !== 'consul').length === 0;
  });
  const unknown = await req(url, 'PUT', '/v1/agent/service/deregister/web');
  t.is(unknown.status, 404);
  t.regex(unknown.text, /Unknown service ID "web"/);
});

test('TTL checks: pass, warn, fail, update; local health codes; maintenance', async (t) => {
  const { url } = await devAgent(t);
  t.is(
    (
      await req(url, 'PUT', '/v1/agent/service/register', {
        Name: 'api',
        Port: 1,
        Check: { TTL: '30s' },
      })
    ).status,
    200,
  );
  const health = async () => {
    const a = await req(url, 'GET', '/v1/agent/health/service/id/api');
    return { status: a.status, agg: (a.json() as { AggregatedStatus: string }).AggregatedStatus };
  };
  t.deepEqual(await health(), { status: 503, agg: 'critical' });
  t.is((await req(url, 'PUT', '/v1/agent/check/pass/service:api?note=fine')).status, 200);
  t.deepEqual(await health(), { status: 200, agg: 'passing' });
  t.is((await req(url, 'PUT', '/v1/agent/check/warn/service:api')).status, 200);
  t.deepEqual(await health(), { status: 429, agg: 'warning' });
  t.is(
    (
      await req(url, 'PUT', '/v1/agent/check/update/service:api', {
        Status: 'passing',
        Output: 'ok now',
      })
    ).status,
    200,
  );
  const byName = await req(url, 'GET', '/v1/agent/health/service/name/api?format=text');
  t.is(byName.status, 200);
  t.is(byName.text, 'passing');
  // The catalog follows (anti-entropy pushes status changes at once).
  await waitFor('catalog check passing with its output', async () => {
    const c = (await req(url, 'GET', '/v1/health/checks/api')).json() as {
      Status: string;
      Output: string;
    }[];
    return c[0]?.Status === 'passing' && c[0].Output === 'ok now';
  });
  // Bad TTL updates.
  const bad = await req(url, 'PUT', '/v1/agent/check/update/service:api', { Status: 'great' });
  t.is(bad.status, 400);
  t.is(bad.text, "Invalid check status: 'great'");
  t.is((await req(url, 'PUT', '/v1/agent/check/pass/nope')).status, 404);
  t.is((await req(url, 'PUT', '/v1/agent/check/update/service:api', '{"Status": ')).status, 400);
  // Maintenance.
  t.is(
    (await req(url, 'PUT', '/v1/agent/service/maintenance/api')).text,
    'Missing value for enable',
  );
  t.is((await req(url, 'PUT', '/v1/agent/service/maintenance/api?enable=maybe')).status, 400);
  t.is((await req(url, 'PUT', '/v1/agent/service/maintenance/nope?enable=true')).status, 404);
  t.is(
    (await req(url, 'PUT', '/v1/agent/service/maintenance/api?enable=true&reason=deploy')).status,
    200,
  );
  t.deepEqual(await health(), { status: 503, agg: 'maintenance' });
  await waitFor('maintenance check in the catalog', async () => {
    const c = (await req(url, 'GET', '/v1/health/checks/api')).json() as {
      CheckID: string;
      Notes: string;
    }[];
    return c.some((x) => x.CheckID === '_service_maintenance:api' && x.Notes === 'deploy');
  });
  t.is((await req(url, 'PUT', '/v1/agent/service/maintenance/api?enable=false')).status, 200);
  t.deepEqual(await health(), { status: 200, agg: 'passing' });
  t.is((await req(url, 'PUT', '/v1/agent/maintenance?enable=true')).status, 200);
  const checks = (await req(url, 'GET', '/v1/agent/checks')).json() as Record<
    string,
    { Notes: string }
  >;
  t.regex(checks['_node_maintenance']?.Notes ?? '', /no reason was provided/);
  t.deepEqual(await health(), { status: 503, agg: 'maintenance' });
  t.is((await req(url, 'PUT', '/v1/agent/maintenance?enable=false')).status, 200);
  t.is((await req(url, 'GET', '/v1/agent/health/service/name/none')).status, 404);
  t.is(
    (await req(url, 'GET', '/v1/agent/health/service/id/none?format=text')).text,
    'ServiceId none not found',
  );
});

test('HTTP checks run against real sockets; a target that hangs is bounded by its timeout', async (t) => {
  const { url } = await devAgent(t);
  const ok = await backend(t, { code: 200 });
  const hang = await backend(t, { code: 200, hang: true });
  const bad = await backend(t, { code: 503 });
  for (const [name, port] of [
    ['ok', ok],
    ['hang', hang],
    ['bad', bad],
  ] as const) {
    const r = await req(url, 'PUT', '/v1/agent/service/register', {
      Name: name,
      Port: port,
      Check: { HTTP: `http://127.0.0.1:${port}/`, Interval: '1s', Timeout: '1s' },
    });
    t.is(r.status, 200, r.text);
  }
  const status = async (id: string) =>
    (
      (await req(url, 'GET', '/v1/agent/checks')).json() as Record<
        string,
        { Status: string; Output: string }
      >
    )[id];
  await waitFor('ok passing', async () => (await status('service:ok'))?.Status === 'passing');
  const started = Date.now();
  const hung = await waitFor('hang critical', async () => {
    const s = await status('service:hang');
    return s?.Status === 'critical' && s.Output !== '' ? s : undefined;
  });
  t.true(Date.now() - started < 5_000, 'bounded by the 1s timeout (plus the first stagger)');
  t.regex(hung.Output, /timed out|deadline|Timeout/i);
  await waitFor('bad critical with 503', async () =>
    /503/.test((await status('service:bad'))?.Output ?? ''),
  );
  const passing = (await req(url, 'GET', '/v1/health/service/ok?passing')).json() as unknown[];
  await waitFor('catalog: only ok passing', async () => {
    const list = (await req(url, 'GET', '/v1/health/state/passing')).json() as {
      ServiceID: string;
    }[];
    return (
      list.some((c) => c.ServiceID === 'ok') &&
      !list.some((c) => c.ServiceID === 'hang' || c.ServiceID === 'bad')
    );
  });
  t.true(Array.isArray(passing));
});

test('bad definitions get 400 with Consul’s text; nothing is registered', async (t) => {
  const { url } = await devAgent(t);
  const cases: Array<[unknown, number, RegExp]> = [
    [{ Port: 80 }, 400, /Missing service name/],
    [{ Name: 'x', Port: 70000 }, 400, /port/i],
    [{ Name: 'x', Port: 'eighty' }, 400, /Request decode failed/],
    [{ Name: 'x', Check: { Interval: '10s' } }, 400, /./],
    [{ Name: 'x', Check: { DockerContainerID: 'abc', Args: ['true'], Interval: '10s' } }, 400, /./],
    [
      { Name: 'x', Check: { HTTP: 'http://127.0.0.1:1/', Interval: '1fortnight' } },
      400,
      /unknown unit/,
    ],
    [{ Name: 'x', Check: { TTL: '-5s' } }, 400, /./],
    [{ Name: 'x', Kind: 'spaceship' }, 400, /./],
    [{ Name: 'x', Check: { Args: ['/bin/true'], Interval: '10s' } }, 500, /Scripts are disabled/],
    ['{"Name": ', 400, /Request decode failed/],
    ['[1,2,3]', 400, /Request decode failed/],
    [{ Name: 'x', Tags: Array.from({ length: 10_000 }, (_, i) => `t${i}`) }, 400, /./],
    [{ Name: 'x', ['__proto__']: { polluted: true } }, 400, /./],
  ];
  for (const [body, status, text] of cases) {
    const r = await req(url, 'PUT', '/v1/agent/service/register', body);
    t.is(r.status, status, `${JSON.stringify(body).slice(0, 80)} → ${r.status} ${r.text}`);
    t.regex(r.text, text);
  }
  const huge = await req(
    url,
    'PUT',
    '/v1/agent/service/register',
    Buffer.alloc(2 * 1024 * 1024, 0x20),
  );
  t.is(huge.status, 413);
  t.deepEqual((await req(url, 'GET', '/v1/agent/services')).json(), {});
  t.is(({} as Record<string, unknown>).polluted, undefined);
  // Check registration against an unknown service, and bad check bodies.
  const orphan = await req(url, 'PUT', '/v1/agent/check/register', {
    Name: 'c',
    TTL: '10s',
    ServiceID: 'ghost',
  });
  t.is(orphan.status, 404);
  t.regex(orphan.text, /ghost/);
  t.is((await req(url, 'PUT', '/v1/agent/check/register', { TTL: '10s' })).status, 400);
  t.deepEqual((await req(url, 'GET', '/v1/agent/checks')).json(), {});
  // Membership endpoints refuse what they cannot do.
  t.is((await req(url, 'PUT', '/v1/agent/force-leave/nobody')).status, 500);
  t.is((await req(url, 'PUT', '/v1/agent/join/127.0.0.1:1')).status, 500);
});

test('a restarted agent comes back with its services; a corrupt state file refuses to start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-agent-persist-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flags = {
    node_name: 'p1',
    server: true,
    bootstrap: true,
    data_dir: join(dir, 'data'),
    bind_addr: '127.0.0.1',
    client_addr: '127.0.0.1',
    log_level: 'error',
    ports: { http: 0, dns: -1, grpc: -1, server: 0, serf_lan: 0 },
  } as Fragment;
  const start = () =>
    Agent.start({
      config: buildConfig({ flags }),
      version: '0.0.0-test',
      logger: createLogger({ level: 'error', write: () => {} }),
      gossipPreset: 'local',
    });
  const a1 = await start();
  const url1 = a1.httpInfo?.url ?? '';
  t.is(
    (
      await req(url1, 'PUT', '/v1/agent/service/register', {
        Name: 'kept',
        Port: 7,
        Check: { TTL: '1m' },
      })
    ).status,
    200,
  );
  await a1.shutdown();
  const a2 = await start();
  const url2 = a2.httpInfo?.url ?? '';
  const s = (await req(url2, 'GET', '/v1/agent/services')).json() as Record<
    string,
    { Port: number }
  >;
  t.is(s['kept']?.Port, 7);
  t.truthy(
    ((await req(url2, 'GET', '/v1/agent/checks')).json() as Record<string, unknown>)[
      'service:kept'
    ],
  );
  await a2.shutdown();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    join(dir, 'data', 'local-state.json'),
    '{"version":1,"services":[{"ID":1}],"checks":[]}',
  );
  await t.throwsAsync(start(), {
    message: /local-state\.json: 1 entries are not services or checks/,
  });
});

test('services and checks from the config file are registered at start', async (t) => {
  const { url } = await devAgent(t, {
    services: [{ name: 'cfg-svc', port: 9000, check: { ttl: '1m' } }],
    checks: [{ id: 'disk', name: 'Disk', ttl: '1m' }],
  });
  const s = (await req(url, 'GET', '/v1/agent/services')).json() as Record<string, unknown>;
  t.truthy(s['cfg-svc']);
  const c = (await req(url, 'GET', '/v1/agent/checks')).json() as Record<string, unknown>;
  t.truthy(c['disk']);
  t.truthy(c['service:cfg-svc']);
  t.throws(() => buildConfig({ flags: { services: 'nope' } }), {
    message: /definition object/,
  });
});

test('a service registered with a sidecar syncs with its sidecar and their checks in one go, no refused pass', async (t) => {
  const { agent, url } = await devAgent(t);
  const body = {
    Name: 'web',
    Port: 8080,
    Check: { TTL: '1h' },
    Connect: { SidecarService: { Checks: [{ Name: 'up', TTL: '1h' }] } },
  };
  for (let i = 0; i < 5; i++) {
    const r = await req(url, 'PUT', '/v1/agent/service/register', { ...body, Name: `web${i}` });
    t.is(r.status, 200);
  }
  await waitFor('every sidecar and its check in the catalog', async () => {
    const checks = (await req(url, 'GET', '/v1/health/node/dev1')).json() as Array<{
      ServiceID: string;
    }>;
    return checks.filter((c) => c.ServiceID.endsWith('-sidecar-proxy')).length === 5;
  });
  t.is(agent.local.ae.failedSyncs, 0, agent.local.ae.lastError?.message ?? '');
});
