/**
 * The connect package's error catalog. Codes are stable strings (the HTTP layer maps them to
 * status codes). Unlike the other packages' errors, the message is the bare text Consul would
 * answer with (no code prefix), because the HTTP layer sends it to the client as is; `field`
 * names the offending field path when there is one (e.g. `Sources[1].Permissions[0].HTTP`).
 */

export const ConnectErrorCode = {
  /** A config entry body (PUT /v1/config) is malformed or invalid: HTTP 400. */
  InvalidConfigEntry: 'CONNECT_INVALID_CONFIG_ENTRY',
  /** A legacy intention body or query is malformed or invalid: HTTP 400. */
  InvalidIntention: 'CONNECT_INVALID_INTENTION',
  /** No intention with that ID (or source/destination pair). */
  IntentionNotFound: 'CONNECT_INTENTION_NOT_FOUND',
  /**
   * The legacy (ID-based) intention API may not edit a destination whose intentions were last
   * written as a service-intentions config entry (Consul's checkLegacyIntentionApplyAllowed).
   */
  LegacyIntentionConflict: 'CONNECT_LEGACY_INTENTION_CONFLICT',
  /** A config entry conflicts with another one (protocol checks across entries): HTTP 400. */
  ConfigEntryConflict: 'CONNECT_CONFIG_ENTRY_CONFLICT',
  /** compileProxySnapshot was given a service that is neither a sidecar nor an ingress gateway. */
  InvalidSnapshotInput: 'CONNECT_INVALID_SNAPSHOT_INPUT',
} as const;

export type ConnectErrorCode = (typeof ConnectErrorCode)[keyof typeof ConnectErrorCode];

export class ConnectError extends Error {
  readonly code: ConnectErrorCode;
  /** The field path the error is about ('' when it is about the whole body). */
  readonly field: string;

  constructor(code: ConnectErrorCode, message: string, field = '') {
    super(message);
    this.name = 'ConnectError';
    this.code = code;
    this.field = field;
  }
}

export function isConnectError(e: unknown): e is ConnectError {
  return e instanceof ConnectError;
}

/** Go's %q for the strings we quote (JSON escaping is the same for everything printable). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}
