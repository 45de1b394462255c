/**
 * A simulated disk: one node's data directory, in memory, with the durability rules of a
 * POSIX file system (ext4 in its default data=ordered mode, as far as a process can tell).
 *
 * Two states are kept. What a running process reads (the page cache) changes at once on
 * every call. What survives a crash (the platter) changes only when the process asks:
 * - file contents (append, write, truncate) become durable at `fsync(file)`;
 * - names (create, rename, unlink) become durable at `fsyncDir(parent)`, for every name
 *   change in that directory so far. `fsync(file)` does not make the file's name durable, so
 *   a new file needs both; a rename across directories needs both directories synced. This
 *   is why an atomic snapshot is written as: temp file, fsync, rename, fsync of the directory.
 * `crash()` throws the page cache away: the disk then holds what a restarted process reads.
 *
 * Directories are implicit: a directory is a path prefix, it exists while it names a file,
 * and `list` lists only the files directly in it. Paths are '/'-separated and normalised
 * (`a//b/` is `a/b`). All calls are synchronous; bytes are copied in and out, so callers may
 * reuse their buffers. All randomness (crash outcomes, injected error rates) comes from the
 * injected Prng.
 */
import { posix } from 'node:path';
import type { Clock } from './clock.js';
import type { Prng } from './prng.js';
import type { Trace } from './trace.js';

/**
 * The synchronous file-system contract a durable log and snapshot store are written
 * against. {@link SimDisk} implements it for tests; a production adapter maps it onto
 * `node:fs` (`*Sync` calls, `fsyncSync` on a file and on a directory descriptor). Every
 * call on a missing file throws a {@link DiskError} with code `ENOENT`.
 */
export interface Disk {
  /** Creates an empty file; EEXIST if the name exists (O_CREAT|O_EXCL). */
  create(path: string): void;
  /** Creates an empty file if the name does not exist; otherwise leaves it as is (O_CREAT). */
  open(path: string): void;
  /** Creates the file or truncates it, then writes `bytes` at offset 0. */
  writeFile(path: string, bytes: Uint8Array): void;
  /** Writes `bytes` at the end of the file. */
  append(path: string, bytes: Uint8Array): void;
  /** Writes `bytes` at `offset` (pwrite); a gap past the end reads as zeros. */
  write(path: string, offset: number, bytes: Uint8Array): void;
  /** The whole file. */
  read(path: string): Uint8Array;
  /** Up to `length` bytes from `offset`: fewer at the end of the file, none past it. */
  readAt(path: string, offset: number, length: number): Uint8Array;
  /** Length in bytes. */
  size(path: string): number;
  /** Shortens the file, or extends it with zeros. */
  truncate(path: string, length: number): void;
  /** Makes the file's contents durable (not its name). */
  fsync(path: string): void;
  /** Makes every name change in the directory durable. */
  fsyncDir(dir: string): void;
  /** Atomically gives the file the name `to`, replacing any file there (rename(2)). */
  rename(from: string, to: string): void;
  /** Removes the name. */
  unlink(path: string): void;
  exists(path: string): boolean;
  /** Names (not paths) of the files directly in `dir`, sorted; [] for an unknown directory. */
  list(dir: string): string[];
}

export type DiskErrorCode = 'ENOENT' | 'EEXIST' | 'EIO' | 'EINVAL';

/** A file-system error shaped like Node's: `code`, `syscall` and `path`. */
export class DiskError extends Error {
  constructor(
    readonly code: DiskErrorCode,
    readonly syscall: string,
    readonly path: string,
    detail?: string,
  ) {
    super(`${code}: ${detail ?? describeCode(code)}, ${syscall} '${path}'`);
    this.name = 'DiskError';
  }
}

function describeCode(code: DiskErrorCode): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EEXIST':
      return 'file already exists';
    case 'EIO':
      return 'i/o error (injected)';
    case 'EINVAL':
      return 'invalid argument';
  }
}

