import test from 'ava';
import { DiskError, Prng, SimDisk, Trace, VirtualClock, type CrashOptions } from '../src/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);
const text = (b: Uint8Array) => dec.decode(b);

function disk(seed: number | string = 1, trace?: Trace): SimDisk {
  return new SimDisk({
    rng: Prng.derive(seed, 'disk'),
    name: 'n1',
    clock: new VirtualClock(),
    ...(trace === undefined ? {} : { trace }),
  });
}

/** A file whose name is already durable. */
function durableFile(d: SimDisk, path: string, dir: string): void {
  d.create(path);
  d.fsyncDir(dir);
}

test('unsynced writes are visible to reads and lost on crash', (t) => {
  const d = disk();
  durableFile(d, 'data/wal', 'data');
  d.append('data/wal', bytes('hello'));
  t.is(text(d.read('data/wal')), 'hello');
  t.is(d.unsyncedBytes('data/wal'), 5);
  d.crash();
  t.true(d.exists('data/wal'));
  t.is(d.size('data/wal'), 0);
});

test('fsynced writes survive a crash; writes after the fsync do not', (t) => {
  const d = disk();
  durableFile(d, 'data/wal', 'data');
  d.append('data/wal', bytes('one;'));
  d.append('data/wal', bytes('two;'));
  d.fsync('data/wal');
  d.append('data/wal', bytes('three;'));
  d.write('data/wal', 0, bytes('ONE'));
  d.crash();
  t.is(text(d.read('data/wal')), 'one;two;');
  t.is(d.unsyncedBytes('data/wal'), 0);
});

test('a new file fsynced without fsyncDir of its directory vanishes on crash', (t) => {
  const d = disk();
  d.create('data/log-1');
  d.append('data/log-1', bytes('x'));
  d.fsync('data/log-1');
  const report = d.crash();
  t.false(d.exists('data/log-1'));
  t.deepEqual(report.lostPaths, ['data/log-1']);
});

test('a new file survives with its synced contents once its directory is fsynced too', (t) => {
  const d = disk();
  d.create('data/log-1');
  d.append('data/log-1', bytes('x'));
  d.fsync('data/log-1');
  d.fsyncDir('data/');
  d.crash();
  t.is(text(d.read('data/log-1')), 'x');
});

test('a file whose name is durable but whose data was never fsynced survives empty', (t) => {
  const d = disk();
  d.writeFile('snap/meta', bytes('term=3'));
  d.fsyncDir('snap');
  d.crash();
  t.true(d.exists('snap/meta'));
  t.is(d.size('snap/meta'), 0);
});

/** The atomic-replace recipe, optionally without its final directory fsync. */
function replaceSnapshot(d: SimDisk, content: string, syncDir: boolean): void {
  d.writeFile('snap/current.tmp', bytes(content));
  d.fsync('snap/current.tmp');
  d.rename('snap/current.tmp', 'snap/current');
  if (syncDir) d.fsyncDir('snap');
}

test('a rename without fsyncDir is lost on crash: the old file is back under its name', (t) => {
  const d = disk();
  replaceSnapshot(d, 'v1', true);
  replaceSnapshot(d, 'v2', false);
  t.is(text(d.read('snap/current')), 'v2');
  const report = d.crash();
  t.is(text(d.read('snap/current')), 'v1');
  t.false(d.exists('snap/current.tmp'));
  t.deepEqual(report.lostPaths, []);
  t.deepEqual(report.revivedPaths, []);
});

test('a rename followed by fsyncDir survives a crash (temp file + fsync + rename + dir fsync)', (t) => {
  const d = disk();
  replaceSnapshot(d, 'v1', true);
  replaceSnapshot(d, 'v2', true);
  d.crash();
  t.is(text(d.read('snap/current')), 'v2');
  t.deepEqual(d.list('snap'), ['current']);
});

