/**
 * Watches: the basis of blocking queries. A query adds the channels it read (a table, a row, an
 * index value, a key prefix, a named index such as `service.web`) to a {@link WatchSet}; the
 * commit that next touches any of them fires the set once and detaches it from all its channels.
 * Waking N parked sets costs O(N × channels per set), independent of table sizes.
 */
import { channel, type Journal } from './table.js';

/** Subscribers per channel. One per store. */
export class WatchRegistry {
  private readonly channels = new Map<string, Set<WatchSet>>();
  /** Per table, how many prefix subscriptions exist (0: skip prefix resolution). */
  private readonly prefixSubs = new Map<string, number>();

  /** A new, empty, armed watch set bound to this registry. */
  create(): WatchSet {
    return new WatchSet(this);
  }

  /** How many watch sets are parked (armed with at least one channel). */
  get parked(): number {
    const seen = new Set<WatchSet>();
    for (const s of this.channels.values()) for (const w of s) seen.add(w);
    return seen.size;
  }

  /** How many channels have subscribers (0 once every set fired or was cancelled). */
  get channelCount(): number {
    return this.channels.size;
  }

  /** @internal Returns false if `ws` was already subscribed to `key`. */
  subscribe(key: string, ws: WatchSet): boolean {
    let s = this.channels.get(key);
    if (s === undefined) this.channels.set(key, (s = new Set()));
    if (s.has(ws)) return false;
    s.add(ws);
    const t = prefixTable(key);
    if (t !== undefined) this.prefixSubs.set(t, (this.prefixSubs.get(t) ?? 0) + 1);
    return true;
  }

  /** @internal */
  unsubscribe(key: string, ws: WatchSet): void {
    const s = this.channels.get(key);
    if (s === undefined || !s.delete(ws)) return;
    if (s.size === 0) this.channels.delete(key);
    const t = prefixTable(key);
    if (t !== undefined) {
      const n = (this.prefixSubs.get(t) ?? 1) - 1;
      if (n === 0) this.prefixSubs.delete(t);
      else this.prefixSubs.set(t, n);
    }
  }

  /** Fires every set subscribed to a channel the committed journal touched. */
  notify(j: Journal): void {
    const fire: WatchSet[] = [];
    const collect = (key: string): void => {
      const s = this.channels.get(key);
      if (s !== undefined) for (const w of s) fire.push(w);
    };
    for (const key of j.touched) collect(key);
    for (const [table, keys] of j.changedKeys) {
      if (!this.prefixSubs.has(table)) continue;
      for (const pk of keys) {
        for (let i = 0; i <= pk.length; i++) collect(channel.prefix(table, pk.slice(0, i)));
      }
    }
    for (const w of fire) w.fire();
  }

  /** Fires every parked set (restore replaced the whole store). */
  notifyAll(): void {
    const fire = new Set<WatchSet>();
    for (const s of this.channels.values()) for (const w of s) fire.add(w);
    for (const w of fire) w.fire();
  }
}

function prefixTable(key: string): string | undefined {
  if (!key.startsWith('p\0')) return undefined;
  const end = key.indexOf('\0', 2);
  return key.slice(2, end);
}

/**
 * Like go-memdb's WatchSet: collects channels during reads, then fires at most once. It must
 * end fired or cancelled; a parked set holds registry entries until then ({@link wait} with an
 * AbortSignal cancels on abort).
 */
export class WatchSet {
  private readonly keys: string[] = [];
  private state: 'armed' | 'fired' | 'cancelled' = 'armed';
  // Allocated on first use: thousands of sets may be parked at once, most with one waiter and
  // no callbacks or `changed` reader.
  private callbacks: Array<() => void> | undefined;
  private waiters: Array<(fired: boolean) => void> | undefined;
  private changedPromise: Promise<void> | undefined;
  private resolveChanged: (() => void) | undefined;

  /** @internal Use {@link WatchRegistry.create} or `StateStore.watchSet()`. */
  constructor(private readonly registry: WatchRegistry) {}

  /** Resolves once, when a watched item changes after it was read (or the store is restored). */
  get changed(): Promise<void> {
    if (this.changedPromise === undefined) {
      if (this.state === 'fired') this.changedPromise = Promise.resolve();
      else {
        this.changedPromise = new Promise<void>((resolve) => {
          this.resolveChanged = resolve;
        });
      }
    }
    return this.changedPromise;
  }

  get fired(): boolean {
    return this.state === 'fired';
  }

  get cancelled(): boolean {
    return this.state === 'cancelled';
  }

  /** How many channels this set watches. */
  get size(): number {
    return this.keys.length;
  }

  /** Adds a channel (see `channel` in table.ts); a no-op once fired or cancelled. */
  add(key: string): void {
    if (this.state !== 'armed') return;
    if (this.registry.subscribe(key, this)) this.keys.push(key);
  }

  /** Runs `cb` once when the set fires (in a microtask; never if cancelled first). */
  onChange(cb: () => void): void {
    if (this.state === 'cancelled') return;
    if (this.state === 'fired') queueMicrotask(cb);
    else (this.callbacks ??= []).push(cb);
  }

  /** Detaches from every channel; `changed` then never resolves. Idempotent. */
  cancel(): void {
    if (this.state !== 'armed') return;
    this.state = 'cancelled';
    this.detach();
    this.callbacks = undefined;
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w(false);
  }

  /**
   * Resolves true when the set fires, false when `signal` aborts or the set is cancelled (and
   * cancels it). The HTTP layer passes the client's signal and cancels the set itself when the
   * query's wait ends.
   */
  wait(signal?: AbortSignal): Promise<boolean> {
    if (this.state === 'fired') return Promise.resolve(true);
    if (this.state === 'cancelled' || signal?.aborted === true) {
      this.cancel();
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      const onAbort = (): void => this.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      (this.waiters ??= []).push((fired) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(fired);
      });
    });
  }

  /** @internal Called by the registry. */
  fire(): void {
    if (this.state !== 'armed') return;
    this.state = 'fired';
    this.detach();
    this.resolveChanged?.();
    const waiters = this.waiters;
    const callbacks = this.callbacks;
    this.waiters = undefined;
    this.callbacks = undefined;
    if (waiters !== undefined) for (const w of waiters) w(true);
    if (callbacks !== undefined) for (const cb of callbacks) queueMicrotask(cb);
  }

  private detach(): void {
    for (const k of this.keys) this.registry.unsubscribe(k, this);
    this.keys.length = 0;
  }
}
