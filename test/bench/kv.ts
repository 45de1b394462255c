/**
 * Benchmark: Trellis KV vs etcd 3.4, on loopback, same machine, same run, same load
 * generator (this process; node:http over keep-alive sockets; 8-byte keys, 256-byte values).
 *
 *     node test/dist/bench/kv.js [--quick] [--skip-etcd] [--skip-trellis] [--cli PATH]
 *       [--levels 1,64,256] [--duration-ms 5000] [--warmup-ms 1000] [--read-clients 64]
 *       [--failovers 7] [--parked 10000]
 *
 * Each system runs as three member processes with fsync on (etcd: the Debian `etcd`
 * binary with its defaults, through its v3 JSON gateway; Trellis: `trellis agent -server
 * -bootstrap-expect=3`, through Consul's KV API), one system at a time:
 *
 * 1. Writes: for each level N (the first level, 1, is "sequential"), N closed-loop clients
 *    put to the leader (each cycling over its own 16 keys) for warmup + duration;
 *    puts/s and latency p50/p99 over the window.
 * 2. Linearizable reads: `--read-clients` closed-loop clients read those keys from the
 *    leader (etcd: range with serializable=false; Trellis: ?consistent).
 * 3. Failover, `--failovers` rounds (at least 5 outside --quick): SIGKILL the leader's
 *    process; time to the first acknowledged put sent after the kill (./kv/load.ts); the
 *    killed member is restarted on its data dir and caught up before the next round.
 * 4. Trellis only: `--parked` blocking queries parked on the leader, one change, every query
 *    must return within 1 s; the server's RSS must stay under 300 MB (./kv/parked.ts).
 *
 * Prints a table with the ratios Trellis/etcd and the goals (at 64 clients ≥ 1.5× etcd's
 * writes/s with a p99 no worse; sequential p50 within 1.2× of etcd's; failover median
 * ≤ 1 s and no slower than etcd's; parked queries within 1 s under 300 MB), then one JSON
 * line. Goals are reported, not enforced. Exits 1 when a measurement failed (no leader, a
 * failover that never completed, a system that would not start), 2 on bad arguments.
 * Trellis is skipped, and says so, while `trellis agent -h` does not work.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { round } from './raft/stats.js';
import {
  closedLoop,
  failoverMedian,
  failoverRound,
  type FailoverRound,
  type LoadResult,
} from './kv/load.js';
import { EtcdSystem } from './kv/etcd.js';
import { parkedQueries, type ParkedResult } from './kv/parked.js';
import { TrellisSystem } from './kv/trellis.js';
import type { KvSystem } from './kv/system.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'skip-etcd': { type: 'boolean', default: false },
    'skip-trellis': { type: 'boolean', default: false },
    cli: { type: 'string' },
    levels: { type: 'string' },
    'duration-ms': { type: 'string' },
    'warmup-ms': { type: 'string' },
    'read-clients': { type: 'string', default: '64' },
    failovers: { type: 'string' },
    parked: { type: 'string' },
  },
  strict: true,
});

function num(name: string, s: string, min: number, max: number): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    console.error(`--${name}: an integer in [${min}, ${max}] expected, got ${s}`);
    process.exit(2);
  }
  return v;
}

const quick = values.quick;
const levels = (values.levels ?? '1,64,256').split(',').map((s) => num('levels', s, 1, 1024));
if (levels.length > 8) {
  console.error('--levels: at most 8 levels');
  process.exit(2);
}
const durationMs = num(
  'duration-ms',
  values['duration-ms'] ?? (quick ? '2000' : '5000'),
  100,
  120_000,
);
const warmupMs = num('warmup-ms', values['warmup-ms'] ?? (quick ? '500' : '1000'), 0, 60_000);
const readClients = num('read-clients', values['read-clients'], 1, 1024);
const failovers = num('failovers', values.failovers ?? (quick ? '3' : '7'), 0, 50);
const parkedN = num('parked', values.parked ?? (quick ? '2000' : '10000'), 0, 15_000);
/** Keys each client cycles over. */
const SLOTS = 16;
const REQUEST_TIMEOUT_MS = 5000;
const RSS_LIMIT_MIB = 300;

