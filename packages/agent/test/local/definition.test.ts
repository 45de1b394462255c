// Service and check definitions as a Consul agent takes them (agent_endpoint.go
// AgentRegisterService / AgentRegisterCheck, structs/service_definition.go, check_type.go,
// check_definition.go, agent.go AddService/addCheck, sidecar_service.go). Each test pins one
// Consul behaviour; error texts are Consul's, byte for byte, unless the test says "Trellis".
import test, { type ExecutionContext } from 'ava';
import { HttpError, toHttpError } from '../../src/http/errors.js';
import {
  DEFINITION_LIMITS,
  DefinitionError,
  parseCheckDefinition,
  parseCheckDefinitionBody,
  parseServiceDefinition,
  parseServiceDefinitionBody,
  type CheckDefinitionOptions,
  type DefinitionErrorCode,
  type ParsedService,
  type ServiceDefinitionOptions,
} from '../../src/local/definition.js';
import { goQuote, parseGoIP, timeQuote } from '../../src/local/go.js';

const PORTS = { used: new Set<number>(), min: 21000, max: 21255 };

const svcOpts = (over: Partial<ServiceDefinitionOptions> = {}): ServiceDefinitionOptions => ({
  nodeName: 'node1',
  enableScriptChecks: false,
  sidecarPorts: PORTS,
  ...over,
});

const checkOpts = (over: Partial<CheckDefinitionOptions> = {}): CheckDefinitionOptions => ({
  enableScriptChecks: false,
  serviceExists: (id) => id === 'web',
  ...over,
});

const svc = (raw: unknown, over: Partial<ServiceDefinitionOptions> = {}): ParsedService =>
  parseServiceDefinition(raw, svcOpts(over));

/** Asserts the refusal: status, Consul's text (the HTTP body) and, when given, the code. */
function refused(
  t: ExecutionContext,
  fn: () => unknown,
  status: number,
  text: string,
  code?: DefinitionErrorCode,
): void {
  const e = t.throws(fn, { instanceOf: DefinitionError });
  if (e === undefined) return;
  t.is(e.message, text);
  t.is(e.body, text);
  t.is(e.status, status);
  if (code !== undefined) t.is(e.code, code);
}

const refusedService = (
  t: ExecutionContext,
  raw: unknown,
  status: number,
  text: string,
  over: Partial<ServiceDefinitionOptions> = {},
): void => refused(t, () => svc(raw, over), status, text);

const decodeFailed = (text: string): string => `Request decode failed: ${text}`;
const multi = (...errs: string[]): string =>
  errs.length === 1
    ? `1 error occurred:\n\t* ${errs[0]}\n\n`
    : `${errs.length} errors occurred:\n\t${errs.map((e) => `* ${e}`).join('\n\t')}\n\n`;

// ---------------------------------------------------------------- valid definitions

test('a bare name: ID defaults to the name, weights to 1/1, everything else empty', (t) => {
  const p = svc({ Name: 'web' });
  t.deepEqual(p.service, {
    ID: 'web',
    Service: 'web',
    Tags: [],
    Address: '',
    TaggedAddresses: {},
    Meta: {},
    Port: 0,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Kind: '',
    Proxy: {
      DestinationServiceName: '',
      DestinationServiceID: '',
      LocalServiceAddress: '',
      LocalServicePort: 0,
      Config: {},
      Upstreams: [],
    },
    Connect: { Native: false },
  });
  t.deepEqual(p.checks, []);
  t.is(p.token, '');
  t.is(p.sidecar, undefined);
});

test('field names match in any case, as Go encoding/json matches them', (t) => {
  const spellings: unknown[] = [
    { Name: 'web', Port: 80, Tags: ['a'], Meta: { k: 'v' }, EnableTagOverride: true },
    { name: 'web', port: 80, tags: ['a'], meta: { k: 'v' }, enabletagoverride: true },
    { NAME: 'web', PORT: 80, TAGS: ['a'], META: { k: 'v' }, enable_tag_override: true },
    { nAmE: 'web', pOrT: 80, tAgS: ['a'], mEtA: { k: 'v' }, Enable_Tag_Override: true },
  ];
  for (const raw of spellings) {
    const s = svc(raw).service;
    t.is(s.Service, 'web');
    t.is(s.Port, 80);
    t.deepEqual(s.Tags, ['a']);
    t.deepEqual(s.Meta, { k: 'v' });
    t.true(s.EnableTagOverride, JSON.stringify(raw));
  }
});

test('a repeated key (any case): the last one wins, as Go assigns each in turn', (t) => {
  t.is(svc(JSON.parse('{"name":"first","Name":"second"}')).service.Service, 'second');
  t.is(svc(JSON.parse('{"Name":"first","Name":"second"}')).service.Service, 'second');
});

test('snake_case aliases Consul decodes: tagged_addresses, proxy and upstream fields', (t) => {
  const p = svc({
    name: 'proxy',
    kind: 'connect-proxy',
    port: 21000,
    tagged_addresses: { lan: { address: '10.0.0.1', port: 80 } },
    proxy: {
      destination_service_name: 'web',
      destination_service_id: 'web-1',
      local_service_address: '127.0.0.2',
      local_service_port: 8080,
      config: { protocol: 'http' },
      upstreams: [
        { destination_name: 'db', local_bind_port: 9191, local_bind_address: '127.0.0.3' },
        { DestinationType: 'prepared_query', DestinationName: 'q', LocalBindPort: 9192 },
      ],
    },
  });
  t.deepEqual(p.service.TaggedAddresses, { lan: { Address: '10.0.0.1', Port: 80 } });
  t.deepEqual(p.service.Proxy, {
    DestinationServiceName: 'web',
    DestinationServiceID: 'web-1',
    LocalServiceAddress: '127.0.0.2',
    LocalServicePort: 8080,
    Config: { protocol: 'http' },
    Upstreams: [
      // NodeService() defaults DestinationType to "service".
      {
        DestinationType: 'service',
        DestinationName: 'db',
        Datacenter: '',
        LocalBindAddress: '127.0.0.3',
        LocalBindPort: 9191,
        Config: {},
      },
      {
        DestinationType: 'prepared_query',
        DestinationName: 'q',
        Datacenter: '',
        LocalBindAddress: '',
        LocalBindPort: 9192,
        Config: {},
      },
    ],
  });
});

test('TaggedAddresses wins over tagged_addresses unless it is empty', (t) => {
  const both = svc({
    Name: 'a',
    TaggedAddresses: { lan: { Address: '1.1.1.1' } },
    tagged_addresses: { wan: { Address: '2.2.2.2' } },
  });
  t.deepEqual(Object.keys(both.service.TaggedAddresses), ['lan']);
  const empty = svc({
    Name: 'a',
    TaggedAddresses: {},
    tagged_addresses: { wan: { Address: '2.2.2.2' } },
  });
  t.deepEqual(Object.keys(empty.service.TaggedAddresses), ['wan']);
});

test('AddService adds lan/wan tagged addresses for an IP address, keeping given ones', (t) => {
  t.deepEqual(svc({ Name: 'a', Address: '10.1.2.3', Port: 80 }).service.TaggedAddresses, {
    lan_ipv4: { Address: '10.1.2.3', Port: 80 },
    wan_ipv4: { Address: '10.1.2.3', Port: 80 },
  });
  t.deepEqual(svc({ Name: 'a', Address: 'fd00::1', Port: 80 }).service.TaggedAddresses, {
    lan_ipv6: { Address: 'fd00::1', Port: 80 },
    wan_ipv6: { Address: 'fd00::1', Port: 80 },
  });
  const kept = svc({
    Name: 'a',
    Address: '10.1.2.3',
    Port: 80,
    TaggedAddresses: { wan_ipv4: { Address: '203.0.113.9', Port: 443 } },
  }).service.TaggedAddresses;
  t.deepEqual(kept.wan_ipv4, { Address: '203.0.113.9', Port: 443 });
  t.deepEqual(kept.lan_ipv4, { Address: '10.1.2.3', Port: 80 });
  // A host name is not an IP: nothing is added.
  t.deepEqual(svc({ Name: 'a', Address: 'web.example', Port: 80 }).service.TaggedAddresses, {});
});

