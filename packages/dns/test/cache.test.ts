// The answer cache (cache.ts): a repeated question is answered from pre-encoded records,
// byte for byte what the handler builds without the cache, and never after the catalog
// changed. Units (AnswerCache, parseSimpleQuery, renderCached) and the handler with the
// cache against the handler without it.
import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Prng, seedsFromEnv } from '@trellis/testkit';
import {
  CLASS_IN,
  DnsServer,
  EDNS_CLIENT_SUBNET,
  RCode,
  RRType,
  decodeMessage,
  encodeMessage,
  makeQuery,
  parseSimpleQuery,
  type DnsHandler,
  type Message,
} from '../src/index.js';
import {
  AnswerCache,
  renderCached,
  type CachedAnswer,
  type RenderOptions,
  type Segment,
} from '../src/cache.js';
import { encodeRecord } from '../src/wire.js';
import { trimNames } from '../src/trim.js';
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

// ---------------------------------------------------------------------------- helpers

/** A backend whose stale read can also be taken synchronously (as the agent's). */
class SyncBackend extends FakeBackend {
  syncCalls = 0;
  staleReadSync(): { lastContactMs: number; knownLeader: boolean } {
    this.syncCalls++;
    return this.staleResult;
  }
}

function query(
  name: string,
  type: number,
  o: { id?: number; rd?: boolean; cd?: boolean; udpSize?: number; qclass?: number } = {},
): Uint8Array {
  const m = makeQuery(
    o.id ?? 0x1234,
    name,
    type,
    o.udpSize === undefined
      ? { rd: o.rd ?? true }
      : { rd: o.rd ?? true, edns: { udpSize: o.udpSize } },
  );
  m.header.cd = o.cd ?? false;
  if (o.qclass !== undefined) m.question[0]!.class = o.qclass;
  return encodeMessage(m);
}

async function answer(
  h: DnsHandler,
  q: Uint8Array,
  transport: 'udp' | 'tcp' = 'udp',
): Promise<Message> {
  const bytes = await h.answer(q, transport);
  if (bytes === null) throw new Error('dropped');
  return decodeMessage(bytes);
}

function segment(rr: Parameters<typeof encodeRecord>[0]): Segment {
  const bytes = encodeRecord(rr);
  return { bytes, size: bytes.length, ...trimNames(rr), serialAt: -1 };
}

function entry(over: Partial<CachedAnswer> = {}, cost = 1000): CachedAnswer {
  return {
    readsStore: false,
    store: undefined,
    token: 0,
    rcode: 0,
    ra: false,
    parts: { kind: 'fixed', answer: [], extra: [] },
    authority: [],
    cost,
    ...over,
  };
}

// ---------------------------------------------------------------------------- AnswerCache

test('AnswerCache: at most maxEntries; the entry not used since the last pass goes first', (t) => {
  const c = new AnswerCache({ maxEntries: 3, maxBytes: 1 << 20 });
  c.set('a', entry());
  c.set('b', entry());
  c.set('c', entry());
  // Every entry starts marked; a full pass unmarks them, then 'a' (oldest) goes.
  c.set('d', entry());
  t.is(c.size, 3);
  t.is(c.peek('a'), undefined);
  // 'b' is used again: 'c' is the one evicted next.
  t.truthy(c.get('b'));
  c.set('e', entry());
  t.deepEqual(
    ['b', 'c', 'd', 'e'].map((k) => c.peek(k) !== undefined),
    [true, false, true, true],
  );
  t.is(c.stats.evicted, 2);
});

test('AnswerCache: bounded by bytes; an answer over an eighth of the bound is not kept', (t) => {
  const c = new AnswerCache({ maxEntries: 100, maxBytes: 8000 });
  for (let i = 0; i < 10; i++) c.set(`k${i}`, entry({}, 1000));
  t.true(c.bytes <= 8000);
  t.is(c.size, 8);
  c.set('huge', entry({}, 1001));
  t.is(c.peek('huge'), undefined);
  t.is(c.stats.tooLarge, 1);
  // Replacing a key does not count it twice.
  c.set('k9', entry({}, 500));
  t.is(c.bytes, 7 * 1000 + 500);
  c.clear();
  t.is(c.size, 0);
  t.is(c.bytes, 0);
});