/** test/dist/bench/kv.js → cmd/trellis/bin/trellis.js */
const CLI =
  values.cli ?? fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

function trellisUnavailable(): string | null {
  if (!existsSync(CLI)) return `${CLI} is missing`;
  const r = spawnSync(process.execPath, [CLI, 'agent', '-h'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.error) return r.error.message;
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (/Unknown command/i.test(out) || !out.includes('-server'))
    return '`trellis agent -h` does not work yet';
  return null;
}

function etcdUnavailable(): string | null {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0)
    return 'etcd is not installed (apt-get install -y etcd-server etcd-client)';
  return /etcd Version: 3\.4\./.test(r.stdout)
    ? null
    : `etcd 3.4 expected, found: ${r.stdout.split('\n')[0]}`;
}

/** 8-byte key of client c, slot s. */
const keyOf = (c: number, s: number) => `k${(c * SLOTS + s).toString(16).padStart(7, '0')}`;

interface SystemResult {
  system: string;
  levels: LoadResult[];
  reads?: LoadResult;
  failover: FailoverRound[];
  failoverMedianMs?: number;
  parked?: ParkedResult;
  error?: string;
}

async function measure(sys: KvSystem): Promise<SystemResult> {
  const out: SystemResult = { system: sys.name, levels: [], failover: [] };
  const value = randomBytes(192).toString('base64'); // 256 ASCII bytes
  const valueBuf = Buffer.from(value);
  try {
    const t0 = performance.now();
    await sys.start();
    let leader = await sys.leader(30_000);
    console.log(
      `${sys.name}: cluster up in ${round(performance.now() - t0, 0)} ms, leader member ${leader}`,
    );
    for (const n of levels) {
      await sys.waitHealthy(60_000);
      leader = await sys.leader(10_000);
      const r = await closedLoop(n, warmupMs, durationMs, (c, seq) =>
        sys.put(leader, keyOf(c, seq % SLOTS), valueBuf, REQUEST_TIMEOUT_MS),
      );
      out.levels.push(r);
      console.log(
        `  ${n} writer${n === 1 ? '' : 's'}: ${r.opsPerSec} puts/s, p50 ${r.latencyMs.p50} ms, ` +
          `p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms; bench cpu ${r.benchCpuPct}%` +
          (Object.keys(r.errors).length > 0 ? `; errors ${JSON.stringify(r.errors)}` : ''),
      );
    }
    const maxWriters = Math.max(...levels);
    leader = await sys.leader(10_000);
    out.reads = await closedLoop(readClients, warmupMs, durationMs, async (c, seq) => {
      const k = keyOf((c * 7 + seq) % maxWriters, seq % SLOTS);
      const v = await sys.get(leader, k, REQUEST_TIMEOUT_MS);
      if (v === null || v.length !== 256)
        throw new Error(`read ${k}: ${v === null ? 'missing' : `${v.length} bytes`}`);
    });
    console.log(
      `  ${readClients} readers (linearizable): ${out.reads.opsPerSec} reads/s, p50 ${out.reads.latencyMs.p50} ms, ` +
        `p99 ${out.reads.latencyMs.p99} ms; bench cpu ${out.reads.benchCpuPct}%` +
        (Object.keys(out.reads.errors).length > 0
          ? `; errors ${JSON.stringify(out.reads.errors)}`
          : ''),
    );
    for (let i = 0; i < failovers; i++) {
      const f = await failoverRound(sys, i, valueBuf);
      out.failover.push(f);
      console.log(
        `  failover ${i + 1}: killed member ${f.killed} → first acknowledged put after ${f.toWriteMs} ms ` +
          `(${f.failedAttempts} failed attempts); restarted and caught up in ${f.recoveryMs} ms`,
      );
    }
    if (out.failover.length > 0) out.failoverMedianMs = failoverMedian(out.failover);
    if (sys instanceof TrellisSystem && parkedN > 0) {
      await sys.waitHealthy(60_000);
      const l = sys.cluster.agents[await sys.leader(10_000)]!;
      const p = await parkedQueries(l, parkedN);
      out.parked = p;
      console.log(
        `  ${p.queries} parked blocking queries on ${l.name}: ${p.returned} returned after the change ` +
          `(${p.within1s} within 1 s; p50 ${p.latencyMs.p50} ms, max ${p.latencyMs.max} ms), ` +
          `${p.premature} before it; RSS ${p.rssMiB.before} → ${p.rssMiB.parked} MiB parked, max while parked ${p.rssMiB.parkedMax} MiB (process lifetime peak ${p.rssMiB.lifetimePeak} MiB)` +
          (Object.keys(p.errors).length > 0 ? `; errors ${JSON.stringify(p.errors)}` : ''),
      );
    }
  } catch (e) {
    out.error = e instanceof Error ? e.message : String(e);
    console.error(`${sys.name}: ${out.error}\n${sys.describe()}`);
  } finally {
    await sys.close();
  }
  return out;
}

