/**
 * The drill's clients: each a closed loop of Consul KV requests (put, consistent get,
 * check-and-set, delete) on a small key set, recording every operation in the shared
 * history (testkit's HistoryRecorder) as it happens:
 *
 * - `ok` on a definite answer: PUT/DELETE `true`; GET 200 (its value) or 404 (null); a
 *   check-and-set `true` or `false`.
 * - `fail` when the request cannot have taken effect: the connection was refused, or a 4xx.
 * - `info` (unknown outcome) otherwise: timeouts, resets, 5xx. Such an operation may take
 *   effect at any later time; the checker allows for that.
 *
 * Values are unique (`c<client>-<seq>`), which makes Consul's check-and-set on the
 * ModifyIndex the same as a compare on the value: the index a client read is still current
 * iff no write happened since, iff the value is still the one it read (no value is written
 * twice). So a cas is recorded as `cas(key, <value read>, <new value>)`, after the consistent
 * get that read the index (recorded too).
 */
import type { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type HistoryRecorder, type OpHandle, Prng, kv, type KvOp } from '@trellis/testkit';
import { RequestError, send, type Endpoint, type Reply } from './http.js';

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: readonly string[];
  readonly timeoutMs: number;
  /** Stop issuing after this many operations in total. */
  readonly maxOps: number;
  readonly seed: number;
}

export interface Counters {
  ops: number;
  ok: number;
  fail: number;
  info: number;
  byError: Record<string, number>;
}

/** A write (put, delete, successful cas) acknowledged at `ackAt`, invoked at `invokeAt`. */
export type WriteAck = (invokeAt: number, ackAt: number) => void;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** After a failure, a client pauses this long and moves to the next server. */
const ERROR_PAUSE_MS = 10;
/** A client moves to another server every so many operations, to spread the load. */
const REBALANCE_EVERY = 25;

export class Workload {
  readonly counters: Counters = { ops: 0, ok: 0, fail: 0, info: 0, byError: {} };
  #stop = false;
  #loops: Promise<void>[] = [];

  constructor(
    readonly options: WorkloadOptions,
    readonly servers: readonly Endpoint[],
    readonly agent: Agent,
    readonly history: HistoryRecorder,
    readonly onWriteAck: WriteAck,
  ) {}