test('AnswerCache: maxEntries 0 keeps nothing', (t) => {
  const c = new AnswerCache({ maxEntries: 0 });
  c.set('a', entry());
  t.is(c.size, 0);
});

// ---------------------------------------------------------------------------- parseSimpleQuery

test('parseSimpleQuery: a plain query, with and without EDNS; the key is the name as spelled', (t) => {
  const q = parseSimpleQuery(query('Web.Service.CONSUL', RRType.SRV, { udpSize: 1232 }))!;
  t.is(q.key, '\x03Web\x07Service\x06CONSUL\x00/33');
  t.is(q.qtype, RRType.SRV);
  t.is(q.udpSize, 1232);
  t.is(q.questionEnd, 12 + 20 + 4);
  t.is(parseSimpleQuery(query('web.service.consul', RRType.A))!.udpSize, undefined);
});

test('parseSimpleQuery: anything else is left to the full decoder', (t) => {
  const plain = query('web.service.consul', RRType.A);
  const variants: Array<[string, (b: Uint8Array) => Uint8Array]> = [
    ['a response', (b) => ((b[2] = b[2]! | 0x80), b)],
    ['opcode NOTIFY', (b) => ((b[2] = (b[2]! & 0x87) | (4 << 3)), b)],
    ['two questions', (b) => ((b[5] = 2), b)],
    ['an answer record', (b) => ((b[7] = 1), b)],
    ['an authority record', (b) => ((b[9] = 1), b)],
    ['cut short', (b) => b.subarray(0, b.length - 1)],
    [
      'a compression pointer',
      (b) => Uint8Array.from([...b.subarray(0, 12), 0xc0, 0x0c, 0, 1, 0, 1]),
    ],
    ['a label holding a dot', (b) => ((b[14] = 0x2e), b)],
    ['a control byte', (b) => ((b[14] = 0x07), b)],
    ['a non-ASCII byte', (b) => ((b[14] = 0xe9), b)],
    ['a backslash', (b) => ((b[14] = 0x5c), b)],
  ];
  for (const [what, damage] of variants) {
    t.is(parseSimpleQuery(damage(Uint8Array.from(plain))), null, what);
  }
  // EDNS: the client-subnet option (echoed per query) and options dns-packet parses.
  for (const code of [EDNS_CLIENT_SUBNET, 11, 14]) {
    const m = makeQuery(1, 'web.service.consul', RRType.A, { edns: {} });
    m.edns!.options = [{ code, data: Uint8Array.from([0, 1, 24, 0, 10, 0, 0]) }];
    t.is(parseSimpleQuery(encodeMessage(m)), null, `option ${code}`);
  }
  // Other options (a cookie) are fine: they are not echoed.
  const cookie = makeQuery(1, 'web.service.consul', RRType.A, { edns: {} });
  cookie.edns!.options = [{ code: 10, data: new Uint8Array(8) }];
  t.not(parseSimpleQuery(encodeMessage(cookie)), null);
  // An OPT whose options overrun its data, or a record that is not OPT.
  const bad = encodeMessage(cookie);
  bad[bad.length - 9] = 9;
  t.is(parseSimpleQuery(bad), null);
  const tsig = Uint8Array.from([...plain, 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]);
  tsig[11] = 1;
  t.is(parseSimpleQuery(tsig), null);
});

// ---------------------------------------------------------------------------- renderCached