test('service kinds the catalog models are accepted with their own rules', (t) => {
  t.is(svc({ Name: 'gw', Kind: 'mesh-gateway', Port: 8443 }).service.Kind, 'mesh-gateway');
  t.is(
    svc({ Name: 'tgw', Kind: 'terminating-gateway', Port: 8443 }).service.Kind,
    'terminating-gateway',
  );
  // An ingress gateway may have no port (its listeners come from config entries).
  t.is(svc({ Name: 'igw', Kind: 'ingress-gateway' }).service.Port, 0);
  const gw = svc({
    Name: 'gw',
    Kind: 'mesh-gateway',
    Port: 8443,
    Meta: { 'consul-wan-federation': '1' },
  });
  t.deepEqual(gw.service.Meta, { 'consul-wan-federation': '1' });
});

test('Connect.Native with a port, and explicit valid weights', (t) => {
  const s = svc({
    Name: 'n',
    Port: 9000,
    Connect: { Native: true },
    Weights: { Passing: 3, Warning: 0 },
  });
  t.true(s.service.Connect.Native);
  t.deepEqual(s.service.Weights, { Passing: 3, Warning: 0 });
});

test('Token is carried for the integrator (ACLs), not part of the service', (t) => {
  const p = svc({ Name: 'a', Token: 'secret', Connect: { SidecarService: { Token: 'side' } } });
  t.is(p.token, 'secret');
  t.is(p.sidecar?.token, 'side');
});

test('Consul fields Trellis does not model are accepted and dropped', (t) => {
  const p = svc({
    Name: 'p',
    Kind: 'connect-proxy',
    Port: 21000,
    Locality: { Region: 'r', Zone: 'z' },
    Proxy: {
      DestinationServiceName: 'web',
      Mode: 'transparent',
      MeshGateway: { Mode: 'local' },
      TransparentProxy: { OutboundListenerPort: 15001 },
      AccessLogs: { Enabled: true },
      EnvoyExtensions: [{ Name: 'builtin/lua', Arguments: { Script: 'x' } }],
      Expose: { Checks: true, Paths: [{ Path: '/m', listener_port: 21500, LocalPathPort: 9090 }] },
      Upstreams: [{ DestinationName: 'db', LocalBindPort: 9191, DestinationNamespace: 'ns1' }],
    },
    Connect: { PeerMeta: { SNI: ['x'] }, Whatever: true },
  });
  t.is(p.service.Proxy.DestinationServiceName, 'web');
  t.deepEqual(
    p.service.Proxy.Upstreams.map((u) => u.DestinationName),
    ['db'],
  );
});

// ---------------------------------------------------------------- checks in a service

test('service check IDs and names: service:<id>, numbered when several; Check comes first', (t) => {
  const one = svc({ Name: 'web', ID: 'web-1', Check: { TTL: '10s' } }).checks;
  t.deepEqual(
    one.map((c) => [c.CheckID, c.Name, c.ServiceID]),
    [['service:web-1', "Service 'web' check", 'web-1']],
  );
  const many = svc({
    Name: 'web',
    Check: { TTL: '10s' },
    Checks: [{ TTL: '20s' }, { CheckID: 'mine', Name: 'Mine', TTL: '30s' }],
  }).checks;
  t.deepEqual(
    many.map((c) => [c.CheckID, c.Name, c.TTL]),
    [
      ['service:web:1', "Service 'web' check", 10_000],
      ['service:web:2', "Service 'web' check", 20_000],
      ['mine', 'Mine', 30_000],
    ],
  );
});

test('an empty Check is ignored (CheckType.Empty); an empty Checks entry is validated', (t) => {
  t.deepEqual(svc({ Name: 'a', Check: {} }).checks, []);
  t.deepEqual(svc({ Name: 'a', Check: null }).checks, []);
  // ScriptArgs: [] ends up nil after the args/script_args fallbacks: still empty.
  t.deepEqual(svc({ Name: 'a', Check: { ScriptArgs: [], Interval: 0 } }).checks, []);
  // A present (even empty) Header map is not the zero value.
  refusedService(
    t,
    { Name: 'a', Check: { Header: {} } },
    400,
    'Invalid check: TTL must be > 0 for TTL checks',
  );
  refusedService(
    t,
    { Name: 'a', Checks: [{}] },
    400,
    'Invalid check: TTL must be > 0 for TTL checks',
  );
});

test('every check kind Trellis runs, with Consul defaults applied', (t) => {
  const p = svc(
    {
      Name: 'web',
      Checks: [
        { CheckID: 'ttl', TTL: '30s', Status: 'passing', Notes: 'n' },
        {
          CheckID: 'http',
          HTTP: 'https://127.0.0.1:8443/health',
          Method: 'POST',
          header: { 'X-A': ['1', '2'] },
          Body: '{}',
          Interval: '10s',
          Timeout: '2s',
          tls_skip_verify: true,
          tls_server_name: 'web.local',
          DisableRedirects: true,
        },
        { CheckID: 'tcp', TCP: '127.0.0.1:80', Interval: 5_000_000_000, TCPUseTLS: true },
        { CheckID: 'grpc', GRPC: '127.0.0.1:9000/svc', grpc_use_tls: true, Interval: '15s' },
        { CheckID: 'alias', AliasService: 'db', AliasNode: 'n2' },
        { CheckID: 'script', Args: ['/bin/check', '-v'], Interval: '1m' },
      ],
    },
    { enableScriptChecks: true },
  );
  const by = new Map(p.checks.map((c) => [c.CheckID, c]));
  const ttl = by.get('ttl');
  t.like(ttl, { kind: 'ttl', TTL: 30_000, Interval: 0, Timeout: 0, Status: 'passing', Notes: 'n' });
  t.like(by.get('http'), {
    kind: 'http',
    HTTP: 'https://127.0.0.1:8443/health',
    Method: 'POST',
    Body: '{}',
    Interval: 10_000,
    Timeout: 2_000,
    TLSSkipVerify: true,
    TLSServerName: 'web.local',
    DisableRedirects: true,
    Status: 'critical',
  });
  t.deepEqual(by.get('http')?.Header, { 'X-A': ['1', '2'] });
  // Durations may be integer nanoseconds, as Consul's decoder takes float64s.
  t.like(by.get('tcp'), {
    kind: 'tcp',
    TCP: '127.0.0.1:80',
    Interval: 5_000,
    Timeout: 10_000,
    TCPUseTLS: true,
  });
  t.like(by.get('grpc'), {
    kind: 'grpc',
    GRPC: '127.0.0.1:9000/svc',
    GRPCUseTLS: true,
    Timeout: 10_000,
  });
  t.like(by.get('alias'), { kind: 'alias', AliasService: 'db', AliasNode: 'n2', Interval: 0 });
  t.like(by.get('script'), { kind: 'script', Interval: 60_000, Timeout: 30_000 });
  t.deepEqual(by.get('script')?.ScriptArgs, ['/bin/check', '-v']);
});

test('ScriptArgs, args and script_args: the first non-empty one, in Consul order', (t) => {
  const on = { enableScriptChecks: true };
  const args = (check: unknown): readonly string[] | undefined =>
    svc({ Name: 'a', Check: check }, on).checks[0]?.ScriptArgs;
  t.deepEqual(args({ ScriptArgs: ['a'], args: ['b'], Interval: '1s' }), ['a']);
  t.deepEqual(args({ ScriptArgs: [], args: ['b'], script_args: ['c'], Interval: '1s' }), ['b']);
  t.deepEqual(args({ script_args: ['c'], Interval: '1s' }), ['c']);
});

test('check normalization: minimum interval, deregister minimum, output size, thresholds', (t) => {
  const c = (check: Record<string, unknown>, over: Partial<ServiceDefinitionOptions> = {}) =>
    svc({ Name: 'a', Check: { HTTP: 'http://x', Interval: '10s', ...check } }, over).checks[0]!;
  // checks.MinInterval: a shorter interval is raised to 1 s.
  t.is(c({ Interval: '100ms' }).Interval, 1000);
  // A timeout of zero or below means the runner's default.
  t.is(c({ Timeout: '-1s' }).Timeout, 10_000);
  // check_deregister_interval_min (1 m by default) raises a shorter value; 0 means never.
  t.is(c({ DeregisterCriticalServiceAfter: '10s' }).DeregisterCriticalServiceAfter, 60_000);
  t.is(c({ deregister_critical_service_after: '90m' }).DeregisterCriticalServiceAfter, 5_400_000);
  t.is(c({}).DeregisterCriticalServiceAfter, 0);
  t.is(
    c({ DeregisterCriticalServiceAfter: '10s' }, { checkDeregisterIntervalMinMs: 5_000 })
      .DeregisterCriticalServiceAfter,
    10_000,
  );
  // OutputMaxSize: the check's when positive and below the agent's, else the agent's.
  t.is(c({}).OutputMaxSize, 4096);
  t.is(c({ OutputMaxSize: 100 }).OutputMaxSize, 100);
  t.is(c({ OutputMaxSize: 100_000 }).OutputMaxSize, 4096);
  t.is(c({ OutputMaxSize: 100_000 }, { checkOutputMaxSize: 65_536 }).OutputMaxSize, 65_536);
  // FailuresBeforeWarning defaults to FailuresBeforeCritical.
  t.like(c({ FailuresBeforeCritical: 3 }), { FailuresBeforeWarning: 3, FailuresBeforeCritical: 3 });
  t.like(c({ FailuresBeforeWarning: 1, FailuresBeforeCritical: 3, SuccessBeforePassing: 2 }), {
    FailuresBeforeWarning: 1,
    FailuresBeforeCritical: 3,
    SuccessBeforePassing: 2,
  });
});

