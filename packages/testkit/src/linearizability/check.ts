/**
 * The checker's entry point: validates a history, partitions it per key (a history of
 * independent registers is linearizable iff each key's sub-history is: Herlihy & Wing's
 * locality, which Horn & Kroening call P-compositionality), simplifies each partition and
 * runs the search on it, and explains a failure in terms of the history's own operations.
 *
 * Simplifications, each exact (the partition is linearizable iff the simplified one is):
 * failed operations are dropped (they did not happen); gets of unknown outcome are dropped
 * (they change nothing and constrain nothing); so is a cas of unknown outcome whose new
 * value equals its expected one. Values nobody can observe (no get returned them, no cas
 * expects them) share one id, since nothing tells them apart. A put, delete or cas of unknown
 * outcome writing such a value is dropped if no failed-compare cas completed after its
 * invocation (given a linearization where it took effect, removing it changes only what
 * operations in its wake see, and none of them could tell); otherwise it is kept as a spare
 * (see search.ts).
 */
import type { HistoryEvent, HistoryOp, KvOp, KvValue } from './history.js';
import { parseHistory } from './history.js';
import {
  STEP_CAS,
  STEP_CAS_FAILED,
  STEP_CAS_UNKNOWN,
  STEP_READ,
  STEP_WRITE,
  searchLinearization,
} from './search.js';
import { findUnsourcedRead, type UnsourcedRead } from './precheck.js';

export interface CheckOptions {
  /**
   * Give up after this many milliseconds of checking; the result is then `unknown`.
   * Default: no limit.
   */
  readonly timeoutMs?: number;
  /**
   * Run the quick precheck for reads whose value cannot be current anywhere in their
   * interval before searching (see precheck.ts). It only finds violations sooner; turn it
   * off to exercise the search alone. Default: true.
   */
  readonly precheck?: boolean;
}

/** An operation that could not be linearized after the longest linearizable prefix. */
export interface StuckOp {
  readonly op: HistoryOp;
  /** Why it cannot come next, e.g. `returned "v1", but the value is "v2"`. */
  readonly reason: string;
}

interface ResultBase {
  /** Operations in the history (including failed ones) and keys they touch. */
  readonly operations: number;
  readonly keys: number;
  /** Configurations explored by the search, over all keys. */
  readonly configurations: number;
  readonly elapsedMs: number;
}

export interface Linearizable extends ResultBase {
  readonly outcome: 'ok';
  readonly ok: true;
}

export interface Violation extends ResultBase {
  readonly outcome: 'violation';
  readonly ok: false;
  /** The key whose operations have no linearization. */
  readonly key: string;
  /**
   * A valid linearization of some of the key's operations after which `stuck` cannot come
   * next: the deepest the search reached, extended greedily. (When the quick precheck found
   * the violation, the greedy extension alone.)
   */
  readonly longestPrefix: readonly HistoryOp[];
  /** The key's value after that prefix. */
  readonly valueAfterPrefix: KvValue;
  /** The operations that were candidates to come next, and why none could. */
  readonly stuck: readonly StuckOp[];
  /** A readable multi-line account of all the above. */
  readonly explanation: string;
}

export interface Undecided extends ResultBase {
  readonly outcome: 'unknown';
  readonly ok: false;
  readonly reason: 'timeout';
  /** Keys whose check did not finish (no violation was found in the others). */
  readonly undecidedKeys: readonly string[];
  readonly explanation: string;
}

export type LinearizabilityResult = Linearizable | Violation | Undecided;

const MAX_PREFIX_SHOWN = 8;

/**
 * Checks that a key-value history is linearizable. Throws MalformedHistoryError if the
 * history is not well formed. The precheck runs over every key first, then the search, keys
 * in order of first appearance; checking stops at the first violation.
 */
