import test from 'ava';
import { Trace } from '../src/index.js';

test('identical events give identical hashes; any difference changes the hash', (t) => {
  const a = new Trace();
  const b = new Trace();
  const c = new Trace();
  for (const tr of [a, b, c]) {
    tr.record(0, 'send', '1->2 ping');
    tr.record(1.5, 'deliver', '1->2 ping');
  }
  c.record(2, 'drop', 'partition');
  t.is(a.hash(), b.hash());
  t.not(a.hash(), c.hash());
  t.is(a.length, 2);
});

test('hash can be read mid-run and the trace keeps growing', (t) => {
  const tr = new Trace();
  tr.record(0, 'x');
  const h1 = tr.hash();
  t.is(tr.hash(), h1);
  tr.record(1, 'y');
  t.not(tr.hash(), h1);
});

test('the tail keeps only the most recent lines, formatted with virtual time', (t) => {
  const tr = new Trace({ keep: 3 });
  for (let i = 0; i < 10; i++) tr.record(i, 'event', `n=${i}`);
  t.deepEqual(tr.tail(), ['7.000 event n=7', '8.000 event n=8', '9.000 event n=9']);
  t.deepEqual(tr.tail(1), ['9.000 event n=9']);
});

test('a sink receives every line (used when replaying a seed)', (t) => {
  const lines: string[] = [];
  const tr = new Trace({ keep: 0, sink: (l) => lines.push(l) });
  tr.record(0.25, 'crash', 'n3');
  tr.record(1, 'restart');
  t.deepEqual(lines, ['0.250 crash n3', '1.000 restart']);
  t.deepEqual(tr.tail(), []);
});
