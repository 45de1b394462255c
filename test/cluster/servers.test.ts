/**
 * Server agents as a user runs them: `trellis agent -server -bootstrap-expect=3` processes on
 * loopback, driven over HTTP, through the `trellis` CLI and through the npm `consul` client.
 * Failures are real signals to real processes (SIGKILL), restarts reuse the data dirs.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Consul from 'consul';
import { eventually } from '../helpers/wait.js';
import { TrellisCluster, type TrellisAgent } from '@trellis/testkit';

/** test/dist/cluster/ → cmd/trellis/bin/trellis.js */
const CLI = fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function http(
  method: string,
  url: string,
  body?: string | Uint8Array,
  timeoutMs = 15_000,
): Promise<Answer> {
  const res = await fetch(url, {
    method,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const value = (a: Answer): string | null =>
  a.status === 404
    ? null
    : Buffer.from((JSON.parse(a.text) as [{ Value: string }])[0].Value ?? '', 'base64').toString();

/** Runs the CLI against an agent; resolves with its exit code and output. */
function cli(
  agent: TrellisAgent,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, TRELLIS_HTTP_ADDR: `127.0.0.1:${agent.ports.http}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function cluster(t: { teardown(fn: () => Promise<void>): void }): Promise<TrellisCluster> {
  const c = await TrellisCluster.start({ cli: CLI, leaderTimeoutMs: 30_000 });
  t.teardown(() => c.close());
  return c;
}

test.serial(
  'a 3-server cluster forms from bootstrap-expect; every server takes writes and answers reads',
  async (t) => {
    t.timeout(120_000);
    const c = await cluster(t);
    const { leader, address } = await c.waitForLeader();
    for (const a of c.agents) {
      t.is(JSON.parse((await http('GET', `${a.httpUrl}/v1/status/leader`)).text), address);
      const peers = JSON.parse(
        (await http('GET', `${a.httpUrl}/v1/status/peers`)).text,
      ) as string[];
      t.is(peers.length, 3);
      const put = await http('PUT', `${a.httpUrl}/v1/kv/written-via/${a.name}`, a.name);
      t.is(put.text, 'true');
    }
    for (const a of c.agents) {
      for (const b of c.agents) {
        const got = await http('GET', `${a.httpUrl}/v1/kv/written-via/${b.name}`);
        t.is(value(got), b.name);
        t.is(got.headers.get('x-consul-knownleader'), 'true');
        t.true(Number(got.headers.get('x-consul-index')) > 0);
      }
      // Stale reads from any server, with how stale they may be.
      const stale = await http('GET', `${a.httpUrl}/v1/kv/written-via/${leader.name}?stale`);
      t.is(stale.status, 200);
      t.regex(stale.headers.get('x-consul-lastcontact') ?? '', /^\d+$/);
    }
    // Every server sees the three members alive in gossip.
    const members = await eventually('3 alive members', async () => {
      const r = await http('GET', `${leader.httpUrl}/v1/kv/nothing`);
      void r;
      const members = JSON.parse(
        (await http('GET', `${leader.httpUrl}/v1/agent/members`)).text,
      ) as Array<{
        Status: number;
      }>;
      return members.length === 3 && members.every((m) => m.Status === 1) ? members : undefined;
    });
    t.is(members.length, 3);
  },
);

test.serial(
  'the leader is SIGKILLed: a new leader, writes resume on every survivor, the old leader restarts and catches up',
  async (t) => {
    t.timeout(120_000);
    const c = await cluster(t);
    const { leader } = await c.waitForLeader();
    t.is((await http('PUT', `${leader.httpUrl}/v1/kv/k`, 'one')).text, 'true');
    await c.kill(leader).exited;
    const survivors = c.agents.filter((a) => a !== leader);
    const next = await c.waitForLeader({ among: survivors });
    t.not(next.leader, leader);
    // A write through the follower survivor is forwarded to the new leader.
    const follower = survivors.find((a) => a !== next.leader)!;
    t.is((await http('PUT', `${follower.httpUrl}/v1/kv/k`, 'two')).text, 'true');
    await c.restart(leader);
    await c.waitForLeader({ among: c.agents });
    await eventually('the restarted server to serve the new value', async () =>
      value(await http('GET', `${leader.httpUrl}/v1/kv/k?stale`)) === 'two' ? true : undefined,
    );
  },
);

test.serial('a whole-cluster SIGKILL and restart keeps every acknowledged write', async (t) => {
  t.timeout(180_000);
  const c = await cluster(t);
  await c.waitForLeader();
  const acked = new Map<string, string>();
  // 30 writers for a bounded number of writes, spread over the three servers.
  await Promise.all(
    Array.from({ length: 30 }, async (_, w) => {
      const a = c.agents[w % c.agents.length]!;
      for (let i = 0; i < 10; i++) {
        const key = `durable/${w}/${i}`;
        const r = await http('PUT', `${a.httpUrl}/v1/kv/${key}`, `v${w}.${i}`);
        if (r.text === 'true') acked.set(key, `v${w}.${i}`);
      }
    }),
  );
  t.is(acked.size, 300);
  await Promise.all(c.agents.map((a) => c.kill(a).exited));
  for (const a of c.agents) await c.restart(a);
  const { leader } = await c.waitForLeader();
  const all = JSON.parse(
    (await http('GET', `${leader.httpUrl}/v1/kv/durable/?recurse`)).text,
  ) as Array<{ Key: string; Value: string }>;
  const found = new Map(all.map((e) => [e.Key, Buffer.from(e.Value, 'base64').toString()]));
  for (const [k, v] of acked) t.is(found.get(k), v, k);
});

test.serial(
  'operator raft list-peers and remove-peer, snapshot save and restore, through the CLI',
  async (t) => {
    t.timeout(120_000);
    const c = await cluster(t);
    const { leader } = await c.waitForLeader();
    const peers = await cli(leader, 'operator', 'raft', 'list-peers');
    t.is(peers.code, 0, peers.stderr);
    for (const a of c.agents) t.regex(peers.stdout, new RegExp(`${a.name}\\s`));
    t.regex(peers.stdout, /leader/);

    // Snapshot, change, restore: the old value is back on every server.
    t.is((await cli(leader, 'kv', 'put', 'snap/k', 'before')).code, 0);
    const dir = mkdtempSync(join(tmpdir(), 'trellis-snap-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'backup.snap');
    const saved = await cli(leader, 'snapshot', 'save', file);
    t.is(saved.code, 0, saved.stderr);
    t.regex(saved.stdout, /Saved and verified snapshot to index \d+/);
    t.is((await cli(leader, 'kv', 'put', 'snap/k', 'after')).code, 0);
    t.is((await cli(leader, 'kv', 'put', 'snap/extra', 'x')).code, 0);
    const follower = c.agents.find((a) => a !== leader)!;
    const restored = await cli(follower, 'snapshot', 'restore', file);
    t.is(restored.code, 0, restored.stderr);
    for (const a of c.agents) {
      t.is((await cli(a, 'kv', 'get', 'snap/k')).stdout, 'before\n');
      t.is((await cli(a, 'kv', 'get', 'snap/extra')).code, 1);
    }

    // Remove a follower by address; the configuration shrinks to two voters.
    const gone = c.agents.find((a) => a !== leader && a !== follower)!;
    const removed = await cli(
      follower,
      'operator',
      'raft',
      'remove-peer',
      `-address=${gone.serverAddr}`,
    );
    t.is(removed.code, 0, removed.stderr);
    await eventually('two peers', async () => {
      const p = JSON.parse(
        (await http('GET', `${leader.httpUrl}/v1/status/peers`)).text,
      ) as string[];
      return p.length === 2 && !p.includes(gone.serverAddr) ? true : undefined;
    });
    const bad = await cli(leader, 'operator', 'raft', 'remove-peer', '-address=127.0.0.1:1');
    t.is(bad.code, 1);
    t.regex(bad.stderr, /not found in the Raft configuration/);
  },
);

test.serial(
  'blocking KV queries on a follower wake on a change and time out on wait; the npm consul client works against the cluster',
  async (t) => {
    t.timeout(120_000);
    const c = await cluster(t);
    const { leader } = await c.waitForLeader();
    const follower = c.agents.find((a) => a !== leader)!;
    await http('PUT', `${leader.httpUrl}/v1/kv/watched`, 'v1');
    const first = await http('GET', `${follower.httpUrl}/v1/kv/watched`);
    const index = Number(first.headers.get('x-consul-index'));
    t.true(index > 0);
    // Times out on wait: same index back, no change.
    const started = Date.now();
    const idle = await http('GET', `${follower.httpUrl}/v1/kv/watched?index=${index}&wait=300ms`);
    t.true(Date.now() - started >= 300);
    t.is(Number(idle.headers.get('x-consul-index')), index);
    // Wakes on a change made through another server.
    const parked = http('GET', `${follower.httpUrl}/v1/kv/watched?index=${index}&wait=30s`);
    await new Promise((r) => setTimeout(r, 100));
    await http('PUT', `${leader.httpUrl}/v1/kv/watched`, 'v2');
    const woke = await parked;
    t.is(value(woke), 'v2');
    t.true(Number(woke.headers.get('x-consul-index')) > index);

    const consul = new Consul({ host: '127.0.0.1', port: follower.ports.http });
    t.true(await consul.kv.set('npm/client', 'hello'));
    t.like(await consul.kv.get('npm/client'), { Key: 'npm/client', Value: 'hello' });
    t.is(await consul.status.leader(), leader.serverAddr);
    t.is((await consul.status.peers()).length, 3);
    const self = (await consul.agent.self()) as { Config: { NodeName: string; Server: boolean } };
    t.is(self.Config.NodeName, follower.name);
    t.true(self.Config.Server);
    t.true(await consul.kv.del('npm/client'));
    t.falsy(await consul.kv.get('npm/client'));
  },
);
