// The dev agent's in-memory disk: the same observable behaviour as the simulated disk (which
// is pinned to POSIX semantics) for every operation sequence that does not crash, and the
// WAL and snapshot store work on it across reopen.
import test from 'ava';
import { Prng, SimDisk, runSeeds, seedsFromEnv } from '@trellis/testkit';
import { MemoryDisk } from '../src/wal/memory-disk.js';
import { Wal } from '../src/wal/wal.js';
import { EntryType, type Entry } from '../src/types.js';
import type { Disk } from '../src/wal/disk.js';

function outcome(fn: () => unknown): string {
  try {
    const v = fn();
    return v instanceof Uint8Array
      ? `bytes:${Buffer.from(v).toString('hex')}`
      : `ok:${JSON.stringify(v)}`;
  } catch (e) {
    return `err:${(e as { code?: string }).code ?? 'unknown'}`;
  }
}

test('MemoryDisk answers every operation as SimDisk does (random sequences)', async (t) => {
  const files = ['/d/a', '/d/b', '/d/sub/c', '/e/x'];
  await runSeeds({
    name: 'memory-disk',
    seeds: seedsFromEnv(200),
    replay: (s) => `TRELLIS_SEED=${s} npm test -- packages/raft/test/memory-disk.test.ts`,
    run: ({ seed }) => {
      const rng = Prng.derive(seed, 'ops');
      const sim = new SimDisk({ rng: Prng.derive(seed, 'sim') });
      const mem = new MemoryDisk();
      const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
      for (let i = 0; i < 200; i++) {
        const f = pick(files);
        const g = pick(files);
        const dir = pick(['/d', '/d/sub', '/e', '/none']);
        const len = rng.int(60);
        const bytes = Buffer.from(Array.from({ length: rng.int(40) }, () => rng.int(256)));
        const ops: Array<[string, (d: Disk) => unknown]> = [
          ['create', (d) => d.create(f)],
          ['open', (d) => d.open(f)],
          ['writeFile', (d) => d.writeFile(f, bytes)],
          ['append', (d) => d.append(f, bytes)],
          ['read', (d) => d.read(f)],
          ['size', (d) => d.size(f)],
          ['truncate', (d) => d.truncate(f, len)],
          ['fsync', (d) => d.fsync(f)],
          ['rename', (d) => d.rename(f, g)],
          ['unlink', (d) => d.unlink(f)],
          ['exists', (d) => d.exists(f)],
          ['list', (d) => d.list(dir)],
        ];
        const [name, op] = pick(ops);
        const a = outcome(() => op(sim));
        const b = outcome(() => op(mem));
        if (a !== b)
          throw new Error(
            `op ${i} ${name}(${f}${name === 'rename' ? `→${g}` : ''}): SimDisk ${a}, MemoryDisk ${b}`,
          );
        for (const d of ['/d', '/d/sub', '/e']) sim.fsyncDir(d);
      }
    },
  });
  t.pass();
});

test('the WAL recovers its entries from a MemoryDisk on reopen', (t) => {
  const disk = new MemoryDisk();
  const entries: Entry[] = Array.from({ length: 100 }, (_, i) => ({
    index: i + 1,
    term: 1,
    type: EntryType.Normal,
    data: Buffer.from(`e${i + 1}`),
  }));
  const { wal } = Wal.open(disk, { dir: '/mem/wal', segmentBytes: 1024 });
  for (const e of entries) wal.save({ term: 1, vote: 1, commit: e.index }, [e]);
  wal.sync();
  const { recovered } = Wal.open(disk, { dir: '/mem/wal', segmentBytes: 1024 });
  t.is(recovered.entries.length, 100);
  t.deepEqual(recovered.hardState, { term: 1, vote: 1, commit: 100 });
  t.true(disk.list('/mem/wal').length > 1);
});