export function checkLinearizability(
  history: readonly HistoryEvent[],
  options: CheckOptions = {},
): LinearizabilityResult {
  const start = performance.now();
  const deadline = options.timeoutMs === undefined ? Infinity : start + options.timeoutMs;
  const ops = parseHistory(history);
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of ops) {
    let list = byKey.get(op.op.key);
    if (list === undefined) byKey.set(op.op.key, (list = []));
    list.push(op);
  }
  let configurations = 0;
  const undecided: string[] = [];
  const base = (): ResultBase => ({
    operations: ops.length,
    keys: byKey.size,
    configurations,
    elapsedMs: performance.now() - start,
  });
  const parts = [...byKey].map(([key, keyOps]) => ({ key, keyOps, part: encodePartition(keyOps) }));
  if (options.precheck !== false) {
    for (const { key, keyOps, part } of parts) {
      const unsourced = findUnsourcedRead(part);
      if (unsourced !== undefined) {
        return explainUnsourcedRead(key, part, unsourced, keyOps, base());
      }
    }
  }
  for (const { key, keyOps, part } of parts) {
    if (performance.now() >= deadline) {
      undecided.push(key);
      continue;
    }
    const found = searchLinearization({ ...part, deadline });
    configurations += found.configurations;
    if (found.kind === 'timeout') undecided.push(key);
    if (found.kind === 'violation') {
      return explainViolation(key, part, Array.from(found.longestPrefix), keyOps, base());
    }
  }
  if (undecided.length > 0) {
    const shown = undecided.slice(0, 10).map((k) => JSON.stringify(k));
    return {
      ...base(),
      outcome: 'unknown',
      ok: false,
      reason: 'timeout',
      undecidedKeys: undecided,
      explanation:
        `linearizability unknown: time budget of ${options.timeoutMs}ms ran out with ` +
        `${undecided.length} key(s) undecided (${shown.join(', ')}${undecided.length > 10 ? ', …' : ''}); ` +
        `no violation found in the others`,
    };
  }
  return { ...base(), outcome: 'ok', ok: true };
}

interface Partition {
  readonly n: number;
  readonly values: number;
  readonly initial: number;
  readonly spare: Uint8Array;
  readonly kind: Uint8Array;
  readonly a: Int32Array;
  readonly b: Int32Array;
  readonly call: Float64Array;
  readonly ret: Float64Array;
  /** The history operation of each encoded operation. */
  readonly source: readonly HistoryOp[];
  /** Value names by id (index 0 is null). */
  readonly names: readonly KvValue[];
}

function encodePartition(keyOps: readonly HistoryOp[]): Partition {
  // Values someone could observe (a get returned it, a cas expects it), and when the last
  // failed-compare cas completed.
  const observed = new Set<KvValue>();
  let lastFailedCas = -Infinity;
  for (const h of keyOps) {
    if (h.outcome === 'fail') continue;
    if (h.op.f === 'get' && h.outcome === 'ok') observed.add(h.result as KvValue);
    if (h.op.f === 'cas') observed.add(h.op.expected);
    if (h.op.f === 'cas' && h.outcome === 'ok' && h.result === false) {
      lastFailedCas = Math.max(lastFailedCas, h.completeIndex);
    }
  }
  // Observed values get ids of their own; all others share one: nothing tells them apart.
  const ids = new Map<KvValue, number>();
  const names: KvValue[] = [];
  const UNOBSERVED = 0;
  names.push(null); // placeholder name for the shared id, replaced below if null is observed
  const intern = (v: KvValue): number => {
    if (!observed.has(v)) return UNOBSERVED;
    let id = ids.get(v);
    if (id === undefined) {
      id = names.length;
      ids.set(v, id);
      names.push(v);
    }
    return id;
  };
  const written = (op: KvOp): KvValue =>
    op.f === 'put' ? op.value : op.f === 'cas' ? op.value : null;

  const source: HistoryOp[] = [];
  const spareOps = new Set<HistoryOp>();
  for (const h of keyOps) {
    if (h.outcome === 'fail') continue;
    if (h.outcome === 'info') {
      if (h.op.f === 'get') continue;
      if (h.op.f === 'cas' && h.op.expected === h.op.value) continue;
      if (!observed.has(written(h.op))) {
        // Only a failed cas after it could need it (to move the value off its expected one).
        if (!(lastFailedCas > h.invokeIndex)) continue;
        spareOps.add(h);
      }
    }
    source.push(h);
  }

  const n = source.length;
  const kind = new Uint8Array(n);
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  const call = new Float64Array(n);
  const ret = new Float64Array(n);
  const spare = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const h = source[i] as HistoryOp;
    call[i] = h.invokeIndex;
    ret[i] = h.completeIndex;
    if (spareOps.has(h)) spare[i] = 1;
    const op = h.op;
    switch (op.f) {
      case 'get':
        kind[i] = STEP_READ;
        a[i] = intern(h.result as KvValue);
        break;
      case 'put':
        kind[i] = STEP_WRITE;
        a[i] = intern(op.value);
        break;
      case 'delete':
        kind[i] = STEP_WRITE;
        a[i] = intern(null);
        break;
      case 'cas':
        a[i] = intern(op.expected);
        b[i] = intern(op.value);
        if (h.outcome === 'info') kind[i] = STEP_CAS_UNKNOWN;
        else if (h.result === false) kind[i] = STEP_CAS_FAILED;
        else kind[i] = op.expected === op.value ? STEP_READ : STEP_CAS;
        break;
    }
  }
  return {
    n,
    values: names.length,
    initial: intern(null),
    kind,
    a,
    b,
    call,
    ret,
    spare,
    source,
    names,
  };
}

