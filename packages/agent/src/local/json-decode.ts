/**
 * Consul's request-body decoding, reproduced: Go's encoding/json driven by the shape of Consul's
 * structs, so a definition Consul accepts is accepted here and a definition Consul refuses is
 * refused with the text Consul's "Request decode failed: …" carries.
 *
 * What Go does, and this module with it:
 * - Keys match a struct's fields exactly, else case-insensitively; several of Consul's structs
 *   decode through an "aux" struct that adds snake_case aliases (`enable_tag_override`, `args`).
 * - Consul's custom decoders (ServiceDefinition, CheckType, CheckDefinition, ConnectProxyConfig,
 *   Upstream, ExposePath use lib.UnmarshalJSON) refuse unknown keys: `json: unknown field "x"`.
 *   ServiceConnect decodes with plain json.Unmarshal and ignores them.
 * - A type mismatch is remembered and decoding goes on; the first one remembered is the answer.
 *   An error coming out of a nested custom decoder stops the enclosing decoder at once, and a
 *   type error is then re-labelled with the enclosing decoder's field ("Go struct field .Check
 *   of type string"), so the field named is always the outermost custom-decoded one.
 * - `null` leaves a field as it was.
 *
 * Deliberate differences: where Go names the anonymous aux struct's full type (a JSON string
 * where a check object belongs) the struct's Go name is used instead ("structs.CheckType"); a
 * number's text is JavaScript's rendering of the parsed value, not the request's literal.
 *
 * Bounds Consul does not have: string sizes, list and map sizes, nesting depth and the number of
 * values are capped; going over throws the caller's limit error at once.
 */
import type { PlainMap, PlainValue } from '@trellis/state';
import { jsonKind } from '../http/catalog.js';
import { goQuote } from './go.js';

/** A decode failure with Go's text; a type error carries the context Go would print. */
export class GoDecodeError extends Error {
  override readonly name = 'GoDecodeError';

  private constructor(
    readonly detail:
      | { readonly text: string }
      | {
          readonly value: string;
          readonly goType: string;
          readonly struct: string;
          readonly field: string;
        },
  ) {
    super(
      'text' in detail
        ? detail.text
        : detail.struct !== '' || detail.field !== ''
          ? `json: cannot unmarshal ${detail.value} into Go struct field ` +
            `${detail.struct}.${detail.field} of type ${detail.goType}`
          : `json: cannot unmarshal ${detail.value} into Go value of type ${detail.goType}`,
    );
  }

  static text(text: string): GoDecodeError {
    return new GoDecodeError({ text });
  }

  static type(value: string, goType: string, struct: string, field: string): GoDecodeError {
    return new GoDecodeError({ value, goType, struct, field });
  }

  /** Go's addErrorContext: a type error leaving a nested decoder takes the outer field. */
  withContext(struct: string, field: string): GoDecodeError {
    if ('text' in this.detail) return this;
    return GoDecodeError.type(this.detail.value, this.detail.goType, struct, field);
  }
}

/** How a field's JSON value is decoded (the Go type it lands in). */
export type GoSpec =
  | { readonly k: 'string'; readonly maxBytes: number; readonly go?: string }
  | { readonly k: 'bool' }
  | { readonly k: 'int' }
  /** interface{}: any JSON value, kept as it is (Consul's duration fields). */
  | { readonly k: 'any' }
  | { readonly k: 'strings'; readonly maxItems: number; readonly maxBytes: number }
  | { readonly k: 'stringMap'; readonly maxKeys: number; readonly maxBytes: number }
  /** map[string][]string (HTTP check headers). */
  | {
      readonly k: 'stringsMap';
      readonly maxKeys: number;
      readonly maxItems: number;
      readonly maxBytes: number;
    }
  /** map[string]interface{}: opaque configuration, copied. */
  | { readonly k: 'opaque' }
  /** A struct decoded by the same decoder (no UnmarshalJSON of its own). */
  | { readonly k: 'struct'; readonly of: () => GoStruct }
  /** A struct with its own UnmarshalJSON: a nested decoder. */
  | { readonly k: 'custom'; readonly of: () => GoStruct }
  | {
      readonly k: 'list';
      readonly go: string;
      readonly of: GoSpec;
      readonly maxItems: number;
      /** Elements are pointers: `null` stays null (else it is the zero struct). */
      readonly pointers?: boolean;
    }
  | { readonly k: 'map'; readonly go: string; readonly of: GoSpec; readonly maxKeys: number };

