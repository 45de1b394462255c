/**
 * Go `regexp` (RE2 syntax) for the `matches` operator, run in linear time.
 *
 * JavaScript's RegExp backtracks, so a hostile pattern such as `(a+)+$` can take exponential
 * time; RE2 cannot. Rather than translate to RegExp, the pattern is parsed here with RE2's
 * rules and compiled to a Thompson NFA that is simulated over the code points of the value:
 * O(text × program) with the program capped at MAX_REGEX_PROGRAM instructions. Only a boolean
 * "does it match anywhere" is needed, so there are no captures and greediness is irrelevant.
 *
 * Supported, as in Go: literals, `.`, `[...]` classes (ranges, negation, `[:alpha:]` POSIX
 * classes, `\d\s\w` and negations, `\pL`, `\p{Greek}`, `\PL`), `^ $ \A \z \b \B`, groups
 * `(...)`, `(?:...)`, `(?P<n>...)`, `(?<n>...)`, flags `(?imsU)` / `(?i:...)`, repeats
 * `* + ? {n} {n,} {n,m}` (lazy forms too; counts up to 1000), `\Q...\E`, escapes
 * `\a \f \t \n \r \v \x7F \x{10FFFF} \123` and escaped punctuation. Case folding uses
 * JavaScript's simple upper/lower mapping. Errors use Go's texts:
 * "error parsing regexp: <code>: `<fragment>`".
 */
import { MAX_REGEX_NESTING, MAX_REGEX_PROGRAM, MAX_REGEX_REPEAT } from './constants.js';

export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
}

const fail = (code: string, fragment: string): never => {
  throw new RegexSyntaxError(`error parsing regexp: ${code}: \`${fragment}\``);
};

type CharPred = (cp: number) => boolean;

type Node =
  | { readonly t: 'empty' }
  | { readonly t: 'char'; readonly pred: CharPred }
  | { readonly t: 'assert'; readonly kind: AssertKind }
  | { readonly t: 'cat'; readonly items: readonly Node[] }
  | { readonly t: 'alt'; readonly items: readonly Node[] }
  | { readonly t: 'repeat'; readonly node: Node; readonly min: number; readonly max: number };

type AssertKind = 'bot' | 'eot' | 'bol' | 'eol' | 'word' | 'nonword';

interface Flags {
  readonly i: boolean;
  readonly m: boolean;
  readonly s: boolean;
}

const lower = (cp: number): number => String.fromCodePoint(cp).toLowerCase().codePointAt(0) ?? cp;
const upper = (cp: number): number => String.fromCodePoint(cp).toUpperCase().codePointAt(0) ?? cp;

const foldPred =
  (pred: CharPred): CharPred =>
  (cp) =>
    pred(cp) || pred(lower(cp)) || pred(upper(cp));

type Range = readonly [number, number];
const inRanges = (ranges: readonly Range[], cp: number): boolean =>
  ranges.some(([lo, hi]) => cp >= lo && cp <= hi);

const PERL: Readonly<Record<string, readonly Range[]>> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
};

const POSIX: Readonly<Record<string, readonly Range[]>> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: PERL.w as readonly Range[],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

const isWordChar = (cp: number | undefined): boolean =>
  cp !== undefined && inRanges(PERL.w as readonly Range[], cp);

/** `\p{Name}`: Go accepts Unicode general categories and scripts (and "Any"). */
function unicodeClass(name: string, negated: boolean, fragment: string): CharPred {
  let pred: CharPred;
  if (name === 'Any') {
    pred = () => true;
  } else {
    let re: RegExp | undefined;
    if (!/^[A-Za-z_]+$/.test(name)) fail('invalid character class range', fragment);
    try {
      re = /^[A-Z][a-z]?$/.test(name)
        ? new RegExp(`^\\p{${name}}$`, 'u')
        : new RegExp(`^\\p{Script=${name}}$`, 'u');
    } catch {
      fail('invalid character class range', fragment);
    }
    const compiled = re as RegExp;
    pred = (cp) => compiled.test(String.fromCodePoint(cp));
  }
  return negated ? (cp) => !pred(cp) : pred;
}

const isHexDigit = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);

class RegexParser {
  private pos = 0;
  private readonly chars: string[];
  private depth = 0;

  constructor(private readonly src: string) {
    this.chars = Array.from(src);
  }

  parse(): Node {
    const node = this.alternation({ i: false, m: false, s: false });
    if (this.pos < this.chars.length) {
      // Only an unmatched ')' stops the top-level alternation early.
      fail('unexpected )', this.src);
    }
    return node;
  }

