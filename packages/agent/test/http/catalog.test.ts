// /v1/catalog against Consul's documented behaviour (developer.hashicorp.com/consul/api-docs/
// catalog; agent/catalog_endpoint.go, agent/consul/catalog_endpoint.go, agent/structs): the exact
// JSON bytes of each listing, blocking queries on every GET, and refused registrations that
// leave the store untouched.
import test from 'ava';
import { serve, until, type Res, type Server } from './helpers.js';

type Teardown = (fn: () => Promise<void>) => void;

/** Consul's documented /v1/catalog/register sample body. */
const REDIS = {
  Datacenter: 'dc1',
  ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
  Node: 'foobar',
  Address: '192.168.10.10',
  TaggedAddresses: { lan: '192.168.10.10', wan: '10.0.10.10' },
  NodeMeta: { somekey: 'somevalue' },
  Service: {
    ID: 'redis1',
    Service: 'redis',
    Tags: ['primary', 'v1'],
    Address: '127.0.0.1',
    TaggedAddresses: {
      lan: { address: '127.0.0.1', port: 8000 },
      wan: { address: '198.18.0.1', port: 80 },
    },
    Meta: { redis_version: '4.0' },
    Port: 8000,
  },
  Check: {
    Node: 'foobar',
    CheckID: 'service:redis1',
    Name: 'Redis health check',
    Notes: 'Script based health check',
    Status: 'passing',
    ServiceID: 'redis1',
    Definition: {
      TCP: 'localhost:8888',
      Interval: '5s',
      Timeout: '1s',
      DeregisterCriticalServiceAfter: '30s',
    },
  },
  SkipNodeUpdate: false,
};

