/**
 * Local state and anti-entropy against an in-memory catalog (a real StateStore applying the
 * same Register/Deregister commands the servers apply): what is pushed, what is repaired,
 * what is removed, how failures back off, and the agent's reaping of critical services.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MessageType,
  StateStore,
  encodeCommand,
  type DeregisterRequest,
  type RegisterRequest,
} from '@trellis/state';
import { LocalAgent } from '../../src/local/agent.js';
import { parseCheckDefinition, parseServiceDefinition } from '../../src/local/definition.js';
import { createLogger } from '../../src/log.js';
import { waitFor } from '../server/helpers.js';

/** A catalog over a real store; `fail` makes every call reject (a server that is down). */
class FakeCatalog {
  readonly store = new StateStore();
  index = 0;
  fail = false;
  calls: string[] = [];
  #apply(type: MessageType, body: unknown): void {
    const cmd = encodeCommand({ type, now: Date.now(), body } as never);
    const r = this.store.apply(++this.index, cmd);
    if (!r.ok) throw r.error;
  }
  nodeState() {
    this.calls.push('nodeState');
    if (this.fail) return Promise.reject(new Error('no servers'));
    return Promise.resolve({
      node: this.store.node('n1').value,
      services: this.store.nodeServices('n1').value?.Services ?? [],
      checks: this.store.nodeChecks('n1').value,
    });
  }
  register(req: RegisterRequest) {
    this.calls.push('register');
    if (this.fail) return Promise.reject(new Error('no servers'));
    this.#apply(MessageType.Register, req);
    return Promise.resolve();
  }
  deregister(req: DeregisterRequest) {
    this.calls.push('deregister');
    if (this.fail) return Promise.reject(new Error('no servers'));
    this.#apply(MessageType.Deregister, req);
    return Promise.resolve();
  }
  nodeChecks() {
    return Promise.resolve({ index: 1, exists: true, checks: [] });
  }
}

function agent(t: { teardown(fn: () => void): void }, catalog: FakeCatalog, dataDir = '') {
  const a = new LocalAgent({
    identity: {
      node: 'n1',
      id: '11111111-2222-3333-4444-555555555555',
      address: '10.0.0.1',
      datacenter: 'dc1',
      taggedAddresses: { lan: '10.0.0.1' },
      meta: { rack: 'r1' },
    },
    dataDir,
    catalog,
    logger: createLogger({ level: 'error', write: () => {} }),
    clusterSize: () => 3,
    enableScriptChecks: false,
    sidecarPorts: { min: 21000, max: 21255 },
    syncIntervalMs: 200,
    syncRetryMinMs: 50,
    reapIntervalMs: 20,
    checkUpdateIntervalMs: 60_000,
  });
  t.teardown(() => a.stop());
  return a;
}

const svc = (a: LocalAgent, raw: unknown) => {
  const p = parseServiceDefinition(raw, a.definitionContext());
  return { service: p.service, checks: p.checks };
};

test('changes are pushed at once; the catalog holds exactly the local state, node row included', async (t) => {
  const cat = new FakeCatalog();
  const a = agent(t, cat);
  a.start({ services: [], checks: [] });
  a.addService(svc(a, { Name: 'web', Port: 80, Tags: ['a'], Check: { TTL: '1m' } }));
  await waitFor('web in the catalog', () =>
    cat.store.nodeServices('n1').value?.Services.some((s) => s.ID === 'web'),
  );
  const node = cat.store.node('n1').value;
  t.like(node, { Address: '10.0.0.1', ID: '11111111-2222-3333-4444-555555555555' });
  t.deepEqual(node?.Meta, { rack: 'r1' });
  const check = cat.store.nodeChecks('n1').value.find((c) => c.CheckID === 'service:web');
  t.like(check, { Status: 'critical', ServiceName: 'web', Type: 'ttl' });
  t.deepEqual(check?.Definition, { TTL: '1m0s', OutputMaxSize: 4096 });
  a.updateTtl('service:web', 'passing', 'ok');
  await waitFor('passing in the catalog', () =>
    cat.store
      .nodeChecks('n1')
      .value.some((c) => c.CheckID === 'service:web' && c.Status === 'passing'),
  );
  a.removeService('web');
  await waitFor('web gone', () => (cat.store.nodeServices('n1').value?.Services.length ?? 0) === 0);
  t.is(cat.store.nodeChecks('n1').value.length, 0, 'its check went with it');
});

test('a full sync repairs what was changed behind the agent and removes what it does not own', async (t) => {
  const cat = new FakeCatalog();
  const a = agent(t, cat);
  a.start({ services: [], checks: [] });
  a.addService(svc(a, { Name: 'web', Port: 80 }));
  await waitFor(
    'web in the catalog',
    () => cat.store.nodeServices('n1').value?.Services.length === 1,
  );
  // Someone edits the catalog directly: web's port, an extra service, an extra check.
  await cat.register({
    Node: 'n1',
    Address: '10.0.0.1',
    SkipNodeUpdate: true,
    Service: { ID: 'web', Service: 'web', Port: 9999 },
  });
  await cat.register({
    Node: 'n1',
    Address: '10.0.0.1',
    SkipNodeUpdate: true,
    Service: { ID: 'other', Service: 'other' },
  });
  await cat.register({
    Node: 'n1',
    Address: '10.0.0.1',
    SkipNodeUpdate: true,
    Check: { CheckID: 'stray', Name: 'stray', Status: 'passing' },
  });
  await cat.register({
    Node: 'n1',
    Address: '10.0.0.1',
    SkipNodeUpdate: true,
    Check: { CheckID: 'serfHealth', Name: 'Serf', Status: 'passing' },
  });
  await waitFor('repaired', () => {
    const s = cat.store.nodeServices('n1').value?.Services ?? [];
    const c = cat.store.nodeChecks('n1').value;
    return s.length === 1 && s[0]?.Port === 80 && !c.some((x) => x.CheckID === 'stray');
  });
  t.true(
    cat.store.nodeChecks('n1').value.some((c) => c.CheckID === 'serfHealth'),
    'the leader’s serfHealth check is left alone',
  );
});

