/**
 * Benchmark: service discovery reads on a 3-server Trellis cluster (issue: catalog/health).
 *
 *     node test/dist/bench/health.js [--instances 1000] [--clients 64] [--duration-ms 5000]
 *       [--warmup-ms 1000] [--cli PATH]
 *
 * 1. Registers `--instances` instances of `web` (one node each, a passing service check)
 *    through PUT /v1/catalog/register on the leader.
 * 2. `--clients` closed-loop clients read GET /v1/health/service/web?passing from one
 *    follower with default consistency (the leader's lease, forwarded), then with ?stale
 *    (the follower's replica): answers/s, latency p50/p99, answer size.
 * 3. `--parked` blocking queries (GET /v1/health/service/web?index=<current>&wait=5m, one
 *    connection each) parked on a follower against a small service (`--parked-instances`,
 *    default 3: ten thousand copies of a 1,000-instance answer would be 7 GB), then one
 *    registration: every query must return within 1 s, with the server's RSS (kv/parked.ts).
 * There is no peer to compare with here (Consul itself is not available on this platform),
 * so the figures stand alone.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TrellisCluster } from '@trellis/testkit';
import { HttpError, keepAliveAgent, send } from './kv/http.js';
import { closedLoop, type LoadResult } from './kv/load.js';
import { parkedQueries, type ParkTarget } from './kv/parked.js';
import { int } from './args.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '64' },
    'duration-ms': { type: 'string', default: '5000' },
    'warmup-ms': { type: 'string', default: '1000' },
    cli: { type: 'string' },
    parked: { type: 'string', default: '10000' },
    'parked-instances': { type: 'string', default: '3' },
  },
});

const instances = int('instances', values.instances, 1, 100_000);
const clients = int('clients', values.clients, 1, 1024);
const durationMs = int('duration-ms', values['duration-ms'], 100, 600_000);
const warmupMs = int('warmup-ms', values['warmup-ms'], 0, 60_000);
const parked = int('parked', values.parked, 0, 20_000);
const parkedInstances = int('parked-instances', values['parked-instances'], 1, 1000);
const cli =
  values.cli ?? fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

const cluster = await TrellisCluster.start({ cli, leaderTimeoutMs: 30_000 });
const agent = keepAliveAgent();
try {
  const { leader } = await cluster.waitForLeader();
  const follower = cluster.agents.find((a) => a !== leader)!;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let i = next++; i < instances; i = next++) {
        const body = JSON.stringify({
          Node: `node-${i}`,
          Address: `10.0.${i >> 8}.${i & 255}`,
          Service: { ID: 'web', Service: 'web', Port: 8080, Tags: ['v1'] },
          Check: { CheckID: 'web-alive', Name: 'web', Status: 'passing', ServiceID: 'web' },
        });
        const r = await send(agent, leader.ports.http, 'PUT', '/v1/catalog/register', body, 10_000);
        if (r.status !== 200) throw new HttpError(`HTTP${r.status}`, r.body.toString());
      }
    }),
  );
  console.log(`registered ${instances} instances in ${Math.round(performance.now() - t0)} ms`);
  let size = 0;
  const run = async (mode: string): Promise<LoadResult> =>
    closedLoop(clients, warmupMs, durationMs, async () => {
      const r = await send(
        agent,
        follower.ports.http,
        'GET',
        `/v1/health/service/web?passing${mode}`,
        undefined,
        30_000,
      );
      if (r.status !== 200) throw new HttpError(`HTTP${r.status}`, r.body.toString());
      size = r.body.length;
    });
  const rows: Array<[string, LoadResult]> = [
    ['default', await run('')],
    ['stale', await run('&stale')],
  ];
  console.log(
    `\nGET /v1/health/service/web?passing, ${instances} instances (${(size / 1024).toFixed(0)} KiB answers), ${clients} clients on a follower`,
  );
  console.log('consistency   answers/s   p50 ms   p99 ms   errors');
  for (const [mode, r] of rows) {
    console.log(
      `${mode.padEnd(12)}  ${String(r.opsPerSec).padStart(9)}   ${r.latencyMs.p50.toFixed(1).padStart(6)}   ${r.latencyMs.p99.toFixed(1).padStart(6)}   ${JSON.stringify(r.errors)}`,
    );
  }
  let parkedResult: unknown = null;
  if (parked > 0) {
    const registerApi = async (port: number, node: string) => {
      const body = JSON.stringify({
        Node: node,
        Address: '10.1.0.1',
        Service: { ID: 'api', Service: 'api', Port: 9090 },
        Check: { CheckID: 'api-alive', Name: 'api', Status: 'passing', ServiceID: 'api' },
      });
      const r = await send(agent, port, 'PUT', '/v1/catalog/register', body, 10_000);
      if (r.status !== 200) throw new HttpError(`HTTP${r.status}`, r.body.toString());
    };
    const target: ParkTarget = {
      path: '/v1/health/service/api',
      async prepare(port) {
        for (let i = 0; i < parkedInstances; i++) await registerApi(port, `api-node-${i}`);
      },
      async change(port) {
        await registerApi(port, 'api-node-new');
      },
    };
    const p = await parkedQueries(follower, parked, target);
    parkedResult = p;
    console.log(
      `\n${p.queries} parked GET /v1/health/service/api (${parkedInstances} instances) on a follower: ` +
        `${p.returned} returned after the change, ${p.within1s} within 1 s ` +
        `(p50 ${p.latencyMs.p50} ms, max ${p.latencyMs.max} ms); registration acknowledged after ${Math.round(p.putAckMs)} ms; ` +
        `server RSS ${p.rssMiB.before} → ${p.rssMiB.parked} MiB parked, max ${p.rssMiB.parkedMax} MiB; ` +
        `client loop delay max ${p.clientLoopDelayMs.max} ms`,
    );
  }
  console.log(
    JSON.stringify({
      instances,
      clients,
      answerBytes: size,
      results: Object.fromEntries(rows),
      parked: parkedResult,
    }),
  );
} finally {
  agent.destroy();
  await cluster.close();
}
