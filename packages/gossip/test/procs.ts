/**
 * Drives gossip-node fixture processes (see fixtures/gossip-node.ts for the protocol).
 * Every process is stopped by its own PID (`child.kill()`); every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { AgentStats } from '../src/index.js';
import { waitFor } from './net-helpers.js';

const FIXTURE = new URL('./fixtures/gossip-node.js', import.meta.url).pathname;

export interface Line {
  /** performance.now() in the test process when the line arrived. */
  readonly at: number;
  readonly obj: Record<string, unknown>;
}

export interface MemberRow {
  name: string;
  addr: string;
  status: string;
  incarnation: number;
}

type Reply = Record<string, unknown> & { ok: boolean };

export class NodeProc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  port = 0;
  exited = false;
  exitCode: number | null = null;
  readonly #pending: { cmd: string; resolve: (r: Reply) => void }[] = [];
  readonly ready: Promise<number>;

  constructor(name: string, args: string[]) {
    this.name = name;
    this.child = spawn(process.execPath, [FIXTURE, '--name', name, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let onReady: (port: number) => void = () => {};
    let onFail: (e: Error) => void = () => {};
    this.ready = new Promise<number>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    createInterface({ input: this.child.stderr! }).on('line', (l) => {
      this.stderr.push(l);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const at = performance.now();
      if (l.startsWith('ready ')) {
        this.port = Number(l.slice(6));
        onReady(this.port);
        return;
      }
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(l) as Record<string, unknown>;
      } catch {
        this.stderr.push(`(bad stdout line) ${l}`);
        return;
      }
      if (obj['type'] === 'reply') {
        const p = this.#pending.shift();
        p?.resolve(obj as Reply);
        return;
      }
      this.lines.push({ at, obj });
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.exitCode = code;
      if (this.port === 0) {
        onFail(
          new Error(`${name} exited (${code ?? signal}) before ready: ${this.stderr.join('\n')}`),
        );
      }
    });
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Sends a command; resolves with its reply (bounded by `timeoutMs`). */
  async cmd(line: string, timeoutMs = 10_000): Promise<Reply> {
    if (this.exited) throw new Error(`${this.name} has exited`);
    const reply = new Promise<Reply>((resolve) => this.#pending.push({ cmd: line, resolve }));
    this.child.stdin!.write(line + '\n');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name}: no reply to '${line}' in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([reply, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async ok(line: string): Promise<Reply> {
    const r = await this.cmd(line);
    if (!r.ok) throw new Error(`${this.name}: '${line}' failed: ${JSON.stringify(r)}`);
    return r;
  }

  async members(): Promise<MemberRow[]> {
    return (await this.ok('members'))['members'] as MemberRow[];
  }

  async stats(): Promise<AgentStats> {
    return (await this.ok('stats'))['stats'] as AgentStats;
  }

  /** The first event line matching `pred`, if any. */
  find(pred: (o: Record<string, unknown>) => boolean): Line | undefined {
    return this.lines.find((l) => pred(l.obj));
  }

  /** Member event lines of `kind` about `name`. */
  memberEvents(kind: string, name: string): Line[] {
    return this.lines.filter(
      (l) => l.obj['type'] === 'member' && l.obj['kind'] === kind && l.obj['name'] === name,
    );
  }

  /** Stops the process by PID (SIGTERM unless told), waiting (bounded) for its exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.exited) return;
    this.child.kill(signal);
    await waitFor(() => this.exited, 5_000, `${this.name} to exit`);
  }
}

/** Whether every process in `procs` reports each of `names` with `status`. */
export async function allReport(
  procs: readonly NodeProc[],
  names: readonly string[],
  status: string,
): Promise<boolean> {
  const views = await Promise.all(procs.map((p) => p.members()));
  return views.every((v) => names.every((n) => v.find((m) => m.name === n)?.status === status));
}
