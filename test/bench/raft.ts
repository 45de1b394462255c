/**
 * Benchmark: a 3-node Raft cluster — three member processes (./raft/member.ts) with the
 * driver's default timing, real files with fdatasync, the RPC transport on 127.0.0.1 and a
 * trivial key-value state machine — driven by closed-loop proposers in this process.
 *
 *     node test/dist/bench/raft.js [--levels 1,64,256] [--duration-ms 5000]
 *       [--warmup-ms 1000] [--failovers 7] [--slots 64] [--cpu-prof-dir DIR]
 *       [--fsync real|none|sleep:MS] [--verbose]
 *
 * 1. Load: for each level N, N concurrent proposers each propose 8-byte keys with 256-byte
 *    values (cycling through `--slots` keys per proposer) in a closed loop for warmup +
 *    duration; commits completing inside the measured window count. Prints commits/s,
 *    commit latency p50/p90/p99/max (from sending Bench.Propose to its answer, after the
 *    entry is committed and applied on the leader, including any redirect), fsyncs per
 *    commit, and each process's CPU and event-loop utilisation.
 * 2. Failover, `--failovers` rounds: SIGKILL the leader's process, at once keep proposing
 *    (a client that retries on the members it can reach, following leader hints), record
 *    the time from the kill to the first successful commit and to the first member seen
 *    leading; restart the killed member on its data dir and wait until it caught up.
 * 3. Check: every acknowledged write is read back through a linearizable read on the
 *    leader (its value, or a later one by the same proposer, must be there, with intact
 *    bytes), and all three state machines have the same digest at the same applied index.
 *
 * `--fsync` other than `real` (the default) is a diagnostic that replaces the members'
 * fdatasync (see ./raft/member.ts); such figures are not the benchmark and say so.
 * `--cpu-prof-dir` runs the members with `node --cpu-prof` (profiles are written when they
 * stop cleanly, so use it with `--failovers 0`).
 *
 * Prints a table, then one JSON line with every figure. Exits 1 on a failure (no leader
 * within 10 s, no commit within 10 s of a kill, a lost or corrupt acknowledged write,
 * diverging replicas), 2 on bad arguments. The failover target (first commit within
 * 1000 ms of the kill) is reported, not enforced.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isRpcError } from '@trellis/rpc';
import { BenchCluster, sleep, type Member } from './raft/cluster.js';
import {
  METHOD,
  decodeValue,
  encodeCommand,
  encodeKey,
  type MemberStatus,
  type WriteId,
} from './raft/protocol.js';
import { Samples, delta, median, percentile, round, type MemberDelta } from './raft/stats.js';

const { values } = parseArgs({
  options: {
    levels: { type: 'string', default: '1,64,256' },
    'duration-ms': { type: 'string', default: '5000' },
    'warmup-ms': { type: 'string', default: '1000' },
    failovers: { type: 'string', default: '7' },
    slots: { type: 'string', default: '64' },
    'cpu-prof-dir': { type: 'string' },
    fsync: { type: 'string', default: 'real' },
    verbose: { type: 'boolean', default: false },
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

const levels = values.levels.split(',').map((s) => num('levels', s, 1, 4096));
if (levels.length > 16) {
  console.error('--levels: at most 16 levels');
  process.exit(2);
}
const durationMs = num('duration-ms', values['duration-ms'], 100, 600_000);
const warmupMs = num('warmup-ms', values['warmup-ms'], 0, 600_000);
const failovers = num('failovers', values.failovers, 0, 100);
const slots = num('slots', values.slots, 1, 1 << 20);
if (!/^(real|none|sleep:\d{1,4})$/.test(values.fsync)) {
  console.error(`--fsync: real, none or sleep:MS expected, got ${values.fsync}`);
  process.exit(2);
}

const IDS = [1, 2, 3];
const LEADER_TIMEOUT_MS = 10_000;
const FAILOVER_TIMEOUT_MS = 10_000;
const CATCH_UP_TIMEOUT_MS = 20_000;
/** Level byte of failover probe writes. */
const PROBE_LEVEL = 255;
/** Per-call timeout of Bench.Propose: longer than any healthy commit, far below the deadlines. */
const CALL_TIMEOUT_MS = 3000;
/** Pause before retrying elsewhere when no member is known to lead. */
const RETRY_PAUSE_MS = 2;

