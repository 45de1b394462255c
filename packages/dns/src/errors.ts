/**
 * The DNS package's error catalog. Codes are stable strings: once published a code keeps
 * its meaning; new codes are appended. Network input never raises these (a bad query gets
 * FORMERR or is dropped); they are raised for API misuse and local failures.
 */

export const DnsErrorCode = {
  /** An option or config value is out of range or malformed. */
  InvalidOption: 'DNS_INVALID_OPTION',
  /** The UDP socket or TCP listener could not be bound. */
  BindFailed: 'DNS_BIND_FAILED',
  /** The handler or server was closed. */
  Closed: 'DNS_CLOSED',
} as const;

export type DnsErrorCode = (typeof DnsErrorCode)[keyof typeof DnsErrorCode];

export const DNS_ERROR_CATALOG: Readonly<Record<DnsErrorCode, string>> = {
  DNS_INVALID_OPTION: 'invalid DNS option',
  DNS_BIND_FAILED: 'could not bind the DNS port',
  DNS_CLOSED: 'the DNS server is closed',
};

export class DnsError extends Error {
  readonly code: DnsErrorCode;

  constructor(code: DnsErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`${code}: ${DNS_ERROR_CATALOG[code]}: ${detail}`, options);
    this.name = 'DnsError';
    this.code = code;
  }
}

export function isDnsError(e: unknown): e is DnsError {
  return e instanceof DnsError;
}
