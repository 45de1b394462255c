// The handler against a real StateStore, one behaviour of Consul's DNS interface
// (agent/dns.go) per test, through encoded query packets and decoded answers.
import test from 'ava';
import {
  CLASS_IN,
  EDNS_CLIENT_SUBNET,
  OpCode,
  RCode,
  RRType,
  decodeMessage,
  emptyHeader,
  encodeMessage,
  makeQuery,
  servfailFor,
  type Message,
} from '../src/index.js';
import {
  Catalog,
  FakeBackend,
  ask,
  handlerFor,
  lines,
  sampleCatalog,
  seeded,
  sorted,
} from './helpers.js';

function setup(opts: Parameters<typeof handlerFor>[1] = {}): {
  c: Catalog;
  b: FakeBackend;
  h: ReturnType<typeof handlerFor>;
} {
  const c = sampleCatalog();
  const b = new FakeBackend(c.store);
  b.serverList = [
    { name: 's1', address: '10.0.0.1' },
    { name: 's2', address: '10.0.0.2' },
    { name: 's3', address: '2001:db8::3' },
    { name: 's4', address: '10.0.0.4' },
  ];
  return { c, b, h: handlerFor(b, opts) };
}

const SOA_LINE = 'consul. 0 SOA ns.consul. hostmaster.consul. 1700000000 3600 600 86400 0';

function isNxdomain(
  t: { is: (a: unknown, b: unknown) => void; deepEqual: (a: unknown, b: unknown) => void },
  m: Message,
): void {
  t.is(m.header.rcode, RCode.NXDomain);
  t.deepEqual(m.answer, []);
  t.deepEqual(lines(m.authority), [SOA_LINE]);
}

// ---------------------------------------------------------------------------- services

test('service A: every instance without a critical check; critical service, serfHealth and maintenance checks drop one', async (t) => {
  const { h } = setup();
  const m = await ask(h, 'web.service.consul', RRType.A);
  t.like(m.header, { qr: true, aa: true, ra: false, rcode: RCode.NoError, tc: false });
  t.deepEqual(m.question, [{ name: 'web.service.consul.', type: RRType.A, class: CLASS_IN }]);
  // n1 passing, n2 warning; n3 (critical check), n4 (serfHealth critical) and n5
  // (_node_maintenance) are left out.
  t.deepEqual(sorted(m.answer), [
    'web.service.consul. 0 A 10.0.0.1',
    'web.service.consul. 0 A 10.0.0.2',
  ]);
  t.deepEqual(m.authority, []);
});

test('only_passing also drops instances with a warning check', async (t) => {
  const { h } = setup({ config: { only_passing: true } });
  const m = await ask(h, 'web.service.consul', RRType.A);
  t.deepEqual(lines(m.answer), ['web.service.consul. 0 A 10.0.0.1']);
});

test('a service whose every instance is unhealthy is NXDOMAIN, as an unknown one', async (t) => {
  const { c, h } = setup();
  c.node('sick', '10.9.0.1', {}, 'critical');
  c.service('sick', { Service: 'lonely', Port: 1 });
  isNxdomain(t, await ask(h, 'lonely.service.consul', RRType.A));
  isNxdomain(t, await ask(h, 'nosuch.service.consul', RRType.A));
});

test('the health filter follows the store: a check turning critical removes the instance', async (t) => {
  const { c, h } = setup();
  c.service('n1', { ID: 'web1', Service: 'web', Tags: ['v1', 'primary'], Port: 8080 }, [
    { CheckID: 'web1-alive', Status: 'critical' },
  ]);
  const m = await ask(h, 'web.service.consul', RRType.A);
  t.deepEqual(lines(m.answer), ['web.service.consul. 0 A 10.0.0.2']);
});

test('tag lookups: [tag.]name.service filters on the tag, case-insensitively', async (t) => {
  const { h } = setup();
  t.deepEqual(lines((await ask(h, 'v1.web.service.consul', RRType.A)).answer), [
    'v1.web.service.consul. 0 A 10.0.0.1',
  ]);
  t.deepEqual(lines((await ask(h, 'V2.web.service.consul', RRType.A)).answer), [
    'V2.web.service.consul. 0 A 10.0.0.2',
  ]);
  isNxdomain(t, await ask(h, 'v9.web.service.consul', RRType.A));
});

