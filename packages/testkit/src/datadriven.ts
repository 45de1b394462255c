/**
 * Data-driven tests: text scripts of commands, each followed by its expected output, in
 * the format of cockroachdb/datadriven (used by etcd-io/raft's interaction tests):
 *
 *     # a comment
 *     campaign 1
 *     ----
 *     1 became candidate at term 1
 *
 *     deliver-msgs 2 3 drop=(1)
 *     optional input lines
 *     ----
 *     ----
 *     output that contains
 *
 *     blank lines
 *     ----
 *     ----
 *
 * A command line is a name then arguments `key`, `key=value` or `key=(v1, v2)`. Lines
 * between the command and `----` are its input. The output ends at the first blank line,
 * or, after a doubled `----`, at the next doubled `----`.
 *
 * Set TRELLIS_REWRITE=1 (or pass `rewrite: true`) to regenerate the expected outputs from
 * what the handler returns: the file is rewritten in place, comments and inputs kept.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface CmdArg {
  readonly key: string;
  /** Empty for a bare `key`, one value for `key=v`, several for `key=(a, b)`. */
  readonly vals: readonly string[];
}

export interface TestCase {
  readonly file: string;
  /** 1-based line of the command. */
  readonly line: number;
  readonly cmd: string;
  readonly args: readonly CmdArg[];
  /** Input lines joined with '\n' (no trailing newline); '' when none. */
  readonly input: string;
  /** Expected output as written in the file (no trailing newline). */
  readonly expected: string;
}

export interface Mismatch {
  readonly file: string;
  readonly line: number;
  readonly command: string;
  readonly expected: string;
  readonly actual: string;
}

export interface DataDrivenResult {
  readonly cases: number;
  readonly mismatches: readonly Mismatch[];
  readonly rewritten: boolean;
}

export class DataDrivenSyntaxError extends Error {
  readonly code = 'ERR_DATADRIVEN_SYNTAX';
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'DataDrivenSyntaxError';
  }
}

/** Looks up an argument; throws a readable error naming the case when it is missing. */
export function arg(tc: TestCase, key: string): CmdArg {
  const a = tc.args.find((x) => x.key === key);
  if (a === undefined) throw new Error(`${tc.file}:${tc.line}: ${tc.cmd}: missing argument ${key}`);
  return a;
}

/** The single value of `key=value`, or `fallback` when the argument is absent. */
export function argValue(tc: TestCase, key: string, fallback?: string): string {
  const a = tc.args.find((x) => x.key === key);
  if (a === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`${tc.file}:${tc.line}: ${tc.cmd}: missing argument ${key}=…`);
  }
  if (a.vals.length !== 1) {
    throw new Error(`${tc.file}:${tc.line}: ${tc.cmd}: ${key} takes exactly one value`);
  }
  return a.vals[0]!;
}

/** Bare arguments (no `=`), in order: e.g. the node ids in `deliver-msgs 2 3`. */
export function positional(tc: TestCase): string[] {
  return tc.args.filter((a) => a.vals.length === 0).map((a) => a.key);
}

interface Parsed {
  tc: TestCase;
  /** Index just past the expected-output block, closing separators included. */
  outEnd: number;
}

const SEP = '----';

export function parseArgs(text: string, file = '<args>', line = 0): CmdArg[] {
  const args: CmdArg[] = [];
  let i = 0;
  const n = text.length;
  const fail = (why: string): never => {
    throw new DataDrivenSyntaxError(file, line, `${why} in "${text}"`);
  };
  while (i < n) {
    while (i < n && text[i] === ' ') i++;
    if (i >= n) break;
    let j = i;
    while (j < n && text[j] !== ' ' && text[j] !== '=') j++;
    const key = text.slice(i, j);
    if (key === '') fail('empty argument name');
    if (text[j] !== '=') {
      args.push({ key, vals: [] });
      i = j;
      continue;
    }
    j++;
    if (text[j] === '(') {
      const close = text.indexOf(')', j);
      if (close < 0) fail(`unclosed "(" after ${key}=`);
      const inner = text.slice(j + 1, close).trim();
      args.push({ key, vals: inner === '' ? [] : inner.split(',').map((v) => v.trim()) });
      i = close + 1;
    } else {
      let k = j;
      while (k < n && text[k] !== ' ') k++;
      args.push({ key, vals: [text.slice(j, k)] });
      i = k;
    }
  }
  return args;
}

