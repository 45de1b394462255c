/**
 * The state store's error catalog. Codes are stable strings (they cross the RPC boundary and
 * the HTTP layer maps them to status codes); each code has its own typed metadata.
 */

export const StateErrorCode = {
  /** The bytes are not a command envelope (not msgpack, wrong shape). */
  MALFORMED_COMMAND: 'ERR_STATE_MALFORMED_COMMAND',
  /** The envelope version is not one this build reads. */
  UNSUPPORTED_VERSION: 'ERR_STATE_UNSUPPORTED_VERSION',
  /**
   * A command type this build does not know, without the ignore-unknown flag. The caller (the
   * Raft node) must treat it as fatal: applying past it would diverge from newer servers.
   */
  UNKNOWN_COMMAND: 'ERR_STATE_UNKNOWN_COMMAND',
  /** A command field has the wrong type or an invalid value. */
  INVALID_COMMAND: 'ERR_STATE_INVALID_COMMAND',
  /** The Raft index is not above the last applied index. */
  INDEX_NOT_MONOTONIC: 'ERR_STATE_INDEX_NOT_MONOTONIC',
  /** Consul's ErrMissingNode: "Missing node registration". */
  MISSING_NODE: 'ERR_STATE_MISSING_NODE',
  /** Consul's ErrMissingService: "Missing service registration". */
  MISSING_SERVICE: 'ERR_STATE_MISSING_SERVICE',
  /** A node ID already belongs to a node with another name. */
  NODE_ID_CONFLICT: 'ERR_STATE_NODE_ID_CONFLICT',
  /** A session names a check that is not registered on its node. */
  MISSING_CHECK: 'ERR_STATE_MISSING_CHECK',
  /** A session names a check that is critical. */
  CHECK_CRITICAL: 'ERR_STATE_CHECK_CRITICAL',
  /** A session with this ID already exists. */
  SESSION_EXISTS: 'ERR_STATE_SESSION_EXISTS',
  /** A lock or unlock without a session ("missing session"). */
  MISSING_SESSION: 'ERR_STATE_MISSING_SESSION',
  /** A lock naming a session that does not exist ("invalid session"). */
  INVALID_SESSION: 'ERR_STATE_INVALID_SESSION',
  /** A transaction with more operations than {@link MAX_TXN_OPS}. */
  TXN_TOO_LARGE: 'ERR_STATE_TXN_TOO_LARGE',
  /** Snapshot bytes that cannot be restored (the store is left unchanged). */
  SNAPSHOT_INVALID: 'ERR_STATE_SNAPSHOT_INVALID',
} as const;

export type StateErrorCode = (typeof StateErrorCode)[keyof typeof StateErrorCode];

/** The metadata each code carries. */
export interface StateErrorMetaMap {
  [StateErrorCode.MALFORMED_COMMAND]: { readonly reason: string };
  [StateErrorCode.UNSUPPORTED_VERSION]: { readonly version: unknown };
  [StateErrorCode.UNKNOWN_COMMAND]: { readonly type: number };
  [StateErrorCode.INVALID_COMMAND]: { readonly field: string };
  [StateErrorCode.INDEX_NOT_MONOTONIC]: { readonly index: number; readonly lastApplied: number };
  [StateErrorCode.MISSING_NODE]: { readonly node: string };
  [StateErrorCode.MISSING_SERVICE]: { readonly node: string; readonly serviceId: string };
  [StateErrorCode.NODE_ID_CONFLICT]: {
    readonly id: string;
    readonly node: string;
    readonly existing: string;
  };
  [StateErrorCode.MISSING_CHECK]: { readonly node: string; readonly checkId: string };
  [StateErrorCode.CHECK_CRITICAL]: { readonly node: string; readonly checkId: string };
  [StateErrorCode.SESSION_EXISTS]: { readonly id: string };
  [StateErrorCode.MISSING_SESSION]: { readonly key: string };
  [StateErrorCode.INVALID_SESSION]: { readonly key: string; readonly session: string };
  [StateErrorCode.TXN_TOO_LARGE]: { readonly ops: number; readonly max: number };
  [StateErrorCode.SNAPSHOT_INVALID]: { readonly reason: string };
}

export class StateError<C extends StateErrorCode = StateErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    readonly meta: StateErrorMetaMap[C],
  ) {
    super(message);
    this.name = 'StateError';
  }
}

export function isStateError<C extends StateErrorCode>(e: unknown, code?: C): e is StateError<C> {
  return e instanceof StateError && (code === undefined || e.code === code);
}

/** Shorthand for an INVALID_COMMAND error naming the offending field path. */
export function invalid(field: string, message: string): StateError<'ERR_STATE_INVALID_COMMAND'> {
  return new StateError(StateErrorCode.INVALID_COMMAND, `${field}: ${message}`, { field });
}