// --- bookkeeping of acknowledged writes ---------------------------------------------------

/** key (hex) → the highest acknowledged seq, and the highest seq ever sent for the key. */
const acked = new Map<string, { w: WriteId; maxSent: number }>();
function noteSent(w: WriteId): void {
  const k = encodeKey(w).toString('hex');
  const cur = acked.get(k);
  if (cur) cur.maxSent = Math.max(cur.maxSent, w.seq);
  else acked.set(k, { w: { ...w, seq: -1 }, maxSent: w.seq });
}
function noteAcked(w: WriteId): void {
  const cur = acked.get(encodeKey(w).toString('hex'))!;
  if (w.seq > cur.w.seq) cur.w = { ...w };
}

// --- the client: leader routing and retries -----------------------------------------------

interface ClientCounters {
  /** Error code → count (redirects, disconnects, timeouts…). */
  errors: Record<string, number>;
  redirects: number;
}

class Router {
  #guess: number;
  constructor(
    readonly cluster: BenchCluster,
    first: number,
  ) {
    this.#guess = first;
  }
  set guess(id: number) {
    this.#guess = id;
  }
  /** The guessed leader if reachable, else the next reachable member after it. */
  pick(): Member | undefined {
    const ms = this.cluster.members;
    const start = Math.max(
      0,
      ms.findIndex((m) => m.id === this.#guess),
    );
    for (let i = 0; i < ms.length; i++) {
      const m = ms[(start + i) % ms.length]!;
      if (m.client.state === 'connected') return m;
    }
    return undefined;
  }
  /** Moves the guess past `id` (it failed or does not lead). */
  skip(id: number): void {
    const ms = this.cluster.members;
    const i = ms.findIndex((m) => m.id === id);
    this.#guess = ms[(i + 1) % ms.length]!.id;
  }
  reachable(id: number): boolean {
    return this.cluster.members.some((m) => m.id === id && m.client.state === 'connected');
  }
}

class FatalError extends Error {}

/**
 * Proposes `cmd` until it is acknowledged or `deadline` passes, following leader hints and
 * retrying elsewhere on disconnects. A put is idempotent, so a retry after an unknown
 * outcome is safe. Returns whether it was acknowledged.
 */
async function propose(
  router: Router,
  cmd: Buffer,
  deadline: number,
  c: ClientCounters,
): Promise<boolean> {
  for (let attempt = 0; attempt < 100_000; attempt++) {
    const now = performance.now();
    if (now > deadline) return false;
    const m = router.pick();
    if (!m) {
      await sleep(RETRY_PAUSE_MS);
      continue;
    }
    try {
      await m.client.call(METHOD.propose, cmd, {
        timeoutMs: Math.max(1, Math.min(CALL_TIMEOUT_MS, deadline - now)),
      });
      return true;
    } catch (e) {
      const code = isRpcError(e) ? e.code : 'ERR_OTHER';
      c.errors[code] = (c.errors[code] ?? 0) + 1;
      switch (code) {
        case 'ERR_NOT_LEADER': {
          const hint = isRpcError(e) ? Number(e.meta['leader'] ?? 0) : 0;
          if (hint !== 0 && hint !== m.id && router.reachable(hint)) {
            router.guess = hint;
            c.redirects++;
          } else {
            router.skip(m.id);
            await sleep(RETRY_PAUSE_MS);
          }
          break;
        }
        case 'ERR_PROPOSAL_DROPPED':
        case 'ERR_TIMEOUT':
        case 'ERR_RPC_OVERLOADED':
          await sleep(RETRY_PAUSE_MS);
          break;
        case 'ERR_RPC_DISCONNECTED':
        case 'ERR_RPC_CONNECT':
        case 'ERR_RPC_TIMEOUT':
        case 'ERR_RPC_CLOSED':
        case 'ERR_NODE_CLOSED':
          router.skip(m.id);
          await sleep(RETRY_PAUSE_MS);
          break;
        default:
          throw new FatalError(
            `Bench.Propose on member ${m.id} failed: ${e instanceof Error ? e.message : String(e)}`,
          );
      }
    }
  }
  return false;
}

// --- phase 1: load levels ------------------------------------------------------------------

interface ProcessFigures {
  cpuPct: number;
  eluPct: number;
}

interface LevelResult {
  proposers: number;
  commits: number;
  seconds: number;
  commitsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  unacknowledged: number;
  errors: Record<string, number>;
  leader: {
    id: number;
    fsyncsPerCommit: number;
    readiesPerCommit: number;
    entriesPerFsync: number;
    fsyncMsPerSec: number;
    msgsSentPerCommit: number;
  } & ProcessFigures;
  followers: Array<{ id: number; fsyncsPerCommit: number; fsyncMsPerSec: number } & ProcessFigures>;
  bench: ProcessFigures;
  /** 1-minute load average at the end of the window: other work on the machine shows here. */
  loadavg1: number;
}

function processFigures(d: MemberDelta): ProcessFigures {
  const wall = d.seconds * 1000;
  return {
    cpuPct: round((100 * d.cpuMs) / wall, 1),
    eluPct: round((100 * d.eluActiveMs) / (d.eluActiveMs + d.eluIdleMs), 1),
  };
}

async function sampleAll(cluster: BenchCluster): Promise<{
  members: MemberStatus[];
  bench: { cpu: NodeJS.CpuUsage; elu: ReturnType<typeof performance.eventLoopUtilization> };
  at: number;
}> {
  const bench = { cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
  const at = performance.now();
  return { members: await cluster.statuses(2000), bench, at };
}

async function runLevel(
  cluster: BenchCluster,
  level: number,
  proposers: number,
): Promise<LevelResult> {
  const { member: leader } = await cluster.waitLeader(LEADER_TIMEOUT_MS);
  const router = new Router(cluster, leader.id);
  const counters: ClientCounters = { errors: {}, redirects: 0 };
  const samples = new Samples();
  let latencySum = 0;
  let unacknowledged = 0;
  const t0 = performance.now();
  const windowStart = t0 + warmupMs;
  const windowEnd = windowStart + durationMs;
  let before: Awaited<ReturnType<typeof sampleAll>> | undefined;
  let after: Awaited<ReturnType<typeof sampleAll>> | undefined;
  const sampler = (async () => {
    await sleep(Math.max(0, windowStart - performance.now()));
    before = await sampleAll(cluster);
    await sleep(Math.max(0, windowEnd - performance.now()));
    after = await sampleAll(cluster);
  })();
  const loops = Array.from({ length: proposers }, async (_, p) => {
    // Bounded by time (windowEnd) and by count.
    for (let seq = 0; seq < 10_000_000 && performance.now() < windowEnd; seq++) {
      const w: WriteId = { level, proposer: p, slot: seq % slots, seq };
      const cmd = encodeCommand(w);
      noteSent(w);
      const start = performance.now();
      const ok = await propose(router, cmd, start + FAILOVER_TIMEOUT_MS, counters);
      const end = performance.now();
      if (!ok) {
        unacknowledged++;
        continue;
      }
      noteAcked(w);
      if (end >= windowStart && end <= windowEnd) {
        samples.push(end - start);
        latencySum += end - start;
      }
    }
  });
  await Promise.all([...loops, sampler]);
  if (!before || !after) throw new Error('status samples missing');
  const seconds = (after.at - before.at) / 1000;
  const sorted = samples.sorted();
  const commits = samples.count;
  const deltas = after.members.flatMap((a) => {
    const b = before!.members.find((x) => x.id === a.id);
    return b ? [delta(b, a)] : [];
  });
  const ld = deltas.find((d) => d.wasLeader);
  if (!ld) throw new Error(`level ${proposers}: the leader changed during the measurement`);
  const benchWall = after.at - before.at;
  const benchCpu =
    (after.bench.cpu.user +
      after.bench.cpu.system -
      before.bench.cpu.user -
      before.bench.cpu.system) /
    1000;
  const benchElu = performance.eventLoopUtilization(after.bench.elu, before.bench.elu);
  return {
    proposers,
    commits,
    seconds: round(seconds, 3),
    commitsPerSec: round(commits / seconds, 0),
    latencyMs: {
      p50: round(percentile(sorted, 0.5), 3),
      p90: round(percentile(sorted, 0.9), 3),
      p99: round(percentile(sorted, 0.99), 3),
      max: round(percentile(sorted, 1), 3),
      mean: round(latencySum / Math.max(1, commits), 3),
    },
    unacknowledged,
    errors: counters.errors,
    leader: {
      id: ld.id,
      fsyncsPerCommit: round(ld.diskFsyncs / Math.max(1, ld.proposals), 3),
      readiesPerCommit: round(ld.readies / Math.max(1, ld.proposals), 3),
      entriesPerFsync: round(ld.proposals / Math.max(1, ld.raftFsyncs), 1),
      fsyncMsPerSec: round(ld.fsyncMs / ld.seconds, 1),
      msgsSentPerCommit: round(ld.msgsSent / Math.max(1, ld.proposals), 3),
      ...processFigures(ld),
    },
    followers: deltas
      .filter((d) => d !== ld)
      .map((d) => ({
        id: d.id,
        fsyncsPerCommit: round(d.diskFsyncs / Math.max(1, ld.proposals), 3),
        fsyncMsPerSec: round(d.fsyncMs / d.seconds, 1),
        ...processFigures(d),
      })),
    bench: {
      cpuPct: round((100 * benchCpu) / benchWall, 1),
      eluPct: round(100 * benchElu.utilization, 1),
    },
    loadavg1: round(loadavg()[0]!, 2),
  };
}

// --- phase 2: failover -----------------------------------------------------------------------

interface FailoverResult {
  round: number;
  killed: number;
  newLeader: number;
  /** SIGKILL → a surviving member reports it leads (polled every few ms). */
  toLeaderMs: number;
  /** SIGKILL → the first acknowledged commit of a proposal sent after the kill. */
  toCommitMs: number;
  attempts: number;
  /** Restart of the killed member → its process printed `ready` (WAL replay included). */
  restartReadyMs: number;
  /** In the restarted process: process start → ready, and the RaftNode open (WAL replay). */
  restartProcessReadyMs: number;
  restartRaftOpenMs: number;
  restartRecoveredLastIndex: number;
  /** Restart of the killed member → it applied the leader's commit index. */
  restartCatchUpMs: number;
}

async function runFailover(cluster: BenchCluster, roundNo: number): Promise<FailoverResult> {
  await cluster.waitCaughtUp(CATCH_UP_TIMEOUT_MS);
  const { member: old } = await cluster.waitLeader(LEADER_TIMEOUT_MS);
  const router = new Router(cluster, old.id);
  const counters: ClientCounters = { errors: {}, redirects: 0 };
  let seq = 0;
  const write = async (deadline: number): Promise<boolean> => {
    const w: WriteId = { level: PROBE_LEVEL, proposer: roundNo, slot: seq % slots, seq };
    seq++;
    noteSent(w);
    const ok = await propose(router, encodeCommand(w), deadline, counters);
    if (ok) noteAcked(w);
    return ok;
  };
  if (!(await write(performance.now() + FAILOVER_TIMEOUT_MS)))
    throw new Error(
      `failover round ${roundNo}: the cluster does not accept writes before the kill`,
    );
  const survivors = cluster.members.filter((m) => m !== old);

  const killed = cluster.kill(old);
  let toLeaderMs = NaN;
  let newLeader = 0;
  const watcher = (async () => {
    for (let i = 0; i < 10_000 && performance.now() - killed.at < FAILOVER_TIMEOUT_MS; i++) {
      const sts = await Promise.all(survivors.map((m) => m.status(500).catch(() => null)));
      const l = sts.find((s) => s?.isLeader);
      if (l) {
        toLeaderMs = performance.now() - killed.at;
        newLeader = l.id;
        return;
      }
      await sleep(2);
    }
  })();
  const deadline = killed.at + FAILOVER_TIMEOUT_MS;
  let toCommitMs = NaN;
  for (let i = 0; i < 1000 && performance.now() < deadline; i++) {
    if (await write(deadline)) {
      toCommitMs = performance.now() - killed.at;
      break;
    }
  }
  await watcher;
  await killed.gone;
  if (Number.isNaN(toCommitMs))
    throw new Error(
      `failover round ${roundNo}: no commit within ${FAILOVER_TIMEOUT_MS} ms of killing leader ${old.id}`,
    );
  const attempts = Object.values(counters.errors).reduce((a, b) => a + b, 0) + 1;

  const restartAt = performance.now();
  await cluster.start(old);
  const restartReadyMs = performance.now() - restartAt;
  await cluster.waitCaughtUp(CATCH_UP_TIMEOUT_MS);
  const st = await old.status(2000);
  return {
    round: roundNo,
    killed: old.id,
    newLeader,
    toLeaderMs: round(toLeaderMs, 1),
    toCommitMs: round(toCommitMs, 1),
    attempts,
    restartReadyMs: round(restartReadyMs, 1),
    restartProcessReadyMs: round(st.startup.readyMs, 1),
    restartRaftOpenMs: round(st.startup.raftOpenMs, 1),
    restartRecoveredLastIndex: st.startup.recoveredLastIndex,
    restartCatchUpMs: round(performance.now() - restartAt, 1),
  };
}

// --- phase 3: read-back and replica agreement ----------------------------------------------

interface CheckResult {
  keysChecked: number;
  lost: number;
  corrupt: number;
  phantom: number;
  replicasAgree: boolean;
  appliedIndex: number;
  digest: string;
  problems: string[];
}

async function check(cluster: BenchCluster): Promise<CheckResult> {
  await cluster.waitCaughtUp(CATCH_UP_TIMEOUT_MS);
  const { member: leader } = await cluster.waitLeader(LEADER_TIMEOUT_MS);
  const r: CheckResult = {
    keysChecked: 0,
    lost: 0,
    corrupt: 0,
    phantom: 0,
    replicasAgree: false,
    appliedIndex: 0,
    digest: '',
    problems: [],
  };
  const problem = (s: string) => {
    if (r.problems.length < 20) r.problems.push(s);
  };
  const entries = [...acked.values()].filter((a) => a.w.seq >= 0);
  for (let off = 0; off < entries.length; off += 5000) {
    const batch = entries.slice(off, off + 5000);
    const res = (await leader.client.call(
      METHOD.get,
      { keys: batch.map((a) => encodeKey(a.w)) },
      { timeoutMs: 10_000 },
    )) as { values: Array<Uint8Array | null> };
    batch.forEach((a, i) => {
      r.keysChecked++;
      const v = res.values[i];
      const name = `level ${a.w.level} proposer ${a.w.proposer} slot ${a.w.slot}`;
      if (!v) {
        r.lost++;
        problem(`${name}: acknowledged seq ${a.w.seq} but the key is missing`);
        return;
      }
      const got = decodeValue(v);
      if (
        !got ||
        got.level !== a.w.level ||
        got.proposer !== a.w.proposer ||
        got.slot !== a.w.slot
      ) {
        r.corrupt++;
        problem(`${name}: value is corrupt or belongs to another key`);
      } else if (got.seq < a.w.seq) {
        r.lost++;
        problem(`${name}: acknowledged seq ${a.w.seq}, read seq ${got.seq}`);
      } else if (got.seq > a.maxSent) {
        r.phantom++;
        problem(`${name}: read seq ${got.seq}, never sent past ${a.maxSent}`);
      }
    });
  }
  // No writes run now: wait until every member applied the same index, then compare.
  for (let attempt = 0; attempt < 50; attempt++) {
    const ds = (await Promise.all(
      cluster.members.map((m) => m.client.call(METHOD.digest, null, { timeoutMs: 5000 })),
    )) as Array<{ applied: number; count: number; digest: string }>;
    if (ds.every((d) => d.applied === ds[0]!.applied)) {
      r.appliedIndex = ds[0]!.applied;
      r.digest = ds[0]!.digest;
      r.replicasAgree = ds.every((d) => d.digest === ds[0]!.digest && d.count === ds[0]!.count);
      if (!r.replicasAgree) problem(`replica digests differ at index ${r.appliedIndex}`);
      return r;
    }
    await sleep(100);
  }
  problem('members never reached the same applied index');
  return r;
}

// --- environment ----------------------------------------------------------------------------

function fdatasyncProbe(): { p50Ms: number; p99Ms: number } {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-fsync-probe-'));
  try {
    const fd = openSync(join(dir, 'f'), 'w');
    const buf = Buffer.alloc(300, 1);
    const s = new Samples();
    for (let i = 0; i < 200; i++) {
      writeSync(fd, buf);
      const t = performance.now();
      fdatasyncSync(fd);
      s.push(performance.now() - t);
    }
    closeSync(fd);
    const sorted = s.sorted();
    return { p50Ms: round(percentile(sorted, 0.5), 3), p99Ms: round(percentile(sorted, 0.99), 3) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

// --- main -------------------------------------------------------------------------------------

const pad = (s: string | number, n: number) => String(s).padStart(n);

function printLevels(rs: readonly LevelResult[]): void {
  console.log(
    '\nproposers  commits/s   p50 ms   p90 ms   p99 ms   max ms  fsync/commit  entries/fsync  ' +
      'leader cpu%/elu%  followers cpu%  bench cpu%  load',
  );
  for (const r of rs) {
    console.log(
      `${pad(r.proposers, 9)}  ${pad(r.commitsPerSec, 9)}  ${pad(r.latencyMs.p50.toFixed(2), 7)}  ` +
        `${pad(r.latencyMs.p90.toFixed(2), 7)}  ${pad(r.latencyMs.p99.toFixed(2), 7)}  ` +
        `${pad(r.latencyMs.max.toFixed(1), 7)}  ${pad(r.leader.fsyncsPerCommit.toFixed(3), 12)}  ` +
        `${pad(r.leader.entriesPerFsync.toFixed(1), 13)}  ` +
        `${pad(`${r.leader.cpuPct}/${r.leader.eluPct}`, 16)}  ` +
        `${pad(r.followers.map((f) => f.cpuPct).join(', '), 14)}  ${pad(r.bench.cpuPct, 10)}  ` +
        `${pad(r.loadavg1.toFixed(2), 4)}`,
    );
  }
}

async function main(): Promise<number> {
  const env = {
    node: process.version,
    platform: `${process.platform} ${release()}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    commit: gitCommit(),
    tmpdir: tmpdir(),
    loadavgAtStart: loadavg().map((v) => round(v, 2)),
    fdatasync: fdatasyncProbe(),
  };
  console.log(
    `raft bench: 3 members (separate processes), default timing, data in ${env.tmpdir} (fsync: ${values.fsync}); ` +
      `${env.cpus} CPUs (${env.cpuModel}); node ${env.node}; fdatasync probe p50 ` +
      `${env.fdatasync.p50Ms} ms p99 ${env.fdatasync.p99Ms} ms; load average ${env.loadavgAtStart.join(' ')}`,
  );
  if (values.fsync !== 'real')
    console.log(
      `DIAGNOSTIC RUN: members use --fsync ${values.fsync} instead of fdatasync; not benchmark figures`,
    );
  const cluster = await BenchCluster.create(IDS);
  cluster.verbose = values.verbose;
  cluster.fsync = values.fsync;
  if (values['cpu-prof-dir'] !== undefined)
    cluster.nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof-dir']}`];
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    console.error('interrupted; stopping members');
    void cluster.close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const out: {
    env: typeof env;
    settings: Record<string, unknown>;
    levels: LevelResult[];
    failover: FailoverResult[];
    failoverMedianMs?: number;
    failoverMaxMs?: number;
    check?: CheckResult;
    loadavgAtEnd?: number[];
    ok: boolean;
    error?: string;
  } = {
    env,
    settings: {
      levels,
      durationMs,
      warmupMs,
      failovers,
      slots,
      keyBytes: 8,
      valueBytes: 256,
      fsync: values.fsync,
    },
    levels: [],
    failover: [],
    ok: false,
  };
  try {
    const t = performance.now();
    await Promise.all(cluster.members.map((m) => cluster.start(m)));
    const { member } = await cluster.waitLeader(LEADER_TIMEOUT_MS);
    console.log(
      `cluster up: leader ${member.id} after ${round(performance.now() - t, 0)} ms ` +
        `(ports ${cluster.members.map((m) => m.port).join(', ')})`,
    );
    for (const [i, n] of levels.entries()) {
      await cluster.waitCaughtUp(CATCH_UP_TIMEOUT_MS);
      const r = await runLevel(cluster, i, n);
      out.levels.push(r);
      console.log(
        `  ${n} proposers: ${r.commitsPerSec} commits/s, p50 ${r.latencyMs.p50} ms, ` +
          `p99 ${r.latencyMs.p99} ms` +
          (Object.keys(r.errors).length > 0 ? `, errors ${JSON.stringify(r.errors)}` : ''),
      );
    }
    printLevels(out.levels);
    if (failovers > 0) console.log('\nfailover (SIGKILL of the leader):');
    for (let i = 0; i < failovers; i++) {
      const f = await runFailover(cluster, i);
      out.failover.push(f);
      console.log(
        `  round ${i + 1}: killed ${f.killed} → leader ${f.newLeader} seen after ${f.toLeaderMs} ms, ` +
          `first commit after ${f.toCommitMs} ms (${f.attempts} attempts); ` +
          `restarted member ready in ${f.restartReadyMs} ms (opening its log, up to index ` +
          `${f.restartRecoveredLastIndex}: ${f.restartRaftOpenMs} ms), caught up in ` +
          `${f.restartCatchUpMs} ms`,
      );
    }
    if (out.failover.length > 0) {
      out.failoverMedianMs = round(median(out.failover.map((f) => f.toCommitMs)), 1);
      out.failoverMaxMs = Math.max(...out.failover.map((f) => f.toCommitMs));
      console.log(
        `  kill → first commit: median ${out.failoverMedianMs} ms, max ${out.failoverMaxMs} ms ` +
          `(target: within 1000 ms${out.failoverMaxMs <= 1000 ? ', met' : ', NOT met'})`,
      );
    }
    const c = await check(cluster);
    out.check = c;
    console.log(
      `\ncheck: ${c.keysChecked} acknowledged keys read back linearizably: lost ${c.lost}, ` +
        `corrupt ${c.corrupt}, phantom ${c.phantom}; replicas ` +
        `${c.replicasAgree ? 'agree' : 'DIVERGE'} at index ${c.appliedIndex}`,
    );
    for (const p of c.problems) console.log(`  ${p}`);
    out.ok = c.lost === 0 && c.corrupt === 0 && c.phantom === 0 && c.replicasAgree;
  } catch (e) {
    out.error = e instanceof Error ? e.message : String(e);
    console.error(`raft bench failed: ${out.error}`);
    console.error(cluster.describeFailure());
  } finally {
    if (!stopping) await cluster.close();
  }
  out.loadavgAtEnd = loadavg().map((v) => round(v, 2));
  console.log(JSON.stringify(out));
  return out.ok ? 0 : 1;
}

// A hard bound on the whole run, whatever happens.
const budgetMs =
  30_000 + levels.length * (warmupMs + durationMs + 30_000) + failovers * (2 * CATCH_UP_TIMEOUT_MS);
const watchdog = setTimeout(() => {
  console.error(`raft bench: exceeded its ${budgetMs} ms budget; exiting`);
  process.exit(1);
}, budgetMs);
watchdog.unref();

process.exitCode = await main();
