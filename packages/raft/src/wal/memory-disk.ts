/**
 * {@link Disk} in memory, for the dev agent (`trellis agent -dev`), whose state, like
 * Consul's dev mode, lives only as long as the process. Files are chunk lists so appends cost
 * O(bytes appended); `fsync` is a no-op because there is nothing to make durable. Errors carry
 * Node's codes (ENOENT, EEXIST) like {@link NodeDisk}'s.
 */
import { posix } from 'node:path';
import type { Disk } from './disk.js';

class MemFile {
  chunks: Uint8Array[] = [];
  size = 0;

  bytes(): Uint8Array {
    if (this.chunks.length !== 1) {
      const all = new Uint8Array(this.size);
      let at = 0;
      for (const c of this.chunks) {
        all.set(c, at);
        at += c.length;
      }
      this.chunks = [all];
    }
    return this.chunks[0] ?? new Uint8Array(0);
  }
}

function fsError(code: 'ENOENT' | 'EEXIST', syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

export class MemoryDisk implements Disk {
  readonly #files = new Map<string, MemFile>();

  create(path: string): void {
    if (this.#files.has(path)) throw fsError('EEXIST', 'open', path);
    this.#files.set(path, new MemFile());
  }

  open(path: string): void {
    if (!this.#files.has(path)) this.#files.set(path, new MemFile());
  }

  writeFile(path: string, bytes: Uint8Array): void {
    const f = new MemFile();
    f.chunks = [bytes.slice()];
    f.size = bytes.length;
    this.#files.set(path, f);
  }

  append(path: string, bytes: Uint8Array): void {
    const f = this.#file(path, 'write');
    f.chunks.push(bytes.slice());
    f.size += bytes.length;
  }

  read(path: string): Uint8Array {
    return this.#file(path, 'read').bytes().slice();
  }

  size(path: string): number {
    return this.#file(path, 'stat').size;
  }

  truncate(path: string, length: number): void {
    const f = this.#file(path, 'ftruncate');
    const all = f.bytes();
    const next = new Uint8Array(length);
    next.set(all.subarray(0, Math.min(length, all.length)));
    f.chunks = [next];
    f.size = length;
  }

  fsync(path: string): void {
    this.#file(path, 'fsync');
  }

  fsyncDir(): void {}

  rename(from: string, to: string): void {
    const f = this.#file(from, 'rename');
    this.#files.delete(from);
    this.#files.set(to, f);
  }

  unlink(path: string): void {
    this.#file(path, 'unlink');
    this.#files.delete(path);
  }

  exists(path: string): boolean {
    return this.#files.has(path);
  }

  list(dir: string): string[] {
    const d = posix.normalize(dir).replace(/\/$/, '');
    const out: string[] = [];
    for (const p of this.#files.keys()) if (posix.dirname(p) === d) out.push(posix.basename(p));
    return out.sort();
  }

  /** Bytes held, for the dev agent's stats. */
  get bytes(): number {
    let n = 0;
    for (const f of this.#files.values()) n += f.size;
    return n;
  }

  #file(path: string, syscall: string): MemFile {
    const f = this.#files.get(path);
    if (!f) throw fsError('ENOENT', syscall, path);
    return f;
  }
}