  private peek(offset = 0): string | undefined {
    return this.chars[this.pos + offset];
  }

  private rest(from: number): string {
    return this.chars.slice(from).join('');
  }

  private alternation(flags: Flags): Node {
    const branches: Node[] = [];
    let current = flags;
    for (;;) {
      const { node, flags: after } = this.concatenation(current);
      branches.push(node);
      current = after;
      if (this.peek() === '|') {
        this.pos++;
        continue;
      }
      break;
    }
    return branches.length === 1 ? (branches[0] as Node) : { t: 'alt', items: branches };
  }

  /** Parses up to `|`, `)` or the end. Flags set by `(?i)` persist to the end of the group. */
  private concatenation(flags0: Flags): { node: Node; flags: Flags } {
    let flags = flags0;
    const items: Node[] = [];
    let lastAtomStart = -1;
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') break;
      const start = this.pos;
      if (c === '*' || c === '+' || c === '?' || (c === '{' && this.repeatAhead())) {
        const prev = items.pop();
        const opStart = this.pos;
        const { min, max } = this.repeatOp();
        if (prev === undefined || lastAtomStart < 0) {
          fail(
            'missing argument to repetition operator',
            this.chars.slice(opStart, this.pos).join(''),
          );
        }
        const next = this.peek();
        if (next === '*' || next === '+' || next === '?' || (next === '{' && this.repeatAhead())) {
          this.repeatOp();
          fail('invalid nested repetition operator', this.chars.slice(opStart, this.pos).join(''));
        }
        items.push({ t: 'repeat', node: prev as Node, min, max });
        lastAtomStart = -1;
        continue;
      }
      if (c === '(' && this.peek(1) === '?') {
        const setFlags = this.flagGroup(flags);
        if (setFlags !== undefined) {
          flags = setFlags;
          lastAtomStart = -1;
          continue;
        }
      }
      items.push(this.atom(flags));
      lastAtomStart = start;
    }
    const node: Node =
      items.length === 0
        ? { t: 'empty' }
        : items.length === 1
          ? (items[0] as Node)
          : { t: 'cat', items };
    return { node, flags };
  }

  private repeatAhead(): boolean {
    return /^\{[0-9]+(,[0-9]*)?\}/.test(this.rest(this.pos));
  }

  private repeatOp(): { min: number; max: number } {
    const c = this.peek() as string;
    const start = this.pos;
    let min: number;
    let max: number;
    if (c === '{') {
      const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(this.rest(this.pos)) as RegExpExecArray;
      this.pos += Array.from(m[0]).length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
      const frag = this.chars.slice(start, this.pos).join('');
      if (min > MAX_REGEX_REPEAT || max > MAX_REGEX_REPEAT || (max >= 0 && min > max)) {
        fail('invalid repeat count', frag);
      }
    } else {
      this.pos++;
      [min, max] = c === '*' ? [0, -1] : c === '+' ? [1, -1] : [0, 1];
    }
    if (this.peek() === '?') this.pos++; // lazy: same language
    return { min, max };
  }

  /** `(?flags)` returns the new flags; `(?flags:...)`, `(?P<n>...)` return undefined (atom). */
  private flagGroup(flags: Flags): Flags | undefined {
    const rest = this.rest(this.pos);
    const m = /^\(\?([imsU]*)(?:-([imsU]*))?\)/.exec(rest);
    if (m === null) return undefined;
    if (m[0] === '(?)' || m[0].endsWith('-)')) fail('invalid or unsupported Perl syntax', m[0]);
    this.pos += m[0].length;
    return applyFlags(flags, m[1] ?? '', m[2] ?? '');
  }

  private atom(flags: Flags): Node {
    const c = this.peek() as string;
    switch (c) {
      case '(':
        return this.group(flags);
      case '[':
        return { t: 'char', pred: this.charClass(flags) };
      case '.':
        this.pos++;
        return { t: 'char', pred: flags.s ? () => true : (cp) => cp !== 0x0a };
      case '^':
        this.pos++;
        return { t: 'assert', kind: flags.m ? 'bol' : 'bot' };
      case '$':
        this.pos++;
        return { t: 'assert', kind: flags.m ? 'eol' : 'eot' };
      case '\\':
        return this.escapeAtom(flags);
      default: {
        this.pos++;
        return literal(c.codePointAt(0) ?? 0, flags);
      }
    }
  }

  private group(flags: Flags): Node {
    const start = this.pos;
    this.pos++; // (
    let inner = flags;
    if (this.peek() === '?') {
      const rest = this.rest(this.pos);
      const named = /^\?P?<([A-Za-z0-9_]*)>/.exec(rest);
      const flagged = /^\?([imsU]*)(?:-([imsU]*))?:/.exec(rest);
      if (named !== null) {
        if (named[1] === '') fail('invalid named capture', `(${named[0]}`);
        this.pos += named[0].length;
      } else if (flagged !== null) {
        this.pos += flagged[0].length;
        inner = applyFlags(flags, flagged[1] ?? '', flagged[2] ?? '');
      } else if (/^\?P?</.test(rest)) {
        fail('invalid named capture', this.rest(start));
      } else {
        fail('invalid or unsupported Perl syntax', this.chars.slice(start, this.pos + 2).join(''));
      }
    }
    if (++this.depth > MAX_REGEX_NESTING) fail('expression nests too deeply', this.src);
    const node = this.alternation(inner);
    this.depth--;
    if (this.peek() !== ')') fail('missing closing )', this.src);
    this.pos++;
    return node;
  }

  private escapeAtom(flags: Flags): Node {
    const start = this.pos;
    const e = this.peek(1);
    if (e === undefined) fail('trailing backslash at end of expression', '');
    switch (e) {
      case 'A':
        this.pos += 2;
        return { t: 'assert', kind: 'bot' };
      case 'z':
        this.pos += 2;
        return { t: 'assert', kind: 'eot' };
      case 'b':
        this.pos += 2;
        return { t: 'assert', kind: 'word' };
      case 'B':
        this.pos += 2;
        return { t: 'assert', kind: 'nonword' };
      case 'Q': {
        this.pos += 2;
        const items: Node[] = [];
        while (this.pos < this.chars.length) {
          if (this.peek() === '\\' && this.peek(1) === 'E') {
            this.pos += 2;
            break;
          }
          items.push(literal(this.chars[this.pos++]?.codePointAt(0) ?? 0, flags));
        }
        return items.length === 1 ? (items[0] as Node) : { t: 'cat', items };
      }
    }
    const cls = this.classEscape(start);
    if (cls !== undefined) return { t: 'char', pred: flags.i ? foldPred(cls) : cls };
    this.pos = start;
    return literal(this.charEscape(), flags);
  }

  /** `\d \D \s \S \w \W \pX \p{..} \PX \P{..}` at `start`, or undefined. */
  private classEscape(start: number): CharPred | undefined {
    const e = this.chars[start + 1];
    if (e !== undefined && 'dDsSwW'.includes(e)) {
      this.pos = start + 2;
      const ranges = PERL[e.toLowerCase()] as readonly Range[];
      return e === e.toLowerCase() ? (cp) => inRanges(ranges, cp) : (cp) => !inRanges(ranges, cp);
    }
    if (e === 'p' || e === 'P') {
      let name: string;
      if (this.chars[start + 2] === '{') {
        const close = this.chars.indexOf('}', start + 3);
        if (close < 0) fail('invalid character class range', this.rest(start));
        name = this.chars.slice(start + 3, close).join('');
        this.pos = close + 1;
      } else {
        const n = this.chars[start + 2];
        if (n === undefined) fail('invalid character class range', this.rest(start));
        name = n as string;
        this.pos = start + 3;
      }
      let negated = e === 'P';
      if (name.startsWith('^')) {
        negated = !negated;
        name = name.slice(1);
      }
      return unicodeClass(name, negated, this.chars.slice(start, this.pos).join(''));
    }
    return undefined;
  }

  /** A single-character escape at this.pos; returns its code point. */
  private charEscape(): number {
    const start = this.pos;
    this.pos++; // backslash
    const e = this.chars[this.pos++];
    if (e === undefined) return fail('trailing backslash at end of expression', '');
    const bad = (): never =>
      fail('invalid escape sequence', this.chars.slice(start, this.pos).join(''));
    switch (e) {
      case 'a':
        return 7;
      case 'f':
        return 12;
      case 't':
        return 9;
      case 'n':
        return 10;
      case 'r':
        return 13;
      case 'v':
        return 11;
      case 'x': {
        if (this.peek() === '{') {
          const close = this.chars.indexOf('}', this.pos);
          const hex = close < 0 ? '' : this.chars.slice(this.pos + 1, close).join('');
          if (close < 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
            this.pos = close < 0 ? this.chars.length : close + 1;
            return bad();
          }
          this.pos = close + 1;
          const v = parseInt(hex, 16);
          if (v > 0x10ffff) return bad();
          return v;
        }
        const h1 = this.chars[this.pos];
        const h2 = this.chars[this.pos + 1];
        if (!isHexDigit(h1) || !isHexDigit(h2)) {
          this.pos = Math.min(this.pos + 2, this.chars.length);
          return bad();
        }
        this.pos += 2;
        return parseInt(`${h1}${h2}`, 16);
      }
    }
    if (e >= '0' && e <= '7') {
      // RE2: \0 is octal; \1-\7 are octal only when followed by another octal digit
      // (a lone \1 would be a backreference, which RE2 does not support).
      if (e !== '0' && !/^[0-7]$/.test(this.peek() ?? '')) return bad();
      let digits = e;
      while (digits.length < 3 && /^[0-7]$/.test(this.peek() ?? ''))
        digits += this.chars[this.pos++];
      return parseInt(digits, 8);
    }
    const cp = e.codePointAt(0) ?? 0;
    if (cp < 0x80 && !/[0-9A-Za-z]/.test(e)) return cp; // escaped punctuation
    return bad();
  }

  private charClass(flags: Flags): CharPred {
    const start = this.pos;
    this.pos++; // [
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.pos++;
    }
    const preds: CharPred[] = [];
    const ranges: Range[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) fail('missing closing ]', this.rest(start));
      if (c === ']' && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (c === '[' && this.peek(1) === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(this.rest(this.pos));
        if (m !== null) {
          const r = POSIX[m[2] as string];
          if (r === undefined) fail('invalid character class range', m[0]);
          const posix = r as readonly Range[];
          preds.push(m[1] === '^' ? (cp) => !inRanges(posix, cp) : (cp) => inRanges(posix, cp));
          this.pos += m[0].length;
          continue;
        }
      }
      if (c === '\\') {
        const cls = this.classEscape(this.pos);
        if (cls !== undefined) {
          preds.push(cls);
          continue;
        }
      }
      const lo = this.classChar();
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        const rangeStart = this.pos - 1;
        this.pos++;
        const hi = this.classChar();
        if (hi < lo)
          fail('invalid character class range', this.chars.slice(rangeStart, this.pos).join(''));
        ranges.push([lo, hi]);
      } else {
        ranges.push([lo, lo]);
      }
    }
    let pred: CharPred = (cp) => inRanges(ranges, cp) || preds.some((p) => p(cp));
    if (flags.i) pred = foldPred(pred);
    if (negated) {
      const inner = pred;
      pred = (cp) => !inner(cp);
    }
    return pred;
  }

  private classChar(): number {
    const c = this.peek() as string;
    if (c === '\\') return this.charEscape();
    this.pos++;
    return c.codePointAt(0) ?? 0;
  }
}