async function put(s: Server, path: string, body: unknown): Promise<Res> {
  return s.call('PUT', path, { body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function register(s: Server, body: unknown): Promise<void> {
  const r = await put(s, '/v1/catalog/register', body);
  if (r.status !== 200 || r.text !== 'true') throw new Error(`register: ${r.status} ${r.text}`);
}

async function fixture(teardown: Teardown): Promise<Server> {
  const s = await serve(teardown);
  await register(s, REDIS);
  await register(s, {
    Node: 'web-1',
    Address: '10.0.0.1',
    NodeMeta: { rack: 'r1' },
    Service: { Service: 'web', Tags: ['v1', 'blue'], Port: 80 },
    Checks: [{ CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' }],
  });
  await register(s, {
    Node: 'web-2',
    Address: '10.0.0.2',
    NodeMeta: { rack: 'r2' },
    Service: { Service: 'web', ID: 'web-b', Tags: ['v2'], Port: 80 },
  });
  return s;
}

const index = (r: Res): number => Number(r.headers['x-consul-index']);

const node = (name: string, address: string, idx: number, meta: unknown = null): unknown => ({
  ID: '',
  Node: name,
  Address: address,
  Datacenter: 'dc1',
  TaggedAddresses: null,
  Meta: meta,
  CreateIndex: idx,
  ModifyIndex: idx,
});

const REDIS_NODE = {
  ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
  Node: 'foobar',
  Address: '192.168.10.10',
  Datacenter: 'dc1',
  TaggedAddresses: { lan: '192.168.10.10', wan: '10.0.10.10' },
  Meta: { somekey: 'somevalue' },
  CreateIndex: 1,
  ModifyIndex: 1,
};

const EMPTY_PROXY = { Mode: '', MeshGateway: {}, Expose: {} };

test('register answers true; /catalog/service returns Consul ServiceNode objects field for field, in order', async (t) => {
  const s = await fixture(t.teardown);
  const r = await s.call('GET', '/v1/catalog/service/redis');
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  t.is(r.headers['x-consul-index'], '1');
  t.is(r.headers['x-consul-knownleader'], 'true');
  t.is(r.headers['x-consul-effective-consistency'], 'leader');
  const expected = [
    {
      ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
      Node: 'foobar',
      Address: '192.168.10.10',
      Datacenter: 'dc1',
      TaggedAddresses: { lan: '192.168.10.10', wan: '10.0.10.10' },
      NodeMeta: { somekey: 'somevalue' },
      ServiceKind: '',
      ServiceID: 'redis1',
      ServiceName: 'redis',
      ServiceTags: ['primary', 'v1'],
      ServiceAddress: '127.0.0.1',
      ServiceTaggedAddresses: {
        lan: { Address: '127.0.0.1', Port: 8000 },
        wan: { Address: '198.18.0.1', Port: 80 },
      },
      ServiceWeights: { Passing: 1, Warning: 1 },
      ServiceMeta: { redis_version: '4.0' },
      ServicePort: 8000,
      ServiceSocketPath: '',
      ServiceEnableTagOverride: false,
      ServiceProxy: EMPTY_PROXY,
      ServiceConnect: {},
      ServiceLocality: null,
      CreateIndex: 1,
      ModifyIndex: 1,
    },
  ];
  t.is(r.text, JSON.stringify(expected));
  // ?pretty is Go's MarshalIndent with four spaces and a trailing newline.
  const p = await s.call('GET', '/v1/catalog/service/redis?pretty');
  t.is(p.text, `${JSON.stringify(expected, null, 4)}\n`);
});

test('catalog listings: nodes, services, service (tags, node-meta), node, node-services, datacenters', async (t) => {
  const s = await fixture(t.teardown);
  const cases: Array<[string, unknown]> = [
    [
      '/v1/catalog/nodes',
      [
        REDIS_NODE,
        node('web-1', '10.0.0.1', 2, { rack: 'r1' }),
        node('web-2', '10.0.0.2', 3, { rack: 'r2' }),
      ],
    ],
    ['/v1/catalog/nodes?node-meta=rack:r2', [node('web-2', '10.0.0.2', 3, { rack: 'r2' })]],
    ['/v1/catalog/nodes?node-meta=rack:r2&node-meta=rack:r9', []],
    ['/v1/catalog/services', { redis: ['primary', 'v1'], web: ['blue', 'v1', 'v2'] }],
    ['/v1/catalog/services?node-meta=rack:r1', { web: ['blue', 'v1'] }],
    ['/v1/catalog/services?node-meta=nope', {}],
    ['/v1/catalog/datacenters', ['dc1']],
    ['/v1/catalog/service/missing', []],
    ['/v1/catalog/node/missing', null],
    ['/v1/catalog/node-services/missing', { Node: null, Services: null }],
  ];
  for (const [path, body] of cases) {
    const r = await s.call('GET', path);
    t.is(r.status, 200, path);
    t.is(r.text, JSON.stringify(body), path);
  }
  const ids = async (path: string): Promise<unknown> =>
    ((await s.call('GET', path)).json() as Array<{ ServiceID: string }>).map((x) => x.ServiceID);
  t.deepEqual(await ids('/v1/catalog/service/web'), ['web', 'web-b']);
  // Repeated ?tag= must all match, case-insensitively (Consul ≥ 1.3).
  t.deepEqual(await ids('/v1/catalog/service/web?tag=V1&tag=blue'), ['web']);
  t.deepEqual(await ids('/v1/catalog/service/web?tag=v1&tag=v2'), []);
  t.deepEqual(await ids('/v1/catalog/service/web?node-meta=rack:r2'), ['web-b']);
  t.deepEqual(await ids('/v1/catalog/service/WEB'), ['web', 'web-b']);
  // /catalog/datacenters carries no index headers.
  t.is((await s.call('GET', '/v1/catalog/datacenters')).headers['x-consul-index'], undefined);
});

test('/catalog/node and /catalog/node-services return NodeServices (a map by ID) and NodeServiceList', async (t) => {
  const s = await fixture(t.teardown);
  await register(s, {
    Node: 'web-1',
    Address: '10.0.0.1',
    NodeMeta: { rack: 'r1' },
    Service: { Service: 'api', ID: '10', Meta: { b: '2', a: '1' } },
  });
  await register(s, {
    Node: 'web-1',
    Address: '10.0.0.1',
    NodeMeta: { rack: 'r1' },
    Service: { Service: 'api', ID: '9' },
  });
  const api = (id: string, idx: number, meta: unknown = null): unknown => ({
    ID: id,
    Service: 'api',
    Tags: [],
    Address: '',
    Meta: meta,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Proxy: EMPTY_PROXY,
    Connect: {},
    PeerName: '',
    CreateIndex: idx,
    ModifyIndex: idx,
  });
  const web = {
    ID: 'web',
    Service: 'web',
    Tags: ['v1', 'blue'],
    Address: '',
    Meta: null,
    Port: 80,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Proxy: EMPTY_PROXY,
    Connect: {},
    PeerName: '',
    CreateIndex: 2,
    ModifyIndex: 2,
  };
  const nodeRow = node('web-1', '10.0.0.1', 2, { rack: 'r1' });
  const r = await s.call('GET', '/v1/catalog/node/web-1');
  t.is(r.headers['x-consul-index'], '5');
  // Go sorts map keys by bytes ("10" < "9" < "web"), integer-like or not; Meta keys too.
  t.is(
    r.text,
    `{"Node":${JSON.stringify(nodeRow)},"Services":{"10":${JSON.stringify(api('10', 4, { a: '1', b: '2' }))},"9":${JSON.stringify(api('9', 5))},"web":${JSON.stringify(web)}}}`,
  );
  const l = await s.call('GET', '/v1/catalog/node-services/WEB-1');
  t.is(
    l.text,
    JSON.stringify({
      Node: nodeRow,
      Services: [api('10', 4, { a: '1', b: '2' }), api('9', 5), web],
    }),
  );
});

test('connect: sidecars by destination and native instances; ?tag is ignored as Consul ignores it', async (t) => {
  const s = await fixture(t.teardown);
  await register(s, {
    Node: 'web-1',
    Address: '10.0.0.1',
    Service: {
      Kind: 'connect-proxy',
      Service: 'web-sidecar-proxy',
      Port: 21000,
      Proxy: {
        DestinationServiceName: 'web',
        LocalServicePort: 80,
        Upstreams: [{ DestinationName: 'db', LocalBindPort: 9191 }],
      },
    },
  });
  await register(s, {
    Node: 'web-2',
    Address: '10.0.0.2',
    Service: { Service: 'web', ID: 'web-native', Port: 81, Connect: { Native: true } },
  });
  const r = await s.call('GET', '/v1/catalog/connect/web?tag=nope');
  const list = r.json() as Array<Record<string, unknown>>;
  t.deepEqual(
    list.map((x) => [x.ServiceID, x.ServiceKind, x.ServiceConnect]),
    [
      ['web-sidecar-proxy', 'connect-proxy', {}],
      ['web-native', '', { Native: true }],
    ],
  );
  t.is(
    JSON.stringify(list[0]?.ServiceProxy),
    JSON.stringify({
      DestinationServiceName: 'web',
      LocalServicePort: 80,
      Mode: '',
      Upstreams: [
        {
          DestinationType: 'service',
          DestinationName: 'db',
          Datacenter: '',
          LocalBindPort: 9191,
          MeshGateway: {},
        },
      ],
      MeshGateway: {},
      Expose: {},
    }),
  );
});

test('?filter evaluates Consul element shapes per endpoint; a bad expression is 400 with the filter text', async (t) => {
  const s = await fixture(t.teardown);
  const names = async (path: string): Promise<unknown> => {
    const r = await s.call('GET', path);
    t.is(r.status, 200, `${path}: ${r.text}`);
    return r.json();
  };
  const q = encodeURIComponent;
  t.deepEqual(
    (
      (await names(`/v1/catalog/nodes?filter=${q('Meta.rack == r2')}`)) as Array<{ Node: string }>
    ).map((n) => n.Node),
    ['web-2'],
  );
  t.deepEqual(
    (
      (await names(`/v1/catalog/service/web?filter=${q('NodeMeta.rack == r1')}`)) as Array<{
        Node: string;
      }>
    ).map((n) => n.Node),
    ['web-1'],
  );
  // /catalog/services filters the raw ServiceNode rows, then groups tags.
  t.deepEqual(await names(`/v1/catalog/services?filter=${q('"v2" in ServiceTags')}`), {
    web: ['v2'],
  });
  t.deepEqual(
    Object.keys(
      ((await names(`/v1/catalog/node/foobar?filter=${q('Port == 1')}`)) as { Services: object })
        .Services,
    ),
    [],
  );
  const bad = await s.call('GET', `/v1/catalog/nodes?filter=${q('Nope == x')}`);
  t.is(bad.status, 400);
  t.regex(bad.text, /^Failed to create boolean expression evaluator: /);
  const syntax = await s.call('GET', `/v1/catalog/service/web?filter=${q('Node ==')}`);
  t.is(syntax.status, 400);
  t.regex(syntax.text, /^Failed to create boolean expression evaluator: /);
});

test('deregister removes a service (and its checks), a check, or the whole node; unknown ones are no-ops', async (t) => {
  const s = await fixture(t.teardown);
  const ok = async (body: unknown): Promise<void> => {
    const r = await put(s, '/v1/catalog/deregister', body);
    t.is(r.status, 200);
    t.is(r.text, 'true');
  };
  await ok({ Node: 'foobar', ServiceID: 'redis1' });
  t.is((await s.call('GET', '/v1/catalog/service/redis')).text, '[]');
  t.is((await s.call('GET', '/v1/health/node/foobar')).text, '[]');
  await ok({ Node: 'web-1', CheckID: 'serfHealth' });
  await ok({ Node: 'web-2' });
  t.deepEqual(
    ((await s.call('GET', '/v1/catalog/nodes')).json() as Array<{ Node: string }>).map(
      (n) => n.Node,
    ),
    ['foobar', 'web-1'],
  );
  const before = s.backend.store.lastIndex;
  await ok({ Node: 'ghost', ServiceID: 'x' });
  t.is(s.backend.store.lastIndex, before + 1);
});

test('SkipNodeUpdate keeps the node row; weights default to 1/1 and invalid weights fall back to 1/1', async (t) => {
  const s = await fixture(t.teardown);
  await register(s, {
    Node: 'foobar',
    SkipNodeUpdate: true,
    Service: { Service: 'cache', Weights: { Passing: 0, Warning: 3 } },
  });
  const n = (await s.call('GET', '/v1/catalog/node/foobar')).json() as {
    Node: { Address: string; ModifyIndex: number };
    Services: Record<string, { Weights: unknown }>;
  };
  t.is(n.Node.Address, '192.168.10.10');
  t.is(n.Node.ModifyIndex, 1);
  t.deepEqual(n.Services.cache?.Weights, { Passing: 1, Warning: 1 });
});

/** Each refused registration: status, Consul's text, and no write (the store index is unchanged). */
const BAD: ReadonlyArray<[string, string, unknown, number, string | RegExp]> = [
  ['empty body', '/v1/catalog/register', '', 400, 'Request decode failed: EOF'],
  ['malformed JSON', '/v1/catalog/register', '{"Node":', 400, /^Request decode failed: /],
  [
    'array body',
    '/v1/catalog/register',
    '[]',
    400,
    'Request decode failed: json: cannot unmarshal array into Go value of type structs.RegisterRequest',
  ],
  [
    'Node of the wrong type',
    '/v1/catalog/register',
    { Node: 5, Address: 'a' },
    400,
    'Request decode failed: json: cannot unmarshal number into Go struct field RegisterRequest.Node of type string',
  ],
  [
    'Service.Port as a string',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Service: { Service: 'x', Port: '80' } },
    400,
    'Request decode failed: json: cannot unmarshal string into Go struct field NodeService.Service.Port of type int',
  ],
  [
    'Service.Tags not a list',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Service: { Service: 'x', Tags: 'v1' } },
    400,
    'Request decode failed: json: cannot unmarshal string into Go struct field NodeService.Service.Tags of type []string',
  ],
  [
    'Checks not a list',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Checks: {} },
    400,
    'Request decode failed: json: cannot unmarshal object into Go struct field RegisterRequest.Checks of type structs.HealthChecks',
  ],
  ['missing Node', '/v1/catalog/register', { Address: '10.0.0.9' }, 500, 'Must provide node'],
  [
    'missing Address',
    '/v1/catalog/register',
    { Node: 'n' },
    500,
    'Must provide address if SkipNodeUpdate is not set',
  ],
  [
    'bad node ID',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', ID: 'nope' },
    500,
    'Bad node ID: uuid string is wrong length',
  ],
  [
    'unknown check status',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Check: { CheckID: 'c', Status: 'sleepy' } },
    400,
    'Bad check status',
  ],
  [
    'check on another node',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Check: { CheckID: 'c1', Node: 'other' } },
    500,
    "Node 'other' for check 'c1' doesn't match register request node 'n'",
  ],
  [
    'check for an unknown service',
    '/v1/catalog/register',
    { Node: 'foobar', Address: 'a', Check: { CheckID: 'c1', ServiceID: 'nope' } },
    500,
    "Unknown service ID 'nope' for check ID 'c1'",
  ],
  [
    'connect-proxy without port or destination',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Service: { Service: 'p', Kind: 'connect-proxy' } },
    500,
    '2 errors occurred:\n\t* Port or SocketPath must be set for a connect-proxy\n\t* Proxy.DestinationServiceName must be non-empty for Connect proxy services\n\n',
  ],
  [
    'service ID without a name',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Service: { ID: 'x' } },
    500,
    'Must provide service name (Service.Service) when service ID is provided',
  ],
  [
    'unspecified service address',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Service: { Service: 'x', Address: '0.0.0.0' } },
    500,
    'Invalid service address',
  ],
  [
    'unknown datacenter',
    '/v1/catalog/register',
    { Node: 'n', Address: 'a', Datacenter: 'dc9' },
    500,
    'No path to datacenter',
  ],
  [
    'service on an unknown node without a node update',
    '/v1/catalog/register',
    { Node: 'ghost', SkipNodeUpdate: true, Service: { Service: 'x' } },
    500,
    'failed inserting service: Missing node registration',
  ],
  [
    'over-long node name',
    '/v1/catalog/register',
    { Node: 'n'.repeat(70_000), Address: 'a' },
    400,
    /longer than 65536/,
  ],
  [
    'deregister without Node',
    '/v1/catalog/deregister',
    { ServiceID: 'x' },
    500,
    'Must provide node',
  ],
  [
    'deregister with a wrong type',
    '/v1/catalog/deregister',
    { Node: ['n'] },
    400,
    'Request decode failed: json: cannot unmarshal array into Go struct field DeregisterRequest.Node of type string',
  ],
];

