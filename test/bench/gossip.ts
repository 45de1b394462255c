/**
 * Benchmark: Trellis's LAN gossip against serf (the Debian package `serf`), same machine,
 * same run. For each N, Trellis first, then serf (the order alternates with N), each with N
 * agents on 127.0.0.1 in its own network namespace (./gossip/netns.ts), never both at once:
 *
 *     node test/dist/bench/gossip.js [--n 10,20,50] [--rounds 5] [--quick]
 *       [--stall-ms 300000] [--bytes-ms 60000] [--systems trellis,serf] [--verbose]
 *
 * Both systems run their LAN defaults (memberlist DefaultLANConfig: probe 1 s, probe
 * timeout 500 ms, suspicion mult 4, gossip 200 ms to 3 nodes, push-pull 30 s; Trellis
 * `--preset lan`, no overrides) and encrypt with the same random 32-byte key (AES-256-GCM
 * on both). Events are timestamped when each member's own line arrives (./gossip/agents.ts).
 *
 * Per system and N, after all N see each other and a 10 s settle:
 * (d) steady-state gossip bytes/s per member: the namespace's loopback tx bytes over
 *     `--bytes-ms`, divided by N (IP packets as sent: UDP and TCP, headers included; the
 *     same counter for both systems, nothing else in the namespace), plus packets/s and
 *     CPU per member;
 * (c) false failures: one member (not the seed) is SIGSTOPped for 1 s every 20 s over
 *     `--stall-ms` (the 5 min; `--quick` 60 s), plus a 15 s grace; every `fail`
 *     event any member reports about anyone counts;
 * (a)+(b) `--rounds` rounds: SIGKILL a member (not the seed, not the stalled one), time
 *     until every survivor reported it failed (and until the first did); then start a new
 *     member that joins the seed, time from its join start (Trellis `ready`, serf `==>
 *     Joining cluster...`; also from its spawn) until every other member reported its join.
 *     N stays constant: each round removes one member and adds one.
 *
 * Prints a table per N (Trellis, serf, Trellis/serf) and one final JSON line with every
 * figure. Exit 0 when every figure was measured (whoever wins), 1 on a harness failure
 * (serf missing, an agent that does not start, a cluster that does not converge), 2 on
 * bad arguments. A round whose detection or join never completes (bounded waits) is
 * reported as a timeout, not a harness failure.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Agent, FIXTURE, stopAll, type System } from './gossip/agents.js';
import { NetNs } from './gossip/netns.js';
import { cpuMs, median, r, sleep, waitUntil } from './gossip/util.js';

// ---------------------------------------------------------------------------------------
// Arguments

function usage(msg: string): never {
  process.stderr.write(
    `gossip bench: ${msg}\nusage: node test/dist/bench/gossip.js [--n 10,20,50] [--rounds 5] ` +
      `[--quick] [--stall-ms MS] [--bytes-ms MS] [--systems trellis,serf] [--verbose]\n`,
  );
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      n: { type: 'string', default: '10,20,50' },
      rounds: { type: 'string', default: '5' },
      quick: { type: 'boolean', default: false },
      'stall-ms': { type: 'string' },
      'bytes-ms': { type: 'string' },
      systems: { type: 'string', default: 'trellis,serf' },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
} catch (e) {
  usage(e instanceof Error ? e.message : String(e));
}
const { values } = parsed;

const positiveInt = (s: string, what: string): number => {
  const v = Number(s);
  if (!Number.isInteger(v) || v <= 0) usage(`${what} must be a positive integer, got '${s}'`);
  return v;
};
const SIZES = values.n.split(',').map((s) => positiveInt(s.trim(), '--n'));
const ROUNDS = positiveInt(values.rounds, '--rounds');
const STALL_MS = positiveInt(
  values['stall-ms'] ?? (values.quick ? '60000' : '300000'),
  '--stall-ms',
);
const BYTES_MS = positiveInt(
  values['bytes-ms'] ?? (values.quick ? '30000' : '60000'),
  '--bytes-ms',
);
const SYSTEMS: System[] = values.systems.split(',').map((s) => {
  const v = s.trim();
  if (v !== 'trellis' && v !== 'serf') usage(`unknown system '${v}'`);
  return v;
});
const VERBOSE = values.verbose;
for (const n of SIZES) {
  if (n < ROUNDS + 3) usage(`--n ${n} is too small for ${ROUNDS} rounds (needs ≥ rounds + 3)`);
  if (n > 200) usage(`--n ${n}: at most 200 agents`);
}

/** Fixed schedule constants (ms). */
const START_TIMEOUT = 60_000;
const CONVERGE_TIMEOUT = 90_000;
const SETTLE = 10_000;
const STALL_PERIOD = 20_000;
const STALL_FOR = 1_000;
const STALL_FIRST = 5_000;
const STALL_GRACE = 15_000;
const DETECT_TIMEOUT = 120_000;
const JOIN_TIMEOUT = 60_000;
const BETWEEN_ROUNDS = 3_000;

