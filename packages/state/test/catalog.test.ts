import test from 'ava';
import { StateErrorCode } from '../src/index.js';
import { Harness, ok } from './helpers.js';

test('ensureRegistration writes node, service and checks with CreateIndex/ModifyIndex = the Raft index', (t) => {
  const h = new Harness();
  ok(
    h.register({
      ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
      Node: 'n1',
      Address: '10.0.0.1',
      Datacenter: 'dc1',
      TaggedAddresses: { lan: '10.0.0.1' },
      NodeMeta: { rack: 'r1' },
      Service: { Service: 'web', Tags: ['v1'], Port: 80 },
      Checks: [
        { CheckID: 'serfHealth', Status: 'passing' },
        { CheckID: 'web-alive', ServiceID: 'web', Status: 'passing' },
      ],
    }),
  );
  const node = h.store.node('n1').value;
  t.like(node, {
    Node: 'n1',
    Address: '10.0.0.1',
    Datacenter: 'dc1',
    CreateIndex: 1,
    ModifyIndex: 1,
  });
  t.deepEqual(node?.Meta, { rack: 'r1' });
  const ns = h.store.nodeServices('n1').value;
  // Consul defaults the service ID to the service name and Weights to {1, 1}.
  t.like(ns?.Services[0], {
    ID: 'web',
    Service: 'web',
    Port: 80,
    Weights: { Passing: 1, Warning: 1 },
  });
  const checks = h.store.nodeChecks('n1').value;
  t.deepEqual(
    checks.map((c) => [c.CheckID, c.ServiceName, c.ServiceTags]),
    [
      ['serfHealth', '', []],
      ['web-alive', 'web', ['v1']],
    ],
  );
  t.is(h.store.maxIndex('nodes', 'services', 'checks'), 1);
});

test('re-registering identical data does not bump ModifyIndex or table indexes (Consul skips no-op writes)', (t) => {
  const h = new Harness();
  const req = {
    Node: 'n1',
    Address: '10.0.0.1',
    Service: { Service: 'web', Port: 80 },
    Check: { CheckID: 'c', Status: 'passing' as const },
  };
  ok(h.register(req));
  ok(h.register(req));
  t.is(h.store.node('n1').value?.ModifyIndex, 1);
  t.is(h.store.nodeServices('n1').value?.Services[0]?.ModifyIndex, 1);
  t.is(h.store.nodeChecks('n1').value[0]?.ModifyIndex, 1);
  t.is(h.store.maxIndex('nodes', 'services', 'checks'), 1);
  ok(h.register({ ...req, Address: '10.0.0.2' }));
  t.like(h.store.node('n1').value, { CreateIndex: 1, ModifyIndex: 3 });
});

test('SkipNodeUpdate leaves the node row alone but still writes the service', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(
    h.register({
      Node: 'n1',
      Address: 'ignored',
      SkipNodeUpdate: true,
      Service: { Service: 'db' },
    }),
  );
  t.is(h.store.node('n1').value?.Address, '10.0.0.1');
  t.is(h.store.serviceNodes('db').value.length, 1);
});

test('services and checks need their node; service checks need their service (ErrMissingNode/ErrMissingService)', (t) => {
  const h = new Harness();
  const r1 = h.register({
    Node: 'ghost',
    Address: 'x',
    SkipNodeUpdate: true,
    Service: { Service: 'a' },
  });
  t.false(r1.ok);
  t.is(!r1.ok && r1.error.code, StateErrorCode.MISSING_NODE);
  h.node('n1');
  const before = h.store.snapshot();
  const r2 = h.register({
    Node: 'n1',
    Address: '10.0.0.9',
    Check: { CheckID: 'x', ServiceID: 'nope' },
  });
  t.is(!r2.ok && r2.error.code, StateErrorCode.MISSING_SERVICE);
  // All-or-nothing: the node update in the same command was rolled back.
  t.is(h.store.node('n1').value?.Address, '10.0.0.1');
  const after = h.store.snapshot();
  t.deepEqual(Buffer.from(after).subarray(20), Buffer.from(before).subarray(20));
});

