/**
 * A generic in-memory table: rows by primary key (kept in key order, for prefix scans and
 * deterministic iteration), any number of secondary indexes (each may yield several values per
 * row), and the table's max index. Rows are immutable values: writers replace them.
 *
 * Every mutation goes through a {@link Journal}, which records how to undo it (so a failing
 * command or transaction rolls back exactly) and which notification channels it touched.
 */

/** A secondary index: the index values a row is filed under (none to leave it out). */
export interface IndexDef<R> {
  readonly name: string;
  keys(row: R): readonly string[];
}

/** Channel names; {@link Journal} collects them and the watch registry resolves them. */
export const channel = {
  table: (table: string): string => `t\0${table}`,
  row: (table: string, pk: string): string => `r\0${table}\0${pk}`,
  index: (table: string, index: string, value: string): string => `i\0${table}\0${index}\0${value}`,
  prefix: (table: string, prefix: string): string => `p\0${table}\0${prefix}`,
  named: (name: string): string => `n\0${name}`,
};

/** Undo log and change set of one write. */
export class Journal {
  private readonly undo: Array<() => void> = [];
  /** Channels touched so far. */
  readonly touched = new Set<string>();
  /** Primary keys changed so far, per table (prefix watches are resolved from them). */
  readonly changedKeys = new Map<string, Set<string>>();

  record(undo: () => void): void {
    this.undo.push(undo);
  }

  /** Undoes every recorded change, newest first. */
  rollback(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]?.();
    this.undo.length = 0;
    this.touched.clear();
    this.changedKeys.clear();
  }

  get empty(): boolean {
    return this.undo.length === 0;
  }
}

export class Table<R> {
  private readonly byKey = new Map<string, R>();
  private readonly ordered = new OrderedRows<R>();
  private readonly indexes = new Map<string, { def: IndexDef<R>; map: Map<string, Set<string>> }>();
  private max = 0;

  constructor(
    readonly name: string,
    readonly primaryKey: (row: R) => string,
    indexDefs: readonly IndexDef<R>[] = [],
  ) {
    for (const def of indexDefs) this.indexes.set(def.name, { def, map: new Map() });
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The highest Raft index that wrote this table (rows, deletions or explicit bumps). */
  get maxIndex(): number {
    return this.max;
  }

  get(pk: string): R | undefined {
    return this.byKey.get(pk);
  }

  /** All rows in primary-key order. */
  all(): R[] {
    return this.ordered.from('', '');
  }

  /** Rows whose primary key starts with `prefix`, in key order. */
  withPrefix(prefix: string): R[] {
    return this.ordered.from(prefix, prefix);
  }

  /** Rows filed under `value` in index `index`, in primary-key order. */
  lookup(index: string, value: string): R[] {
    const set = this.indexOf(index).map.get(value);
    if (set === undefined) return [];
    return [...set].sort(compare).map((k) => this.byKey.get(k) as R);
  }

  /** Whether any row is filed under `value` in index `index`. */
  has(index: string, value: string): boolean {
    return this.indexOf(index).map.has(value);
  }

  /** Inserts or replaces the row with the same primary key. */
  put(row: R, j: Journal): void {
    const pk = this.primaryKey(row);
    const prev = this.byKey.get(pk);
    this.set(pk, row, prev);
    this.touch(pk, prev, row, j);
    j.record(() => this.set(pk, prev, row));
  }

  /** Removes the row with this primary key; returns it (undefined if absent, a no-op). */
  remove(pk: string, j: Journal): R | undefined {
    const prev = this.byKey.get(pk);
    if (prev === undefined) return undefined;
    this.set(pk, undefined, prev);
    this.touch(pk, prev, undefined, j);
    j.record(() => this.set(pk, prev, undefined));
    return prev;
  }

  /** Raises the max index to `index` (never lowers it). */
  bump(index: number, j: Journal): void {
    if (index <= this.max) return;
    const prev = this.max;
    this.max = index;
    j.record(() => {
      this.max = prev;
    });
  }

  /** Loads a row without journaling (restore only). */
  load(row: R): void {
    const pk = this.primaryKey(row);
    this.set(pk, row, this.byKey.get(pk));
  }

  /** Sets the max index without journaling (restore only). */
  loadMaxIndex(index: number): void {
    this.max = index;
  }

  private indexOf(name: string): { def: IndexDef<R>; map: Map<string, Set<string>> } {
    const ix = this.indexes.get(name);
    if (ix === undefined) throw new Error(`table ${this.name} has no index ${name}`);
    return ix;
  }

  private set(pk: string, row: R | undefined, prev: R | undefined): void {
    for (const { def, map } of this.indexes.values()) {
      if (prev !== undefined) {
        for (const v of def.keys(prev)) {
          const s = map.get(v);
          s?.delete(pk);
          if (s?.size === 0) map.delete(v);
        }
      }
      if (row !== undefined) {
        for (const v of def.keys(row)) {
          let s = map.get(v);
          if (s === undefined) map.set(v, (s = new Set()));
          s.add(pk);
        }
      }
    }
    if (row === undefined) {
      if (this.byKey.delete(pk)) this.ordered.delete(pk);
    } else {
      this.byKey.set(pk, row);
      this.ordered.set(pk, row);
    }
  }

  private touch(pk: string, prev: R | undefined, row: R | undefined, j: Journal): void {
    j.touched.add(channel.table(this.name));
    j.touched.add(channel.row(this.name, pk));
    for (const { def } of this.indexes.values()) {
      if (prev !== undefined)
        for (const v of def.keys(prev)) j.touched.add(channel.index(this.name, def.name, v));
      if (row !== undefined)
        for (const v of def.keys(row)) j.touched.add(channel.index(this.name, def.name, v));
    }
    let keys = j.changedKeys.get(this.name);
    if (keys === undefined) j.changedKeys.set(this.name, (keys = new Set()));
    keys.add(pk);
  }
}

/** Code-unit order: the order Consul's radix tree iterates keys in (for ASCII and BMP keys). */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Rows in key order as a list of sorted chunks (a two-level B+-tree): O(log n) to find a key,
 * O(CHUNK) to insert or delete one, where one flat sorted array would move n elements.
 */
class OrderedRows<R> {
  private static readonly CHUNK = 512;
  private readonly chunks: Array<{ keys: string[]; rows: R[] }> = [];