test('an unlink without fsyncDir is undone by a crash', (t) => {
  const d = disk();
  durableFile(d, 'data/old', 'data');
  d.append('data/old', bytes('kept'));
  d.fsync('data/old');
  d.unlink('data/old');
  t.false(d.exists('data/old'));
  const report = d.crash();
  t.deepEqual(report.revivedPaths, ['data/old']);
  t.is(text(d.read('data/old')), 'kept');
  d.unlink('data/old');
  d.fsyncDir('data');
  d.crash();
  t.false(d.exists('data/old'));
});

test('a rename across directories is durable only once both directories are fsynced', (t) => {
  const d = disk();
  durableFile(d, 'in/f', 'in');
  d.rename('in/f', 'out/f');
  d.fsyncDir('out');
  d.crash();
  t.deepEqual(d.paths(), ['in/f', 'out/f'], 'synced only the destination: both names remain');
  d.rename('in/f', 'out/g');
  d.fsyncDir('in');
  d.crash();
  t.deepEqual(
    d.paths(),
    ['out/f'],
    'synced only the source: the file survives under its synced name',
  );
});

test('a torn last write keeps a strict prefix of the write in progress and all synced data', (t) => {
  const record = 'rec-0123456789';
  const seen = new Set<number>();
  for (let seed = 0; seed < 30; seed++) {
    const d = disk(seed);
    durableFile(d, 'wal', '.');
    d.append('wal', bytes('synced;'));
    d.fsync('wal');
    d.append('wal', bytes(record));
    const report = d.crash({ tearLastWrite: true });
    const kept = text(d.read('wal'));
    t.true(kept.startsWith('synced;'));
    const tail = kept.slice('synced;'.length);
    t.true(tail.length >= 1 && tail.length < record.length, tail);
    t.true(record.startsWith(tail));
    t.deepEqual(report.torn, [
      { path: 'wal', offset: 7, keptBytes: tail.length, ofBytes: record.length },
    ]);
    seen.add(tail.length);
  }
  t.true(seen.size > 3, 'the tear point varies with the seed');
});

test('keepSomeUnsynced keeps a prefix of the unsynced writes, in order, varying with the seed', (t) => {
  const records = ['a;', 'b;', 'c;', 'd;'];
  const outcomes = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const d = disk(seed);
    durableFile(d, 'wal', '.');
    for (const r of records) d.append('wal', bytes(r));
    d.crash({ keepSomeUnsynced: true });
    const kept = text(d.read('wal'));
    t.true('a;b;c;d;'.startsWith(kept), kept);
    outcomes.add(kept);
  }
  t.deepEqual([...outcomes].sort(), ['', 'a;', 'a;b;', 'a;b;c;', 'a;b;c;d;']);
});

test('keepSomeUnsynced can persist an unsynced rename, or not', (t) => {
  const outcomes = new Set<string>();
  for (let seed = 0; seed < 20; seed++) {
    const d = disk(seed);
    replaceSnapshot(d, 'v1', true);
    replaceSnapshot(d, 'v2', false);
    d.crash({ keepSomeUnsynced: true });
    outcomes.add(text(d.read('snap/current')));
  }
  t.deepEqual([...outcomes].sort(), ['v1', 'v2']);
});

test('corruption flips exactly one byte of durable data', (t) => {
  const original = bytes('the quick brown fox jumps over the lazy dog');
  for (let seed = 0; seed < 20; seed++) {
    const d = disk(seed);
    durableFile(d, 'wal', '.');
    d.append('wal', original);
    d.fsync('wal');
    const report = d.crash({ corrupt: { path: 'wal' } });
    const after = d.read('wal');
    t.is(after.length, original.length);
    const diffs = [...after.keys()].filter((i) => after[i] !== original[i]);
    t.is(diffs.length, 1);
    const c = report.corrupted!;
    t.deepEqual(diffs, [c.offset]);
    t.is(c.path, 'wal');
    t.is((after[c.offset]! ^ original[c.offset]!) & 0xff, c.mask);
  }
});