export interface GoField {
  /** The JSON name Go matches and prints ("Port", or an alias such as "enable_tag_override"). */
  readonly name: string;
  readonly spec: GoSpec;
  /** Further names a config file may use (matched case-insensitively in the local dialect). */
  readonly local?: readonly string[];
}

export interface GoStruct {
  /** The struct's Go name in error contexts; '' for the anonymous aux struct of a custom decoder. */
  readonly name: string;
  /** The Go type printed when the JSON value is not an object. */
  readonly go: string;
  readonly fields: readonly GoField[];
  /** Custom decoders only: DisallowUnknownFields (lib.UnmarshalJSON). */
  readonly strict?: boolean;
  /** Custom decoders only: the work UnmarshalJSON does after decoding (may fail). */
  readonly post?: (rec: Rec) => void;
}

/** A decoded struct: field name → decoded value; absent fields are missing. */
export type Rec = Record<string, unknown>;

/**
 * 'remote' is the HTTP API (Consul's JSON decoding); 'local' also accepts a config file's
 * spellings: every field name with underscores ignored (`success_before_passing`) and the
 * fields' `local` names.
 */
export type Dialect = 'remote' | 'local';

export interface DecodeBounds {
  /** Objects and arrays nested deeper than this are refused. */
  readonly maxDepth: number;
  /** Values (object members and array elements) one decode may visit. */
  readonly maxValues: number;
}

interface Run {
  readonly dialect: Dialect;
  readonly bounds: DecodeBounds;
  readonly limit: (text: string) => Error;
  values: number;
}

interface Scope {
  saved: GoDecodeError | undefined;
  readonly strict: boolean;
}

interface Ctx {
  readonly run: Run;
  readonly scope: Scope;
  /** Go's errorContext.Struct: the struct whose field is being decoded. */
  readonly struct: string;
  /** Go's errorContext.FieldStack, from the current decoder's root. */
  readonly stack: readonly string[];
  /** Where the value sits, for limit errors ("Checks[1].Header"). */
  readonly path: string;
  readonly depth: number;
}