  /** Inserts or replaces. */
  set(key: string, row: R): void {
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [key], rows: [row] });
      return;
    }
    const ci = this.chunkFor(key);
    const c = this.chunks[ci] as { keys: string[]; rows: R[] };
    const i = lowerBound(c.keys, key);
    if (c.keys[i] === key) {
      c.rows[i] = row;
      return;
    }
    c.keys.splice(i, 0, key);
    c.rows.splice(i, 0, row);
    if (c.keys.length > OrderedRows.CHUNK * 2) {
      const half = OrderedRows.CHUNK;
      this.chunks.splice(ci + 1, 0, { keys: c.keys.splice(half), rows: c.rows.splice(half) });
    }
  }

  delete(key: string): void {
    if (this.chunks.length === 0) return;
    const ci = this.chunkFor(key);
    const c = this.chunks[ci] as { keys: string[]; rows: R[] };
    const i = lowerBound(c.keys, key);
    if (c.keys[i] !== key) return;
    c.keys.splice(i, 1);
    c.rows.splice(i, 1);
    if (c.keys.length === 0) this.chunks.splice(ci, 1);
  }

  /** Rows with key ≥ `start` that start with `prefix` ('' for all), in order. */
  from(start: string, prefix: string): R[] {
    const parts: R[][] = [];
    if (this.chunks.length === 0) return [];
    let ci = this.chunkFor(start);
    let i = lowerBound((this.chunks[ci] as { keys: string[] }).keys, start);
    for (; ci < this.chunks.length; ci++, i = 0) {
      const c = this.chunks[ci] as { keys: string[]; rows: R[] };
      if (i >= c.keys.length) continue;
      if (prefix === '' || (c.keys[c.keys.length - 1] as string).startsWith(prefix)) {
        parts.push(i === 0 ? c.rows : c.rows.slice(i));
        continue;
      }
      let end = i;
      while (end < c.keys.length && (c.keys[end] as string).startsWith(prefix)) end++;
      parts.push(c.rows.slice(i, end));
      break;
    }
    return parts.length === 1 ? (parts[0] as R[]).slice() : ([] as R[]).concat(...parts);
  }

  /** The last chunk whose first key is ≤ key (0 if none). */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (((this.chunks[mid] as { keys: string[] }).keys[0] as string) <= key) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((arr[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