test('RFC 2782: _web._tcp is every instance, _web._v2 filters on v2, _web._udp on "udp" (Consul only drops "tcp")', async (t) => {
  const { h } = setup();
  const all = await ask(h, '_web._tcp.service.consul', RRType.SRV);
  t.is(all.answer.length, 2);
  const v2 = await ask(h, '_web._v2.service.consul', RRType.SRV);
  t.deepEqual(lines(v2.answer), ['_web._v2.service.consul. 0 SRV 1 2 8081 n2.node.dc1.consul.']);
  // The "service" label is optional for RFC 2782 SRV names.
  const short = await ask(h, '_web._tcp.consul', RRType.SRV);
  t.is(short.answer.length, 2);
  isNxdomain(t, await ask(h, '_web._udp.service.consul', RRType.SRV));
});

test('SRV: priority 1, the weight of the instance health, the port, the node as target with its A and meta TXT as additional', async (t) => {
  const { h } = setup();
  const m = await ask(h, 'web.service.consul', RRType.SRV);
  t.deepEqual(sorted(m.answer), [
    // n1 passing: Weights.Passing (default 1); n2 warning: Weights.Warning (2 of 10/2).
    'web.service.consul. 0 SRV 1 1 8080 n1.node.dc1.consul.',
    'web.service.consul. 0 SRV 1 2 8081 n2.node.dc1.consul.',
  ]);
  t.deepEqual(sorted(m.additional), [
    'n1.node.dc1.consul. 0 A 10.0.0.1',
    'n1.node.dc1.consul. 0 TXT "env=prod"',
    'n1.node.dc1.consul. 0 TXT "rack=r1"',
    'n2.node.dc1.consul. 0 A 10.0.0.2',
  ]);
});

test('SRV with node_meta_txt off carries only the addresses', async (t) => {
  const { h } = setup({ config: { node_meta_txt: false } });
  const m = await ask(h, 'web.service.consul', RRType.SRV);
  t.deepEqual(sorted(m.additional), [
    'n1.node.dc1.consul. 0 A 10.0.0.1',
    'n2.node.dc1.consul. 0 A 10.0.0.2',
  ]);
});

test('a service Address that is an IP: A answers it, SRV targets <hex>.addr.<dc> with the IP as additional', async (t) => {
  const { h } = setup({ config: { node_meta_txt: false } });
  const a = await ask(h, 'db.service.consul', RRType.A);
  t.deepEqual(lines(a.answer), ['db.service.consul. 0 A 10.1.0.1']);
  const srv = await ask(h, 'db.service.consul', RRType.SRV);
  t.deepEqual(lines(srv.answer), ['db.service.consul. 0 SRV 1 1 5432 0a010001.addr.dc1.consul.']);
  t.deepEqual(lines(srv.additional), ['0a010001.addr.dc1.consul. 0 A 10.1.0.1']);
  // AAAA for an IPv4-only instance: the name exists, no records of the type (NODATA).
  const aaaa = await ask(h, 'db.service.consul', RRType.AAAA);
  t.is(aaaa.header.rcode, RCode.NoError);
  t.deepEqual(aaaa.answer, []);
  t.deepEqual(lines(aaaa.authority), [SOA_LINE]);
});

test('a service Address that is a host name: CNAME for A, SRV target the name (no recursors: nothing more)', async (t) => {
  const { h } = setup({ config: { node_meta_txt: false } });
  const a = await ask(h, 'api.service.consul', RRType.A);
  t.deepEqual(lines(a.answer), ['api.service.consul. 0 CNAME api.example.com.']);
  const srv = await ask(h, 'api.service.consul', RRType.SRV);
  t.deepEqual(lines(srv.answer), ['api.service.consul. 0 SRV 1 1 443 api.example.com.']);
  t.deepEqual(srv.additional, []);
});

test('a service Address naming another Consul service is resolved internally (CNAME + its records)', async (t) => {
  const { c, h } = setup({ config: { node_meta_txt: false } });
  c.service('n2', { ID: 'alias', Service: 'alias', Address: 'db.service.consul', Port: 1 });
  const a = await ask(h, 'alias.service.consul', RRType.A);
  t.deepEqual(lines(a.answer), [
    'alias.service.consul. 0 CNAME db.service.consul.',
    'db.service.consul. 0 A 10.1.0.1',
  ]);
  const srv = await ask(h, 'alias.service.consul', RRType.SRV);
  t.deepEqual(lines(srv.answer), ['alias.service.consul. 0 SRV 1 1 1 db.service.consul.']);
  t.deepEqual(lines(srv.additional), ['db.service.consul. 0 A 10.1.0.1']);
});

