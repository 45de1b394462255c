/**
 * A private network namespace for one system's agents, so that the loopback interface's
 * counters (`/proc/<pid>/net/dev`, line `lo`) count that system's gossip and nothing else:
 * every IP packet (UDP and TCP, headers included) sent on 127.0.0.1 by its agents, and no
 * traffic of other processes on the machine. The same counter is read for both systems.
 *
 * The namespace is held by `unshare --net -- sleep <s>` (unshare execs sleep, so the PID
 * is the holder itself); agents are started with `nsenter -t <holder> -n -- cmd …`
 * (nsenter execs the command: the child's PID is the agent's, so signals reach it).
 * Without the privilege to create one (not root), `NetNs.create` returns a fallback that
 * runs agents in the host namespace and reads the host's `lo`, marked `shared: true`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { sleep } from './util.js';

export interface LoCounters {
  /** Bytes sent on lo (each loopback packet is counted once sent, once received). */
  readonly txBytes: number;
  readonly txPackets: number;
}

export class NetNs {
  /** True when agents share the host's namespace (other traffic is counted too). */
  readonly shared: boolean;
  readonly #holder: ChildProcess | null;

  private constructor(holder: ChildProcess | null) {
    this.#holder = holder;
    this.shared = holder === null;
  }

  /** A fresh namespace with lo up, or the shared fallback (with the reason) on failure. */
  static async create(): Promise<{ ns: NetNs; warning?: string }> {
    let holder: ChildProcess | null = null;
    try {
      holder = spawn('unshare', ['--net', '--', 'sleep', '7200'], { stdio: 'ignore' });
      const pid = holder.pid;
      if (pid === undefined) throw new Error('unshare did not start');
      const self = readlinkSync('/proc/self/ns/net');
      // Bounded wait until the holder runs in its own namespace (unshare has exec'd).
      for (let i = 0; ; i++) {
        if (holder.exitCode !== null) throw new Error(`unshare exited ${holder.exitCode}`);
        let ns = self;
        try {
          ns = readlinkSync(`/proc/${pid}/ns/net`);
        } catch {
          // not there yet
        }
        if (ns !== self) break;
        if (i >= 100) throw new Error('the namespace did not appear within 5 s');
        await sleep(50);
      }
      execFileSync('nsenter', ['-t', String(pid), '-n', '--', 'ip', 'link', 'set', 'lo', 'up'], {
        stdio: 'pipe',
        timeout: 5_000,
      });
      return { ns: new NetNs(holder) };
    } catch (e) {
      if (holder !== null && holder.exitCode === null) holder.kill('SIGKILL');
      const why = e instanceof Error ? e.message : String(e);
      return {
        ns: new NetNs(null),
        warning: `no private network namespace (${why}); byte counts include all loopback traffic on this host`,
      };
    }
  }

  /** The command line that runs `cmd args…` inside the namespace. */
  wrap(cmd: string, args: readonly string[]): [string, string[]] {
    if (this.#holder === null) return [cmd, [...args]];
    return ['nsenter', ['-t', String(this.#holder.pid), '-n', '--', cmd, ...args]];
  }

  /** The namespace's loopback counters. */
  lo(): LoCounters {
    const file = this.#holder === null ? '/proc/self/net/dev' : `/proc/${this.#holder.pid}/net/dev`;
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.trim().startsWith('lo:'));
    if (line === undefined) throw new Error(`no lo line in ${file}`);
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
    const f = line
      .slice(line.indexOf(':') + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    return { txBytes: f[8] ?? NaN, txPackets: f[9] ?? NaN };
  }

  /** Ends the holder (by its PID); the namespace goes when its last process exits. */
  close(): void {
    if (this.#holder !== null && this.#holder.exitCode === null) this.#holder.kill('SIGKILL');
  }
}
