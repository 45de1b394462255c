// serviceInstances(): the instance list GET /v1/catalog/services evaluates ?filter and
// ?node-meta on (Consul's state.Services and ServicesByNodeMeta).
import test from 'ava';
import { Harness, ok } from './helpers.js';

function setup(): Harness {
  const h = new Harness();
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', NodeMeta: { rack: 'r1', env: 'prod' } }));
  ok(h.register({ Node: 'N2', Address: '10.0.0.2', NodeMeta: { rack: 'r2', env: 'prod' } }));
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      NodeMeta: { rack: 'r1', env: 'prod' },
      Service: { Service: 'web', Tags: ['a'] },
    }),
  );
  ok(
    h.register({
      Node: 'N2',
      Address: '10.0.0.2',
      NodeMeta: { rack: 'r2', env: 'prod' },
      Service: { Service: 'web', ID: 'web-2' },
    }),
  );
  ok(
    h.register({
      Node: 'N2',
      Address: '10.0.0.2',
      NodeMeta: { rack: 'r2', env: 'prod' },
      Service: { Service: 'db' },
    }),
  );
  return h;
}

test('serviceInstances lists every instance by (node, ID) with the services table index', (t) => {
  const h = setup();
  const r = h.store.serviceInstances();
  t.deepEqual(
    r.value.map((s) => [s.Node, s.ID]),
    [
      ['n1', 'web'],
      ['N2', 'db'],
      ['N2', 'web-2'],
    ],
  );
  t.is(r.index, 5);
  // A node-only write moves the nodes table, not the services index (Consul's Services).
  ok(h.register({ Node: 'n3', Address: '10.0.0.3' }));
  t.is(h.store.serviceInstances().index, 5);
});

test('serviceInstances with nodeMeta keeps instances on nodes matching every pair exactly', (t) => {
  const h = setup();
  const byRack = h.store.serviceInstances({ nodeMeta: { rack: 'r2' } });
  t.deepEqual(
    byRack.value.map((s) => s.ID),
    ['db', 'web-2'],
  );
  t.deepEqual(h.store.serviceInstances({ nodeMeta: { rack: 'r2', env: 'prod' } }).value.length, 2);
  t.deepEqual(h.store.serviceInstances({ nodeMeta: { rack: 'r2', env: 'dev' } }).value, []);
  t.deepEqual(h.store.serviceInstances({ nodeMeta: { missing: '' } }).value, []);
  ok(h.register({ Node: 'n3', Address: '10.0.0.3' }));
  // With a meta filter the index is max(nodes, services).
  t.is(h.store.serviceInstances({ nodeMeta: { rack: 'r2' } }).index, 6);
});

test('serviceInstances watches: services always; nodes only with a meta filter', (t) => {
  const h = setup();
  const plain = h.store.watchSet();
  h.store.serviceInstances({}, plain);
  const meta = h.store.watchSet();
  h.store.serviceInstances({ nodeMeta: { rack: 'r1' } }, meta);
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', NodeMeta: { rack: 'r9' } }));
  t.false(plain.fired);
  t.true(meta.fired);
  plain.cancel();
  const again = h.store.watchSet();
  h.store.serviceInstances({}, again);
  ok(h.deregister({ Node: 'N2', ServiceID: 'db' }));
  t.true(again.fired);
});
