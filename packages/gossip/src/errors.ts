/**
 * The one catalog of errors the gossip core raises. Codes are stable strings: once
 * published, a code keeps its meaning forever (new codes are appended, never renumbered
 * or reused), so drivers, logs and metrics may match on them.
 *
 * Every error the core throws is a {@link GossipError}. Decoding never throws anything
 * else: unexpected failures inside the codec are wrapped as `GOSSIP_MALFORMED`.
 */

export const ErrorCode = {
  /** Input ended before a complete message could be read. */
  Truncated: 'GOSSIP_TRUNCATED',
  /** A length, count or the whole input is larger than the wire limits allow. */
  Oversized: 'GOSSIP_OVERSIZED',
  /** The message type byte is not one this protocol version range knows. */
  UnknownType: 'GOSSIP_UNKNOWN_TYPE',
  /** Structurally invalid: bad enum value, invalid UTF-8, trailing bytes, nested compound… */
  Malformed: 'GOSSIP_MALFORMED',
  /** The peer speaks a protocol version range disjoint from ours. */
  UnsupportedVersion: 'GOSSIP_UNSUPPORTED_VERSION',
  /** Encoded member tags exceed the configured metadata budget. */
  MetaTooLarge: 'GOSSIP_META_TOO_LARGE',
  /** An encoded user event exceeds the configured size limit. */
  EventTooLarge: 'GOSSIP_EVENT_TOO_LARGE',
  /** A configuration value is out of range or inconsistent. */
  InvalidConfig: 'GOSSIP_INVALID_CONFIG',
  /** An operation that requires membership was called after leave(). */
  Left: 'GOSSIP_LEFT',
  /** An operation was called before start(). */
  NotStarted: 'GOSSIP_NOT_STARTED',
  /** A name, address or tag is not acceptable (empty, too long). */
  InvalidArgument: 'GOSSIP_INVALID_ARGUMENT',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Human descriptions, keyed by code (for docs and `gossip explain`-style tooling). */
export const ERROR_CATALOG: Readonly<Record<ErrorCode, string>> = {
  GOSSIP_TRUNCATED: 'input ended in the middle of a message',
  GOSSIP_OVERSIZED: 'a length, count or input size exceeds the wire limits',
  GOSSIP_UNKNOWN_TYPE: 'unknown message type',
  GOSSIP_MALFORMED: 'structurally invalid message',
  GOSSIP_UNSUPPORTED_VERSION: 'no protocol version in common with the peer',
  GOSSIP_META_TOO_LARGE: 'encoded member metadata exceeds the limit',
  GOSSIP_EVENT_TOO_LARGE: 'encoded user event exceeds the limit',
  GOSSIP_INVALID_CONFIG: 'invalid configuration',
  GOSSIP_LEFT: 'this member has left the cluster',
  GOSSIP_NOT_STARTED: 'the core has not been started',
  GOSSIP_INVALID_ARGUMENT: 'invalid argument',
};

export class GossipError extends Error {
  readonly code: ErrorCode;
  /** For codec errors: the byte offset at which decoding failed. */
  readonly offset: number | undefined;

  constructor(code: ErrorCode, detail: string, offset?: number, options?: { cause?: unknown }) {
    super(`${code}: ${ERROR_CATALOG[code]}: ${detail}`, options);
    this.name = 'GossipError';
    this.code = code;
    this.offset = offset;
  }
}

export function isGossipError(e: unknown): e is GossipError {
  return e instanceof GossipError;
}
