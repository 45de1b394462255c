/**
 * One gossip member of either system in its own process, with the membership events it
 * reports, each timestamped (performance.now() in the benchmark process) when its line
 * arrives on the member's stdout. Both systems are observed the same way: no polling, no
 * RPC, just the line each member writes when its own view changes.
 *
 * - trellis: the gossip-node fixture (packages/gossip/IO.md), `--preset lan`. Member lines
 *   `{"type":"member","kind":"join|update|leave|fail","name",…}`; `ready <port>` is written
 *   once bound, right before the join starts ("join start"); `{"type":"joined"}` after it.
 * - serf: `serf agent` (memberlist's LAN profile by default). Its log lines
 *   `[INFO] serf: EventMemberJoin|Failed|Leave|Update|Reap: <name> <addr>` are written by
 *   serf the moment memberlist notifies it, before serf's 3 s/1 s event coalescing (so the
 *   event-handler scripts would lag by ≥ 1 s; the log lines do not). The join start is the
 *   UI line `==> Joining cluster...` (written, ungated, right before the join; serf's log
 *   lines are held back by its log gate until the join returns, so they cannot be used).
 *   A seed (no -join) starts at `==> Serf agent running!`.
 *
 * Every process is stopped by its own PID; every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { NetNs } from './netns.js';
import { sleep, waitUntil } from './util.js';

export type System = 'trellis' | 'serf';
export type EventKind = 'join' | 'update' | 'leave' | 'fail' | 'reap';

export interface MemberEvent {
  readonly at: number;
  readonly kind: EventKind;
  readonly name: string;
}

export interface AgentSpec {
  readonly system: System;
  readonly name: string;
  readonly port: number;
  /** serf only: its RPC listener (serf always opens one). */
  readonly rpcPort: number;
  /** base64 of 32 bytes, the same on both systems. */
  readonly key: string;
  /** host:port of a member to join, if any. */
  readonly join?: string;
}

/** The trellis fixture, compiled (test/dist/bench/gossip → packages/gossip/dist/test/…). */
export const FIXTURE = new URL(
  '../../../../packages/gossip/dist/test/fixtures/gossip-node.js',
  import.meta.url,
).pathname;

const SERF_EVENT = /serf: EventMember(Join|Failed|Leave|Update|Reap): (\S+)/;
const SERF_KIND: Record<string, EventKind> = {
  Join: 'join',
  Failed: 'fail',
  Leave: 'leave',
  Update: 'update',
  Reap: 'reap',
};
const TAIL = 60;

type Reply = Record<string, unknown> & { ok?: boolean };

export class Agent {
  readonly spec: AgentSpec;
  readonly child: ChildProcess;
  readonly events: MemberEvent[] = [];
  /** Last lines of stderr and unparsed output, for diagnostics. */
  readonly tail: string[] = [];
  readonly spawnedAt: number;
  /** When the member started joining (or, for a seed, started running). */
  startAt = NaN;
  /** When its join completed (`joined` / `Join completed`). */
  joinedAt = NaN;
  exited = false;
  readonly ready: Promise<void>;
  readonly #replies: ((r: Reply) => void)[] = [];