/** Sets an own data property even for keys such as "__proto__" (no prototype is touched). */
export function setOwn<T>(o: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

interface Lookup {
  readonly exact: ReadonlyMap<string, GoField>;
  readonly folded: ReadonlyMap<string, GoField>;
  readonly local: ReadonlyMap<string, GoField>;
  readonly loose: ReadonlyMap<string, GoField>;
}

const LOOKUPS = new WeakMap<GoStruct, Lookup>();
const fold = (s: string): string => s.toLowerCase();
const loosen = (s: string): string => s.toLowerCase().replace(/_/g, '');

function lookupOf(s: GoStruct): Lookup {
  let l = LOOKUPS.get(s);
  if (l !== undefined) return l;
  const exact = new Map<string, GoField>();
  const folded = new Map<string, GoField>();
  const local = new Map<string, GoField>();
  const loose = new Map<string, GoField>();
  for (const f of s.fields) {
    exact.set(f.name, f);
    // Go keeps the first field of a case-folded name (the dominant one).
    if (!folded.has(fold(f.name))) folded.set(fold(f.name), f);
    if (!loose.has(loosen(f.name))) loose.set(loosen(f.name), f);
    for (const n of f.local ?? []) local.set(fold(n), f);
  }
  l = { exact, folded, local, loose };
  LOOKUPS.set(s, l);
  return l;
}

function findField(s: GoStruct, key: string, dialect: Dialect): GoField | undefined {
  const l = lookupOf(s);
  const f = l.exact.get(key) ?? l.folded.get(fold(key));
  if (f !== undefined || dialect === 'remote') return f;
  return l.local.get(fold(key)) ?? l.loose.get(loosen(key));
}

const isObject = (v: unknown): v is Readonly<Record<string, unknown>> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

function save(ctx: Ctx, e: GoDecodeError): void {
  ctx.scope.saved ??= e;
}

function mismatch(ctx: Ctx, v: unknown, goType: string): undefined {
  save(ctx, GoDecodeError.type(jsonKind(v), goType, ctx.struct, ctx.stack.join('.')));
  return undefined;
}

function count(ctx: Ctx, n: number): void {
  ctx.run.values += n;
  const max = ctx.run.bounds.maxValues;
  if (ctx.run.values > max) {
    throw ctx.run.limit(
      `the definition has more than ${max} values; Trellis accepts at most ${max}`,
    );
  }
}

function deeper(ctx: Ctx): void {
  const max = ctx.run.bounds.maxDepth;
  if (ctx.depth >= max) {
    throw ctx.run.limit(
      `${ctx.path || 'the definition'}: nested more than ${max} levels deep; ` +
        `Trellis accepts at most ${max}`,
    );
  }
}

function checkCount(ctx: Ctx, n: number, max: number): void {
  if (n > max) throw ctx.run.limit(`${ctx.path}: ${n} entries; Trellis accepts at most ${max}`);
  count(ctx, n);
}

function checkBytes(ctx: Ctx, s: string, max: number, what = ctx.path): string {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: short strings need no counting.
  if (s.length * 3 > max) {
    const n = Buffer.byteLength(s, 'utf8');
    if (n > max) throw ctx.run.limit(`${what}: ${n} bytes; Trellis accepts at most ${max}`);
  }
  return s;
}

/** Go's text for a number that does not fit the target ("number 1.5"). */
const numberText = (n: number): string => `number ${String(n)}`;

function decodeString(v: unknown, ctx: Ctx, maxBytes: number, go = 'string'): string | undefined {
  if (typeof v !== 'string') return mismatch(ctx, v, go);
  return checkBytes(ctx, v, maxBytes);
}

function decodeValue(v: unknown, spec: GoSpec, ctx: Ctx): unknown {
  if (v === null || v === undefined) return undefined;
  switch (spec.k) {
    case 'string':
      return decodeString(v, ctx, spec.maxBytes, spec.go);
    case 'bool':
      return typeof v === 'boolean' ? v : mismatch(ctx, v, 'bool');
    case 'int':
      if (typeof v !== 'number') return mismatch(ctx, v, 'int');
      if (!Number.isInteger(v) || Math.abs(v) >= 2 ** 63) {
        save(ctx, GoDecodeError.type(numberText(v), 'int', ctx.struct, ctx.stack.join('.')));
        return undefined;
      }
      return v;
    case 'any':
      if (typeof v === 'object') {
        // Decoded into interface{} and then ignored by Consul; still bounded and checked.
        copyOpaque(v, ctx);
        return v;
      }
      if (typeof v === 'number' && !Number.isFinite(v)) {
        save(ctx, GoDecodeError.type(numberText(v), 'float64', ctx.struct, ctx.stack.join('.')));
        return undefined;
      }
      return typeof v === 'string' ? checkBytes(ctx, v, 1024) : v;
    case 'strings':
      return decodeStrings(v, ctx, spec.maxItems, spec.maxBytes);
    case 'stringMap': {
      if (!isObject(v)) return mismatch(ctx, v, 'map[string]string');
      deeper(ctx);
      const keys = Object.keys(v);
      checkCount(ctx, keys.length, spec.maxKeys);
      const out: Record<string, string> = {};
      for (const key of keys) {
        const at = { ...ctx, path: join(ctx.path, key), depth: ctx.depth + 1 };
        checkBytes(at, key, spec.maxBytes, `${at.path} (key)`);
        const x = v[key];
        const s = x === null || x === undefined ? '' : decodeString(x, at, spec.maxBytes);
        setOwn(out, key, s ?? '');
      }
      return out;
    }
    case 'stringsMap': {
      if (!isObject(v)) return mismatch(ctx, v, 'map[string][]string');
      deeper(ctx);
      const keys = Object.keys(v);
      checkCount(ctx, keys.length, spec.maxKeys);
      const out: Record<string, string[]> = {};
      for (const key of keys) {
        const at = { ...ctx, path: join(ctx.path, key), depth: ctx.depth + 1 };
        checkBytes(at, key, spec.maxBytes, `${at.path} (key)`);
        const x = v[key];
        const list =
          x === null || x === undefined ? [] : decodeStrings(x, at, spec.maxItems, spec.maxBytes);
        setOwn(out, key, list ?? []);
      }
      return out;
    }
    case 'opaque':
      if (!isObject(v)) return mismatch(ctx, v, 'map[string]interface {}');
      return copyOpaque(v, ctx);
    case 'struct':
      return decodeObject(v, spec.of(), ctx);
    case 'custom':
      return decodeCustom(v, spec.of(), ctx, ctx.run, ctx.path, ctx.depth);
    case 'list': {
      if (!Array.isArray(v)) return mismatch(ctx, v, spec.go);
      deeper(ctx);
      checkCount(ctx, v.length, spec.maxItems);
      return v.map((x: unknown, i) => {
        const at = { ...ctx, path: `${ctx.path}[${i}]`, depth: ctx.depth + 1 };
        if (x === null || x === undefined) return spec.pointers === true ? null : {};
        return decodeValue(x, spec.of, at) ?? {};
      });
    }
    case 'map': {
      if (!isObject(v)) return mismatch(ctx, v, spec.go);
      deeper(ctx);
      const keys = Object.keys(v);
      checkCount(ctx, keys.length, spec.maxKeys);
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        const at = { ...ctx, path: join(ctx.path, key), depth: ctx.depth + 1 };
        checkBytes(at, key, 1024, `${at.path} (key)`);
        setOwn(out, key, decodeValue(v[key], spec.of, at) ?? {});
      }
      return out;
    }
  }
}

