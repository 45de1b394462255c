/**
 * Compiling a parsed expression into a predicate over plain JSON values, with go-bexpr's
 * (v0.1.2, as vendored by Consul) matching rules:
 *
 * - A selector walks object keys, case-sensitively (Go struct field names and map keys are
 *   both exact). Where the walk meets an array before the selector ends, the match holds if
 *   it holds for ANY element (`Checks.Status == passing`), the rest of the selector applying
 *   to each element; `!=`, `not in` … are evaluated per element too, so
 *   `Checks.Status != passing` means "some check is not passing".
 * - A missing key, or a null on the way, is "not present": `==`, `in`, `is not empty` and
 *   `matches` are false, their negations true (go-bexpr's NotPresentDisposition).
 * - At the end of the selector: strings take == != in (substring) matches; numbers and
 *   booleans take == != with the value coerced as Go's strconv would; arrays take in (element
 *   equality) and is empty; objects take in (key present) and is empty. Any other pairing is
 *   the "Invalid match operator" error Consul gives.
 *
 * Consul knows each endpoint's Go type and reports a bad selector, operator or value at
 * compile time (HTTP 400). Given a FilterSchema, compileFilter does the same. Without one the
 * type is only known once a value is seen, so the predicate throws the same FilterError then.
 */
import { MatchOp, selectorText, type Expr, type MatchExpr } from './ast.js';
import { FilterError, FilterErrorCode } from './errors.js';
import {
  goParseBool,
  goParseFloat,
  goParseInt,
  goParseUint,
  goQuote,
  type GoParse,
} from './golang.js';
import { RegexSyntaxError, compileGoRegexp, type GoRegexp } from './regexp.js';

/** A Go scalar kind, as go-bexpr coerces values for it. */
export type ScalarSchema = 'string' | 'int' | 'uint' | 'float' | 'bool';

/**
 * The Go type behind a selectable field: a scalar, a struct (named fields), a
 * `map[string]T` or a slice `[]T`. Fields Consul cannot filter on are simply left out.
 */
export type FieldSchema =
  | ScalarSchema
  | { readonly struct: FilterSchema }
  | { readonly map: FieldSchema }
  | { readonly list: FieldSchema };

/** The fields of the element type an endpoint filters (e.g. Consul's structs.Node). */
export type FilterSchema = Readonly<Record<string, FieldSchema>>;

type Predicate = (value: unknown) => boolean;

const invalidOperator = (m: MatchExpr): FilterError =>
  new FilterError(
    FilterErrorCode.INVALID_OPERATOR,
    `Invalid match operator ${goQuote(m.op)} for selector ${goQuote(selectorText(m.selector))}`,
  );

const invalidSelector = (path: readonly string[]): FilterError =>
  new FilterError(
    FilterErrorCode.INVALID_SELECTOR,
    `Selector ${goQuote(selectorText(path))} is not valid`,
  );

const coerceError = (m: MatchExpr, raw: string, error: string): FilterError =>
  new FilterError(
    FilterErrorCode.COERCE,
    `Failed to coerce value ${goQuote(raw)} for selector ${goQuote(selectorText(m.selector))}: ${error}`,
  );

/** go-bexpr's NotPresentDisposition: the answer when the selected key does not exist. */
function notPresent(op: MatchOp): boolean {
  switch (op) {
    case MatchOp.NotEqual:
    case MatchOp.NotIn:
    case MatchOp.IsEmpty:
    case MatchOp.NotMatches:
      return true;
    default:
      return false;
  }
}

const isScalar = (s: FieldSchema): s is ScalarSchema => typeof s === 'string';

/** Operators go-bexpr's field configuration allows for a Go type (field_config.go). */
function supportedOps(s: FieldSchema): readonly MatchOp[] {
  if (s === 'string') {
    return [
      MatchOp.Equal,
      MatchOp.NotEqual,
      MatchOp.In,
      MatchOp.NotIn,
      MatchOp.Matches,
      MatchOp.NotMatches,
    ];
  }
  if (isScalar(s)) return [MatchOp.Equal, MatchOp.NotEqual];
  if ('map' in s) return [MatchOp.IsEmpty, MatchOp.IsNotEmpty, MatchOp.In, MatchOp.NotIn];
  if ('list' in s) {
    return isScalar(s.list)
      ? [MatchOp.In, MatchOp.NotIn, MatchOp.IsEmpty, MatchOp.IsNotEmpty]
      : [MatchOp.IsEmpty, MatchOp.IsNotEmpty];
  }
  return [];
}