test('corruption picks a non-empty file when no path is given, and honours its probability', (t) => {
  const d = disk(3);
  durableFile(d, 'empty', '.');
  durableFile(d, 'full', '.');
  d.append('full', bytes('data'));
  d.fsync('full');
  t.is(d.crash({ corrupt: true }).corrupted?.path, 'full');
  t.is(d.crash({ corrupt: { probability: 0 } }).corrupted, undefined);
  t.is(d.crash({ corrupt: { path: 'missing' } }).corrupted, undefined);
});

/** A crash-heavy scenario; returns everything observable about its outcome. */
function scenario(seed: number) {
  const trace = new Trace();
  const d = disk(seed, trace);
  const options: CrashOptions = { keepSomeUnsynced: true, tearLastWrite: true, corrupt: true };
  const reports = [];
  for (let round = 0; round < 5; round++) {
    d.open('log/wal');
    d.fsyncDir('log');
    for (let i = 0; i < 6; i++) {
      d.append('log/wal', bytes(`round ${round} record ${i};`));
      if (i % 3 === 2) d.fsync('log/wal');
    }
    replaceSnapshot(d, `snapshot ${round}`, round % 2 === 0);
    d.append('log/wal', bytes('trailing record'));
    reports.push(d.crash(options));
  }
  return { hash: trace.hash(), reports, wal: text(d.read('log/wal')), paths: d.paths() };
}

test('crash outcomes are a function of the seed: same seed, same result; other seeds differ', (t) => {
  t.deepEqual(scenario(42), scenario(42));
  const hashes = new Set([1, 2, 3, 4, 5].map((s) => scenario(s).hash));
  t.true(hashes.size > 1);
});

test('stats count fsyncs per call and per path, bytes written, read and synced', (t) => {
  const d = disk();
  durableFile(d, 'wal', '.');
  for (let batch = 0; batch < 3; batch++) {
    d.append('wal', bytes('abc'));
    d.append('wal', bytes('de'));
    d.fsync('wal');
  }
  d.readAt('wal', 10, 100);
  const s = d.stats();
  t.is(s.fsyncs, 3);
  t.deepEqual(s.fsyncsByPath, { wal: 3 });
  t.is(s.dirFsyncs, 1);
  t.is(s.writes, 6);
  t.is(s.bytesWritten, 15);
  t.is(s.bytesSynced, 15);
  t.is(s.reads, 1);
  t.is(s.bytesRead, 5);
  d.crash();
  t.is(d.stats().crashes, 1);
  d.resetStats();
  t.is(d.stats().fsyncs, 0);
});

test('missing files give ENOENT and an existing name gives EEXIST, with syscall and path', (t) => {
  const d = disk();
  for (const call of [
    () => d.read('nope'),
    () => d.append('nope', bytes('x')),
    () => d.write('nope', 0, bytes('x')),
    () => d.size('nope'),
    () => d.truncate('nope', 0),
    () => d.fsync('nope'),
    () => d.rename('nope', 'other'),
    () => d.unlink('nope'),
  ]) {
    const err = t.throws(call, { instanceOf: DiskError });
    t.is(err?.code, 'ENOENT');
    t.is(err?.path, 'nope');
  }
  d.create('f');
  const err = t.throws(() => d.create('./f'), { instanceOf: DiskError });
  t.is(err?.code, 'EEXIST');
  t.is(err?.syscall, 'open');
  t.is(t.throws(() => d.readAt('f', -1, 1), { instanceOf: DiskError })?.code, 'EINVAL');
});

test('an injected fsync failure throws EIO, and the writes it covered never become durable (fsyncgate)', (t) => {
  const trace = new Trace();
  const d = disk(1, trace);
  durableFile(d, 'wal', '.');
  d.append('wal', bytes('lost'));
  d.failNextFsync('wal');
  const err = t.throws(() => d.fsync('wal'), { instanceOf: DiskError });
  t.is(err?.code, 'EIO');
  t.is(err?.syscall, 'fsync');
  t.is(text(d.read('wal')), 'lost', 'the page cache still shows the data');
  d.fsync('wal'); // a retry reports success...
  d.crash();
  t.is(d.size('wal'), 0, '...without persisting it');
  t.is(d.stats().fsyncFailures, 1);
  t.true(trace.tail().includes('0.000 disk.eio n1 fsync wal'));
});