/** The value after applying `order`, a valid linearization: its id and the actual value. */
function replay(part: Partition, order: readonly number[]): [id: number, value: KvValue] {
  let v = part.initial;
  let actual: KvValue = null;
  for (const i of order) {
    const k = part.kind[i];
    const op = (part.source[i] as HistoryOp).op;
    if (k === STEP_WRITE) {
      v = part.a[i] as number;
      actual = op.f === 'put' ? op.value : null;
    } else if (k === STEP_CAS || (k === STEP_CAS_UNKNOWN && v === part.a[i])) {
      v = part.b[i] as number;
      actual = op.f === 'cas' ? op.value : actual;
    }
  }
  return [v, actual];
}

/**
 * Extends a valid linearization greedily with valid steps of completed operations (reads
 * first, then others in invocation order), ignoring whether the search's pruning would have
 * allowed them: the search stops at the first hopeless step, a reader stops at the first
 * impossible one.
 */
function extendPrefix(part: Partition, prefix: number[]): void {
  const done = new Uint8Array(part.n);
  for (const i of prefix) done[i] = 1;
  let [value] = replay(part, prefix);
  for (;;) {
    let due = Infinity;
    for (let i = 0; i < part.n; i++) {
      if (done[i] === 0 && (part.ret[i] as number) < due) due = part.ret[i] as number;
    }
    let pick = -1;
    let pickValue = value;
    for (let i = 0; i < part.n && (part.call[i] as number) < due; i++) {
      if (done[i] === 1 || part.ret[i] === Infinity) continue;
      const k = part.kind[i];
      const ai = part.a[i] as number;
      if (k === STEP_READ ? value === ai : k === STEP_CAS_FAILED && value !== ai) {
        pick = i;
        pickValue = value;
        break;
      }
      if (pick < 0 && (k === STEP_WRITE || (k === STEP_CAS && value === ai))) {
        pick = i;
        pickValue = k === STEP_WRITE ? ai : (part.b[i] as number);
      }
    }
    if (pick < 0) return;
    done[pick] = 1;
    prefix.push(pick);
    value = pickValue;
  }
}

