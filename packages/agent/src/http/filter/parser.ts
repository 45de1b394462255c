/**
 * A parser for go-bexpr's grammar (grammar.peg, as vendored by Consul) that reproduces the
 * errors of the pigeon-generated Go parser: the same positions ("line:col (byteOffset)"), the
 * same `rule "…": …` texts from the grammar's error predicates, and the same
 * "no match found, expected: …" list built from the terminals tried at the farthest failure.
 *
 * Grammar (PEG, ordered choice):
 *
 *   Input       <- _? "(" _? Or _? ")" _? EOF / _? Or _? EOF
 *   Or          <- And _ "or" _ Or / And
 *   And         <- Not _ "and" _ And / Not
 *   Not         <- "not" _ Not / Paren
 *   Paren       <- "(" _? Or _? ")" / Match / "(" _? Or _? !")" {Unmatched parentheses}
 *   Match       <- Selector (== | != | contains | not contains | matches | not matches) Value
 *                / Selector (is empty | is not empty)
 *                / Value (in | not in) Selector / Value (in | not in) !Selector {Invalid selector}
 *   Selector    <- Identifier ("." Identifier / Index)*
 *   Index       <- "[" _? String _? "]" / "[" _? !String {Invalid index}
 *                / "[" _? String _? !"]" {Unclosed index expression}
 *   Identifier  <- [a-zA-Z] [a-zA-Z0-9_]*
 *   Value       <- Selector / Number / String
 *   Number      <- "-"? ("0" / [1-9][0-9]*) ("." [0-9]+)? &(_ / EOF / ")")   {else Invalid number literal}
 *   String      <- "`" [^`]* "`" / '"' [^"]* '"'  (Go strconv.Unquote)   {else Unterminated string literal}
 *   _           <- [ \t\r\n]+
 *
 * Operators with words need whitespace on both sides (`_ "in" _`); `==`/`!=` need none.
 *
 * Unlike the Go parser (no memoisation, so exponential in nesting), each construct is parsed
 * once: `and`/`or` chains are loops, and a parenthesis is scanned once for all three of Paren's
 * alternatives. Recursion is bounded by MAX_NESTING_DEPTH.
 */
import { MatchOp, type Expr, type MatchExpr } from './ast.js';
import { MAX_NESTING_DEPTH } from './constants.js';
import { FilterError, FilterErrorCode } from './errors.js';
import { goQuote, goUnquoteDouble, goUnquoteRaw } from './golang.js';

const FAIL = Symbol('fail');
type Fail = typeof FAIL;

interface PendingError {
  readonly pos: number;
  readonly rule: string;
  readonly text: string;
}

const WS = '[ \\t\\r\\n]';
const isWs = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isIdentRest = (c: string): boolean => isAlpha(c) || isDigit(c) || c === '_';

class Parser {
  private pos = 0;
  private invert = false;
  private maxFailPos = 0;
  private maxFailExpected: string[] = [];
  private readonly errors: PendingError[] = [];
  private depth = 0;

  constructor(private readonly src: string) {}

  parse(): Expr {
    const result = this.input();
    if (this.errors.length > 0) throw this.syntaxError();
    if (result === FAIL) throw this.noMatchError();
    return result;
  }

  // ---- pigeon's matchers -------------------------------------------------------------------

  /** pigeon's failAt: record what was wanted at the farthest position reached. */
  private failAt(fail: boolean, pos: number, want: string): void {
    if (fail !== this.invert) return;
    if (pos < this.maxFailPos) return;
    if (pos > this.maxFailPos) {
      this.maxFailPos = pos;
      this.maxFailExpected = [];
    }
    this.maxFailExpected.push(this.invert ? '!' + want : want);
  }

  private charAt(pos: number): string | undefined {
    if (pos >= this.src.length) return undefined;
    const cp = this.src.codePointAt(pos) ?? 0;
    return String.fromCodePoint(cp);
  }

  private lit(text: string): boolean {
    const want = goQuote(text);
    if (this.src.startsWith(text, this.pos)) {
      this.failAt(true, this.pos, want);
      this.pos += text.length;
      return true;
    }
    this.failAt(false, this.pos, want);
    return false;
  }