test("a check naming several interval kinds takes Consul's HealthCheck.Type order", (t) => {
  const c = svc({
    Name: 'a',
    Check: { HTTP: 'http://x', GRPC: 'x:1', TCP: 'x:2', Interval: '5s' },
  });
  t.is(c.checks[0]?.kind, 'grpc');
});

test('ServiceID inside a service check is accepted and ignored', (t) => {
  const c = svc({ Name: 'a', Check: { TTL: '1s', ServiceID: 'other', service_id: 'x' } });
  t.is(c.checks[0]?.ServiceID, 'a');
});

// ---------------------------------------------------------------- sidecar expansion

test('sidecar_service: Consul defaults, inherited tags/meta/address, default checks', (t) => {
  const p = svc({
    name: 'web',
    id: 'web-1',
    port: 8080,
    tags: ['v1'],
    meta: { team: 'a' },
    connect: { sidecar_service: {} },
  });
  const sc = p.sidecar;
  t.truthy(sc);
  t.deepEqual(sc?.service, {
    ID: 'web-1-sidecar-proxy',
    Service: 'web-sidecar-proxy',
    Tags: ['v1'],
    Address: '',
    TaggedAddresses: {},
    Meta: { team: 'a' },
    Port: 21000,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Kind: 'connect-proxy',
    Proxy: {
      DestinationServiceName: 'web',
      DestinationServiceID: 'web-1',
      LocalServiceAddress: '127.0.0.1',
      LocalServicePort: 8080,
      Config: {},
      Upstreams: [],
    },
    Connect: { Native: false },
  });
  t.deepEqual(
    sc?.checks.map((c) => [c.CheckID, c.Name, c.kind, c.TCP, c.Interval, c.AliasService]),
    [
      [
        'service:web-1-sidecar-proxy:1',
        'Connect Sidecar Listening',
        'tcp',
        '127.0.0.1:21000',
        10_000,
        '',
      ],
      ['service:web-1-sidecar-proxy:2', 'Connect Sidecar Aliasing web-1', 'alias', '', 0, 'web-1'],
    ],
  );
  t.true(sc?.checks.every((c) => c.ServiceID === 'web-1-sidecar-proxy'));
  // The parent keeps no trace of the sidecar (Connect.SidecarService is syntax sugar).
  t.deepEqual(p.service.Connect, { Native: false });
});

test('sidecar: the listening check uses the (inherited) service address, IPv6 bracketed', (t) => {
  const v4 = svc({ Name: 'web', Port: 80, Address: '10.0.0.5', Connect: { SidecarService: {} } });
  t.is(v4.sidecar?.service.Address, '10.0.0.5');
  t.is(v4.sidecar?.checks[0]?.TCP, '10.0.0.5:21000');
  t.deepEqual(v4.sidecar?.service.TaggedAddresses.lan_ipv4, { Address: '10.0.0.5', Port: 21000 });
  const v6 = svc({ Name: 'web', Port: 80, Connect: { SidecarService: { Address: 'fd00::7' } } });
  t.is(v6.sidecar?.checks[0]?.TCP, '[fd00::7]:21000');
});

test('sidecar: its own tags, meta, name, port, proxy settings and checks are kept', (t) => {
  const p = svc({
    Name: 'web',
    Port: 80,
    Tags: ['parent'],
    Meta: { p: '1' },
    Connect: {
      SidecarService: {
        Name: 'custom-proxy',
        Port: 20000,
        Tags: ['own'],
        Meta: { o: '2' },
        Proxy: {
          LocalServiceAddress: '10.0.0.9',
          LocalServicePort: 81,
          Upstreams: [{ DestinationName: 'db', LocalBindPort: 9191 }],
        },
        Checks: [{ TTL: '30s' }],
      },
    },
  });
  const s = p.sidecar?.service;
  t.like(s, { Service: 'custom-proxy', Port: 20000, Tags: ['own'], Meta: { o: '2' } });
  t.like(s?.Proxy, { LocalServiceAddress: '10.0.0.9', LocalServicePort: 81 });
  t.is(s?.Proxy.Upstreams[0]?.DestinationType, 'service');
  t.deepEqual(
    p.sidecar?.checks.map((c) => [c.CheckID, c.kind]),
    [['service:web-sidecar-proxy', 'ttl']],
  );
  // Empty tags or meta count as "none given": the parent's are inherited.
  const inherit = svc({
    Name: 'web',
    Tags: ['parent'],
    Meta: { p: '1' },
    Connect: { SidecarService: { Tags: [], Meta: {} } },
  });
  t.deepEqual(inherit.sidecar?.service.Tags, ['parent']);
  t.deepEqual(inherit.sidecar?.service.Meta, { p: '1' });
});

test('sidecar port: the lowest free port in range; a registered sidecar keeps its port', (t) => {
  const used = new Set([21000, 21001, 21003]);
  const pick = (over: Partial<ServiceDefinitionOptions>) =>
    svc({ Name: 'web', Connect: { SidecarService: {} } }, over).sidecar?.service.Port;
  t.is(pick({ sidecarPorts: { used, min: 21000, max: 21255 } }), 21002);
  // agent.sidecarPortFromServiceIDLocked reuses the existing sidecar's port when in range.
  const seen: string[] = [];
  const existing = (id: string): number | undefined => {
    seen.push(id);
    return 21003;
  };
  t.is(
    pick({ sidecarPorts: { used, min: 21000, max: 21255 }, existingSidecarPort: existing }),
    21003,
  );
  t.deepEqual(seen, ['web-sidecar-proxy']);
  // Outside the range (or the range moved): a new port is allocated.
  t.is(
    pick({ sidecarPorts: { used, min: 21000, max: 21255 }, existingSidecarPort: () => 30000 }),
    21002,
  );
  // The parent is registered first, so its own port in the range is taken too.
  t.is(
    svc({ Name: 'web', Port: 21000, Connect: { SidecarService: {} } }).sidecar?.service.Port,
    21001,
  );
  // A negative port is "none given" too.
  const neg = svc({ Name: 'web', Connect: { SidecarService: { Port: -5 } } });
  t.is(neg.sidecar?.service.Port, 21000);
});

test("sidecar port: exhaustion and disabled allocation are Consul's 500s", (t) => {
  refused(
    t,
    () =>
      svc(
        { Name: 'web', Connect: { SidecarService: {} } },
        { sidecarPorts: { used: new Set([2222]), min: 2222, max: 2222 } },
      ),
    500,
    'no port provided for sidecar_service and none left in the configured range [2222, 2222]',
    'SIDECAR_PORT',
  );
  refused(
    t,
    () =>
      svc(
        { Name: 'web', Connect: { SidecarService: {} } },
        { sidecarPorts: { used: new Set(), min: 0, max: 0 } },
      ),
    500,
    'no port provided for sidecar_service and auto-assignment disabled in config',
    'SIDECAR_PORT',
  );
  // With its own port the sidecar needs no allocation at all.
  const own = svc(
    { Name: 'web', Connect: { SidecarService: { Port: 20000 } } },
    { sidecarPorts: { used: new Set(), min: 0, max: 0 } },
  );
  t.is(own.sidecar?.service.Port, 20000);
});

