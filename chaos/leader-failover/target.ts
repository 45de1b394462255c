/**
 * The cluster the drill runs against, behind one interface:
 *
 * - {@link LaunchedTarget}: three server agents started here by the testkit launcher, with
 *   logs and data dirs under a temporary directory, stopped and removed at the end.
 * - {@link ExistingTarget}: servers given by `--addrs` (HTTP addresses on this machine). The
 *   leader's process is found by the listening socket of its server port (/proc/net/tcp*
 *   → socket inode → /proc/<pid>/fd), and signalled by that PID. A killed server is
 *   restarted with the command line, working directory and environment it had
 *   (/proc/<pid>/{cmdline,cwd,environ} read before the kill), detached, its output in a
 *   log file; it is left running at the end.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TrellisCluster, httpGet } from '@trellis/testkit';
import type { Endpoint } from './http.js';

export interface Target {
  readonly servers: readonly Endpoint[];
  /** Index of the server every reachable, unpaused server names as leader; throws after the bound. */
  leader(timeoutMs: number, all?: boolean): Promise<number>;
  kill(i: number): Promise<number>;
  pause(i: number): number;
  resume(i: number): number;
  restart(i: number): Promise<void>;
  describe(): string;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export class LaunchedTarget implements Target {
  private constructor(readonly cluster: TrellisCluster) {}

  static async start(cli: string, keepDir: boolean): Promise<LaunchedTarget> {
    return new LaunchedTarget(
      await TrellisCluster.start({ cli, keepDir, leaderTimeoutMs: 30_000 }),
    );
  }

  get servers(): Endpoint[] {
    return this.cluster.agents.map((a) => ({ host: '127.0.0.1', port: a.ports.http }));
  }

  async leader(timeoutMs: number, all = false): Promise<number> {
    const { leader } = await this.cluster.waitForLeader({
      timeoutMs,
      ...(all ? { among: this.cluster.agents } : {}),
    });
    return leader.index;
  }

  async kill(i: number): Promise<number> {
    const k = this.cluster.kill(this.cluster.agents[i]!);
    await k.exited;
    return k.at;
  }

  pause(i: number): number {
    return this.cluster.pause(this.cluster.agents[i]!);
  }

  resume(i: number): number {
    return this.cluster.resume(this.cluster.agents[i]!);
  }

  async restart(i: number): Promise<void> {
    await this.cluster.restart(this.cluster.agents[i]!);
  }

  describe(): string {
    return this.cluster.describe(20);
  }

  async close(): Promise<void> {
    await this.cluster.close();
  }
}

// --- /proc helpers ------------------------------------------------------------------------

/** Inodes of sockets listening on TCP `port` (IPv4 and IPv6). */
function listeningInodes(port: number): Set<string> {
  const out = new Set<string>();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // sl local_address rem_address st … inode (column 9)
      if (cols.length > 9 && cols[3] === '0A' && cols[1]?.endsWith(`:${hex}`)) out.add(cols[9]!);
    }
  }
  return out;
}

/** The PID of the process listening on TCP `port` on this machine, if it can be seen. */
export function pidListeningOn(port: number): number | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(entry);
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return undefined;
}

interface Recorded {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

function recordProcess(pid: number): Recorded {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    .split('\0')
    .filter((s) => s !== '');
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  const env: NodeJS.ProcessEnv = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { argv, cwd, env };
}

export class ExistingTarget implements Target {
  readonly servers: Endpoint[];
  readonly #recorded = new Map<number, Recorded>();
  readonly #pids: Array<number | undefined>;
  readonly #restartedPids: number[] = [];

  constructor(
    addrs: readonly string[],
    readonly logDir: string,
  ) {
    this.servers = addrs.map((a) => {
      const i = a.lastIndexOf(':');
      const host = a.slice(0, i) || '127.0.0.1';
      const port = Number(a.slice(i + 1));
      if (!Number.isSafeInteger(port) || port <= 0 || port > 65535)
        throw new Error(`bad address ${a}`);
      return { host, port };
    });
    this.#pids = this.servers.map((s) => pidListeningOn(s.port));
  }