test('renderCached: the query ID, RD and CD, the question as spelled, the OPT size', (t) => {
  const rr = {
    name: 'a.consul.',
    type: RRType.A,
    class: CLASS_IN,
    ttl: 5,
    data: { kind: 'a', address: '10.0.0.1' },
  } as const;
  const c = entry({
    ra: true,
    parts: { kind: 'fixed', answer: [segment(rr)], extra: [] },
  });
  const o: RenderOptions = {
    transport: 'udp',
    random: Math.random,
    serial: 0,
    udpAnswerLimit: 3,
    enableTruncate: false,
  };
  for (const [id, rd, cd, udpSize, qclass] of [
    [0xbeef, true, false, undefined, CLASS_IN],
    [7, false, true, 0, 3],
    [0, true, true, 4096, 0x8001],
  ] as const) {
    const raw = query('A.consul', RRType.A, {
      id,
      rd,
      cd,
      qclass,
      ...(udpSize === undefined ? {} : { udpSize }),
    });
    const m = decodeMessage(renderCached(c, raw, parseSimpleQuery(raw)!, o)!);
    t.like(m.header, { id, qr: true, aa: true, rd, cd, ra: true, tc: false, rcode: 0 });
    t.deepEqual(m.question, [{ name: 'A.consul.', type: RRType.A, class: qclass }]);
    t.deepEqual(lines(m.answer), ['a.consul. 5 A 10.0.0.1']);
    t.is(m.edns?.udpSize, udpSize);
    t.deepEqual(m.edns?.options ?? [], []);
  }
});

test('renderCached: the SOA serial is the clock at each answer', (t) => {
  const soa = {
    name: 'consul.',
    type: RRType.SOA,
    class: CLASS_IN,
    ttl: 0,
    data: {
      kind: 'soa',
      mname: 'ns.consul.',
      rname: 'hostmaster.consul.',
      serial: 1,
      refresh: 2,
      retry: 3,
      expire: 4,
      minimum: 0,
    },
  } as const;
  const s = segment(soa);
  const c = entry({
    rcode: RCode.NXDomain,
    authority: [{ ...s, serialAt: s.bytes.length - 20 }],
  });
  const raw = query('x.consul', RRType.A);
  for (const serial of [1_700_000_000, 0xffffffff]) {
    const o: RenderOptions = {
      transport: 'udp',
      random: Math.random,
      serial,
      udpAnswerLimit: 3,
      enableTruncate: false,
    };
    const m = decodeMessage(renderCached(c, raw, parseSimpleQuery(raw)!, o)!);
    t.is(m.header.rcode, RCode.NXDomain);
    t.like(m.authority[0]!.data, { kind: 'soa', serial, refresh: 2, retry: 3, expire: 4 });
  }
});

// ---------------------------------------------------------------------------- the handler

function setup(opts: Parameters<typeof handlerFor>[1] = {}): {
  c: Catalog;
  b: SyncBackend;
  h: DnsHandler;
} {
  const c = sampleCatalog();
  const b = new SyncBackend(c.store);
  return { c, b, h: handlerFor(b, opts) };
}

test('a repeated question is answered from the cache, with the query read barrier each time', async (t) => {
  const { b, h } = setup();
  const first = await answer(h, query('web.service.consul', RRType.A));
  t.deepEqual(b.calls, ['stale']);
  t.is(h.cacheStats().entries, 1);
  for (let i = 0; i < 5; i++) {
    const m = await answer(h, query('web.service.consul', RRType.A, { id: i }));
    t.is(m.header.id, i);
    t.deepEqual(sorted(m.answer), sorted(first.answer));
  }
  // The synchronous stale read served the cached answers: no promise, no async barrier.
  t.deepEqual(b.calls, ['stale']);
  t.is(b.syncCalls, 5);
  t.is(h.cacheStats().hits, 5);
  // answerSync gives the same bytes at once.
  const now = h.answerSync(query('web.service.consul', RRType.A, { id: 99 }), 'udp');
  t.is(decodeMessage(now!).header.id, 99);
});

test('answerSync: nothing without a cached answer, a fresh catalog and a stale read at hand', async (t) => {
  const { c, b, h } = setup({ config: { allow_stale: true, max_stale: 1000 } });
  const q = query('web.service.consul', RRType.SRV);
  t.is(h.answerSync(q, 'udp'), undefined);
  await h.answer(q, 'udp');
  t.truthy(h.answerSync(q, 'udp'));
  // Too stale: the barrier must go through the leader, which the async path does.
  b.staleResult = { lastContactMs: 1001, knownLeader: true };
  t.is(h.answerSync(q, 'udp'), undefined);
  b.calls.length = 0;
  await h.answer(q, 'udp');
  t.deepEqual(b.calls, ['stale', 'default']);
  b.staleResult = { lastContactMs: 0, knownLeader: true };
  // A catalog change: the entry is stale until a query rebuilds it.
  c.node('n9', '10.0.0.9');
  t.is(h.answerSync(q, 'udp'), undefined);
  await h.answer(q, 'udp');
  t.truthy(h.answerSync(q, 'udp'));
  // A query of another shape is never answered at once.
  t.is(h.answerSync(Uint8Array.from([1, 2, 3]), 'udp'), undefined);
});

