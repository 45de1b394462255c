// Consul's DNS name grammar (agent/dns.go dispatch, parseLocality, trimDomain,
// getResponseDomain and miekg/dns ServeMux matching), as tables.
import test from 'ava';
import {
  RRType,
  parseQueryName,
  routeQuestion,
  splitQueryName,
  type ParsedQuery,
  type Route,
  type Zones,
} from '../src/index.js';

const zones: Zones = { domain: 'consul.', altDomain: '' };
const withAlt: Zones = { domain: 'consul.', altDomain: 'alt.example.' };

const local = { datacenter: undefined, peer: undefined };
const dc = (d: string): { datacenter: string; peer: undefined } => ({
  datacenter: d,
  peer: undefined,
});

function parse(name: string, qtype: number = RRType.A, z: Zones = zones): ParsedQuery {
  return parseQueryName(splitQueryName(name, z).labels, qtype);
}

/** [name, qtype, expected] */
const cases: Array<[string, number, ParsedQuery | string]> = [
  ['web.service.consul.', RRType.A, { kind: 'service', service: 'web', tag: '', locality: local }],
  [
    'v1.web.service.consul.',
    RRType.A,
    { kind: 'service', service: 'web', tag: 'v1', locality: local },
  ],
  // Consul 0.3 form: everything before the name is the tag, dots included.
  [
    'a.b.web.service.consul.',
    RRType.A,
    { kind: 'service', service: 'web', tag: 'a.b', locality: local },
  ],
  [
    'web.service.dc1.consul.',
    RRType.A,
    { kind: 'service', service: 'web', tag: '', locality: dc('dc1') },
  ],
  [
    'web.service.dc1.dc.consul.',
    RRType.A,
    { kind: 'service', service: 'web', tag: '', locality: dc('dc1') },
  ],
  [
    'web.service.p1.peer.consul.',
    RRType.A,
    { kind: 'service', service: 'web', tag: '', locality: { datacenter: undefined, peer: 'p1' } },
  ],
  [
    'WEB.Service.DC1.CONSUL.',
    RRType.A,
    { kind: 'service', service: 'web', tag: '', locality: dc('dc1') },
  ],
  // RFC 2782: _name._tag; "_tcp" means no tag, any other protocol label is a tag.
  [
    '_web._tcp.service.consul.',
    RRType.SRV,
    { kind: 'service', service: 'web', tag: '', locality: local },
  ],
  [
    '_web._v1.service.consul.',
    RRType.SRV,
    { kind: 'service', service: 'web', tag: 'v1', locality: local },
  ],
  [
    '_web._udp.service.consul.',
    RRType.SRV,
    { kind: 'service', service: 'web', tag: 'udp', locality: local },
  ],
  // For SRV the "service" label may be left out.
  ['_web._tcp.consul.', RRType.SRV, { kind: 'service', service: 'web', tag: '', locality: local }],
  [
    '_web._tcp.dc1.consul.',
    RRType.SRV,
    { kind: 'service', service: 'web', tag: '', locality: dc('dc1') },
  ],
  ['_web._tcp.consul.', RRType.A, 'no lookup kind'],
  ['web.connect.consul.', RRType.A, { kind: 'connect', service: 'web', locality: local }],
  ['web.connect.dc1.consul.', RRType.SRV, { kind: 'connect', service: 'web', locality: dc('dc1') }],
  ['web.ingress.consul.', RRType.A, { kind: 'ingress', service: 'web', locality: local }],
  ['web.virtual.consul.', RRType.A, { kind: 'virtual', service: 'web', locality: local }],
  ['n1.node.consul.', RRType.A, { kind: 'node', node: 'n1', locality: local }],
  ['n1.node.dc1.consul.', RRType.A, { kind: 'node', node: 'n1', locality: dc('dc1') }],
  ['foo.bar.node.consul.', RRType.A, { kind: 'node', node: 'foo.bar', locality: local }],
  ['q1.query.consul.', RRType.A, { kind: 'query', query: 'q1', datacenter: undefined }],
  ['_q1._tcp.query.dc1.consul.', RRType.SRV, { kind: 'query', query: 'q1', datacenter: 'dc1' }],
  ['7f000001.addr.consul.', RRType.A, { kind: 'addr', ip: Uint8Array.from([127, 0, 0, 1]) }],
  // The labels after "addr" are not read.
  [
    '7F000001.addr.any.thing.consul.',
    RRType.A,
    { kind: 'addr', ip: Uint8Array.from([127, 0, 0, 1]) },
  ],
  [
    '20010db8000000000000000000000001.addr.consul.',
    RRType.AAAA,
    { kind: 'addr', ip: Uint8Array.from(Buffer.from('20010db8000000000000000000000001', 'hex')) },
  ],
  ['7f0000001.addr.consul.', RRType.A, 'addr is not hex'],
  ['7f00001.addr.consul.', RRType.A, 'addr is not 8 or 32 hex digits'],
  ['7f0000zz.addr.consul.', RRType.A, 'addr is not hex'],
  ['7f.addr.consul.', RRType.A, 'addr is not 8 or 32 hex digits'],
  ['a.7f000001.addr.consul.', RRType.A, 'addr takes one label'],
  ['service.consul.', RRType.A, 'no service name'],
  ['node.consul.', RRType.A, 'no node name'],
  ['web.service.a.b.c.consul.', RRType.A, 'bad locality'],
  ['web.service.dc1.dc.p1.peer.consul.', RRType.A, 'bad locality'],
  ['web.service.dc1.zone.consul.', RRType.A, 'bad locality'],
  ['web.consul.', RRType.A, 'no lookup kind'],
  ['consul.', RRType.A, 'no lookup kind'],
  // The rightmost kind label decides.
  ['web.service.node.consul.', RRType.A, { kind: 'node', node: 'web.service', locality: local }],
];