test("a CNAME loop inside the domain stops after Consul's three levels", async (t) => {
  const { c, h } = setup({ config: { node_meta_txt: false } });
  c.service('n2', { ID: 'loop-a', Service: 'loop-a', Address: 'loop-b.service.consul', Port: 1 });
  c.service('n2', { ID: 'loop-b', Service: 'loop-b', Address: 'loop-a.service.consul', Port: 1 });
  const m = await ask(h, 'loop-a.service.consul', RRType.A);
  t.is(m.header.rcode, RCode.NoError);
  t.deepEqual(lines(m.answer).slice(0, 2), [
    'loop-a.service.consul. 0 CNAME loop-b.service.consul.',
    'loop-b.service.consul. 0 CNAME loop-a.service.consul.',
  ]);
  t.true(m.answer.length <= 4);
});

test('a service Address equal to the question name answers with the node (no self-CNAME)', async (t) => {
  const { c, h } = setup();
  c.service('n2', { ID: 'self', Service: 'self', Address: 'self.service.consul.', Port: 1 });
  const m = await ask(h, 'self.service.consul', RRType.A);
  t.deepEqual(lines(m.answer), ['self.service.consul. 0 A 10.0.0.2']);
});

test('a node whose address is a host name: CNAME for A, SRV targets the host name', async (t) => {
  const { h } = setup();
  t.deepEqual(lines((await ask(h, 'ext.node.consul', RRType.A)).answer), [
    'ext.node.consul. 0 CNAME ext.example.com.',
  ]);
  const srv = await ask(h, 'extsvc.service.consul', RRType.SRV);
  t.deepEqual(lines(srv.answer), ['extsvc.service.consul. 0 SRV 1 1 7000 ext.example.com.']);
});

test('a lan_ipv6 tagged address takes over SRV and AAAA; A keeps the node address', async (t) => {
  const { h } = setup({ config: { node_meta_txt: false } });
  const srv = await ask(h, 'tagged.service.consul', RRType.SRV);
  t.deepEqual(lines(srv.answer), [
    'tagged.service.consul. 0 SRV 1 1 7070 20010db8000000000000000000000007.addr.dc1.consul.',
  ]);
  t.deepEqual(lines(srv.additional), [
    '20010db8000000000000000000000007.addr.dc1.consul. 0 AAAA 2001:db8::7',
  ]);
  t.deepEqual(lines((await ask(h, 'tagged.service.consul', RRType.AAAA)).answer), [
    'tagged.service.consul. 0 AAAA 2001:db8::7',
  ]);
  t.deepEqual(lines((await ask(h, 'tagged.service.consul', RRType.A)).answer), [
    'tagged.service.consul. 0 A 10.0.0.7',
  ]);
});

test('IPv6 nodes answer AAAA (and ANY), not A', async (t) => {
  const { h } = setup();
  t.deepEqual(lines((await ask(h, 'v6svc.service.consul', RRType.AAAA)).answer), [
    'v6svc.service.consul. 0 AAAA 2001:db8::6',
  ]);
  t.deepEqual(lines((await ask(h, 'v6svc.service.consul', RRType.ANY)).answer), [
    'v6svc.service.consul. 0 AAAA 2001:db8::6',
  ]);
  const a = await ask(h, 'v6svc.service.consul', RRType.A);
  t.is(a.header.rcode, RCode.NoError);
  t.deepEqual(a.answer, []);
});

test('a service on one node at two ports: one A record, two SRV records', async (t) => {
  const { c, h } = setup({ config: { node_meta_txt: false } });
  c.service('n2', { ID: 'multi-a', Service: 'multi', Port: 1000 });
  c.service('n2', { ID: 'multi-b', Service: 'multi', Port: 2000 });
  t.deepEqual(lines((await ask(h, 'multi.service.consul', RRType.A)).answer), [
    'multi.service.consul. 0 A 10.0.0.2',
  ]);
  const srv = await ask(h, 'multi.service.consul', RRType.SRV);
  t.deepEqual(sorted(srv.answer), [
    'multi.service.consul. 0 SRV 1 1 1000 n2.node.dc1.consul.',
    'multi.service.consul. 0 SRV 1 1 2000 n2.node.dc1.consul.',
  ]);
});

test("TXT and other types for a service: TXT answers the addresses (Consul's makeARecord), MX is NODATA", async (t) => {
  const { h } = setup();
  t.deepEqual(sorted((await ask(h, 'web.service.consul', RRType.TXT)).answer), [
    'web.service.consul. 0 A 10.0.0.1',
    'web.service.consul. 0 A 10.0.0.2',
  ]);
  const mx = await ask(h, 'web.service.consul', RRType.MX);
  t.is(mx.header.rcode, RCode.NoError);
  t.deepEqual(mx.answer, []);
  t.deepEqual(lines(mx.authority), [SOA_LINE]);
});

