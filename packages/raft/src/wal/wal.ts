/**
 * The durable Raft log: segmented write-ahead files of checksummed records, in the manner
 * of etcd's WAL. It is write-only in normal operation (the in-memory log serves reads) and
 * replayed once at start-up.
 *
 * On disk, `<dir>/<seq:16 hex>-<firstIndex:16 hex>.wal`, each a sequence of records:
 *
 *     record  := length:u32le crc32(payload):u32le payload[length]
 *     payload := kind:u8 body
 *
 * | kind | record         | body                                  |
 * |------|----------------|---------------------------------------|
 * | 0    | SegmentHeader  | "TRWAL" version:u8                    |
 * | 1    | Entry          | term:u64 index:u64 type:u8 data       |
 * | 2    | HardState      | term:u64 commit:u64 vote:u64          |
 * | 3    | SnapshotMarker | index:u64 term:u64                    |
 *
 * Record kinds are append-only. Every segment begins with a header, the current hard state
 * and the snapshot marker, so old segments can be deleted without losing either.
 *
 * Replay rules: an entry whose index is at or below the last one replaces it and every
 * later one (a follower's conflict repair is just an append); entries at or below the
 * snapshot index are dropped; the last hard state wins.
 *
 * Recovery: a record cut short at the end of the last segment (a torn write: the crash came
 * before fsync completed) is truncated away, and so is a zero-filled tail. A complete
 * record with a bad checksum, or anything malformed before the tail, is corruption: open
 * refuses with {@link WalCorruptionError} naming the file and offset, because silently
 * dropping acknowledged entries would break Raft's safety.
 *
 * Durability contract: `save` writes to the page cache; nothing is durable until `sync`,
 * which issues one fdatasync for the current segment (plus any segment or directory that
 * changed since the last sync) — one fsync per Ready batch.
 */
import { crc32 } from 'node:zlib';
import type { Entry, HardState } from '../types.js';
import { joinPath, type Disk } from './disk.js';

export const WAL_VERSION = 1;

/** Record kinds. APPEND-ONLY: never renumber; add new kinds at the end. */
export enum RecordKind {
  SegmentHeader = 0,
  Entry = 1,
  HardState = 2,
  SnapshotMarker = 3,
}

const MAGIC = Buffer.from('TRWAL', 'ascii');
const RECORD_HEADER = 8;

export const WAL_DEFAULTS = {
  /**
   * Roll to a new segment past this size. 8 MiB rather than etcd's 64 MiB: start-up replays
   * whole segments (64 MiB took ~0.5 s here), and smaller segments are released sooner
   * after a snapshot. A roll costs one extra fsync and a directory fsync.
   */
  segmentBytes: 8 * 1024 * 1024,
  /**
   * Largest record accepted on replay. Proposals are capped far below this; a larger
   * length field can only be garbage.
   */
  maxRecordBytes: 64 * 1024 * 1024,
} as const;

export interface WalOptions {
  dir: string;
  segmentBytes?: number;
  /** The latest snapshot on disk, if any: entries at or below it are not needed. */
  snapshot?: { index: number; term: number };
}

export interface WalRecovery {
  hardState: HardState;
  /** The newest snapshot marker seen (or the one given in options, whichever is newer). */
  snapshot: { index: number; term: number };
  /** Live entries after the snapshot, in index order. */
  entries: Entry[];
  /** Set when a torn tail was cut away. */
  truncatedTail: { file: string; offset: number; bytesDropped: number } | undefined;
}

export class WalCorruptionError extends Error {
  readonly code = 'ERR_WAL_CORRUPT';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`write-ahead log corrupt at ${file} offset ${offset}: ${reason}; refusing to start`);
    this.name = 'WalCorruptionError';
  }
}

interface Segment {
  seq: number;
  firstIndex: number;
  name: string;
}

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

function segmentName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

// --- record codec ------------------------------------------------------------------------