  private cls(display: string, test: (c: string) => boolean): boolean {
    const c = this.charAt(this.pos);
    if (c !== undefined && test(c)) {
      this.failAt(true, this.pos, display);
      this.pos += c.length;
      return true;
    }
    this.failAt(false, this.pos, display);
    return false;
  }

  private any(): boolean {
    const c = this.charAt(this.pos);
    if (c === undefined) {
      this.failAt(false, this.pos, '.');
      return false;
    }
    this.failAt(true, this.pos, '.');
    this.pos += c.length;
    return true;
  }

  /** `!e`: succeeds, consuming nothing, where e fails; failures inside are inverted. */
  private not(e: () => boolean): boolean {
    const start = this.pos;
    this.invert = !this.invert;
    const ok = e();
    this.invert = !this.invert;
    this.pos = start;
    return !ok;
  }

  /** `&e`: succeeds, consuming nothing, where e succeeds. */
  private and(e: () => boolean): boolean {
    const start = this.pos;
    const ok = e();
    this.pos = start;
    return ok;
  }

  private eof(): boolean {
    return this.not(() => this.any());
  }

  /** `_`: one or more whitespace characters. */
  private ws(): boolean {
    if (!this.cls(WS, isWs)) return false;
    while (this.cls(WS, isWs));
    return true;
  }

  private optWs(): void {
    this.ws();
  }

  /** A failing `&{ return false, errors.New(text) }` predicate inside `rule`. */
  private error(rule: string, text: string, pos = this.pos): void {
    this.errors.push({ pos, rule, text });
  }

  private enter(): void {
    if (++this.depth > MAX_NESTING_DEPTH) {
      throw new FilterError(
        FilterErrorCode.TOO_LARGE,
        `expression nests too deeply (more than ${MAX_NESTING_DEPTH} levels of parentheses and not)`,
      );
    }
  }

  // ---- grammar -----------------------------------------------------------------------------

  private input(): Expr | Fail {
    this.optWs();
    if (this.lit('(')) {
      this.enter();
      this.optWs();
      const e = this.or();
      this.depth--;
      if (e !== FAIL) {
        this.optWs();
        if (this.lit(')')) {
          this.optWs();
          if (this.eof()) return e;
        }
      }
    }
    this.pos = 0;
    this.optWs();
    const e = this.or();
    if (e === FAIL) return FAIL;
    this.optWs();
    return this.eof() ? e : FAIL;
  }

  private or(): Expr | Fail {
    return this.chain('or', () => this.andExpr());
  }

  private andExpr(): Expr | Fail {
    return this.chain('and', () => this.notExpr());
  }

  /** `X <- Y _ "word" _ X / Y`, as a loop. */
  private chain(word: 'and' | 'or', operand: () => Expr | Fail): Expr | Fail {
    const first = operand();
    if (first === FAIL) return FAIL;
    const operands: Expr[] = [first];
    for (;;) {
      const save = this.pos;
      if (this.ws() && this.lit(word) && this.ws()) {
        const next = operand();
        if (next !== FAIL) {
          operands.push(next);
          continue;
        }
      }
      this.pos = save;
      break;
    }
    if (operands.length === 1) return first;
    // Flatten same-kind children so evaluation depth follows parentheses only.
    const flat: Expr[] = [];
    for (const o of operands) {
      if (o.kind === word) flat.push(...o.operands);
      else flat.push(o);
    }
    return { kind: word, operands: flat };
  }

  private notExpr(): Expr | Fail {
    const save = this.pos;
    if (this.lit('not') && this.ws()) {
      this.enter();
      const e = this.notExpr();
      this.depth--;
      if (e !== FAIL) return e.kind === 'not' ? e.operand : { kind: 'not', operand: e };
    }
    this.pos = save;
    return this.paren();
  }