test('bad registrations get Consul status and text and change nothing', async (t) => {
  const s = await fixture(t.teardown);
  for (const [name, path, body, status, text] of BAD) {
    const before = s.backend.store.lastIndex;
    const r = await put(s, path, body);
    t.is(r.status, status, name);
    if (typeof text === 'string') t.is(r.text, text, name);
    else t.regex(r.text, text, name);
    t.is(r.headers['content-type'], 'text/plain; charset=utf-8', name);
    t.is(s.backend.store.lastIndex, before, `${name}: the store index moved`);
  }
  const big = await put(s, '/v1/catalog/register', `{"Node":"${'x'.repeat(1024 * 1024)}"}`);
  t.is(big.status, 413);
  const get = await s.call('GET', '/v1/catalog/register');
  t.is(get.status, 405);
  t.is(get.headers.allow, 'OPTIONS,PUT');
});

test('GET argument errors: missing names, stale with consistent, bad index, unknown dc', async (t) => {
  const s = await fixture(t.teardown);
  const cases: Array<[string, number, string]> = [
    ['/v1/catalog/service/', 400, 'Missing service name'],
    ['/v1/catalog/connect/', 400, 'Missing service name'],
    ['/v1/catalog/node/', 400, 'Missing node name'],
    ['/v1/catalog/node-services/', 400, 'Missing node name'],
    [
      '/v1/catalog/nodes?stale&consistent',
      400,
      'Cannot specify ?stale with ?consistent, conflicting semantics.',
    ],
    ['/v1/catalog/services?index=x', 400, 'Invalid index'],
    ['/v1/catalog/service/web?wait=soon', 400, 'Invalid wait time'],
    ['/v1/catalog/nodes?dc=dc9', 500, 'No path to datacenter'],
  ];
  for (const [path, status, text] of cases) {
    const r = await s.call('GET', path);
    t.is(r.status, status, path);
    t.is(r.text, text, path);
  }
});