test('sidecar refusals: ID, nesting, gateways, its checks, its meta, its proxy', (t) => {
  refusedService(
    t,
    { Name: 'web', Connect: { SidecarService: { ID: 'x' } } },
    400,
    `Validation failed: ${multi('A SidecarService cannot specify an ID as this is managed by the agent')}`,
  );
  refusedService(
    t,
    { Name: 'web', Connect: { SidecarService: { Connect: { SidecarService: {} } } } },
    400,
    `Validation failed: ${multi('A SidecarService cannot have a nested SidecarService')}`,
  );
  refusedService(
    t,
    { Name: 'gw', Kind: 'mesh-gateway', Port: 443, Connect: { SidecarService: {} } },
    400,
    `Validation failed: ${multi('A mesh-gateway cannot have a sidecar service defined')}`,
  );
  refusedService(
    t,
    { Name: 'web', Connect: { SidecarService: { Check: { Interval: '10s' } } } },
    400,
    'Invalid check in sidecar_service: TTL must be > 0 for TTL checks',
  );
  refusedService(
    t,
    { Name: 'web', Connect: { SidecarService: { Checks: [{ TTL: '1s', Status: 'up' }] } } },
    400,
    "Status for checks must 'passing', 'warning', 'critical'",
  );
  refusedService(
    t,
    { Name: 'web', Connect: { SidecarService: { Meta: { 'consul-x': '1' } } } },
    400,
    "Invalid SidecarService: Couldn't load metadata pair ('consul-x', '1'): " +
      "Key prefix 'consul-' is reserved for internal use",
  );
  refusedService(
    t,
    {
      Name: 'web',
      Connect: { SidecarService: { Proxy: { Upstreams: [{ DestinationName: 'db' }] } } },
    },
    400,
    `Failed Validation: ${multi('upstream local bind port or local socket path must be defined and nonzero')}`,
  );
  // The parent's checks are judged before the sidecar's.
  refusedService(
    t,
    {
      Name: 'web',
      Check: { Interval: '1s' },
      Connect: { SidecarService: { Check: { Interval: '1s' } } },
    },
    400,
    'Invalid check: TTL must be > 0 for TTL checks',
  );
});

// ---------------------------------------------------------------- Consul's refusals

test("the handler's own checks: name, address", (t) => {
  refusedService(t, {}, 400, 'Missing service name');
  refusedService(t, null, 400, 'Missing service name');
  refusedService(t, { ID: 'only-id' }, 400, 'Missing service name');
  for (const address of ['0.0.0.0', '::', '[::]']) {
    refusedService(t, { Name: 'a', Address: address }, 400, 'Invalid service address');
  }
});

test('Invalid Weights (structs.ValidateWeights)', (t) => {
  const cases: Array<[unknown, string]> = [
    [{}, 'Passing must be greater than 0'],
    [{ Passing: 0, Warning: 1 }, 'Passing must be greater than 0'],
    [{ Passing: 1, Warning: -1 }, 'Warning must be greater or equal than 0'],
    [{ Passing: 65536, Warning: 1 }, 'DNS Weight must be between 0 and 65535'],
    [{ Passing: 1, Warning: 70000 }, 'DNS Weight must be between 0 and 65535'],
  ];
  for (const [w, text] of cases) {
    refusedService(t, { Name: 'a', Weights: w }, 400, `Invalid Weights: ${text}`);
  }
  // null is "no weights": Consul's 1/1.
  t.deepEqual(svc({ Name: 'a', Weights: null }).service.Weights, { Passing: 1, Warning: 1 });
});

test('Invalid Service Meta (structs.ValidateServiceMetadata)', (t) => {
  const pair = (k: string, v: string, why: string): string =>
    `Invalid Service Meta: Couldn't load metadata pair ('${k}', '${v}'): ${why}`;
  const many: Record<string, string> = {};
  for (let i = 0; i < 65; i++) many[`k${i}`] = 'v';
  refusedService(
    t,
    { Name: 'a', Meta: many },
    400,
    'Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs',
  );
  refusedService(t, { Name: 'a', Meta: { '': 'v' } }, 400, pair('', 'v', 'Key cannot be blank'));
  refusedService(
    t,
    { Name: 'a', Meta: { 'a.b': 'v' } },
    400,
    pair('a.b', 'v', 'Key contains invalid characters'),
  );
  const longKey = 'k'.repeat(129);
  refusedService(
    t,
    { Name: 'a', Meta: { [longKey]: 'v' } },
    400,
    pair(longKey, 'v', 'Key is too long (limit: 128 characters)'),
  );
  const longValue = 'v'.repeat(513);
  refusedService(
    t,
    { Name: 'a', Meta: { k: longValue } },
    400,
    pair('k', longValue, 'Value is too long (limit: 512 characters)'),
  );
  refusedService(
    t,
    { Name: 'a', Meta: { 'consul-wan-federation': '1' } },
    400,
    pair('consul-wan-federation', '1', "Key prefix 'consul-' is reserved for internal use"),
  );
  // 64 pairs, a 128-byte key and a 512-byte value are fine.
  delete many.k64;
  t.is(Object.keys(svc({ Name: 'a', Meta: many }).service.Meta).length, 64);
  t.truthy(svc({ Name: 'a', Meta: { ['k'.repeat(128)]: 'v'.repeat(512) } }));
});

test('Validation failed: connect-proxy rules of NodeService.Validate', (t) => {
  const proxy = (p: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    Name: 'p',
    Kind: 'connect-proxy',
    Port: 21000,
    ...extra,
    Proxy: { DestinationServiceName: 'web', ...p },
  });
  refusedService(
    t,
    { Name: 'p', Kind: 'connect-proxy' },
    400,
    `Validation failed: ${multi(
      'Port or SocketPath must be set for a connect-proxy',
      'Proxy.DestinationServiceName must be non-empty for Connect proxy services',
    )}`,
  );
  refusedService(
    t,
    proxy({ DestinationServiceName: '*' }, { Connect: { Native: true } }),
    400,
    `Validation failed: ${multi(
      'Proxy.DestinationServiceName must not be a wildcard for Connect proxy services',
      'A Proxy cannot also be Connect Native, only typical services',
    )}`,
  );
  refusedService(
    t,
    proxy({
      Upstreams: [
        { DestinationType: 'bogus', DestinationName: 'a', LocalBindPort: 1 },
        { LocalBindPort: 2 },
        { DestinationName: '*', LocalBindPort: 3 },
        { DestinationName: 'b' },
        { DestinationName: 'c', LocalBindPort: 4, Datacenter: 'dc2', DestinationPartition: 'p1' },
        { DestinationName: 'd', LocalBindPort: 5 },
        { DestinationName: 'd', LocalBindPort: 6 },
        { DestinationName: 'e', LocalBindPort: 5 },
      ],
    }),
    400,
    `Validation failed: ${multi(
      'unknown upstream destination type: "bogus"',
      'upstream destination name cannot be empty',
      'upstream destination name cannot be a wildcard',
      'upstream local bind port or local socket path must be defined and nonzero',
      'upstreams cannot target another datacenter in non default partition',
      'upstreams cannot contain duplicates of [type="service", name="d", partition="", namespace="", peer="", datacenter=""]',
      'upstreams cannot contain duplicates by local bind address and port or unix path; "127.0.0.1:5" is specified twice',
    )}`,
  );
  refusedService(
    t,
    proxy({
      Expose: {
        Paths: [
          { Path: '', ListenerPort: 21500 },
          { Path: '/a', ListenerPort: 21500, Protocol: 'GRPC' },
          { Path: '/b', ListenerPort: 0 },
        ],
      },
    }),
    400,
    `Validation failed: ${multi(
      'expose.paths: empty path exposed',
      'expose.paths: duplicate listener ports exposed',
      "protocol 'grpc' not supported for path: /a, must be in: [http http2]",
      'expose.paths: invalid listener port: 0',
    )}`,
  );
  refusedService(
    t,
    proxy({ Config: { envoy_hcp_metrics_bind_socket_dir: 'd'.repeat(71) } }),
    400,
    `Validation failed: ${multi('Proxy.Config: envoy_hcp_metrics_bind_socket_dir length 71 exceeds max 70')}`,
  );
});

