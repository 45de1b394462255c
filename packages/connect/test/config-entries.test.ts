// Config entries: every kind decodes, normalizes and encodes to Consul's JSON.
import test from 'ava';
import {
  ConnectError,
  configEntryKey,
  decodeConfigEntry,
  effectiveProtocol,
  encodeConfigEntry,
  validateIngressProtocols,
  validateIntentionsProtocol,
  type IngressGatewayEntry,
  type ProxyDefaultsEntry,
  type ServiceDefaultsEntry,
  type ServiceIntentionsEntry,
} from '../src/index.js';

const idx = { createIndex: 5, modifyIndex: 7 };

test('service-defaults: fields, snake_case and case-insensitive keys, normalization', (t) => {
  const e = decodeConfigEntry({
    kind: 'service-defaults',
    name: 'web',
    PROTOCOL: 'HTTP',
    max_inbound_connections: 100,
    LocalConnectTimeoutMs: 2500,
    local_request_timeout_ms: 30000,
    BalanceInboundConnections: 'exact_balance',
    Meta: { owner: 'team-a' },
    CreateIndex: 3,
    ModifyIndex: 4,
  });
  t.deepEqual(e, {
    Kind: 'service-defaults',
    Name: 'web',
    Protocol: 'http',
    MaxInboundConnections: 100,
    LocalConnectTimeoutMs: 2500,
    LocalRequestTimeoutMs: 30000,
    BalanceInboundConnections: 'exact_balance',
    Meta: { owner: 'team-a' },
  });
  t.deepEqual(encodeConfigEntry(e, idx), {
    Kind: 'service-defaults',
    Name: 'web',
    Protocol: 'http',
    TransparentProxy: {},
    MeshGateway: {},
    Expose: {},
    MaxInboundConnections: 100,
    LocalConnectTimeoutMs: 2500,
    LocalRequestTimeoutMs: 30000,
    BalanceInboundConnections: 'exact_balance',
    Meta: { owner: 'team-a' },
    CreateIndex: 5,
    ModifyIndex: 7,
  });
  const minimal = decodeConfigEntry({ Kind: 'service-defaults', Name: 'db' });
  t.deepEqual(minimal, { Kind: 'service-defaults', Name: 'db', Protocol: '' });
  t.deepEqual(Object.keys(encodeConfigEntry(minimal, idx)), [
    'Kind',
    'Name',
    'Protocol',
    'TransparentProxy',
    'MeshGateway',
    'Expose',
    'CreateIndex',
    'ModifyIndex',
  ]);
});

test('a GET body can be written back (zero-valued unsupported fields are accepted)', (t) => {
  const e = decodeConfigEntry({ Kind: 'service-defaults', Name: 'web', Protocol: 'grpc' });
  const again = decodeConfigEntry(encodeConfigEntry(e, idx));
  t.deepEqual(again, e);
  const pd = decodeConfigEntry({ Kind: 'proxy-defaults', Name: 'global', Config: { a: 1 } });
  t.deepEqual(decodeConfigEntry(encodeConfigEntry(pd, idx)), pd);
  const ig = decodeConfigEntry({
    Kind: 'ingress-gateway',
    Name: 'ingress',
    Listeners: [{ Port: 80, Protocol: 'http', Services: [{ Name: 'web' }] }],
  });
  t.deepEqual(decodeConfigEntry(encodeConfigEntry(ig, idx)), ig);
});

test('proxy-defaults: Name defaults to global, Config is free-form', (t) => {
  const e = decodeConfigEntry({
    Kind: 'proxy-defaults',
    Config: { protocol: 'http', nested: { list: [1, 'two', null, { deep: true }] } },
    Meta: { m: 'v' },
  }) as ProxyDefaultsEntry;
  t.is(e.Name, 'global');
  t.deepEqual(e.Config, { protocol: 'http', nested: { list: [1, 'two', null, { deep: true }] } });
  t.deepEqual(encodeConfigEntry(e, idx), {
    Kind: 'proxy-defaults',
    Name: 'global',
    Config: { protocol: 'http', nested: { list: [1, 'two', null, { deep: true }] } },
    TransparentProxy: {},
    MeshGateway: {},
    Expose: {},
    Meta: { m: 'v' },
    CreateIndex: 5,
    ModifyIndex: 7,
  });
  const bare = decodeConfigEntry({ Kind: 'proxy-defaults', Name: 'global' });
  t.is((encodeConfigEntry(bare, idx) as { Config: unknown }).Config, null);
});

