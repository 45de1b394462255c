/**
 * The Connect CA configuration (`GET/PUT /v1/connect/ca/configuration`, Consul's
 * structs.CAConfiguration with the built-in "consul" provider's settings). Keys of `Config`
 * are matched case-insensitively and in snake_case too (Consul decodes them with
 * mapstructure after lib.TranslateKeys); durations are Go duration strings or numbers of
 * nanoseconds.
 */
import type { PlainMap } from '@trellis/state';
import { formatGoDuration, parseGoDuration } from '../http/duration.js';

export const HOUR_MS = 3_600_000;
/** Consul's leaf TTL bounds and default. */
export const LEAF_TTL_MIN_MS = HOUR_MS;
export const LEAF_TTL_MAX_MS = 8760 * HOUR_MS;
export const DEFAULT_LEAF_TTL = '72h';
export const DEFAULT_ROOT_TTL = '87600h';

/** The provider settings Trellis uses, resolved. */
export interface CaSettings {
  readonly leafCertTtlMs: number;
  readonly rootCertTtlMs: number;
  readonly privateKeyType: 'ec' | 'rsa';
  readonly privateKeyBits: number;
  /** Consul's csr_max_per_second (0: unlimited) and csr_max_concurrent (0: off). */
  readonly csrMaxPerSecond: number;
  readonly csrMaxConcurrent: number;
  /** A user-provided root: both set, or neither. */
  readonly rootCert: string;
  readonly privateKey: string;
}

export class CaConfigError extends Error {
  override readonly name = 'CaConfigError';
}

/** The canonical key of each setting and how it is read. */
const KEYS = {
  LeafCertTTL: 'duration',
  RootCertTTL: 'duration',
  IntermediateCertTTL: 'duration',
  RotationPeriod: 'duration',
  PrivateKeyType: 'string',
  PrivateKeyBits: 'int',
  CSRMaxPerSecond: 'number',
  CSRMaxConcurrent: 'int',
  PrivateKey: 'string',
  RootCert: 'string',
} as const;
type Key = keyof typeof KEYS;

const FOLD = new Map<string, Key>(
  (Object.keys(KEYS) as Key[]).map((k) => [k.toLowerCase(), k] as const),
);

/** `leaf_cert_ttl` / `LEAFCERTTTL` / `LeafCertTTL` → `LeafCertTTL`. */
function canonicalKey(k: string): Key | undefined {
  return FOLD.get(k.replace(/_/g, '').toLowerCase());
}

export const DEFAULT_CA_CONFIG: Readonly<Record<Key, string | number>> = {
  LeafCertTTL: DEFAULT_LEAF_TTL,
  RootCertTTL: DEFAULT_ROOT_TTL,
  IntermediateCertTTL: '8760h',
  RotationPeriod: '2160h',
  PrivateKeyType: 'ec',
  PrivateKeyBits: 256,
  CSRMaxPerSecond: 50,
  CSRMaxConcurrent: 0,
  PrivateKey: '',
  RootCert: '',
};

function durationMs(key: string, v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v / 1e6; // nanoseconds
  if (typeof v === 'string') {
    const ms = parseGoDuration(v);
    if (ms !== undefined && ms >= 0) return ms;
  }
  throw new CaConfigError(`${key}: invalid duration ${JSON.stringify(v)}`);
}

/**
 * Normalises a `Config` map (user input or stored) over the defaults: canonical keys,
 * validated values. Unknown keys are an error (a typo would otherwise be silently ignored).
 */
