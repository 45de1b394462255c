/**
 * The search for a linearization of one key's operations: Wing & Gong's algorithm with
 * Lowe's memoisation, as in Porcupine (anishathalye/porcupine), specialised to a register.
 *
 * Input operations are encoded as integers: values are interned per key, and each operation
 * becomes one of the step kinds below. Ids are in invocation order. Completed operations sit
 * in a doubly-linked list of call and return entries in real-time order; one is a candidate
 * while its call precedes the first return entry still in the list. Operations that never
 * completed have no return entry: they wait in a second list and are candidates once invoked
 * before that first return entry. Depth-first, each step lifts a candidate out of its list
 * ("linearizes" it) and backtracking unlifts it (dancing links). Configurations (linearized
 * set, register value) already explored are cached and never re-entered. The search succeeds
 * when every completed operation is linearized: the rest can come last, or never happen.
 *
 * Reductions, each preserving the answer exactly:
 *
 * - Read-only steps are forced. If a read-only operation (a get, a cas that failed its
 *   compare, a cas whose new value equals its expected one) is a candidate and valid now,
 *   and the configuration has any linearization, then it has one starting with that
 *   operation (move it to the front: it changes no value and no candidate must precede it).
 *   So it is taken without branching, and if the configuration it leads to fails, so does
 *   its parent.
 * - Stranded readers prune. A step that changes the value from v is hopeless when some
 *   operation that must observe v (a get returning v, a successful cas expecting v) must
 *   complete before any remaining operation that could write v again is even invoked.
 * - Never-completed steps that change nothing are not taken: such an operation can as well
 *   come last.
 * - Spares: a never-completed write of a value nobody observes (no get returns it, no cas
 *   expects it) matters only to move the value off the expected one of a failed cas, so in
 *   some linearization each one either never happens or comes right before such a cas. It is
 *   only tried there, and spares of one kind that apply are interchangeable, so only the
 *   latest invoked unconditional one and the latest invoked cas one are tried.
 * - Unconditional writes of one value are interchangeable but for real time: of several
 *   candidates, only the one that completes first is tried (swap it with whichever another
 *   linearization takes: every operation before that one's place was invoked before it
 *   completed, hence before the first one completed).
 *
 * Candidates are tried earliest deadline first: an operation's deadline is its completion or,
 * for a write, the completion of the first outstanding reader of its value, if earlier. On
 * valid histories this mostly walks straight to a linearization (about one configuration
 * per operation). The cache key is a fingerprint of the linearized
 * set and the value: the set is hashed incrementally (Zobrist: XOR of three random 32-bit
 * words per operation), the value mixed in, and the set's size compared too. Two different
 * configurations share a fingerprint with probability about 2^-96 per pair, so a false
 * "already explored" (which could only turn a linearizable verdict into a violation, never
 * the reverse) is not a practical concern, as in TLC's state fingerprints.
 */

/** A get, or a successful cas with new value = expected: valid iff value = a. Read-only. */
export const STEP_READ = 0;
/** A put or delete (a = the value written, null's id for delete), completed or not. */
export const STEP_WRITE = 1;
/** A successful cas: valid iff value = a; value becomes b. */
export const STEP_CAS = 2;
/** A cas that failed its compare: valid iff value ≠ a. Read-only. */
export const STEP_CAS_FAILED = 3;
/** A cas of unknown outcome: value becomes b if it is a, else stays. Always valid. */
export const STEP_CAS_UNKNOWN = 4;

export interface SearchInput {
  /** Number of operations. */
  readonly n: number;
  /** Number of distinct value ids (ids are 0 .. values - 1). */
  readonly values: number;
  /** Step kind per operation (STEP_*). */
  readonly kind: Uint8Array;
  readonly a: Int32Array;
  readonly b: Int32Array;
  /** Invocation positions, strictly ascending with the id. */
  readonly call: Float64Array;
  /** Completion positions; Infinity for an operation that never completed. */
  readonly ret: Float64Array;
  /** The value id every key starts with (null's id). */
  readonly initial: number;
  /**
   * Marks never-completed writes of a value nobody observes that may only be needed to make
   * a failed cas valid ("spares", see the module comment).
   */
  readonly spare: Uint8Array;
  /** Absolute `performance.now()` after which to give up; Infinity for none. */
  readonly deadline: number;
}