test('service-intentions: precedence, sorting, defaults, methods upper-cased', (t) => {
  const e = decodeConfigEntry({
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [
      { Name: '*', Action: 'deny' },
      { Name: 'web', Action: 'allow', Description: 'web reads', Precedence: 1 },
      {
        Name: 'api',
        Permissions: [
          {
            Action: 'allow',
            HTTP: {
              path_prefix: '/v1',
              Methods: ['get', 'Post'],
              Header: [{ Name: 'x-env', Regex: 'prod|stage', Invert: false }],
            },
          },
        ],
        Type: 'consul',
        LegacyID: 'dropped-on-config-entry-writes',
        LegacyCreateTime: '2020-01-01T00:00:00Z',
      },
    ],
  }) as ServiceIntentionsEntry;
  t.deepEqual(e, {
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [
      { Name: 'web', Action: 'allow', Precedence: 9, Type: 'consul', Description: 'web reads' },
      {
        Name: 'api',
        Permissions: [
          {
            Action: 'allow',
            HTTP: {
              PathPrefix: '/v1',
              Header: [{ Name: 'x-env', Regex: 'prod|stage' }],
              Methods: ['GET', 'POST'],
            },
          },
        ],
        Precedence: 9,
        Type: 'consul',
      },
      { Name: '*', Action: 'deny', Precedence: 8, Type: 'consul' },
    ],
  });
  t.deepEqual(encodeConfigEntry(e, idx), { ...e, CreateIndex: 5, ModifyIndex: 7 });
  const wild = decodeConfigEntry({
    Kind: 'service-intentions',
    Name: '*',
    Sources: [
      { Name: '*', Action: 'allow' },
      { Name: 'web', Action: 'deny' },
    ],
    Meta: { k: 'v' },
  }) as ServiceIntentionsEntry;
  t.deepEqual(
    wild.Sources.map((s) => [s.Name, s.Precedence]),
    [
      ['web', 6],
      ['*', 5],
    ],
  );
  t.deepEqual(wild.Meta, { k: 'v' });
});

test('service-intentions in legacy form keeps the legacy fields', (t) => {
  const e = decodeConfigEntry(
    {
      Kind: 'service-intentions',
      Name: 'db',
      Sources: [
        {
          Name: 'web',
          Action: 'allow',
          LegacyID: 'a2f6c4b8-0000-4000-8000-000000000001',
          LegacyMeta: { owner: 'x' },
          LegacyCreateTime: '2020-01-01T00:00:00Z',
          LegacyUpdateTime: '2020-01-02T00:00:00.123456789Z',
        },
      ],
    },
    { legacy: true },
  ) as ServiceIntentionsEntry;
  t.deepEqual(e.Sources[0], {
    Name: 'web',
    Action: 'allow',
    Precedence: 9,
    LegacyID: 'a2f6c4b8-0000-4000-8000-000000000001',
    Type: 'consul',
    LegacyMeta: { owner: 'x' },
    LegacyCreateTime: '2020-01-01T00:00:00Z',
    LegacyUpdateTime: '2020-01-02T00:00:00.123456789Z',
  });
  const err = t.throws(() =>
    decodeConfigEntry(
      { Kind: 'service-intentions', Name: 'db', Sources: [{ Name: 'web', Action: 'allow' }] },
      { legacy: true },
    ),
  );
  t.is(err?.message, 'Sources[0].LegacyCreateTime must be set');
});