const log = (msg: string): void =>
  void process.stderr.write(`[${new Date().toISOString()}] ${msg}\n`);
const vlog = (msg: string): void => {
  if (VERBOSE) log(msg);
};

// ---------------------------------------------------------------------------------------
// Preconditions

function serfVersion(): string {
  try {
    return execFileSync('serf', ['version'], { encoding: 'utf8', timeout: 10_000 })
      .split('\n')[0]!
      .trim();
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    process.stderr.write(
      missing
        ? 'gossip bench: `serf` was not found on PATH. Install HashiCorp serf (Debian: ' +
            '`apt-get install -y serf`) and run again.\n'
        : `gossip bench: \`serf version\` failed: ${e instanceof Error ? e.message : String(e)}\n`,
    );
    process.exit(1);
  }
}

function serfPackage(): string | null {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'serf'], {
      encoding: 'utf8',
      timeout: 10_000,
    }).trim();
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// One system at one N

interface DetectRound {
  victim: string;
  /** Kill → the last survivor reported it failed (null: timeout). */
  allMs: number | null;
  /** Kill → the first survivor reported it failed. */
  firstMs: number | null;
  missing: number;
}

interface JoinRound {
  joiner: string;
  /** Join start → the last member reported its join (null: timeout). */
  fromStartMs: number | null;
  /** Process spawn → the last member reported its join. */
  fromSpawnMs: number | null;
  missing: number;
}

interface SystemResult {
  system: System;
  n: number;
  ok: boolean;
  error?: string;
  convergeMs?: number;
  loadavg: { start: number[]; end?: number[] };
  bytes?: {
    windowMs: number;
    bytesPerSecPerMember: number | null;
    packetsPerSecPerMember: number | null;
    cpuPctPerMember: number | null;
    /** trellis only: the fixture's own transport counter (payload bytes sent). */
    payloadBytesPerSecPerMember?: number | null;
  };
  stall?: {
    durationMs: number;
    stops: number;
    victim: string;
    falseFailures: number;
    falselyFailed: string[];
  };
  detect?: { rounds: DetectRound[]; medianAllMs: number | null; medianFirstMs: number | null };
  join?: {
    rounds: JoinRound[];
    medianFromStartMs: number | null;
    medianFromSpawnMs: number | null;
  };
}

/** Every process we started, so an interrupt can stop them by PID. */
const live = new Set<Agent>();
const namespaces = new Set<NetNs>();

