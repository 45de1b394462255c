/**
 * The npm `consul` client against a real 3-server cluster: catalog, health (with a blocking
 * watch), sessions, KV locks, transactions and user events; then a session's lock-delay and
 * its invalidation survive a SIGKILL of the leader.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import Consul from 'consul';
import { eventually } from '../helpers/wait.js';
import { TrellisCluster } from '@trellis/testkit';

const CLI = fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

test.serial(
  'the npm consul client: catalog, health, sessions, locks, txn and events on a cluster',
  async (t) => {
    t.timeout(120_000);
    const c = await TrellisCluster.start({ cli: CLI, leaderTimeoutMs: 30_000 });
    t.teardown(() => c.close());
    const { leader } = await c.waitForLeader();
    const follower = c.agents.find((a) => a !== leader)!;
    const consul = new Consul({ host: '127.0.0.1', port: follower.ports.http });

    await consul.catalog.register({
      node: 'web-node',
      address: '127.0.0.5',
      service: { id: 'web-1', service: 'web', port: 80, tags: ['blue'] },
      check: { checkid: 'web-http', name: 'web http', status: 'passing', serviceid: 'web-1' },
    });
    const services = (await consul.catalog.service.list()) as Record<string, string[]>;
    t.deepEqual(services['web'], ['blue']);
    t.true('consul' in services, 'the servers register the consul service');
    const nodes = (await consul.catalog.service.nodes('web')) as Array<{ ServiceID: string }>;
    t.deepEqual(
      nodes.map((n) => n.ServiceID),
      ['web-1'],
    );
    const passing = (await consul.health.service({ service: 'web', passing: true })) as unknown[];
    t.is(passing.length, 1);

    // A blocking health query parked on the follower wakes when the check turns critical.
    const res = await fetch(`http://127.0.0.1:${follower.ports.http}/v1/health/service/web`);
    const index = Number(res.headers.get('x-consul-index'));
    const parked = fetch(
      `http://127.0.0.1:${follower.ports.http}/v1/health/service/web?passing&index=${index}&wait=30s`,
    );
    await consul.catalog.register({
      node: 'web-node',
      address: '127.0.0.5',
      check: { checkid: 'web-http', name: 'web http', status: 'critical', serviceid: 'web-1' },
      skipnodeupdate: true,
    });
    const woke = await parked;
    t.true(Number(woke.headers.get('x-consul-index')) > index);
    t.deepEqual(await woke.json(), []);

    // Sessions, a lock, a transaction and an event.
    const { ID: session } = await consul.session.create({ name: 'lock', ttl: '30s' });
    t.true(await consul.kv.set({ key: 'locks/db', value: 'me', acquire: session }));
    const txn = (await consul.transaction.create([
      { KV: { Verb: 'check-session', Key: 'locks/db', Session: session } },
      {
        KV: {
          Verb: 'set',
          Key: 'locks/db-owner',
          Value: Buffer.from(follower.name).toString('base64'),
        },
      },
    ] as never)) as unknown as { Results: unknown[]; Errors: unknown };
    t.is(txn.Results.length, 2);
    t.is(txn.Errors, null);
    t.like(await consul.kv.get('locks/db-owner'), { Value: follower.name });
    const fired = (await consul.event.fire('deploy', 'v7')) as { ID: string };
    await eventually('the event on another server', async () => {
      const other = new Consul({ host: '127.0.0.1', port: leader.ports.http });
      const list = (await other.event.list('deploy')) as Array<{ ID: string; Payload: string }>;
      const got = list.find((e) => e.ID === fired.ID);
      return got ? true : undefined;
    });
    // This client resolves destroy with no value; the session is gone afterwards.
    await consul.session.destroy(session);
    t.falsy(await consul.session.info(session));
  },
);

test.serial(
  'a lock-delay set by an invalidated session holds across a leader SIGKILL',
  async (t) => {
    t.timeout(120_000);
    const c = await TrellisCluster.start({ cli: CLI, leaderTimeoutMs: 30_000 });
    t.teardown(() => c.close());
    const { leader } = await c.waitForLeader();
    const survivor = c.agents.find((a) => a !== leader)!;
    const consul = new Consul({ host: '127.0.0.1', port: survivor.ports.http });
    // The servers register themselves with serfHealth; sessions default to that check.
    await eventually('the survivor registered', async () =>
      ((await consul.health.node(survivor.name)) as unknown[]).length > 0 ? true : undefined,
    );
    const holder = await consul.session.create({ node: survivor.name, lockdelay: '8s' });
    t.true(await consul.kv.set({ key: 'locks/svc', value: 'a', acquire: holder.ID }));
    // Destroying the holding session releases the lock and starts its lock-delay.
    await consul.session.destroy(holder.ID);
    const released = Date.now();
    await c.kill(leader).exited;
    await c.waitForLeader({ among: c.agents.filter((a) => a !== leader) });
    const other = await consul.session.create({ node: survivor.name });
    // Within the delay, the new leader refuses the acquisition…
    const early = await consul.kv.set({ key: 'locks/svc', value: 'b', acquire: other.ID });
    if (Date.now() - released < 7_000) t.falsy(early, 'acquired during the lock-delay');
    // …and grants it once the delay has passed.
    await eventually(
      'the lock after its delay',
      async () =>
        (await consul.kv.set({ key: 'locks/svc', value: 'b', acquire: other.ID }))
          ? true
          : undefined,
      20_000,
    );
    // The delay runs from the leader's clock at the destroy, a moment before `released`.
    t.true(Date.now() - released >= 7_500);
  },
);
