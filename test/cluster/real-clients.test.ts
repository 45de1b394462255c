/**
 * Clients nobody here wrote, against a real 3-server cluster: Debian's python3-consul drives
 * catalog, health, kv, session, event and status. (Debian's Prometheus 2.42 is built with
 * Consul service discovery disabled — its changelog: "Disable Consul SD until its Debian
 * package is back in shape" — so the consul_sd_configs check cannot run on this platform.)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TrellisCluster } from '@trellis/testkit';
import { peerTest, probe } from '@trellis/testkit/peers';

const CLI = fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));
const PY = fileURLToPath(new URL('../../../test/cluster/python-consul.py', import.meta.url));
/** Debian's interpreter: the python3 on PATH may be another (pyenv) without the package. */
const PYTHON = '/usr/bin/python3';

const pythonConsul = {
  name: 'python3-consul',
  missing: probe(PYTHON, ['-c', 'import consul']),
};

peerTest(
  'python3-consul drives catalog, health, kv, session, event and status',
  pythonConsul,
  async (t) => {
    t.timeout(120_000);
    const c = await TrellisCluster.start({ cli: CLI, leaderTimeoutMs: 30_000 });
    t.teardown(() => c.close());
    const { leader } = await c.waitForLeader();
    const follower = c.agents.find((a) => a !== leader)!;
    const r = spawnSync(PYTHON, [PY, '127.0.0.1', String(follower.ports.http)], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    t.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    t.is(out['leader'], leader.serverAddr);
    t.is((out['peers'] as string[]).length, 3);
    t.true(out['kv_put']);
    t.is(out['kv_get'], 'value-from-python');
    t.deepEqual(out['kv_keys'], ['py/key']);
    t.true(out['register']);
    t.true((out['nodes'] as string[]).includes('py-node'));
    t.deepEqual((out['services'] as Record<string, string[]>)['web'], ['py', 'v1']);
    t.deepEqual(out['service_web'], [['py-node', 'web-1', 8080]]);
    t.deepEqual(out['node_services'], ['web-1']);
    t.deepEqual(out['health_passing'], ['web-1']);
    t.deepEqual(out['health_checks'], [['web-check', 'passing']]);
    t.deepEqual(out['node_checks'], ['web-check']);
    t.true(out['session_created']);
    t.deepEqual(out['session_info'], ['py-lock', '30s', 'release']);
    t.true(out['session_renewed']);
    t.true(out['acquire']);
    t.true(out['lock_session']);
    t.true(out['release']);
    t.true(out['session_destroyed']);
    t.deepEqual(out['sessions_left'], []);
    t.is(out['event_fired'], 'py-deploy');
    t.true(out['event_seen']);
    t.is(out['event_payload'], 'v42');
    t.true(out['deregister']);
    t.false((out['nodes_after'] as string[]).includes('py-node'));
  },
);
