/** Output helpers that reproduce Consul's CLI formatting byte for byte. */
import type { Io } from '../../command.js';

/** Consul's UI.Output / UI.Info: the text and a newline on stdout. */
export function out(io: Io, s: string): void {
  io.stdout.write(s + '\n');
}

/** Consul's UI.Error: the text and a newline on stderr. */
export function fail(io: Io, s: string): number {
  io.stderr.write(s + '\n');
  return 1;
}

/**
 * Writes raw bytes (a KV value) to a stream. The Io contract takes strings; valid UTF-8 is
 * written as a string, anything else as the bytes themselves (process streams take both), so
 * a binary value reaches a pipe unmangled.
 */
export function writeBytes(stream: Io['stdout'], bytes: Uint8Array): void {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  if (Buffer.byteLength(text, 'utf8') === buf.length && Buffer.from(text, 'utf8').equals(buf)) {
    stream.write(text);
  } else {
    (stream.write as unknown as (b: Uint8Array) => unknown).call(stream, buf);
  }
}

/** Display width as columnize counts it: one per code point. */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * ryanuber/columnize with Consul's config: cells trimmed, every column but the last padded to
 * its widest cell, columns glued with two spaces, no trailing newline. A row with fewer cells
 * than others pads only the cells it has.
 */
export function columnize(rows: readonly (readonly string[])[]): string {
  const cells = rows.map((r) => r.map((c) => c.trim()));
  const widths: number[] = [];
  for (const r of cells) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, width(c));
    });
  }
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c)) + '  '))
        .join(''),
    )
    .join('\n');
}

/**
 * Go's text/tabwriter for two-column "label\tvalue" lines with Consul's settings
 * (minwidth 0, padding 6, padchar ' '): labels padded to the widest label plus six spaces.
 */
export function tabulate(rows: readonly (readonly [string, string])[]): string {
  const w = Math.max(0, ...rows.map(([k]) => width(k))) + 6;
  return rows.map(([k, v]) => k + ' '.repeat(w - width(k)) + v).join('\n');
}

/** Go's %q for a string (strconv.Quote), for the ASCII and printable text our messages hold. */
export function goQuote(s: string): string {
  let q = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') q += '\\' + ch;
    else if (ch === '\n') q += '\\n';
    else if (ch === '\t') q += '\\t';
    else if (ch === '\r') q += '\\r';
    else if (c < 0x20 || c === 0x7f) q += '\\x' + c.toString(16).padStart(2, '0');
    else q += ch;
  }
  return q + '"';
}

/** Go's %v of a []string: `[a b c]`. */
export function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

/**
 * How error messages name the agent. Consul's CLI says "Consul agent" ("Error querying Consul
 * agent: …"); scripts grep for it, so the text is kept.
 */
export const AGENT_NOUN = 'Consul agent';

/**
 * Go's json.MarshalIndent(v, "", indent) for a value decoded from JSON: keys in the order the
 * object holds them (callers put struct fields in Go's order and sort what Go holds as a map)
 * and `<`, `>`, `&`, U+2028 and U+2029 escaped as Go's encoder escapes them by default.
 */
export function goJsonIndent(v: unknown, indent: string): string {
  const text = JSON.stringify(v, null, indent) ?? 'null';
  return text.replace(
    /[<>&\u2028\u2029]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

/**
 * A JSON value as Go marshals it after decoding it into interface{}: every object is a map,
 * so its keys come out sorted, at every depth.
 */
export function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    out[k] = sortedKeys(o[k]);
  }
  return out;
}