  /** Servers whose process could not be found (faults cannot be injected into them). */
  unseen(): string[] {
    return this.servers
      .filter((_, i) => this.#pids[i] === undefined)
      .map((s) => `${s.host}:${s.port}`);
  }

  async leader(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let last: unknown[] = [];
    for (let i = 0; i < 100_000; i++) {
      last = await Promise.all(
        this.servers.map(async (s) => {
          try {
            const r = await httpGet(`http://${s.host}:${s.port}/v1/status/leader`, 1000);
            return r.status === 200 ? (JSON.parse(r.body) as unknown) : undefined;
          } catch {
            return undefined;
          }
        }),
      );
      const answered = last.filter((v): v is string => typeof v === 'string' && v !== '');
      if (answered.length > 0 && answered.every((v) => v === answered[0])) {
        const port = Number(answered[0]!.slice(answered[0]!.lastIndexOf(':') + 1));
        const pid = pidListeningOn(port);
        const idx = pid === undefined ? -1 : this.#pids.indexOf(pid);
        if (idx >= 0) return idx;
      }
      if (performance.now() >= deadline) break;
      await sleep(50);
    }
    throw new Error(
      `no agreed leader among --addrs within ${timeoutMs} ms: ${JSON.stringify(last)}`,
    );
  }

  #pid(i: number): number {
    const pid = this.#pids[i];
    if (pid === undefined)
      throw new Error(`no process found for ${this.servers[i]!.host}:${this.servers[i]!.port}`);
    return pid;
  }

  async kill(i: number): Promise<number> {
    const pid = this.#pid(i);
    this.#recorded.set(i, recordProcess(pid));
    const at = performance.now();
    process.kill(pid, 'SIGKILL');
    this.#pids[i] = undefined;
    // Not our child: gone once signal 0 fails (it may linger as a zombie of its parent).
    for (let k = 0; k < 500; k++) {
      try {
        process.kill(pid, 0);
        if (readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z')) break;
      } catch {
        break;
      }
      await sleep(10);
    }
    return at;
  }

  pause(i: number): number {
    process.kill(this.#pid(i), 'SIGSTOP');
    return performance.now();
  }

  resume(i: number): number {
    process.kill(this.#pid(i), 'SIGCONT');
    return performance.now();
  }

  async restart(i: number): Promise<void> {
    const rec = this.#recorded.get(i);
    if (!rec || rec.argv.length === 0) throw new Error(`server ${i} was not killed by this drill`);
    const log = join(this.logDir, `server-${i}-restart-${Date.now()}.log`);
    const fd = openSync(log, 'a');
    try {
      const child = spawn(rec.argv[0]!, rec.argv.slice(1), {
        cwd: rec.cwd,
        env: rec.env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
      child.unref();
      if (child.pid === undefined) throw new Error(`cannot restart ${rec.argv.join(' ')}`);
      this.#restartedPids.push(child.pid);
    } finally {
      closeSync(fd);
    }
    const port = this.servers[i]!.port;
    for (let k = 0; k < 3000; k++) {
      const pid = pidListeningOn(port);
      if (pid !== undefined) {
        this.#pids[i] = pid;
        return;
      }
      await sleep(10);
    }
    throw new Error(`restarted server ${i} does not listen on ${port} within 30 s (log ${log})`);
  }

  describe(): string {
    return (
      `servers ${this.servers.map((s, i) => `${s.host}:${s.port}=pid ${this.#pids[i] ?? '?'}`).join(', ')}` +
      (this.#restartedPids.length > 0
        ? `; restarted by the drill and left running: pids ${this.#restartedPids.join(', ')} (logs in ${this.logDir})`
        : '')
    );
  }

  async close(): Promise<void> {
    // A paused server must not stay stopped.
    for (const pid of this.#pids) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    return Promise.resolve();
  }
}
