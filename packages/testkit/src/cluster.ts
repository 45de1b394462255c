/**
 * A multi-process launcher for real-process tests, benchmarks and chaos drills: free
 * loopback ports, a temporary directory per run, agent processes whose stdout and stderr go
 * to one log file each, a bounded wait for an agreed Raft leader, and the faults a drill
 * needs — SIGKILL, SIGSTOP/SIGCONT, restart on the same arguments and data dir.
 *
 *     const cluster = await TrellisCluster.start({ cli: 'cmd/trellis/bin/trellis.js' });
 *     try {
 *       const { leader } = await cluster.waitForLeader();
 *       const killed = cluster.kill(leader);          // SIGKILL, by PID
 *       await killed.exited;
 *       await cluster.restart(leader);                // same args, same data dir
 *     } finally {
 *       await cluster.close();                        // stop every process, remove the dir
 *     }
 *
 * Contracts:
 * - Every signal goes to the PID of a process this module spawned and still sees running
 *   (never a process name, never a PID that has already been reaped, so never a reused one).
 * - Every wait is bounded and polls; nothing sleeps a fixed time.
 * - A process left running when the Node process exits normally is SIGKILLed from an
 *   `exit` hook, so an aborted test does not leak agents. Callers that handle SIGINT or
 *   SIGTERM should still call {@link TrellisCluster.close}.
 * - Ports are probed free on TCP and UDP (Serf LAN uses both) and released before the
 *   agents bind them; another process can take one in between, which shows up as an agent
 *   failing to start (its log says why).
 *
 * {@link ManagedProcess} is the generic part (any command: etcd, a fixture, a `node -e`
 * child); {@link TrellisCluster} knows the agent's command line and HTTP API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

// --- defaults -------------------------------------------------------------------------------

/** How long a stopped process gets between SIGTERM and SIGKILL. */
const DEFAULT_STOP_GRACE_MS = 5000;
/** How long to wait for a SIGKILLed process to be reaped before giving up on it. */
const KILL_REAP_MS = 5000;
/** Bound on a leader wait: elections take ~1–2 s; a cold start with a join, a few more. */
const DEFAULT_LEADER_TIMEOUT_MS = 30_000;
/** Interval of the leader poll (each poll asks every agent once, concurrently). */
const DEFAULT_POLL_MS = 50;
/** Per-request timeout of the launcher's own HTTP probes. */
const PROBE_TIMEOUT_MS = 1000;
/** Attempts to find one port that is free on both TCP and UDP. */
const PORT_ATTEMPTS = 64;
/** Ports handed out by this process are not handed out again (up to this many remembered). */
const PORT_MEMORY = 8192;
/** Bytes read from the end of a log file for {@link ManagedProcess.logTail}. */
const LOG_TAIL_BYTES = 64 * 1024;

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

// --- ports ----------------------------------------------------------------------------------

const handedOut = new Set<number>();

function remember(port: number): void {
  handedOut.add(port);
  if (handedOut.size > PORT_MEMORY) {
    const oldest = handedOut.values().next().value;
    if (oldest !== undefined) handedOut.delete(oldest);
  }
}

function listenTcp(host: string, port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen({ host, port, exclusive: true }, () => resolve(s));
  });
}

function bindUdp(host: string, port: number): Promise<ReturnType<typeof createSocket> | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(null);
    });
    s.bind({ address: host, port, exclusive: true }, () => resolve(s));
  });
}

/**
 * `n` distinct ports on `host` that were free on both TCP and UDP a moment ago: each is
 * found by binding TCP port 0, then UDP on the same number; all stay bound until every one
 * is found (so they differ), then all are released. Ports this process handed out before
 * are skipped. Throws when a free pair cannot be found in a bounded number of attempts.
 */