function explainViolation(
  key: string,
  part: Partition,
  prefix: number[],
  keyOps: readonly HistoryOp[],
  base: ResultBase,
): Violation {
  extendPrefix(part, prefix);
  const [value, actual] = replay(part, prefix);
  const name = (id: number): string =>
    id === value ? showValue(actual) : showValue(part.names[id] ?? null);
  const done = new Uint8Array(part.n);
  for (const i of prefix) done[i] = 1;

  // The operation that must come next at the latest (earliest completion), and everything
  // invoked before that completion: the candidates for the next step.
  let barrier = -1;
  for (let i = 0; i < part.n; i++) {
    if (done[i] === 0 && (barrier < 0 || (part.ret[i] as number) < (part.ret[barrier] as number))) {
      barrier = i;
    }
  }
  const barrierRet = barrier < 0 ? Infinity : (part.ret[barrier] as number);
  // When the value must stay for readers: the first completion among outstanding readers
  // of the current value, and the first invocation among outstanding writers of it.
  const readerDue = (except: number): number => {
    let due = Infinity;
    for (let i = 0; i < part.n; i++) {
      const k = part.kind[i];
      if (done[i] === 1 || i === except || part.a[i] !== value) continue;
      if ((k === STEP_READ || k === STEP_CAS) && (part.ret[i] as number) < due) {
        due = part.ret[i] as number;
      }
    }
    return due;
  };
  let writerFirst = Infinity;
  for (let i = 0; i < part.n; i++) {
    const k = part.kind[i];
    const w =
      k === STEP_WRITE ? part.a[i] : k === STEP_CAS || k === STEP_CAS_UNKNOWN ? part.b[i] : -1;
    if (done[i] === 0 && w === value && (part.call[i] as number) < writerFirst) {
      writerFirst = part.call[i] as number;
    }
  }
  const anyWriter = (v: number): boolean => {
    for (let i = 0; i < part.n; i++) {
      const k = part.kind[i];
      if (k === STEP_WRITE && part.a[i] === v) return true;
      if ((k === STEP_CAS || k === STEP_CAS_UNKNOWN) && part.b[i] === v) return true;
    }
    return v === part.initial;
  };
  const neverWritten = (v: number): string =>
    anyWriter(v) ? '' : `; ${failedWritersHint(keyOps, part.names[v] ?? null)}`;

  const stuck: StuckOp[] = [];
  for (let i = 0; i < part.n; i++) {
    if (done[i] === 1 || (part.call[i] as number) > barrierRet) continue;
    const k = part.kind[i];
    const ai = part.a[i] as number;
    let reason: string;
    if (k === STEP_READ && value !== ai) {
      const what = part.source[i]?.op.f === 'get' ? 'returned' : 'expected';
      reason = `${what} ${name(ai)}, but the value is ${name(value)}${neverWritten(ai)}`;
    } else if (k === STEP_CAS && value !== ai) {
      reason = `expected ${name(ai)}, but the value is ${name(value)}${neverWritten(ai)}`;
    } else if (k === STEP_CAS_FAILED && value === ai) {
      reason = `failed its compare, but the value is ${name(value)}, as it expected`;
    } else {
      const changes =
        k === STEP_WRITE
          ? ai !== value
          : k === STEP_CAS || (k === STEP_CAS_UNKNOWN && ai === value && part.b[i] !== ai);
      const due = changes ? readerDue(i) : Infinity;
      if (due < Infinity && !(writerFirst < due)) {
        reason =
          `would overwrite ${name(value)}, which an outstanding operation must still ` +
          `observe, and nothing can write it again in time`;
      } else {
        reason = 'could come next, but no linearization continues from there';
      }
    }
    if (i === barrier) reason += ` (it completed first, so it must come next at the latest)`;
    stuck.push({ op: part.source[i] as HistoryOp, reason });
  }

  const longestPrefix = prefix.map((i) => part.source[i] as HistoryOp);
  const lines = [
    `not linearizable: key ${JSON.stringify(key)} (${part.n} operations that may have taken effect)`,
    `longest linearizable prefix: ${prefix.length} operation(s)` +
      (prefix.length > MAX_PREFIX_SHOWN ? `, the last ${MAX_PREFIX_SHOWN}:` : ':'),
  ];
  if (longestPrefix.length > MAX_PREFIX_SHOWN) lines.push('  …');
  for (const h of longestPrefix.slice(-MAX_PREFIX_SHOWN)) lines.push(`  ${formatOp(h)}`);
  lines.push(`value after the prefix: ${name(value)}`);
  lines.push('no operation can come next:');
  for (const s of stuck) lines.push(`  ${formatOp(s.op)}`, `      ${s.reason}`);
  return {
    ...base,
    outcome: 'violation',
    ok: false,
    key,
    longestPrefix,
    valueAfterPrefix: actual,
    stuck,
    explanation: lines.join('\n'),
  };
}

