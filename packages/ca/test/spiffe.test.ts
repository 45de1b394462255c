// SPIFFE IDs: Consul's formats, round trips and hostile URIs.
import test from 'ava';
import { Prng } from '@trellis/testkit';
import {
  CaError,
  SPIFFE_ID_MAX_LENGTH,
  parseSpiffeId,
  spiffeIdForAgent,
  spiffeIdForService,
  spiffeIdForSigning,
  trustDomainFor,
} from '../src/index.js';

const CID = '11111111-2222-3333-4444-555555555555';
const TD = `${CID}.consul`;

test('trust domain is <cluster id>.consul', (t) => {
  t.is(trustDomainFor(CID), TD);
  t.is(trustDomainFor(CID.toUpperCase()), TD);
  for (const bad of ['', 'a.b', 'a/b', 'x y']) {
    const e = t.throws(() => trustDomainFor(bad));
    t.true(e instanceof CaError);
    t.is((e as CaError).code, 'bad-config');
  }
});

test('formats as Consul does', (t) => {
  t.is(
    spiffeIdForService({ trustDomain: TD, datacenter: 'dc1', service: 'web' }),
    `spiffe://${TD}/ns/default/dc/dc1/svc/web`,
  );
  t.is(
    spiffeIdForService({ trustDomain: TD, datacenter: 'dc1', service: 'web', namespace: 'team' }),
    `spiffe://${TD}/ns/team/dc/dc1/svc/web`,
  );
  t.is(
    spiffeIdForService({ trustDomain: TD, datacenter: 'dc1', service: 'web', partition: 'ap1' }),
    `spiffe://${TD}/ap/ap1/ns/default/dc/dc1/svc/web`,
  );
  t.is(
    spiffeIdForService({
      trustDomain: TD,
      datacenter: 'dc1',
      service: 'web',
      partition: 'default',
    }),
    `spiffe://${TD}/ns/default/dc/dc1/svc/web`,
  );
  t.is(
    spiffeIdForAgent({ trustDomain: TD, datacenter: 'dc1', node: 'node-1' }),
    `spiffe://${TD}/agent/client/dc/dc1/id/node-1`,
  );
  t.is(spiffeIdForSigning(TD.toUpperCase()), `spiffe://${TD}`);
});

test('parses the three kinds', (t) => {
  t.deepEqual(parseSpiffeId(`spiffe://${TD}/ns/default/dc/dc1/svc/web`), {
    kind: 'service',
    trustDomain: TD,
    partition: 'default',
    namespace: 'default',
    datacenter: 'dc1',
    service: 'web',
    uri: `spiffe://${TD}/ns/default/dc/dc1/svc/web`,
  });
  t.deepEqual(parseSpiffeId(`spiffe://${TD}/ap/p1/agent/client/dc/dc2/id/n1`), {
    kind: 'agent',
    trustDomain: TD,
    partition: 'p1',
    datacenter: 'dc2',
    node: 'n1',
    uri: `spiffe://${TD}/ap/p1/agent/client/dc/dc2/id/n1`,
  });
  t.deepEqual(parseSpiffeId(`spiffe://${TD}`), {
    kind: 'signing',
    trustDomain: TD,
    clusterId: CID,
    domain: 'consul',
    uri: `spiffe://${TD}`,
  });
});