function applyFlags(flags: Flags, on: string, off: string): Flags {
  const set = (f: 'i' | 'm' | 's', v: boolean): boolean =>
    on.includes(f) ? true : off.includes(f) ? false : v;
  return { i: set('i', flags.i), m: set('m', flags.m), s: set('s', flags.s) };
}

function literal(cp: number, flags: Flags): Node {
  if (!flags.i) return { t: 'char', pred: (x) => x === cp };
  const variants = new Set([cp, lower(cp), upper(cp)]);
  return {
    t: 'char',
    pred: (x) => variants.has(x) || variants.has(lower(x)) || variants.has(upper(x)),
  };
}

// ---- NFA ---------------------------------------------------------------------------------------

type Inst =
  | { op: 'char'; pred: CharPred; next: number }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; next: number }
  | { op: 'assert'; kind: AssertKind; next: number }
  | { op: 'match' };

class Compiler {
  readonly prog: Inst[] = [];

  constructor(private readonly pattern: string) {}

  private emit(inst: Inst): number {
    if (this.prog.length >= MAX_REGEX_PROGRAM) fail('expression too large', this.pattern);
    this.prog.push(inst);
    return this.prog.length - 1;
  }

  /** Emits `node` so that it continues at the returned patch list's targets. */
  compile(node: Node): number[] {
    switch (node.t) {
      case 'empty':
        return [this.emit({ op: 'jmp', next: -1 })];
      case 'char':
        return [this.emit({ op: 'char', pred: node.pred, next: -1 })];
      case 'assert':
        return [this.emit({ op: 'assert', kind: node.kind, next: -1 })];
      case 'cat': {
        let holes: number[] = [];
        for (const item of node.items) {
          const start = this.prog.length;
          const next = this.compile(item);
          this.patch(holes, start);
          holes = next;
        }
        return holes;
      }
      case 'alt': {
        const holes: number[] = [];
        const splits: number[] = [];
        node.items.forEach((item, i) => {
          if (i < node.items.length - 1) {
            const s = this.emit({ op: 'split', x: this.prog.length + 1, y: -1 });
            splits.push(s);
          }
          holes.push(...this.compile(item));
          if (i < node.items.length - 1)
            (this.prog[splits[i] as number] as { y: number }).y = this.prog.length;
        });
        return holes;
      }
      case 'repeat':
        return this.repeat(node.node, node.min, node.max);
    }
  }

