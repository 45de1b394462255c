/**
 * Byte-level helpers that make our answers and our parsing match Go's net/http and
 * encoding/json, which is what Consul's clients actually see.
 */
import { badRequest, HttpError } from './errors.js';

// ---------------------------------------------------------------- URLs

export interface SplitUrl {
  /** The path, still percent-encoded. */
  readonly rawPath: string;
  /** The query string without '?', still encoded ("" when absent). */
  readonly rawQuery: string;
}

export function splitUrl(url: string): SplitUrl {
  const q = url.indexOf('?');
  return q < 0
    ? { rawPath: url, rawQuery: '' }
    : { rawPath: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

/** Go's url.PathUnescape: a malformed escape or invalid UTF-8 is Go's plain "400 Bad Request". */
export function decodePath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    throw new HttpError(400, '400 Bad Request');
  }
}

/**
 * Go's ServeMux cleanPath: path.Clean (collapse "//", drop ".", resolve "..") keeping a trailing
 * slash. The mux answers a path that is not clean with a 301 to the clean one.
 */
export function cleanPath(p: string): string {
  if (p === '') return '/';
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  let clean = `/${out.join('/')}`;
  if (p.endsWith('/') && clean !== '/') clean += '/';
  return clean;
}

/**
 * go-cleanhttp's PrintablePathCheckHandler (wrapped around Consul's whole mux): a decoded path
 * with a rune Go's unicode.IsPrint refuses (anything outside letters, marks, numbers,
 * punctuation, symbols and the ASCII space) gets a bare 400.
 */
const NON_PRINTABLE = /[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;
export function isPrintablePath(p: string): boolean {
  return !NON_PRINTABLE.test(p);
}

/** Escapes a decoded path for a Location header (as Go's url.URL.String would). */
export function escapePath(p: string): string {
  return p
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, hexEscape))
    .join('/');
}

function hexEscape(c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

// ---------------------------------------------------------------- query strings

/** Decoded query parameters: name → values in order (Go's url.Values). */
export type Query = ReadonlyMap<string, readonly string[]>;

function queryUnescape(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

/**
 * Go's url.ParseQuery: '&'-separated, '+' is a space, a ';' in a key or a malformed escape is an
 * error. Consul's wrapper answers such a query with an empty 500; we answer 400 with the reason
 * (a deliberate divergence: the fault is the caller's).
 */
export function parseQuery(raw: string): Query {
  const out = new Map<string, string[]>();
  if (raw === '') return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    if (part.includes(';'))
      throw badRequest('Failed to decode query: invalid semicolon separator in query');
    const eq = part.indexOf('=');
    const rk = eq < 0 ? part : part.slice(0, eq);
    const rv = eq < 0 ? '' : part.slice(eq + 1);
    let k: string;
    let v: string;
    try {
      k = queryUnescape(rk);
      v = queryUnescape(rv);
    } catch {
      throw badRequest(`Failed to decode query: invalid URL escape in ${JSON.stringify(part)}`);
    }
    const list = out.get(k);
    if (list === undefined) out.set(k, [v]);
    else list.push(v);
  }
  return out;
}

/** Go's url.Values.Get: the first value, "" when absent. */
export function qget(q: Query, name: string): string {
  return q.get(name)?.[0] ?? '';
}

/** Go's `_, ok := params[name]`: present at all (Consul's boolean flags: `?recurse`). */
export function qhas(q: Query, name: string): boolean {
  return q.has(name);
}

/** Go's url.QueryEscape. */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, hexEscape)
    .replace(/%20/g, '+');
}

/** Go's url.Values.Encode: keys sorted, every value, "k=v" joined by '&'. */
export function encodeQuery(q: Query): string {
  const parts: string[] = [];
  for (const k of [...q.keys()].sort()) {
    for (const v of q.get(k) ?? []) parts.push(`${queryEscape(k)}=${queryEscape(v)}`);
  }
  return parts.join('&');
}

/** Go's strconv.ParseUint(s, 10, 64) bounded to JS safe integers; undefined when invalid. */
export function parseUint(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Go's strconv.ParseUint error text (Consul surfaces it verbatim for ?flags= and ?cas=). */
export function parseUintError(s: string): string {
  const reason = /^[0-9]+$/.test(s) ? 'value out of range' : 'invalid syntax';
  return `strconv.ParseUint: parsing ${JSON.stringify(s)}: ${reason}`;
}

// ---------------------------------------------------------------- JSON

/**
 * Go's json.Marshal output: HTML-sensitive characters and the JS line separators are escaped as
 * Go does; `pretty` is Consul's MarshalIndent with four spaces and a trailing newline.
 */
export function goJson(value: unknown, pretty: boolean): string {
  const text = pretty ? `${JSON.stringify(value, null, 4)}\n` : JSON.stringify(value);
  return text.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Looks a field up case-insensitively, as Consul's decoders (mapstructure, lib/decode) accept
 * request-body field names in any case. An exact match wins over a case-folded one.
 */
export function field(obj: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/**
 * Parses a JSON request body as Consul's decodeBody does and returns a plain object; the error
 * texts are Consul's "Request decode failed: …" (400).
 */
export function parseJsonObject(body: Uint8Array): Readonly<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (e) {
    throw badRequest(`Request decode failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw badRequest('Request decode failed: expected a JSON object');
  }
  return v as Record<string, unknown>;
}