  constructor(spec: AgentSpec, ns: NetNs) {
    this.spec = spec;
    const [cmd, args] =
      spec.system === 'trellis'
        ? ns.wrap(process.execPath, [
            FIXTURE,
            '--name',
            spec.name,
            '--bind',
            '127.0.0.1',
            '--port',
            String(spec.port),
            '--preset',
            'lan',
            '--key',
            spec.key,
            ...(spec.join !== undefined ? ['--join', spec.join] : []),
          ])
        : ns.wrap('serf', [
            'agent',
            `-node=${spec.name}`,
            `-bind=127.0.0.1:${spec.port}`,
            `-rpc-addr=127.0.0.1:${spec.rpcPort}`,
            `-encrypt=${spec.key}`,
            '-log-level=info',
            ...(spec.join !== undefined ? [`-join=${spec.join}`] : []),
          ]);
    this.spawnedAt = performance.now();
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let onReady: () => void = () => {};
    let onFail: (e: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    // A rejection nobody awaited yet must not crash the process; callers await `ready`.
    this.ready.catch(() => {});
    const started = (at: number): void => {
      if (Number.isNaN(this.startAt)) {
        this.startAt = at;
        onReady();
      }
    };
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.#keep(l));
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const at = performance.now();
      if (spec.system === 'trellis') this.#trellisLine(l, at, started);
      else this.#serfLine(l, at, started);
    });
    this.child.on('error', (e) => {
      this.#keep(`spawn error: ${e.message}`);
      onFail(new Error(`${spec.name}: ${e.message}`));
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      if (Number.isNaN(this.startAt)) {
        onFail(
          new Error(
            `${spec.system} ${spec.name} exited (${code ?? signal}) before starting: ` +
              this.tail.slice(-8).join(' | '),
          ),
        );
      }
      for (const p of this.#replies.splice(0)) p({ ok: false, exited: true });
    });
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get addr(): string {
    return `127.0.0.1:${this.spec.port}`;
  }

  #keep(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL) this.tail.shift();
  }

  #trellisLine(l: string, at: number, started: (at: number) => void): void {
    if (l.startsWith('ready ')) {
      started(at);
      return;
    }
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(l) as Record<string, unknown>;
    } catch {
      this.#keep(`(stdout) ${l}`);
      return;
    }
    switch (o['type']) {
      case 'member':
        this.events.push({ at, kind: o['kind'] as EventKind, name: String(o['name']) });
        return;
      case 'joined':
        this.joinedAt = at;
        return;
      case 'join-failed':
        this.#keep(`join-failed ${JSON.stringify(o)}`);
        return;
      case 'reply':
        this.#replies.shift()?.(o);
        return;
      default:
        return;
    }
  }

  #serfLine(l: string, at: number, started: (at: number) => void): void {
    const m = SERF_EVENT.exec(l);
    if (m !== null) {
      this.events.push({ at, kind: SERF_KIND[m[1]!]!, name: m[2]! });
      return;
    }
    if (l.includes('==> Joining cluster')) started(at);
    else if (l.includes('==> Serf agent running!') && this.spec.join === undefined) started(at);
    else if (l.includes('Join completed.')) this.joinedAt = at;
    else if (l.includes('[ERR]') || l.includes('[WARN]') || l.startsWith('==> Error')) {
      this.#keep(l);
    }
  }

  /** The first event of `kind` about `name` at or after `since`. */
  first(kind: EventKind, name: string, since = 0): MemberEvent | undefined {
    return this.events.find((e) => e.kind === kind && e.name === name && e.at >= since);
  }

  /** Whether this member has seen a join of every name in `names` but its own. */
  seesAll(names: readonly string[]): boolean {
    return names.every((n) => n === this.name || this.first('join', n) !== undefined);
  }

  /** trellis only: the fixture's transport counters (bounded wait). */
  async stats(timeoutMs = 10_000): Promise<Record<string, unknown> | null> {
    if (this.spec.system !== 'trellis' || this.exited) return null;
    const reply = new Promise<Reply>((resolve) => this.#replies.push(resolve));
    this.child.stdin!.write('stats\n');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      const r = await Promise.race([reply, timeout]);
      return r !== null && r.ok === true ? (r['stats'] as Record<string, unknown>) : null;
    } finally {
      clearTimeout(timer);
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it exited (bounded). */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    if (await waitUntil(() => this.exited, graceMs)) return;
    this.child.kill('SIGKILL');
    await waitUntil(() => this.exited, 3_000);
  }
}

/** Stops every agent (in parallel), then waits a moment for sockets to close. */
export async function stopAll(agents: readonly Agent[]): Promise<void> {
  await Promise.all(agents.map((a) => a.stop()));
  await sleep(100);
}