test('Validation failed: gateway and Connect-native rules', (t) => {
  refusedService(
    t,
    {
      Name: 'tgw',
      Kind: 'terminating-gateway',
      Proxy: {
        DestinationServiceName: 'a',
        DestinationServiceID: 'b',
        LocalServiceAddress: 'c',
        LocalServicePort: 1,
        Upstreams: [{ DestinationName: 'x', LocalBindPort: 1 }],
      },
    },
    400,
    `Validation failed: ${multi(
      'Port must be non-zero for a terminating-gateway',
      'The Proxy.DestinationServiceName configuration is invalid for a terminating-gateway',
      'The Proxy.DestinationServiceID configuration is invalid for a terminating-gateway',
      'The Proxy.LocalServiceAddress configuration is invalid for a terminating-gateway',
      'The Proxy.LocalServicePort configuration is invalid for a terminating-gateway',
      'The Proxy.Upstreams configuration is invalid for a terminating-gateway',
    )}`,
  );
  refusedService(
    t,
    { Name: 'n', Connect: { Native: true } },
    400,
    `Validation failed: ${multi('Port or SocketPath must be set for a Connect native service.')}`,
  );
});

test('Invalid check: CheckType.Validate, in its order', (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ TTL: '1s', Interval: '1s' }, 'Interval and TTL cannot both be specified'],
    [
      { HTTP: 'http://x' },
      'Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks',
    ],
    [
      { TCP: 'x:1', Interval: '-1s' },
      'Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks',
    ],
    [{ TCP: 'x:1', Interval: '1s', AliasService: 'a' }, 'Interval cannot be set for Alias checks'],
    [{ AliasService: 'a', TTL: '1s' }, 'TTL must be not be set for Alias checks'],
    [{ Notes: 'x' }, 'TTL must be > 0 for TTL checks'],
    [{ TTL: '-5s' }, 'TTL must be > 0 for TTL checks'],
    [{ TTL: '1s', OutputMaxSize: -1 }, 'MaxOutputMaxSize must be positive'],
    [
      { TTL: '1s', FailuresBeforeWarning: 3, FailuresBeforeCritical: 2 },
      "FailuresBeforeWarning can't be higher than FailuresBeforeCritical",
    ],
  ];
  for (const [check, text] of cases) {
    refusedService(t, { Name: 'a', Check: check }, 400, `Invalid check: ${text}`);
    refused(
      t,
      () => parseCheckDefinition({ Name: 'c', ...check }, checkOpts()),
      400,
      `Invalid check: ${text}`,
    );
  }
  // The first failing check is the answer.
  refusedService(
    t,
    { Name: 'a', Checks: [{ TTL: '1s' }, { HTTP: 'x' }, { Notes: 'y' }] },
    400,
    'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks',
  );
});

test("check statuses: the service text after all checks validate; the check endpoint's text", (t) => {
  refusedService(
    t,
    { Name: 'a', Checks: [{ TTL: '1s', Status: 'ok' }, { Notes: 'invalid' }] },
    400,
    'Invalid check: TTL must be > 0 for TTL checks',
  );
  refusedService(
    t,
    { Name: 'a', Checks: [{ TTL: '1s', Status: 'ok' }] },
    400,
    "Status for checks must 'passing', 'warning', 'critical'",
  );
  refused(
    t,
    () => parseCheckDefinition({ Name: 'c', TTL: '1s', Status: 'ok' }, checkOpts()),
    400,
    'Bad check status',
  );
  for (const status of ['passing', 'warning', 'critical'] as const) {
    t.is(svc({ Name: 'a', Check: { TTL: '1s', Status: status } }).checks[0]?.Status, status);
  }
});

test("script checks: refused unless enabled, with Consul's text per source (500)", (t) => {
  const def = { Name: 'a', Check: { Args: ['/bin/true'], Interval: '10s' } };
  refused(
    t,
    () => svc(def),
    500,
    "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true",
    'SCRIPTS_DISABLED',
  );
  refused(
    t,
    () => svc(def, { source: 'local' }),
    500,
    "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true",
    'SCRIPTS_DISABLED',
  );
  t.is(svc(def, { source: 'local', enableLocalScriptChecks: true }).checks[0]?.kind, 'script');
  t.is(svc(def, { enableScriptChecks: true }).checks[0]?.kind, 'script');
  // enable_local_script_checks does not open the HTTP API.
  t.throws(() => svc(def, { enableLocalScriptChecks: true }), { instanceOf: DefinitionError });
  // The sidecar's script checks are gated the same way.
  refused(
    t,
    () => svc({ Name: 'a', Connect: { SidecarService: { Check: def.Check } } }),
    500,
    "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true",
  );
  refused(
    t,
    () => parseCheckDefinition({ Name: 'c', ScriptArgs: ['x'], Interval: '1s' }, checkOpts()),
    500,
    "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true",
  );
});

test("AddService's tagged-address rules are Consul's 500s", (t) => {
  refusedService(
    t,
    { Name: 'a', TaggedAddresses: { lan_ipv4: { Address: 'fd00::1' } } },
    500,
    'Service tagged address "lan_ipv4" must be a valid ipv4 address',
  );
  refusedService(
    t,
    { Name: 'a', TaggedAddresses: { wan_ipv4: { Address: 'host' } } },
    500,
    'Service tagged address "wan_ipv4" must be a valid ipv4 address',
  );
  refusedService(
    t,
    { Name: 'a', TaggedAddresses: { lan_ipv6: { Address: '10.0.0.1' } } },
    500,
    'Service tagged address "lan_ipv6" must be a valid ipv6 address',
  );
  // An IPv4-mapped IPv6 address is IPv4 to Go (IP.To4).
  t.truthy(svc({ Name: 'a', TaggedAddresses: { lan_ipv4: { Address: '::ffff:10.0.0.1' } } }));
});

// ---------------------------------------------------------------- /v1/agent/check/register

test('check register: ID defaults to the name, status to critical, and the fields', (t) => {
  const c = parseCheckDefinition(
    {
      name: 'mem',
      notes: 'n',
      service_id: 'web',
      http: 'http://127.0.0.1/health',
      interval: '30s',
      timeout: '5s',
      disable_redirects: true,
      header: { Host: ['x'] },
    },
    checkOpts(),
  );
  t.like(c, {
    CheckID: 'mem',
    Name: 'mem',
    Notes: 'n',
    ServiceID: 'web',
    Status: 'critical',
    kind: 'http',
    Interval: 30_000,
    Timeout: 5_000,
    DisableRedirects: true,
  });
  const ttl = parseCheckDefinition(
    { ID: 'ttl-1', Name: 'ttl', TTL: 15e9, Status: 'warning' },
    checkOpts(),
  );
  t.like(ttl, { CheckID: 'ttl-1', kind: 'ttl', TTL: 15_000, Status: 'warning', ServiceID: '' });
});

test("check register: the handler's texts and statuses", (t) => {
  refused(t, () => parseCheckDefinition({}, checkOpts()), 400, 'Missing check name');
  refused(t, () => parseCheckDefinition({ TTL: '1s' }, checkOpts()), 400, 'Missing check name');
  refused(
    t,
    () => parseCheckDefinition({ Name: 'c', TTL: '1s', ServiceID: 'db' }, checkOpts()),
    404,
    'ServiceID "db" does not exist',
    'UNKNOWN_SERVICE',
  );
  // The CheckType's "CheckID" is not a CheckDefinition field.
  refused(
    t,
    () => parseCheckDefinition({ Name: 'c', TTL: '1s', CheckID: 'x' }, checkOpts()),
    400,
    decodeFailed('json: unknown field "CheckID"'),
  );
  refused(
    t,
    () => parseCheckDefinition('x', checkOpts()),
    400,
    decodeFailed('json: cannot unmarshal string into Go value of type structs.CheckDefinition'),
  );
});

test('unsupported check kinds are refused naming Trellis (400)', (t) => {
  const kinds: Array<[Record<string, unknown>, string]> = [
    [{ UDP: 'x:53', Interval: '5s' }, 'udp'],
    [{ H2PING: 'x:443', Interval: '5s' }, 'h2ping'],
    [{ OSService: 'sshd', Interval: '5s' }, 'os_service'],
    [{ DockerContainerID: 'abc', Args: ['true'], Interval: '5s' }, 'docker'],
  ];
  for (const [check, kind] of kinds) {
    const text = `Invalid check: ${kind} checks are not supported by Trellis`;
    refused(
      t,
      () => svc({ Name: 'a', Check: check }, { enableScriptChecks: true }),
      400,
      text,
      'UNSUPPORTED',
    );
    refused(
      t,
      () => parseCheckDefinition({ Name: 'c', ...check }, checkOpts({ enableScriptChecks: true })),
      400,
      text,
    );
  }
});

