/**
 * Strict readers for JSON request bodies. Every reader takes the value and its field path and
 * returns a fresh value, or throws a {@link ConnectError} naming the path.
 *
 * Struct fields are matched the way Consul's decoder matches them (mapstructure plus
 * lib/decode.TranslateKeys): case-insensitively, with snake_case accepted for CamelCase
 * (`max_inbound_connections` ≡ `MaxInboundConnections`). We accept snake_case for every field,
 * where Consul only translates the aliases it declares; and two keys naming the same field are
 * an error here, where Consul silently keeps one.
 */
import type { PlainMap, PlainValue } from '@trellis/state';
import { ConnectError, goQuote, type ConnectErrorCode } from './errors.js';

export type Obj = Readonly<Record<string, unknown>>;

/** Keys refused in every free-form map: they would pollute prototypes in careless consumers. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** Deepest nesting accepted in a free-form map (proxy-defaults Config). */
export const MAX_PLAIN_DEPTH = 32;
/** Most entries in one free-form map or array. */
export const MAX_PLAIN_ENTRIES = 4096;

export function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Lower case without underscores: the form struct keys are compared in. */
export function foldKey(key: string): string {
  return key.toLowerCase().replaceAll('_', '');
}

export class Reader {
  constructor(readonly code: ConnectErrorCode) {}

  fail(path: string, message: string): never {
    throw new ConnectError(this.code, message, path);
  }

  /** `${path}: ${what}` (the form of our own type and bound errors). */
  bad(path: string, what: string): never {
    return this.fail(path, path === '' ? what : `${path}: ${what}`);
  }

  obj(v: unknown, path: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      return this.bad(path, 'must be a JSON object');
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null)
      return this.bad(path, 'must be a JSON object');
    return v as Obj;
  }

  str(v: unknown, path: string, max = 65536): string {
    if (typeof v !== 'string') return this.bad(path, 'must be a string');
    if (v.length > max) return this.bad(path, `longer than ${max} characters`);
    return v;
  }

  optStr(v: unknown, path: string, max = 65536): string {
    return v === undefined || v === null ? '' : this.str(v, path, max);
  }

  int(v: unknown, path: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.bad(path, 'must be a number');
    if (!Number.isInteger(v)) return this.bad(path, 'must be an integer');
    if (v < min || v > max) return this.bad(path, `must be between ${min} and ${max}`);
    return v === 0 ? 0 : v; // no -0
  }

  optInt(v: unknown, path: string, min: number, max: number): number {
    return v === undefined || v === null ? 0 : this.int(v, path, min, max);
  }

  optBool(v: unknown, path: string): boolean {
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') return this.bad(path, 'must be a boolean');
    return v;
  }

  arr(v: unknown, path: string, max: number, what = 'elements'): readonly unknown[] {
    if (!Array.isArray(v)) return this.bad(path, 'must be an array');
    if (v.length > max) return this.bad(path, `more than ${max} ${what}`);
    return v as readonly unknown[];
  }

  optArr(v: unknown, path: string, max: number, what = 'elements'): readonly unknown[] {
    return v === undefined || v === null ? [] : this.arr(v, path, max, what);
  }

  optStrArr(v: unknown, path: string, maxItems: number, maxLen: number): string[] {
    return this.optArr(v, path, maxItems).map((x, i) => this.str(x, `${path}[${i}]`, maxLen));
  }

  /**
   * A map of strings (Meta): any key but the forbidden ones, at most `maxEntries` (a decode
   * bound; Consul's own element-count limit is checked separately, with its message).
   */
  optStrMap(v: unknown, path: string, maxEntries = MAX_PLAIN_ENTRIES): Record<string, string> {
    if (v === undefined || v === null) return {};
    const o = this.obj(v, path);
    const out: Array<[string, string]> = [];
    for (const [k, x] of Object.entries(o)) {
      if (out.length >= maxEntries) return this.bad(path, `more than ${maxEntries} entries`);
      if (FORBIDDEN_KEYS.has(k)) return this.bad(path, `key ${goQuote(k)} is not allowed`);
      out.push([k, this.str(x, `${path}.${k}`)]);
    }
    return Object.fromEntries(out);
  }

  /** A free-form JSON value (Config maps): bounded depth and size, no forbidden keys. */
  plain(v: unknown, path: string, depth = 0): PlainValue {
    if (depth > MAX_PLAIN_DEPTH) return this.bad(path, `nested deeper than ${MAX_PLAIN_DEPTH}`);
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return this.bad(path, 'must be a finite number');
      return v;
    }
    if (Array.isArray(v)) {
      return this.arr(v, path, MAX_PLAIN_ENTRIES).map((x, i) =>
        this.plain(x, `${path}[${i}]`, depth + 1),
      );
    }
    return this.plainMap(v, path, depth);
  }

  plainMap(v: unknown, path: string, depth = 0): PlainMap {
    const o = this.obj(v, path);
    const out: Array<[string, PlainValue]> = [];
    for (const [k, x] of Object.entries(o)) {
      if (out.length >= MAX_PLAIN_ENTRIES) {
        return this.bad(path, `more than ${MAX_PLAIN_ENTRIES} entries`);
      }
      if (FORBIDDEN_KEYS.has(k)) return this.bad(path, `key ${goQuote(k)} is not allowed`);
      out.push([k, this.plain(x, `${path}.${k}`, depth + 1)]);
    }
    return Object.fromEntries(out);
  }
}