/** Why nothing wrote `val`: only failed operations did, or none at all. */
function failedWritersHint(keyOps: readonly HistoryOp[], val: KvValue): string {
  const failed = keyOps.filter(
    (h) =>
      h.outcome === 'fail' &&
      ((h.op.f === 'put' && h.op.value === val) ||
        (h.op.f === 'cas' && h.op.value === val) ||
        (h.op.f === 'delete' && val === null)),
  );
  return failed.length > 0
    ? `${showValue(val)} was written only by failed operation(s) ${failed.map((h) => `#${h.id}`).join(', ')}`
    : `no operation that took effect wrote ${showValue(val)}`;
}

function explainUnsourcedRead(
  key: string,
  part: Partition,
  found: UnsourcedRead,
  keyOps: readonly HistoryOp[],
  base: ResultBase,
): Violation {
  const prefix: number[] = [];
  extendPrefix(part, prefix);
  const [, actual] = replay(part, prefix);
  const reader = part.source[found.reader] as HistoryOp;
  const x = part.names[part.a[found.reader] as number] ?? null;
  const what = `${reader.op.f === 'get' ? 'returned' : 'expected'} ${showValue(x)}`;
  let reason: string;
  const detail: string[] = [];
  if (found.source === undefined) {
    reason = `${what}, but nothing wrote it before it completed; ${failedWritersHint(keyOps, x)}`;
  } else {
    const w = part.source[found.witness ?? -1] as HistoryOp;
    const wk = part.kind[found.witness ?? -1];
    const did =
      wk === STEP_READ
        ? `#${w.id} saw ${showValue(part.names[part.a[found.witness ?? -1] as number] ?? null)}`
        : wk === STEP_CAS_FAILED
          ? `#${w.id} found another value`
          : `#${w.id} overwrote it`;
    if (found.source < 0) {
      reason = `${what}, the initial value, but before this operation began, ${did}`;
    } else {
      const src = part.source[found.source] as HistoryOp;
      reason = `${what}, but after the last write of it (#${src.id}) and before this operation began, ${did}`;
      detail.push(`  the last write of ${showValue(x)} to complete:`, `    ${formatOp(src)}`);
    }
    detail.push(
      `  an operation that started after that and completed before the reader began:`,
      `    ${formatOp(w)}`,
    );
  }
  const lines = [
    `not linearizable: key ${JSON.stringify(key)} (${part.n} operations that may have taken effect)`,
    'an operation that fits nowhere:',
    `  ${formatOp(reader)}`,
    `      ${reason}`,
    ...detail,
  ];
  return {
    ...base,
    outcome: 'violation',
    ok: false,
    key,
    longestPrefix: prefix.map((i) => part.source[i] as HistoryOp),
    valueAfterPrefix: actual,
    stuck: [{ op: reader, reason }],
    explanation: lines.join('\n'),
  };
}

function showValue(v: KvValue | boolean | undefined): string {
  return v === undefined ? '?' : JSON.stringify(v);
}

/**
 * One operation on a line: `#12 p3 cas("k", "a" → "b") → true  [events 40–47, t 1.5–2.25]`.
 * Failed operations read `→ fail`, unknown outcomes `→ ?`.
 */
export function formatOp(h: HistoryOp): string {
  const op = h.op;
  const k = JSON.stringify(op.key);
  let call: string;
  switch (op.f) {
    case 'get':
      call = `get(${k})`;
      break;
    case 'put':
      call = `put(${k}, ${showValue(op.value)})`;
      break;
    case 'delete':
      call = `delete(${k})`;
      break;
    case 'cas':
      call = `cas(${k}, ${showValue(op.expected)} → ${showValue(op.value)})`;
      break;
  }
  let outcome: string;
  if (h.outcome === 'fail') outcome = ' → fail';
  else if (h.outcome === 'info') outcome = ' → ?';
  else outcome = h.result === undefined ? ' → ok' : ` → ${showValue(h.result)}`;
  const end = (i: number): string => (i === Infinity ? '∞' : String(i));
  let span = `events ${h.invokeIndex}–${end(h.completeIndex)}`;
  if (h.invokeTime !== undefined) {
    span += `, t ${h.invokeTime}–${h.completeTime === undefined ? '∞' : h.completeTime}`;
  }
  return `#${h.id} p${h.process} ${call}${outcome}  [${span}]`;
}