// ---------------------------------------------------------------------------- connect, ingress…

test('name.connect: the sidecar proxies of the service, and Connect-native instances', async (t) => {
  const { h } = setup({ config: { node_meta_txt: false } });
  const web = await ask(h, 'web.connect.consul', RRType.SRV);
  t.deepEqual(lines(web.answer), ['web.connect.consul. 0 SRV 1 1 21000 n1.node.dc1.consul.']);
  t.deepEqual(lines((await ask(h, 'native.connect.consul', RRType.A)).answer), [
    'native.connect.consul. 0 A 10.0.0.8',
  ]);
  isNxdomain(t, await ask(h, 'db.connect.consul', RRType.A));
});

test("name.ingress: no ingress gateway is mapped to any service here, so NXDOMAIN (Consul's answer for none)", async (t) => {
  const { h } = setup();
  isNxdomain(t, await ask(h, 'web.ingress.consul', RRType.A));
  isNxdomain(t, await ask(h, 'web.ingress.consul', RRType.SRV));
});

test('prepared queries (name.query) are NXDOMAIN; virtual IPs (name.virtual) are an empty NOERROR', async (t) => {
  const { h } = setup();
  isNxdomain(t, await ask(h, 'web.query.consul', RRType.A));
  const v = await ask(h, 'web.virtual.consul', RRType.A);
  t.is(v.header.rcode, RCode.NoError);
  t.deepEqual(v.answer, []);
});

// ---------------------------------------------------------------------------- nodes and addr

test('node A: the address, with the node meta as TXT in the additional section', async (t) => {
  const { h } = setup();
  const m = await ask(h, 'n1.node.consul', RRType.A);
  t.deepEqual(lines(m.answer), ['n1.node.consul. 0 A 10.0.0.1']);
  t.deepEqual(lines(m.additional), [
    'n1.node.consul. 0 TXT "env=prod"',
    'n1.node.consul. 0 TXT "rack=r1"',
  ]);
});

test('node TXT and ANY: meta as key=value TXT records in the answer (RFC 1464 quoting)', async (t) => {
  const { c, h } = setup();
  c.node('meta', '10.0.0.9', {
    NodeMeta: { 'a=b': 'x`y', ' lead': 'v', 'rfc1035-raw': 'verbatim=text' },
  });
  const txt = await ask(h, 'meta.node.consul', RRType.TXT);
  t.deepEqual(lines(txt.answer), [
    'meta.node.consul. 0 TXT "` lead=v"',
    'meta.node.consul. 0 TXT "a`=b=x``y"',
    'meta.node.consul. 0 TXT "verbatim=text"',
  ]);
  // Over TCP: four records are more than UDP's three-answer limit.
  const any = await ask(h, 'meta.node.consul', RRType.ANY, { transport: 'tcp' });
  t.is(any.answer[0]?.type, RRType.A);
  t.is(any.answer.length, 4);
  t.is((await ask(h, 'meta.node.consul', RRType.ANY)).answer.length, 3);
});

test('node lookups: AAAA of an IPv6 node, NODATA for AAAA of an IPv4 node, NODATA for MX, NXDOMAIN for no node', async (t) => {
  const { h } = setup();
  t.deepEqual(lines((await ask(h, 'n6.node.consul', RRType.AAAA)).answer), [
    'n6.node.consul. 0 AAAA 2001:db8::6',
  ]);
  for (const type of [RRType.AAAA, RRType.MX, RRType.SRV]) {
    const m = await ask(h, 'n2.node.consul', type);
    t.is(m.header.rcode, RCode.NoError);
    t.deepEqual(m.answer, []);
    t.deepEqual(lines(m.authority), [SOA_LINE]);
  }
  isNxdomain(t, await ask(h, 'nobody.node.consul', RRType.A));
  isNxdomain(t, await ask(h, 'nobody.node.consul', RRType.MX));
});

test('node names are case-insensitive and may contain dots', async (t) => {
  const { c, h } = setup();
  c.node('foo.bar', '10.0.0.10');
  t.deepEqual(lines((await ask(h, 'N1.NODE.consul', RRType.A)).answer), [
    'N1.NODE.consul. 0 A 10.0.0.1',
  ]);
  t.deepEqual(lines((await ask(h, 'foo.bar.node.consul', RRType.A)).answer), [
    'foo.bar.node.consul. 0 A 10.0.0.10',
  ]);
});