/** Every blocking catalog GET, with a write that must wake it. */
const BLOCKING: ReadonlyArray<[string, unknown]> = [
  ['/v1/catalog/nodes', { Node: 'new', Address: '10.0.0.9' }],
  ['/v1/catalog/services', { Node: 'web-1', Address: '10.0.0.1', Service: { Service: 'api' } }],
  [
    '/v1/catalog/service/web',
    { Node: 'web-2', Address: '10.0.0.2', Service: { Service: 'web', ID: 'web-b', Port: 81 } },
  ],
  [
    '/v1/catalog/connect/web',
    {
      Node: 'web-1',
      Address: '10.0.0.1',
      Service: {
        Kind: 'connect-proxy',
        Service: 'web-proxy',
        Port: 21000,
        Proxy: { DestinationServiceName: 'web' },
      },
    },
  ],
  ['/v1/catalog/node/web-1', { Node: 'web-1', Address: '10.0.0.1', Service: { Service: 'x' } }],
  [
    '/v1/catalog/node-services/web-2',
    { Node: 'web-2', Address: '10.0.0.2', Service: { Service: 'y' } },
  ],
];

for (const [path, write] of BLOCKING) {
  test(`blocking GET ${path} wakes on a change and reports the new index`, async (t) => {
    const s = await fixture(t.teardown);
    const first = await s.call('GET', path);
    const idx = index(first);
    t.true(idx >= 1);
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
    const r = await s.call('GET', `${path}?index=${idx}&wait=100ms`);
    t.is(r.status, 200);
    t.is(index(r), idx);
    t.is(s.backend.store.watchStats().parked, 0);
  });
}