function parse(file: string, lines: string[]): Parsed[] {
  const out: Parsed[] = [];
  let i = 0;
  while (i < lines.length) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i++;
      continue;
    }
    const cmdLine = i;
    const [cmd, ...rest] = trimmed.split(' ');
    const args = parseArgs(rest.join(' '), file, cmdLine + 1);
    i++;
    const input: string[] = [];
    while (i < lines.length && lines[i] !== SEP) {
      input.push(lines[i]!);
      i++;
    }
    if (i >= lines.length) {
      throw new DataDrivenSyntaxError(
        file,
        cmdLine + 1,
        `command "${cmd}" has no "${SEP}" separator`,
      );
    }
    i++; // past ----
    const expected: string[] = [];
    let outEnd: number;
    if (lines[i] === SEP) {
      // Doubled separator: output runs to the next "----\n----".
      i++;
      while (i < lines.length && !(lines[i] === SEP && lines[i + 1] === SEP)) {
        expected.push(lines[i]!);
        i++;
      }
      if (i >= lines.length) {
        throw new DataDrivenSyntaxError(
          file,
          cmdLine + 1,
          'unterminated "----\\n----" output block',
        );
      }
      i += 2;
      outEnd = i;
    } else {
      while (i < lines.length && lines[i]!.trim() !== '') {
        expected.push(lines[i]!);
        i++;
      }
      outEnd = i;
    }
    out.push({
      tc: {
        file,
        line: cmdLine + 1,
        cmd: cmd!,
        args,
        input: input.join('\n'),
        expected: expected.join('\n'),
      },
      outEnd,
    });
  }
  return out;
}

function formatOutput(actual: string): string[] {
  const body = actual.replace(/\n+$/, '');
  if (body.split('\n').some((l) => l.trim() === '') && body !== '') {
    return [SEP, ...body.split('\n'), SEP, SEP];
  }
  return body === '' ? [] : body.split('\n');
}

export interface DataDrivenOptions {
  /** Regenerate expected outputs. Defaults to the TRELLIS_REWRITE environment variable. */
  rewrite?: boolean;
}

/**
 * Runs every case of a script through `handler` (which returns the actual output). In
 * rewrite mode the file is rewritten with the actual outputs; otherwise mismatches are
 * returned for the caller's assertion. Cases run in order and share the handler's state.
 */
export function runDataDriven(
  path: string,
  handler: (tc: TestCase) => string,
  options: DataDrivenOptions = {},
): DataDrivenResult {
  const rewrite = options.rewrite ?? ['1', 'true'].includes(process.env['TRELLIS_REWRITE'] ?? '');
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const cases = parse(path, lines);
  const mismatches: Mismatch[] = [];
  const rebuilt: string[] = [];
  let cursor = 0;
  for (const c of cases) {
    const actual = handler(c.tc).replace(/\n+$/, '');
    if (rewrite) {
      // Keep everything up to and including the single separator line, replace the output.
      const sepLine = lines.indexOf(SEP, c.tc.line - 1);
      rebuilt.push(...lines.slice(cursor, sepLine));
      rebuilt.push(SEP, ...formatOutput(actual));
      cursor = c.outEnd;
    } else if (actual !== c.tc.expected) {
      mismatches.push({
        file: c.tc.file,
        line: c.tc.line,
        command: lines[c.tc.line - 1]!.trim(),
        expected: c.tc.expected,
        actual,
      });
    }
  }
  if (rewrite) {
    rebuilt.push(...lines.slice(cursor));
    writeFileSync(path, rebuilt.join('\n') + '\n');
  }
  return { cases: cases.length, mismatches, rewritten: rewrite };
}

/** A readable report of mismatches, for an assertion message. */
export function formatMismatches(mismatches: readonly Mismatch[]): string {
  return mismatches
    .map(
      (m) =>
        `${m.file}:${m.line}: ${m.command}\n--- expected\n${m.expected}\n--- actual\n${m.actual}\n` +
        '(run with TRELLIS_REWRITE=1 to accept the actual output)',
    )
    .join('\n\n');
}
