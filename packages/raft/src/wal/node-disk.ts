/**
 * {@link Disk} over real files with `node:fs`, synchronously. File descriptors are cached
 * per path so that an append or fsync does not reopen the file; `fsync` is fdatasync (the
 * log needs data and size durable, not timestamps). Directories are created on demand and
 * their creation made durable in the parent.
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  existsSync,
  ftruncateSync,
  unlinkSync,
  writeSync,
  constants,
} from 'node:fs';
import { dirname } from 'node:path';
import type { Disk } from './disk.js';

interface OpenFile {
  fd: number;
  size: number;
}

export class NodeDisk implements Disk {
  readonly #files = new Map<string, OpenFile>();

  create(path: string): void {
    this.#ensureDir(dirname(path));
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    this.#files.set(path, { fd, size: 0 });
  }

  open(path: string): void {
    this.#file(path, true);
  }

  writeFile(path: string, bytes: Uint8Array): void {
    const f = this.#file(path, true);
    ftruncateSync(f.fd, 0);
    writeAll(f.fd, bytes, 0);
    f.size = bytes.length;
  }

  append(path: string, bytes: Uint8Array): void {
    const f = this.#file(path, false);
    writeAll(f.fd, bytes, f.size);
    f.size += bytes.length;
  }

  read(path: string): Uint8Array {
    return readFileSync(path);
  }

  size(path: string): number {
    return this.#file(path, false).size;
  }

  truncate(path: string, length: number): void {
    const f = this.#file(path, false);
    ftruncateSync(f.fd, length);
    f.size = length;
  }

  fsync(path: string): void {
    fdatasyncSync(this.#file(path, false).fd);
  }

  fsyncDir(dir: string): void {
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  rename(from: string, to: string): void {
    this.#close(to);
    renameSync(from, to);
    const f = this.#files.get(from);
    if (f) {
      this.#files.delete(from);
      this.#files.set(to, f);
    }
  }

  unlink(path: string): void {
    this.#close(path);
    unlinkSync(path);
  }

  exists(path: string): boolean {
    return this.#files.has(path) || existsSync(path);
  }

  list(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => d.name)
      .sort();
  }

  /** Closes every cached descriptor. */
  close(): void {
    for (const path of [...this.#files.keys()]) this.#close(path);
  }

  #file(path: string, create: boolean): OpenFile {
    let f = this.#files.get(path);
    if (f) return f;
    if (create) this.#ensureDir(dirname(path));
    const fd = openSync(
      path,
      create ? constants.O_RDWR | constants.O_CREAT : constants.O_RDWR,
      0o600,
    );
    f = { fd, size: fstatSync(fd).size };
    this.#files.set(path, f);
    return f;
  }

  #close(path: string): void {
    const f = this.#files.get(path);
    if (!f) return;
    this.#files.delete(path);
    closeSync(f.fd);
  }

  #ensureDir(dir: string): void {
    if (existsSync(dir)) return;
    this.#ensureDir(dirname(dir));
    mkdirSync(dir);
    this.fsyncDir(dirname(dir));
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let off = 0;
  while (off < bytes.length) {
    off += writeSync(fd, bytes, off, bytes.length - off, position + off);
  }
}