function decodeStrings(
  v: unknown,
  ctx: Ctx,
  maxItems: number,
  maxBytes: number,
): string[] | undefined {
  if (!Array.isArray(v)) return mismatch(ctx, v, '[]string');
  checkCount(ctx, v.length, maxItems);
  return v.map((x: unknown, i) => {
    if (x === null || x === undefined) return '';
    return decodeString(x, { ...ctx, path: `${ctx.path}[${i}]` }, maxBytes) ?? '';
  });
}

/** A bounded deep copy of a JSON value decoded into interface{} (own keys only). */
function copyOpaque(v: unknown, ctx: Ctx): PlainMap {
  const walk = (x: unknown, at: Ctx): PlainValue => {
    if (x === null || x === undefined) return null;
    switch (typeof x) {
      case 'string':
      case 'boolean':
        return x;
      case 'number':
        if (Number.isFinite(x)) return x;
        // Go's decoder cannot hold the number in a float64.
        save(at, GoDecodeError.type(numberText(x), 'float64', at.struct, at.stack.join('.')));
        return 0;
      case 'object':
        break;
      default:
        return null;
    }
    deeper(at);
    if (Array.isArray(x)) {
      count(at, x.length);
      return x.map((y: unknown, i) =>
        walk(y, { ...at, path: `${at.path}[${i}]`, depth: at.depth + 1 }),
      );
    }
    const o = x as Readonly<Record<string, unknown>>;
    const keys = Object.keys(o);
    count(at, keys.length);
    const out: PlainMap = {};
    for (const key of keys) {
      setOwn(out, key, walk(o[key], { ...at, path: join(at.path, key), depth: at.depth + 1 }));
    }
    return out;
  };
  return walk(v, ctx) as PlainMap;
}

function decodeObject(v: unknown, s: GoStruct, ctx: Ctx): Rec | undefined {
  if (v === null || v === undefined) return undefined;
  if (!isObject(v)) return mismatch(ctx, v, s.go);
  deeper(ctx);
  const keys = Object.keys(v);
  count(ctx, keys.length);
  const rec: Rec = {};
  for (const key of keys) {
    const f = findField(s, key, ctx.run.dialect);
    if (f === undefined) {
      if (ctx.scope.strict) save(ctx, GoDecodeError.text(`json: unknown field ${goQuote(key)}`));
      continue;
    }
    const at: Ctx = {
      ...ctx,
      struct: s.name,
      stack: [...ctx.stack, f.name],
      path: join(ctx.path, f.name),
      depth: ctx.depth + 1,
    };
    const out = decodeValue(v[key], f.spec, at);
    if (out !== undefined) setOwn<unknown>(rec, f.name, out);
  }
  return rec;
}

/**
 * A struct with its own UnmarshalJSON: a fresh decoder (own saved error, own strictness). Its
 * failure stops the enclosing decoder; a type error takes the enclosing field as its context.
 */
function decodeCustom(
  v: unknown,
  s: GoStruct,
  parent: Ctx | undefined,
  run: Run,
  path: string,
  depth: number,
): Rec {
  const scope: Scope = { saved: undefined, strict: s.strict === true };
  const ctx: Ctx = { run, scope, struct: '', stack: [], path, depth };
  try {
    const rec = decodeObject(v, s, ctx) ?? {};
    if (scope.saved !== undefined) throw scope.saved;
    s.post?.(rec);
    return rec;
  } catch (e) {
    if (parent !== undefined && e instanceof GoDecodeError) {
      throw e.withContext(parent.struct, parent.stack.join('.'));
    }
    throw e;
  }
}

/**
 * Decodes `raw` (a parsed JSON value) into the custom-decoded struct `s` as Consul's HTTP
 * handler would. Throws {@link GoDecodeError} with Go's text, or `limit(text)`'s error.
 */
export function decodeGo(
  raw: unknown,
  s: GoStruct,
  options: { dialect: Dialect; bounds: DecodeBounds; limit: (text: string) => Error },
): Rec {
  const run: Run = {
    dialect: options.dialect,
    bounds: options.bounds,
    limit: options.limit,
    values: 0,
  };
  return decodeCustom(raw, s, undefined, run, '', 0);
}
