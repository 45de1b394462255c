/**
 * Consul's shared request parsing (http.go parse/parseDC/parseConsistency/parseWait), the raw
 * body reader with its limit, and the blocking-read loop every blocking endpoint uses.
 */
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { QueryResult, StateStore, WatchSet } from '@trellis/state';
import type { Backend, ReadMeta, ReadMode } from './backend.js';
import { JITTER_FRACTION } from './constants.js';
import { NO_DC_PATH_TEXT, HttpError, badRequest, bodyTooLarge } from './errors.js';
import { parseGoDuration } from './duration.js';
import { Parking } from './parking.js';
import { parseUint, qget, qhas, type Query } from './wire.js';

export interface QueryOptions {
  readonly mode: ReadMode;
  /** `?index=`: 0 for a non-blocking read. */
  readonly minIndex: number;
  /** How long a blocking read may park, capped and jittered (ms). */
  readonly waitMs: number;
}

export interface WaitLimits {
  readonly defaultQueryTimeMs: number;
  readonly maxQueryTimeMs: number;
  /** [0, 1): the jitter source (Math.random in production). */
  readonly random: () => number;
}

/** `?stale` / `?consistent` (presence counts, whatever the value); both together is a 400. */
export function parseConsistency(q: Query): ReadMode {
  const stale = qhas(q, 'stale');
  const consistent = qhas(q, 'consistent');
  if (stale && consistent) {
    throw badRequest('Cannot specify ?stale with ?consistent, conflicting semantics.');
  }
  // Consul's agent cache serves possibly stale answers: it cannot be consistent.
  if (consistent && qhas(q, 'cached')) {
    throw badRequest('Cannot specify ?cached with ?consistent, conflicting semantics.');
  }
  return stale ? 'stale' : consistent ? 'consistent' : 'default';
}

/**
 * `?wait=` (a Go duration) and `?index=` (a uint64), with Consul's texts. The wait is then
 * treated as the server's blockingQuery does: ≤ 0 means the default, above the maximum is capped,
 * and up to wait/16 of jitter is added so parked clients do not all wake at once.
 */
export function parseWait(q: Query, limits: WaitLimits): { minIndex: number; waitMs: number } {
  let waitMs = 0;
  const wait = qget(q, 'wait');
  if (wait !== '') {
    const d = parseGoDuration(wait);
    if (d === undefined) throw badRequest('Invalid wait time');
    waitMs = d;
  }
  let minIndex = 0;
  const idx = qget(q, 'index');
  if (idx !== '') {
    // Go's ParseUint(idx, 10, 64). An index past 2^53 cannot come from a real log: it is held
    // as "block until the wait ends" (MAX_SAFE_INTEGER) rather than refused.
    if (!/^[0-9]+$/.test(idx) || BigInt(idx) > 18_446_744_073_709_551_615n) {
      throw badRequest('Invalid index');
    }
    minIndex = parseUint(idx) ?? Number.MAX_SAFE_INTEGER;
  }
  if (waitMs > limits.maxQueryTimeMs) waitMs = limits.maxQueryTimeMs;
  else if (waitMs <= 0) waitMs = limits.defaultQueryTimeMs;
  waitMs += Math.floor(limits.random() * (waitMs / JITTER_FRACTION));
  return { minIndex, waitMs };
}

/** Consul's parse(): consistency first, then wait and index. */
export function parseQueryOptions(q: Query, limits: WaitLimits): QueryOptions {
  const mode = parseConsistency(q);
  return { mode, ...parseWait(q, limits) };
}

/**
 * `?dc=`: empty or this agent's datacenter is local. Any other name is a datacenter we have no
 * route to (no WAN federation yet): Consul's RPC forwarding answers 500 "No path to datacenter".
 */
export function checkDatacenter(q: Query, backend: { readonly datacenter: string }): void {
  const dc = qget(q, 'dc');
  if (dc !== '' && dc !== backend.datacenter) throw new HttpError(500, NO_DC_PATH_TEXT);
}

// ---------------------------------------------------------------- bodies

/**
 * Reads the whole request body, refusing more than `max` bytes with 413: at once when
 * Content-Length says so (nothing is read), else as soon as the stream passes the limit. The
 * caller answers with `Connection: close` after a 413 so the rest is never read.
 */
export async function readBody(
  req: IncomingMessage,
  max: number,
  tooLarge: (bytes: number) => HttpError = (n) => bodyTooLarge(n, max),
): Promise<Buffer> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > max) throw tooLarge(declared);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) {
      req.pause();
      throw tooLarge(declared ?? total);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

export function declaredLength(req: IncomingMessage): number | undefined {
  const h = req.headers['content-length'];
  if (h === undefined) return undefined;
  const n = Number(h);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

// ---------------------------------------------------------------- blocking reads

/** Thrown when the client went away: nothing is answered. */
export class ClientGone extends Error {
  override readonly name = 'ClientGone';
}

export interface BlockingRead<T> {
  readonly result: QueryResult<T>;
  readonly meta: ReadMeta;
}

/**
 * Blocking reads share one {@link Parking} per process: what it paces, the event loop, is the
 * process's.
 */
const PROCESS_PARKING = new Parking();

/**
 * Consul's blockingQuery around a store read:
 * 1. wait for the read barrier of `mode` (the leader lease, a ReadIndex round, or nothing);
 * 2. run the query; if `minIndex` is 0 or the result's index is above it, answer;
 * 3. else park on the watch set the query filled (see {@link Parking}) until it fires, the wait
 *    ends (answer with what there is: a timeout) or the client disconnects (the watch is
 *    cancelled, nothing is answered); `opts.waitMs` bounds the whole loop, not each park;
 * 4. after a wake, a `consistent` read passes a new barrier (Consul re-runs consistentRead on
 *    every iteration); a `stale` read refreshes its staleness meta; then go to 2.
 */
export async function blockingRead<T>(
  backend: Backend,
  opts: QueryOptions,
  client: AbortSignal,
  query: (store: StateStore, ws: WatchSet | undefined) => QueryResult<T>,
  parking: Parking = PROCESS_PARKING,
): Promise<BlockingRead<T>> {
  let meta = await barrier(backend, opts.mode, client);
  const store = backend.store;
  if (opts.minIndex <= 0) return { result: query(store, undefined), meta };
  const deadline = performance.now() + opts.waitMs;
  for (let woken = false; ; woken = true) {
    if (woken) {
      // A change usually moved the index past minIndex: read without a watch first, and watch
      // only if the read must park again (nothing can change between the two synchronous reads).
      const result = query(store, undefined);
      if (result.index > opts.minIndex) return { result, meta };
    }
    const ws = store.watchSet();
    const result = query(store, ws);
    if (result.index > opts.minIndex) {
      ws.cancel();
      return { result, meta };
    }
    const outcome = await parking.wait(ws, deadline, client);
    if (outcome === 'gone') throw new ClientGone();
    if (outcome === 'timeout') return { result: query(store, undefined), meta };
    if (opts.mode !== 'default') meta = await barrier(backend, opts.mode, client);
  }
}

async function barrier(backend: Backend, mode: ReadMode, client: AbortSignal): Promise<ReadMeta> {
  try {
    return await backend.readBarrier(mode, client);
  } catch (e) {
    if (client.aborted) throw new ClientGone();
    throw e;
  }
}