export interface CrashOptions {
  /**
   * Let part of the unsynced changes reach the disk before the crash, as background
   * writeback would. Each file keeps a prefix of its unsynced writes (a count uniform in
   * 0..n, in the order they were made), and each directory a prefix of its unsynced name
   * changes, independently. Real writeback is not ordered within a file; the prefix is the
   * model a log's recovery must at least handle. Default false: every unsynced change is lost.
   */
  readonly keepSomeUnsynced?: boolean;
  /**
   * Tear the write the disk was in the middle of: in each file with unsynced changes, the
   * first change not kept (the first unsynced one, unless `keepSomeUnsynced` kept some), if
   * it is a write of at least 2 bytes, keeps a random strict prefix of its bytes (1..len-1).
   * Default false.
   */
  readonly tearLastWrite?: boolean;
  /**
   * Flip one byte of what survived: in `path` if given (nothing happens if it is then missing
   * or empty), else in a random non-empty file; with `probability` (default 1). `true` is
   * `{}`. Default: no corruption.
   */
  readonly corrupt?: boolean | { readonly path?: string; readonly probability?: number };
}

export interface TornWrite {
  readonly path: string;
  /** Offset of the torn write in the file. */
  readonly offset: number;
  readonly keptBytes: number;
  readonly ofBytes: number;
}

export interface Corruption {
  readonly path: string;
  readonly offset: number;
  /** Non-zero XOR mask applied to the byte. */
  readonly mask: number;
}

/** What a crash did, for assertions and trace lines. Paths sorted. */
export interface CrashReport {
  /** Names the process saw that no longer exist. */
  readonly lostPaths: readonly string[];
  /** Names the process had removed (unlink, rename) that exist again. */
  readonly revivedPaths: readonly string[];
  readonly torn: readonly TornWrite[];
  readonly corrupted: Corruption | undefined;
}

export interface DiskStats {
  /** append, write and writeFile calls that succeeded. */
  readonly writes: number;
  readonly bytesWritten: number;
  /** read and readAt calls. */
  readonly reads: number;
  readonly bytesRead: number;
  /** fsync calls, failed ones included. */
  readonly fsyncs: number;
  /** fsync calls that threw EIO. */
  readonly fsyncFailures: number;
  /** Bytes made durable by fsync (the sum of the synced writes' lengths). */
  readonly bytesSynced: number;
  readonly dirFsyncs: number;
  readonly crashes: number;
  /** fsync calls per path, failed ones included. */
  readonly fsyncsByPath: Readonly<Record<string, number>>;
}

/** Probabilities in [0, 1] of an injected EIO on each call of that kind. */
export interface IoErrorRates {
  readonly fsync?: number;
  /** append, write and writeFile. */
  readonly write?: number;
}

export interface SimDiskOptions {
  /** The disk's own stream (e.g. `Prng.derive(seed, 'disk/n1')`). */
  readonly rng: Prng;
  /** Receives a line per crash and per injected error. */
  readonly trace?: Trace;
  /** Time stamps of trace lines. Default: time 0 on every line. */
  readonly clock?: Clock;
  /** The disk's name in trace lines, usually the node id. Default 'disk'. */
  readonly name?: string;
  /** Default: no random errors (only those asked for with failNext*). */
  readonly errorRates?: IoErrorRates;
}

/** A growable byte buffer; bytes past `length` are always zero. */
class Bytes {
  #buf: Uint8Array;
  #len: number;

  constructor(from?: Bytes) {
    this.#buf = from === undefined ? new Uint8Array(0) : from.#buf.slice(0, from.#len);
    this.#len = from === undefined ? 0 : from.#len;
  }

  get length(): number {
    return this.#len;
  }

  write(offset: number, data: Uint8Array): void {
    this.#ensure(offset + data.length);
    this.#buf.set(data, offset);
    this.#len = Math.max(this.#len, offset + data.length);
  }

