// Hostile config entry bodies: every bad input gets a ConnectError naming the field, never
// another exception, and never pollutes a prototype.
import test from 'ava';
import { Prng, seedsFromEnv } from '@trellis/testkit';
import { ConnectError, decodeConfigEntry, decodeIntentionBody } from '../src/index.js';

const si = (sources: unknown, extra: Record<string, unknown> = {}): unknown => ({
  Kind: 'service-intentions',
  Name: 'db',
  Sources: sources,
  ...extra,
});
const perm = (http: unknown, action = 'allow'): unknown =>
  si([{ Name: 'web', Permissions: [{ Action: action, HTTP: http }] }]);
const ingress = (listeners: unknown): unknown => ({
  Kind: 'ingress-gateway',
  Name: 'ingress',
  Listeners: listeners,
});

const deep = (depth: number): unknown => {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

/** [name, body, expected message (string or RegExp), expected field] */
const cases: Array<[string, unknown, string | RegExp, string]> = [
  ['not an object', [1, 2], 'Request decode failed: config entry must be a JSON object', ''],
  ['null', null, 'Request decode failed: config entry must be a JSON object', ''],
  ['no kind', { Name: 'x' }, 'Payload does not contain a kind/Kind key at the top level', 'Kind'],
  ['kind not a string', { Kind: 7 }, 'Kind value in payload is not a string', 'Kind'],
  ['unknown kind', { Kind: 'foo', Name: 'x' }, 'invalid config entry kind: "foo"', 'Kind'],
  [
    'unsupported Consul kind',
    { Kind: 'service-router', Name: 'x' },
    'config entry kind "service-router" is not supported by Trellis',
    'Kind',
  ],
  [
    'unknown top-level field',
    { Kind: 'service-defaults', Name: 'web', Bogus: 1 },
    'invalid config key "Bogus"',
    'Bogus',
  ],
  [
    'unknown nested field',
    si([{ Name: 'web', Action: 'allow', Nope: true }]),
    'invalid config key "Sources[0].Nope"',
    'Sources[0].Nope',
  ],
  [
    'duplicate key in two spellings',
    { Kind: 'service-defaults', Name: 'web', MaxInboundConnections: 1, max_inbound_connections: 2 },
    'max_inbound_connections: duplicate key (also given as "MaxInboundConnections")',
    'max_inbound_connections',
  ],
  [
    'namespace',
    { Kind: 'service-defaults', Name: 'web', Namespace: 'team' },
    'invalid config key "Namespace", namespaces are a consul enterprise feature',
    'Namespace',
  ],
  [
    'unsupported feature with a value',
    {
      Kind: 'service-defaults',
      Name: 'web',
      UpstreamConfig: { Defaults: { ConnectTimeoutMs: 5 } },
    },
    'invalid config key "UpstreamConfig": not supported by Trellis',
    'UpstreamConfig',
  ],
  [
    'wrong type: Protocol',
    { Kind: 'service-defaults', Name: 'web', Protocol: 5 },
    'Protocol: must be a string',
    'Protocol',
  ],
  [
    'bad protocol',
    { Kind: 'service-defaults', Name: 'web', Protocol: 'redis' },
    'Protocol: must be one of "tcp", "http", "http2", "grpc" (got "redis")',
    'Protocol',
  ],
  [
    'negative MaxInboundConnections',
    { Kind: 'service-defaults', Name: 'web', MaxInboundConnections: -1 },
    'MaxInboundConnections: must be between 0 and 2147483647',
    'MaxInboundConnections',
  ],
  [
    'fractional timeout',
    { Kind: 'service-defaults', Name: 'web', LocalConnectTimeoutMs: 1.5 },
    'LocalConnectTimeoutMs: must be an integer',
    'LocalConnectTimeoutMs',
  ],
  [
    'string for an int (no weak typing)',
    { Kind: 'service-defaults', Name: 'web', LocalRequestTimeoutMs: '10' },
    'LocalRequestTimeoutMs: must be a number',
    'LocalRequestTimeoutMs',
  ],
  ['missing Name', { Kind: 'service-defaults' }, 'Name is required', 'Name'],
  [
    'wildcard service-defaults',
    { Kind: 'service-defaults', Name: '*' },
    'service-defaults name must be the name of a service, and not a wildcard',
    'Name',
  ],
  [
    'name too long',
    { Kind: 'service-defaults', Name: 'a'.repeat(257) },
    'Name: longer than 256 characters',
    'Name',
  ],
  [
    'name with a slash',
    { Kind: 'service-defaults', Name: 'a/b' },
    /^Name: must not contain/,
    'Name',
  ],
  [
    'balance value',
    { Kind: 'service-defaults', Name: 'web', BalanceInboundConnections: 'round_robin' },
    'invalid value for balance_inbound_connections: round_robin',
    'BalanceInboundConnections',
  ],
  [
    'too much Meta',
    {
      Kind: 'service-defaults',
      Name: 'web',
      Meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
    },
    'Meta exceeds maximum element count 64',
    'Meta',
  ],
  [
    'Meta key too long',
    { Kind: 'service-defaults', Name: 'web', Meta: { ['k'.repeat(129)]: 'v' } },
    `Meta key "${'k'.repeat(129)}" exceeds maximum length 128`,
    'Meta',
  ],
  [
    'Meta value not a string',
    { Kind: 'service-defaults', Name: 'web', Meta: { a: 1 } },
    'Meta.a: must be a string',
    'Meta.a',
  ],
  [
    '__proto__ in Meta',
    JSON.parse('{"Kind":"service-defaults","Name":"web","Meta":{"__proto__":"x"}}'),
    'Meta: key "__proto__" is not allowed',
    'Meta',
  ],
  [
    'constructor in Config',
    { Kind: 'proxy-defaults', Config: { nested: { constructor: 1 } } },
    'Config.nested: key "constructor" is not allowed',
    'Config.nested',
  ],
  [
    '__proto__ at the top level',
    JSON.parse('{"Kind":"service-defaults","Name":"web","__proto__":{"polluted":true}}'),
    'invalid config key "__proto__"',
    '__proto__',
  ],
  [
    'deeply nested Config',
    { Kind: 'proxy-defaults', Config: deep(100) },
    /nested deeper than 32$/,
    'Config' + '.a'.repeat(33),
  ],
  [
    'non-finite number in Config',
    { Kind: 'proxy-defaults', Config: { x: Infinity } },
    'Config.x: must be a finite number',
    'Config.x',
  ],
  [
    'proxy-defaults name',
    { Kind: 'proxy-defaults', Name: 'local' },
    'invalid name ("local"), only "global" is supported',
    'Name',
  ],
  [
    'proxy-defaults protocol',
    { Kind: 'proxy-defaults', Config: { protocol: 'udp' } },
    'Config.protocol: must be one of "tcp", "http", "http2", "grpc"',
    'Config.protocol',
  ],
  ['no sources', si([]), 'At least one source is required', 'Sources'],
  ['sources not an array', si({ Name: 'web' }), 'Sources: must be an array', 'Sources'],
  [
    'too many sources',
    si(Array.from({ length: 1001 }, (_, i) => ({ Name: `s${i}`, Action: 'allow' }))),
    'Sources: more than 1000 sources',
    'Sources',
  ],
  [
    'source without a name',
    si([{ Action: 'allow' }]),
    'Sources[0].Name is required',
    'Sources[0].Name',
  ],
  [
    'partial wildcard source',
    si([{ Name: 'we*', Action: 'allow' }]),
    "Sources[0].Name: wildcard character '*' cannot be used with partial values",
    'Sources[0].Name',
  ],
  [
    'partial wildcard destination',
    { Kind: 'service-intentions', Name: 'd*', Sources: [{ Name: 'web', Action: 'allow' }] },
    "Name: wildcard character '*' cannot be used with partial values",
    'Name',
  ],
  [
    'bad action',
    si([{ Name: 'web', Action: 'ALLOW' }]),
    "Sources[0].Action must be set to 'allow' or 'deny'",
    'Sources[0].Action',
  ],
  [
    'action and permissions',
    si([
      {
        Name: 'web',
        Action: 'allow',
        Permissions: [{ Action: 'allow', HTTP: { PathExact: '/' } }],
      },
    ]),
    'Sources[0].Action must be omitted if Permissions are specified',
    'Sources[0].Action',
  ],
  [
    'permissions on a wildcard destination',
    {
      Kind: 'service-intentions',
      Name: '*',
      Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathExact: '/' } }] }],
    },
    'Sources[0].Permissions cannot be specified on intentions with wildcarded destinations',
    'Sources[0].Permissions',
  ],
  [
    'bad type',
    si([{ Name: 'web', Action: 'allow', Type: 'external-uri' }]),
    "Sources[0].Type must be set to 'consul'",
    'Sources[0].Type',
  ],
  [
    'duplicate source',
    si([
      { Name: 'web', Action: 'allow' },
      { Name: 'api', Action: 'allow' },
      { Name: 'web', Action: 'deny' },
    ]),
    'Sources[2] defines "web" more than once',
    'Sources[2]',
  ],
  [
    'description too long',
    si([{ Name: 'web', Action: 'allow', Description: 'd'.repeat(513) }]),
    'Sources[0].Description exceeds maximum length 512',
    'Sources[0].Description',
  ],
  [
    'LegacyMeta on a config entry write',
    si([{ Name: 'web', Action: 'allow', LegacyMeta: { a: 'b' } }]),
    'Sources[0].LegacyMeta must be omitted',
    'Sources[0].LegacyMeta',
  ],
  [
    'peer',
    si([{ Name: 'web', Action: 'allow', Peer: 'other-cluster' }]),
    'invalid config key "Sources[0].Peer": not supported by Trellis',
    'Sources[0].Peer',
  ],
  [
    'too many permissions',
    si([
      {
        Name: 'web',
        Permissions: Array.from({ length: 101 }, () => ({
          Action: 'allow',
          HTTP: { PathExact: '/' },
        })),
      },
    ]),
    'Sources[0].Permissions: more than 100 permissions',
    'Sources[0].Permissions',
  ],
  [
    'permission action',
    perm({ PathExact: '/' }, 'maybe'),
    "Sources[0].Permissions[0].Action must be set to 'allow' or 'deny'",
    'Sources[0].Permissions[0].Action',
  ],
  [
    'permission without HTTP',
    si([{ Name: 'web', Permissions: [{ Action: 'allow' }] }]),
    'Sources[0].Permissions[0].HTTP is required',
    'Sources[0].Permissions[0].HTTP',
  ],
  [
    'two path conditions (second source)',
    si([
      { Name: 'api', Action: 'allow' },
      {
        Name: 'web',
        Permissions: [{ Action: 'allow', HTTP: { PathExact: '/a', PathPrefix: '/b' } }],
      },
    ]),
    'Sources[1].Permissions[0].HTTP should only contain at most one of PathExact, PathPrefix, or PathRegex',
    'Sources[1].Permissions[0].HTTP',
  ],
  [
    'relative PathExact',
    perm({ PathExact: 'a' }),
    `Sources[0].Permissions[0].HTTP.PathExact doesn't start with '/': "a"`,
    'Sources[0].Permissions[0].HTTP.PathExact',
  ],
  [
    'relative PathPrefix',
    perm({ PathPrefix: 'a' }),
    `Sources[0].Permissions[0].HTTP.PathPrefix doesn't start with '/': "a"`,
    'Sources[0].Permissions[0].HTTP.PathPrefix',
  ],
  [
    'empty HTTP',
    perm({}),
    'Sources[0].Permissions[0].HTTP should not be empty',
    'Sources[0].Permissions[0].HTTP',
  ],
  [
    'invalid regex',
    perm({ PathRegex: '(' }),
    /^Sources\[0\]\.Permissions\[0\]\.HTTP\.PathRegex: invalid regular expression: /,
    'Sources[0].Permissions[0].HTTP.PathRegex',
  ],
  [
    'regex too long',
    perm({ PathRegex: 'a'.repeat(1025) }),
    'Sources[0].Permissions[0].HTTP.PathRegex: longer than 1024 characters',
    'Sources[0].Permissions[0].HTTP.PathRegex',
  ],
  [
    'backreference',
    perm({ PathRegex: '(a)\\1' }),
    'Sources[0].Permissions[0].HTTP.PathRegex: backreferences are not supported (Consul uses RE2)',
    'Sources[0].Permissions[0].HTTP.PathRegex',
  ],
  [
    'lookahead in a header regex',
    perm({ Header: [{ Name: 'x', Regex: 'a(?=b)' }] }),
    'Sources[0].Permissions[0].HTTP.Header[0].Regex: lookaround assertions are not supported (Consul uses RE2)',
    'Sources[0].Permissions[0].HTTP.Header[0].Regex',
  ],
  [
    'lookbehind',
    perm({ PathRegex: '(?<!x)/a' }),
    /lookaround assertions are not supported/,
    'Sources[0].Permissions[0].HTTP.PathRegex',
  ],
  [
    'header without name',
    perm({ Header: [{ Exact: 'x' }] }),
    'Sources[0].Permissions[0].HTTP.Header[0] missing required Name field',
    'Sources[0].Permissions[0].HTTP.Header[0]',
  ],
  [
    'header with two conditions',
    perm({ Header: [{ Name: 'x', Exact: 'a', Prefix: 'b' }] }),
    'Sources[0].Permissions[0].HTTP.Header[0] should only contain one of Present, Exact, Prefix, Suffix, or Regex',
    'Sources[0].Permissions[0].HTTP.Header[0]',
  ],
  [
    'header with no condition',
    perm({ Header: [{ Name: 'x', Invert: true }] }),
    'Sources[0].Permissions[0].HTTP.Header[0] should only contain one of Present, Exact, Prefix, Suffix, or Regex',
    'Sources[0].Permissions[0].HTTP.Header[0]',
  ],
  [
    'Present not a boolean',
    perm({ Header: [{ Name: 'x', Present: 'yes' }] }),
    'Sources[0].Permissions[0].HTTP.Header[0].Present: must be a boolean',
    'Sources[0].Permissions[0].HTTP.Header[0].Present',
  ],
  [
    'invalid method',
    perm({ Methods: ['GET', 'FETCH'] }),
    'Sources[0].Permissions[0].HTTP.Methods contains an invalid method "FETCH"',
    'Sources[0].Permissions[0].HTTP.Methods',
  ],
  [
    'duplicate method (after upper-casing)',
    perm({ Methods: ['get', 'GET'] }),
    'Sources[0].Permissions[0].HTTP.Methods contains "GET" more than once',
    'Sources[0].Permissions[0].HTTP.Methods',
  ],
  [
    'methods not strings',
    perm({ Methods: [1] }),
    'Sources[0].Permissions[0].HTTP.Methods[0]: must be a string',
    'Sources[0].Permissions[0].HTTP.Methods[0]',
  ],
  [
    'JWT on a permission',
    si([
      {
        Name: 'web',
        Permissions: [
          { Action: 'allow', HTTP: { PathExact: '/' }, JWT: { Providers: [{ Name: 'p' }] } },
        ],
      },
    ]),
    'invalid config key "Sources[0].Permissions[0].JWT": not supported by Trellis',
    'Sources[0].Permissions[0].JWT',
  ],
  [
    'bad time',
    si([{ Name: 'web', Action: 'allow', LegacyCreateTime: 'yesterday' }]),
    'Sources[0].LegacyCreateTime: must be an RFC 3339 time',
    'Sources[0].LegacyCreateTime',
  ],
  [
    'ingress: port twice',
    ingress([
      { Port: 80, Protocol: 'http', Services: [{ Name: 'a' }] },
      { Port: 80, Protocol: 'http', Services: [{ Name: 'b' }] },
    ]),
    'port 80 declared on two listeners',
    'Listeners[1].Port',
  ],
  [
    'ingress: port out of range',
    ingress([{ Port: 70000, Services: [{ Name: 'a' }] }]),
    'Listeners[0].Port: must be between 1 and 65535',
    'Listeners[0].Port',
  ],
  [
    'ingress: bad protocol',
    ingress([{ Port: 80, Protocol: 'udp', Services: [{ Name: 'a' }] }]),
    "protocol must be 'tcp', 'http', 'http2', or 'grpc'. 'udp' is an unsupported protocol",
    'Listeners[0].Protocol',
  ],
  [
    'ingress: no services',
    ingress([{ Port: 80, Protocol: 'http', Services: [] }]),
    'No service declared for listener with port 80',
    'Listeners[0].Services',
  ],
  [
    'ingress: two services on tcp',
    ingress([{ Port: 80, Services: [{ Name: 'a' }, { Name: 'b' }] }]),
    "Multiple services per listener are only supported for L7 protocols, 'http', 'grpc' and 'http2' (listener on port 80)",
    'Listeners[0].Services',
  ],
  [
    'ingress: wildcard on tcp',
    ingress([{ Port: 80, Protocol: 'tcp', Services: [{ Name: '*' }] }]),
    "Wildcard service name is only valid for protocol = 'http' (listener on port 80)",
    'Listeners[0].Services[0].Name',
  ],
  [
    'ingress: hosts on tcp',
    ingress([{ Port: 80, Protocol: 'tcp', Services: [{ Name: 'a', Hosts: ['a.com'] }] }]),
    'Associating hosts to a service is not supported for the tcp protocol (listener on port 80)',
    'Listeners[0].Services[0].Hosts',
  ],
  [
    'ingress: hosts on wildcard',
    ingress([{ Port: 80, Protocol: 'http', Services: [{ Name: '*', Hosts: ['a.com'] }] }]),
    'Associating hosts to a wildcard service is not supported (listener on port 80)',
    'Listeners[0].Services[0].Hosts',
  ],
  [
    'ingress: blank service',
    ingress([{ Port: 80, Protocol: 'http', Services: [{ Hosts: [] }] }]),
    'Service name cannot be blank (listener on port 80)',
    'Listeners[0].Services[0].Name',
  ],
  [
    'ingress: service twice',
    ingress([{ Port: 80, Protocol: 'http', Services: [{ Name: 'a' }, { Name: 'a' }] }]),
    'Service a cannot be added multiple times (listener on port 80)',
    'Listeners[0].Services[1].Name',
  ],
  [
    'ingress: host twice',
    ingress([
      {
        Port: 80,
        Protocol: 'http',
        Services: [
          { Name: 'a', Hosts: ['x.com'] },
          { Name: 'b', Hosts: ['x.com'] },
        ],
      },
    ]),
    'Hosts must be unique within a specific listener (listener on port 80)',
    'Listeners[0].Services[1].Hosts',
  ],
  [
    'ingress: bad host',
    ingress([{ Port: 80, Protocol: 'http', Services: [{ Name: 'a', Hosts: ['bad host'] }] }]),
    'Host "bad host" must be a valid DNS hostname',
    'Listeners[0].Services[0].Hosts',
  ],
  [
    'ingress: inner wildcard host',
    ingress([{ Port: 80, Protocol: 'http', Services: [{ Name: 'a', Hosts: ['a.*.com'] }] }]),
    'Host "a.*.com" is not valid, a wildcard specifier is only allowed as the leftmost label',
    'Listeners[0].Services[0].Hosts',
  ],
  [
    'ingress: TLS enabled',
    { Kind: 'ingress-gateway', Name: 'i', TLS: { Enabled: true }, Listeners: [] },
    'TLS.Enabled: gateway TLS is not supported by Trellis',
    'TLS.Enabled',
  ],
  ['ingress: listeners not an array', ingress('80'), 'Listeners: must be an array', 'Listeners'],
  [
    'ingress: listener junk',
    ingress([{ Port: 80, Services: [{ Name: 'a' }], Extra: [1, 2, 3] }]),
    'invalid config key "Listeners[0].Extra"',
    'Listeners[0].Extra',
  ],
];