/** The selectable children of a Go type: named struct fields, or any key of a map. */
function children(s: FieldSchema): { named?: FilterSchema; any?: FieldSchema } {
  if (isScalar(s)) return {};
  if ('struct' in s) return { named: s.struct };
  if ('map' in s) return { any: s.map };
  return isScalar(s.list) ? {} : children(s.list);
}

/** The scalar kind a value is coerced to for this field (element kind for lists; keys for maps). */
function coercionKind(s: FieldSchema): ScalarSchema | undefined {
  if (isScalar(s)) return s;
  if ('map' in s) return 'string';
  if ('list' in s && isScalar(s.list)) return s.list;
  return undefined;
}

type Coerced = GoParse<bigint | number | boolean | string>;

function coerce(raw: string, kind: ScalarSchema): Coerced {
  switch (kind) {
    case 'int':
      return goParseInt(raw);
    case 'uint':
      return goParseUint(raw);
    case 'float':
      return goParseFloat(raw);
    case 'bool':
      return goParseBool(raw);
    case 'string':
      return { ok: true, value: raw };
  }
}

/** One compiled match expression. */
class Matcher {
  private readonly coerced = new Map<ScalarSchema, Coerced>();

  constructor(
    private readonly m: MatchExpr,
    /** Scalar kind from the schema, when there is one. */
    private readonly kind: ScalarSchema | undefined,
    private readonly regex: GoRegexp | undefined,
  ) {}

  private as(kind: ScalarSchema): Coerced {
    let c = this.coerced.get(kind);
    if (c === undefined) {
      c = coerce(this.m.value ?? '', kind);
      this.coerced.set(kind, c);
    }
    return c;
  }

  readonly test = (root: unknown): boolean => this.walk(root, 0);

  private walk(v: unknown, depth: number): boolean {
    if (v === null || v === undefined) return notPresent(this.m.op);
    const path = this.m.selector;
    if (depth === path.length) return this.leaf(v);
    if (Array.isArray(v)) {
      for (const item of v) if (this.walk(item, depth)) return true;
      return false;
    }
    if (typeof v === 'object') {
      const key = path[depth] as string;
      if (!Object.hasOwn(v, key)) return notPresent(this.m.op);
      return this.walk((v as Record<string, unknown>)[key], depth + 1);
    }
    throw invalidSelector(path.slice(0, depth + 1));
  }

  private leaf(v: unknown): boolean {
    const { op } = this.m;
    switch (op) {
      case MatchOp.Equal:
        return this.equals(v);
      case MatchOp.NotEqual:
        return !this.equals(v);
      case MatchOp.In:
        return this.contains(v);
      case MatchOp.NotIn:
        return !this.contains(v);
      case MatchOp.IsEmpty:
        return this.isEmpty(v);
      case MatchOp.IsNotEmpty:
        return !this.isEmpty(v);
      case MatchOp.Matches:
        return this.matches(v);
      case MatchOp.NotMatches:
        return !this.matches(v);
    }
  }

  private equals(v: unknown): boolean {
    const raw = this.m.value ?? '';
    if (typeof v === 'string') return v === raw;
    if (typeof v === 'boolean') {
      const b = this.as('bool');
      if (!b.ok) throw coerceError(this.m, raw, b.error);
      return b.value === v;
    }
    if (typeof v === 'number') return this.numberEquals(v, true) as boolean;
    throw invalidOperator(this.m);
  }

