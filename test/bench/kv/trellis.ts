/**
 * Three Trellis server agents (the testkit launcher: `trellis agent -server
 * -bootstrap-expect=3 …` on loopback, each with its own data dir and log) driven through
 * Consul's KV API: PUT /v1/kv/<key> (raw body, answers `true`), GET /v1/kv/<key>?consistent
 * (a ReadIndex round: linearizable), the leader from GET /v1/status/leader.
 */
import { randomBytes } from 'node:crypto';
import { TrellisCluster, httpGet } from '@trellis/testkit';
import { HttpError, keepAliveAgent, send } from './http.js';
import { poll, type KvSystem } from './system.js';

export class TrellisSystem implements KvSystem {
  readonly name = 'trellis';
  readonly size = 3;
  readonly #agent = keepAliveAgent();
  #cluster: TrellisCluster | null = null;

  constructor(readonly cli: string) {}

  get cluster(): TrellisCluster {
    if (!this.#cluster) throw new Error('the Trellis cluster is not started');
    return this.#cluster;
  }

  async start(): Promise<void> {
    this.#cluster = await TrellisCluster.start({
      cli: this.cli,
      servers: this.size,
      leaderTimeoutMs: 30_000,
    });
  }

  #port(i: number): number {
    const a = this.cluster.agents[i];
    if (!a) throw new Error(`no Trellis member ${i}`);
    return a.ports.http;
  }

  async leader(timeoutMs: number): Promise<number> {
    const { leader } = await this.cluster.waitForLeader({ timeoutMs });
    return leader.index;
  }

  async put(member: number, key: string, value: Buffer, timeoutMs: number): Promise<void> {
    const r = await send(this.#agent, this.#port(member), 'PUT', `/v1/kv/${key}`, value, timeoutMs);
    const body = r.body.toString('utf8').trim();
    if (r.status !== 200 || body !== 'true') {
      throw new HttpError(
        `HTTP${r.status}`,
        `PUT /v1/kv/${key}: ${r.status} ${body.slice(0, 200)}`,
      );
    }
  }

  async get(
    member: number,
    key: string,
    timeoutMs: number,
    mode = 'consistent',
  ): Promise<Buffer | null> {
    const r = await send(
      this.#agent,
      this.#port(member),
      'GET',
      `/v1/kv/${key}?${mode}`,
      undefined,
      timeoutMs,
    );
    if (r.status === 404) return null;
    if (r.status !== 200) {
      throw new HttpError(
        `HTTP${r.status}`,
        `GET /v1/kv/${key}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`,
      );
    }
    const entries = JSON.parse(r.body.toString('utf8')) as Array<{ Value?: string | null }>;
    return Buffer.from(entries[0]?.Value ?? '', 'base64');
  }

  running(i: number): boolean {
    return this.cluster.agents[i]?.running ?? false;
  }

  pid(i: number): number | undefined {
    return this.cluster.agents[i]?.pid;
  }

  kill(i: number): { at: number; exited: Promise<unknown> } {
    return this.cluster.kill(this.cluster.agents[i]!);
  }

  async restart(i: number): Promise<void> {
    const a = this.cluster.agents[i]!;
    await this.cluster.restart(a);
    await poll(
      async () =>
        (await httpGet(`${a.httpUrl}/v1/status/leader`, 500)).status === 200 ? true : undefined,
      30_000,
      `Trellis member ${a.name} to answer`,
    );
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    const t0 = performance.now();
    const { leader } = await this.cluster.waitForLeader({ timeoutMs, among: this.cluster.agents });
    // Caught up: a marker written through the leader is visible in every member's own state.
    const marker = randomBytes(8).toString('hex');
    await this.put(leader.index, 'bench-health', Buffer.from(marker), timeoutMs);
    await poll(
      async () => {
        const vs = await Promise.all(
          this.cluster.agents.map((a) => this.get(a.index, 'bench-health', 500, 'stale')),
        );
        return vs.every((v) => v?.toString('utf8') === marker) ? true : undefined;
      },
      Math.max(1000, timeoutMs - (performance.now() - t0)),
      'every Trellis member to apply the health marker',
    );
  }

  describe(): string {
    return this.#cluster?.describe(20) ?? '(not started)';
  }

  async close(): Promise<void> {
    await this.#cluster?.close();
    this.#agent.destroy();
  }
}