  truncate(length: number): void {
    if (length < this.#len) this.#buf.fill(0, length, this.#len);
    else this.#ensure(length);
    this.#len = length;
  }

  slice(offset: number, length: number): Uint8Array {
    const start = Math.min(offset, this.#len);
    return this.#buf.slice(start, Math.min(this.#len, start + length));
  }

  xor(offset: number, mask: number): void {
    this.#buf[offset] = (this.#buf[offset] ?? 0) ^ mask;
  }

  #ensure(capacity: number): void {
    if (capacity <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(capacity, this.#buf.length * 2, 64));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
}

type DataOp =
  | { readonly kind: 'write'; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly kind: 'truncate'; readonly length: number };

function applyData(b: Bytes, op: DataOp): void {
  if (op.kind === 'write') b.write(op.offset, op.bytes);
  else b.truncate(op.length);
}

class Inode {
  /** Contents as the process sees them. */
  current = new Bytes();
  /** Contents as of the last fsync (what survives a crash). */
  durable = new Bytes();
  /** Changes since the last fsync, in order: durable + pending = current. */
  pending: DataOp[] = [];
}

/** One atomic name change: each entry sets a name (inode) or removes it (undefined). */
type DirOp = readonly (readonly [path: string, inode: Inode | undefined])[];

function normalize(path: string, syscall: string): string {
  if (typeof path !== 'string' || path === '')
    throw new DiskError('EINVAL', syscall, String(path), 'empty path');
  let p = posix.normalize(path);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

function checkFilePath(p: string, syscall: string): void {
  if (p === '.' || p === '/' || p === '..' || p.endsWith('/..'))
    throw new DiskError('EINVAL', syscall, p, 'not a file name');
}

function checkCount(n: number, what: string, syscall: string, path: string): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new DiskError(
      'EINVAL',
      syscall,
      path,
      `${what} must be a non-negative integer, got ${n}`,
    );
}

function checkRate(v: number | undefined, what: string): void {
  if (v !== undefined && !(v >= 0 && v <= 1))
    throw new DiskError('EINVAL', 'configure', what, `${what} must be in [0, 1], got ${v}`);
}

export class SimDisk implements Disk {
  readonly #rng: Prng;
  readonly #trace: Trace | undefined;
  readonly #clock: Clock | undefined;
  readonly #name: string;
  /** Names as the process sees them. */
  #names = new Map<string, Inode>();
  /** Names as of the last fsyncDir of each directory. */
  readonly #durableNames = new Map<string, Inode>();
  /** Name changes not yet made durable, per directory, in order. */
  readonly #dirOps = new Map<string, DirOp[]>();
  #errorRates: IoErrorRates;
  /** Injected one-shot failures: a path, or '*' for the next call on any path. */
  #failFsync: string[] = [];
  #failWrite: string[] = [];
  #stats = SimDisk.#zeroStats();
  #fsyncsByPath = new Map<string, number>();

  constructor(options: SimDiskOptions) {
    this.#rng = options.rng;
    this.#trace = options.trace;
    this.#clock = options.clock;
    this.#name = options.name ?? 'disk';
    this.#errorRates = {};
    this.setErrorRates(options.errorRates ?? {});
  }

  static #zeroStats() {
    return {
      writes: 0,
      bytesWritten: 0,
      reads: 0,
      bytesRead: 0,
      fsyncs: 0,
      fsyncFailures: 0,
      bytesSynced: 0,
      dirFsyncs: 0,
      crashes: 0,
    };
  }

  // ---------------------------------------------------------------- names

  create(path: string): void {
    const p = normalize(path, 'open');
    checkFilePath(p, 'open');
    if (this.#names.has(p)) throw new DiskError('EEXIST', 'open', p);
    this.#link(p, new Inode());
  }

  open(path: string): void {
    const p = normalize(path, 'open');
    checkFilePath(p, 'open');
    if (!this.#names.has(p)) this.#link(p, new Inode());
  }

  rename(from: string, to: string): void {
    const f = normalize(from, 'rename');
    const t = normalize(to, 'rename');
    checkFilePath(t, 'rename');
    const inode = this.#inode(f, 'rename');
    if (f === t) return;
    this.#names.delete(f);
    this.#names.set(t, inode);
    const fromDir = posix.dirname(f);
    const toDir = posix.dirname(t);
    if (fromDir === toDir) {
      this.#dirOp(fromDir, [
        [t, inode],
        [f, undefined],
      ]);
    } else {
      this.#dirOp(toDir, [[t, inode]]);
      this.#dirOp(fromDir, [[f, undefined]]);
    }
  }

  unlink(path: string): void {
    const p = normalize(path, 'unlink');
    this.#inode(p, 'unlink');
    this.#names.delete(p);
    this.#dirOp(posix.dirname(p), [[p, undefined]]);
  }

  exists(path: string): boolean {
    return this.#names.has(normalize(path, 'stat'));
  }

  list(dir: string): string[] {
    const d = normalize(dir, 'scandir');
    const out: string[] = [];
    for (const p of this.#names.keys()) if (posix.dirname(p) === d) out.push(posix.basename(p));
    return out.sort();
  }

  fsyncDir(dir: string): void {
    const d = normalize(dir, 'fsync');
    this.#stats.dirFsyncs++;
    for (const op of this.#dirOps.get(d) ?? []) this.#applyDirOp(op);
    this.#dirOps.delete(d);
  }

  // ---------------------------------------------------------------- contents

  writeFile(path: string, bytes: Uint8Array): void {
    const p = normalize(path, 'open');
    checkFilePath(p, 'open');
    this.#maybeFailWrite(p, 'write');
    let inode = this.#names.get(p);
    if (inode === undefined) {
      inode = new Inode();
      this.#link(p, inode);
    } else if (inode.current.length > 0) {
      this.#change(inode, { kind: 'truncate', length: 0 });
    }
    this.#written(inode, 0, bytes);
  }

  append(path: string, bytes: Uint8Array): void {
    const p = normalize(path, 'write');
    const inode = this.#inode(p, 'write');
    this.#maybeFailWrite(p, 'write');
    this.#written(inode, inode.current.length, bytes);
  }

  write(path: string, offset: number, bytes: Uint8Array): void {
    const p = normalize(path, 'write');
    const inode = this.#inode(p, 'write');
    checkCount(offset, 'offset', 'write', p);
    this.#maybeFailWrite(p, 'write');
    this.#written(inode, offset, bytes);
  }

  read(path: string): Uint8Array {
    const p = normalize(path, 'read');
    const inode = this.#inode(p, 'read');
    return this.#read(inode, 0, inode.current.length);
  }

  readAt(path: string, offset: number, length: number): Uint8Array {
    const p = normalize(path, 'read');
    const inode = this.#inode(p, 'read');
    checkCount(offset, 'offset', 'read', p);
    checkCount(length, 'length', 'read', p);
    return this.#read(inode, offset, length);
  }

  size(path: string): number {
    const p = normalize(path, 'stat');
    return this.#inode(p, 'stat').current.length;
  }

  truncate(path: string, length: number): void {
    const p = normalize(path, 'ftruncate');
    const inode = this.#inode(p, 'ftruncate');
    checkCount(length, 'length', 'ftruncate', p);
    this.#change(inode, { kind: 'truncate', length });
  }

  /**
   * Makes the file's contents durable. On an injected failure it throws EIO and, as Linux
   * does since 4.13 (the "fsyncgate" behaviour), the unsynced writes are dropped from what
   * can ever become durable while reads still see them: a retried fsync succeeds without
   * persisting them. A log must therefore treat a failed fsync as fatal.
   */
  fsync(path: string): void {
    const p = normalize(path, 'fsync');
    const inode = this.#inode(p, 'fsync');
    this.#stats.fsyncs++;
    this.#fsyncsByPath.set(p, (this.#fsyncsByPath.get(p) ?? 0) + 1);
    if (this.#takeFailure(this.#failFsync, p, this.#errorRates.fsync)) {
      this.#stats.fsyncFailures++;
      inode.pending = [];
      this.#record('disk.eio', `fsync ${p}`);
      throw new DiskError('EIO', 'fsync', p);
    }
    for (const op of inode.pending) {
      applyData(inode.durable, op);
      if (op.kind === 'write') this.#stats.bytesSynced += op.bytes.length;
    }
    inode.pending = [];
  }

  // ---------------------------------------------------------------- faults

  /** The next fsync of `path` (of any file when omitted) throws EIO; see {@link fsync}. */
  failNextFsync(path?: string): void {
    this.#failFsync.push(path === undefined ? '*' : normalize(path, 'fsync'));
  }

  /** The next append/write/writeFile to `path` (any file when omitted) throws EIO and writes nothing. */
  failNextWrite(path?: string): void {
    this.#failWrite.push(path === undefined ? '*' : normalize(path, 'write'));
  }

  /**
   * Random injected EIO. A call draws from the rng only when its rate is above 0, so a disk
   * without error rates consumes no draws outside crash().
   */
  setErrorRates(rates: IoErrorRates): void {
    checkRate(rates.fsync, 'errorRates.fsync');
    checkRate(rates.write, 'errorRates.write');
    this.#errorRates = { ...rates };
  }

  /**
   * The process dies: every volatile change is lost (except as `options` keep or tear), and
   * the disk now holds what a restarted process reads. One-shot failures asked for with
   * failNext* are forgotten; error rates stay.
   *
   * Draw order: directories with unsynced name changes in the order of their first pending
   * change, one draw each (only with keepSomeUnsynced); then surviving files in path order,
   * for those with unsynced writes: one draw for the kept prefix (only with keepSomeUnsynced)
   * and one for the tear length (only when a write is torn); then for corruption one draw
   * (the probability), one for the file (when no path is given), one for the offset and one
   * for the mask.
   */
  crash(options: CrashOptions = {}): CrashReport {
    const keepSome = options.keepSomeUnsynced === true;
    const before = new Map(this.#names);

    for (const ops of this.#dirOps.values()) {
      const keep = keepSome ? this.#rng.int(ops.length + 1) : 0;
      for (const op of ops.slice(0, keep)) this.#applyDirOp(op);
    }
    this.#dirOps.clear();

    const torn: TornWrite[] = [];
    const seen = new Set<Inode>();
    for (const p of [...this.#durableNames.keys()].sort()) {
      const inode = this.#durableNames.get(p)!;
      if (seen.has(inode)) continue;
      seen.add(inode);
      const ops = inode.pending;
      if (ops.length > 0) {
        const keep = keepSome ? this.#rng.int(ops.length + 1) : 0;
        for (const op of ops.slice(0, keep)) applyData(inode.durable, op);
        const next = ops[keep];
        if (options.tearLastWrite === true && next?.kind === 'write' && next.bytes.length >= 2) {
          const kept = 1 + this.#rng.int(next.bytes.length - 1);
          inode.durable.write(next.offset, next.bytes.subarray(0, kept));
          torn.push({ path: p, offset: next.offset, keptBytes: kept, ofBytes: next.bytes.length });
        }
      }
      inode.pending = [];
      inode.current = new Bytes(inode.durable);
    }

    let corrupted: Corruption | undefined;
    if (options.corrupt !== undefined && options.corrupt !== false) {
      corrupted = this.#corrupt(options.corrupt === true ? {} : options.corrupt);
    }

    this.#names = new Map([...this.#durableNames].sort(([a], [b]) => (a < b ? -1 : 1)));
    this.#failFsync = [];
    this.#failWrite = [];
    this.#stats.crashes++;

    const lostPaths = [...before.keys()].filter((p) => !this.#names.has(p)).sort();
    const revivedPaths = [...this.#names.keys()].filter((p) => !before.has(p)).sort();
    const report: CrashReport = { lostPaths, revivedPaths, torn, corrupted };
    this.#record('disk.crash', describeCrash(report));
    return report;
  }

  // ---------------------------------------------------------------- inspection

  stats(): DiskStats {
    return { ...this.#stats, fsyncsByPath: Object.fromEntries(this.#fsyncsByPath) };
  }

  resetStats(): void {
    this.#stats = SimDisk.#zeroStats();
    this.#fsyncsByPath = new Map();
  }

  /** Bytes of `path` written since its last fsync (0 when synced or missing), for assertions. */
  unsyncedBytes(path: string): number {
    const inode = this.#names.get(normalize(path, 'stat'));
    let n = 0;
    for (const op of inode?.pending ?? []) if (op.kind === 'write') n += op.bytes.length;
    return n;
  }

  /** Every file path the process sees, sorted. */
  paths(): string[] {
    return [...this.#names.keys()].sort();
  }

  // ---------------------------------------------------------------- internals

  #inode(p: string, syscall: string): Inode {
    const inode = this.#names.get(p);
    if (inode === undefined) throw new DiskError('ENOENT', syscall, p);
    return inode;
  }

  #link(p: string, inode: Inode): void {
    this.#names.set(p, inode);
    this.#dirOp(posix.dirname(p), [[p, inode]]);
  }

  #dirOp(dir: string, op: DirOp): void {
    let ops = this.#dirOps.get(dir);
    if (ops === undefined) this.#dirOps.set(dir, (ops = []));
    ops.push(op);
  }

  #applyDirOp(op: DirOp): void {
    for (const [p, inode] of op) {
      if (inode === undefined) this.#durableNames.delete(p);
      else this.#durableNames.set(p, inode);
    }
  }

  #change(inode: Inode, op: DataOp): void {
    applyData(inode.current, op);
    inode.pending.push(op);
  }

  #written(inode: Inode, offset: number, bytes: Uint8Array): void {
    this.#change(inode, { kind: 'write', offset, bytes: bytes.slice() });
    this.#stats.writes++;
    this.#stats.bytesWritten += bytes.length;
  }

  #read(inode: Inode, offset: number, length: number): Uint8Array {
    const out = inode.current.slice(offset, length);
    this.#stats.reads++;
    this.#stats.bytesRead += out.length;
    return out;
  }

  #maybeFailWrite(p: string, syscall: string): void {
    if (this.#takeFailure(this.#failWrite, p, this.#errorRates.write)) {
      this.#record('disk.eio', `${syscall} ${p}`);
      throw new DiskError('EIO', syscall, p);
    }
  }

  /** Consumes a matching one-shot failure, else draws against `rate` (only when above 0). */
  #takeFailure(queue: string[], p: string, rate: number | undefined): boolean {
    const i = queue.findIndex((q) => q === p || q === '*');
    if (i >= 0) {
      queue.splice(i, 1);
      return true;
    }
    return rate !== undefined && rate > 0 && this.#rng.float() < rate;
  }

  #corrupt(opt: { readonly path?: string; readonly probability?: number }): Corruption | undefined {
    const probability = opt.probability ?? 1;
    checkRate(probability, 'corrupt.probability');
    if (!(this.#rng.float() < probability)) return undefined;
    let path: string;
    if (opt.path !== undefined) {
      path = normalize(opt.path, 'corrupt');
    } else {
      const candidates = [...this.#durableNames.keys()]
        .filter((p) => this.#durableNames.get(p)!.durable.length > 0)
        .sort();
      if (candidates.length === 0) return undefined;
      path = this.#rng.pick(candidates);
    }
    const inode = this.#durableNames.get(path);
    if (inode === undefined || inode.durable.length === 0) return undefined;
    const offset = this.#rng.int(inode.durable.length);
    const mask = 1 + this.#rng.int(255);
    inode.durable.xor(offset, mask);
    inode.current.xor(offset, mask);
    return { path, offset, mask };
  }

  #record(kind: string, detail: string): void {
    const line = detail === '' ? this.#name : `${this.#name} ${detail}`;
    this.#trace?.record(this.#clock?.now() ?? 0, kind, line);
  }
}

function describeCrash(r: CrashReport): string {
  const parts: string[] = [];
  if (r.lostPaths.length > 0) parts.push(`lost=[${r.lostPaths.join(',')}]`);
  if (r.revivedPaths.length > 0) parts.push(`revived=[${r.revivedPaths.join(',')}]`);
  for (const t of r.torn) parts.push(`torn=${t.path}@${t.offset}:${t.keptBytes}/${t.ofBytes}`);
  if (r.corrupted !== undefined) {
    const c = r.corrupted;
    parts.push(`corrupt=${c.path}@${c.offset}^0x${c.mask.toString(16).padStart(2, '0')}`);
  }
  return parts.join(' ');
}
