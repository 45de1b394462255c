/**
 * The `kv export` / `kv import` format, Consul's impexp.Entry list:
 * `[{"key": "a/b", "flags": 0, "value": "<base64>"}]`, written by Go's json.MarshalIndent with
 * a tab indent. Import checks the whole document before anything is written, so malformed
 * input (bad JSON, wrong types, bad base64, oversized values, empty keys) writes nothing.
 */
import { posix } from 'node:path';
import { decodeBase64Strict } from '../shared/input.js';
import { goJsonIndent } from '../shared/output.js';
import type { KVPair } from './pair.js';

/**
 * Largest value an imported entry may carry: Consul's default `limits.kv_max_value_size`
 * (512 KiB). Checked up front so an oversized entry fails the import before the first write
 * instead of half-way through.
 */
export const MAX_IMPORT_VALUE_BYTES = 512 * 1024;

export interface ImportEntry {
  /** The key to write, with -prefix applied. */
  readonly key: string;
  readonly flags: number;
  readonly value: Buffer;
}

/** `kv export` output (without the final newline the command adds). */
export function formatExport(pairs: readonly KVPair[]): string {
  const entries = pairs.map((p) => ({
    key: p.Key,
    flags: p.Flags,
    value: p.Value.toString('base64'),
  }));
  return goJsonIndent(entries, '\t');
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
}

/** Go's path.Join: cleaned, "" when every element is empty. */
function goPathJoin(...parts: string[]): string {
  const nonEmpty = parts.filter((p) => p !== '');
  if (nonEmpty.length === 0) return '';
  return posix.normalize(nonEmpty.join('/')).replace(/(.)\/+$/, '$1');
}

const FIELDS = ['key', 'flags', 'value', 'namespace', 'partition'] as const;
type Field = (typeof FIELDS)[number];

/** Error for a document that is not an entry list; the message is what Consul prints. */
export class ImportFormatError extends Error {
  override readonly name = 'ImportFormatError';
}

/**
 * Parses and checks an export document. Field names match case-insensitively and unknown
 * fields are ignored, as Go's encoding/json does. Throws ImportFormatError with Consul's
 * wording: "Cannot unmarshal data: …" or "Error base 64 decoding value for key k: …".
 */
export function parseImport(text: string, prefix = ''): ImportEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ImportFormatError(`Cannot unmarshal data: ${(e as Error).message}`);
  }
  const unmarshal = (msg: string): ImportFormatError =>
    new ImportFormatError(`Cannot unmarshal data: json: ${msg}`);
  if (doc === null) return [];
  if (!Array.isArray(doc)) {
    throw unmarshal(`cannot unmarshal ${jsonKind(doc)} into Go value of type []*impexp.Entry`);
  }
  const out: ImportEntry[] = [];
  doc.forEach((raw: unknown, i) => {
    if (raw === null) throw new ImportFormatError(`Cannot unmarshal data: entry ${i} is null`);
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw unmarshal(`cannot unmarshal ${jsonKind(raw)} into Go value of type impexp.Entry`);
    }
    const fields: Partial<Record<Field, unknown>> = {};
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      const f = FIELDS.find((n) => n === k) ?? FIELDS.find((n) => n === k.toLowerCase());
      if (f) fields[f] = v;
    }
    const wrongType = (f: Field, v: unknown, goType: string): ImportFormatError => {
      const shown = typeof v === 'number' ? `number ${String(v)}` : jsonKind(v);
      return unmarshal(
        `cannot unmarshal ${shown} into Go struct field Entry.${f} of type ${goType}`,
      );
    };
    for (const f of ['key', 'value', 'namespace', 'partition'] as const) {
      const v = fields[f];
      if (v !== undefined && v !== null && typeof v !== 'string') throw wrongType(f, v, 'string');
    }
    const flags = fields.flags ?? 0;
    if (flags !== null && (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0)) {
      throw wrongType('flags', flags, 'uint64');
    }
    if (typeof flags === 'number' && !Number.isSafeInteger(flags)) {
      throw new ImportFormatError(
        `Cannot unmarshal data: flags of entry ${i} (${flags}) is larger than ${Number.MAX_SAFE_INTEGER}`,
      );
    }
    const entryKey = (fields.key as string | null | undefined) ?? '';
    let value: Buffer;
    try {
      value = decodeBase64Strict((fields.value as string | null | undefined) ?? '');
    } catch (e) {
      throw new ImportFormatError(
        `Error base 64 decoding value for key ${entryKey}: ${(e as Error).message}`,
      );
    }
    let key = goPathJoin(prefix, entryKey);
    if (entryKey.endsWith('/') && key !== '') key += '/';
    if (key === '' || key === '.' || key === '/') {
      throw new ImportFormatError(`Error! Entry ${i} has an empty key`);
    }
    if (value.length > MAX_IMPORT_VALUE_BYTES) {
      throw new ImportFormatError(
        `Error! Value for key ${key} is ${value.length} bytes, over the limit of ` +
          `${MAX_IMPORT_VALUE_BYTES} bytes`,
      );
    }
    out.push({ key, flags: flags ?? 0, value });
  });
  return out;
}
