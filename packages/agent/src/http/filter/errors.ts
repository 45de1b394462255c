import { FILTER_ERROR_PREFIX } from './constants.js';

/** Why a filter was refused. Stable strings: safe to log, test and branch on. */
export const FilterErrorCode = {
  /** Input text is over a limit (length, nesting). */
  TOO_LARGE: 'TOO_LARGE',
  /** The text is not a go-bexpr expression (pigeon parser error text). */
  SYNTAX: 'SYNTAX',
  /** A selector names no field (schema) or drills into a scalar. */
  INVALID_SELECTOR: 'INVALID_SELECTOR',
  /** The operator is not defined for the selected field's type. */
  INVALID_OPERATOR: 'INVALID_OPERATOR',
  /** The value cannot be converted to the selected field's type. */
  COERCE: 'COERCE',
  /** The `matches` pattern is not valid RE2, or is too large. */
  REGEX: 'REGEX',
} as const;
export type FilterErrorCode = (typeof FilterErrorCode)[keyof typeof FilterErrorCode];

/**
 * A refused filter expression. `message` is exactly the text Consul puts in its HTTP 400 body
 * ("Failed to create boolean expression evaluator: …"); `detail` is the part after the prefix.
 * Thrown by compileFilter, and also by the compiled predicate when a type error only shows once
 * a value is seen (see index.ts): callers should answer both with 400 and `message`.
 */
export class FilterError extends Error {
  override readonly name = 'FilterError';
  constructor(
    readonly code: FilterErrorCode,
    readonly detail: string,
  ) {
    super(FILTER_ERROR_PREFIX + detail);
  }
}

export const isFilterError = (e: unknown): e is FilterError => e instanceof FilterError;
