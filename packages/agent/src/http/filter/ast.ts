/**
 * go-bexpr's match operators. The string is Go's MatchOperator.String(), which Consul quotes
 * in "Invalid match operator" errors. `contains` parses to In and `not contains` to NotIn.
 */
export const MatchOp = {
  Equal: 'Equal',
  NotEqual: 'Not Equal',
  In: 'In',
  NotIn: 'Not In',
  IsEmpty: 'Is Empty',
  IsNotEmpty: 'Is Not Empty',
  Matches: 'Matches',
  NotMatches: 'Not Matches',
} as const;
export type MatchOp = (typeof MatchOp)[keyof typeof MatchOp];

export interface MatchExpr {
  readonly kind: 'match';
  /** Field names from the root, e.g. `Node.Meta["a b"]` → ["Node", "Meta", "a b"]. */
  readonly selector: readonly string[];
  readonly op: MatchOp;
  /** The raw value text (unquoted); undefined for `is empty` / `is not empty`. */
  readonly value: string | undefined;
}

/** `and` / `or` are n-ary here (go-bexpr nests them to the right; same truth table). */
export interface LogicalExpr {
  readonly kind: 'and' | 'or';
  readonly operands: readonly Expr[];
}

export interface NotExpr {
  readonly kind: 'not';
  readonly operand: Expr;
}

export type Expr = MatchExpr | LogicalExpr | NotExpr;

/** Go's Selector.String(): the path joined with dots (index syntax is not preserved). */
export const selectorText = (path: readonly string[]): string => path.join('.');