test('<hex>.addr: 8 hex digits are an A record, 32 an AAAA; any datacenter label; other types go to additional', async (t) => {
  const { h } = setup({ config: { node_ttl: 30_000 } });
  t.deepEqual(lines((await ask(h, '0a000001.addr.consul', RRType.A)).answer), [
    '0a000001.addr.consul. 30 A 10.0.0.1',
  ]);
  t.deepEqual(lines((await ask(h, '0A000001.addr.dc9.consul', RRType.ANY)).answer), [
    '0a000001.addr.dc9.consul. 30 A 10.0.0.1',
  ]);
  t.deepEqual(
    lines((await ask(h, '20010db8000000000000000000000001.addr.dc1.consul', RRType.AAAA)).answer),
    ['20010db8000000000000000000000001.addr.dc1.consul. 30 AAAA 2001:db8::1'],
  );
  const srv = await ask(h, '0a000001.addr.consul', RRType.SRV);
  t.is(srv.header.rcode, RCode.NoError);
  t.deepEqual(srv.answer, []);
  t.deepEqual(lines(srv.additional), ['0a000001.addr.consul. 30 A 10.0.0.1']);
  isNxdomain(t, await ask(h, '0a0001.addr.consul', RRType.A));
  isNxdomain(t, await ask(h, 'zz000001.addr.consul', RRType.A));
});

// ---------------------------------------------------------------------------- datacenters, zones

test('datacenter forms: name.service.dc1, name.service.dc1.dc and case; another DC or a peer is NXDOMAIN', async (t) => {
  const { h } = setup({ config: { node_meta_txt: false } });
  for (const name of [
    'web.service.dc1.consul',
    'web.service.dc1.dc.consul',
    'web.service.DC1.consul',
  ]) {
    const m = await ask(h, name, RRType.A);
    t.is(m.answer.length, 2, name);
  }
  const srv = await ask(h, 'web.service.DC1.consul', RRType.SRV);
  // The target names the datacenter as the question spelled it (lower-cased), as Consul.
  t.true(
    srv.answer.every(
      (rr) => rr.data.kind === 'srv' && rr.data.target.endsWith('.node.dc1.consul.'),
    ),
  );
  isNxdomain(t, await ask(h, 'web.service.dc2.consul', RRType.A));
  isNxdomain(t, await ask(h, 'n1.node.dc2.consul', RRType.A));
  isNxdomain(t, await ask(h, 'web.connect.dc2.dc.consul', RRType.A));
  isNxdomain(t, await ask(h, 'web.service.p1.peer.consul', RRType.A));
  isNxdomain(t, await ask(h, 'web.service.a.b.c.consul', RRType.A));
});

test("names keep the question's spelling: answers are named as asked, SRV targets use its domain", async (t) => {
  const { h } = setup({ config: { node_meta_txt: false } });
  const m = await ask(h, 'WEB.Service.CONSUL', RRType.SRV);
  t.true(m.answer.every((rr) => rr.name === 'WEB.Service.CONSUL.'));
  t.deepEqual(sorted(m.additional), [
    'n1.node.dc1.CONSUL. 0 A 10.0.0.1',
    'n2.node.dc1.CONSUL. 0 A 10.0.0.2',
  ]);
});

test('the alt domain answers like the domain, naming targets and the SOA in the alt domain', async (t) => {
  const { h } = setup({ altDomain: 'alt.example', config: { node_meta_txt: false } });
  const srv = await ask(h, 'web.service.alt.example', RRType.SRV);
  t.deepEqual(sorted(srv.additional), [
    'n1.node.dc1.alt.example. 0 A 10.0.0.1',
    'n2.node.dc1.alt.example. 0 A 10.0.0.2',
  ]);
  const nx = await ask(h, 'nosuch.service.alt.example', RRType.A);
  t.is(nx.header.rcode, RCode.NXDomain);
  t.deepEqual(lines(nx.authority), [
    'alt.example. 0 SOA ns.alt.example. hostmaster.alt.example. 1700000000 3600 600 86400 0',
  ]);
  t.is((await ask(h, 'web.service.consul', RRType.A)).answer.length, 2);
});

test('NXDOMAIN vs NODATA: unknown names in the domain are NXDOMAIN with the SOA, the zone apex too', async (t) => {
  const { h } = setup();
  isNxdomain(t, await ask(h, 'consul', RRType.A));
  isNxdomain(t, await ask(h, 'whatever.consul', RRType.A));
  isNxdomain(t, await ask(h, 'service.consul', RRType.A));
});

