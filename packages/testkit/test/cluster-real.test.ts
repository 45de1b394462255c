/**
 * The launcher against the real server agent: three `trellis agent -server` processes on
 * loopback agree on a leader, accept a KV write, survive a SIGKILL of the leader (a new
 * leader accepts writes), and the restarted member, on its old data dir, serves the writes
 * made while it was down. Skipped until `trellis agent -h` works (the agent is built).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { TrellisCluster } from '../src/index.js';

/** packages/testkit/dist/test/ → cmd/trellis/bin/trellis.js */
const CLI = fileURLToPath(new URL('../../../../cmd/trellis/bin/trellis.js', import.meta.url));

function agentAvailable(): string | null {
  if (!existsSync(CLI)) return `${CLI} is missing`;
  const r = spawnSync(process.execPath, [CLI, 'agent', '-h'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error) return r.error.message;
  if (/Unknown command/i.test(out) || !out.includes('-server')) {
    return '`trellis agent -h` does not describe the server agent yet';
  }
  return null;
}

const missing = agentAvailable();
const realTest = missing === null ? test.serial : test.serial.skip;
if (missing !== null) console.log(`cluster-real: skipped (${missing})`);

function kv(
  method: 'GET' | 'PUT',
  base: string,
  key: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const path = `/v1/kv/${key}${method === 'GET' ? '?consistent' : ''}`;
    const req = request(`${base}${path}`, { method, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function valueOf(answer: { status: number; body: string }): string | null {
  if (answer.status === 404) return null;
  const entries = JSON.parse(answer.body) as Array<{ Value: string | null }>;
  return Buffer.from(entries[0]?.Value ?? '', 'base64').toString('utf8');
}

realTest(
  'a real 3-server cluster elects a leader, fails over after SIGKILL and the restarted member catches up',
  async (t) => {
    t.timeout(120_000);
    const cluster = await TrellisCluster.start({ cli: CLI, leaderTimeoutMs: 30_000 });
    t.teardown(() => cluster.close());
    const { leader } = await cluster.waitForLeader();
    t.log(`leader ${leader.name} (${leader.serverAddr}); logs in ${cluster.dir}`);
    t.deepEqual(await kv('PUT', leader.httpUrl, 'cluster-test', 'one'), {
      status: 200,
      body: 'true',
    });
    for (const a of cluster.agents) {
      t.is(valueOf(await kv('GET', a.httpUrl, 'cluster-test')), 'one', a.name);
    }

    await cluster.kill(leader).exited;
    const next = await cluster.waitForLeader({ timeoutMs: 30_000 });
    t.not(next.leader, leader);
    t.is((await kv('PUT', next.leader.httpUrl, 'cluster-test', 'two')).body, 'true');

    await cluster.restart(leader);
    await cluster.waitForLeader({ timeoutMs: 30_000, among: cluster.agents });
    t.is(valueOf(await kv('GET', leader.httpUrl, 'cluster-test')), 'two');
  },
);