export type SearchOutcome = {
  readonly kind: 'linearizable' | 'violation' | 'timeout';
  /** The longest linearization found (operation ids in order); empty when linearizable. */
  readonly longestPrefix: Int32Array;
  /** Configurations entered (the search's work). */
  readonly configurations: number;
};

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return x ^ (x >>> 16);
}

/**
 * Memo of explored configurations, keyed by a 96-bit fingerprint of the linearized set and
 * value plus the set's size: open addressing, the table holding (h1, record) pairs so that
 * probing touches one array; a record holds h2, h3, value and size.
 */
class ConfigCache {
  #mask = (1 << 12) - 1;
  #table = new Int32Array(2 << 12);
  #count = 0;
  #records = new Int32Array(4 * 1024);

  get size(): number {
    return this.#count;
  }

  /** Adds the configuration; false if it was already present. */
  add(h1: number, h2: number, h3: number, value: number, size: number): boolean {
    const table = this.#table;
    const records = this.#records;
    let slot = h1 & this.#mask;
    for (;;) {
      const e = (table[2 * slot + 1] as number) - 1;
      if (e < 0) break;
      const r = 4 * e;
      if (
        table[2 * slot] === h1 &&
        records[r] === h2 &&
        records[r + 1] === h3 &&
        records[r + 2] === value &&
        records[r + 3] === size
      ) {
        return false;
      }
      slot = (slot + 1) & this.#mask;
    }
    const e = this.#count++;
    if (4 * e === this.#records.length) {
      const bigger = new Int32Array(this.#records.length * 2);
      bigger.set(this.#records);
      this.#records = bigger;
    }
    const r = 4 * e;
    this.#records[r] = h2;
    this.#records[r + 1] = h3;
    this.#records[r + 2] = value;
    this.#records[r + 3] = size;
    table[2 * slot] = h1;
    table[2 * slot + 1] = e + 1;
    if (this.#count * 2 > this.#mask) this.#rehash();
    return true;
  }

  #rehash(): void {
    const old = this.#table;
    const size = (this.#mask + 1) * 2;
    const table = new Int32Array(2 * size);
    const mask = size - 1;
    for (let s = 0; s < old.length; s += 2) {
      if (old[s + 1] === 0) continue;
      const h1 = old[s] as number;
      let slot = h1 & mask;
      while (table[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
      table[2 * slot] = h1;
      table[2 * slot + 1] = old[s + 1] as number;
    }
    this.#table = table;
    this.#mask = mask;
  }
}

/**
 * The operations tied to each value (its readers, or its producers), each value's list sorted
 * by a key (completion or invocation position), with a cursor per value before which all are
 * linearized: `first` answers the least key among the unlinearized ones in amortised O(1).
 */
class ValueIndex {
  readonly #start: Int32Array;
  readonly #list: Int32Array;
  readonly #pos: Int32Array;
  readonly #cursor: Int32Array;
  readonly #key: Float64Array;
  readonly #owner: Int32Array;
  readonly #done: Uint8Array;

  constructor(values: number, owner: Int32Array, key: Float64Array, done: Uint8Array) {
    const n = owner.length;
    this.#owner = owner;
    this.#key = key;
    this.#done = done;
    this.#start = new Int32Array(values + 1);
    for (let i = 0; i < n; i++)
      if ((owner[i] as number) >= 0) this.#start[(owner[i] as number) + 1]!++;
    for (let v = 0; v < values; v++) this.#start[v + 1]! += this.#start[v] as number;
    this.#cursor = this.#start.slice(0, values);
    const fill = this.#start.slice(0, values);
    const ids = Array.from({ length: n }, (_, i) => i).sort(
      (x, y) => (key[x] as number) - (key[y] as number) || x - y,
    );
    this.#list = new Int32Array(this.#start[values] as number);
    this.#pos = new Int32Array(n).fill(-1);
    for (const i of ids) {
      const v = owner[i] as number;
      if (v < 0) continue;
      const at = fill[v]!++;
      this.#list[at] = i;
      this.#pos[i] = at;
    }
  }

  /** The least key among the unlinearized operations of value v; Infinity if none. */
  first(v: number): number {
    const end = this.#start[v + 1] as number;
    let c = this.#cursor[v] as number;
    while (c < end && this.#done[this.#list[c] as number] === 1) c++;
    this.#cursor[v] = c;
    return c < end ? (this.#key[this.#list[c] as number] as number) : Infinity;
  }

  /** Call after marking `op` unlinearized. */
  restore(op: number): void {
    const v = this.#owner[op] as number;
    if (v >= 0 && (this.#pos[op] as number) < (this.#cursor[v] as number)) {
      this.#cursor[v] = this.#pos[op] as number;
    }
  }
}

/** Searches for a linearization of one key's operations, starting from `input.initial`. */
export function searchLinearization(input: SearchInput): SearchOutcome {
  const { n, kind, a, b, call, ret, spare, deadline } = input;
  const head = 2 * n;
  const infoHead = 2 * n + 1;
  const next = new Int32Array(2 * n + 2).fill(-1);
  const prev = new Int32Array(2 * n + 2).fill(-1);
  const isInfo = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (ret[i] === Infinity) isInfo[i] = 1;
  // Spares: unconditional writes in one list, cas ones by expected value; by invocation.
  const spareWrites: number[] = [];
  const spareCas = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    if (spare[i] === 0) continue;
    if (kind[i] === STEP_WRITE) {
      spareWrites.push(i);
    } else {
      const list = spareCas.get(a[i] as number);
      if (list === undefined) spareCas.set(a[i] as number, [i]);
      else list.push(i);
    }
  }

  // The entry list: call entries (node i) and return entries (node n + i) of the operations
  // that completed, merged by position. Operations that never completed are candidates from
  // their invocation on and never have to come next; they wait in a list of their own, in
  // invocation order, and are tried after the others.
  {
    const completed: number[] = [];
    let lastInfo = infoHead;
    for (let i = 0; i < n; i++) {
      if (spare[i] === 1) continue;
      if (isInfo[i] === 0) {
        completed.push(i);
        continue;
      }
      next[lastInfo] = i;
      prev[i] = lastInfo;
      lastInfo = i;
    }
    const byRet = completed
      .slice()
      .sort((x, y) => (ret[x] as number) - (ret[y] as number) || x - y);
    const m = completed.length;
    let last = head;
    let c = 0;
    let r = 0;
    while (c < m || r < m) {
      let node: number;
      const ci = completed[c] as number;
      if (r >= m || (c < m && (call[ci] as number) < (ret[byRet[r] as number] as number))) {
        node = ci;
        c++;
      } else {
        node = n + (byRet[r++] as number);
      }
      next[last] = node;
      prev[node] = last;
      last = node;
    }
  }

  const readOnly = new Uint8Array(n);
  const readerOf = new Int32Array(n).fill(-1);
  const producerOf = new Int32Array(n).fill(-1);
  const z1 = new Int32Array(n);
  const z2 = new Int32Array(n);
  const z3 = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = kind[i] as number;
    const ai = a[i] as number;
    if (k === STEP_READ || k === STEP_CAS_FAILED) readOnly[i] = 1;
    if (k === STEP_READ || k === STEP_CAS) readerOf[i] = ai;
    if (k === STEP_WRITE) producerOf[i] = ai;
    if (k === STEP_CAS || k === STEP_CAS_UNKNOWN) producerOf[i] = b[i] as number;
    z1[i] = mix32(i * 2 + 0x3c6ef372);
    z2[i] = mix32(i * 3 + 0x5851f42d);
    z3[i] = mix32(mix32(i) + 0x14057b7e);
  }
  const linearized = new Uint8Array(n);
  // Readers of each value by completion, producers of each value by invocation.
  const readers = new ValueIndex(input.values, readerOf, ret, linearized);
  const producers = new ValueIndex(input.values, producerOf, call, linearized);

  const cache = new ConfigCache();
  const stackOp = new Int32Array(n);
  const stackValue = new Int32Array(n);
  const stackForced = new Uint8Array(n);
  const best = new Int32Array(n);
  let bestLen = 0;
  let agree = 0; // stackOp[0..agree) === best[0..agree)
  let depth = 0;
  let value = input.initial;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;

  /** Records the configuration reached by linearizing `op` into value `v`; false if seen. */
  const enter = (op: number, v: number): boolean =>
    cache.add(
      h1 ^ (z1[op] as number) ^ mix32(v + 0x1b873593),
      h2 ^ (z2[op] as number) ^ mix32(v ^ 0x68e31da4),
      h3 ^ (z3[op] as number) ^ mix32(mix32(v) ^ 0x2545f491),
      v,
      depth + 1,
    );

  const lift = (op: number): void => {
    if (spare[op] === 1) return;
    let p = prev[op] as number;
    let x = next[op] as number;
    next[p] = x;
    if (x !== -1) prev[x] = p;
    if (isInfo[op] === 1) return;
    const r = n + op;
    p = prev[r] as number;
    x = next[r] as number;
    next[p] = x;
    if (x !== -1) prev[x] = p;
  };

  const unlift = (op: number): void => {
    if (spare[op] === 1) return;
    if (isInfo[op] === 0) {
      const r = n + op;
      next[prev[r] as number] = r;
      if (next[r] !== -1) prev[next[r] as number] = r;
    }
    next[prev[op] as number] = op;
    if (next[op] !== -1) prev[next[op] as number] = op;
  };

  const push = (op: number, v: number, forced: number): void => {
    stackOp[depth] = op;
    stackValue[depth] = value;
    stackForced[depth] = forced;
    depth++;
    value = v;
    h1 ^= z1[op] as number;
    h2 ^= z2[op] as number;
    h3 ^= z3[op] as number;
    linearized[op] = 1;
    lift(op);
  };

  /** Undoes the top step; returns its operation. */
  const pop = (): number => {
    if (depth > bestLen) {
      best.set(stackOp.subarray(agree, depth), agree);
      bestLen = depth;
      agree = depth;
    }
    depth--;
    if (agree > depth) agree = depth;
    const op = stackOp[depth] as number;
    value = stackValue[depth] as number;
    h1 ^= z1[op] as number;
    h2 ^= z2[op] as number;
    h3 ^= z3[op] as number;
    linearized[op] = 0;
    readers.restore(op);
    producers.restore(op);
    unlift(op);
    return op;
  };

  const outcome = (k: SearchOutcome['kind']): SearchOutcome => ({
    kind: k,
    longestPrefix: k === 'linearizable' ? new Int32Array(0) : best.slice(0, bestLen),
    configurations: cache.size,
  });

  // Branching configurations keep their ordered candidates on a stack: level d's list is
  // pool[candOff[d] .. candOff[d] + candLen[d]), and candAt[d] is the one being explored.
  const candOff = new Int32Array(n + 1);
  const candLen = new Int32Array(n + 1);
  const candAt = new Int32Array(n + 1);
  let pool = new Int32Array(1024);
  let poolTop = 0;
  const firstWriter = new Int32Array(input.values);
  const writerStamp = new Int32Array(input.values);
  let stamp = 0;
  const prio = new Float64Array(n);

  let fresh = true;
  let budget = 1024;
  for (;;) {
    // Whatever never completed can all come last (or never take effect): done.
    if (next[head] === -1) return outcome('linearizable');
    if (--budget === 0) {
      budget = 1024;
      if (deadline !== Infinity && performance.now() > deadline) {
        while (depth > 0) pop(); // records the longest prefix
        return outcome('timeout');
      }
    }
    let failed = false;
    if (fresh) {
      fresh = false;
      let forced = -1;
      for (let e = next[head] as number; e !== -1 && e < n; e = next[e] as number) {
        if (readOnly[e] === 0) continue;
        if (kind[e] === STEP_READ ? value === a[e] : value !== a[e]) {
          forced = e;
          break;
        }
      }
      if (forced >= 0) {
        if (enter(forced, value)) {
          push(forced, value, 1);
          fresh = true;
          continue;
        }
        failed = true;
      } else {
        collectCandidates();
      }
    }
    if (!failed) {
      // Try this level's remaining candidates in order.
      const off = candOff[depth] as number;
      const len = candLen[depth] as number;
      let at = candAt[depth] as number;
      let stepped = false;
      for (; at < len; at++) {
        const op = pool[off + at] as number;
        const v = stepTo(op);
        if (v >= 0) {
          candAt[depth] = at;
          push(op, v, 0);
          stepped = true;
          break;
        }
      }
      if (stepped) {
        fresh = true;
        continue;
      }
    }
    // No candidate leads anywhere new: this configuration fails. A forced step's failure is
    // its parent's failure, so keep undoing until a branching step can try its next sibling.
    do {
      if (depth === 0) return outcome('violation');
      pop();
    } while (stackForced[depth] === 1);
    candAt[depth]!++;
    poolTop = (candOff[depth] as number) + (candLen[depth] as number);
  }

  /**
   * Lists this configuration's candidates other than read-only ones, earliest deadline first:
   * completed operations invoked before the first completion still in the list, never-
   * completed ones invoked before it too, and a spare if a failed cas is blocked; of several
   * unconditional writes of one value, only the first to complete.
   */
  function collectCandidates(): void {
    candOff[depth] = poolTop;
    candLen[depth] = 0;
    candAt[depth] = 0;
    // Unconditional writes of one value are interchangeable but for real time: if taking
    // any of them now leads to a linearization, taking the one that completed first does
    // (swap the two; everything before the other's place was invoked before it completed).
    stamp++;
    let e = next[head] as number;
    let blocked = false;
    for (; e !== -1 && e < n; e = next[e] as number) {
      if (readOnly[e] === 0) offer(e);
      else if (kind[e] === STEP_CAS_FAILED) blocked = true;
    }
    const due = e === -1 ? Infinity : (ret[e - n] as number);
    for (let i = next[infoHead] as number; i !== -1; i = next[i] as number) {
      if ((call[i] as number) >= due) break;
      offer(i);
    }
    for (let i = next[head] as number; i !== e; i = next[i] as number) {
      if (i < n && readOnly[i] === 0) take(i);
    }
    for (let i = next[infoHead] as number; i !== -1; i = next[i] as number) {
      if ((call[i] as number) >= due) break;
      take(i);
    }
    // A failed cas that cannot come now (read-only ones that can were forced) needs the
    // value changed, perhaps by a spare. Spares of the same kind that apply now are
    // interchangeable (later steps find the ones left applicable too), so the latest invoked
    // unconditional one and the latest invoked cas one expecting the current value will do.
    if (blocked) {
      const w = latestCandidate(spareWrites, due);
      if (w >= 0) add(w);
      const list = spareCas.get(value);
      const c = list === undefined ? -1 : latestCandidate(list, due);
      if (c >= 0) add(c);
    }
    poolTop = (candOff[depth] as number) + (candLen[depth] as number);
  }

  function offer(op: number): void {
    if (kind[op] !== STEP_WRITE) return;
    const v = a[op] as number;
    const w = writerStamp[v] === stamp ? (firstWriter[v] as number) : -1;
    if (w < 0 || (ret[op] as number) < (ret[w] as number)) {
      firstWriter[v] = op;
      writerStamp[v] = stamp;
    }
  }

  function take(op: number): void {
    if (kind[op] !== STEP_WRITE || firstWriter[a[op] as number] === op) add(op);
  }

  /** Inserts `op` into this level's candidate list, earliest deadline first. */
  function add(op: number): void {
    const off = candOff[depth] as number;
    const len = candLen[depth] as number;
    if (off + len === pool.length) {
      const bigger = new Int32Array(pool.length * 2);
      bigger.set(pool);
      pool = bigger;
    }
    // An operation must come before it completes, and a write before the first outstanding
    // reader of its value completes. Ties by invocation.
    const need = readers.first(producerOf[op] as number);
    const p = need < (ret[op] as number) ? need : (ret[op] as number);
    prio[op] = p;
    let j = off + len;
    while (j > off) {
      const q = pool[j - 1] as number;
      const pq = prio[q] as number;
      if (pq < p || (pq === p && q < op)) break;
      pool[j] = q;
      j--;
    }
    pool[j] = op;
    candLen[depth] = len + 1;
  }

  /** The last operation of `list` (ascending) invoked before `due` and not linearized. */
  function latestCandidate(list: readonly number[], due: number): number {
    let lo = 0;
    let hiIdx = list.length;
    while (lo < hiIdx) {
      const mid = (lo + hiIdx) >> 1;
      if ((call[list[mid] as number] as number) < due) lo = mid + 1;
      else hiIdx = mid;
    }
    for (let j = lo - 1; j >= 0; j--) {
      if (linearized[list[j] as number] === 0) return list[j] as number;
    }
    return -1;
  }

  /**
   * The value after taking the (not read-only) candidate `op` now, or -1 if that is invalid,
   * hopeless, or leads to a configuration already explored.
   */
  function stepTo(op: number): number {
    const k = kind[op] as number;
    let v: number;
    if (k === STEP_WRITE) {
      v = a[op] as number;
    } else if (k === STEP_CAS) {
      if (value !== a[op]) return -1;
      v = b[op] as number;
    } else {
      v = value === a[op] ? (b[op] as number) : value;
    }
    // A never-completed step that changes nothing can as well come last: not now.
    if (v === value && isInfo[op] === 1) return -1;
    if (v !== value) {
      // Leaving `value` is hopeless if a reader of it must complete before any remaining
      // producer of it is even invoked.
      linearized[op] = 1;
      const due = readers.first(value);
      const stranded = due < Infinity && !(producers.first(value) < due);
      linearized[op] = 0;
      readers.restore(op);
      if (stranded) return -1;
    }
    return enter(op, v) ? v : -1;
  }
}