test('a node-only write does not wake /catalog/services (Consul watches the services table)', async (t) => {
  const s = await fixture(t.teardown);
  const idx = index(await s.call('GET', '/v1/catalog/services'));
  const parked = s.call('GET', `/v1/catalog/services?index=${idx}&wait=300ms`);
  await until(() => s.backend.store.watchStats().parked === 1);
  await register(s, { Node: 'lonely', Address: '10.0.0.50' });
  const r = await parked;
  t.is(index(r), idx);
});

test('X-Consul-Index never goes backwards when the last instance of a service goes away', async (t) => {
  const s = await fixture(t.teardown);
  const a = index(await s.call('GET', '/v1/catalog/service/redis'));
  await put(s, '/v1/catalog/deregister', { Node: 'foobar', ServiceID: 'redis1' });
  const b = index(await s.call('GET', '/v1/catalog/service/redis'));
  t.true(b > a);
  const empty = await serve(t.teardown);
  t.is((await empty.call('GET', '/v1/catalog/nodes')).headers['x-consul-index'], '1');
});

test('a subtree path without its slash is redirected to it, query kept, as Go’s mux does', async (t) => {
  const s = await serve(t.teardown);
  for (const path of ['/v1/catalog/service', '/v1/health/service', '/v1/session/info']) {
    const r = await s.call('GET', `${path}?stale`);
    t.is(r.status, 301, path);
    t.is(r.headers['location'], `${path}/?stale`);
  }
});