  private repeat(node: Node, min: number, max: number): number[] {
    if (max === 0) return [this.emit({ op: 'jmp', next: -1 })];
    let holes: number[] = [];
    for (let i = 0; i < min; i++) {
      const start = this.prog.length;
      const next = this.compile(node);
      this.patch(holes, start);
      holes = next;
    }
    if (max < 0) {
      // x*: L: split(body, out); body → L
      const loop = this.emit({ op: 'split', x: this.prog.length + 1, y: -1 });
      this.patch(holes, loop);
      const body = this.compile(node);
      this.patch(body, loop);
      return [loop];
    }
    const exits: number[] = [];
    for (let i = min; i < max; i++) {
      const s = this.emit({ op: 'split', x: this.prog.length + 1, y: -1 });
      this.patch(holes, s);
      exits.push(s);
      holes = this.compile(node);
    }
    return [...holes, ...exits];
  }

  /** Points every hole (an instruction with an unset target) at `to`. */
  patch(holes: readonly number[], to: number): void {
    for (const h of holes) {
      const inst = this.prog[h] as Inst;
      if (inst.op === 'split') inst.y = to;
      else if (inst.op !== 'match') inst.next = to;
    }
  }
}

/** A compiled Go regular expression: `test` says whether it matches anywhere in the text. */
export interface GoRegexp {
  readonly source: string;
  test(text: string): boolean;
}