  private paren(): Expr | Fail {
    const save = this.pos;
    let afterInner = -1;
    if (this.lit('(')) {
      this.enter();
      this.optWs();
      const inner = this.or();
      this.depth--;
      if (inner !== FAIL) {
        this.optWs();
        afterInner = this.pos;
        if (this.lit(')')) return inner;
      }
    }
    this.pos = save;
    const m = this.match();
    if (m !== FAIL) return m;
    if (afterInner >= 0) this.error('grouping', 'Unmatched parentheses', afterInner);
    this.pos = save;
    return FAIL;
  }

  private match(): MatchExpr | Fail {
    const save = this.pos;
    let sel = this.selector();
    if (sel !== FAIL) {
      const op = this.selectorOpValueOp();
      if (op !== FAIL) {
        const value = this.value();
        if (value !== FAIL) return { kind: 'match', selector: sel, op, value };
      }
    }
    this.pos = save;
    sel = this.selector();
    if (sel !== FAIL) {
      const op = this.emptinessOp();
      if (op !== FAIL) return { kind: 'match', selector: sel, op, value: undefined };
    }
    this.pos = save;
    const value = this.value();
    if (value !== FAIL) {
      const op = this.inOp();
      if (op !== FAIL) {
        const target = this.selector();
        if (target !== FAIL) return { kind: 'match', selector: target, op, value };
        if (this.not(() => this.selector() !== FAIL)) this.error('match', 'Invalid selector');
      }
    }
    this.pos = save;
    return FAIL;
  }

  /** Tries each alternative from the same start, like a PEG choice. */
  private choice<T>(alternatives: ReadonlyArray<() => T | Fail>): T | Fail {
    const save = this.pos;
    for (const alt of alternatives) {
      const r = alt();
      if (r !== FAIL) return r;
      this.pos = save;
    }
    return FAIL;
  }

  private words(...words: string[]): boolean {
    for (const w of words) {
      if (!this.ws() || !this.lit(w)) return false;
    }
    return true;
  }

  private selectorOpValueOp(): MatchOp | Fail {
    return this.choice<MatchOp>([
      () => {
        this.optWs();
        if (!this.lit('==')) return FAIL;
        this.optWs();
        return MatchOp.Equal;
      },
      () => {
        this.optWs();
        if (!this.lit('!=')) return FAIL;
        this.optWs();
        return MatchOp.NotEqual;
      },
      () => (this.words('contains') && this.ws() ? MatchOp.In : FAIL),
      () => (this.words('not', 'contains') && this.ws() ? MatchOp.NotIn : FAIL),
      () => (this.words('matches') && this.ws() ? MatchOp.Matches : FAIL),
      () => (this.words('not', 'matches') && this.ws() ? MatchOp.NotMatches : FAIL),
    ]);
  }

  private emptinessOp(): MatchOp | Fail {
    return this.choice<MatchOp>([
      () => (this.words('is', 'empty') ? MatchOp.IsEmpty : FAIL),
      () => (this.words('is', 'not', 'empty') ? MatchOp.IsNotEmpty : FAIL),
    ]);
  }

  private inOp(): MatchOp | Fail {
    return this.choice<MatchOp>([
      () => (this.words('in') && this.ws() ? MatchOp.In : FAIL),
      () => (this.words('not', 'in') && this.ws() ? MatchOp.NotIn : FAIL),
    ]);
  }

  private identifier(): string | Fail {
    const start = this.pos;
    if (!this.cls('[a-zA-Z]', isAlpha)) return FAIL;
    while (this.cls('[a-zA-Z0-9_]', isIdentRest));
    return this.src.slice(start, this.pos);
  }

  private selector(): string[] | Fail {
    const first = this.identifier();
    if (first === FAIL) return FAIL;
    const path = [first];
    for (;;) {
      const save = this.pos;
      if (this.lit('.')) {
        const id = this.identifier();
        if (id !== FAIL) {
          path.push(id);
          continue;
        }
      }
      this.pos = save;
      const key = this.index();
      if (key !== FAIL) {
        path.push(key);
        continue;
      }
      this.pos = save;
      return path;
    }
  }