function putU64(v: DataView, off: number, n: number): void {
  v.setUint32(off, Math.floor(n / 0x1_0000_0000));
  v.setUint32(off + 4, n >>> 0);
}

function getU64(v: DataView, off: number): number {
  const n = v.getUint32(off) * 0x1_0000_0000 + v.getUint32(off + 4);
  if (!Number.isSafeInteger(n)) throw new RangeError('u64 beyond 2^53');
  return n;
}

function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.set(payload, RECORD_HEADER);
  return out;
}

function encodeHeader(): Buffer {
  return frame(
    Buffer.concat([Buffer.from([RecordKind.SegmentHeader]), MAGIC, Buffer.from([WAL_VERSION])]),
  );
}

function encodeEntry(e: Entry): Buffer {
  const p = Buffer.allocUnsafe(1 + 8 + 8 + 1 + e.data.length);
  const v = new DataView(p.buffer, p.byteOffset, p.length);
  p[0] = RecordKind.Entry;
  putU64(v, 1, e.term);
  putU64(v, 9, e.index);
  p[17] = e.type;
  p.set(e.data, 18);
  return frame(p);
}

function encodeHardState(hs: HardState): Buffer {
  const p = Buffer.alloc(1 + 24);
  const v = new DataView(p.buffer, p.byteOffset, p.length);
  p[0] = RecordKind.HardState;
  putU64(v, 1, hs.term);
  putU64(v, 9, hs.commit);
  putU64(v, 17, hs.vote);
  return frame(p);
}

function encodeSnapshotMarker(index: number, term: number): Buffer {
  const p = Buffer.alloc(1 + 16);
  const v = new DataView(p.buffer, p.byteOffset, p.length);
  p[0] = RecordKind.SnapshotMarker;
  putU64(v, 1, index);
  putU64(v, 9, term);
  return frame(p);
}

/** What every segment starts with: header, current hard state, snapshot marker. */
function segmentPreamble(hs: HardState, snap: { index: number; term: number }): Buffer {
  return Buffer.concat([
    encodeHeader(),
    encodeHardState(hs),
    encodeSnapshotMarker(snap.index, snap.term),
  ]);
}

type Decoded =
  | { kind: RecordKind.SegmentHeader; version: number }
  | { kind: RecordKind.Entry; entry: Entry }
  | { kind: RecordKind.HardState; hs: HardState }
  | { kind: RecordKind.SnapshotMarker; index: number; term: number };

function decodePayload(p: Uint8Array): Decoded {
  const v = new DataView(p.buffer, p.byteOffset, p.length);
  const need = (n: number, what: string) => {
    if (p.length !== n && !(what === 'entry' && p.length >= n)) {
      throw new Error(`${what} record has ${p.length} bytes`);
    }
  };
  switch (p[0]) {
    case RecordKind.SegmentHeader:
      need(7, 'segment header');
      if (!Buffer.from(p.subarray(1, 6)).equals(MAGIC)) throw new Error('bad segment magic');
      return { kind: RecordKind.SegmentHeader, version: p[6]! };
    case RecordKind.Entry:
      need(18, 'entry');
      return {
        kind: RecordKind.Entry,
        entry: {
          term: getU64(v, 1),
          index: getU64(v, 9),
          type: p[17]!,
          data: Uint8Array.prototype.slice.call(p, 18),
        },
      };
    case RecordKind.HardState:
      need(25, 'hard state');
      return {
        kind: RecordKind.HardState,
        hs: { term: getU64(v, 1), commit: getU64(v, 9), vote: getU64(v, 17) },
      };
    case RecordKind.SnapshotMarker:
      need(17, 'snapshot marker');
      return { kind: RecordKind.SnapshotMarker, index: getU64(v, 1), term: getU64(v, 9) };
    default:
      throw new Error(`unknown record kind ${p[0]}`);
  }
}

// --- the log -------------------------------------------------------------------------------