test('round trips, escaping as Go net/url does', (t) => {
  const names = [
    'web',
    'a.b-c_d~e',
    'sp ace',
    'ünï',
    'a:b@c',
    'x%y',
    'q?h#f',
    "it's(1)*!",
    '$&+,;=',
  ];
  for (const service of names) {
    for (const namespace of ['default', 'ns-1', 'ä b']) {
      const uri = spiffeIdForService({ trustDomain: TD, datacenter: 'dc 1', service, namespace });
      const id = parseSpiffeId(uri);
      t.is(id.kind, 'service');
      if (id.kind !== 'service') continue;
      t.is(id.service, service);
      t.is(id.namespace, namespace);
      t.is(id.datacenter, 'dc 1');
      t.is(id.uri, uri);
      t.false(/[ ?#%'()*!]/.test(uri.replace(/%[0-9A-F]{2}/g, '')), uri);
    }
    const agent = spiffeIdForAgent({ trustDomain: TD, datacenter: 'dc1', node: service });
    const parsed = parseSpiffeId(agent);
    t.is(parsed.kind === 'agent' ? parsed.node : undefined, service);
  }
  t.is(
    spiffeIdForService({ trustDomain: TD, datacenter: 'dc1', service: 'a b' }),
    `spiffe://${TD}/ns/default/dc/dc1/svc/a%20b`,
  );
  // Escapes in the input are decoded; the canonical form re-escapes only what Go does.
  const id = parseSpiffeId(`SPIFFE://${TD.toUpperCase()}/ns/default/dc/dc1/svc/%77eb%21`);
  t.is(id.uri, `spiffe://${TD}/ns/default/dc/dc1/svc/web%21`);
});

test('refuses hostile and malformed URIs', (t) => {
  const base = `spiffe://${TD}`;
  const bad: Array<[string, RegExp]> = [
    ['', /scheme/],
    ['web', /scheme/],
    [`https://${TD}/ns/default/dc/dc1/svc/web`, /scheme/],
    ['spiffe:/x', /scheme/],
    ['spiffe://', /trust domain/],
    ['spiffe:///ns/default/dc/dc1/svc/web', /trust domain/],
    [`${base}/`, /empty path segment/],
    [`${base}/ns/default/dc/dc1/svc/`, /empty/],
    [`${base}/ns//dc/dc1/svc/web`, /empty/],
    [`${base}/ns/default/dc/dc1/svc/web/`, /empty path segment/],
    [`${base}/ns/default/dc/dc1/svc/web/extra`, /expected format/],
    [`${base}/ns/default/dc/dc1`, /expected format/],
    [`${base}/svc/web`, /expected format/],
    [`${base}/ns/default/dc/dc1/svc/web?x=1`, /query or fragment/],
    [`${base}/ns/default/dc/dc1/svc/web#frag`, /query or fragment/],
    [`spiffe://user@${TD}/ns/default/dc/dc1/svc/web`, /user info/],
    [`spiffe://${TD}:8080/ns/default/dc/dc1/svc/web`, /port/],
    [`${base}/ns/default/dc/dc1/svc/we%2`, /percent-encoding|invalid character/],
    [`${base}/ns/default/dc/dc1/svc/we%zz`, /invalid character/],
    [`${base}/ns/default/dc/dc1/svc/%ff%fe`, /percent-encoding/],
    [`${base}/ns/default/dc/dc1/svc/a%2Fb`, /'\/'/],
    [`${base}/ns/default/dc/dc1/svc/a%00b`, /control character/],
    [`${base}/ns/default/dc/dc1/svc/..`, /may not be/],
    [`${base}/ns/default/dc/dc1/svc/%2e%2e`, /may not be/],
    [`${base}/ns/default/dc/dc1/svc/a b`, /invalid character/],
    [`${base}/ns/default/dc/dc1/svc/a\nb`, /invalid character/],
    [`${base}/ns/default/dc/dc1/svc/<script>`, /invalid character/],
    [`spiffe://exa mple.consul/ns/default/dc/dc1/svc/web`, /invalid trust domain/],
    [`spiffe://ex..ample/ns/default/dc/dc1/svc/web`, /invalid trust domain/],
    [`spiffe://-bad.consul/ns/default/dc/dc1/svc/web`, /invalid trust domain/],
    ['spiffe://nodot', /cluster id/],
    [`${base}/ns/default/dc/dc1/svc/${'a'.repeat(SPIFFE_ID_MAX_LENGTH)}`, /longer than/],
    [`spiffe://${'a'.repeat(300)}.consul`, /too long/],
  ];
  for (const [uri, message] of bad) {
    const e = t.throws(() => parseSpiffeId(uri), undefined, uri);
    t.true(e instanceof CaError, uri);
    t.is((e as CaError).code, 'bad-spiffe-id', uri);
    t.regex(e?.message ?? '', message, uri);
  }
  t.throws(() => parseSpiffeId(42 as unknown as string), { instanceOf: CaError });
});

test('formatting refuses what parsing would', (t) => {
  for (const service of ['', '.', '..', 'a/b', 'a\u0000b', 'a\nb']) {
    const e = t.throws(() => spiffeIdForService({ trustDomain: TD, datacenter: 'dc1', service }));
    t.is((e as CaError).code, 'bad-spiffe-id');
  }
  t.throws(
    () => spiffeIdForService({ trustDomain: 'bad domain', datacenter: 'dc1', service: 'x' }),
    {
      instanceOf: CaError,
    },
  );
});

test('random strings never escape as anything but CaError', (t) => {
  const prng = new Prng(7);
  const rnd = (n: number): number => prng.int(n);
  const alphabet = `spiffe:/%.-_~ab12?#@!'()*+,;=\u0000\u00e9\ud800${TD}`;
  for (let i = 0; i < 3000; i++) {
    let s = rnd(2) ? `spiffe://${TD}/ns/default/dc/dc1/svc/` : '';
    const len = rnd(40);
    for (let j = 0; j < len; j++) s += alphabet[rnd(alphabet.length)];
    try {
      const id = parseSpiffeId(s);
      // Whatever parses re-parses to itself.
      t.deepEqual(parseSpiffeId(id.uri), id);
    } catch (e) {
      if (!(e instanceof CaError)) t.fail(`non-CaError for ${JSON.stringify(s)}: ${String(e)}`);
    }
  }
  t.pass();
});