test('without allow_stale a cached answer still waits for the leader barrier, once per query', async (t) => {
  const { b, h } = setup({ config: { allow_stale: false } });
  const q = query('web.service.consul', RRType.A);
  await h.answer(q, 'udp');
  await h.answer(q, 'udp');
  await h.answer(q, 'udp');
  t.deepEqual(b.calls, ['default', 'default', 'default']);
  t.is(b.syncCalls, 0);
  t.is(h.cacheStats().hits, 2);
  t.is(h.answerSync(q, 'udp'), undefined);
  // A failing barrier with an answer cached is SERVFAIL, as without the cache.
  b.failing.add('default');
  const m = await answer(h, q);
  t.is(m.header.rcode, RCode.ServFail);
  t.deepEqual(m.answer, []);
  t.deepEqual(b.calls, ['default', 'default', 'default', 'default']);
});

test('a catalog change is visible at the next query: health, registration, deregistration', async (t) => {
  const { c, h } = setup();
  const webA = async (): Promise<string[]> =>
    sorted((await answer(h, query('web.service.consul', RRType.A))).answer);
  t.deepEqual(await webA(), [
    'web.service.consul. 0 A 10.0.0.1',
    'web.service.consul. 0 A 10.0.0.2',
  ]);
  t.deepEqual(await webA(), [
    'web.service.consul. 0 A 10.0.0.1',
    'web.service.consul. 0 A 10.0.0.2',
  ]);
  // web2's check turns critical.
  c.service('n2', { ID: 'web2', Service: 'web', Tags: ['v2'], Port: 8081 }, [
    { CheckID: 'web2-alive', Status: 'critical' },
  ]);
  t.deepEqual(await webA(), ['web.service.consul. 0 A 10.0.0.1']);
  // A new instance.
  c.node('n10', '10.0.0.10');
  c.service('n10', { ID: 'web10', Service: 'web', Port: 80 });
  t.deepEqual(await webA(), [
    'web.service.consul. 0 A 10.0.0.1',
    'web.service.consul. 0 A 10.0.0.10',
  ]);
  // The node goes away.
  c.deregister('n10');
  t.deepEqual(await webA(), ['web.service.consul. 0 A 10.0.0.1']);
  // A node's address changes (node A record).
  t.deepEqual(lines((await answer(h, query('n8.node.consul', RRType.A))).answer), [
    'n8.node.consul. 0 A 10.0.0.8',
  ]);
  c.node('n8', '10.0.8.8');
  t.deepEqual(lines((await answer(h, query('n8.node.consul', RRType.A))).answer), [
    'n8.node.consul. 0 A 10.0.8.8',
  ]);
  t.true(h.cacheStats().stale >= 4);
});

test('cached answers are still shuffled per query', async (t) => {
  const c = new Catalog();
  for (let i = 1; i <= 10; i++) {
    c.register({
      Node: `m${i}`,
      Address: `10.1.0.${i}`,
      Datacenter: 'dc1',
      Service: { Service: 'many', Port: 1 },
    });
  }
  const h = handlerFor(new SyncBackend(c.store), { random: Math.random });
  const firsts = new Set<string>();
  const orders = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const m = await answer(h, query('many.service.consul', RRType.A, { udpSize: 4096 }));
    t.is(m.answer.length, 10);
    firsts.add(lines(m.answer)[0]!);
    orders.add(lines(m.answer).join());
  }
  t.is(h.cacheStats().hits, 39);
  t.true(firsts.size > 3, `first answers seen: ${firsts.size}`);
  t.true(orders.size > 30, `orders seen: ${orders.size}`);
});

