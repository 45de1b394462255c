/**
 * Bounds on filter expressions. go-bexpr itself has none (Consul relies on the HTTP server's
 * header-size limit); these keep one request from costing the server more than a bounded
 * amount of CPU and stack.
 */

/** Longest accepted `?filter=` expression, in UTF-16 code units. Real filters are a few hundred. */
export const MAX_EXPRESSION_LENGTH = 4096;

/**
 * Deepest nesting of parentheses and `not`. The parser and evaluator recurse once per level;
 * `and`/`or` chains are flattened and do not count.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * Largest compiled regular-expression program (NFA instructions). Matching is linear in
 * text length times program size, so this bounds the cost of one `matches` per value.
 * RE2 caps repeat counts at 1000; `x{1000}` alone fits.
 */
export const MAX_REGEX_PROGRAM = 10_000;

/** RE2's limit on a single `{n,m}` repeat count. */
export const MAX_REGEX_REPEAT = 1000;

/** Deepest group nesting in a regular expression (RE2 says "expression nests too deeply"). */
export const MAX_REGEX_NESTING = 200;

/** Prefix Consul puts on every bad-filter error (go-bexpr filter.go, CreateFilter). */
export const FILTER_ERROR_PREFIX = 'Failed to create boolean expression evaluator: ';
