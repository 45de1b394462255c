import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataDrivenSyntaxError,
  argValue,
  formatMismatches,
  parseArgs,
  positional,
  runDataDriven,
  type TestCase,
} from '../src/index.js';

const made: string[] = [];
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dd-'));
  made.push(d);
  return d;
}

const fixture = new URL('../../testdata/datadriven-calc.txt', import.meta.url).pathname;

/** A tiny stateful interpreter: what a Raft or SWIM harness looks like, minus the protocol. */
function calculator() {
  const stack: number[] = [];
  return (tc: TestCase): string => {
    switch (tc.cmd) {
      case 'push':
        for (const p of positional(tc)) stack.push(Number(p));
        for (const line of tc.input.split('\n').filter((l) => l !== '')) stack.push(Number(line));
        return `stack: ${stack.join(' ')}`;
      case 'sum': {
        const scale = Number(argValue(tc, 'scale', '1'));
        return String(stack.reduce((a, b) => a + b, 0) * scale);
      }
      case 'dump':
        return stack.map((v, i) => `${i}: ${v}`).join('\n\n');
      default:
        return `unknown command ${tc.cmd}`;
    }
  };
}

test('a script whose outputs match passes, sharing state between cases in order', (t) => {
  const r = runDataDriven(fixture, calculator(), { rewrite: false });
  t.is(r.cases, 4);
  t.deepEqual(r.mismatches, [], formatMismatches(r.mismatches));
});

test('a differing output is reported with file, line, command, expected and actual', (t) => {
  const dir = tempDir();
  const path = join(dir, 'x.txt');
  writeFileSync(path, 'push 1 2\n----\nstack: 1 2\n\nsum scale=10\n----\n3\n');
  const r = runDataDriven(path, calculator(), { rewrite: false });
  t.is(r.mismatches.length, 1);
  const m = r.mismatches[0]!;
  t.is(m.line, 5);
  t.is(m.command, 'sum scale=10');
  t.is(m.expected, '3');
  t.is(m.actual, '30');
  t.regex(formatMismatches(r.mismatches), /x\.txt:5: sum scale=10/);
});

test('rewrite mode regenerates outputs and keeps comments, inputs and blank-line blocks', (t) => {
  const dir = tempDir();
  const path = join(dir, 'x.txt');
  writeFileSync(
    path,
    '# header comment\npush\n4\n5\n----\nwrong\n\n# between\ndump\n----\n----\nstale\n\nstale\n----\n----\n\nsum\n----\n0\n',
  );
  const r = runDataDriven(path, calculator(), { rewrite: true });
  t.true(r.rewritten);
  t.is(
    readFileSync(path, 'utf8'),
    '# header comment\npush\n4\n5\n----\nstack: 4 5\n\n# between\ndump\n----\n----\n0: 4\n\n1: 5\n----\n----\n\nsum\n----\n9\n',
  );
  // The rewritten file now passes as written.
  t.deepEqual(runDataDriven(path, calculator(), { rewrite: false }).mismatches, []);
});

test('arguments: bare, key=value and key=(list)', (t) => {
  t.deepEqual(parseArgs('1 2 drop=(3, 4) term=5 verbose'), [
    { key: '1', vals: [] },
    { key: '2', vals: [] },
    { key: 'drop', vals: ['3', '4'] },
    { key: 'term', vals: ['5'] },
    { key: 'verbose', vals: [] },
  ]);
  t.deepEqual(parseArgs('empty=()'), [{ key: 'empty', vals: [] }]);
});

test('syntax errors name the file and line', (t) => {
  const dir = tempDir();
  const noSep = join(dir, 'a.txt');
  writeFileSync(noSep, '# ok\n\npush 1\n2\n');
  const e1 = t.throws(() => runDataDriven(noSep, calculator(), { rewrite: false }), {
    instanceOf: DataDrivenSyntaxError,
  });
  t.regex(e1.message, /a\.txt:3: command "push" has no "----" separator/);
  const unterminated = join(dir, 'b.txt');
  writeFileSync(unterminated, 'dump\n----\n----\nnever closed\n');
  t.throws(() => runDataDriven(unterminated, calculator(), { rewrite: false }), {
    instanceOf: DataDrivenSyntaxError,
    message: /unterminated/,
  });
  t.throws(() => parseArgs('k=(1, 2'), { instanceOf: DataDrivenSyntaxError, message: /unclosed/ });
});