test('cached answers keep the size rules: 3 answers in 512 bytes, the EDNS size, TCP', async (t) => {
  const c = new Catalog();
  for (let i = 0; i < 60; i++) {
    c.register({
      Node: `node-with-a-long-name-${i}`,
      Address: `10.2.0.${i}`,
      Datacenter: 'dc1',
      NodeMeta: { rack: `r${i}` },
      Service: { Service: 'big', Port: 1000 + i },
    });
  }
  const h = handlerFor(new SyncBackend(c.store), { config: { enable_truncate: true } });
  for (let round = 0; round < 2; round++) {
    const plain = await h.answer(query('big.service.consul', RRType.SRV), 'udp');
    const pm = decodeMessage(plain!);
    t.is(pm.answer.length, 3);
    t.true(pm.header.tc);
    t.true(plain!.length <= 512);
    // The additional section follows the SRV targets kept.
    t.deepEqual(
      pm.additional.map((rr) => rr.name).sort(),
      pm.answer.map((rr) => (rr.data.kind === 'srv' ? rr.data.target : '')).sort(),
    );
    const edns = await h.answer(query('big.service.consul', RRType.SRV, { udpSize: 1232 }), 'udp');
    t.true(edns!.length <= 1232 - 8);
    t.true(decodeMessage(edns!).header.tc);
    const tcp = decodeMessage((await h.answer(query('big.service.consul', RRType.SRV), 'tcp'))!);
    t.is(tcp.answer.length, 60);
    t.false(tcp.header.tc);
  }
  // One entry serves every transport and size: the first query built it.
  t.is(h.cacheStats().hits, 5);
});

test('0x20 spellings: each answer echoes its own spelling, cached apart', async (t) => {
  const { h } = setup();
  const spellings = [
    'web.service.consul',
    'WEB.SERVICE.CONSUL',
    'wEb.SeRvIcE.cOnSuL',
    'web.service.consul',
    'WEB.SERVICE.CONSUL',
  ];
  for (const name of spellings) {
    for (let i = 0; i < 2; i++) {
      const m = await answer(h, query(name, RRType.SRV));
      t.is(m.question[0]!.name, `${name}.`);
      for (const rr of m.answer) {
        t.is(rr.name, `${name}.`);
        // SRV targets use the question's spelling of the domain.
        t.true(rr.data.kind === 'srv' && rr.data.target.endsWith(`.${name.split('.')[2]!}.`));
      }
    }
  }
  t.is(h.cacheStats().entries, 3);
  // Built once per spelling, reused by every other query.
  t.is(h.cacheStats().hits, 7);
});

test('answers that depend on more than the store are not cached (CNAME chased into the domain)', async (t) => {
  const c = sampleCatalog();
  c.service('n2', { ID: 'alias', Service: 'alias', Address: 'db.service.consul', Port: 1 });
  const b = new SyncBackend(c.store);
  const h = handlerFor(b);
  await ask(h, 'alias.service.consul', RRType.A);
  await ask(h, 'alias.service.consul', RRType.A);
  t.is(h.cacheStats().entries, 0);
  // A host name outside the domain with no recursors resolves to nothing: cacheable.
  await ask(h, 'api.service.consul', RRType.A);
  const m = await ask(h, 'api.service.consul', RRType.A);
  t.deepEqual(lines(m.answer), ['api.service.consul. 0 CNAME api.example.com.']);
  t.is(h.cacheStats().hits, 1);
});

test('the cache is bounded: many names evict each other and every answer stays right', async (t) => {
  const c = new Catalog();
  for (let i = 0; i < 50; i++)
    c.register({ Node: `x${i}`, Address: `10.3.0.${i}`, Datacenter: 'dc1' });
  const h = handlerFor(new SyncBackend(c.store), { answerCache: { maxEntries: 8 } });
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 50; i++) {
      const m = await ask(h, `x${i}.node.consul`, RRType.A);
      t.deepEqual(lines(m.answer), [`x${i}.node.consul. 0 A 10.3.0.${i}`]);
    }
  }
  t.is(h.cacheStats().entries, 8);
  t.true(h.cacheStats().evicted > 100);
});

