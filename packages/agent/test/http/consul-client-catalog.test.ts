// The npm `consul` client (v2) driving the catalog and health endpoints as applications do:
// register/deregister, list nodes/services/instances, and the health views.
import test from 'ava';
import Consul from 'consul';
import { serve } from './helpers.js';

interface ServiceNodeLike {
  Node: string;
  ServiceID: string;
  ServicePort: number;
  ServiceTags: string[];
}
interface CheckServiceNodeLike {
  Node: { Node: string };
  Service: { ID: string };
  Checks: Array<{ CheckID: string; Status: string }>;
}

test('the consul npm client drives catalog register/deregister/nodes/services/service and health', async (t) => {
  const s = await serve(t.teardown);
  const consul = new Consul({ host: '127.0.0.1', port: s.api.port });
  for (const [node, status] of [
    ['app-1', 'passing'],
    ['app-2', 'critical'],
  ] as const) {
    await consul.catalog.register({
      node,
      address: `10.1.0.${node.slice(-1)}`,
      nodemeta: { zone: 'a' },
      service: { id: 'api-1', service: 'api', tags: ['v1'], port: 8080 },
      check: { checkid: 'api-alive', name: 'api alive', serviceid: 'api-1', status },
    });
  }
  const nodes = (await consul.catalog.nodes({})) as Array<{ Node: string; Meta: unknown }>;
  t.deepEqual(
    nodes.map((n) => [n.Node, n.Meta]),
    [
      ['app-1', { zone: 'a' }],
      ['app-2', { zone: 'a' }],
    ],
  );
  t.deepEqual(await consul.catalog.services(), { api: ['v1'] });
  const instances = (await consul.catalog.service.nodes({
    service: 'api',
    tag: 'v1',
  })) as ServiceNodeLike[];
  t.deepEqual(
    instances.map((x) => [x.Node, x.ServiceID, x.ServicePort, x.ServiceTags]),
    [
      ['app-1', 'api-1', 8080, ['v1']],
      ['app-2', 'api-1', 8080, ['v1']],
    ],
  );
  const all = (await consul.health.service('api')) as CheckServiceNodeLike[];
  t.is(all.length, 2);
  const healthy = (await consul.health.service({
    service: 'api',
    passing: true,
  })) as CheckServiceNodeLike[];
  t.deepEqual(
    healthy.map((x) => x.Node.Node),
    ['app-1'],
  );
  const nodeChecks = (await consul.health.node('app-2')) as Array<{ Status: string }>;
  t.deepEqual(
    nodeChecks.map((c) => c.Status),
    ['critical'],
  );
  const serviceChecks = (await consul.health.checks('api')) as unknown[];
  t.is(serviceChecks.length, 2);
  const critical = (await consul.health.state('critical')) as Array<{ Node: string }>;
  t.deepEqual(
    critical.map((c) => c.Node),
    ['app-2'],
  );
  t.is(((await consul.health.state('any')) as unknown[]).length, 2);
  const nodeServices = (await consul.catalog.node.services('app-1')) as {
    Services: Record<string, { Port: number }>;
  };
  t.is(nodeServices.Services['api-1']?.Port, 8080);

  await consul.catalog.deregister({ node: 'app-2', serviceid: 'api-1' });
  t.is(((await consul.catalog.service.nodes('api')) as unknown[]).length, 1);
  await consul.catalog.deregister({ node: 'app-2' });
  t.deepEqual(
    ((await consul.catalog.nodes({})) as Array<{ Node: string }>).map((n) => n.Node),
    ['app-1'],
  );
  // A refused registration surfaces Consul's text through the client.
  await t.throwsAsync(
    consul.catalog.register({
      node: 'app-3',
      address: '10.1.0.3',
      check: { node: 'app-9', checkid: 'c', name: 'c' },
    }),
    { message: /Node 'app-9' for check 'c' doesn't match register request node 'app-3'/ },
  );
});
