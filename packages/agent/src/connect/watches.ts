/**
 * Shared blocking watches on the servers' HTTP API, for the agent's Connect features (leaf
 * certificates, authorization, proxy snapshots). Consul's agent cache with background
 * refresh: one blocking query per distinct path however many subscribers need it, so 1,000
 * proxies that share an upstream cost one parked query, not 1,000.
 *
 * A watch runs `GET <path>?index=<last>&wait=<ms>&stale` in a loop while it has subscribers,
 * keeps the last good answer (subscribers still see it while the servers are unreachable),
 * backs off with jitter after a failure (1 s doubling to 30 s), and stops when its last
 * subscriber leaves. Limits: at most MAX_WATCHES paths, and an answer over MAX_WATCH_BODY
 * bytes is an error (kept out of memory).
 */
import type { ForwardedAnswer } from '../client-rpc.js';

export const MAX_WATCHES = 16_384;
export const MAX_WATCH_BODY = 16 * 1024 * 1024;
/** The blocking wait of each query; short enough that an abandoned one ends soon. */
export const WATCH_WAIT_MS = 60_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

/** How the agent reaches the servers' HTTP API (a server: itself; a client: forwarded). */
export type ServerGet = (url: string, signal: AbortSignal) => Promise<ForwardedAnswer>;

export interface WatchValue {
  /** X-Consul-Index of the answer. */
  readonly index: number;
  /** The parsed JSON body. */
  readonly value: unknown;
}

type Listener = (v: WatchValue) => void;

class Watch {
  readonly listeners = new Set<Listener>();
  last: WatchValue | undefined;
  lastError = '';
  readonly abort = new AbortController();
  constructor(readonly path: string) {}
}

export class WatchError extends Error {
  override readonly name = 'WatchError';
}

export class WatchHub {
  readonly #get: ServerGet;
  readonly #watches = new Map<string, Watch>();
  readonly #random: () => number;
  #closed = false;
  /** Queries made (for /v1/agent/self and tests). */
  queries = 0;

  constructor(get: ServerGet, random: () => number = Math.random) {
    this.#get = get;
    this.#random = random;
  }

  get size(): number {
    return this.#watches.size;
  }

  /**
   * Calls `fn` with the current answer (at once, if there is one) and with every newer one
   * until the returned function is called. `path` is an API path with its own query, if any.
   */
  subscribe(path: string, fn: Listener): () => void {
    if (this.#closed) throw new WatchError('the agent is shutting down');
    let w = this.#watches.get(path);
    if (w === undefined) {
      if (this.#watches.size >= MAX_WATCHES) {
        throw new WatchError(`too many distinct watches (limit ${MAX_WATCHES})`);
      }
      w = new Watch(path);
      this.#watches.set(path, w);
      void this.#run(w);
    }
    w.listeners.add(fn);
    if (w.last !== undefined) fn(w.last);
    const watch = w;
    return () => {
      watch.listeners.delete(fn);
      if (watch.listeners.size === 0 && this.#watches.get(path) === watch) {
        this.#watches.delete(path);
        watch.abort.abort();
      }
    };
  }

  /** The current answer of a path some subscriber keeps watched, if any has come. */
  peek(path: string): WatchValue | undefined {
    return this.#watches.get(path)?.last;
  }

  /** One answer: the current one if watched, else a single (non-blocking) query. */
  async fetch(path: string, signal: AbortSignal): Promise<WatchValue> {
    const known = this.peek(path);
    if (known !== undefined) return known;
    return this.#query(path, 0, signal);
  }

  async #query(path: string, index: number, signal: AbortSignal): Promise<WatchValue> {
    const sep = path.includes('?') ? '&' : '?';
    const url =
      index > 0
        ? `${path}${sep}stale&index=${index}&wait=${WATCH_WAIT_MS}ms`
        : `${path}${sep}stale`;
    this.queries++;
    const res = await this.#get(url, signal);
    if (res.body.length > MAX_WATCH_BODY) {
      throw new WatchError(`${path}: answer of ${res.body.length} bytes is over ${MAX_WATCH_BODY}`);
    }
    const text = Buffer.from(res.body).toString('utf8');
    if (res.status !== 200) {
      throw new WatchError(`${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    }
    const idx = Number(res.headers['x-consul-index'] ?? '0');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new WatchError(`${path}: the answer is not JSON`);
    }
    return { index: Number.isSafeInteger(idx) && idx > 0 ? idx : 1, value };
  }

  async #run(w: Watch): Promise<void> {
    let backoff = 0;
    while (!w.abort.signal.aborted && !this.#closed) {
      try {
        const v = await this.#query(w.path, w.last?.index ?? 0, w.abort.signal);
        backoff = 0;
        w.lastError = '';
        if (w.abort.signal.aborted) return;
        // A blocking query that timed out returns the same index: nothing to tell. An index
        // that went backwards (another server, a restore) is taken as it is and watched from.
        if (w.last === undefined || v.index !== w.last.index) {
          w.last = v;
          for (const fn of [...w.listeners]) fn(v);
        }
      } catch (e) {
        if (w.abort.signal.aborted) return;
        w.lastError = e instanceof Error ? e.message : String(e);
        backoff = backoff === 0 ? BACKOFF_MIN_MS : Math.min(backoff * 2, BACKOFF_MAX_MS);
        const delay = backoff / 2 + (this.#random() * backoff) / 2;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          w.abort.signal.addEventListener(
            'abort',
            () => {
              clearTimeout(t);
              resolve();
            },
            { once: true },
          );
        });
      }
    }
  }

  /** Errors of watches whose last query failed (path → message). */
  errors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const w of this.#watches.values()) if (w.lastError !== '') out[w.path] = w.lastError;
    return out;
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watches.values()) w.abort.abort();
    this.#watches.clear();
  }
}
