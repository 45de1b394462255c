/**
 * The CA package's one error type. Every failure caused by the input (a malformed PEM, a CSR
 * for another trust domain, a root that is not a CA, an out-of-range option) is a
 * {@link CaError}: the HTTP layer maps all of them to 400 and returns `message` as the body.
 * Anything else escaping this package is a bug.
 */

export type CaErrorCode =
  /** Text that is not PEM, or PEM whose base64 body is damaged. */
  | 'bad-pem'
  /** A certificate that cannot be parsed. */
  | 'bad-cert'
  /** A CSR that cannot be parsed, does not verify, is too large or carries the wrong SANs. */
  | 'bad-csr'
  /** The CSR's SPIFFE ID belongs to another trust domain. */
  | 'wrong-trust-domain'
  /** The CSR's SPIFFE ID names another datacenter. */
  | 'wrong-datacenter'
  /** A SPIFFE ID that is malformed or of a kind that cannot be used here. */
  | 'bad-spiffe-id'
  /** A CA (root or signing) certificate that cannot be used: not a CA, expired, unsupported. */
  | 'bad-root'
  /** A private key (or a CSR's public key) that cannot be parsed, is unsupported or does not match. */
  | 'bad-key'
  /** An option out of range: a TTL, a key size, a date. */
  | 'bad-config';

export class CaError extends Error {
  readonly code: CaErrorCode;

  constructor(code: CaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CaError';
    this.code = code;
  }
}

export function isCaError(e: unknown): e is CaError {
  return e instanceof CaError;
}

/** The message of an unknown thrown value, for wrapping third-party errors. */
export function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
