/**
 * How failures become HTTP answers. Every error the HTTP API returns is an {@link HttpError}: a
 * status and Consul's plain-text body (Consul writes `err.Error()` with Go's sniffed
 * `text/plain; charset=utf-8`). Backend and state-store errors are mapped here, in one place.
 */
import { StateErrorCode, isStateError } from '@trellis/state';
import { isBackendError, type BackendErrorCode } from './backend.js';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    /** The plain-text body ("" for an empty body, as Consul sends for some 4xx). */
    readonly body: string,
    /** Extra response headers (e.g. Allow on 405). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(body === '' ? `HTTP ${status}` : body);
  }
}

/** Consul's structs.ErrNoLeader text. */
export const NO_LEADER_TEXT = 'No cluster leader';
/** Consul's structs.ErrNoDCPath text: a `?dc=` this agent has no route to. */
export const NO_DC_PATH_TEXT = 'No path to datacenter';

export const badRequest = (text: string): HttpError => new HttpError(400, text);

/** Consul's MethodNotAllowedError: 405, `Allow: OPTIONS,<methods>`, "method X not allowed". */
export function methodNotAllowed(method: string, allowed: readonly string[]): HttpError {
  return new HttpError(405, `method ${method} not allowed`, {
    Allow: ['OPTIONS', ...allowed].join(','),
  });
}

/** Consul's 413 text for an oversized body (kvs_endpoint.go / txn_endpoint.go wording). */
export function bodyTooLarge(bytes: number, max: number, doc?: string): HttpError {
  const see = doc === undefined ? '' : ` See ${doc}.`;
  return new HttpError(
    413,
    `Request body(${bytes} bytes) too large, max size: ${max} bytes.${see}`,
  );
}

const BACKEND_STATUS: Readonly<Record<BackendErrorCode, number>> = {
  NO_LEADER: 500,
  UNAVAILABLE: 500,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  INTERNAL: 500,
};

/**
 * State-store refusals. The ones a well-formed request can only hit through bad input the HTTP
 * layer could not see (a field the FSM validates, an oversized transaction, a bad archive) are
 * the caller's fault: 400 (413 for size). The ones Consul's FSM reports as RPC errors (missing
 * or invalid session, missing node/service/check, …) stay 500 with the store's text, as Consul
 * answers them. Log-level faults (version, unknown type, index order) are 500.
 */
const STATE_STATUS: Readonly<Record<StateErrorCode, number>> = {
  [StateErrorCode.MALFORMED_COMMAND]: 400,
  [StateErrorCode.INVALID_COMMAND]: 400,
  [StateErrorCode.SNAPSHOT_INVALID]: 400,
  [StateErrorCode.TXN_TOO_LARGE]: 413,
  [StateErrorCode.UNSUPPORTED_VERSION]: 500,
  [StateErrorCode.UNKNOWN_COMMAND]: 500,
  [StateErrorCode.INDEX_NOT_MONOTONIC]: 500,
  [StateErrorCode.MISSING_NODE]: 500,
  [StateErrorCode.MISSING_SERVICE]: 500,
  [StateErrorCode.NODE_ID_CONFLICT]: 500,
  [StateErrorCode.MISSING_CHECK]: 500,
  [StateErrorCode.CHECK_CRITICAL]: 500,
  [StateErrorCode.SESSION_EXISTS]: 500,
  [StateErrorCode.MISSING_SESSION]: 500,
  [StateErrorCode.INVALID_SESSION]: 500,
};

/** Any thrown value → the HttpError to answer with. Unknown errors are 500 with their message. */
export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (isBackendError(e)) {
    return new HttpError(
      BACKEND_STATUS[e.code],
      e.code === 'NO_LEADER' ? NO_LEADER_TEXT : e.message,
    );
  }
  if (isStateError(e)) return new HttpError(STATE_STATUS[e.code] ?? 500, e.message);
  return new HttpError(500, e instanceof Error ? e.message : String(e));
}