export class Wal {
  readonly #disk: Disk;
  readonly #dir: string;
  readonly #segmentBytes: number;
  readonly #segments: Segment[];
  #current: Segment;
  #currentSize: number;
  #hardState: HardState;
  #snapshot: { index: number; term: number };
  #lastIndex: number;
  /** Files written since the last sync. */
  readonly #dirty = new Set<string>();
  #dirDirty = false;

  private constructor(
    disk: Disk,
    opts: WalOptions,
    segments: Segment[],
    size: number,
    r: WalRecovery,
  ) {
    this.#disk = disk;
    this.#dir = opts.dir;
    this.#segmentBytes = opts.segmentBytes ?? WAL_DEFAULTS.segmentBytes;
    this.#segments = segments;
    this.#current = segments[segments.length - 1]!;
    this.#currentSize = size;
    this.#hardState = r.hardState;
    this.#snapshot = r.snapshot;
    this.#lastIndex =
      r.entries.length > 0 ? r.entries[r.entries.length - 1]!.index : r.snapshot.index;
  }

  /** Opens (or creates) the log in `opts.dir` and replays it. Throws WalCorruptionError. */
  static open(disk: Disk, opts: WalOptions): { wal: Wal; recovered: WalRecovery } {
    const segments = disk
      .list(opts.dir)
      .map((name) => {
        const m = SEGMENT_RE.exec(name);
        return m ? { seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16), name } : null;
      })
      .filter((s): s is Segment => s !== null)
      .sort((a, b) => a.seq - b.seq);
    const r: WalRecovery = {
      hardState: { term: 0, vote: 0, commit: 0 },
      snapshot: opts.snapshot ?? { index: 0, term: 0 },
      entries: [],
      truncatedTail: undefined,
    };
    if (segments.length === 0) {
      const seg = {
        seq: 1,
        firstIndex: r.snapshot.index + 1,
        name: segmentName(1, r.snapshot.index + 1),
      };
      const path = joinPath(opts.dir, seg.name);
      const init = segmentPreamble(r.hardState, r.snapshot);
      disk.writeFile(path, init);
      disk.fsync(path);
      disk.fsyncDir(opts.dir);
      return { wal: new Wal(disk, opts, [seg], init.length, r), recovered: r };
    }
    let lastSize = 0;
    const records: Located[] = [];
    segments.forEach((seg, i) => {
      const path = joinPath(opts.dir, seg.name);
      const bytes = disk.read(path);
      const end = readSegment(path, bytes, i === segments.length - 1, records);
      if (end < bytes.length) {
        r.truncatedTail = { file: path, offset: end, bytesDropped: bytes.length - end };
        disk.truncate(path, end);
        disk.fsync(path);
      }
      lastSize = end;
    });
    // Markers first: a snapshot recorded late in the log still covers entries written
    // before it, some of whose segments may already be released.
    for (const { rec } of records) {
      if (rec.kind === RecordKind.SnapshotMarker && rec.index > r.snapshot.index) {
        r.snapshot = { index: rec.index, term: rec.term };
      }
    }
    const st: ReplayState = { terms: new Map(), maxIndex: 0 };
    let snapshotInWal = opts.snapshot === undefined;
    for (const located of records) {
      applyRecord(located, r, st);
      const rec = located.rec;
      if (rec.kind === RecordKind.SnapshotMarker && rec.index >= r.snapshot.index) {
        snapshotInWal = true;
      }
    }
    // A snapshot file whose marker did not reach the WAL (crash in between) is checked
    // the same way, as if its marker came last.
    if (!snapshotInWal) dropIfReplaced(r, st, r.snapshot.index, r.snapshot.term);
    if (lastSize === 0) {
      // The newest segment's name survived a crash but not its header: start it afresh.
      const path = joinPath(opts.dir, segments[segments.length - 1]!.name);
      const init = segmentPreamble(r.hardState, r.snapshot);
      disk.writeFile(path, init);
      disk.fsync(path);
      lastSize = init.length;
    }
    return { wal: new Wal(disk, opts, segments, lastSize, r), recovered: r };
  }

  get lastIndex(): number {
    return this.#lastIndex;
  }

  get hardState(): HardState {
    return this.#hardState;
  }

  /** Segment file names, oldest first. */
  get segmentNames(): string[] {
    return this.#segments.map((s) => s.name);
  }

  /**
   * Appends a hard state (if given) and entries to the current segment, in one write.
   * Entries must continue the log (index ≤ lastIndex + 1; lower means conflict repair).
   * Not durable until {@link sync}.
   */
  save(hardState: HardState | null, entries: readonly Entry[]): void {
    if (entries.length > 0) {
      const first = entries[0]!.index;
      if (first > this.#lastIndex + 1) {
        throw new RangeError(
          `wal: entry ${first} leaves a gap after last index ${this.#lastIndex}`,
        );
      }
      if (first <= this.#snapshot.index) {
        throw new RangeError(`wal: entry ${first} is at or below snapshot ${this.#snapshot.index}`);
      }
      if (this.#currentSize >= this.#segmentBytes) this.#roll(first);
    }
    // Entries first, then the hard state (as etcd does, and as the Ready contract says): a
    // write torn or cut short keeps a prefix, which must never hold a commit index beyond
    // the entries it kept.
    const parts: Buffer[] = [];
    for (const e of entries) parts.push(encodeEntry(e));
    if (hardState) {
      parts.push(encodeHardState(hardState));
      this.#hardState = hardState;
    }
    if (parts.length === 0) return;
    const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const path = joinPath(this.#dir, this.#current.name);
    this.#disk.append(path, buf);
    this.#currentSize += buf.length;
    this.#dirty.add(path);
    if (entries.length > 0) this.#lastIndex = entries[entries.length - 1]!.index;
  }

  /** Records that a snapshot at (index, term) exists: entries up to it are no longer needed. */
  saveSnapshot(index: number, term: number): void {
    if (index <= this.#snapshot.index) return;
    const path = joinPath(this.#dir, this.#current.name);
    const rec = encodeSnapshotMarker(index, term);
    this.#disk.append(path, rec);
    this.#currentSize += rec.length;
    this.#dirty.add(path);
    this.#snapshot = { index, term };
    if (this.#lastIndex < index) this.#lastIndex = index;
  }

  /** Makes everything saved so far durable: one fdatasync per written file, then the directory. */
  sync(): void {
    for (const path of this.#dirty) this.#disk.fsync(path);
    this.#dirty.clear();
    if (this.#dirDirty) {
      this.#disk.fsyncDir(this.#dir);
      this.#dirDirty = false;
    }
  }

  /**
   * Deletes segments whose live entries are all at or below `index` (normally the snapshot
   * index minus the trailing entries kept for slow followers). The current segment stays.
   * Returns how many segments were removed.
   */
  releaseTo(index: number): number {
    let removed = 0;
    while (this.#segments.length > 1 && this.#segments[1]!.firstIndex <= index + 1) {
      const seg = this.#segments.shift()!;
      this.#disk.unlink(joinPath(this.#dir, seg.name));
      this.#dirDirty = true;
      removed++;
    }
    return removed;
  }

  #roll(firstIndex: number): void {
    // Seal the old segment first: only the newest segment may ever have a torn tail, so a
    // short record anywhere else is corruption, not a crash artefact.
    const oldPath = joinPath(this.#dir, this.#current.name);
    this.#disk.fsync(oldPath);
    this.#dirty.delete(oldPath);
    const seg = {
      seq: this.#current.seq + 1,
      firstIndex,
      name: segmentName(this.#current.seq + 1, firstIndex),
    };
    const path = joinPath(this.#dir, seg.name);
    const init = segmentPreamble(this.#hardState, this.#snapshot);
    this.#disk.create(path);
    this.#disk.append(path, init);
    this.#dirty.add(path);
    this.#dirDirty = true;
    this.#segments.push(seg);
    this.#current = seg;
    this.#currentSize = init.length;
  }
}

interface Located {
  rec: Decoded;
  file: string;
  offset: number;
}

/** Reads one segment's records into `out`; returns the offset where valid data ends. */
function readSegment(file: string, bytes: Uint8Array, isLast: boolean, out: Located[]): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let off = 0;
  let first = true;
  const corrupt = (reason: string): never => {
    throw new WalCorruptionError(file, off, reason);
  };
  const tornOrCorrupt = (reason: string): number => {
    if (isLast) return off;
    return corrupt(reason);
  };
  while (off < view.length) {
    const left = view.length - off;
    if (left < RECORD_HEADER) return tornOrCorrupt(`${left} stray bytes at the end of a segment`);
    const len = view.readUInt32LE(off);
    const crc = view.readUInt32LE(off + 4);
    if (len === 0 && crc === 0 && isLast && view.subarray(off).every((b) => b === 0)) return off;
    if (len === 0 || len > WAL_DEFAULTS.maxRecordBytes) {
      if (isLast && off + RECORD_HEADER + len > view.length) return off;
      corrupt(`record length ${len} out of range`);
    }
    if (off + RECORD_HEADER + len > view.length) {
      return tornOrCorrupt(`record of ${len} bytes runs past the end of the segment`);
    }
    const payload = view.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len);
    if (crc32(payload) !== crc) corrupt('checksum mismatch');
    let rec: Decoded;
    try {
      rec = decodePayload(payload);
    } catch (e) {
      return corrupt((e as Error).message);
    }
    if (first && rec.kind !== RecordKind.SegmentHeader)
      corrupt('segment does not start with a header');
    if (rec.kind === RecordKind.SegmentHeader && rec.version !== WAL_VERSION) {
      corrupt(`segment version ${rec.version}, this build reads ${WAL_VERSION}`);
    }
    first = false;
    out.push({ rec, file, offset: off });
    off += RECORD_HEADER + len;
  }
  if (first && !isLast) corrupt('empty segment');
  return off;
}

/** Terms of the entries written so far, by index, as the log stood at that point of the replay. */
interface ReplayState {
  readonly terms: Map<number, number>;
  maxIndex: number;
}

/** An entry written at `index` supersedes every entry after it written earlier. */
function noteEntry(st: ReplayState, index: number, term: number): void {
  for (let i = index + 1; i <= st.maxIndex; i++) st.terms.delete(i);
  st.terms.set(index, term);
  st.maxIndex = index;
}

/**
 * A snapshot at (index, term) that does not match the entry the log held at its index was
 * installed from a leader: it replaced the whole log, so the entries after it that were
 * written before it belong to a discarded history and must not come back on replay.
 */
function dropIfReplaced(r: WalRecovery, st: ReplayState, index: number, term: number): void {
  const held = st.terms.get(index);
  if (held === undefined || held === term) return;
  r.entries.length = 0;
  noteEntry(st, index, term);
}

/** Applies one record in log order; `r.snapshot` is already the newest marker. */
function applyRecord({ rec, file, offset }: Located, r: WalRecovery, st: ReplayState): void {
  switch (rec.kind) {
    case RecordKind.SegmentHeader:
      return;
    case RecordKind.SnapshotMarker:
      dropIfReplaced(r, st, rec.index, rec.term);
      return;
    case RecordKind.HardState:
      r.hardState = rec.hs;
      return;
    case RecordKind.Entry: {
      const e = rec.entry;
      noteEntry(st, e.index, e.term);
      if (e.index <= r.snapshot.index) {
        // A rewrite at or below the snapshot still supersedes every later entry.
        r.entries.length = 0;
        return;
      }
      const ents = r.entries;
      const last = ents.length > 0 ? ents[ents.length - 1]!.index : r.snapshot.index;
      if (e.index > last + 1) {
        throw new WalCorruptionError(file, offset, `entry ${e.index} leaves a gap after ${last}`);
      }
      if (e.index <= last) ents.length = e.index - (ents[0]?.index ?? e.index);
      ents.push(e);
      return;
    }
  }
}
