/**
 * Consul's CA timing defaults and limits (agent/structs/connect_ca.go).
 */
import { CaError } from './errors.js';

const HOUR = 3_600_000;

/** `leaf_cert_ttl` default: 72h. */
export const DEFAULT_LEAF_TTL_MS = 72 * HOUR;
/** Consul's MinLeafCertTTL: 1h. */
export const MIN_LEAF_TTL_MS = HOUR;
/** Consul's MaxLeafCertTTL: 8760h (365 days). */
export const MAX_LEAF_TTL_MS = 365 * 24 * HOUR;
/** `root_cert_ttl` default: 87600h (10 years of 365 days). */
export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 24 * HOUR;
/** How long a cross-signed root is valid: 7 days, as Consul's provider. */
export const DEFAULT_CROSS_SIGN_TTL_MS = 7 * 24 * HOUR;
/** Leaves are valid from one minute before `now` (Consul's CertificateTimeDriftBuffer). */
export const CLOCK_SKEW_MS = 60_000;
/** Largest CSR accepted, in bytes of PEM text. */
export const MAX_CSR_BYTES = 16 * 1024;

/** Formats milliseconds as Go prints a time.Duration of whole seconds (`72h0m0s`). */
export function formatDuration(ms: number): string {
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Checks a leaf TTL against Consul's bounds, 1h to 8760h inclusive. Throws CaError('bad-config'). */
export function validateLeafTtl(ms: number): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new CaError(
      'bad-config',
      `leaf cert TTL must be a number of milliseconds, got ${String(ms)}`,
    );
  }
  if (ms < MIN_LEAF_TTL_MS) {
    throw new CaError(
      'bad-config',
      `leaf cert TTL must be greater or equal than ${formatDuration(MIN_LEAF_TTL_MS)}, got ${formatDuration(ms)}`,
    );
  }
  if (ms > MAX_LEAF_TTL_MS) {
    throw new CaError(
      'bad-config',
      `leaf cert TTL must be less than ${formatDuration(MAX_LEAF_TTL_MS)}, got ${formatDuration(ms)}`,
    );
  }
}

/** `now` as whole seconds (X.509 times have no fractions). Throws CaError('bad-config'). */
export function checkedTime(d: unknown, what = 'now'): number {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
    throw new CaError('bad-config', `${what} must be a valid Date`);
  }
  return Math.floor(d.getTime() / 1000) * 1000;
}

/** A positive, finite duration. Throws CaError('bad-config'). */
export function checkedDuration(ms: unknown, what: string): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
    throw new CaError('bad-config', `${what} must be a positive number of milliseconds`);
  }
  return ms;
}

/** A date X.509 can carry (years 1950 to 9999). Throws CaError('bad-config'). */
export function checkedValidity(ms: number, what: string): Date {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const y = d.getUTCFullYear();
  if (Number.isNaN(d.getTime()) || y < 1950 || y > 9999) {
    throw new CaError('bad-config', `${what} is out of range for a certificate`);
  }
  return d;
}
