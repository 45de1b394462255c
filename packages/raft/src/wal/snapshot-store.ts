/**
 * Snapshot files: `<dir>/<index:16 hex>-<term:16 hex>.snap`, each written atomically
 * (temporary file, fsync, rename, directory fsync), so a crash leaves either the old set of
 * snapshots or the old set plus the complete new one — never a half-written snapshot under
 * a final name.
 *
 *     file := "TRSNAP" version:u8 crc32(rest):u32le rest
 *     rest := index:u64 term:u64 votersLen:u32 voters:u64* learnersLen:u32 learners:u64* data
 *
 * `latest()` returns the newest snapshot whose checksum verifies; a damaged newer file is
 * reported and skipped in favour of an older one (the log still holds what follows it only
 * if the damaged one was never used to compact — which is why `retain` keeps two).
 */
import { crc32 } from 'node:zlib';
import type { Snapshot } from '../types.js';
import { joinPath, type Disk } from './disk.js';

const MAGIC = Buffer.from('TRSNAP', 'ascii');
const VERSION = 1;
const SNAP_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const HEADER = MAGIC.length + 1 + 4;

export interface SnapshotStoreOptions {
  dir: string;
  /** Snapshots kept on disk (the newest N). Default 2: one to use, one to fall back on. */
  retain?: number;
}

export interface DamagedSnapshot {
  readonly file: string;
  readonly reason: string;
}

function u64(buf: Buffer, off: number, n: number): number {
  buf.writeUInt32BE(Math.floor(n / 0x1_0000_0000), off);
  buf.writeUInt32BE(n >>> 0, off + 4);
  return off + 8;
}

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) * 0x1_0000_0000 + buf.readUInt32BE(off + 4);
}

export function encodeSnapshotFile(s: Snapshot): Buffer {
  const { index, term, confState } = s.metadata;
  const rest = Buffer.allocUnsafe(
    16 + 4 + 8 * confState.voters.length + 4 + 8 * confState.learners.length + s.data.length,
  );
  let off = u64(rest, 0, index);
  off = u64(rest, off, term);
  off = rest.writeUInt32BE(confState.voters.length, off);
  for (const v of confState.voters) off = u64(rest, off, v);
  off = rest.writeUInt32BE(confState.learners.length, off);
  for (const l of confState.learners) off = u64(rest, off, l);
  rest.set(s.data, off);
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head[MAGIC.length] = VERSION;
  head.writeUInt32LE(crc32(rest), MAGIC.length + 1);
  return Buffer.concat([head, rest]);
}

export function decodeSnapshotFile(bytes: Uint8Array): Snapshot {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < HEADER + 24 || !b.subarray(0, MAGIC.length).equals(MAGIC))
    throw new Error('not a snapshot file');
  if (b[MAGIC.length] !== VERSION)
    throw new Error(`snapshot version ${b[MAGIC.length]}, expected ${VERSION}`);
  const rest = b.subarray(HEADER);
  if (crc32(rest) !== b.readUInt32LE(MAGIC.length + 1)) throw new Error('checksum mismatch');
  let off = 0;
  const index = readU64(rest, off);
  const term = readU64(rest, (off += 8));
  off += 8;
  const readIds = (): number[] => {
    const n = rest.readUInt32BE(off);
    off += 4;
    if (off + 8 * n > rest.length) throw new Error('membership list runs past the end');
    const ids: number[] = [];
    for (let i = 0; i < n; i++, off += 8) ids.push(readU64(rest, off));
    return ids;
  };
  const voters = readIds();
  const learners = readIds();
  return {
    metadata: { index, term, confState: { voters, learners } },
    data: Uint8Array.prototype.slice.call(rest, off),
  };
}

export class SnapshotStore {
  readonly #disk: Disk;
  readonly #dir: string;
  readonly #retain: number;
  /** Damaged files seen by the last `latest()`. */
  damaged: DamagedSnapshot[] = [];

  constructor(disk: Disk, opts: SnapshotStoreOptions) {
    this.#disk = disk;
    this.#dir = opts.dir;
    this.#retain = Math.max(1, opts.retain ?? 2);
  }

  /** Writes a snapshot durably and atomically, then prunes beyond `retain`. */
  save(s: Snapshot): void {
    const { index, term } = s.metadata;
    const name = `${index.toString(16).padStart(16, '0')}-${term.toString(16).padStart(16, '0')}.snap`;
    const tmp = joinPath(this.#dir, `${name}.tmp`);
    this.#disk.writeFile(tmp, encodeSnapshotFile(s));
    this.#disk.fsync(tmp);
    this.#disk.rename(tmp, joinPath(this.#dir, name));
    this.#disk.fsyncDir(this.#dir);
    const all = this.#names();
    for (const old of all.slice(0, Math.max(0, all.length - this.#retain))) {
      this.#disk.unlink(joinPath(this.#dir, old));
    }
    // Leftover temporary files from a crash mid-save are garbage.
    for (const n of this.#disk.list(this.#dir))
      if (n.endsWith('.snap.tmp')) this.#disk.unlink(joinPath(this.#dir, n));
    this.#disk.fsyncDir(this.#dir);
  }

  /** The newest snapshot that verifies, or null. */
  latest(): Snapshot | null {
    this.damaged = [];
    for (const name of this.#names().reverse()) {
      const file = joinPath(this.#dir, name);
      try {
        return decodeSnapshotFile(this.#disk.read(file));
      } catch (e) {
        this.damaged.push({ file, reason: (e as Error).message });
      }
    }
    return null;
  }

  #names(): string[] {
    return this.#disk.list(this.#dir).filter((n) => SNAP_RE.test(n));
  }
}