for (const [name, qtype, expected] of cases) {
  test(`parse ${name} (type ${qtype})`, (t) => {
    const want: ParsedQuery =
      typeof expected === 'string' ? { kind: 'invalid', reason: expected } : expected;
    t.deepEqual(parse(name, qtype), want);
  });
}

test('the alt domain strips like the domain; the response domain keeps the question spelling', (t) => {
  t.deepEqual(splitQueryName('web.service.ALT.example.', withAlt), {
    labels: ['web', 'service'],
    responseDomain: 'ALT.example.',
  });
  t.deepEqual(splitQueryName('Web.Service.Consul.', withAlt), {
    labels: ['web', 'service'],
    responseDomain: 'Consul.',
  });
  t.deepEqual(parse('v1.web.service.alt.example.', RRType.A, withAlt), {
    kind: 'service',
    service: 'web',
    tag: 'v1',
    locality: local,
  });
});

/** [name, qtype, recursion, route] */
const routes: Array<[string, number, boolean, Route]> = [
  ['web.service.consul.', RRType.A, false, 'domain'],
  ['WEB.SERVICE.CONSUL.', RRType.A, false, 'domain'],
  ['consul.', RRType.SOA, false, 'domain'],
  ['web.service.alt.example.', RRType.A, false, 'refused'],
  ['2.0.0.127.in-addr.arpa.', RRType.PTR, false, 'ptr'],
  ['arpa.', RRType.A, false, 'ptr'],
  ['example.com.', RRType.A, false, 'refused'],
  ['example.com.', RRType.A, true, 'recurse'],
  ['.', RRType.NS, false, 'refused'],
  ['.', RRType.NS, true, 'recurse'],
  ['xconsul.', RRType.A, false, 'refused'],
  // DS goes to the parent zone: the root when recursion is on, else our zone.
  ['consul.', RRType.DS, true, 'recurse'],
  ['consul.', RRType.DS, false, 'domain'],
  ['web.service.consul.', RRType.DS, false, 'domain'],
];

for (const [name, qtype, recursion, route] of routes) {
  test(`route ${name} type ${qtype} (recursors: ${recursion}) → ${route}`, (t) => {
    t.is(routeQuestion(name, qtype, zones, recursion), route);
  });
}

test('the alt domain routes to the handler too', (t) => {
  t.is(routeQuestion('web.service.alt.example.', RRType.A, withAlt, false), 'domain');
});