// ---------------------------------------------------------------- Trellis's own refusals

test('Trellis: kinds the catalog does not model, unix sockets, peering', (t) => {
  refused(
    t,
    () => svc({ Name: 'a', Kind: 'bogus' }),
    400,
    'Invalid service kind "bogus"',
    'INVALID',
  );
  refused(
    t,
    () => svc({ Name: 'a', Kind: 'api-gateway' }),
    400,
    'Service kind "api-gateway" is not supported by Trellis',
    'UNSUPPORTED',
  );
  refused(
    t,
    () => svc({ Name: 'a', SocketPath: '/run/a.sock' }),
    400,
    'SocketPath is not supported by Trellis',
    'UNSUPPORTED',
  );
  refused(
    t,
    () => svc({ Name: 'p', Proxy: { local_service_socket_path: '/s' } }),
    400,
    'Proxy.LocalServiceSocketPath is not supported by Trellis',
  );
  refused(
    t,
    () =>
      svc({
        Name: 'p',
        Proxy: { Upstreams: [{ DestinationName: 'd', LocalBindSocketPath: '/s' }] },
      }),
    400,
    'Proxy.Upstreams[0].LocalBindSocketPath is not supported by Trellis',
  );
  refused(
    t,
    () =>
      svc({
        Name: 'p',
        Proxy: {
          Upstreams: [{ DestinationName: 'd', DestinationPeer: 'other', LocalBindPort: 1 }],
        },
      }),
    400,
    'Proxy.Upstreams[0].DestinationPeer is not supported by Trellis (no cluster peering)',
  );
  refused(
    t,
    () => svc({ Name: 'web', Connect: { SidecarService: { Kind: 'bogus' } } }),
    400,
    'Invalid SidecarService: Invalid service kind "bogus"',
  );
  refused(
    t,
    () => svc({ Name: 'web', Connect: { SidecarService: { Address: '0.0.0.0' } } }),
    400,
    'Invalid SidecarService: Invalid service address',
  );
});

test('Trellis: ports are 0..65535; fractions are Go decode errors', (t) => {
  refusedService(t, { Name: 'a', Port: -1 }, 400, 'Port: -1 is not a valid port (0 to 65535)');
  refusedService(
    t,
    { Name: 'a', Port: 65536 },
    400,
    'Port: 65536 is not a valid port (0 to 65535)',
  );
  refusedService(
    t,
    { Name: 'a', TaggedAddresses: { lan: { Address: 'x', Port: 70000 } } },
    400,
    'TaggedAddresses.lan.Port: 70000 is not a valid port (0 to 65535)',
  );
  refusedService(
    t,
    { Name: 'a', Proxy: { LocalServicePort: -2 } },
    400,
    'Proxy.LocalServicePort: -2 is not a valid port (0 to 65535)',
  );
  refusedService(
    t,
    { Name: 'a', Proxy: { Upstreams: [{ DestinationName: 'x', LocalBindPort: 99999 }] } },
    400,
    'Proxy.Upstreams[0].LocalBindPort: 99999 is not a valid port (0 to 65535)',
  );
  refusedService(
    t,
    { Name: 'web', Connect: { SidecarService: { Port: 70000 } } },
    400,
    'Invalid SidecarService: Port: 70000 is not a valid port (0 to 65535)',
  );
  refusedService(
    t,
    { Name: 'a', Port: 1.5 },
    400,
    decodeFailed('json: cannot unmarshal number 1.5 into Go struct field .Port of type int'),
  );
  t.is(svc({ Name: 'a', Port: 65535 }).service.Port, 65535);
});

test('Trellis: negative check thresholds are refused (Consul takes them)', (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ SuccessBeforePassing: -1 }, 'SuccessBeforePassing must not be negative'],
    [
      { FailuresBeforeWarning: -2, FailuresBeforeCritical: -1 },
      'FailuresBeforeWarning must not be negative',
    ],
    // Consul's own rule sees a negative FailuresBeforeCritical first (0 > -1).
    [
      { FailuresBeforeWarning: 0, FailuresBeforeCritical: -1 },
      "FailuresBeforeWarning can't be higher than FailuresBeforeCritical",
    ],
  ];
  for (const [check, text] of cases) {
    refusedService(t, { Name: 'a', Check: { TTL: '1s', ...check } }, 400, `Invalid check: ${text}`);
  }
});

// ---------------------------------------------------------------- decoding as Go does

test('decode: type errors name the outermost custom-decoded field, as Go re-labels them', (t) => {
  const cases: Array<[unknown, string]> = [
    [{ Name: 5 }, 'json: cannot unmarshal number into Go struct field .Name of type string'],
    [
      { Name: 'a', Port: '80' },
      'json: cannot unmarshal string into Go struct field .Port of type int',
    ],
    [
      { Name: 'a', Kind: 1 },
      'json: cannot unmarshal number into Go struct field .Kind of type structs.ServiceKind',
    ],
    [
      { Name: 'a', Tags: 'x' },
      'json: cannot unmarshal string into Go struct field .Tags of type []string',
    ],
    [
      { Name: 'a', Tags: ['x', 1] },
      'json: cannot unmarshal number into Go struct field .Tags of type string',
    ],
    [
      { Name: 'a', Meta: [] },
      'json: cannot unmarshal array into Go struct field .Meta of type map[string]string',
    ],
    [
      { Name: 'a', Meta: { k: true } },
      'json: cannot unmarshal bool into Go struct field .Meta of type string',
    ],
    [
      { Name: 'a', EnableTagOverride: 'yes' },
      'json: cannot unmarshal string into Go struct field .EnableTagOverride of type bool',
    ],
    [
      { Name: 'a', enable_tag_override: 1 },
      'json: cannot unmarshal number into Go struct field .enable_tag_override of type bool',
    ],
    [
      { Name: 'a', Weights: 'x' },
      'json: cannot unmarshal string into Go struct field .Weights of type structs.Weights',
    ],
    [
      { Name: 'a', Weights: { Passing: 'x' } },
      'json: cannot unmarshal string into Go struct field Weights.Weights.Passing of type int',
    ],
    [
      { Name: 'a', TaggedAddresses: { lan: { Port: 'x' } } },
      'json: cannot unmarshal string into Go struct field ServiceAddress.TaggedAddresses.Port of type int',
    ],
    [
      { Name: 'a', Check: { HTTP: 5 } },
      'json: cannot unmarshal number into Go struct field .Check of type string',
    ],
    [
      { Name: 'a', Check: { Header: { X: 'y' } } },
      'json: cannot unmarshal string into Go struct field .Check of type []string',
    ],
    [
      { Name: 'a', Checks: {} },
      'json: cannot unmarshal object into Go struct field .Checks of type structs.CheckTypes',
    ],
    [
      { Name: 'a', Checks: [5] },
      'json: cannot unmarshal number into Go struct field .Checks of type structs.CheckType',
    ],
    [
      { Name: 'a', Proxy: { LocalServicePort: 'x' } },
      'json: cannot unmarshal string into Go struct field .Proxy of type int',
    ],
    [
      { Name: 'a', Proxy: { Upstreams: [{ LocalBindPort: 'x' }] } },
      'json: cannot unmarshal string into Go struct field .Proxy of type int',
    ],
    [
      { Name: 'a', Proxy: { Config: 'x' } },
      'json: cannot unmarshal string into Go struct field .Proxy of type map[string]interface {}',
    ],
    [
      { Name: 'a', Connect: { Native: 'yes' } },
      'json: cannot unmarshal string into Go struct field .Connect of type bool',
    ],
    [
      { Name: 'a', Connect: { SidecarService: { Port: 'x' } } },
      'json: cannot unmarshal string into Go struct field .Connect of type int',
    ],
  ];
  for (const [raw, text] of cases) refusedService(t, raw, 400, decodeFailed(text));
  refused(
    t,
    () => parseCheckDefinition({ Name: 'c', Header: { X: [1] } }, checkOpts()),
    400,
    decodeFailed('json: cannot unmarshal number into Go struct field .Header of type string'),
  );
});

