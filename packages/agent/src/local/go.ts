/**
 * Small pieces of Go's standard library whose exact output Consul's error texts contain:
 * strconv.Quote (`%q`), time.ParseDuration's error texts, net.ParseIP / IP.To4 and
 * net.JoinHostPort. Pure functions, no I/O.
 */
import { parseGoDuration } from '../http/duration.js';
import { isPrintablePath } from '../http/wire.js';

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/**
 * Go's strconv.Quote, which `%q` uses for strings: printable runes (unicode.IsPrint) are kept,
 * `"` and `\` are escaped, control characters use Go's short escapes or \xNN, other
 * non-printable runes \uNNNN or \UNNNNNNNN. A lone UTF-16 surrogate (JSON's "\ud800") is
 * what Go's JSON decoder turns into U+FFFD, which is printable, so it is written as U+FFFD.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\uFFFD';
    else if (cp >= 0x20 && cp !== 0x7f && isPrintablePath(ch)) out += ch;
    else if (cp === 0x07) out += '\\a';
    else if (cp === 0x08) out += '\\b';
    else if (cp === 0x0c) out += '\\f';
    else if (cp === 0x0a) out += '\\n';
    else if (cp === 0x0d) out += '\\r';
    else if (cp === 0x09) out += '\\t';
    else if (cp === 0x0b) out += '\\v';
    else if (cp < 0x80) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return `${out}"`;
}

/**
 * The time package's own quote (used in ParseDuration's errors): ASCII is kept apart from `"`
 * and `\` (escaped); every byte of a control or non-ASCII character is written as \xNN.
 */
export function timeQuote(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b < 0x20 || b >= 0x80) out += `\\x${hex(b, 2)}`;
    else if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else out += String.fromCharCode(b);
  }
  return `${out}"`;
}

const DURATION_UNITS = new Set(['ns', 'us', 'µs', 'μs', 'ms', 's', 'm', 'h']);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/**
 * Go's time.ParseDuration as Consul applies it to a check's duration strings: nanoseconds, or
 * the error text Go returns ("time: invalid duration \"\"", "time: missing unit in duration
 * \"5\"", "time: unknown unit \"fortnight\" in duration \"1fortnight\""). The value comes from
 * the HTTP layer's parseGoDuration; the error is classified by walking the text as Go does.
 */
export function parseDurationNs(text: string): { ns: number } | { error: string } {
  const ms = parseGoDuration(text);
  if (ms !== undefined) return { ns: Math.round(ms * 1e6) };
  return { error: durationErrorText(text) };
}

function durationErrorText(orig: string): string {
  const invalid = `time: invalid duration ${timeQuote(orig)}`;
  let s = orig;
  if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
  if (s === '') return invalid;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (!(c === '.' || isDigit(c))) return invalid;
    const start = i;
    while (isDigit(s[i])) i++;
    const pre = i > start;
    let post = false;
    if (s[i] === '.') {
      i++;
      const f = i;
      while (isDigit(s[i])) i++;
      post = i > f;
    }
    if (!pre && !post) return invalid;
    const u = i;
    while (i < s.length && !(s[i] === '.' || isDigit(s[i]))) i++;
    if (i === u) return `time: missing unit in duration ${timeQuote(orig)}`;
    const unit = s.slice(u, i);
    if (!DURATION_UNITS.has(unit)) {
      return `time: unknown unit ${timeQuote(unit)} in duration ${timeQuote(orig)}`;
    }
  }
  // Well-formed but refused: beyond Go's int64 nanoseconds.
  return invalid;
}

/** Go's net.JoinHostPort: an IPv6-looking host (one with ':') is bracketed. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function parseIPv4Bytes(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    // Go refuses empty octets, more than three digits and leading zeros ("01").
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseIPv6Bytes(s: string): number[] | undefined {
  if (s.includes('%')) return undefined; // net.ParseIP refuses zones
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      if (p.includes('.')) {
        // An embedded IPv4 address may only end the address.
        if (i !== parts.length - 1) return undefined;
        const v4 = parseIPv4Bytes(p);
        if (v4 === undefined) return undefined;
        out.push(v4[0]! * 256 + v4[1]!, v4[2]! * 256 + v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  // An embedded IPv4 address in the head is only valid when nothing follows it.
  if (halves.length === 2 && (halves[0] ?? '').includes('.')) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const words = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/**
 * Go's net.ParseIP followed by IP.To4: undefined when Go refuses the text, else whether the
 * address is IPv4 (dotted quad, or IPv4-mapped IPv6 such as ::ffff:10.0.0.1).
 */
export function parseGoIP(s: string): { readonly v4: boolean } | undefined {
  if (s.includes(':')) {
    const b = parseIPv6Bytes(s);
    if (b === undefined) return undefined;
    const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    return { v4: mapped };
  }
  return parseIPv4Bytes(s) === undefined ? undefined : { v4: true };
}