for (const [name, body, message, field] of cases) {
  test(`refused: ${name}`, (t) => {
    const err = t.throws(() => decodeConfigEntry(body), { instanceOf: ConnectError });
    if (typeof message === 'string') t.is(err?.message, message);
    else t.regex(err?.message ?? '', message);
    t.is(err?.field, field);
    t.is(err?.code, 'CONNECT_INVALID_CONFIG_ENTRY');
  });
}

test('nothing reached Object.prototype', (t) => {
  t.is(({} as Record<string, unknown>)['polluted'], undefined);
});

test('__proto__ as a Config key of a decoded entry is refused, not merged', (t) => {
  const body = JSON.parse(
    '{"Kind":"proxy-defaults","Config":{"__proto__":{"admin":true}}}',
  ) as unknown;
  t.throws(() => decodeConfigEntry(body), { message: 'Config: key "__proto__" is not allowed' });
  t.is(({} as Record<string, unknown>)['admin'], undefined);
});

/** Random JSON-ish junk, biased toward the shapes config entries have. */
function junk(rng: Prng, depth: number): unknown {
  const keys = [
    'Kind',
    'Name',
    'Sources',
    'Action',
    'Permissions',
    'HTTP',
    'PathRegex',
    'Header',
    'Methods',
    'Listeners',
    'Services',
    'Port',
    'Hosts',
    'Protocol',
    'Config',
    'Meta',
    '__proto__',
    'constructor',
    'max_inbound_connections',
  ];
  const strings = [
    'service-intentions',
    'ingress-gateway',
    'service-defaults',
    'proxy-defaults',
    'allow',
    'deny',
    '*',
    'web',
    '(',
    '/a',
    'GET',
    'http',
    '',
    'a'.repeat(300),
  ];
  switch (depth > 4 ? rng.int(4) : rng.int(7)) {
    case 0:
      return null;
    case 1:
      return rng.pick(strings);
    case 2:
      return rng.pick([0, -1, 1.5, 80, 1e309, Number.NaN, 2 ** 53, true, false]);
    case 3:
      return rng.pick([[], {}, '']);
    case 4:
    case 5: {
      const o: Record<string, unknown> = {};
      const n = rng.int(5);
      for (let i = 0; i < n; i++) {
        Object.defineProperty(o, rng.pick(keys), {
          value: junk(rng, depth + 1),
          enumerable: true,
          configurable: true,
          writable: true,
        });
      }
      if (depth === 0 && rng.chance(0.8)) o['Kind'] = rng.pick(strings.slice(0, 4));
      return o;
    }
    default:
      return Array.from({ length: rng.int(4) }, () => junk(rng, depth + 1));
  }
}

test('random junk: only ConnectErrors, and every accepted entry re-decodes to itself', (t) => {
  let accepted = 0;
  for (const seed of seedsFromEnv(4000)) {
    const rng = new Prng(seed);
    const body = junk(rng, 0);
    try {
      const e = decodeConfigEntry(body);
      accepted++;
      t.deepEqual(decodeConfigEntry(JSON.parse(JSON.stringify(e))), e, `seed ${seed}`);
    } catch (err) {
      if (!(err instanceof ConnectError)) {
        t.fail(`seed ${seed}: ${String(err)} for ${JSON.stringify(body)}`);
        return;
      }
    }
    try {
      decodeIntentionBody(body);
    } catch (err) {
      if (!(err instanceof ConnectError)) {
        t.fail(`seed ${seed} (intention body): ${String(err)}`);
        return;
      }
    }
  }
  t.log(`accepted ${accepted} random bodies`);
  t.is(({} as Record<string, unknown>)['polluted'], undefined);
});
