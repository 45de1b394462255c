/**
 * Errors of the I/O shell (keyring, transport, agent). Kept apart from the core's catalog
 * (errors.ts) because the core is pure and never raises these. Codes are stable strings
 * with the same rules as the core's: once published a code keeps its meaning; new codes
 * are appended.
 *
 * Network input never raises any of these: bad packets and frames are dropped and
 * counted (see {@link DropReason}). They are raised for API misuse and local failures.
 */

export const IoErrorCode = {
  /** A gossip key is not valid base64, or does not decode to 32 bytes. */
  KeyInvalid: 'GOSSIP_KEY_INVALID',
  /** `use` / `remove` named a key that is not installed. */
  KeyNotInstalled: 'GOSSIP_KEY_NOT_INSTALLED',
  /** `remove` named the primary key (switch with `use` first). */
  KeyIsPrimary: 'GOSSIP_KEY_IS_PRIMARY',
  /** The UDP socket or TCP listener could not be bound. */
  BindFailed: 'GOSSIP_BIND_FAILED',
  /** The transport or agent was closed (or its AbortSignal fired). */
  Closed: 'GOSSIP_CLOSED',
  /** A stream (TCP) exchange failed: connect, write, read, decode or timeout. */
  StreamFailed: 'GOSSIP_STREAM_FAILED',
  /** An address is not "host:port" / "[v6]:port" with a port in 0–65535. */
  BadAddress: 'GOSSIP_BAD_ADDRESS',
  /** Join reached none of the seeds within the attempts allowed. */
  JoinFailed: 'GOSSIP_JOIN_FAILED',
  /** An agent option is out of range. */
  InvalidOption: 'GOSSIP_INVALID_OPTION',
} as const;

export type IoErrorCode = (typeof IoErrorCode)[keyof typeof IoErrorCode];

export const IO_ERROR_CATALOG: Readonly<Record<IoErrorCode, string>> = {
  GOSSIP_KEY_INVALID: 'invalid gossip encryption key',
  GOSSIP_KEY_NOT_INSTALLED: 'key is not installed in the keyring',
  GOSSIP_KEY_IS_PRIMARY: 'the primary key cannot be removed',
  GOSSIP_BIND_FAILED: 'could not bind the gossip port',
  GOSSIP_CLOSED: 'the gossip transport is closed',
  GOSSIP_STREAM_FAILED: 'stream exchange failed',
  GOSSIP_BAD_ADDRESS: 'invalid address',
  GOSSIP_JOIN_FAILED: 'could not join any seed',
  GOSSIP_INVALID_OPTION: 'invalid option',
};

export class GossipIoError extends Error {
  readonly code: IoErrorCode;

  constructor(code: IoErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`${code}: ${IO_ERROR_CATALOG[code]}: ${detail}`, options);
    this.name = 'GossipIoError';
    this.code = code;
  }
}

export function isGossipIoError(e: unknown): e is GossipIoError {
  return e instanceof GossipIoError;
}

/**
 * Why an inbound packet or frame was dropped. Stable strings (metrics labels):
 *   oversized   larger than the configured packet / frame limit (never read further)
 *   truncated   shorter than its envelope or header, a TCP frame cut off, or the core
 *               reported GOSSIP_TRUNCATED
 *   garbage     unknown envelope version (not our encryption layout), or an unencrypted
 *               packet reaching an encrypting agent
 *   decrypt     authentication failed with every installed key (wrong key, tampered)
 *   replay      an envelope nonce seen recently (exact replay of an encrypted packet)
 *   malformed   decrypted fine but the core could not decode it (GOSSIP_MALFORMED,
 *               GOSSIP_UNKNOWN_TYPE)
 *   version     the core's GOSSIP_UNSUPPORTED_VERSION
 *   unexpected  the core decoded it but it made no sense there (any other core code)
 *   tcp-limit   an inbound connection over the concurrent-connection limit (closed at once)
 *   tcp-timeout an inbound connection did not deliver its frame within the TCP timeout
 */
export type DropReason =
  | 'oversized'
  | 'truncated'
  | 'garbage'
  | 'decrypt'
  | 'replay'
  | 'malformed'
  | 'version'
  | 'unexpected'
  | 'tcp-limit'
  | 'tcp-timeout';

export const DROP_REASONS: readonly DropReason[] = [
  'oversized',
  'truncated',
  'garbage',
  'decrypt',
  'replay',
  'malformed',
  'version',
  'unexpected',
  'tcp-limit',
  'tcp-timeout',
];