// ---------------------------------------------------------------------------- equivalence

/**
 * The catalog of the handler tests plus what exercises the cache's assembly: duplicates
 * (one node, two ports; one node and port twice with different weights), node meta on SRV
 * answers, enough instances to trim, host names inside and outside the domain.
 */
function richCatalog(): Catalog {
  const c = sampleCatalog();
  c.service('n1', { ID: 'web1b', Service: 'web', Port: 8090 });
  c.service('n2', { ID: 'dupA', Service: 'dup', Port: 7000, Weights: { Passing: 5, Warning: 1 } });
  c.service('n2', { ID: 'dupB', Service: 'dup', Port: 7000, Weights: { Passing: 9, Warning: 1 } });
  c.service('n1', { ID: 'dupC', Service: 'dup', Address: '10.0.0.2', Port: 7000 });
  c.service('n2', { ID: 'alias', Service: 'alias', Address: 'db.service.consul', Port: 1 });
  for (let i = 0; i < 30; i++) {
    c.register({
      Node: `big-node-${i}`,
      Address: i % 3 === 0 ? `2001:db8::${i + 1}` : `10.4.0.${i}`,
      Datacenter: 'dc1',
      NodeMeta: i % 2 === 0 ? { zone: `z${i}` } : {},
      Service: { Service: 'big', Port: 2000 + i, Tags: i % 4 === 0 ? ['even'] : [] },
    });
  }
  return c;
}

const NAMES = [
  'web.service.consul',
  'v1.web.service.consul',
  '_web._tcp.service.consul',
  '_web._v2.service.consul',
  'web.connect.consul',
  'web.ingress.consul',
  'web.service.dc1.consul',
  'web.service.dc2.consul',
  'dup.service.consul',
  'big.service.consul',
  'even.big.service.consul',
  'api.service.consul',
  'alias.service.consul',
  'extsvc.service.consul',
  'tagged.service.consul',
  'v6svc.service.consul',
  'native.connect.consul',
  'nosuch.service.consul',
  'n1.node.consul',
  'n6.node.dc1.consul',
  'ext.node.consul',
  'nosuch.node.consul',
  '0a000001.addr.consul',
  '20010db8000000000000000000000001.addr.dc1.consul',
  'x.virtual.consul',
  'q.query.consul',
  'junk.consul',
  'consul',
  '1.0.0.10.in-addr.arpa',
  'example.com',
];
const TYPES = [
  RRType.A,
  RRType.AAAA,
  RRType.SRV,
  RRType.TXT,
  RRType.ANY,
  RRType.MX,
  RRType.SOA,
  RRType.NS,
  RRType.CNAME,
  999,
];

function respell(rng: Prng, name: string): string {
  if (rng.chance(0.7)) return name;
  return [...name].map((ch) => (rng.chance(0.5) ? ch.toUpperCase() : ch)).join('');
}

// A failure names the seed: TRELLIS_SEED=<seed> npx ava packages/dns/test/cache.test.ts
// (TRELLIS_SEEDS=<n> runs n seeds).
for (const seed of seedsFromEnv(1)) {
  test(`with the cache, every answer is byte for byte the answer without it (seed ${seed})`, async (t) => {
    await equivalence(t, seed);
  });
}