  start(): void {
    const root = new Prng(this.options.seed);
    this.#loops = Array.from({ length: this.options.clients }, (_, c) =>
      this.#client(c, root.split()),
    );
  }

  /** Stops issuing; resolves when every client's last request completed. */
  async stop(): Promise<void> {
    this.#stop = true;
    await Promise.all(this.#loops);
  }

  get done(): boolean {
    return this.#stop || this.counters.ops >= this.options.maxOps;
  }

  #error(e: unknown): RequestError {
    const err = e instanceof RequestError ? e : new RequestError('EOTHER', true, String(e));
    this.counters.byError[err.code] = (this.counters.byError[err.code] ?? 0) + 1;
    return err;
  }

  async #client(c: number, rng: Prng): Promise<void> {
    let server = c % this.servers.length;
    let seq = 0;
    const { keys, timeoutMs } = this.options;
    const req = (method: 'GET' | 'PUT' | 'DELETE', path: string, body?: string): Promise<Reply> =>
      send(this.agent, this.servers[server]!, method, path, body, timeoutMs);
    /** Completes `h` from a failure; returns false so callers can move on. */
    const failed = (h: OpHandle, e: unknown): false => {
      const err = this.#error(e);
      if (err.sent) {
        h.info();
        this.counters.info++;
      } else {
        h.fail();
        this.counters.fail++;
      }
      server = (server + 1) % this.servers.length;
      return false;
    };
    const answered = (h: OpHandle, r: Reply): boolean => {
      if (r.status === 404 && h.op.f === 'get') return true;
      if (r.status >= 400 && r.status < 500 && r.status !== 408) {
        this.counters.byError[`HTTP ${r.status}`] =
          (this.counters.byError[`HTTP ${r.status}`] ?? 0) + 1;
        h.fail();
        this.counters.fail++;
        return false;
      }
      if (r.status !== 200) {
        this.counters.byError[`HTTP ${r.status}`] =
          (this.counters.byError[`HTTP ${r.status}`] ?? 0) + 1;
        h.info();
        this.counters.info++;
        server = (server + 1) % this.servers.length;
        return false;
      }
      return true;
    };
    for (let n = 0; n < 10_000_000 && !this.done; n++) {
      if (n % REBALANCE_EVERY === 0) server = (c + n / REBALANCE_EVERY) % this.servers.length;
      const key = keys[rng.int(keys.length)]!;
      const path = `/v1/kv/${encodeURIComponent(key)}`;
      const roll = rng.int(100);
      const value = `c${c}-${seq++}`;
      let ok = true;
      const invoke = <O extends KvOp>(op: O): OpHandle<O> => {
        this.counters.ops++;
        return this.history.invoke(c, op);
      };
      if (roll < 35) {
        const h = invoke(kv.put(key, value));
        const at = performance.now();
        try {
          const r = await req('PUT', path, value);
          if ((ok = answered(h, r))) {
            if (r.body.trim() === 'true') {
              h.ok();
              this.counters.ok++;
              this.onWriteAck(at, performance.now());
            } else ok = this.#odd(h, r);
          }
        } catch (e) {
          ok = failed(h, e);
        }
      } else if (roll < 45) {
        const h = invoke(kv.delete(key));
        const at = performance.now();
        try {
          const r = await req('DELETE', path);
          if ((ok = answered(h, r))) {
            if (r.body.trim() === 'true') {
              h.ok();
              this.counters.ok++;
              this.onWriteAck(at, performance.now());
            } else ok = this.#odd(h, r);
          }
        } catch (e) {
          ok = failed(h, e);
        }
      } else {
        // A consistent get; for 40 of these 55, followed by a check-and-set on what it read.
        const cas = roll >= 60;
        const h = invoke(kv.get(key));
        let read: { value: string | null; index: number } | undefined;
        try {
          const r = await req('GET', `${path}?consistent`);
          if ((ok = answered(h, r))) {
            read = parseEntry(r);
            if (read) {
              h.ok(read.value);
              this.counters.ok++;
            } else ok = this.#odd(h, r);
          }
        } catch (e) {
          ok = failed(h, e);
        }
        if (ok && cas && read) {
          const hc = invoke(kv.cas(key, read.value, value));
          const at = performance.now();
          try {
            const r = await req('PUT', `${path}?cas=${read.index}`, value);
            if ((ok = answered(hc, r))) {
              const b = r.body.trim();
              if (b === 'true' || b === 'false') {
                hc.ok(b === 'true');
                this.counters.ok++;
                if (b === 'true') this.onWriteAck(at, performance.now());
              } else ok = this.#odd(hc, r);
            }
          } catch (e) {
            ok = failed(hc, e);
          }
        }
      }
      if (!ok) await sleep(ERROR_PAUSE_MS);
    }
  }

  /** A 200 whose body is not what the API promises: unknown outcome, and counted. */
  #odd(h: OpHandle, r: Reply): false {
    const code = `unexpected answer to ${h.op.f}: ${r.body.slice(0, 60)}`;
    this.counters.byError[code] = (this.counters.byError[code] ?? 0) + 1;
    h.info();
    this.counters.info++;
    return false;
  }
}

/** Value and ModifyIndex from a KV GET answer (404: absent, index 0). */
export function parseEntry(r: Reply): { value: string | null; index: number } | undefined {
  if (r.status === 404) return { value: null, index: 0 };
  try {
    const entries = JSON.parse(r.body) as Array<{ Value?: string | null; ModifyIndex?: number }>;
    const e = entries[0];
    if (!e || typeof e.ModifyIndex !== 'number') return undefined;
    return { value: Buffer.from(e.Value ?? '', 'base64').toString('utf8'), index: e.ModifyIndex };
  } catch {
    return undefined;
  }
}