test('a node ID cannot alias another node name', (t) => {
  const h = new Harness();
  ok(h.register({ ID: 'abc', Node: 'n1', Address: 'a' }));
  const r = h.register({ ID: 'ABC', Node: 'n2', Address: 'b' });
  t.is(!r.ok && r.error.code, StateErrorCode.NODE_ID_CONFLICT);
});

test('node names are case-insensitive, as in Consul memdb indexes', (t) => {
  const h = new Harness();
  h.node('Node-A');
  t.is(h.store.node('node-a').value?.Node, 'Node-A');
  ok(
    h.register({
      Node: 'NODE-A',
      Address: '10.0.0.1',
      SkipNodeUpdate: true,
      Service: { Service: 'Web' },
    }),
  );
  t.is(h.store.serviceNodes('web').value.length, 1);
});

test('check status defaults to critical (Consul ensureCheckTxn) and updates in place', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', SkipNodeUpdate: true, Check: { Name: 'mem' } }));
  const c = h.store.nodeChecks('n1').value.find((x) => x.CheckID === 'mem');
  t.like(c, { Status: 'critical', CreateIndex: 2, ModifyIndex: 2 });
  ok(
    h.register({
      Node: 'n1',
      Address: '',
      SkipNodeUpdate: true,
      Check: { Name: 'mem', Status: 'passing' },
    }),
  );
  t.like(
    h.store.nodeChecks('n1').value.find((x) => x.CheckID === 'mem'),
    {
      Status: 'passing',
      CreateIndex: 2,
      ModifyIndex: 3,
    },
  );
  t.deepEqual(
    h.store.checksInState('critical').value.map((x) => x.CheckID),
    [],
  );
  t.is(h.store.checksInState('any').value.length, 2);
});

test('service checks follow the service: renaming or retagging rewrites ServiceName/ServiceTags', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: { ID: 'web1', Service: 'web', Tags: ['a'] },
      Check: { CheckID: 'web-check', ServiceID: 'web1', Status: 'passing' },
    }),
  );
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: { ID: 'web1', Service: 'www', Tags: ['b'] },
    }),
  );
  const c = h.store.nodeChecks('n1').value.find((x) => x.CheckID === 'web-check');
  t.like(c, { ServiceName: 'www', ServiceTags: ['b'], ModifyIndex: 3 });
  t.deepEqual(h.store.serviceChecks('web').value, []);
  t.is(h.store.serviceChecks('www').value.length, 1);
});

test('deleteService removes its checks; deleteCheck removes one check; deleteNode cascades', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: { Service: 'web' },
      Checks: [
        { CheckID: 'w', ServiceID: 'web', Status: 'passing' },
        { CheckID: 'mem', Status: 'passing' },
      ],
    }),
  );
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', Service: { Service: 'db' } }));
  ok(h.deregister({ Node: 'n1', ServiceID: 'web' }));
  t.deepEqual(
    h.store.nodeChecks('n1').value.map((c) => c.CheckID),
    ['mem', 'serfHealth'],
  );
  ok(h.deregister({ Node: 'n1', CheckID: 'mem' }));
  t.deepEqual(
    h.store.nodeChecks('n1').value.map((c) => c.CheckID),
    ['serfHealth'],
  );
  ok(h.deregister({ Node: 'n1' }));
  t.is(h.store.node('n1').value, undefined);
  t.deepEqual(h.store.serviceNodes('db').value, []);
  t.deepEqual(h.store.checksInState('any').value, []);
  t.is(h.store.maxIndex('nodes'), 6);
  // Deleting what is absent is a no-op, not an error (Consul).
  ok(h.deregister({ Node: 'n1' }));
  ok(h.deregister({ Node: 'n1', ServiceID: 'x' }));
  t.is(h.store.maxIndex('nodes', 'services', 'checks'), 6);
});

test('catalog services: name → union of tags; service nodes filter by tags case-insensitively', (t) => {
  const h = new Harness();
  h.node('n1');
  h.node('n2', '10.0.0.2');
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: { Service: 'web', Tags: ['v1', 'primary'] },
    }),
  );
  ok(h.register({ Node: 'n2', Address: '10.0.0.2', Service: { Service: 'web', Tags: ['v2'] } }));
  ok(h.register({ Node: 'n2', Address: '10.0.0.2', Service: { Service: 'db' } }));
  t.deepEqual(h.store.services().value, { db: [], web: ['primary', 'v1', 'v2'] });
  t.deepEqual(
    h.store.serviceNodes('web', { tags: ['PRIMARY'] }).value.map((x) => x.Node.Node),
    ['n1'],
  );
  t.deepEqual(
    h.store.serviceNodes('web').value.map((x) => [x.Node.Address, x.Service.Tags]),
    [
      ['10.0.0.1', ['v1', 'primary']],
      ['10.0.0.2', ['v2']],
    ],
  );
});

