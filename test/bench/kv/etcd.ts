/**
 * Three etcd 3.4 members (`etcd` from the Debian package) on loopback with their shipped
 * defaults (heartbeat 100 ms, election timeout 1000 ms, fsync on), driven through the v3
 * JSON gateway every member serves on its client port: POST /v3/kv/put and /v3/kv/range
 * (base64 key and value; range is linearizable unless `serializable` is set) and
 * /v3/maintenance/status (which member leads, raft indexes). Processes come from the
 * testkit launcher's ManagedProcess: logs to files, signals by PID only.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedProcess, allocatePorts } from '@trellis/testkit';
import { HttpError, keepAliveAgent, send } from './http.js';
import { poll, type KvSystem } from './system.js';

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly proc: ManagedProcess;
}

interface Status {
  header?: { member_id?: string };
  leader?: string;
  raftIndex?: string;
  raftAppliedIndex?: string;
}

export class EtcdSystem implements KvSystem {
  readonly name = 'etcd';
  readonly size = 3;
  readonly dir = mkdtempSync(join(tmpdir(), 'trellis-kv-bench-etcd-'));
  readonly #agent = keepAliveAgent();
  #members: Member[] = [];

  async start(): Promise<void> {
    const ports = await allocatePorts(2 * this.size);
    const names = Array.from({ length: this.size }, (_, i) => `e${i + 1}`);
    const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
    this.#members = names.map((name, i) => {
      const clientPort = ports[2 * i]!;
      const peerPort = ports[2 * i + 1]!;
      const home = join(this.dir, name);
      mkdirSync(home, { recursive: true });
      const proc = new ManagedProcess({
        name,
        command: 'etcd',
        args: [
          `--name=${name}`,
          `--data-dir=${join(home, 'data')}`,
          `--listen-client-urls=http://127.0.0.1:${clientPort}`,
          `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=${cluster}`,
          // Ignored once the data dir holds a member: restarts reuse the same line.
          '--initial-cluster-state=new',
          '--initial-cluster-token=trellis-kv-bench',
          '--logger=zap',
          '--log-level=warn',
        ],
        logFile: join(home, 'etcd.log'),
      });
      return { name, clientPort, peerPort, proc };
    });
    for (const m of this.#members) m.proc.start();
    await this.leader(30_000);
  }

  #m(i: number): Member {
    const m = this.#members[i];
    if (!m) throw new Error(`no etcd member ${i}`);
    return m;
  }

  async #post(i: number, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    const r = await send(
      this.#agent,
      this.#m(i).clientPort,
      'POST',
      path,
      JSON.stringify(body),
      timeoutMs,
      'application/json',
    );
    if (r.status !== 200) {
      throw new HttpError(
        `HTTP${r.status}`,
        `${path}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`,
      );
    }
    return JSON.parse(r.body.toString('utf8')) as unknown;
  }

  async status(i: number, timeoutMs = 1000): Promise<Status> {
    return (await this.#post(i, '/v3/maintenance/status', {}, timeoutMs)) as Status;
  }

  async leader(timeoutMs: number): Promise<number> {
    return poll(
      async () => {
        const sts = await Promise.all(
          this.#members.map((m, i) =>
            m.proc.running ? this.status(i, 500).catch(() => null) : Promise.resolve(null),
          ),
        );
        const i = sts.findIndex(
          (s) => s?.header?.member_id !== undefined && s.header.member_id === s.leader,
        );
        return i >= 0 ? i : undefined;
      },
      timeoutMs,
      'an etcd leader',
    );
  }

  async put(member: number, key: string, value: Buffer, timeoutMs: number): Promise<void> {
    await this.#post(
      member,
      '/v3/kv/put',
      { key: Buffer.from(key).toString('base64'), value: value.toString('base64') },
      timeoutMs,
    );
  }

  async get(member: number, key: string, timeoutMs: number): Promise<Buffer | null> {
    const r = (await this.#post(
      member,
      '/v3/kv/range',
      { key: Buffer.from(key).toString('base64'), serializable: false },
      timeoutMs,
    )) as { kvs?: Array<{ value?: string }> };
    const v = r.kvs?.[0];
    return v ? Buffer.from(v.value ?? '', 'base64') : null;
  }

  running(i: number): boolean {
    return this.#m(i).proc.running;
  }

  pid(i: number): number | undefined {
    return this.#m(i).proc.pid;
  }

  kill(i: number): { at: number; exited: Promise<unknown> } {
    return this.#m(i).proc.kill();
  }

  async restart(i: number): Promise<void> {
    const p = this.#m(i).proc;
    if (p.alive) await p.stop();
    p.start();
    await poll(() => this.status(i, 500), 30_000, `etcd member ${p.name} to answer`);
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    await poll(
      async () => {
        if (!this.#members.every((m) => m.proc.running)) return undefined;
        const sts = await Promise.all(this.#members.map((_, i) => this.status(i, 500)));
        const leaders = new Set(sts.map((s) => s.leader));
        if (leaders.size !== 1 || sts[0]?.leader === undefined || sts[0].leader === '0')
          return undefined;
        const lead = sts.find((s) => s.header?.member_id === s.leader);
        if (!lead) return undefined;
        const target = Number(lead.raftIndex ?? 0);
        return sts.every((s) => Number(s.raftAppliedIndex ?? s.raftIndex ?? 0) >= target)
          ? true
          : undefined;
      },
      timeoutMs,
      'every etcd member to run, agree on the leader and catch up',
    );
  }

  describe(): string {
    return this.#members
      .map(
        (m) =>
          `--- ${m.name} (client ${m.clientPort}, peer ${m.peerPort}; ${m.proc.logFile})\n${m.proc.logTail(20)}`,
      )
      .join('\n');
  }

  async close(): Promise<void> {
    await Promise.all(this.#members.map((m) => m.proc.stop()));
    this.#agent.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