test("SOA: the zone's SOA in the answer, up to three servers as NS in authority with their addresses", async (t) => {
  const { h } = setup();
  const m = await ask(h, 'consul', RRType.SOA);
  t.deepEqual(lines(m.answer), [SOA_LINE]);
  t.is(m.authority.length, 3);
  for (const ns of m.authority) {
    t.is(ns.type, RRType.NS);
    t.is(ns.name, 'consul.');
  }
  const targets = m.authority.map((rr) => (rr.data.kind === 'name' ? rr.data.target : ''));
  t.deepEqual(
    sorted(m.additional).map((l) => l.split(' ')[0]),
    [...targets].sort(),
  );
  // SOA for any name in the zone answers the zone's SOA.
  t.deepEqual(lines((await ask(h, 'web.service.consul', RRType.SOA)).answer), [SOA_LINE]);
});

test('NS: up to three servers, shuffled, with A/AAAA glue; servers with invalid names are skipped', async (t) => {
  const { b, h } = setup();
  b.serverList.push({ name: 'bad_name', address: '10.0.0.99' });
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const m = await ask(h, 'consul', RRType.NS);
    t.is(m.answer.length, 3);
    const order = m.answer.map((rr) => (rr.data.kind === 'name' ? rr.data.target : '')).join(',');
    seen.add(order);
    t.false(order.includes('bad_name'));
    for (const glue of m.additional) t.true(glue.type === RRType.A || glue.type === RRType.AAAA);
  }
  t.true(seen.size > 3, 'NS answers vary between queries');
  const any = await ask(h, 'consul', RRType.NS);
  const s3 = any.additional.find((rr) => rr.name === 's3.node.dc1.consul.');
  if (s3 !== undefined) t.is(s3.type, RRType.AAAA);
});

test('no servers: NS is an empty NOERROR', async (t) => {
  const { b, h } = setup();
  b.serverList = [];
  const m = await ask(h, 'consul', RRType.NS);
  t.is(m.header.rcode, RCode.NoError);
  t.deepEqual(m.answer, []);
});

test('AXFR is NOTIMP', async (t) => {
  const { h } = setup();
  t.is((await ask(h, 'consul', RRType.AXFR)).header.rcode, RCode.NotImp);
});

// ---------------------------------------------------------------------------- TTLs, shuffle

test('TTLs: node_ttl for node answers; service_ttl by exact name, longest prefix, "*"; default 0', async (t) => {
  const { h } = setup({
    config: {
      node_ttl: 10_000,
      service_ttl: { '*': 5_000, 'we*': 7_000, db: 60_000 },
      node_meta_txt: false,
    },
  });
  t.deepEqual(lines((await ask(h, 'n1.node.consul', RRType.A)).answer), [
    'n1.node.consul. 10 A 10.0.0.1',
  ]);
  t.true((await ask(h, 'web.service.consul', RRType.A)).answer.every((rr) => rr.ttl === 7));
  const srv = await ask(h, 'db.service.consul', RRType.SRV);
  t.deepEqual(lines(srv.answer), ['db.service.consul. 60 SRV 1 1 5432 0a010001.addr.dc1.consul.']);
  t.deepEqual(lines(srv.additional), ['0a010001.addr.dc1.consul. 60 A 10.1.0.1']);
  t.true((await ask(h, 'native.service.consul', RRType.A)).answer.every((rr) => rr.ttl === 5));
  const { h: plain } = setup();
  t.true((await ask(plain, 'web.service.consul', RRType.A)).answer.every((rr) => rr.ttl === 0));
});

test('answers are shuffled per query; the random source is injectable', async (t) => {
  const c = new Catalog();
  for (let i = 1; i <= 6; i++) {
    c.node(`m${i}`, `10.2.0.${i}`);
    c.service(`m${i}`, { Service: 'many', Port: 80 });
  }
  const h = handlerFor(new FakeBackend(c.store), { random: seeded(42) });
  const orders = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const m = await ask(h, 'many.service.consul', RRType.A);
    t.is(m.answer.length, 3);
    orders.add(lines(m.answer).join('|'));
  }
  t.true(orders.size > 10, `${orders.size} distinct orders`);
  // The same seed gives the same sequence of answers.
  const again = async (seed: number): Promise<string[]> => {
    const hh = handlerFor(new FakeBackend(c.store), { random: seeded(seed) });
    const out: string[] = [];
    for (let i = 0; i < 5; i++)
      out.push(lines((await ask(hh, 'many.service.consul', RRType.A)).answer).join('|'));
    return out;
  };
  t.deepEqual(await again(7), await again(7));
  t.notDeepEqual(await again(7), await again(8));
});