  private index(): string | Fail {
    const save = this.pos;
    if (this.lit('[')) {
      this.optWs();
      const key = this.stringLiteral();
      if (key !== FAIL) {
        this.optWs();
        if (this.lit(']')) return key;
      }
    }
    this.pos = save;
    if (this.lit('[')) {
      this.optWs();
      if (this.not(() => this.stringLiteral() !== FAIL)) this.error('index', 'Invalid index');
    }
    this.pos = save;
    if (this.lit('[')) {
      this.optWs();
      if (this.stringLiteral() !== FAIL) {
        this.optWs();
        if (this.not(() => this.lit(']'))) this.error('index', 'Unclosed index expression');
      }
    }
    this.pos = save;
    return FAIL;
  }

  private value(): string | Fail {
    const save = this.pos;
    const sel = this.selector();
    if (sel !== FAIL) return sel.join('.');
    this.pos = save;
    const n = this.number();
    if (n !== FAIL) return n;
    this.pos = save;
    return this.stringLiteral();
  }

  private integerOrFloat(): boolean {
    if (!this.lit('0')) {
      if (!this.cls('[1-9]', (c) => c >= '1' && c <= '9')) return false;
      while (this.cls('[0-9]', isDigit));
    }
    const save = this.pos;
    if (this.lit('.') && this.cls('[0-9]', isDigit)) {
      while (this.cls('[0-9]', isDigit));
    } else {
      this.pos = save;
    }
    return true;
  }

  private afterNumbers(): boolean {
    return this.and(() => {
      const save = this.pos;
      if (this.ws()) return true;
      this.pos = save;
      if (this.eof()) return true;
      return this.lit(')');
    });
  }

  private number(): string | Fail {
    const save = this.pos;
    this.lit('-');
    if (this.integerOrFloat()) {
      if (this.afterNumbers()) return this.src.slice(save, this.pos);
      this.error('number', 'Invalid number literal');
    }
    this.pos = save;
    return FAIL;
  }

  private stringLiteral(): string | Fail {
    const start = this.pos;
    for (const q of ['`', '"']) {
      this.pos = start;
      if (!this.lit(q)) continue;
      const bodyStart = this.pos;
      while (this.not(() => this.lit(q)) && this.any());
      const body = this.src.slice(bodyStart, this.pos);
      if (this.lit(q)) {
        const text = q === '`' ? goUnquoteRaw(body) : goUnquoteDouble(body);
        if (text === undefined) {
          this.error('string', 'invalid syntax', start);
          return '';
        }
        return text;
      }
      if (this.eof()) this.error('string', 'Unterminated string literal');
      this.pos = start;
      return FAIL;
    }
    this.pos = start;
    return FAIL;
  }

  // ---- error text --------------------------------------------------------------------------

  /** pigeon's "line:col (offset)": col counts runes and is 0 on a newline; offset is bytes. */
  private position(pos: number): string {
    const upTo = this.src.slice(0, pos) + (this.charAt(pos) ?? ' ');
    const lines = upTo.split('\n');
    const lastLine = lines[lines.length - 1] as string;
    const col = Array.from(lastLine).length;
    const offset = Buffer.byteLength(this.src.slice(0, pos), 'utf8');
    return `${lines.length}:${col} (${offset})`;
  }

  private syntaxError(): FilterError {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const e of this.errors) {
      const line = `${this.position(e.pos)}: rule "${e.rule}": ${e.text}`;
      if (seen.has(line)) continue;
      seen.add(line);
      lines.push(line);
    }
    return new FilterError(FilterErrorCode.SYNTAX, lines.join('\n'));
  }

  private noMatchError(): FilterError {
    const wanted = new Set(this.maxFailExpected);
    const eof = wanted.delete('!.');
    const expected = [...wanted].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (eof) expected.push('EOF');
    const list =
      expected.length <= 1
        ? expected.join('')
        : `${expected.slice(0, -1).join(', ')} or ${expected[expected.length - 1] as string}`;
    return new FilterError(
      FilterErrorCode.SYNTAX,
      `${this.position(this.maxFailPos)}: no match found, expected: ${list}`,
    );
  }
}

/** Parses a go-bexpr expression; throws FilterError with go-bexpr's message on bad input. */
export function parseExpression(text: string): Expr {
  return new Parser(text).parse();
}