export async function allocatePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  if (!Number.isSafeInteger(n) || n < 0 || n > 1024) {
    throw new RangeError(`allocatePorts: n must be an integer in [0, 1024], got ${n}`);
  }
  const held: Array<{ tcp: Server; udp: ReturnType<typeof createSocket> | null }> = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      let found = false;
      for (let attempt = 0; attempt < PORT_ATTEMPTS && !found; attempt++) {
        const tcp = await listenTcp(host, 0);
        if (!tcp) throw new Error(`allocatePorts: cannot bind TCP on ${host}`);
        const port = (tcp.address() as { port: number }).port;
        const udp = handedOut.has(port) ? null : await bindUdp(host, port);
        if (!udp) {
          // Keep the TCP socket bound until the search ends so port 0 yields another number.
          held.push({ tcp, udp: null });
          continue;
        }
        held.push({ tcp, udp });
        ports.push(port);
        found = true;
      }
      if (!found)
        throw new Error(`allocatePorts: no port free on TCP and UDP after ${PORT_ATTEMPTS} tries`);
    }
  } finally {
    await Promise.all(
      held.map(
        ({ tcp, udp }) =>
          new Promise<void>((resolve) => {
            udp?.close();
            tcp.close(() => resolve());
          }),
      ),
    );
  }
  for (const p of ports) remember(p);
  return ports;
}

// --- processes ------------------------------------------------------------------------------

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ProcessSpec {
  /** A label for logs and errors. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Receives stdout and stderr of every run, appended, with a header line per start. */
  readonly logFile: string;
  readonly cwd?: string;
  /** The child's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

/** Live processes of this module, SIGKILLed if the Node process exits with them running. */
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.killSync();
  });
}

/**
 * One child process, started and restarted with the same command line, signalled only by
 * its own PID while it is alive. stdout and stderr go straight to the log file (no pipes,
 * so a chatty or paused parent never blocks the child).
 */
export class ManagedProcess {
  readonly spec: ProcessSpec;
  #child: ChildProcess | null = null;
  #exited: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  #paused = false;
  #expected = false;
  /** How many times it was started. */
  starts = 0;
  /** How its previous run ended; null while none ended. */
  lastExit: ExitInfo | null = null;
  /** performance.now() of the latest start. */
  startedAt = NaN;

  constructor(spec: ProcessSpec) {
    this.spec = spec;
  }

  get name(): string {
    return this.spec.name;
  }

  get logFile(): string {
    return this.spec.logFile;
  }

  /** The PID of the current run while it is alive. */
  get pid(): number | undefined {
    return this.alive ? this.#child?.pid : undefined;
  }