test("decode: unknown fields are refused by Consul's strict decoders, not inside Connect", (t) => {
  refusedService(
    t,
    { Name: 'a', Service: 'x' },
    400,
    decodeFailed('json: unknown field "Service"'),
  );
  refusedService(
    t,
    { Name: 'a', Namespace: 'ns' },
    400,
    decodeFailed('json: unknown field "Namespace"'),
  );
  // A check in a service has CheckID, not ID; config-file snake names are not JSON aliases.
  refusedService(
    t,
    { Name: 'a', Check: { ID: 'x', TTL: '1s' } },
    400,
    decodeFailed('json: unknown field "ID"'),
  );
  refusedService(
    t,
    { Name: 'a', Check: { TTL: '1s', success_before_passing: 2 } },
    400,
    decodeFailed('json: unknown field "success_before_passing"'),
  );
  refusedService(
    t,
    { Name: 'a', Proxy: { Foo: 1 } },
    400,
    decodeFailed('json: unknown field "Foo"'),
  );
  refusedService(
    t,
    { Name: 'a', Proxy: { Upstreams: [{ DestinationName: 'd', IngressHosts: [] }] } },
    400,
    decodeFailed('json: unknown field "IngressHosts"'),
  );
  refusedService(
    t,
    { Name: 'a', Weights: { Passing: 1, Heavy: 2 } },
    400,
    decodeFailed('json: unknown field "Heavy"'),
  );
  // ServiceConnect decodes with plain json.Unmarshal: unknown keys pass.
  t.truthy(svc({ Name: 'a', Connect: { Proxy: { Command: ['x'] } } }));
});

test("decode: the first remembered error wins, but a nested decoder's error stops at once", (t) => {
  refusedService(
    t,
    { Name: 'a', Foo: 1, Port: 'x' },
    400,
    decodeFailed('json: unknown field "Foo"'),
  );
  refusedService(
    t,
    { Name: 'a', Port: 'x', Foo: 1 },
    400,
    decodeFailed('json: cannot unmarshal string into Go struct field .Port of type int'),
  );
  refusedService(
    t,
    { Name: 'a', Foo: 1, Check: { HTTP: 5 } },
    400,
    decodeFailed('json: cannot unmarshal number into Go struct field .Check of type string'),
  );
  // Within a check, decode errors come before its durations are parsed.
  refusedService(
    t,
    { Name: 'a', Check: { Interval: 'bad', HTTP: 5 } },
    400,
    decodeFailed('json: cannot unmarshal number into Go struct field .Check of type string'),
  );
});

test('decode: durations are Go strings or integer nanoseconds; other JSON types are ignored', (t) => {
  const ttl = (v: unknown): number => svc({ Name: 'a', Check: { TTL: v } }).checks[0]!.TTL;
  t.is(ttl('90s'), 90_000);
  t.is(ttl('1h2m3.5s'), 3_723_500);
  t.is(ttl('+2m'), 120_000);
  t.is(ttl(2_500_000_000), 2_500);
  t.is(ttl(2_500_000_000.9), 2_500);
  // Consul's switch ignores a bool: the TTL is then missing (a lone Check is then empty).
  t.deepEqual(svc({ Name: 'a', Check: { TTL: true } }).checks, []);
  refusedService(
    t,
    { Name: 'a', Checks: [{ TTL: true }] },
    400,
    'Invalid check: TTL must be > 0 for TTL checks',
  );
  const bad: Array<[string, string]> = [
    ['1fortnight', 'time: unknown unit "fortnight" in duration "1fortnight"'],
    ['', 'time: invalid duration ""'],
    ['5', 'time: missing unit in duration "5"'],
    ['1h 2m', 'time: unknown unit "h " in duration "1h 2m"'],
    ['s', 'time: invalid duration "s"'],
    ['.s', 'time: invalid duration ".s"'],
    ['1S', 'time: unknown unit "S" in duration "1S"'],
    ['\u221es', 'time: invalid duration "\\xe2\\x88\\x9es"'],
    ['9999999999h', 'time: invalid duration "9999999999h"'],
  ];
  for (const [text, err] of bad) {
    refusedService(t, { Name: 'a', Check: { TTL: text } }, 400, decodeFailed(err));
    refused(
      t,
      () => parseCheckDefinition({ Name: 'c', Interval: text }, checkOpts()),
      400,
      decodeFailed(err),
    );
  }
  // "-5s" parses; it is the validation that refuses it.
  refusedService(
    t,
    { Name: 'a', Check: { HTTP: 'x', Interval: '-5s' } },
    400,
    'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks',
  );
  // Durations are parsed in Consul's order: Interval, Timeout, TTL, DeregisterCriticalServiceAfter.
  refusedService(
    t,
    { Name: 'a', Check: { DeregisterCriticalServiceAfter: 'x', TTL: 'y', Interval: 'z' } },
    400,
    decodeFailed('time: invalid duration "z"'),
  );
});

test('config files (source local): snake_case names, check id, the local script text', (t) => {
  const p = svc(
    {
      name: 'web',
      port: 80,
      enable_tag_override: true,
      socket_path: '',
      checks: [
        {
          id: 'web-http',
          name: 'HTTP',
          http: 'http://127.0.0.1/',
          interval: '10s',
          success_before_passing: 2,
          failures_before_warning: 1,
          failures_before_critical: 3,
          output_max_size: 1000,
          tls_skip_verify: true,
        },
      ],
      connect: {
        sidecar_service: {
          proxy: { upstreams: [{ destination_name: 'db', local_bind_port: 9191 }] },
        },
      },
    },
    { source: 'local' },
  );
  t.like(p.checks[0], {
    CheckID: 'web-http',
    SuccessBeforePassing: 2,
    FailuresBeforeWarning: 1,
    FailuresBeforeCritical: 3,
    OutputMaxSize: 1000,
    TLSSkipVerify: true,
  });
  t.is(p.sidecar?.service.Proxy.Upstreams[0]?.LocalBindPort, 9191);
  const c = parseCheckDefinition(
    { check_id: 'c1', name: 'c', ttl: '10s', service_id: 'web', failures_before_critical: 2 },
    checkOpts({ source: 'local' }),
  );
  t.like(c, {
    CheckID: 'c1',
    ServiceID: 'web',
    FailuresBeforeCritical: 2,
    FailuresBeforeWarning: 2,
  });
});

// ---------------------------------------------------------------- request bodies

test("body entry points decode as Consul's decodeBody (EOF, null, wrong JSON type)", (t) => {
  const body = (s: string): Uint8Array => Buffer.from(s, 'utf8');
  const e = t.throws(() => parseServiceDefinitionBody(body(''), svcOpts()), {
    instanceOf: HttpError,
  });
  t.is(e?.status, 400);
  t.is(e?.body, 'Request decode failed: EOF');
  refused(
    t,
    () => parseServiceDefinitionBody(body('null'), svcOpts()),
    400,
    'Missing service name',
  );
  const arr = t.throws(() => parseServiceDefinitionBody(body('[1]'), svcOpts()), {
    instanceOf: HttpError,
  });
  t.is(
    arr?.body,
    decodeFailed('json: cannot unmarshal array into Go value of type structs.ServiceDefinition'),
  );
  t.is(parseServiceDefinitionBody(body('{"Name":"x"}'), svcOpts()).service.ID, 'x');
  t.is(parseCheckDefinitionBody(body('{"Name":"c","TTL":"1s"}'), checkOpts()).CheckID, 'c');
  const bad = t.throws(() => parseCheckDefinitionBody(body('{'), checkOpts()), {
    instanceOf: HttpError,
  });
  t.is(bad?.status, 400);
  t.true(bad?.body.startsWith('Request decode failed: '));
});

test('DefinitionError is an HttpError the HTTP layer answers as it is', (t) => {
  const e = t.throws(() => svc({}));
  const h = toHttpError(e);
  t.is(h, e as HttpError);
  t.is(h.status, 400);
  t.is(h.body, 'Missing service name');
});

// ---------------------------------------------------------------- hostile input

test('hostile: non-object bodies are Go decode errors', (t) => {
  for (const [raw, kind] of [
    ['web', 'string'],
    [42, 'number'],
    [true, 'bool'],
    [[{ Name: 'a' }], 'array'],
  ] as const) {
    refusedService(
      t,
      raw,
      400,
      decodeFailed(
        `json: cannot unmarshal ${kind} into Go value of type structs.ServiceDefinition`,
      ),
    );
  }
  refusedService(t, undefined, 400, 'Missing service name');
});

