// Read consistency (Consul's lookupServiceNodes / lookupNode): allow_stale reads the local
// replica, re-reading through the leader when it is more than max_stale behind; without
// allow_stale every read goes through the leader. A failed read is SERVFAIL.
import test from 'ava';
import { RCode, RRType } from '../src/index.js';
import { FakeBackend, ask, handlerFor, lines, sampleCatalog } from './helpers.js';

function setup(config: Parameters<typeof handlerFor>[1] = {}): {
  b: FakeBackend;
  h: ReturnType<typeof handlerFor>;
} {
  const b = new FakeBackend(sampleCatalog().store);
  return { b, h: handlerFor(b, config) };
}

test('allow_stale within max_stale: one stale barrier, no leader round trip', async (t) => {
  const { b, h } = setup({ config: { allow_stale: true, max_stale: 5_000 } });
  b.staleResult = { lastContactMs: 4_999, knownLeader: true };
  const m = await ask(h, 'web.service.consul', RRType.A);
  t.is(m.answer.length, 2);
  t.deepEqual(b.calls, ['stale']);
});

test('allow_stale beyond max_stale: the stale read is redone through the leader', async (t) => {
  const { b, h } = setup({ config: { allow_stale: true, max_stale: 5_000 } });
  b.staleResult = { lastContactMs: 5_001, knownLeader: false };
  const m = await ask(h, 'n1.node.consul', RRType.A);
  t.deepEqual(lines(m.answer), ['n1.node.consul. 0 A 10.0.0.1']);
  t.deepEqual(b.calls, ['stale', 'default']);
});

test('without allow_stale every read takes the default (leader) barrier', async (t) => {
  const { b, h } = setup({ config: { allow_stale: false } });
  await ask(h, 'web.service.consul', RRType.SRV);
  await ask(h, '1.0.0.10.in-addr.arpa', RRType.PTR);
  t.deepEqual(b.calls, ['default', 'default']);
});

test('one barrier per query, however many reads it makes (CNAME chased into the domain)', async (t) => {
  const c = sampleCatalog();
  c.service('n2', { ID: 'alias', Service: 'alias', Address: 'db.service.consul', Port: 1 });
  const b = new FakeBackend(c.store);
  const h = handlerFor(b);
  const m = await ask(h, 'alias.service.consul', RRType.A);
  t.is(m.answer.length, 2);
  t.deepEqual(b.calls, ['stale']);
});

test('answers that read nothing (addr, SOA, NS, REFUSED) take no barrier', async (t) => {
  const { b, h } = setup();
  b.serverList = [{ name: 's1', address: '10.0.0.1' }];
  await ask(h, '0a000001.addr.consul', RRType.A);
  await ask(h, 'consul', RRType.SOA);
  await ask(h, 'consul', RRType.NS);
  await ask(h, 'example.com', RRType.A);
  t.deepEqual(b.calls, []);
});

test('a failed barrier is SERVFAIL (no SOA, no records) for service, node and PTR lookups', async (t) => {
  const { b, h } = setup({ config: { allow_stale: false } });
  b.failing.add('default');
  for (const [name, type] of [
    ['web.service.consul', RRType.A],
    ['web.service.consul', RRType.SRV],
    ['n1.node.consul', RRType.A],
    ['1.0.0.10.in-addr.arpa', RRType.PTR],
  ] as const) {
    const m = await ask(h, name, type, { edns: {} });
    t.is(m.header.rcode, RCode.ServFail, name);
    t.deepEqual(m.answer, []);
    t.deepEqual(m.authority, []);
    t.like(m.edns, { udpSize: 4096 });
  }
});

test('a stale replica too far behind with no leader to re-read from is SERVFAIL', async (t) => {
  const { b, h } = setup({ config: { allow_stale: true, max_stale: 1_000 } });
  b.staleResult = { lastContactMs: 60_000, knownLeader: false };
  b.failing.add('default');
  const m = await ask(h, 'web.service.consul', RRType.A);
  t.is(m.header.rcode, RCode.ServFail);
  t.deepEqual(b.calls, ['stale', 'default']);
});

test('a stale replica within max_stale answers even without a known leader', async (t) => {
  const { b, h } = setup({ config: { allow_stale: true, max_stale: 10_000 } });
  b.staleResult = { lastContactMs: 9_000, knownLeader: false };
  b.failing.add('default');
  const m = await ask(h, 'web.service.consul', RRType.A);
  t.is(m.header.rcode, RCode.NoError);
  t.is(m.answer.length, 2);
});
