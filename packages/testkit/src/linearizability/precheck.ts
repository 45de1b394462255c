/**
 * A quick, sound test for the commonest register anomalies, run before the search: a read
 * whose value cannot be current at any point of its interval, judged from real-time order
 * alone. It catches stale reads, lost and duplicated writes and reads of aborted or never
 * written values in O(n log n), where the search would have to exhaust every alternative
 * ordering of everything before the anomaly to prove it.
 *
 * A reader of x (a get returning x, a successful cas expecting x) needs a source: the last
 * operation before it in the linearization that wrote x, or the initial value; between the
 * two the value is x throughout. A source must be invoked before the reader completes, and
 * no witness may fall between them in every linearization, i.e. start after the source
 * completed and complete before the reader started. A witness is a completed operation
 * that cannot take effect while the value stays x: a write, a read of another value, a cas
 * that failed expecting x. Among sources the one completing last is the most permissive
 * (its witnesses are everyone's), so checking it alone decides whether any source will do.
 */
import { STEP_CAS, STEP_CAS_FAILED, STEP_CAS_UNKNOWN, STEP_READ, STEP_WRITE } from './search.js';

export interface PrecheckInput {
  readonly n: number;
  readonly values: number;
  readonly initial: number;
  readonly kind: Uint8Array;
  readonly a: Int32Array;
  readonly b: Int32Array;
  readonly call: Float64Array;
  readonly ret: Float64Array;
}

/** A read that has no possible source. */
export interface UnsourcedRead {
  readonly reader: number;
  /**
   * The latest-completing possible source: an operation id, -1 for the initial value, or
   * undefined when nothing wrote the value before the reader completed.
   */
  readonly source: number | undefined;
  /**
   * A completed operation that must fall between `source` and the reader and that could not
   * have seen the value there: a write, a read of another value, or a cas that failed
   * expecting it.
   */
  readonly witness: number | undefined;
}

/** Finds the unsourced read that completes first, if any. */
export function findUnsourcedRead(p: PrecheckInput): UnsourcedRead | undefined {
  const { n, kind, a, b, call, ret } = p;

  // Witnesses: completed operations that, placed between a source of x and its reader,
  // contradict the value being x throughout: writes (label -2: against every value) and
  // reads of y (label y: against every value but y), by invocation. For each suffix: the
  // first to complete (first[k]) and the first to complete among those labelled otherwise
  // than it (second[k]).
  const witnesses: number[] = [];
  const label = new Int32Array(n);
  const failedCas: number[][] = Array.from({ length: p.values }, () => []);
  for (let i = 0; i < n; i++) {
    if (ret[i] === Infinity) continue;
    const k = kind[i];
    if (k === STEP_WRITE || k === STEP_CAS) label[i] = -2;
    else if (k === STEP_READ) label[i] = a[i] as number;
    else {
      if (k === STEP_CAS_FAILED) failedCas[a[i] as number]?.push(i);
      continue;
    }
    witnesses.push(i); // ids ascend with invocation
  }
  const m = witnesses.length;
  const first = new Int32Array(m + 1).fill(-1);
  const second = new Int32Array(m + 1).fill(-1);
  for (let k = m - 1; k >= 0; k--) {
    const w = witnesses[k] as number;
    let f = first[k + 1] as number;
    let s = second[k + 1] as number;
    if (f < 0 || (ret[w] as number) < (ret[f] as number)) {
      // The old first is the best labelled otherwise than w, if its label differs.
      if (f >= 0 && label[f] !== label[w]) s = f;
      f = w;
    } else if (label[w] !== label[f] && (s < 0 || (ret[w] as number) < (ret[s] as number))) {
      s = w;
    }
    first[k] = f;
    second[k] = s;
  }
  // Failed cas expecting x contradict x too: per expected value, suffix minima of completion.
  const failedFirst = failedCas.map((list) => {
    const best = new Int32Array(list.length + 1).fill(-1);
    for (let k = list.length - 1; k >= 0; k--) {
      const c = list[k] as number;
      const f = best[k + 1] as number;
      best[k] = f < 0 || (ret[c] as number) < (ret[f] as number) ? c : f;
    }
    return best;
  });
  const firstInvokedAfter = (list: readonly number[], t: number): number => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((call[list[mid] as number] as number) > t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  /** The first-completing witness against x among operations invoked after t. */
  const witnessAfter = (t: number, x: number): number => {
    const k = firstInvokedAfter(witnesses, t);
    const f = first[k] as number;
    const w = f >= 0 && label[f] !== x ? f : (second[k] as number);
    const list = failedCas[x] as number[];
    const c = (failedFirst[x] as Int32Array)[firstInvokedAfter(list, t)] as number;
    if (c >= 0 && (w < 0 || (ret[c] as number) < (ret[w] as number))) return c;
    return w;
  };

  // Producers of each value by invocation, with prefix maxima of completion.
  const byValue: number[][] = Array.from({ length: p.values }, () => []);
  for (let i = 0; i < n; i++) {
    const k = kind[i];
    if (k === STEP_WRITE) byValue[a[i] as number]?.push(i);
    else if (k === STEP_CAS || k === STEP_CAS_UNKNOWN) byValue[b[i] as number]?.push(i);
  }
  const latest = byValue.map((list) => {
    const best = new Int32Array(list.length);
    let cur = -1;
    list.forEach((op, j) => {
      if (cur < 0 || (ret[op] as number) > (ret[cur] as number)) cur = op;
      best[j] = cur;
    });
    return best;
  });

  let found: UnsourcedRead | undefined;
  for (let r = 0; r < n; r++) {
    const k = kind[r];
    if (k !== STEP_READ && k !== STEP_CAS) continue;
    if (found !== undefined && (ret[r] as number) >= (ret[found.reader] as number)) continue;
    const x = a[r] as number;
    const list = byValue[x] as number[];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((call[list[mid] as number] as number) < (ret[r] as number)) lo = mid + 1;
      else hi = mid;
    }
    let source = lo > 0 ? ((latest[x] as Int32Array)[lo - 1] as number) : undefined;
    let sourceRet = source === undefined ? -Infinity : (ret[source] as number);
    if (source === undefined && x === p.initial) {
      source = -1;
    } else if (source === undefined) {
      found = { reader: r, source: undefined, witness: undefined };
      continue;
    }
    if (sourceRet === Infinity) continue;
    if (source === -1) sourceRet = -Infinity;
    const w = witnessAfter(sourceRet, x);
    if (w >= 0 && (ret[w] as number) < (call[r] as number)) {
      found = { reader: r, source, witness: w };
    }
  }
  return found;
}
