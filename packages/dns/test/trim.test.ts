// Fitting answers to the transport: Consul's trimUDPResponse / trimTCPResponse. UDP without
// EDNS: at most udp_answer_limit (≤ 8) answers within 512 bytes; with EDNS: the client's
// advertised size; TCP: 64 KiB. TC is set only when something was cut and enable_truncate
// is on (Consul's rule), so clients know to retry over TCP.
import test from 'ava';
import {
  CLASS_IN,
  MAX_TCP_RESPONSE_SIZE,
  RRType,
  decodeMessage,
  emptyHeader,
  encodeMessage,
  makeQuery,
  trimUdp,
  type Message,
  type ResourceRecord,
} from '../src/index.js';
import { Catalog, FakeBackend, handlerFor } from './helpers.js';

/** `n` nodes each with one instance of "big"; node names padded to `nameLen` characters. */
function many(n: number, nameLen = 5): Catalog {
  const c = new Catalog();
  for (let i = 0; i < n; i++) {
    const name = `m${String(i).padStart(nameLen - 1, '0')}`;
    c.register({
      Node: name,
      Address: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`,
      Datacenter: 'dc1',
      Service: { Service: 'big', Port: 80 },
    });
  }
  return c;
}

async function query(
  h: ReturnType<typeof handlerFor>,
  type: number,
  transport: 'udp' | 'tcp',
  udpSize?: number,
): Promise<{ bytes: Uint8Array; m: Message }> {
  const q = makeQuery(
    1,
    'big.service.consul',
    type,
    udpSize === undefined ? {} : { edns: { udpSize } },
  );
  const bytes = (await h.answer(encodeMessage(q), transport))!;
  return { bytes, m: decodeMessage(bytes) };
}

const targets = (m: Message): string[] =>
  m.answer.map((rr) => (rr.data.kind === 'srv' ? rr.data.target : '')).sort();

test('UDP without EDNS: udp_answer_limit (3) answers; TC only with enable_truncate', async (t) => {
  const c = many(20);
  const quiet = handlerFor(new FakeBackend(c.store));
  const a = await query(quiet, RRType.A, 'udp');
  t.is(a.m.answer.length, 3);
  t.false(a.m.header.tc);
  t.true(a.bytes.length <= 512);
  const loud = handlerFor(new FakeBackend(c.store), { config: { enable_truncate: true } });
  const b = await query(loud, RRType.A, 'udp');
  t.is(b.m.answer.length, 3);
  t.true(b.m.header.tc);
});

test('udp_answer_limit is configurable and capped at 8 (Consul maxUDPAnswerLimit)', async (t) => {
  const c = many(20);
  const five = handlerFor(new FakeBackend(c.store), { config: { udp_answer_limit: 5 } });
  t.is((await query(five, RRType.A, 'udp')).m.answer.length, 5);
  const twenty = handlerFor(new FakeBackend(c.store), { config: { udp_answer_limit: 20 } });
  t.is((await query(twenty, RRType.A, 'udp')).m.answer.length, 8);
});

test('nothing is cut, and TC stays clear, when the answer fits', async (t) => {
  const h = handlerFor(new FakeBackend(many(3).store), { config: { enable_truncate: true } });
  const r = await query(h, RRType.SRV, 'udp');
  t.is(r.m.answer.length, 3);
  t.is(r.m.additional.length, 3);
  t.false(r.m.header.tc);
});

test('the 512-byte limit cuts SRV answers below the count limit, measured uncompressed; extras follow', async (t) => {
  // 60-character node names: three SRV answers with their A records exceed 504 bytes
  // uncompressed (Consul measures conservatively once the count limit has cut).
  const c = many(10, 60);
  const h = handlerFor(new FakeBackend(c.store), {
    config: { enable_truncate: true, node_meta_txt: false },
  });
  const r = await query(h, RRType.SRV, 'udp');
  t.is(r.m.answer.length, 2);
  t.true(r.m.header.tc);
  t.true(r.bytes.length <= 512);
  // The additional section holds exactly the addresses of the remaining targets.
  t.deepEqual(r.m.additional.map((rr) => rr.name).sort(), targets(r.m));
});

test("UDP with EDNS: no count limit, the client's buffer size is the bound, the OPT record is kept", async (t) => {
  const c = many(300);
  const h = handlerFor(new FakeBackend(c.store), {
    config: { enable_truncate: true, node_meta_txt: false },
  });
  const small = await query(h, RRType.A, 'udp', 4096);
  // Names are not compressed (dns-packet cannot): an A record for web.service.consul. is
  // 33 bytes, so about 120 fit in 4096 (Consul, compressing, fits over 200).
  t.true(small.m.answer.length > 100, `${small.m.answer.length} answers`);
  t.true(small.bytes.length <= 4096 - 8, `${small.bytes.length} bytes`);
  const srv = await query(h, RRType.SRV, 'udp', 1232);
  t.true(srv.m.answer.length > 3);
  t.true(srv.bytes.length <= 1232 - 8, `${srv.bytes.length} bytes`);
  t.true(srv.m.header.tc);
  t.like(srv.m.edns, { udpSize: 1232 });
  t.deepEqual(srv.m.additional.map((rr) => rr.name).sort(), targets(srv.m));
  const all = await query(handlerFor(new FakeBackend(many(20).store)), RRType.A, 'udp', 4096);
  t.is(all.m.answer.length, 20);
  t.false(all.m.header.tc);
});

test('EDNS with a buffer of 512 or less is treated like no EDNS (count limit applies)', async (t) => {
  const h = handlerFor(new FakeBackend(many(20).store));
  t.is((await query(h, RRType.A, 'udp', 512)).m.answer.length, 3);
  t.is((await query(h, RRType.A, 'udp', 100)).m.answer.length, 3);
});

test('TCP: no count limit below 64 KiB', async (t) => {
  const h = handlerFor(new FakeBackend(many(300).store), { config: { enable_truncate: true } });
  const r = await query(h, RRType.A, 'tcp');
  t.is(r.m.answer.length, 300);
  t.false(r.m.header.tc);
});

test('TCP: at most 4096 answers and 65523 bytes; TC when the size cut something', async (t) => {
  const h = handlerFor(new FakeBackend(many(4200).store), { config: { enable_truncate: true } });
  const r = await query(h, RRType.A, 'tcp');
  t.true(r.m.answer.length <= 4096);
  // Uncompressed 33-byte A records: about 1980 fit in 65523 bytes (Consul fits the 4096).
  t.true(r.m.answer.length > 1900, `${r.m.answer.length} answers`);
  t.true(r.bytes.length <= MAX_TCP_RESPONSE_SIZE, `${r.bytes.length} bytes`);
  t.true(r.m.header.tc);
});

test('TCP: SRV answers are cut to fit 64 KiB with their extras in step', async (t) => {
  const h = handlerFor(new FakeBackend(many(1100, 20).store), {
    config: { node_meta_txt: false },
  });
  const r = await query(h, RRType.SRV, 'tcp');
  t.true(r.m.answer.length <= 1024);
  t.true(r.bytes.length <= MAX_TCP_RESPONSE_SIZE);
  t.false(r.m.header.tc, 'enable_truncate is off');
  t.deepEqual(r.m.additional.map((rr) => rr.name).sort(), targets(r.m));
});

test('syncExtra follows CNAME chains for SRV targets and drops extras of cut answers', (t) => {
  const rr = (name: string, data: ResourceRecord['data'], type: number): ResourceRecord => ({
    name,
    type,
    class: CLASS_IN,
    ttl: 0,
    data,
  });
  const srv = (target: string): ResourceRecord =>
    rr('svc.service.consul.', { kind: 'srv', priority: 1, weight: 1, port: 1, target }, RRType.SRV);
  const m: Message = {
    header: { ...emptyHeader(1), qr: true },
    question: [{ name: 'svc.service.consul.', type: RRType.SRV, class: CLASS_IN }],
    answer: [srv('a.example.'), srv('b.example.'), srv('c.example.'), srv('d.example.')],
    authority: [],
    additional: [
      rr('A.example.', { kind: 'name', target: 'real.example.' }, RRType.CNAME),
      rr('real.example.', { kind: 'a', address: '1.1.1.1' }, RRType.A),
      rr('b.example.', { kind: 'a', address: '2.2.2.2' }, RRType.A),
      rr('d.example.', { kind: 'a', address: '4.4.4.4' }, RRType.A),
    ],
  };
  t.true(trimUdp(m, undefined, 2));
  t.deepEqual(
    m.answer.map((x) => (x.data.kind === 'srv' ? x.data.target : '')),
    ['a.example.', 'b.example.'],
  );
  t.deepEqual(
    m.additional.map((x) => x.name),
    ['A.example.', 'real.example.', 'b.example.'],
  );
});