  /** Started and not yet exited (running or paused). */
  get alive(): boolean {
    const c = this.#child;
    return c !== null && c.pid !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Alive and not SIGSTOPped by {@link pause}. */
  get running(): boolean {
    return this.alive && !this.#paused;
  }

  get paused(): boolean {
    return this.alive && this.#paused;
  }

  /**
   * Started and not since killed or stopped through this object: it should be alive, and
   * if it is not, it crashed (see {@link crashed}).
   */
  get expectedRunning(): boolean {
    return this.#expected;
  }

  /** It exited on its own (not by {@link kill} or {@link stop}). */
  get crashed(): boolean {
    return this.#expected && !this.alive;
  }

  /** Settles when the current (or last) run exits. */
  get exited(): Promise<ExitInfo> {
    return this.#exited;
  }

  /** Spawns the process. Throws if it is alive or cannot be spawned. */
  start(): void {
    if (this.alive) throw new Error(`${this.name}: already running (pid ${this.pid})`);
    const fd = openSync(this.spec.logFile, 'a');
    try {
      this.starts++;
      writeSync(
        fd,
        `=== ${this.name}: start ${this.starts} at ${new Date().toISOString()}: ` +
          `${[this.spec.command, ...this.spec.args].join(' ')}\n`,
      );
      const child = spawn(this.spec.command, [...this.spec.args], {
        stdio: ['ignore', fd, fd],
        cwd: this.spec.cwd,
        env: this.spec.env ?? process.env,
      });
      this.#child = child;
      this.#paused = false;
      this.#expected = true;
      this.startedAt = performance.now();
      this.#exited = new Promise<ExitInfo>((resolve) => {
        const done = (info: ExitInfo) => {
          live.delete(this);
          this.lastExit = info;
          this.#paused = false;
          resolve(info);
        };
        child.once('exit', (code, signal) => done({ code, signal }));
        child.once('error', () => {
          if (child.pid === undefined) done({ code: null, signal: null });
        });
      });
      if (child.pid === undefined) {
        throw new Error(`${this.name}: cannot spawn ${this.spec.command}`);
      }
      live.add(this);
      installExitHook();
    } finally {
      closeSync(fd);
    }
  }

  /** Sends `signal` to the PID of the live child; returns when it was sent. */
  signal(signal: NodeJS.Signals): number {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`${this.name}: not running`);
    process.kill(pid, signal);
    return performance.now();
  }

  /**
   * SIGKILLs the process (by PID). `at` is the performance.now() of the kill; `exited`
   * settles when it is reaped (or after a bound, with null fields).
   */
  kill(): { at: number; exited: Promise<ExitInfo> } {
    const exited = this.#exited;
    const at = this.signal('SIGKILL');
    this.#expected = false;
    return {
      at,
      exited: Promise.race([
        exited,
        sleep(KILL_REAP_MS).then(() => ({ code: null, signal: null })),
      ]),
    };
  }

  /** SIGSTOP: the process stays alive but does nothing until {@link resume}. */
  pause(): number {
    const at = this.signal('SIGSTOP');
    this.#paused = true;
    return at;
  }

  /** SIGCONT after {@link pause}. */
  resume(): number {
    const at = this.signal('SIGCONT');
    this.#paused = false;
    return at;
  }

  /**
   * SIGTERM, then SIGKILL if it is still alive after `graceMs`. A paused process is
   * continued so that it can act on the SIGTERM. Resolves with how it exited (null if it
   * was not running).
   */
  async stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<ExitInfo | null> {
    this.#expected = false;
    if (!this.alive) return null;
    const exited = this.#exited;
    this.signal('SIGTERM');
    if (this.#paused) this.resume();
    const first = await Promise.race([exited, sleep(graceMs).then(() => null)]);
    if (first) return first;
    if (this.alive) this.signal('SIGKILL');
    return Promise.race([exited, sleep(KILL_REAP_MS).then(() => null)]);
  }

  /** Stops the process if it is alive, then starts it again with the same command line. */
  async restart(graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
    await this.stop(graceMs);
    this.start();
  }

  /** Synchronous SIGKILL of a live child, for exit hooks; never throws. */
  killSync(): void {
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** The last `lines` lines of the log file (all runs), or '' if there is none. */
  logTail(lines = 40): string {
    let fd: number;
    try {
      fd = openSync(this.spec.logFile, 'r');
    } catch {
      return '';
    }
    try {
      const size = fstatSync(fd).size;
      const len = Math.min(size, LOG_TAIL_BYTES);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      const all = buf.toString('utf8').split('\n');
      if (all[all.length - 1] === '') all.pop();
      return all.slice(-lines).join('\n');
    } finally {
      closeSync(fd);
    }
  }

  /** Resident set size in bytes (VmRSS from /proc/<pid>/status), undefined if unknown. */
  rssBytes(): number | undefined {
    return procStatusKiB(this.pid, 'VmRSS');
  }

  /** Peak resident set size in bytes (VmHWM), undefined if unknown. */
  peakRssBytes(): number | undefined {
    return procStatusKiB(this.pid, 'VmHWM');
  }
}

/** A `kB` field of /proc/<pid>/status, in bytes. */
export function procStatusKiB(pid: number | undefined, field: string): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// --- HTTP probes ----------------------------------------------------------------------------

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * One GET on a fresh connection (no keep-alive: a killed or paused agent must not poison a
 * pooled socket), bounded by `timeoutMs`. Rejects on network errors and timeouts.
 */
export function httpGet(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1 << 20) req.destroy(new Error('answer over 1 MiB'));
        else chunks.push(c);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

// --- the Trellis cluster --------------------------------------------------------------------

export interface AgentPorts {
  readonly http: number;
  /** Server RPC (Raft) port: what /v1/status/leader names. */
  readonly server: number;
  readonly serfLan: number;
}

export interface ClusterOptions {
  /** Path of the CLI entry point (cmd/trellis/bin/trellis.js). */
  readonly cli: string;
  /** Server agents (default 3); ignored with `dev`. */
  readonly servers?: number;
  /** One `agent -dev` instead of servers. */
  readonly dev?: boolean;
  /**
   * Client agents (default 0), named `c1`, `c2`, … after the servers, each joining every
   * server's gossip port (`-retry-join`).
   */
  readonly clients?: number;
  /** Default dc1. */
  readonly datacenter?: string;
  /** Node names are `${prefix}${i}` from 1 (default `s`; `dev` for a dev agent). */
  readonly nodePrefix?: string;
  /** Flags for `node` itself, before the CLI path (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  /** Extra agent flags, appended to each agent's command line (servers and clients). */
  readonly extraArgs?: (agent: {
    name: string;
    index: number;
    ports: AgentPorts;
    server: boolean;
  }) => string[];
  /** Where the run's temporary directory is created (default os.tmpdir()). */
  readonly parentDir?: string;
  /** Keep the directory (data and logs) on {@link TrellisCluster.close}. */
  readonly keepDir?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  /** Bound of the initial leader wait in {@link TrellisCluster.start}. */
  readonly leaderTimeoutMs?: number;
}

export interface TrellisAgent extends ManagedProcess {
  readonly index: number;
  readonly ports: AgentPorts;
  /** The agent's -data-dir (created, empty at first; unused by a dev agent). */
  readonly dataDir: string;
  /** `http://127.0.0.1:<http port>` */
  readonly httpUrl: string;
  /** `127.0.0.1:<server port>`: the form /v1/status/leader answers with. */
  readonly serverAddr: string;
}

class Agent extends ManagedProcess implements TrellisAgent {
  constructor(
    spec: ProcessSpec,
    readonly index: number,
    readonly ports: AgentPorts,
    readonly dataDir: string,
  ) {
    super(spec);
  }
  get httpUrl(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }
  get serverAddr(): string {
    return `127.0.0.1:${this.ports.server}`;
  }
}

export interface LeaderInfo {
  readonly leader: TrellisAgent;
  /** What every asked agent answered, e.g. `127.0.0.1:8300`. */
  readonly address: string;
  /** How long the wait took. */
  readonly elapsedMs: number;
}

export interface WaitForLeaderOptions {
  readonly timeoutMs?: number;
  readonly pollMs?: number;
  /**
   * The agents that must agree (default: every one started and not since killed, stopped
   * or paused through the launcher).
   */
  readonly among?: readonly TrellisAgent[];
  readonly signal?: AbortSignal;
}

/** The cluster did not start or did not agree on a leader in time; carries the log tails. */
export class ClusterError extends Error {
  constructor(
    readonly code: 'ERR_CLUSTER_NO_LEADER' | 'ERR_CLUSTER_EXITED' | 'ERR_CLUSTER_ABORTED',
    message: string,
  ) {
    super(message);
    this.name = 'ClusterError';
  }
}

/**
 * N server agents (or one dev agent) on loopback, each in its own process with its own
 * ports, data dir and log file under one temporary directory.
 */
export class TrellisCluster {
  readonly dir: string;
  readonly agents: readonly TrellisAgent[];
  readonly #keepDir: boolean;
  #closed = false;

  private constructor(dir: string, agents: TrellisAgent[], keepDir: boolean) {
    this.dir = dir;
    this.agents = agents;
    this.#keepDir = keepDir;
  }

  /**
   * Allocates ports, creates the directories and spawns every agent; does not wait for a
   * leader (see {@link start} for that).
   */
  static async spawn(options: ClusterOptions): Promise<TrellisCluster> {
    const dev = options.dev ?? false;
    const n = dev ? 1 : (options.servers ?? 3);
    if (!Number.isSafeInteger(n) || n < 1 || n > 64) {
      throw new RangeError(`servers must be an integer in [1, 64], got ${n}`);
    }
    const prefix = options.nodePrefix ?? (dev ? 'dev' : 's');
    const dc = options.datacenter ?? 'dc1';
    const clients = options.clients ?? 0;
    if (!Number.isSafeInteger(clients) || clients < 0 || clients > 256) {
      throw new RangeError(`clients must be an integer in [0, 256], got ${clients}`);
    }
    const total = n + clients;
    const flat = await allocatePorts(3 * total);
    const ports: AgentPorts[] = Array.from({ length: total }, (_, i) => ({
      http: flat[3 * i]!,
      server: flat[3 * i + 1]!,
      serfLan: flat[3 * i + 2]!,
    }));
    const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), 'trellis-cluster-'));
    const agents: Agent[] = [];
    const serverPorts = ports.slice(0, n);
    for (let i = 0; i < total; i++) {
      const server = i < n;
      const name = server ? (dev ? prefix : `${prefix}${i + 1}`) : `c${i - n + 1}`;
      const home = join(dir, name);
      const dataDir = join(home, 'data');
      mkdirSync(dataDir, { recursive: true });
      const p = ports[i]!;
      const args = [
        ...(options.nodeArgs ?? []),
        options.cli,
        'agent',
        ...(!server ? [] : dev ? ['-dev'] : ['-server', `-bootstrap-expect=${n}`]),
        `-node=${name}`,
        `-datacenter=${dc}`,
        ...(dev && server ? [] : [`-data-dir=${dataDir}`]),
        '-bind=127.0.0.1',
        '-client=127.0.0.1',
        `-http-port=${p.http}`,
        `-server-port=${p.server}`,
        `-serf-lan-port=${p.serfLan}`,
        '-dns-port=-1',
        '-grpc-port=-1',
        ...serverPorts.filter((_, j) => j !== i).map((q) => `-retry-join=127.0.0.1:${q.serfLan}`),
        ...(options.extraArgs?.({ name, index: i, ports: p, server }) ?? []),
      ];
      const spec: ProcessSpec = {
        name,
        command: process.execPath,
        args,
        logFile: join(home, 'agent.log'),
        ...(options.env ? { env: options.env } : {}),
      };
      agents.push(new Agent(spec, i, p, dataDir));
    }
    const cluster = new TrellisCluster(dir, agents, options.keepDir ?? false);
    try {
      for (const a of agents) a.start();
    } catch (e) {
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  /**
   * {@link spawn}, then waits for an agreed leader. On failure stops everything, removes the
   * directory (unless `keepDir`) and throws a {@link ClusterError} with every log's tail.
   */
  static async start(options: ClusterOptions): Promise<TrellisCluster> {
    const cluster = await TrellisCluster.spawn(options);
    try {
      await cluster.waitForLeader({
        timeoutMs: options.leaderTimeoutMs ?? DEFAULT_LEADER_TIMEOUT_MS,
      });
      return cluster;
    } catch (e) {
      const logs = cluster.describe();
      await cluster.close();
      const msg = e instanceof Error ? e.message : String(e);
      throw new ClusterError(
        e instanceof ClusterError ? e.code : 'ERR_CLUSTER_NO_LEADER',
        `${msg}\n${logs}`,
      );
    }
  }

  agent(name: string): TrellisAgent {
    const a = this.agents.find((x) => x.name === name);
    if (!a) throw new Error(`no agent ${name}`);
    return a;
  }

  /**
   * What each agent in `among` answers to GET /v1/status/leader (undefined: no answer, an
   * error status or not a JSON string).
   */
  async leaderViews(
    among: readonly TrellisAgent[] = this.agents.filter((a) => a.running),
    timeoutMs = PROBE_TIMEOUT_MS,
  ): Promise<Array<string | undefined>> {
    return Promise.all(
      among.map(async (a) => {
        try {
          const r = await httpGet(`${a.httpUrl}/v1/status/leader`, timeoutMs);
          if (r.status !== 200) return undefined;
          const v: unknown = JSON.parse(r.body);
          return typeof v === 'string' ? v : undefined;
        } catch {
          return undefined;
        }
      }),
    );
  }

  /** The agent whose server address is `address` (`host:port` as /v1/status/leader says). */
  agentByServerAddr(address: string): TrellisAgent | undefined {
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    return this.agents.find((a) => a.ports.server === port);
  }

  /**
   * Polls until every agent in `among` names the same non-empty leader and that leader is
   * one of them (so it is alive and answering). Throws {@link ClusterError} after the bound,
   * or as soon as an agent in `among` exits.
   */
  async waitForLeader(options: WaitForLeaderOptions = {}): Promise<LeaderInfo> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_LEADER_TIMEOUT_MS;
    const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    const t0 = performance.now();
    const deadline = t0 + timeoutMs;
    let last: Array<string | undefined> = [];
    for (let i = 0; i < 1_000_000; i++) {
      if (options.signal?.aborted) {
        throw new ClusterError('ERR_CLUSTER_ABORTED', 'leader wait aborted');
      }
      const among = options.among ?? this.#expectedUp();
      const dead = among.filter((a) => !a.alive);
      if (dead.length > 0) {
        throw new ClusterError(
          'ERR_CLUSTER_EXITED',
          `${dead.map((a) => `${a.name} exited (${describeExit(a.lastExit)})`).join(', ')} ` +
            'while waiting for a leader',
        );
      }
      if (among.length > 0) {
        last = await this.leaderViews(among, Math.min(PROBE_TIMEOUT_MS, timeoutMs));
        const first = last[0];
        if (first && last.every((v) => v === first)) {
          const leader = this.agentByServerAddr(first);
          if (leader && among.includes(leader)) {
            return { leader, address: first, elapsedMs: performance.now() - t0 };
          }
        }
      }
      if (performance.now() >= deadline) break;
      await sleep(Math.min(pollMs, deadline - performance.now()));
    }
    const among = options.among ?? this.#expectedUp();
    throw new ClusterError(
      'ERR_CLUSTER_NO_LEADER',
      `no agreed leader within ${timeoutMs} ms; last answers: ` +
        among.map((a, i) => `${a.name}=${JSON.stringify(last[i] ?? null)}`).join(' '),
    );
  }

  #expectedUp(): TrellisAgent[] {
    return this.agents.filter((a) => a.expectedRunning && !a.paused);
  }

  /** SIGKILL by PID; see {@link ManagedProcess.kill}. */
  kill(agent: TrellisAgent): { at: number; exited: Promise<ExitInfo> } {
    return agent.kill();
  }

  pause(agent: TrellisAgent): number {
    return agent.pause();
  }

  resume(agent: TrellisAgent): number {
    return agent.resume();
  }

  /** Stops the agent if it is alive and starts it again: same arguments, same data dir. */
  restart(agent: TrellisAgent): Promise<void> {
    return agent.restart();
  }

  /** Stops every agent (SIGTERM, SIGKILL after `graceMs`), concurrently. */
  async stopAll(graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop(graceMs)));
  }

  /** {@link stopAll}, then removes the directory unless `keepDir`. Idempotent. */
  async close(graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
    await this.stopAll(graceMs);
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#keepDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Every agent's state, ports and log tail, for failure messages. */
  describe(lines = 30): string {
    return this.agents
      .map(
        (a) =>
          `--- ${a.name} (${a.alive ? `pid ${a.pid}${a.paused ? ', paused' : ''}` : `exited: ${describeExit(a.lastExit)}`}; ` +
          `http ${a.ports.http}, server ${a.ports.server}, serf ${a.ports.serfLan}; log ${a.logFile})\n` +
          a.logTail(lines),
      )
      .join('\n');
  }
}

function describeExit(e: ExitInfo | null): string {
  if (!e) return 'not started';
  return e.signal ?? `code ${e.code}`;
}
