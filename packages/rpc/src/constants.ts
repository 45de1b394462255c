/**
 * Defaults for the RPC layer, each with the reason it has this value. Every queue, window
 * and buffer here has a limit; over it a caller gets an {@link RpcError}, never unbounded
 * growth.
 */

/** Sub-protocol name prefix; the version follows: `trellis-rpc.1`. */
export const SUBPROTOCOL_PREFIX = 'trellis-rpc.';

/**
 * Wire protocol versions this build speaks, newest last. A version is added when a frame
 * type or field changes meaning; frame types within a version are append-only.
 */
export const PROTOCOL_VERSIONS: readonly number[] = [1];

/** Path the server accepts upgrades on; anything else is a 404. */
export const RPC_PATH = '/trellis/rpc';

export const DEFAULTS = {
  /**
   * Largest frame in bytes. Raft snapshot chunks are 1 MiB and append batches are capped
   * well below this, so 8 MiB leaves room for headers without letting one peer make us
   * buffer an arbitrary amount (Consul's raft transport has no cap; etcd's is 10 MiB).
   */
  maxMessageBytes: 8 * 1024 * 1024,
  /** A request without an answer after this long fails with ERR_RPC_TIMEOUT. */
  requestTimeoutMs: 10_000,
  /**
   * Requests a connection may have being handled at once; more are refused with
   * ERR_RPC_OVERLOADED at once rather than queued (the caller backs off or tries another
   * server). 1,024 covers 256 concurrent proposers per client with room to spare.
   */
  maxInflightPerConnection: 1024,
  /** Requests a client holds waiting for an answer (including while reconnecting). */
  maxPendingCalls: 4096,
  /** Connections a server accepts before refusing new ones with HTTP 503. */
  maxConnections: 4096,
  /**
   * Stream flow control: messages a sender may have unread by the receiver. 64 proxy
   * snapshots or snapshot chunks in flight keep the pipe full on a LAN without buffering
   * unboundedly behind a slow consumer.
   */
  streamWindow: 64,
  /** Streams one connection may have open at once. */
  maxStreamsPerConnection: 1024,
  /**
   * Back-pressure: once this many bytes wait in the socket's send buffer, senders wait for
   * it to drain below half. 4 MiB ≈ 30 ms of a 1 Gbit/s link.
   */
  sendHighWaterBytes: 4 * 1024 * 1024,
  /** Time allowed for the TCP/TLS connect and the WebSocket upgrade. */
  connectTimeoutMs: 5_000,
  /** Reconnect back-off: first delay, doubling to the cap, with ±50% jitter. */
  reconnectBaseMs: 50,
  reconnectMaxMs: 5_000,
  /**
   * Keepalive: a ping every interval; a peer silent for two intervals is dropped. Detects a
   * dead peer behind a half-open TCP connection well before the kernel's keepalive would.
   */
  keepaliveIntervalMs: 5_000,
} as const;