test('an injected write failure throws EIO and writes nothing; it applies once', (t) => {
  const d = disk();
  d.create('wal');
  d.failNextWrite();
  t.is(t.throws(() => d.append('wal', bytes('x')), { instanceOf: DiskError })?.code, 'EIO');
  t.is(d.size('wal'), 0);
  d.append('wal', bytes('y'));
  t.is(text(d.read('wal')), 'y');
});

test('random I/O error rates fail about that fraction of calls, reproducibly', (t) => {
  const failures = (seed: number) => {
    const d = new SimDisk({ rng: Prng.derive(seed, 'disk'), errorRates: { write: 0.25 } });
    d.create('f');
    const failed: number[] = [];
    for (let i = 0; i < 4000; i++) {
      try {
        d.append('f', bytes('x'));
      } catch (e) {
        if ((e as DiskError).code === 'EIO') failed.push(i);
      }
    }
    t.is(d.size('f'), 4000 - failed.length);
    return failed;
  };
  const a = failures(9);
  t.true(Math.abs(a.length / 4000 - 0.25) < 0.03, `${a.length}`);
  t.deepEqual(failures(9), a);
});

test('positional writes, short reads and truncation follow POSIX file semantics', (t) => {
  const d = disk();
  d.create('f');
  d.write('f', 4, bytes('xy'));
  t.deepEqual([...d.read('f')], [0, 0, 0, 0, 120, 121], 'a gap past the end reads as zeros');
  t.is(text(d.readAt('f', 4, 10)), 'xy', 'a read at the end is short');
  t.is(d.readAt('f', 50, 10).length, 0, 'a read past the end is empty');
  d.truncate('f', 5);
  d.truncate('f', 7);
  t.deepEqual([...d.read('f')], [0, 0, 0, 0, 120, 0, 0], 'extending after shrinking gives zeros');
  const buf = bytes('abc');
  d.writeFile('f', buf);
  buf[0] = 0;
  const out = d.read('f');
  out[1] = 0;
  t.is(text(d.read('f')), 'abc', 'bytes are copied in and out');
});

test('list names the files directly in a directory; directories are implicit', (t) => {
  const d = disk();
  d.create('data/wal/0001');
  d.create('data/wal/0002');
  d.create('data/snap/current');
  d.create('top');
  t.deepEqual(d.list('data/wal/'), ['0001', '0002']);
  t.deepEqual(d.list('data'), []);
  t.deepEqual(d.list('.'), ['top']);
  t.deepEqual(d.list('nowhere'), []);
  t.true(d.exists('data//wal/0001'));
  d.open('top'); // O_CREAT on an existing file changes nothing
  t.deepEqual(d.paths(), ['data/snap/current', 'data/wal/0001', 'data/wal/0002', 'top']);
});

test('a crash is one trace line naming what was lost, torn and corrupted', (t) => {
  const trace = new Trace();
  const d = disk(5, trace);
  durableFile(d, 'wal', '.');
  d.append('wal', bytes('abcdefgh'));
  d.fsync('wal');
  d.append('wal', bytes('ijklmnop'));
  d.create('tmp');
  const r = d.crash({ tearLastWrite: true, corrupt: { path: 'wal' } });
  const t0 = r.torn[0]!;
  const c = r.corrupted!;
  t.deepEqual(trace.tail(), [
    `0.000 disk.crash n1 lost=[tmp] torn=wal@8:${t0.keptBytes}/8 corrupt=wal@${c.offset}^0x${c.mask
      .toString(16)
      .padStart(2, '0')}`,
  ]);
});