// --- the table ---------------------------------------------------------------------------

type Row = [metric: string, etcd: number | undefined, trellis: number | undefined, goal: string];

const fmt = (v: number | undefined) =>
  v === undefined || Number.isNaN(v) ? 'n/a' : v >= 100 ? String(Math.round(v)) : v.toFixed(2);

function printTable(etcd: SystemResult | undefined, trellis: SystemResult | undefined): string[] {
  const lvl = (r: SystemResult | undefined, n: number) => r?.levels.find((l) => l.clients === n);
  const rows: Row[] = [];
  for (const n of levels) {
    const e = lvl(etcd, n);
    const t = lvl(trellis, n);
    const name = n === 1 ? 'sequential put' : `${n} writers`;
    rows.push([`${name}: puts/s`, e?.opsPerSec, t?.opsPerSec, n === 64 ? 'ratio ≥ 1.5' : '']);
    rows.push([
      `${name}: p50 ms`,
      e?.latencyMs.p50,
      t?.latencyMs.p50,
      n === 1 ? 'ratio ≤ 1.2' : '',
    ]);
    rows.push([
      `${name}: p99 ms`,
      e?.latencyMs.p99,
      t?.latencyMs.p99,
      n === 64 ? 'ratio ≤ 1.0' : '',
    ]);
  }
  rows.push([
    `${readClients} linearizable readers: reads/s`,
    etcd?.reads?.opsPerSec,
    trellis?.reads?.opsPerSec,
    '',
  ]);
  rows.push([
    `${readClients} readers: p99 ms`,
    etcd?.reads?.latencyMs.p99,
    trellis?.reads?.latencyMs.p99,
    '',
  ]);
  rows.push([
    'failover: kill → write, median ms',
    etcd?.failoverMedianMs,
    trellis?.failoverMedianMs,
    '≤ 1000 and ratio ≤ 1.0',
  ]);
  const maxOf = (r?: SystemResult) =>
    r && r.failover.length > 0 ? Math.max(...r.failover.map((f) => f.toWriteMs)) : undefined;
  rows.push(['failover: max ms', maxOf(etcd), maxOf(trellis), '']);
  console.log(
    `\n${'metric'.padEnd(40)}${'etcd'.padStart(10)}${'trellis'.padStart(10)}${'T/etcd'.padStart(9)}  goal`,
  );
  for (const [m, e, t, goal] of rows) {
    const ratio = e !== undefined && t !== undefined && e > 0 ? (t / e).toFixed(2) : 'n/a';
    console.log(
      `${m.padEnd(40)}${fmt(e).padStart(10)}${fmt(t).padStart(10)}${ratio.padStart(9)}  ${goal}`,
    );
  }
  if (trellis?.parked) {
    const p = trellis.parked;
    console.log(
      `parked blocking queries: ${p.within1s}/${p.queries} returned within 1 s of the change (max ${p.latencyMs.max} ms); ` +
        `server RSS parked ${p.rssMiB.parked} MiB, max while parked ${p.rssMiB.parkedMax} MiB (process lifetime peak ${p.rssMiB.lifetimePeak} MiB) (goal: all within 1 s, RSS < ${RSS_LIMIT_MIB} MB)`,
    );
  }
  // Goals, when both sides were measured.
  const goals: string[] = [];
  const e64 = lvl(etcd, 64);
  const t64 = lvl(trellis, 64);
  const e1 = lvl(etcd, 1);
  const t1 = lvl(trellis, 1);
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  if (e64 && t64) {
    goals.push(`64 writers ≥ 1.5× etcd puts/s: ${verdict(t64.opsPerSec >= 1.5 * e64.opsPerSec)}`);
    goals.push(
      `64 writers p99 no worse than etcd: ${verdict(t64.latencyMs.p99 <= e64.latencyMs.p99)}`,
    );
  }
  if (e1 && t1)
    goals.push(
      `sequential p50 within 1.2× etcd: ${verdict(t1.latencyMs.p50 <= 1.2 * e1.latencyMs.p50)}`,
    );
  if (trellis?.failoverMedianMs !== undefined) {
    goals.push(`failover median ≤ 1000 ms: ${verdict(trellis.failoverMedianMs <= 1000)}`);
    if (etcd?.failoverMedianMs !== undefined)
      goals.push(
        `failover no slower than etcd: ${verdict(trellis.failoverMedianMs <= etcd.failoverMedianMs)}`,
      );
  }
  if (trellis?.parked) {
    const p = trellis.parked;
    goals.push(`parked queries all within 1 s: ${verdict(p.within1s === p.queries)}`);
    goals.push(
      `server RSS < ${RSS_LIMIT_MIB} MB: ${verdict(p.rssMiB.parkedMax * 1.048576 < RSS_LIMIT_MIB)}`,
    );
  }
  if (goals.length > 0) console.log(`goals: ${goals.join('; ')}`);
  return goals;
}

