/**
 * Go's time.ParseDuration, which Consul uses for `?wait=`: an optional sign, then one or more
 * decimal numbers (with optional fraction) each followed by a unit (ns, us, µs, μs, ms, s, m,
 * h); "0" alone needs no unit. Returns milliseconds (fractional for sub-ms units) or undefined
 * for text Go would refuse (including values beyond Go's int64 nanoseconds).
 */
const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's maximum time.Duration: 2^63 - 1 nanoseconds. */
const MAX_DURATION_NS = 9_223_372_036_854_775_807;

const TERM = /([0-9]*)(\.[0-9]*)?([a-zµμ]+)/y;

export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s.startsWith('-')) sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let totalNs = 0;
  TERM.lastIndex = 0;
  let pos = 0;
  while (pos < s.length) {
    TERM.lastIndex = pos;
    const m = TERM.exec(s);
    if (m === null) return undefined;
    const [, int = '', frac = '', unit = ''] = m;
    // Go requires digits before or after the dot ("." alone is invalid).
    if (int === '' && frac.length <= 1) return undefined;
    const ns = UNIT_NS[unit];
    if (ns === undefined) return undefined;
    totalNs += Number(`${int === '' ? '0' : int}${frac === '.' ? '' : frac}`) * ns;
    if (totalNs > MAX_DURATION_NS) return undefined;
    pos = TERM.lastIndex;
  }
  return (sign * totalNs) / 1e6;
}

const NS_PER = { us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n } as const;

/** `whole.fraction` of `v / unit`, without trailing zeros (Go's fmtFrac). */
function withFraction(v: bigint, unit: bigint): string {
  const whole = v / unit;
  const rem = v % unit;
  if (rem === 0n) return `${whole}`;
  const digits = unit.toString().length - 1;
  return `${whole}.${rem.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Milliseconds as Go's time.Duration.String() prints them ("500ms", "1.5s", "1m30s", "1h0m0s"). */
export function formatGoDuration(ms: number): string {
  let ns = BigInt(Math.round(ms * 1e6));
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  if (ns < 0n) ns = -ns;
  if (ns < NS_PER.us) return `${sign}${ns}ns`;
  if (ns < NS_PER.ms) return `${sign}${withFraction(ns, NS_PER.us)}µs`;
  if (ns < NS_PER.s) return `${sign}${withFraction(ns, NS_PER.ms)}ms`;
  const hours = ns / (60n * NS_PER.m);
  const minutes = (ns / NS_PER.m) % 60n;
  const seconds = withFraction(ns % NS_PER.m, NS_PER.s);
  if (hours > 0n) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0n) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
