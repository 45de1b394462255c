/**
 * The pieces of Go's strconv that go-bexpr's behaviour (and its error texts) depend on:
 * Unquote for string literals, Quote for `%q` in messages, and the Parse* coercions.
 */

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** strconv.Quote: Go's `%q` of a string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + '"';
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  '\\': 92,
  '"': 34,
};

const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);

/**
 * strconv.Unquote of a Go double-quoted literal, given the text between the quotes.
 * Undefined where Go answers "invalid syntax" (raw newline, `\'`, bad escapes, surrogates).
 * `\x` and octal escapes are bytes in Go; the bytes are decoded as UTF-8, so a sequence that
 * is not valid UTF-8 becomes U+FFFD here where Go would keep the raw bytes.
 */
export function goUnquoteDouble(body: string): string | undefined {
  if (body.includes('\n')) return undefined;
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  const pushRune = (cp: number): void => {
    for (const b of encoder.encode(String.fromCodePoint(cp))) bytes.push(b);
  };
  const chars = Array.from(body);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c !== '\\') {
      pushRune(c.codePointAt(0) ?? 0xfffd);
      continue;
    }
    const e = chars[++i];
    if (e === undefined) return undefined;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      bytes.push(simple);
      continue;
    }
    if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      let hex = '';
      for (let k = 0; k < n; k++) {
        const h = chars[++i];
        if (!isHex(h)) return undefined;
        hex += h;
      }
      const v = parseInt(hex, 16);
      if (e === 'x') bytes.push(v);
      else if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return undefined;
      else pushRune(v);
      continue;
    }
    if (e >= '0' && e <= '7') {
      const o1 = chars[++i];
      const o2 = chars[++i];
      if (o1 === undefined || o2 === undefined || !/^[0-7]$/.test(o1) || !/^[0-7]$/.test(o2)) {
        return undefined;
      }
      const v = parseInt(e + o1 + o2, 8);
      if (v > 255) return undefined;
      bytes.push(v);
      continue;
    }
    return undefined;
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

/** strconv.Unquote of a Go raw (backtick) literal body: carriage returns are dropped. */
export const goUnquoteRaw = (body: string): string => body.replaceAll('\r', '');

export type GoParse<T> = { ok: true; value: T } | { ok: false; error: string };

const syntaxError = (fn: string, s: string): GoParse<never> => ({
  ok: false,
  error: `strconv.${fn}: parsing ${goQuote(s)}: invalid syntax`,
});
const rangeError = (fn: string, s: string): GoParse<never> => ({
  ok: false,
  error: `strconv.${fn}: parsing ${goQuote(s)}: value out of range`,
});

/** Go's underscoreOK: `_` only between digits or after a base prefix. */
function underscoreOK(s0: string): boolean {
  let s = s0;
  let saw = '^';
  let i = 0;
  if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === '0' && /[box]/i.test(s[1] as string)) {
    i = 2;
    saw = '0';
    hex = (s[1] as string).toLowerCase() === 'x';
  }
  for (; i < s.length; i++) {
    const c = s[i] as string;
    if ((c >= '0' && c <= '9') || (hex && /[a-f]/i.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

/** strconv.ParseUint(s, 0, 64) without the error wrapping; undefined on syntax error. */
function parseUnsignedBase0(s: string): bigint | 'syntax' {
  if (s === '') return 'syntax';
  let base = 10;
  let digits = s;
  if (s[0] === '0') {
    const p = s[1]?.toLowerCase();
    if (s.length >= 3 && p === 'b') [base, digits] = [2, s.slice(2)];
    else if (s.length >= 3 && p === 'o') [base, digits] = [8, s.slice(2)];
    else if (s.length >= 3 && p === 'x') [base, digits] = [16, s.slice(2)];
    else [base, digits] = [8, s.slice(1)];
    if (digits === '' && base === 8) return 0n;
  }
  const alphabet = '0123456789abcdef'.slice(0, base);
  let n = 0n;
  let sawDigit = false;
  let sawUnderscore = false;
  for (const ch of digits.toLowerCase()) {
    if (ch === '_') {
      sawUnderscore = true;
      continue;
    }
    const d = alphabet.indexOf(ch);
    if (d < 0) return 'syntax';
    n = n * BigInt(base) + BigInt(d);
    sawDigit = true;
  }
  if (!sawDigit) return 'syntax';
  if (sawUnderscore && !underscoreOK(s)) return 'syntax';
  return n;
}

const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** strconv.ParseInt(s, 0, 64). */
export function goParseInt(s: string): GoParse<bigint> {
  let body = s;
  let neg = false;
  if (s.startsWith('+') || s.startsWith('-')) {
    neg = s[0] === '-';
    body = s.slice(1);
  }
  const u = parseUnsignedBase0(body);
  if (u === 'syntax') return syntaxError('ParseInt', s);
  if (neg ? u > INT64_MAX + 1n : u > INT64_MAX) return rangeError('ParseInt', s);
  return { ok: true, value: neg ? -u : u };
}

/** strconv.ParseUint(s, 0, 64). */
export function goParseUint(s: string): GoParse<bigint> {
  const u = parseUnsignedBase0(s);
  if (u === 'syntax') return syntaxError('ParseUint', s);
  if (u > UINT64_MAX) return rangeError('ParseUint', s);
  return { ok: true, value: u };
}

const DECIMAL_FLOAT = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const SPECIAL_FLOAT = /^([+-]?)(inf|infinity|nan)$/i;

/**
 * strconv.ParseFloat(s, 64) for decimal text and inf/nan. Go also takes hexadecimal
 * mantissas ("0x1p-2") and digit underscores in them; those are refused here.
 */
export function goParseFloat(s: string): GoParse<number> {
  const special = SPECIAL_FLOAT.exec(s);
  if (special !== null) {
    const word = (special[2] as string).toLowerCase();
    if (word === 'nan')
      return special[1] === '' ? { ok: true, value: NaN } : syntaxError('ParseFloat', s);
    return { ok: true, value: special[1] === '-' ? -Infinity : Infinity };
  }
  if (!DECIMAL_FLOAT.test(s)) return syntaxError('ParseFloat', s);
  const v = Number(s);
  if (!Number.isFinite(v)) return rangeError('ParseFloat', s);
  return { ok: true, value: v };
}

const BOOL_TEXT: Readonly<Record<string, boolean>> = {
  '1': true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

/** strconv.ParseBool. */
export function goParseBool(s: string): GoParse<boolean> {
  const v = BOOL_TEXT[s];
  return v === undefined ? syntaxError('ParseBool', s) : { ok: true, value: v };
}
