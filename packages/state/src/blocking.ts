/**
 * Consul's blocking-query loop over the store (agent/consul/rpc.go blockingQuery), without its
 * timer: the caller bounds the wait with an AbortSignal (the HTTP layer's `?wait=`, capped and
 * jittered as Consul does, becomes `AbortSignal.timeout(...)`).
 */
import type { QueryResult, StateStore } from './store.js';
import type { WatchSet } from './watch.js';

export interface BlockingOptions {
  /** `?index=`: answer once the result's index is above this (0: answer at once). */
  readonly minIndex: number;
  /** Ends the wait; the query then answers with what it has (same index: a timeout). */
  readonly signal?: AbortSignal;
}

/**
 * Runs `query` and, while its index is ≤ `minIndex`, parks on the watch set the query filled
 * and runs it again after a change. Every parked watch set is fired or cancelled before this
 * returns, so an abandoned request leaves nothing registered.
 */
export async function blockingQuery<T>(
  store: StateStore,
  opts: BlockingOptions,
  query: (ws: WatchSet | undefined) => QueryResult<T>,
): Promise<QueryResult<T>> {
  if (opts.minIndex <= 0) return query(undefined);
  for (;;) {
    const ws = store.watchSet();
    const res = query(ws);
    if (res.index > opts.minIndex) {
      ws.cancel();
      return res;
    }
    if (!(await ws.wait(opts.signal))) return query(undefined);
  }
}