  /**
   * A JSON number against the raw value. With a schema the Go kind decides the parse; without
   * one an integral number is compared as Go int64 (falling back to float), others as float64.
   * Returns undefined instead of throwing when `strict` is false (elements of `in` lists).
   */
  private numberEquals(v: number, strict: boolean): boolean | undefined {
    const raw = this.m.value ?? '';
    const kinds: ScalarSchema[] =
      this.kind === 'int' || this.kind === 'uint' || this.kind === 'float'
        ? [this.kind]
        : Number.isInteger(v)
          ? ['int', 'float']
          : ['float'];
    for (const k of kinds) {
      const c = this.as(k);
      if (!c.ok) continue;
      if (typeof c.value === 'bigint') return Number.isInteger(v) && BigInt(v) === c.value;
      return c.value === v;
    }
    if (!strict) return undefined;
    const first = this.as(kinds[0] as ScalarSchema);
    throw coerceError(this.m, raw, first.ok ? '' : first.error);
  }

  private contains(v: unknown): boolean {
    const raw = this.m.value ?? '';
    if (typeof v === 'string') return v.includes(raw);
    if (Array.isArray(v)) {
      for (const item of v) {
        if (item === null || item === undefined) continue;
        if (typeof item === 'string') {
          if (item === raw) return true;
        } else if (typeof item === 'number') {
          if (this.numberEquals(item, false) === true) return true;
        } else if (typeof item === 'boolean') {
          const b = this.as('bool');
          if (b.ok && b.value === item) return true;
        } else {
          throw invalidOperator(this.m);
        }
      }
      return false;
    }
    if (typeof v === 'object' && v !== null) return Object.hasOwn(v, raw);
    throw invalidOperator(this.m);
  }

  private isEmpty(v: unknown): boolean {
    if (Array.isArray(v)) return v.length === 0;
    if (typeof v === 'object' && v !== null) return Object.keys(v).length === 0;
    throw invalidOperator(this.m);
  }

  private matches(v: unknown): boolean {
    if (typeof v !== 'string' || this.regex === undefined) throw invalidOperator(this.m);
    return this.regex.test(v);
  }
}

/** go-bexpr's validate pass for one match expression against a schema. */
function validateAgainstSchema(m: MatchExpr, schema: FilterSchema): ScalarSchema | undefined {
  let named: FilterSchema | undefined = schema;
  let any: FieldSchema | undefined;
  let field: FieldSchema | undefined;
  for (let idx = 0; idx < m.selector.length; idx++) {
    const name = m.selector[idx] as string;
    const found: FieldSchema | undefined =
      (named !== undefined && Object.hasOwn(named, name) ? named[name] : undefined) ?? any;
    if (found === undefined) throw invalidSelector(m.selector.slice(0, idx + 1));
    field = found;
    ({ named, any } = children(found));
  }
  if (field === undefined || !supportedOps(field).includes(m.op)) throw invalidOperator(m);
  const kind = coercionKind(field);
  if (m.value !== undefined && kind !== undefined) {
    const c = coerce(m.value, kind);
    if (!c.ok) throw coerceError(m, m.value, c.error);
  }
  return kind;
}

function compileRegex(m: MatchExpr): GoRegexp | undefined {
  if (m.op !== MatchOp.Matches && m.op !== MatchOp.NotMatches) return undefined;
  const raw = m.value ?? '';
  try {
    return compileGoRegexp(raw);
  } catch (e) {
    if (!(e instanceof RegexSyntaxError)) throw e;
    throw new FilterError(
      FilterErrorCode.REGEX,
      `Failed to compile regular expression ${goQuote(raw)}: ${e.message}`,
    );
  }
}

/** Compiles the AST, validating match expressions left to right as go-bexpr does. */
export function compileExpr(e: Expr, schema: FilterSchema | undefined): Predicate {
  switch (e.kind) {
    case 'match': {
      const kind = schema === undefined ? undefined : validateAgainstSchema(e, schema);
      return new Matcher(e, kind, compileRegex(e)).test;
    }
    case 'not': {
      const inner = compileExpr(e.operand, schema);
      return (v) => !inner(v);
    }
    case 'and': {
      const ps = e.operands.map((o) => compileExpr(o, schema));
      return (v) => ps.every((p) => p(v));
    }
    case 'or': {
      const ps = e.operands.map((o) => compileExpr(o, schema));
      return (v) => ps.some((p) => p(v));
    }
  }
}