test('health service join: node + service + node-level and service checks; ?passing filter', (t) => {
  const h = new Harness();
  h.node('n1');
  h.node('n2', '10.0.0.2');
  for (const [n, status] of [
    ['n1', 'passing'],
    ['n2', 'critical'],
  ] as const) {
    ok(
      h.register({
        Node: n,
        Address: n === 'n1' ? '10.0.0.1' : '10.0.0.2',
        Service: { Service: 'api' },
        Check: { CheckID: 'api-http', ServiceID: 'api', Status: status },
      }),
    );
  }
  const all = h.store.checkServiceNodes('api').value;
  t.deepEqual(
    all.map((x) => [x.Node.Node, x.Checks.map((c) => `${c.CheckID}:${c.Status}`)]),
    [
      ['n1', ['serfHealth:passing', 'api-http:passing']],
      ['n2', ['serfHealth:passing', 'api-http:critical']],
    ],
  );
  t.deepEqual(
    h.store.checkServiceNodes('api', { passing: true }).value.map((x) => x.Node.Node),
    ['n1'],
  );
});

test('connect-capable instances: sidecars by Proxy.DestinationServiceName and Connect.Native services', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', Service: { Service: 'web', Port: 8080 } }));
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: {
        Service: 'web-sidecar-proxy',
        Kind: 'connect-proxy',
        Port: 21000,
        Proxy: {
          DestinationServiceName: 'web',
          DestinationServiceID: 'web',
          LocalServicePort: 8080,
        },
      },
    }),
  );
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: { Service: 'native', Connect: { Native: true } },
    }),
  );
  t.deepEqual(
    h.store.connectServiceNodes('web').value.map((x) => x.Service.ID),
    ['web-sidecar-proxy'],
  );
  t.deepEqual(
    h.store.connectServiceNodes('native').value.map((x) => x.Service.ID),
    ['native'],
  );
  t.deepEqual(
    h.store.checkServiceNodes('web', { connect: true }).value.map((x) => x.Service.Kind),
    ['connect-proxy'],
  );
});

test('a connect-proxy without a destination is rejected by validation', (t) => {
  const h = new Harness();
  h.node('n1');
  const r = h.store.applyCommand(++h.index, {
    type: 0,
    now: 0,
    body: { Node: 'n1', Address: 'a', Service: { Service: 'p', Kind: 'connect-proxy' } },
  });
  t.is(!r.ok && r.error.code, StateErrorCode.INVALID_COMMAND);
  t.regex(!r.ok ? r.error.message : '', /DestinationServiceName/);
});

test('service queries report the per-service index; a vanished service reports the extinction index', (t) => {
  const h = new Harness();
  h.node('n1'); // 1
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', Service: { Service: 'a' } })); // 2
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', Service: { Service: 'b' } })); // 3
  // Consul: index of "service.a", not the services table's max.
  t.is(h.store.serviceNodes('a').index, 2);
  t.is(h.store.serviceNodes('b').index, 3);
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      SkipNodeUpdate: true,
      Check: { CheckID: 'ca', ServiceID: 'a', Status: 'passing' },
    }),
  ); // 4
  t.is(h.store.checkServiceNodes('a').index, 4);
  t.is(h.store.checkServiceNodes('b').index, 3);
  ok(h.deregister({ Node: 'n1', ServiceID: 'a' })); // 5
  t.is(h.store.serviceNodes('a').index, 5);
  t.is(h.store.serviceNodes('never-existed').index, 5);
});

test('indexes are never 0: an empty store reports 1', (t) => {
  const h = new Harness();
  t.is(h.store.nodes().index, 1);
  t.is(h.store.services().index, 1);
  t.is(h.store.serviceNodes('x').index, 1);
  t.is(h.store.kvList('x').index, 1);
  t.is(h.store.sessions().index, 1);
});