/** Compiles RE2 syntax; throws RegexSyntaxError with Go's message on invalid patterns. */
export function compileGoRegexp(pattern: string): GoRegexp {
  const ast = new RegexParser(pattern).parse();
  const compiler = new Compiler(pattern);
  const holes = compiler.compile(ast);
  const matchPc = compiler.prog.length;
  compiler.prog.push({ op: 'match' });
  compiler.patch(holes, matchPc);
  const prog = compiler.prog;
  return { source: pattern, test: (text) => run(prog, text) };
}

function assertHolds(
  kind: AssertKind,
  prev: number | undefined,
  next: number | undefined,
): boolean {
  switch (kind) {
    case 'bot':
      return prev === undefined;
    case 'eot':
      return next === undefined;
    case 'bol':
      return prev === undefined || prev === 0x0a;
    case 'eol':
      return next === undefined || next === 0x0a;
    case 'word':
      return isWordChar(prev) !== isWordChar(next);
    case 'nonword':
      return isWordChar(prev) === isWordChar(next);
  }
}

/** Thompson simulation: unanchored search, one pass over the code points. */
function run(prog: readonly Inst[], text: string): boolean {
  const cps = Array.from(text, (c) => c.codePointAt(0) ?? 0);
  const mark = new Int32Array(prog.length).fill(-1);
  let current: number[] = [];
  let next: number[] = [];
  const stack: number[] = [];

  /** Adds pc and everything reachable by empty moves at position i to list. */
  const add = (list: number[], pc0: number, i: number, gen: number): boolean => {
    stack.push(pc0);
    const prev = i > 0 ? cps[i - 1] : undefined;
    const cur = cps[i];
    while (stack.length > 0) {
      const pc = stack.pop() as number;
      if (mark[pc] === gen) continue;
      mark[pc] = gen;
      const inst = prog[pc] as Inst;
      switch (inst.op) {
        case 'jmp':
          stack.push(inst.next);
          break;
        case 'split':
          stack.push(inst.y, inst.x);
          break;
        case 'assert':
          if (assertHolds(inst.kind, prev, cur)) stack.push(inst.next);
          break;
        case 'match':
          stack.length = 0;
          return true;
        case 'char':
          list.push(pc);
          break;
      }
    }
    return false;
  };

  for (let i = 0; i <= cps.length; i++) {
    const gen = i;
    // Threads carried over from the previous step were already marked for generation i.
    if (add(current, 0, i, gen)) return true;
    if (i === cps.length) break;
    const cp = cps[i] as number;
    next = [];
    for (const pc of current) {
      const inst = prog[pc] as Extract<Inst, { op: 'char' }>;
      if (inst.pred(cp) && add(next, inst.next, i + 1, gen + 1)) return true;
    }
    current = next;
  }
  return false;
}
