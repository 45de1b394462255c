/**
 * The RPC error catalog. Codes are stable strings that cross the wire: a handler's
 * {@link RpcError} reaches the caller with the same code, message and metadata.
 */

export const RpcErrorCode = {
  /** No answer within the request timeout. */
  TIMEOUT: 'ERR_RPC_TIMEOUT',
  /** The connection closed before the answer arrived (the request may have run). */
  DISCONNECTED: 'ERR_RPC_DISCONNECTED',
  /** The client or server was closed by its owner. */
  CLOSED: 'ERR_RPC_CLOSED',
  /** The caller's AbortSignal fired. */
  ABORTED: 'ERR_RPC_ABORTED',
  /** A frame over the size limit. */
  TOO_LARGE: 'ERR_RPC_TOO_LARGE',
  /** Too many requests, pending calls, streams or connections. */
  OVERLOADED: 'ERR_RPC_OVERLOADED',
  /** No handler for the method. */
  UNKNOWN_METHOD: 'ERR_RPC_UNKNOWN_METHOD',
  /** A malformed frame or a violation of the protocol (e.g. sending past the window). */
  PROTOCOL: 'ERR_RPC_PROTOCOL',
  /** The peers share no protocol version. */
  VERSION: 'ERR_RPC_VERSION',
  /** A handler failed with a non-RpcError; the message is passed on, the stack is not. */
  HANDLER: 'ERR_RPC_HANDLER',
  /** The other side cancelled the stream. */
  STREAM_CANCELLED: 'ERR_RPC_STREAM_CANCELLED',
  /** Connecting failed (refused, TLS failure, upgrade rejected). */
  CONNECT: 'ERR_RPC_CONNECT',
} as const;

export type RpcErrorCode = (typeof RpcErrorCode)[keyof typeof RpcErrorCode];

/** Metadata values that survive msgpack: keep them plain. */
export type RpcErrorMeta = Readonly<Record<string, unknown>>;

export class RpcError extends Error {
  constructor(
    /** A code from {@link RpcErrorCode}, or an application's own stable code. */
    readonly code: string,
    message: string,
    readonly meta: RpcErrorMeta = {},
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export function isRpcError(e: unknown, code?: string): e is RpcError {
  return e instanceof RpcError && (code === undefined || e.code === code);
}