// ---------------------------------------------------------------------------- reverse lookups

test('PTR: a node by its address (in-addr.arpa and ip6.arpa) → <node>.node.<dc>.<domain>', async (t) => {
  const { h } = setup();
  t.deepEqual(lines((await ask(h, '2.0.0.10.in-addr.arpa', RRType.PTR)).answer), [
    '2.0.0.10.in-addr.arpa. 0 PTR n2.node.dc1.consul.',
  ]);
  const v6 = '6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
  const m = await ask(h, v6, RRType.PTR);
  t.deepEqual(lines(m.answer), [`${v6}. 0 PTR n6.node.dc1.consul.`]);
  t.true(m.header.aa);
});

test('PTR: a service instance by its own Address → <service>.service.<dc>.<domain> when no node has it', async (t) => {
  const { h } = setup();
  t.deepEqual(lines((await ask(h, '1.0.1.10.in-addr.arpa', RRType.PTR)).answer), [
    '1.0.1.10.in-addr.arpa. 0 PTR db.service.dc1.consul.',
  ]);
  // 10.0.0.8 is both n8 and redis's address: the node wins.
  t.deepEqual(lines((await ask(h, '8.0.0.10.in-addr.arpa', RRType.PTR)).answer), [
    '8.0.0.10.in-addr.arpa. 0 PTR n8.node.dc1.consul.',
  ]);
});

test('PTR: an unknown address is NXDOMAIN with the SOA (no recursors); any type under arpa gets the PTR', async (t) => {
  const { h } = setup();
  isNxdomain(t, await ask(h, '9.9.9.10.in-addr.arpa', RRType.PTR));
  isNxdomain(t, await ask(h, 'not.an.address.arpa', RRType.PTR));
  t.deepEqual(lines((await ask(h, '1.0.0.10.in-addr.arpa', RRType.A)).answer), [
    '1.0.0.10.in-addr.arpa. 0 PTR n1.node.dc1.consul.',
  ]);
});

// ---------------------------------------------------------------------------- EDNS

test("EDNS: the OPT record is echoed with the client's payload size", async (t) => {
  const { h } = setup();
  const m = await ask(h, 'web.service.consul', RRType.A, { edns: { udpSize: 1400 } });
  t.like(m.edns, { udpSize: 1400, version: 0, dnssecOk: false });
  t.is(m.edns?.options.length, 0);
  const none = await ask(h, 'web.service.consul', RRType.A);
  t.is(none.edns, undefined);
  // NXDOMAIN and PTR answers carry it too.
  t.like((await ask(h, 'x.service.consul', RRType.A, { edns: {} })).edns, { udpSize: 4096 });
  t.like((await ask(h, '1.0.0.10.in-addr.arpa', RRType.PTR, { edns: {} })).edns, { udpSize: 4096 });
});

test('EDNS client subnet is echoed with scope 0 (globally valid), address masked to the source prefix', async (t) => {
  const { h } = setup();
  const ecs = Uint8Array.from([0, 1, 20, 0, 192, 168, 255]);
  const m = await ask(h, 'web.service.consul', RRType.A, {
    edns: { options: [{ code: EDNS_CLIENT_SUBNET, data: ecs }] },
  });
  t.deepEqual(m.edns?.options, [
    { code: EDNS_CLIENT_SUBNET, data: Uint8Array.from([0, 1, 20, 0, 192, 168, 240]) },
  ]);
  const bad = makeQuery(77, 'web.service.consul', RRType.A, {
    edns: { options: [{ code: EDNS_CLIENT_SUBNET, data: Uint8Array.from([0, 3, 8, 0, 1]) }] },
  });
  const r = decodeMessage((await h.answer(encodeMessage(bad), 'udp'))!);
  t.is(r.header.rcode, RCode.FormErr);
});

// ---------------------------------------------------------------------------- protocol errors

async function raw(h: ReturnType<typeof handlerFor>, bytes: Uint8Array): Promise<Message | null> {
  const out = await h.answer(bytes, 'udp');
  return out === null ? null : decodeMessage(out);
}

test('queries outside the domain are REFUSED without recursors (miekg ServeMux), RA clear', async (t) => {
  const { h } = setup();
  const m = await ask(h, 'example.com', RRType.A);
  t.like(m.header, { rcode: RCode.Refused, aa: false, ra: false, qr: true });
  t.deepEqual(m.question, [{ name: 'example.com.', type: RRType.A, class: CLASS_IN }]);
});