async function runSystem(
  system: System,
  n: number,
  key: string,
  slot: number,
): Promise<SystemResult> {
  const res: SystemResult = {
    system,
    n,
    ok: false,
    loadavg: { start: loadavg().map((x) => r(x, 2)!) },
  };
  const { ns, warning } = await NetNs.create();
  namespaces.add(ns);
  if (warning !== undefined) log(`WARNING: ${warning}`);
  const agents: Agent[] = [];
  // Distinct port ranges per system (and per N), though each runs in its own namespace.
  const basePort = (system === 'trellis' ? 17_000 : 27_000) + slot * 300;
  let nextIndex = 0;
  const spawnAgent = (name: string, join?: string): Agent => {
    const i = nextIndex++;
    const a = new Agent(
      {
        system,
        name,
        port: basePort + i,
        rpcPort: basePort + 1_000 + i,
        key,
        ...(join !== undefined ? { join } : {}),
      },
      ns,
    );
    agents.push(a);
    live.add(a);
    return a;
  };
  const prefix = system === 'trellis' ? 't' : 's';
  try {
    // --- start: a seed, then N − 1 members joining it, all at once.
    const t0 = performance.now();
    const seed = spawnAgent(`${prefix}0`);
    await withTimeout(seed.ready, START_TIMEOUT, `${system} seed start`);
    for (let i = 1; i < n; i++) spawnAgent(`${prefix}${i}`, seed.addr);
    await withTimeout(Promise.all(agents.map((a) => a.ready)), START_TIMEOUT, `${system} start`);
    const names = agents.map((a) => a.name);
    if (!(await waitUntil(() => agents.every((a) => a.seesAll(names)), CONVERGE_TIMEOUT, 200))) {
      const behind = agents.filter((a) => !a.seesAll(names)).map((a) => a.name);
      throw new Error(
        `${system} N=${n}: not converged in ${CONVERGE_TIMEOUT} ms (${behind.join(',')})`,
      );
    }
    res.convergeMs = r(performance.now() - t0, 0)!;
    log(`${system} N=${n}: ${n} agents see each other ${res.convergeMs} ms after the first spawn`);
    await sleep(SETTLE);

    // --- (d) steady-state bytes per member.
    const pids = agents.map((a) => a.pid);
    const lo0 = ns.lo();
    const cpu0 = pids.map(cpuMs);
    const st0 = system === 'trellis' ? await Promise.all(agents.map((a) => a.stats())) : [];
    const w0 = performance.now();
    await sleep(BYTES_MS);
    const lo1 = ns.lo();
    const cpu1 = pids.map(cpuMs);
    const st1 = system === 'trellis' ? await Promise.all(agents.map((a) => a.stats())) : [];
    const secs = (performance.now() - w0) / 1000;
    const cpuSum = cpu1.reduce((s, v, i) => s + (v - cpu0[i]!), 0);
    res.bytes = {
      windowMs: r(secs * 1000, 0)!,
      bytesPerSecPerMember: r((lo1.txBytes - lo0.txBytes) / secs / n),
      packetsPerSecPerMember: r((lo1.txPackets - lo0.txPackets) / secs / n, 2),
      cpuPctPerMember: r(cpuSum / 10 / secs / n, 2),
    };
    if (system === 'trellis') {
      const out = (s: Record<string, unknown> | null | undefined): number =>
        s ? Number(s['bytesOut']) : NaN;
      const payload = st1.reduce((sum, s, i) => sum + out(s) - out(st0[i]), 0);
      res.bytes.payloadBytesPerSecPerMember = r(payload / secs / n);
    }
    log(`${system} N=${n}: (d) ${JSON.stringify(res.bytes)}`);

    // --- (c) SIGSTOP one member for 1 s every 20 s; count every fail event.
    const stalled = agents[n - 1]!;
    const c0 = performance.now();
    let stops = 0;
    try {
      for (let k = 0; STALL_FIRST + k * STALL_PERIOD + STALL_FOR <= STALL_MS; k++) {
        await sleep(c0 + STALL_FIRST + k * STALL_PERIOD - performance.now());
        stalled.signal('SIGSTOP');
        stops++;
        await sleep(STALL_FOR);
        stalled.signal('SIGCONT');
        vlog(`${system} N=${n}: stop ${stops} of ${stalled.name} done`);
      }
    } finally {
      stalled.signal('SIGCONT');
    }
    await sleep(c0 + STALL_MS + STALL_GRACE - performance.now());
    const fails = agents.flatMap((a) => a.events.filter((e) => e.kind === 'fail' && e.at >= c0));
    res.stall = {
      durationMs: STALL_MS,
      stops,
      victim: stalled.name,
      falseFailures: fails.length,
      falselyFailed: [...new Set(fails.map((e) => e.name))],
    };
    log(`${system} N=${n}: (c) ${JSON.stringify(res.stall)}`);

    // --- (a) + (b): kill one, then a new member joins; N stays constant.
    const detect: DetectRound[] = [];
    const joins: JoinRound[] = [];
    const current = agents.slice(0, n);
    for (let round = 0; round < ROUNDS; round++) {
      // Victims: the initial members 1, 2, … (never the seed t0/s0 nor the stalled one).
      const victim = agents[1 + round]!;
      const survivors = current.filter((a) => a !== victim);
      const tk = performance.now();
      victim.signal('SIGKILL');
      const failedAt = (a: Agent): number | undefined => a.first('fail', victim.name, tk)?.at;
      await waitUntil(() => survivors.every((a) => failedAt(a) !== undefined), DETECT_TIMEOUT, 20);
      const seen = survivors.map(failedAt).filter((x): x is number => x !== undefined);
      const missing = survivors.length - seen.length;
      detect.push({
        victim: victim.name,
        allMs: missing === 0 ? r(Math.max(...seen) - tk, 0) : null,
        firstMs: seen.length > 0 ? r(Math.min(...seen) - tk, 0) : null,
        missing,
      });
      current.splice(current.indexOf(victim), 1);
      vlog(`${system} N=${n}: (a) round ${round}: ${JSON.stringify(detect.at(-1))}`);

      const joiner = spawnAgent(`${prefix}j${round}`, seed.addr);
      await withTimeout(joiner.ready, START_TIMEOUT, `${system} joiner start`);
      const observers = [...current];
      const joinedAt = (a: Agent): number | undefined => a.first('join', joiner.name)?.at;
      await waitUntil(() => observers.every((a) => joinedAt(a) !== undefined), JOIN_TIMEOUT, 20);
      const js = observers.map(joinedAt).filter((x): x is number => x !== undefined);
      const jm = observers.length - js.length;
      joins.push({
        joiner: joiner.name,
        fromStartMs: jm === 0 ? r(Math.max(...js) - joiner.startAt, 0) : null,
        fromSpawnMs: jm === 0 ? r(Math.max(...js) - joiner.spawnedAt, 0) : null,
        missing: jm,
      });
      current.push(joiner);
      vlog(`${system} N=${n}: (b) round ${round}: ${JSON.stringify(joins.at(-1))}`);
      await sleep(BETWEEN_ROUNDS);
    }
    const med = (xs: (number | null)[]): number | null =>
      r(median(xs.filter((x): x is number => x !== null)), 0);
    res.detect = {
      rounds: detect,
      medianAllMs: med(detect.map((d) => d.allMs)),
      medianFirstMs: med(detect.map((d) => d.firstMs)),
    };
    res.join = {
      rounds: joins,
      medianFromStartMs: med(joins.map((j) => j.fromStartMs)),
      medianFromSpawnMs: med(joins.map((j) => j.fromSpawnMs)),
    };
    log(`${system} N=${n}: (a) ${JSON.stringify(res.detect)}`);
    log(`${system} N=${n}: (b) ${JSON.stringify(res.join)}`);
    res.ok = true;
  } catch (e) {
    res.error = e instanceof Error ? e.message : String(e);
    log(`HARNESS FAILURE ${system} N=${n}: ${res.error}`);
    for (const a of agents.filter((x) => x.tail.length > 0).slice(0, 3)) {
      log(`  ${a.name} last output: ${a.tail.slice(-5).join(' | ')}`);
    }
  } finally {
    await stopAll(agents);
    for (const a of agents) live.delete(a);
    ns.close();
    namespaces.delete(ns);
    res.loadavg.end = loadavg().map((x) => r(x, 2)!);
  }
  return res;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------
// Report

const fmt = (v: number | null | undefined, unit = ''): string =>
  v === null || v === undefined ? 'n/a' : `${v}${unit}`;

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined) return 'n/a';
  if (b === 0) return a === 0 ? '1.00' : '∞';
  return (a / b).toFixed(2);
}

