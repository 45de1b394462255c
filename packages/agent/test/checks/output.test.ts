import test from 'ava';
import {
  DEFAULT_OUTPUT_MAX,
  OutputTail,
  formatGoDuration,
  outputMax,
  truncateOutput,
  utf8Prefix,
} from '../../src/checks/output.js';

test('the default output limit is Consul’s DefaultBufSize (4 KiB), used for OutputMaxSize < 1', (t) => {
  t.is(DEFAULT_OUTPUT_MAX, 4096);
  t.is(outputMax(0), 4096);
  t.is(outputMax(-5), 4096);
  t.is(outputMax(Number.NaN), 4096);
  t.is(outputMax(32), 32);
});

test('TTL truncation keeps the first bytes and says how many were captured (CheckTTL.SetStatus)', (t) => {
  t.is(truncateOutput('short', 10), 'short');
  t.is(truncateOutput('x'.repeat(10), 10), 'x'.repeat(10), 'exactly at the limit is kept whole');
  t.is(truncateOutput('abcdefghijkl', 4), 'abcd ... (captured 4 of 12 bytes)');
  t.is(
    truncateOutput('y'.repeat(5000), 0),
    `${'y'.repeat(4096)} ... (captured 4096 of 5000 bytes)`,
  );
});

test('truncation counts UTF-8 bytes and never splits a character', (t) => {
  // "é" is two bytes: a 3-byte limit keeps one "é" and drops the half of the second.
  t.is(truncateOutput('ééé', 3), 'é ... (captured 2 of 6 bytes)');
  t.is(utf8Prefix(Buffer.from('€€'), 4).toString(), '€', '€ is three bytes');
  t.is(utf8Prefix(Buffer.from('😀'), 3).length, 0, 'a four-byte character either fits or goes');
  t.is(utf8Prefix(Buffer.from('abc'), 10).toString(), 'abc');
});

test('the script output buffer keeps the last bytes and notes the cut (circbuf, CheckMonitor)', (t) => {
  const tail = new OutputTail(8);
  tail.write(Buffer.from('hello'));
  t.is(tail.text(), 'hello');
  tail.write(Buffer.from(' world'));
  t.is(tail.total, 11);
  t.is(tail.bytes().toString(), 'lo world');
  t.is(tail.text(), 'Captured 8 of 11 bytes\n...\nlo world');
  tail.write(Buffer.from('0123456789abcdef'));
  t.is(tail.bytes().toString(), '89abcdef', 'a write larger than the buffer keeps its own tail');
  t.is(tail.total, 27);
  const exact = new OutputTail(4);
  exact.write(Buffer.from('ab'));
  exact.write(Buffer.from('cd'));
  t.is(exact.text(), 'abcd', 'filling the buffer exactly drops nothing');
  exact.write(Buffer.from('e'));
  t.is(exact.text(), 'Captured 4 of 5 bytes\n...\nbcde');
});

test('the kept tail starts at a character boundary', (t) => {
  const tail = new OutputTail(4);
  tail.write(Buffer.from('aé€')); // 1 + 2 + 3 bytes: the last 4 start inside "é"
  t.is(tail.text(), 'Captured 3 of 6 bytes\n...\n€');
});

test('durations print as Go’s time.Duration.String()', (t) => {
  const cases: [number, string][] = [
    [0, '0s'],
    [0.0005, '500ns'],
    [0.0015, '1.5µs'],
    [1, '1ms'],
    [25, '25ms'],
    [1.5, '1.5ms'],
    [500, '500ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [30_000, '30s'],
    [60_000, '1m0s'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
    [3_723_500, '1h2m3.5s'],
    [-1500, '-1.5s'],
  ];
  for (const [ms, want] of cases) t.is(formatGoDuration(ms), want, `${ms} ms`);
});
