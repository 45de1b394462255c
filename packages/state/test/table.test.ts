import test from 'ava';
import { Prng } from '@trellis/testkit';
import { Journal, Table, channel, compare } from '../src/index.js';

interface Row {
  readonly k: string;
  readonly tag: string;
  readonly v: number;
}

const newTable = (): Table<Row> =>
  new Table<Row>('t', (r) => r.k, [{ name: 'tag', keys: (r) => (r.tag === '' ? [] : [r.tag]) }]);

function randomKey(rng: Prng): string {
  const parts = 1 + rng.int(3);
  return Array.from({ length: parts }, () => rng.pick(['a', 'b', 'ab', 'c', 'zz', '0'])).join('/');
}

test('random inserts, replaces and deletes (thousands of rows) agree with a sorted reference', (t) => {
  const rng = new Prng('table-model');
  const table = newTable();
  const model = new Map<string, Row>();
  const j = new Journal();
  for (let step = 0; step < 40_000; step++) {
    const k = `${randomKey(rng)}#${rng.int(2000)}`;
    if (rng.chance(0.3)) {
      table.remove(k, j);
      model.delete(k);
    } else {
      const row = { k, tag: rng.pick(['', 'x', 'y']), v: step };
      table.put(row, j);
      model.set(k, row);
    }
  }
  // Empty whole runs of chunks too.
  for (const k of [...model.keys()]) {
    if (k.startsWith('a/') || k.startsWith('c')) {
      table.remove(k, j);
      model.delete(k);
    }
  }
  const sorted = [...model.keys()].sort(compare);
  t.true(sorted.length > 5000);
  t.deepEqual(
    table.all().map((r) => r.k),
    sorted,
  );
  for (const p of ['', 'a', 'a/', 'ab', 'b/c', 'zz/0/a', '0', 'q', 'zz/zz/zz#1']) {
    t.deepEqual(
      table.withPrefix(p).map((r) => r.k),
      sorted.filter((k) => k.startsWith(p)),
      `prefix ${JSON.stringify(p)}`,
    );
  }
  for (const tag of ['x', 'y']) {
    t.deepEqual(
      table.lookup('tag', tag).map((r) => r.k),
      sorted.filter((k) => model.get(k)?.tag === tag),
    );
  }
  t.is(table.size, model.size);
});

test('rollback undoes puts, removes and max-index bumps exactly, newest first', (t) => {
  const table = newTable();
  const setup = new Journal();
  table.put({ k: 'a', tag: 'x', v: 1 }, setup);
  table.put({ k: 'b', tag: 'y', v: 1 }, setup);
  table.bump(5, setup);
  const j = new Journal();
  table.put({ k: 'a', tag: 'y', v: 2 }, j);
  table.remove('b', j);
  table.put({ k: 'c', tag: 'x', v: 2 }, j);
  table.remove('c', j);
  table.bump(9, j);
  t.deepEqual(
    table.lookup('tag', 'y').map((r) => r.k),
    ['a'],
  );
  t.true(j.touched.has(channel.row('t', 'b')));
  t.true(j.touched.has(channel.index('t', 'tag', 'x')));
  j.rollback();
  t.deepEqual(table.all(), [
    { k: 'a', tag: 'x', v: 1 },
    { k: 'b', tag: 'y', v: 1 },
  ]);
  t.deepEqual(
    table.lookup('tag', 'x').map((r) => r.k),
    ['a'],
  );
  t.false(table.has('tag', 'zzz'));
  t.is(table.maxIndex, 5);
  t.is(j.touched.size, 0);
});

test('the max index only rises', (t) => {
  const table = newTable();
  const j = new Journal();
  table.bump(7, j);
  table.bump(3, j);
  t.is(table.maxIndex, 7);
});
