/**
 * Benchmark: client agents at the scale one machine allows (issue: client agents).
 *
 *     node test/dist/bench/clients.js [--clients 50] [--flips 20] [--steady-ms 75000] [--cli PATH]
 *
 * 1. Starts 3 servers and `--clients` client agents (separate processes, loopback, Consul's
 *    default timings: `lan` gossip, 1 min anti-entropy) and waits until every client is a
 *    node in the catalog with a passing `serfHealth` check.
 * 2. Registers `web` with a TTL check on every client (through each client's agent API).
 * 3. Flip latency: `--flips` times, one client's TTL check is flipped (pass ↔ fail) through
 *    its agent API while a blocking query on a server (GET /v1/health/service/web?index=…)
 *    waits for the change; the time from the flip to the answer that shows it is recorded.
 * 4. Steady state: over `--steady-ms` (longer than one anti-entropy full sync) with nothing changing, each client's gossip traffic
 *    (UDP packets and bytes out, TCP push-pulls) and RPCs to servers, from the counters in
 *    /v1/agent/self; and each client process's RSS.
 * Consul itself is not installable on this platform (npm and Debian registries only), so the
 * figures stand alone; the gossip traffic is comparable with `npm run bench:gossip` (serf).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TrellisCluster, type TrellisAgent } from '@trellis/testkit';
import { int } from './args.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    flips: { type: 'string', default: '20' },
    'steady-ms': { type: 'string', default: '75000' },
    cli: { type: 'string' },
  },
});

const nClients = int('clients', values.clients, 1, 200);
const flips = int('flips', values.flips, 1, 1000);
const steadyMs = int('steady-ms', values['steady-ms'], 1000, 600_000);
const cli =
  values.cli ?? fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

async function http(method: string, url: string, body?: unknown, timeoutMs = 30_000) {
  const res = await fetch(url, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return { text, index: Number(res.headers.get('x-consul-index') ?? '0') };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100_000; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: pct(s, 50), p99: pct(s, 99), max: s[s.length - 1] ?? NaN };
};

type Self = { Stats: Record<string, Record<string, string>> };

const cfgDir = mkdtempSync(join(tmpdir(), 'trellis-bench-clients-'));
const cluster = await TrellisCluster.start({
  cli,
  servers: 3,
  clients: nClients,
  leaderTimeoutMs: 120_000,
  extraArgs: ({ name }) => {
    const p = join(cfgDir, `${name}.json`);
    writeFileSync(p, JSON.stringify({ log_level: 'warn' }));
    return [`-config-file=${p}`];
  },
});
try {
  const servers = cluster.agents.slice(0, 3);
  const clients = cluster.agents.slice(3);
  const s1 = servers[0]!;
  const t0 = performance.now();
  await until(
    `${nClients} clients with a passing serfHealth`,
    async () => {
      const checks = JSON.parse(
        (await http('GET', `${s1.httpUrl}/v1/health/state/passing`)).text,
      ) as {
        Node: string;
        CheckID: string;
      }[];
      const n = checks.filter((c) => c.CheckID === 'serfHealth' && c.Node.startsWith('c')).length;
      return n === nClients ? true : undefined;
    },
    180_000,
  );
  console.log(
    `${nClients} clients registered in the catalog ${Math.round(performance.now() - t0)} ms after the leader`,
  );

  for (const c of clients) {
    await http('PUT', `${c.httpUrl}/v1/agent/service/register`, {
      Name: 'web',
      ID: `web-${c.name}`,
      Port: 8080,
      Check: { CheckID: `ttl-${c.name}`, TTL: '1h', Status: 'passing' },
    });
  }
  const passing = async (): Promise<{ n: number; index: number }> => {
    const a = await http('GET', `${s1.httpUrl}/v1/health/service/web?passing`);
    return { n: (JSON.parse(a.text) as unknown[]).length, index: a.index };
  };
  await until(
    'every web instance passing',
    async () => ((await passing()).n === nClients ? true : undefined),
    120_000,
  );

  // Flip latency.
  const lat: number[] = [];
  for (let i = 0; i < flips; i++) {
    const c: TrellisAgent = clients[i % clients.length]!;
    const { n, index } = await passing();
    const fail = n === nClients;
    const want = fail ? nClients - 1 : nClients;
    const start = performance.now();
    await http('PUT', `${c.httpUrl}/v1/agent/check/${fail ? 'fail' : 'pass'}/ttl-${c.name}`);
    let idx = index;
    for (let j = 0; j < 1000; j++) {
      const a = await http(
        'GET',
        `${s1.httpUrl}/v1/health/service/web?passing&index=${idx}&wait=30s`,
        undefined,
        40_000,
      );
      idx = a.index;
      if ((JSON.parse(a.text) as unknown[]).length === want) break;
    }
    lat.push(performance.now() - start);
    if (!fail) continue;
    // Restore before the next flip.
    await http('PUT', `${c.httpUrl}/v1/agent/check/pass/ttl-${c.name}`);
    await until(
      'restored',
      async () => ((await passing()).n === nClients ? true : undefined),
      30_000,
    );
  }
  const l = stats(lat);
  console.log(
    `check flip → visible in /v1/health/service (blocking query on a server), ${flips} flips: ` +
      `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms`,
  );

  // Steady state.
  const read = async (c: TrellisAgent) =>
    JSON.parse((await http('GET', `${c.httpUrl}/v1/agent/self`)).text) as Self;
  const before = await Promise.all(clients.map(read));
  await new Promise((r) => setTimeout(r, steadyMs));
  const after = await Promise.all(clients.map(read));
  const per = (f: (s: Self) => number) =>
    clients.map((_, i) => (f(after[i]!) - f(before[i]!)) / (steadyMs / 1000));
  const num = (s: Self, g: string, k: string) => Number(s.Stats[g]?.[k] ?? '0');
  const rpc = (s: Self) =>
    Object.entries(s.Stats.rpc ?? {})
      .filter(([k]) => k.startsWith('calls.'))
      .reduce((a, [, v]) => a + Number(v), 0);
  const pk = stats(per((s) => num(s, 'serf_lan', 'packets_out')));
  const by = stats(per((s) => num(s, 'serf_lan', 'bytes_out')));
  const pp = stats(per((s) => num(s, 'serf_lan', 'push_pulls') * 60));
  const rc = stats(per((s) => rpc(s) * 60));
  const rss = stats(clients.map((c) => (c.rssBytes() ?? 0) / (1024 * 1024)));
  console.log(`steady state over ${steadyMs / 1000} s, per client (p50 / max):`);
  console.log(
    `  gossip UDP out: ${pk.p50.toFixed(2)} / ${pk.max.toFixed(2)} packets/s, ${(by.p50 / 1024).toFixed(2)} / ${(by.max / 1024).toFixed(2)} KiB/s`,
  );
  console.log(`  gossip TCP push-pulls: ${pp.p50.toFixed(2)} / ${pp.max.toFixed(2)} per min`);
  console.log(`  RPCs to servers: ${rc.p50.toFixed(2)} / ${rc.max.toFixed(2)} per min`);
  console.log(`  client RSS: ${rss.p50.toFixed(1)} / ${rss.max.toFixed(1)} MiB`);
  const srss = servers.map((s) => ((s.rssBytes() ?? 0) / (1024 * 1024)).toFixed(1));
  console.log(`  server RSS: ${srss.join(', ')} MiB`);
} finally {
  await cluster.close();
  rmSync(cfgDir, { recursive: true, force: true });
}
