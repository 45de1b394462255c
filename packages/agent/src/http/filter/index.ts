/**
 * Consul's `?filter=` expressions: go-bexpr's language, compiled to a predicate over the JSON
 * objects an endpoint lists.
 *
 *   const keep = compileFilter('Service == web and "v2" in Tags'); // throws FilterError
 *   results.filter(keep);                                           // may throw FilterError
 *
 * A FilterError's `message` is Consul's 400 body text. Without a schema, an error Consul finds
 * at compile time from the Go type (unknown operator for the field, value that does not coerce,
 * selector through a scalar) is thrown by the predicate on the first value that shows it; pass
 * `schema` to get it from compileFilter instead, along with Consul's "Selector … is not valid"
 * for fields the type does not have. Without a schema a missing field is "not present" (see
 * evaluate.ts), so `Nope == x` matches nothing and `Nope != x` everything.
 */
import { MAX_EXPRESSION_LENGTH } from './constants.js';
import { FilterError, FilterErrorCode } from './errors.js';
import { compileExpr, type FilterSchema } from './evaluate.js';
import { parseExpression } from './parser.js';

export { FilterError, FilterErrorCode, isFilterError } from './errors.js';
export { compileGoRegexp, RegexSyntaxError, type GoRegexp } from './regexp.js';
export type { FieldSchema, FilterSchema, ScalarSchema } from './evaluate.js';
export { MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH, FILTER_ERROR_PREFIX } from './constants.js';

export interface CompileFilterOptions {
  /** Fields of the filtered element type; enables Consul's compile-time checks. */
  readonly schema?: FilterSchema;
}

/**
 * Compiles a go-bexpr expression. The empty string is Consul's "no filter" and keeps
 * everything. Throws FilterError for anything Consul would answer 400.
 */
export function compileFilter(
  expr: string,
  options: CompileFilterOptions = {},
): (value: unknown) => boolean {
  if (expr === '') return () => true;
  if (expr.length > MAX_EXPRESSION_LENGTH) {
    throw new FilterError(
      FilterErrorCode.TOO_LARGE,
      `expression is ${expr.length} characters long, more than the maximum of ${MAX_EXPRESSION_LENGTH}`,
    );
  }
  return compileExpr(parseExpression(expr), options.schema);
}