async function main(): Promise<number> {
  const env = {
    node: process.version,
    platform: `${process.platform} ${release()}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadavgAtStart: loadavg().map((v) => round(v, 2)),
  };
  console.log(
    `kv bench: 3 members per system on loopback, fsync on; 8-byte keys, 256-byte values; ` +
      `${env.cpus} CPUs (${env.cpuModel}); node ${env.node}; load average ${env.loadavgAtStart.join(' ')}` +
      (quick ? '; QUICK run' : ''),
  );
  const skipped: Record<string, string> = {};
  const systems: KvSystem[] = [];
  if (values['skip-etcd']) skipped['etcd'] = '--skip-etcd';
  else {
    const why = etcdUnavailable();
    if (why) skipped['etcd'] = why;
    else systems.push(new EtcdSystem());
  }
  if (values['skip-trellis']) skipped['trellis'] = '--skip-trellis';
  else {
    const why = trellisUnavailable();
    if (why) skipped['trellis'] = why;
    else systems.push(new TrellisSystem(CLI));
  }
  for (const [s, why] of Object.entries(skipped)) console.log(`${s}: skipped (${why})`);
  let current: KvSystem | undefined;
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    console.error('interrupted; stopping members');
    void (current?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results: SystemResult[] = [];
  for (const sys of systems) {
    current = sys;
    console.log(`\n${sys.name}:`);
    results.push(await measure(sys));
  }
  current = undefined;
  const etcd = results.find((r) => r.system === 'etcd');
  const trellis = results.find((r) => r.system === 'trellis');
  const goals = printTable(etcd, trellis);
  const ok = results.length > 0 && results.every((r) => r.error === undefined);
  console.log(
    JSON.stringify({
      env,
      settings: {
        levels,
        durationMs,
        warmupMs,
        readClients,
        failovers,
        parked: parkedN,
        keyBytes: 8,
        valueBytes: 256,
        quick,
      },
      skipped,
      results,
      goals,
      loadavgAtEnd: loadavg().map((v) => round(v, 2)),
      ok,
    }),
  );
  return ok ? 0 : 1;
}

// A hard bound on the whole run, whatever happens.
const perSystemMs =
  90_000 + (levels.length + 1) * (warmupMs + durationMs + 70_000) + failovers * 140_000 + 200_000;
const budgetMs = 2 * perSystemMs;
const watchdog = setTimeout(() => {
  console.error(`kv bench: exceeded its ${budgetMs} ms budget; exiting`);
  process.exit(1);
}, budgetMs);
watchdog.unref();

process.exitCode = await main();