test('hostile: prototype keys are plain fields or plain data, never prototypes', (t) => {
  const raw = JSON.parse(
    '{"Name":"a","Meta":{"__proto__":"x","constructor":"y"},' +
      '"Proxy":{"Config":{"__proto__":{"polluted":true},"nested":{"constructor":{"prototype":1}}}},' +
      '"Check":{"HTTP":"http://x","Interval":"1s","Header":{"__proto__":["v"]}}}',
  ) as unknown;
  const p = svc(raw);
  t.true(Object.hasOwn(p.service.Meta, '__proto__'));
  t.deepEqual(Object.entries(p.service.Meta), [
    ['__proto__', 'x'],
    ['constructor', 'y'],
  ]);
  t.is(Object.getPrototypeOf(p.service.Meta), Object.prototype);
  t.true(Object.hasOwn(p.service.Proxy.Config, '__proto__'));
  t.is(Object.getPrototypeOf(p.service.Proxy.Config), Object.prototype);
  t.true(Object.hasOwn(p.checks[0]!.Header, '__proto__'));
  t.is(({} as Record<string, unknown>).polluted, undefined);
  refusedService(
    t,
    JSON.parse('{"Name":"a","__proto__":{"x":1}}'),
    400,
    decodeFailed('json: unknown field "__proto__"'),
  );
  refusedService(
    t,
    { Name: 'a', constructor: 'x' },
    400,
    decodeFailed('json: unknown field "constructor"'),
  );
  refusedService(
    t,
    { Name: 'a', Meta: { ['__proto__']: 'x', 'consul-': 'y' } },
    400,
    "Invalid Service Meta: Couldn't load metadata pair ('consul-', 'y'): Key prefix 'consul-' is reserved for internal use",
  );
});

test('hostile: numbers JSON cannot hold exactly (1e400 → Infinity, NaN from callers)', (t) => {
  const inf = JSON.parse('{"Name":"a","Port":1e400}') as unknown;
  refusedService(
    t,
    inf,
    400,
    decodeFailed('json: cannot unmarshal number Infinity into Go struct field .Port of type int'),
  );
  refusedService(
    t,
    { Name: 'a', Port: Number.NaN },
    400,
    decodeFailed('json: cannot unmarshal number NaN into Go struct field .Port of type int'),
  );
  refusedService(
    t,
    { Name: 'a', Port: 1e20 },
    400,
    decodeFailed(
      'json: cannot unmarshal number 100000000000000000000 into Go struct field .Port of type int',
    ),
  );
  refusedService(
    t,
    JSON.parse('{"Name":"a","Check":{"TTL":1e400}}') as unknown,
    400,
    decodeFailed(
      'json: cannot unmarshal number Infinity into Go struct field .Check of type float64',
    ),
  );
  refusedService(
    t,
    JSON.parse('{"Name":"a","Proxy":{"Config":{"x":[1,-1e999]}}}') as unknown,
    400,
    decodeFailed(
      'json: cannot unmarshal number -Infinity into Go struct field .Proxy of type float64',
    ),
  );
  // A float beyond int64 nanoseconds is Go's minimum duration: negative, so refused.
  refusedService(
    t,
    { Name: 'a', Check: { TTL: 1e19 } },
    400,
    'Invalid check: TTL must be > 0 for TTL checks',
  );
});

test("hostile: huge strings and long lists hit Trellis's limits with a clear 400", (t) => {
  const big = 'x'.repeat(1024 * 1024);
  refused(
    t,
    () => svc({ Name: big }),
    400,
    `Name: ${big.length} bytes; Trellis accepts at most 512`,
    'LIMIT',
  );
  refused(
    t,
    () => svc({ Name: 'a', ID: 'é'.repeat(300) }),
    400,
    'ID: 600 bytes; Trellis accepts at most 512',
    'LIMIT',
  );
  refused(
    t,
    () => svc({ Name: 'a', Check: { TTL: '1s', Notes: big } }),
    400,
    `Check.Notes: ${big.length} bytes; Trellis accepts at most 65536`,
  );
  const tags = Array.from({ length: 10_000 }, (_, i) => `t${i}`);
  refused(
    t,
    () => svc({ Name: 'a', Tags: tags }),
    400,
    'Tags: 10000 entries; Trellis accepts at most 512',
    'LIMIT',
  );
  refused(
    t,
    () => svc({ Name: 'a', Tags: ['y'.repeat(1025)] }),
    400,
    'Tags[0]: 1025 bytes; Trellis accepts at most 1024',
  );
  const checks = Array.from({ length: 65 }, () => ({ TTL: '1s' }));
  refused(
    t,
    () => svc({ Name: 'a', Checks: checks }),
    400,
    'Checks: 65 entries; Trellis accepts at most 64',
  );
  const meta: Record<string, string> = {};
  for (let i = 0; i < 5000; i++) meta[`k${i}`] = 'v';
  refused(
    t,
    () => svc({ Name: 'a', Meta: meta }),
    400,
    'Meta: 5000 entries; Trellis accepts at most 1024',
  );
  t.is(DEFINITION_LIMITS.maxTags, 512);
});

test('hostile: deep nesting and value floods are bounded, never a stack overflow', (t) => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 10_000; i++) deep = { a: deep };
  const e = t.throws(() => svc({ Name: 'a', Proxy: { Config: deep } }), {
    instanceOf: DefinitionError,
  });
  t.is(e?.code, 'LIMIT');
  t.regex(
    e?.message ?? '',
    /^Proxy\.Config(\.a)+: nested more than 32 levels deep; Trellis accepts at most 32$/,
  );
  let sidecars: Record<string, unknown> = { Name: 'leaf' };
  for (let i = 0; i < 5_000; i++)
    sidecars = { Name: `s${i}`, Connect: { SidecarService: sidecars } };
  const s = t.throws(() => svc(sidecars), { instanceOf: DefinitionError });
  t.is(s?.code, 'LIMIT');
  let arrays: unknown = [];
  for (let i = 0; i < 10_000; i++) arrays = [arrays];
  t.is(
    t.throws(() => svc({ Name: 'a', Check: { TTL: '1s', Interval: arrays } }), {
      instanceOf: DefinitionError,
    })?.code,
    'LIMIT',
  );
  const wide: Record<string, number> = {};
  for (let i = 0; i < 150_000; i++) wide[`k${i}`] = i;
  refused(
    t,
    () => svc({ Name: 'a', Proxy: { Config: wide } }),
    400,
    'the definition has more than 100000 values; Trellis accepts at most 100000',
    'LIMIT',
  );
});

test('hostile: junk of every JSON type in every field is refused, never thrown raw', (t) => {
  const junk: unknown[] = [null, 0, -1, 1.5, '', 'x', true, [], [null], {}, { a: 1 }];
  const fields = [
    'Name',
    'ID',
    'Port',
    'Tags',
    'Meta',
    'Check',
    'Checks',
    'Weights',
    'Proxy',
    'Connect',
    'TaggedAddresses',
    'Kind',
    'Address',
  ];
  for (const f of fields) {
    for (const v of junk) {
      try {
        svc({ Name: 'a', [f]: v });
      } catch (e) {
        t.true(e instanceof DefinitionError, `${f}=${JSON.stringify(v)}: ${String(e)}`);
      }
    }
  }
  for (const v of junk) {
    try {
      parseCheckDefinition(
        { Name: 'c', TTL: v, Interval: v, Header: v, ScriptArgs: v },
        checkOpts(),
      );
    } catch (e) {
      t.true(e instanceof DefinitionError, String(e));
    }
  }
  refusedService(t, { Name: 'a', Checks: [null] }, 400, 'Invalid check: check definition is null');
});

// ---------------------------------------------------------------- Go helpers

test('Go helpers: strconv.Quote, the time package quote, net.ParseIP + To4', (t) => {
  t.is(goQuote('a"b\\c\n\t\u0001é\u200b'), '"a\\"b\\\\c\\n\\t\\x01é\\u200b"');
  t.is(timeQuote('1é"'), '"1\\xc3\\xa9\\""');
  const ip = (s: string): string => {
    const r = parseGoIP(s);
    return r === undefined ? 'nil' : r.v4 ? 'v4' : 'v6';
  };
  t.deepEqual(
    [
      '10.0.0.1',
      '010.0.0.1',
      '256.1.1.1',
      '::1',
      '::ffff:10.0.0.1',
      '::10.0.0.1',
      'fe80::1%eth0',
      '1::2::3',
      'a:b:c:d:e:f:1:2',
      '1:2:3:4:5:6:7:8::',
    ].map(ip),
    ['v4', 'nil', 'nil', 'v6', 'v4', 'v6', 'nil', 'nil', 'v6', 'nil'],
  );
});