/** How the fields of one struct are read. */
export interface StructSpec {
  /** The fields we read, in CamelCase. */
  readonly fields: readonly string[];
  /**
   * Consul fields Trellis does not implement: accepted only with their zero value (so a body
   * read back from GET can be written again), refused otherwise.
   */
  readonly unsupported?: readonly string[];
  /** Fields accepted and ignored whatever their value (CreateIndex, ModifyIndex, Hash, Kind). */
  readonly ignored?: readonly string[];
  /** Unknown keys are ignored instead of refused (Go's encoding/json, for intention bodies). */
  readonly lenient?: boolean;
  /**
   * Accept Namespace/Partition with an empty or "default" value, as a CE build without those
   * features would see them; refuse any other value with Consul's enterprise-feature text.
   */
  readonly enterprise?: boolean;
}

/**
 * The present fields of a struct, keyed by their CamelCase name. Null values count as absent
 * (Go decodes JSON null to the zero value).
 */
export function readStruct(
  r: Reader,
  v: unknown,
  path: string,
  spec: StructSpec,
): ReadonlyMap<string, unknown> {
  const o = r.obj(v, path);
  const canon = new Map<string, string>();
  for (const f of spec.fields) canon.set(foldKey(f), f);
  const unsupported = new Map<string, string>();
  for (const f of spec.unsupported ?? []) unsupported.set(foldKey(f), f);
  const ignored = new Set((spec.ignored ?? []).map(foldKey));
  const out = new Map<string, unknown>();
  const seenAs = new Map<string, string>();
  for (const [key, value] of Object.entries(o)) {
    const folded = foldKey(key);
    const keyPath = joinPath(path, key);
    const field = canon.get(folded);
    if (field !== undefined) {
      const prior = seenAs.get(field);
      if (prior !== undefined) {
        r.fail(keyPath, `${keyPath}: duplicate key (also given as ${goQuote(prior)})`);
      }
      seenAs.set(field, key);
      if (value !== null && value !== undefined) out.set(field, value);
      continue;
    }
    if (ignored.has(folded)) continue;
    const unsup = unsupported.get(folded);
    if (unsup !== undefined) {
      if (!isZero(value, 0)) {
        r.fail(keyPath, `invalid config key ${goQuote(keyPath)}: not supported by Trellis`);
      }
      continue;
    }
    if (spec.enterprise === true && (folded === 'namespace' || folded === 'partition')) {
      if (value === null || value === undefined || value === '') continue;
      if (typeof value === 'string' && value.toLowerCase() === 'default') continue;
      const feature = folded === 'namespace' ? 'namespaces' : 'admin partitions';
      r.fail(
        keyPath,
        `invalid config key ${goQuote(keyPath)}, ${feature} are a consul enterprise feature`,
      );
    }
    if (spec.lenient === true) continue;
    r.fail(keyPath, `invalid config key ${goQuote(keyPath)}`);
  }
  return out;
}

/** Go's zero value: null, "", 0, false, an empty array, or a map of zero values. */
export function isZero(v: unknown, depth: number): boolean {
  if (v === null || v === undefined || v === '' || v === 0 || v === false) return true;
  if (depth > 8 || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.length === 0;
  const entries = Object.entries(v as Obj);
  if (entries.length > 64) return false;
  return entries.every(([, x]) => isZero(x, depth + 1));
}
