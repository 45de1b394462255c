/**
 * The HTTP API's limits and defaults, each with its source. Every limit is enforced with a clear
 * error (413 for bodies, 400 for parameters); see {@link HttpLimits} for the overridable ones.
 */

/** Consul's kv_max_value_size default (512 KiB): the largest KV value a PUT may carry. */
export const DEFAULT_KV_MAX_VALUE_SIZE = 512 * 1024;

/**
 * The largest snapshot archive `PUT /v1/snapshot` accepts. Consul streams restores without a
 * limit; our Backend takes the archive as one buffer, so the HTTP layer holds it in memory and
 * must bound it. 256 MiB covers a state store far larger than Consul's own guidance (KV values
 * ≤ 512 KiB, catalogs of tens of thousands of services) while keeping one restore's memory sane.
 */
export const DEFAULT_SNAPSHOT_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Endpoints that take no body still must not let a client stream an unbounded one at us: a
 * declared body over this size is refused with 413 before it is read (Node discards smaller
 * unread bodies itself).
 */
export const DEFAULT_MAX_IGNORED_BODY_BYTES = 64 * 1024;

/** Consul's defaultQueryTime: a blocking query without `?wait=` waits 5 minutes. */
export const DEFAULT_QUERY_TIME_MS = 5 * 60_000;

/** Consul's maxQueryTime: `?wait=` is capped at 10 minutes. */
export const MAX_QUERY_TIME_MS = 10 * 60_000;

/**
 * Blocking reads woken by one change are resumed at most this many per event-loop turn. An
 * answer costs ~100 µs on a loaded 2-core machine (most of it the socket write and, for a
 * `Connection: close` client, the teardown), so a turn lasts ~50 ms: sockets, Raft heartbeats
 * (every 100 ms; elections after 1-2 s without one) and the write that caused the change are
 * served between turns. Smaller turns measured no faster and add more interleaved teardown.
 */
export const BLOCKING_WAKE_BATCH = 512;

/** Consul's structs.JitterFraction: up to wait/16 of random jitter is added to a blocking wait. */
export const JITTER_FRACTION = 16;

/**
 * Node's default (16 KiB) limit on the request line plus headers applies: a longer query string
 * is refused by Node with 431 before it reaches a route. Consul (Go) allows 1 MiB of headers;
 * nothing in the v1 API needs more than a few hundred bytes of query.
 */
export const NODE_MAX_HEADER_BYTES_NOTE = 16 * 1024;

/** Consul's default `acl.default_policy` ("allow"), reported in X-Consul-Default-ACL-Policy. */
export const DEFAULT_ACL_POLICY = 'allow';

/** Consul's `kv_max_value_size` documentation link, quoted in its 413 text. */
export const KV_MAX_VALUE_SIZE_DOC =
  'https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size';