test('ingress-gateway: protocol defaults to tcp and is lower-cased; hosts null when empty', (t) => {
  const e = decodeConfigEntry({
    Kind: 'ingress-gateway',
    Name: 'ingress',
    TLS: { Enabled: false },
    Listeners: [
      { Port: 9000, Services: [{ Name: 'db' }] },
      {
        Port: 8080,
        Protocol: 'HTTP',
        Services: [
          { Name: 'web', Hosts: ['web.example.com', '*.example.org', 'a.b:8443'] },
          { Name: '*' },
        ],
      },
    ],
  }) as IngressGatewayEntry;
  t.deepEqual(e.Listeners[0], {
    Port: 9000,
    Protocol: 'tcp',
    Services: [{ Name: 'db', Hosts: [] }],
  });
  t.is(e.Listeners[1]?.Protocol, 'http');
  t.deepEqual(encodeConfigEntry(e, idx), {
    Kind: 'ingress-gateway',
    Name: 'ingress',
    TLS: { Enabled: false },
    Listeners: [
      { Port: 9000, Protocol: 'tcp', Services: [{ Name: 'db', Hosts: null }] },
      {
        Port: 8080,
        Protocol: 'http',
        Services: [
          { Name: 'web', Hosts: ['web.example.com', '*.example.org', 'a.b:8443'] },
          { Name: '*', Hosts: null },
        ],
      },
    ],
    CreateIndex: 5,
    ModifyIndex: 7,
  });
});

test('configEntryKey is case-insensitive in the name', (t) => {
  t.is(configEntryKey('service-defaults', 'Web'), 'service-defaults/web');
  t.is(configEntryKey('service-intentions', '*'), 'service-intentions/*');
});

test('effectiveProtocol: service-defaults, then proxy-defaults, then tcp', (t) => {
  const sd = decodeConfigEntry({
    Kind: 'service-defaults',
    Name: 'web',
    Protocol: 'http2',
  }) as ServiceDefaultsEntry;
  const sdEmpty = decodeConfigEntry({
    Kind: 'service-defaults',
    Name: 'web',
  }) as ServiceDefaultsEntry;
  const pd = decodeConfigEntry({
    Kind: 'proxy-defaults',
    Name: 'global',
    Config: { protocol: 'GRPC' },
  }) as ProxyDefaultsEntry;
  t.is(effectiveProtocol('web', sd, pd), 'http2');
  t.is(effectiveProtocol('WEB', sd), 'http2');
  t.is(effectiveProtocol('web', sdEmpty, pd), 'grpc');
  t.is(
    effectiveProtocol('other', sd, pd),
    'grpc',
    'service-defaults of another service is ignored',
  );
  t.is(effectiveProtocol('web'), 'tcp');
});

test('validateIntentionsProtocol: L7 permissions need an http-like destination', (t) => {
  const l7 = decodeConfigEntry({
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }],
  }) as ServiceIntentionsEntry;
  const err = t.throws(() => validateIntentionsProtocol(l7, () => 'tcp'), {
    instanceOf: ConnectError,
  });
  t.is(
    err?.message,
    'service "db" has protocol "tcp", which is incompatible with L7 intentions permissions',
  );
  t.is(err?.code, 'CONNECT_CONFIG_ENTRY_CONFLICT');
  for (const p of ['http', 'http2', 'grpc']) {
    t.notThrows(() => validateIntentionsProtocol(l7, () => p));
  }
  const l4 = decodeConfigEntry({
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [{ Name: 'web', Action: 'allow' }],
  }) as ServiceIntentionsEntry;
  t.notThrows(() => validateIntentionsProtocol(l4, () => 'tcp'));
});

test('validateIngressProtocols: strict when writing the gateway, lenient for tcp otherwise', (t) => {
  const e = decodeConfigEntry({
    Kind: 'ingress-gateway',
    Name: 'ingress',
    Listeners: [
      { Port: 9000, Protocol: 'tcp', Services: [{ Name: 'web' }] },
      { Port: 8080, Protocol: 'http', Services: [{ Name: 'api' }, { Name: '*' }] },
    ],
  }) as IngressGatewayEntry;
  const protocols: Record<string, string> = { web: 'http', api: 'http' };
  const of = (s: string): string => protocols[s] ?? 'tcp';
  const err = t.throws(() => validateIngressProtocols(e, of));
  t.is(
    err?.message,
    'service "web" has protocol "http", which does not match defined listener protocol "tcp"',
  );
  t.notThrows(() => validateIngressProtocols(e, of, { strict: false }));
  protocols['api'] = 'tcp';
  t.throws(() => validateIngressProtocols(e, of, { strict: false }), {
    message:
      'service "api" has protocol "tcp", which does not match defined listener protocol "http"',
  });
});