test('FORMERR (header only) for zero or two questions, answers in a query, and undecodable bytes', async (t) => {
  const { h } = setup();
  const two: Message = makeQuery(0x4242, 'web.service.consul', RRType.A);
  two.question.push({ name: 'db.service.consul.', type: RRType.A, class: CLASS_IN });
  const zero: Message = { ...makeQuery(0x4243, 'x', RRType.A), question: [] };
  const answers: Message = makeQuery(0x4244, 'web.service.consul', RRType.A);
  answers.answer.push(
    {
      name: 'a.',
      type: RRType.A,
      class: CLASS_IN,
      ttl: 0,
      data: { kind: 'a', address: '1.1.1.1' },
    },
    {
      name: 'b.',
      type: RRType.A,
      class: CLASS_IN,
      ttl: 0,
      data: { kind: 'a', address: '1.1.1.1' },
    },
  );
  for (const q of [two, zero, answers]) {
    const m = await raw(h, encodeMessage(q));
    t.like(m?.header, {
      id: q.header.id,
      qr: true,
      rcode: RCode.FormErr,
      opcode: OpCode.Query,
      rd: true,
    });
    t.deepEqual(m?.question, []);
  }
  const garbage = Uint8Array.from([
    0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1,
  ]);
  t.like((await raw(h, garbage))?.header, { id: 0x1234, rcode: RCode.FormErr });
});

test('NOTIMP for opcodes other than QUERY (STATUS, NOTIFY, UPDATE), keeping the opcode', async (t) => {
  const { h } = setup();
  for (const opcode of [OpCode.IQuery, OpCode.Status, OpCode.Notify, OpCode.Update]) {
    const q = makeQuery(0x777, 'web.service.consul', RRType.A);
    q.header.opcode = opcode;
    const m = await raw(h, encodeMessage(q));
    t.like(m?.header, { id: 0x777, qr: true, rcode: RCode.NotImp, opcode });
  }
});

test('dropped: input shorter than a header, and responses (no answer to an answer)', async (t) => {
  const { h } = setup();
  t.is(await h.answer(new Uint8Array(0), 'udp'), null);
  t.is(await h.answer(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'udp'), null);
  const resp: Message = {
    ...makeQuery(9, 'web.service.consul', RRType.A),
    header: { ...emptyHeader(9), qr: true },
  };
  t.is(await h.answer(encodeMessage(resp), 'udp'), null);
});

test('a record name the store makes unencodable never breaks the answer', async (t) => {
  const { c, h } = setup({ config: { node_meta_txt: false } });
  const long = 'x'.repeat(70);
  c.node(long, '10.3.0.1');
  c.service(long, { Service: 'longnode', Port: 1 });
  const srv = await ask(h, 'longnode.service.consul', RRType.SRV);
  t.is(srv.header.rcode, RCode.NoError);
  t.deepEqual(srv.answer, []);
  t.deepEqual(lines((await ask(h, 'longnode.service.consul', RRType.A)).answer), [
    'longnode.service.consul. 0 A 10.3.0.1',
  ]);
  // The PTR of that node is skipped, not an encoding failure.
  t.is((await ask(h, '1.0.3.10.in-addr.arpa', RRType.PTR)).header.rcode, RCode.NXDomain);
});

test('the handler validates its options', (t) => {
  const b = new FakeBackend(new Catalog().store);
  t.throws(() => handlerFor(b, { domain: '' }), { code: 'DNS_INVALID_OPTION' } as never);
  t.throws(() => handlerFor(b, { recursors: ['dns.google'] }), {
    code: 'DNS_INVALID_OPTION',
  } as never);
  t.throws(() => handlerFor(b, { recursorTimeoutMs: 0 }), { code: 'DNS_INVALID_OPTION' } as never);
  t.throws(() => handlerFor(b, { config: { udp_answer_limit: -1 } }), {
    code: 'DNS_INVALID_OPTION',
  } as never);
  t.deepEqual(handlerFor(b, { domain: 'Consul', altDomain: 'ALT.' }).zones, {
    domain: 'consul.',
    altDomain: 'alt.',
  });
});

test('servfailFor: a header-only SERVFAIL with the query ID; nothing for garbage or answers', (t) => {
  const q = encodeMessage(makeQuery(4242, 'web.service.consul', RRType.A));
  const r = servfailFor(q);
  t.not(r, null);
  const m = decodeMessage(r!);
  t.is(m.header.id, 4242);
  t.true(m.header.qr);
  t.is(m.header.rcode, RCode.ServFail);
  t.is(servfailFor(new Uint8Array([1, 2, 3])), null);
  t.is(servfailFor(r!), null, 'never answers an answer');
});