test('EnableTagOverride: tags changed in the catalog are adopted, not reverted', async (t) => {
  const cat = new FakeCatalog();
  const a = agent(t, cat);
  a.start({ services: [], checks: [] });
  a.addService(svc(a, { Name: 'web', Port: 80, Tags: ['v1'], EnableTagOverride: true }));
  await waitFor(
    'web in the catalog',
    () => cat.store.nodeServices('n1').value?.Services.length === 1,
  );
  await cat.register({
    Node: 'n1',
    Address: '10.0.0.1',
    SkipNodeUpdate: true,
    Service: { ID: 'web', Service: 'web', Port: 80, Tags: ['blue'], EnableTagOverride: true },
  });
  await waitFor('local tags follow the catalog', () => a.service('web')?.Tags[0] === 'blue');
  t.deepEqual(cat.store.nodeServices('n1').value?.Services[0]?.Tags, ['blue']);
});

test('failed syncs back off and retry until the catalog is reachable again; nothing is lost', async (t) => {
  const cat = new FakeCatalog();
  cat.fail = true;
  const a = agent(t, cat);
  a.start({ services: [], checks: [] });
  a.addService(svc(a, { Name: 'web', Port: 80 }));
  await waitFor('a few failed attempts', () => cat.calls.length >= 3);
  const during = cat.calls.length;
  t.truthy(a.ae.lastError);
  cat.fail = false;
  await waitFor(
    'synced after recovery',
    () => cat.store.nodeServices('n1').value?.Services.length === 1,
  );
  t.is(a.ae.lastError, null);
  t.true(cat.calls.length > during);
});

test('output-only changes wait for check_update_interval; status changes do not', async (t) => {
  const cat = new FakeCatalog();
  const a = agent(t, cat);
  a.start({ services: [], checks: [] });
  a.addService(svc(a, { Name: 'web', Port: 80, Check: { TTL: '1m' } }));
  a.updateTtl('service:web', 'passing', 'one');
  await waitFor('passing', () => cat.store.nodeChecks('n1').value[0]?.Output === 'one');
  const registers = cat.calls.filter((c) => c === 'register').length;
  a.updateTtl('service:web', 'passing', 'two');
  a.updateTtl('service:web', 'passing', 'three');
  // Several full syncs later (200 ms interval) the output is still the synced one.
  const syncs = a.ae.syncs;
  await waitFor('two more syncs', () => a.ae.syncs >= syncs + 2);
  t.is(cat.store.nodeChecks('n1').value[0]?.Output, 'one');
  t.is(cat.calls.filter((c) => c === 'register').length, registers);
  a.updateTtl('service:web', 'warning', 'four');
  await waitFor('warning pushed', () => cat.store.nodeChecks('n1').value[0]?.Status === 'warning');
  t.is(cat.store.nodeChecks('n1').value[0]?.Output, 'four');
});

test('DeregisterCriticalServiceAfter removes a service whose check stays critical', async (t) => {
  const cat = new FakeCatalog();
  const a = agent(t, cat);
  a.start({ services: [], checks: [] });
  const p = parseServiceDefinition(
    { Name: 'flaky', Port: 1, Check: { TTL: '1m', DeregisterCriticalServiceAfter: '1m' } },
    { ...a.definitionContext(), checkDeregisterIntervalMinMs: 100 },
  );
  t.is(p.checks[0]?.DeregisterCriticalServiceAfter, 60_000);
  // The agent's minimum is 1 min (Consul's); a shorter one is the test's own definition.
  a.addService({
    service: p.service,
    checks: [{ ...p.checks[0]!, DeregisterCriticalServiceAfter: 150 }],
  });
  a.addService(svc(a, { Name: 'steady', Port: 2, Check: { TTL: '1m', Status: 'passing' } }));
  await waitFor('flaky reaped', () => a.service('flaky') === undefined, 5_000);
  t.truthy(a.service('steady'));
  await waitFor(
    'and gone from the catalog',
    () => !(cat.store.nodeServices('n1').value?.Services ?? []).some((s) => s.ID === 'flaky'),
  );
});

test('node checks, config checks and persisted state come back after a restart', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-local-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cat = new FakeCatalog();
  const a1 = agent(t, cat, dir);
  a1.start({ services: [], checks: [] });
  a1.addService(svc(a1, { Name: 'web', Port: 80 }));
  a1.addCheck(parseCheckDefinition({ Name: 'mem', TTL: '1m' }, a1.checkDefinitionContext()));
  a1.enableNodeMaintenance('');
  a1.stop();
  const a2 = agent(t, cat, dir);
  a2.start({ services: [], checks: [] });
  t.truthy(a2.service('web'));
  t.truthy(a2.state.check('mem'));
  t.truthy(a2.state.check('_node_maintenance'), 'node maintenance survives a restart');
});
