/**
 * The benchmark's view of its three member processes: probing free loopback ports,
 * spawning members (./member.ts), SIGKILLing and restarting them on the same port and data
 * dir, one RpcClient per member, status polling and a bounded clean shutdown. Every process
 * started here is stopped here, by its own PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '@trellis/rpc';
import { METHOD, type MemberStatus } from './protocol.js';

const MEMBER_JS = fileURLToPath(new URL('./member.js', import.meta.url));
/** Lines of a member's stderr kept to show when something fails. */
const STDERR_TAIL = 50;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` resolves truthy, polling; throws after `ms`. */
export async function until<T>(
  cond: () => Promise<T | undefined | false> | T | undefined | false,
  ms: number,
  what: string,
  pollMs = 10,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (let i = 0; i < 1_000_000; i++) {
    const v = await cond();
    if (v) return v;
    if (performance.now() > deadline) break;
    await sleep(pollMs);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Free TCP ports on 127.0.0.1, found by binding port 0 and releasing it. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export class Member {
  child: ChildProcess | null = null;
  readonly client: RpcClient;
  readonly stderrTail: string[] = [];
  starts = 0;
  constructor(
    readonly id: number,
    readonly port: number,
    readonly dir: string,
  ) {
    this.client = new RpcClient({
      url: `ws://127.0.0.1:${port}/trellis/rpc`,
      nodeName: 'bench',
      reconnectBaseMs: 10,
      reconnectMaxMs: 100,
      connectTimeoutMs: 2000,
    });
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  status(timeoutMs = 1000): Promise<MemberStatus> {
    return this.client.call(METHOD.status, null, { timeoutMs }) as Promise<MemberStatus>;
  }
}

export class BenchCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'trellis-raft-bench-'));
  readonly members: Member[] = [];
  verbose = false;
  /** Extra node flags for member processes (e.g. `--cpu-prof --cpu-prof-dir=…`). */
  nodeArgs: string[] = [];
  /** The members' `--fsync` mode (see member.ts); `real` for the benchmark proper. */
  fsync = 'real';

  static async create(ids: readonly number[]): Promise<BenchCluster> {
    const c = new BenchCluster();
    const ports = await freePorts(ids.length);
    ids.forEach((id, i) => c.members.push(new Member(id, ports[i]!, join(c.root, `n${id}`))));
    return c;
  }

  member(id: number): Member {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  /** Starts (or restarts, on the same port and data dir) a member; resolves on `ready`. */
  async start(m: Member, timeoutMs = 10_000): Promise<void> {
    if (m.running) throw new Error(`member ${m.id} is already running`);
    const peers = this.members.map((x) => `${x.id}=${x.port}`).join(',');
    const args = [
      ...this.nodeArgs,
      MEMBER_JS,
      '--id',
      String(m.id),
      '--port',
      String(m.port),
      '--dir',
      m.dir,
    ];
    args.push('--peers', peers);
    args.push('--fsync', this.fsync);
    if (this.verbose) args.push('--verbose');
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    m.child = child;
    m.starts++;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      for (const line of s.split('\n')) {
        if (line === '') continue;
        m.stderrTail.push(line);
        if (m.stderrTail.length > STDERR_TAIL) m.stderrTail.shift();
        if (this.verbose) process.stderr.write(`${line}\n`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`member ${m.id} not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      const onData = (s: Buffer) => {
        out += s.toString('utf8');
        if (/^ready \d+$/m.test(out)) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code: number | null, sig: string | null) => {
        cleanup();
        reject(
          new Error(
            `member ${m.id} exited (${code ?? sig}) before ready:\n${m.stderrTail.join('\n')}`,
          ),
        );
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.off('exit', onExit);
      };
      child.stdout.on('data', onData);
      child.once('exit', onExit);
    });
    child.stdout.resume();
  }

  /**
   * SIGKILLs a member's process (by its PID). Returns the time of the kill (performance.now)
   * and a promise that settles once the process is gone (or after 5 s).
   */
  kill(m: Member): { at: number; gone: Promise<void> } {
    const child = m.child;
    if (!child || !m.running) throw new Error(`member ${m.id} is not running`);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const at = performance.now();
    child.kill('SIGKILL');
    return { at, gone: Promise.race([exited, sleep(5000)]) };
  }

  /** Statuses of the running members that answer within `timeoutMs`. */
  async statuses(timeoutMs = 1000): Promise<MemberStatus[]> {
    const all = await Promise.all(
      this.members
        .filter((m) => m.running && m.client.state === 'connected')
        .map((m) => m.status(timeoutMs).catch(() => null)),
    );
    return all.filter((s): s is MemberStatus => s !== null);
  }

  /** The member a majority-confirmed leader runs on (one that says it leads). */
  async waitLeader(timeoutMs: number): Promise<{ member: Member; status: MemberStatus }> {
    return until(
      async () => {
        const sts = await this.statuses(500);
        const l = sts.filter((s) => s.isLeader).sort((a, b) => b.term - a.term)[0];
        return l ? { member: this.member(l.id), status: l } : undefined;
      },
      timeoutMs,
      'a leader',
    );
  }

  /** Waits until every running member has applied at least the leader's commit index. */
  async waitCaughtUp(timeoutMs: number): Promise<number> {
    const { status } = await this.waitLeader(timeoutMs);
    const target = status.commit;
    await until(
      async () => {
        const sts = await this.statuses(500);
        const running = this.members.filter((m) => m.running).length;
        return sts.length === running && sts.every((s) => s.applied >= target);
      },
      timeoutMs,
      `every member to apply index ${target}`,
    );
    return target;
  }

  /** SIGTERM every running member (SIGKILL after 5 s), close clients, remove data dirs. */
  async close(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        const child = m.child;
        if (child && m.running) {
          const gone = new Promise<void>((r) => child.once('exit', () => r()));
          child.kill('SIGTERM');
          const ok = await Promise.race([gone.then(() => true), sleep(5000).then(() => false)]);
          if (!ok && m.running) {
            child.kill('SIGKILL');
            await Promise.race([gone, sleep(2000)]);
          }
        }
        await m.client.close();
      }),
    );
    rmSync(this.root, { recursive: true, force: true });
  }

  describeFailure(): string {
    return this.members
      .map((m) => `--- member ${m.id} (stderr tail)\n${m.stderrTail.join('\n')}`)
      .join('\n');
  }
}
