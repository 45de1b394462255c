/**
 * Defaults and limits of the CLI's HTTP client, each with its reason. Consul's Go client has
 * no timeouts at all; ours bound every request so a black-holed address cannot hang a script.
 */

/** Consul's default HTTP address (api.DefaultConfig). */
export const DEFAULT_HTTP_ADDR = '127.0.0.1:8500';

/**
 * Environment variables naming the agent's HTTP address, first set wins. TRELLIS_* lets a
 * Trellis user keep a Consul setup side by side; CONSUL_* keeps existing scripts working.
 */
export const HTTP_ADDR_ENV = ['TRELLIS_HTTP_ADDR', 'CONSUL_HTTP_ADDR'] as const;
/** `true` switches a scheme-less address to https (Consul's CONSUL_HTTP_SSL). */
export const HTTP_SSL_ENV = ['TRELLIS_HTTP_SSL', 'CONSUL_HTTP_SSL'] as const;
export const HTTP_TOKEN_ENV = ['TRELLIS_HTTP_TOKEN', 'CONSUL_HTTP_TOKEN'] as const;
export const HTTP_TOKEN_FILE_ENV = ['TRELLIS_HTTP_TOKEN_FILE', 'CONSUL_HTTP_TOKEN_FILE'] as const;

/**
 * Whole-request deadline (connect, headers and body) for ordinary calls. Generous: a default
 * (leader-lease) read may wait out an election, which takes seconds, never a minute.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Deadline for snapshot save/restore, which move the whole state store. */
export const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;

/**
 * Largest JSON or text response accepted. A recursive KV listing of a full store is the
 * biggest ordinary answer; Consul's own raft snapshot limit is of the same order.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** How much of an error response's body is kept for the message (Consul's are one line). */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Largest snapshot archive saved or restored. The state store is held in memory anyway. */
export const MAX_SNAPSHOT_BYTES = 1024 * 1024 * 1024;

/** Largest token file read (a token is a UUID). */
export const MAX_TOKEN_FILE_BYTES = 64 * 1024;