async function equivalence(t: ExecutionContext, seed: number): Promise<void> {
  const c = richCatalog();
  const b = new SyncBackend(c.store);
  b.serverList = [{ name: 's1', address: '10.0.0.1' }];
  let clock = 1_700_000_000_000;
  const opts = {
    random: seeded(seed),
    now: () => clock,
    config: { enable_truncate: true, udp_answer_limit: 4 },
  };
  const cached = handlerFor(b, opts);
  const plain = handlerFor(b, { ...opts, random: seeded(seed), answerCache: { maxEntries: 0 } });
  const rng = new Prng(seed);
  let compared = 0;
  for (let i = 0; i < 3000; i++) {
    if (i % 100 === 99) {
      // The catalog moves on: a node's health flips, an instance comes or goes.
      const k = rng.int(30);
      switch (rng.int(3)) {
        case 0:
          c.register({
            Node: `big-node-${k}`,
            Address: '',
            Datacenter: 'dc1',
            SkipNodeUpdate: true,
            Check: {
              CheckID: `chk${k}`,
              Name: 'c',
              Status: rng.pick(['passing', 'warning', 'critical'] as const),
            },
          });
          break;
        case 1:
          c.service(`big-node-${k}`, { ID: `extra${i}`, Service: 'big', Port: 3000 + i });
          break;
        default:
          c.deregister('n2', 'web2');
      }
    }
    if (i % 400 === 399) clock += 1_234_000;
    const name = respell(rng, rng.pick(NAMES));
    const type = rng.pick(TYPES);
    const transport = rng.chance(0.2) ? 'tcp' : 'udp';
    const q = makeQuery(rng.int(0x10000), name, type, {
      rd: rng.chance(0.5),
      ...(rng.chance(0.5) ? { edns: { udpSize: rng.pick([0, 512, 700, 1232, 4096, 65535]) } } : {}),
    });
    q.header.cd = rng.chance(0.2);
    if (rng.chance(0.1)) q.question[0]!.class = rng.pick([3, 255, 0x8001]);
    if (q.edns !== undefined && rng.chance(0.15)) {
      q.edns.options = [
        rng.chance(0.5)
          ? { code: EDNS_CLIENT_SUBNET, data: Uint8Array.from([0, 1, 24, 0, 10, 0, 0]) }
          : { code: 10, data: new Uint8Array(8) },
      ];
    }
    const raw = encodeMessage(q);
    // Each query twice: the second is the one the cache answers.
    for (let k = 0; k < 2; k++) {
      const [x, y] = [await cached.answer(raw, transport), await plain.answer(raw, transport)];
      if (Buffer.compare(Buffer.from(x!), Buffer.from(y!)) !== 0) {
        t.fail(
          `seed ${seed}, query ${i} (${name} ${type} ${transport}) differs:\n` +
            `${JSON.stringify(decodeMessage(x!))}\n${JSON.stringify(decodeMessage(y!))}`,
        );
        return;
      }
      compared++;
    }
  }
  t.is(compared, 6000);
  const stats = cached.cacheStats();
  t.true(stats.hits > 1500, `hits ${stats.hits}`);
  t.true(stats.stale > 0);
}

// ---------------------------------------------------------------------------- the listener

function udpExchange(port: number, q: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no answer'));
    }, 2000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(Uint8Array.from(m));
    });
    s.send(q, port, '127.0.0.1');
  });
}

test('DnsServer sends cached answers at once, over UDP and pipelined TCP', async (t) => {
  const { h } = setup();
  const server = await DnsServer.listen({ handler: h, host: '127.0.0.1', port: 0 });
  t.teardown(() => server.close());
  for (let id = 1; id <= 3; id++) {
    const m = decodeMessage(
      await udpExchange(server.udpPort, query('web.service.consul', RRType.A, { id })),
    );
    t.is(m.header.id, id);
    t.is(m.answer.length, 2);
  }
  t.like(server.stats(), { udpQueries: 3, udpAnswers: 3, syncAnswers: 2 });
  // Three queries in one TCP write: all answered, in order, the cached ones at once.
  const sock = connect({ host: '127.0.0.1', port: server.tcpPort });
  const frames = [7, 8, 9].map((id) => {
    const q = query('web.service.consul', RRType.SRV, { id });
    const f = Buffer.alloc(2 + q.length);
    f.writeUInt16BE(q.length, 0);
    f.set(q, 2);
    return f;
  });
  const got = await new Promise<number[]>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const ids: number[] = [];
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        ids.push(decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))).header.id);
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (ids.length === 3) resolve(ids);
    });
    sock.on('error', reject);
    sock.write(Buffer.concat(frames));
  });
  sock.destroy();
  t.deepEqual(got, [7, 8, 9]);
  t.like(server.stats(), { tcpQueries: 3, tcpAnswers: 3, syncAnswers: 2 + 2 });
});