export function normalizeCaConfig(
  input: Readonly<Record<string, unknown>>,
  base: Readonly<Record<string, unknown>> = DEFAULT_CA_CONFIG,
): PlainMap {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(base)) {
    const key = canonicalKey(k);
    if (key !== undefined) out[key] = v as string | number;
  }
  for (const [k, v] of Object.entries(input)) {
    const key = canonicalKey(k);
    if (key === undefined) throw new CaConfigError(`Config: unknown field ${JSON.stringify(k)}`);
    if (v === null || v === undefined) continue;
    switch (KEYS[key]) {
      case 'duration': {
        // Checked here; a string is kept as written (Consul stores the map as given and
        // GET shows "2h" for "2h"), nanoseconds are shown as Go formats them.
        const ms = durationMs(key, v);
        out[key] = typeof v === 'string' ? v : formatGoDuration(ms);
        break;
      }
      case 'string':
        if (typeof v !== 'string') throw new CaConfigError(`${key}: must be a string`);
        if (v.length > 64 * 1024) throw new CaConfigError(`${key}: longer than 64 KiB`);
        out[key] = v;
        break;
      case 'int':
      case 'number': {
        const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
        if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
          throw new CaConfigError(`${key}: must be a non-negative number`);
        }
        if (KEYS[key] === 'int' && !Number.isInteger(n)) {
          throw new CaConfigError(`${key}: must be an integer`);
        }
        out[key] = n;
        break;
      }
    }
  }
  settingsOf(out);
  return out;
}

/** The resolved settings of a normalised `Config` map; throws CaConfigError when invalid. */
export function settingsOf(config: Readonly<Record<string, unknown>>): CaSettings {
  const c = { ...DEFAULT_CA_CONFIG, ...config } as Record<Key, string | number>;
  const leaf = durationMs('LeafCertTTL', c.LeafCertTTL);
  if (leaf < LEAF_TTL_MIN_MS || leaf > LEAF_TTL_MAX_MS) {
    // Consul's text for the consul provider's bounds.
    throw new CaConfigError('leaf cert TTL must be between 1h0m0s and 8760h0m0s');
  }
  const root = durationMs('RootCertTTL', c.RootCertTTL);
  if (root < leaf) throw new CaConfigError('RootCertTTL must be longer than LeafCertTTL');
  const type = c.PrivateKeyType;
  if (type !== 'ec' && type !== 'rsa') {
    throw new CaConfigError(
      `private key type must be either "ec" or "rsa", got ${JSON.stringify(type)}`,
    );
  }
  const bits = Number(c.PrivateKeyBits);
  if (type === 'ec' && bits !== 256 && bits !== 384) {
    throw new CaConfigError(
      `EC key length must be one of (224, 256, 384, 521) bits; Trellis supports 256 and 384, got ${bits}`,
    );
  }
  if (type === 'rsa' && bits !== 2048 && bits !== 4096) {
    throw new CaConfigError(
      `RSA key length must be at least 2048 bits (2048 or 4096), got ${bits}`,
    );
  }
  const rootCert = String(c.RootCert);
  const privateKey = String(c.PrivateKey);
  if ((rootCert === '') !== (privateKey === '')) {
    throw new CaConfigError('must provide both RootCert and PrivateKey, or neither');
  }
  return {
    leafCertTtlMs: leaf,
    rootCertTtlMs: root,
    privateKeyType: type,
    privateKeyBits: bits,
    csrMaxPerSecond: Number(c.CSRMaxPerSecond),
    csrMaxConcurrent: Number(c.CSRMaxConcurrent),
    rootCert,
    privateKey,
  };
}

/** What `GET /v1/connect/ca/configuration` shows: the private key is never returned. */
export function publicConfig(config: PlainMap): PlainMap {
  const { PrivateKey: key, ...rest } = config;
  return key === undefined || key === '' ? rest : { ...rest, PrivateKey: '(redacted)' };
}

/** True when moving from `a` to `b` needs a new root (key settings or a user root changed). */
export function needsNewRoot(a: CaSettings, b: CaSettings): boolean {
  return (
    a.privateKeyType !== b.privateKeyType ||
    a.privateKeyBits !== b.privateKeyBits ||
    a.rootCert !== b.rootCert ||
    a.privateKey !== b.privateKey
  );
}
