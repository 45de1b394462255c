// /v1/health against Consul's documented behaviour (developer.hashicorp.com/consul/api-docs/
// health; agent/health_endpoint.go, agent/consul/health_endpoint.go): CheckServiceNode and
// HealthCheck bytes, Consul's check order, ?passing (with its swap order), tags, node-meta,
// filters and blocking queries on every listing.
import test from 'ava';
import { serve, until, type Res, type Server } from './helpers.js';

type Teardown = (fn: () => Promise<void>) => void;

async function register(s: Server, body: unknown): Promise<void> {
  const r = await s.call('PUT', '/v1/catalog/register', { body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`register: ${r.status} ${r.text}`);
}

const index = (r: Res): number => Number(r.headers['x-consul-index']);

/** Three web instances: web-1 healthy, web-2 with a warning service check, web-3 healthy. */
async function fixture(teardown: Teardown): Promise<Server> {
  const s = await serve(teardown);
  for (const [n, status, rack] of [
    ['web-1', 'passing', 'r1'],
    ['web-2', 'warning', 'r2'],
    ['web-3', 'passing', 'r1'],
  ] as const) {
    await register(s, {
      Node: n,
      Address: `10.0.0.${n.slice(-1)}`,
      NodeMeta: { rack },
      Service: { Service: 'web', Tags: [n === 'web-2' ? 'canary' : 'stable'], Port: 80 },
      Checks: [
        { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
        { CheckID: 'service:web', Name: 'web alive', ServiceID: 'web', Status: status },
      ],
    });
  }
  return s;
}

test('/health/service returns CheckServiceNode objects with Consul fields, in order', async (t) => {
  const s = await serve(t.teardown);
  await register(s, {
    ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
    Node: 'foobar',
    Address: '192.168.10.10',
    TaggedAddresses: { lan: '192.168.10.10' },
    Service: { ID: 'redis1', Service: 'redis', Tags: ['v1'], Port: 8000, Meta: { v: '4' } },
    Check: {
      CheckID: 'service:redis1',
      Name: 'Redis health check',
      Status: 'passing',
      ServiceID: 'redis1',
      Definition: { TCP: 'localhost:8888', Interval: '5s', Timeout: '1s' },
    },
  });
  const r = await s.call('GET', '/v1/health/service/redis');
  t.is(r.status, 200);
  t.is(r.headers['x-consul-index'], '1');
  const expected = [
    {
      Node: {
        ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
        Node: 'foobar',
        Address: '192.168.10.10',
        Datacenter: 'dc1',
        TaggedAddresses: { lan: '192.168.10.10' },
        Meta: null,
        CreateIndex: 1,
        ModifyIndex: 1,
      },
      Service: {
        ID: 'redis1',
        Service: 'redis',
        Tags: ['v1'],
        Address: '',
        Meta: { v: '4' },
        Port: 8000,
        Weights: { Passing: 1, Warning: 1 },
        EnableTagOverride: false,
        Proxy: { Mode: '', MeshGateway: {}, Expose: {} },
        Connect: {},
        PeerName: '',
        CreateIndex: 1,
        ModifyIndex: 1,
      },
      Checks: [
        {
          Node: 'foobar',
          CheckID: 'service:redis1',
          Name: 'Redis health check',
          Status: 'passing',
          Notes: '',
          Output: '',
          ServiceID: 'redis1',
          ServiceName: 'redis',
          ServiceTags: ['v1'],
          // Catalog.Register derives an empty Type from the definition.
          Type: 'tcp',
          Interval: '',
          Timeout: '',
          ExposedPort: 0,
          Definition: { Interval: '5s', Timeout: '1s', TCP: 'localhost:8888' },
          CreateIndex: 1,
          ModifyIndex: 1,
        },
      ],
    },
  ];
  t.is(r.text, JSON.stringify(expected));
});

test('check lists come in Consul memdb order: node, then CheckID case-folded; node checks before service checks', async (t) => {
  const s = await serve(t.teardown);
  await register(s, {
    Node: 'n1',
    Address: '10.0.0.1',
    Service: { Service: 'web' },
    Checks: [
      { CheckID: 'zeta', ServiceID: 'web', Status: 'passing' },
      { CheckID: 'serfHealth', Status: 'passing' },
      { CheckID: 'Alpha', ServiceID: 'web', Status: 'passing' },
      { CheckID: 'beta', Status: 'warning' },
      { CheckID: 'Mem', Status: 'passing' },
    ],
  });
  await register(s, {
    Node: 'A0',
    Address: '10.0.0.2',
    Check: { CheckID: 'x', Status: 'passing' },
  });
  const ids = async (path: string): Promise<string[]> =>
    ((await s.call('GET', path)).json() as Array<{ CheckID: string }>).map((c) => c.CheckID);
  t.deepEqual(await ids('/v1/health/node/n1'), ['Alpha', 'beta', 'Mem', 'serfHealth', 'zeta']);
  t.deepEqual(await ids('/v1/health/state/any'), [
    'x',
    'Alpha',
    'beta',
    'Mem',
    'serfHealth',
    'zeta',
  ]);
  t.deepEqual(await ids('/v1/health/checks/web'), ['Alpha', 'zeta']);
  const sn = (await s.call('GET', '/v1/health/service/web')).json() as Array<{
    Checks: Array<{ CheckID: string }>;
  }>;
  t.deepEqual(
    sn[0]?.Checks.map((c) => c.CheckID),
    ['beta', 'Mem', 'serfHealth', 'Alpha', 'zeta'],
  );
});

test('health listings: node, checks (node-meta), state (each state; unknown lists nothing), service (tag, node-meta)', async (t) => {
  const s = await fixture(t.teardown);
  const get = async (path: string): Promise<unknown> => {
    const r = await s.call('GET', path);
    t.is(r.status, 200, `${path}: ${r.text}`);
    return r.json();
  };
  const checks = async (path: string): Promise<string[]> =>
    ((await get(path)) as Array<{ Node: string; CheckID: string }>).map(
      (c) => `${c.Node}/${c.CheckID}`,
    );
  const nodes = async (path: string): Promise<string[]> =>
    ((await get(path)) as Array<{ Node: { Node: string } }>).map((c) => c.Node.Node);
  t.deepEqual(await checks('/v1/health/node/web-2'), ['web-2/serfHealth', 'web-2/service:web']);
  t.deepEqual(await checks('/v1/health/node/nobody'), []);
  t.deepEqual(await checks('/v1/health/checks/web?node-meta=rack:r1'), [
    'web-1/service:web',
    'web-3/service:web',
  ]);
  t.deepEqual(await checks('/v1/health/state/warning'), ['web-2/service:web']);
  t.deepEqual(await checks('/v1/health/state/critical'), []);
  t.is((await checks('/v1/health/state/passing')).length, 5);
  t.is((await checks('/v1/health/state/any?node-meta=rack:r2')).length, 2);
  // Consul does not validate the state: an unknown one is an empty list, not an error.
  const unknown = await s.call('GET', '/v1/health/state/bogus');
  t.is(unknown.status, 200);
  t.is(unknown.text, '[]');
  t.deepEqual(await nodes('/v1/health/service/web'), ['web-1', 'web-2', 'web-3']);
  t.deepEqual(await nodes('/v1/health/service/web?tag=CANARY'), ['web-2']);
  t.deepEqual(await nodes('/v1/health/service/web?tag=stable&tag=canary'), []);
  t.deepEqual(await nodes('/v1/health/service/web?node-meta=rack:r2'), ['web-2']);
  t.deepEqual(await nodes('/v1/health/service/nothing'), []);
});

test('?passing drops instances with any non-passing check, in the order Consul filterNonPassing leaves them', async (t) => {
  const s = await fixture(t.teardown);
  const nodes = async (path: string): Promise<unknown> => {
    const r = await s.call('GET', path);
    t.is(r.status, 200, path);
    return (r.json() as Array<{ Node: { Node: string } }>).map((c) => c.Node.Node);
  };
  t.deepEqual(await nodes('/v1/health/service/web?passing'), ['web-1', 'web-3']);
  t.deepEqual(await nodes('/v1/health/service/web?passing=1'), ['web-1', 'web-3']);
  t.deepEqual(await nodes('/v1/health/service/web?passing=false'), ['web-1', 'web-2', 'web-3']);
  // The failing first entry is swapped with the last one kept: [bad, a, b] → [b, a].
  await register(s, {
    Node: 'web-0',
    Address: '10.0.0.10',
    Service: { Service: 'web', Port: 80 },
    Check: { CheckID: 'service:web', ServiceID: 'web', Status: 'critical' },
  });
  await register(s, {
    Node: 'web-2',
    Address: '10.0.0.2',
    NodeMeta: { rack: 'r2' },
    Check: { CheckID: 'service:web', ServiceID: 'web', Status: 'passing' },
  });
  t.deepEqual(await nodes('/v1/health/service/web?passing'), ['web-3', 'web-1', 'web-2']);
  const bad = await s.call('GET', '/v1/health/service/web?passing=maybe');
  t.is(bad.status, 400);
  t.is(bad.text, 'Invalid value for ?passing');
});

test('/health/connect lists sidecars and native instances with their checks; ?tag is ignored', async (t) => {
  const s = await fixture(t.teardown);
  await register(s, {
    Node: 'web-1',
    Address: '10.0.0.1',
    NodeMeta: { rack: 'r1' },
    Service: {
      Kind: 'connect-proxy',
      ID: 'web-sidecar',
      Service: 'web-sidecar-proxy',
      Port: 21000,
      Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web' },
    },
    Check: { CheckID: 'proxy-alive', ServiceID: 'web-sidecar', Status: 'passing' },
  });
  const r = await s.call('GET', '/v1/health/connect/web?tag=canary');
  t.is(r.status, 200);
  const list = r.json() as Array<{
    Service: { ID: string; Kind: string; Proxy: unknown };
    Checks: Array<{ CheckID: string }>;
  }>;
  t.deepEqual(
    list.map((x) => [x.Service.ID, x.Service.Kind, x.Checks.map((c) => c.CheckID)]),
    [['web-sidecar', 'connect-proxy', ['serfHealth', 'proxy-alive']]],
  );
  t.deepEqual(list[0]?.Service.Proxy, {
    DestinationServiceName: 'web',
    DestinationServiceID: 'web',
    Mode: '',
    MeshGateway: {},
    Expose: {},
  });
});

test('?filter on health endpoints sees HealthCheck and CheckServiceNode shapes', async (t) => {
  const s = await fixture(t.teardown);
  const q = encodeURIComponent;
  const get = async (path: string): Promise<unknown> => {
    const r = await s.call('GET', path);
    t.is(r.status, 200, `${path}: ${r.text}`);
    return r.json();
  };
  t.deepEqual(
    (
      (await get(
        `/v1/health/service/web?filter=${q('Node.Meta.rack == r1 and "stable" in Service.Tags')}`,
      )) as Array<{
        Node: { Node: string };
      }>
    ).map((x) => x.Node.Node),
    ['web-1', 'web-3'],
  );
  t.deepEqual(
    (
      (await get(`/v1/health/state/any?filter=${q('Node == "web-2"')}`)) as Array<{
        CheckID: string;
      }>
    ).map((c) => c.CheckID),
    ['serfHealth', 'service:web'],
  );
  t.deepEqual(
    ((await get(`/v1/health/node/web-1?filter=${q('ServiceName == web')}`)) as unknown[]).length,
    1,
  );
  t.deepEqual(
    ((await get(`/v1/health/checks/web?filter=${q('Status != passing')}`)) as unknown[]).length,
    1,
  );
  const bad = await s.call('GET', `/v1/health/service/web?filter=${q('Checks.Nope == x')}`);
  t.is(bad.status, 400);
  t.regex(bad.text, /^Failed to create boolean expression evaluator: /);
});

test('health GET argument errors: missing path arguments', async (t) => {
  const s = await fixture(t.teardown);
  for (const [path, text] of [
    ['/v1/health/node/', 'Missing node name'],
    ['/v1/health/checks/', 'Missing service name'],
    ['/v1/health/state/', 'Missing check state'],
    ['/v1/health/service/', 'Missing service name'],
    ['/v1/health/connect/', 'Missing service name'],
  ] as const) {
    const r = await s.call('GET', path);
    t.is(r.status, 400, path);
    t.is(r.text, text, path);
  }
  const put = await s.call('PUT', '/v1/health/service/web');
  t.is(put.status, 405);
});

/** Every blocking health GET, with a write that must wake it. */
const BLOCKING: ReadonlyArray<[string, unknown]> = [
  [
    '/v1/health/node/web-1',
    { Node: 'web-1', Address: '10.0.0.1', Check: { CheckID: 'disk', Status: 'warning' } },
  ],
  [
    '/v1/health/checks/web',
    {
      Node: 'web-2',
      Address: '10.0.0.2',
      Check: { CheckID: 'service:web', ServiceID: 'web', Status: 'critical' },
    },
  ],
  [
    '/v1/health/state/critical',
    { Node: 'web-3', Address: '10.0.0.3', Check: { CheckID: 'disk', Status: 'critical' } },
  ],
  [
    '/v1/health/service/web',
    {
      Node: 'web-1',
      Address: '10.0.0.1',
      Check: { CheckID: 'service:web', ServiceID: 'web', Status: 'critical' },
    },
  ],
  [
    '/v1/health/connect/web',
    {
      Node: 'web-1',
      Address: '10.0.0.1',
      Service: { Service: 'web', ID: 'web-native', Port: 81, Connect: { Native: true } },
    },
  ],
];

for (const [path, write] of BLOCKING) {
  test(`blocking GET ${path} wakes on a change and reports the new index`, async (t) => {
    const s = await fixture(t.teardown);
    const first = await s.call('GET', path);
    const idx = index(first);
    const parked = s.call('GET', `${path}?index=${idx}&wait=30s`);
    await until(() => s.backend.store.watchStats().parked === 1);
    await register(s, write);
    const woke = await parked;
    t.is(woke.status, 200);
    t.true(index(woke) > idx, `${index(woke)} > ${idx}`);
    t.not(woke.text, first.text);
    t.is(s.backend.store.watchStats().parked, 0);
  });

  test(`blocking GET ${path} answers the same index when ?wait ends`, async (t) => {
    const s = await fixture(t.teardown);
    const idx = index(await s.call('GET', path));
    const r = await s.call('GET', `${path}?index=${idx}&wait=100ms&stale`);
    t.is(r.status, 200);
    t.is(index(r), idx);
    t.is(r.headers['x-consul-effective-consistency'], 'stale');
  });
}

test('blocking on an unknown check state waits out ?wait: no write can wake it', async (t) => {
  const s = await fixture(t.teardown);
  const idx = index(await s.call('GET', '/v1/health/state/bogus'));
  const started = performance.now();
  const parked = s.call('GET', `/v1/health/state/bogus?index=${idx}&wait=300ms`);
  await until(() => s.backend.store.watchStats().parked === 1);
  await register(s, {
    Node: 'web-1',
    Address: '10.0.0.1',
    Check: { CheckID: 'x', Status: 'passing' },
  });
  const r = await parked;
  t.true(performance.now() - started >= 250, 'answered before ?wait ended');
  t.is(r.text, '[]');
  t.true(index(r) >= idx);
  t.is(s.backend.store.watchStats().parked, 0);
});

test('?cached with ?consistent is refused with Consul’s text; either alone is fine', async (t) => {
  const s = await serve(t.teardown);
  const both = await s.call('GET', '/v1/health/service/web?cached&consistent');
  t.is(both.status, 400);
  t.is(both.text, 'Cannot specify ?cached with ?consistent, conflicting semantics.');
  t.is((await s.call('GET', '/v1/health/service/web?cached')).status, 200);
  t.is((await s.call('GET', '/v1/health/service/web?consistent')).status, 200);
});
