/**
 * The file-system contract the durable log and snapshot store are written against: the
 * raft package owns this interface (consumer-owned, STYLE.md habit 2). Two implementations
 * satisfy it: {@link NodeDisk} (real files, real fsync) and the test kit's `SimDisk`
 * (volatile until fsync, crashes that drop, tear or corrupt), so the same log code runs in
 * production and under crash simulation.
 *
 * Semantics are POSIX's: file contents are durable after `fsync(file)`; creating, renaming
 * and unlinking a name are durable after `fsyncDir(parent)`. Calls are synchronous: the
 * Raft driver's loop persists, then sends, and a write that returns has reached the page
 * cache (or, after fsync, the disk). Errors are thrown with a Node-style `code`.
 */
export interface Disk {
  /** Creates an empty file; EEXIST if the name exists. */
  create(path: string): void;
  /** Creates the file if missing; leaves an existing one as it is. */
  open(path: string): void;
  /** Creates or truncates the file, then writes `bytes` at offset 0. */
  writeFile(path: string, bytes: Uint8Array): void;
  /** Writes at the end of the file. */
  append(path: string, bytes: Uint8Array): void;
  /** The whole file. */
  read(path: string): Uint8Array;
  /** Length in bytes. */
  size(path: string): number;
  /** Shortens the file (or extends it with zeros). */
  truncate(path: string, length: number): void;
  fsync(path: string): void;
  fsyncDir(dir: string): void;
  /** Atomic rename, replacing any file at `to`. */
  rename(from: string, to: string): void;
  unlink(path: string): void;
  exists(path: string): boolean;
  /** Names of the files directly in `dir`, sorted; [] when the directory does not exist. */
  list(dir: string): string[];
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}