function verdict(t: number | null | undefined, s: number | null | undefined): string {
  if (t === null || t === undefined || s === null || s === undefined) return '?';
  return t <= s ? 'met' : 'MISSED';
}

function table(n: number, t: SystemResult | undefined, s: SystemResult | undefined): string {
  type Row = [string, number | null | undefined, number | null | undefined, string];
  const tf = (res: SystemResult | undefined): number | null | undefined =>
    res?.stall?.falseFailures;
  const rows: Row[] = [
    [
      '(a) SIGKILL → every survivor: failed, median ms',
      t?.detect?.medianAllMs,
      s?.detect?.medianAllMs,
      verdict(t?.detect?.medianAllMs, s?.detect?.medianAllMs),
    ],
    ['    … first survivor, median ms', t?.detect?.medianFirstMs, s?.detect?.medianFirstMs, ''],
    [
      '(b) join start → every member sees it, median ms',
      t?.join?.medianFromStartMs,
      s?.join?.medianFromStartMs,
      verdict(t?.join?.medianFromStartMs, s?.join?.medianFromStartMs),
    ],
    [
      '    … from process spawn, median ms',
      t?.join?.medianFromSpawnMs,
      s?.join?.medianFromSpawnMs,
      '',
    ],
    [
      `(c) false failures, ${fmt(t?.stall?.stops ?? s?.stall?.stops)} × 1 s SIGSTOP`,
      tf(t),
      tf(s),
      tf(t) === undefined ? '?' : tf(t) === 0 ? 'met' : 'MISSED',
    ],
    [
      '(d) gossip bytes/s per member (lo, IP)',
      t?.bytes?.bytesPerSecPerMember,
      s?.bytes?.bytesPerSecPerMember,
      verdict(t?.bytes?.bytesPerSecPerMember, s?.bytes?.bytesPerSecPerMember),
    ],
    [
      '    packets/s per member',
      t?.bytes?.packetsPerSecPerMember,
      s?.bytes?.packetsPerSecPerMember,
      '',
    ],
    [
      '    CPU % per member (steady state)',
      t?.bytes?.cpuPctPerMember,
      s?.bytes?.cpuPctPerMember,
      '',
    ],
    ['start → all N see all N, ms', t?.convergeMs, s?.convergeMs, ''],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const line = (a: string, b: string, c: string, d: string, e: string): string =>
    `${a.padEnd(w0)}  ${b.padStart(9)}  ${c.padStart(9)}  ${d.padStart(7)}  ${e}`;
  const out = [
    `\nN = ${n}`,
    line('', 'trellis', 'serf', 't/s', 'goal'),
    line('-'.repeat(w0), '-'.repeat(9), '-'.repeat(9), '-'.repeat(7), '----'),
  ];
  for (const [label, a, b, g] of rows) out.push(line(label, fmt(a), fmt(b), ratio(a, b), g));
  const per = (res: SystemResult | undefined, f: (x: SystemResult) => (number | null)[]): string =>
    res?.detect
      ? f(res)
          .map((v) => fmt(v))
          .join(' ')
      : 'n/a';
  out.push(
    `(a) rounds, ms — trellis: ${per(t, (x) => x.detect!.rounds.map((d) => d.allMs))}; ` +
      `serf: ${per(s, (x) => x.detect!.rounds.map((d) => d.allMs))}`,
  );
  out.push(
    `(b) rounds, ms — trellis: ${per(t, (x) => x.join!.rounds.map((d) => d.fromStartMs))}; ` +
      `serf: ${per(s, (x) => x.join!.rounds.map((d) => d.fromStartMs))}`,
  );
  for (const res of [t, s])
    if (res && !res.ok) out.push(`${res.system}: HARNESS FAILURE: ${res.error}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------
// Main

async function shutdown(code: number): Promise<never> {
  await stopAll([...live]);
  for (const ns of namespaces) ns.close();
  process.exit(code);
}

async function main(): Promise<void> {
  const serf = serfVersion();
  const serfPkg = serfPackage();
  if (SYSTEMS.includes('trellis') && !existsSync(FIXTURE)) {
    process.stderr.write(`gossip bench: ${FIXTURE} is missing; build first (npx tsc -b test)\n`);
    process.exit(1);
  }
  process.on('SIGINT', () => void shutdown(130));
  process.on('SIGTERM', () => void shutdown(143));
  const key = randomBytes(32).toString('base64');
  const started = new Date().toISOString();
  log(
    `gossip bench: N=${SIZES.join(',')} rounds=${ROUNDS} stall=${STALL_MS} ms bytes window=${BYTES_MS} ms; ` +
      `serf ${serf} (package ${serfPkg ?? '?'}); ${cpus().length} CPUs, loadavg ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
  );
  const results: SystemResult[] = [];
  for (const [slot, n] of SIZES.entries()) {
    // Alternate which system goes first, so neither always runs on a warmer/colder host.
    const order = slot % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse();
    for (const system of order) results.push(await runSystem(system, n, key, slot));
  }
  for (const n of SIZES) {
    const get = (s: System): SystemResult | undefined =>
      results.find((x) => x.n === n && x.system === s);
    process.stdout.write(table(n, get('trellis'), get('serf')) + '\n');
  }
  const harnessOk = results.every((x) => x.ok);
  const summary = {
    bench: 'gossip-vs-serf',
    started,
    finished: new Date().toISOString(),
    config: {
      sizes: SIZES,
      rounds: ROUNDS,
      stallMs: STALL_MS,
      stallEveryMs: STALL_PERIOD,
      stallForMs: STALL_FOR,
      bytesWindowMs: BYTES_MS,
      profile: 'lan (trellis --preset lan; serf default -profile=lan)',
      encryption: 'both: the same random 32-byte key (AES-256-GCM)',
      byteCounter: 'namespace loopback tx bytes (IP packets incl. headers) / N / s',
      serfVersion: serf,
      serfPackage: serfPkg,
      node: process.version,
      cpus: cpus().length,
    },
    harnessOk,
    results,
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.exit(harnessOk ? 0 : 1);
}

main().catch((e: unknown) => {
  log(`gossip bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  void shutdown(1);
});
