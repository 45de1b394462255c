/**
 * Linearizability checking for key-value histories (get, put, delete, compare-and-set).
 *
 * Record a history with {@link HistoryRecorder} (or build the events yourself), then call
 * {@link checkLinearizability}:
 *
 *     const rec = new HistoryRecorder({ now: () => clock.now() });
 *     const h = rec.invoke(1, kv.put('a', 'x'));
 *     // … send the request; on the response:
 *     h.ok();              // or h.fail() (did not happen), h.info() (unknown: timeout)
 *     const r = checkLinearizability(rec.events, { timeoutMs: 10_000 });
 *     if (!r.ok) t.fail(r.explanation);
 *
 * Semantics (see ./linearizability/history.ts for the event contract): `ok` operations took
 * effect once within their interval; `fail` ones never did; `info` ones may have taken
 * effect at any point after invocation, or never, with unknown result. Every key starts
 * absent (null). A process may invoke again after an `info`.
 *
 * The result is `outcome: 'ok'`, `'violation'` (with the key, a linearizable prefix of its
 * operations, the operations that could not come next and why, and a readable
 * `explanation`) or `'unknown'` when the `timeoutMs` budget ran out first. Verdicts are
 * exact (barring a collision of the search memo's 96-bit fingerprints, which could only
 * turn `ok` into a false violation); `unknown` says nothing either way.
 *
 * Method: per-key partitioning (locality) and exact simplifications; then a quick precheck
 * (O(n log n)) for reads whose value cannot be current anywhere in their interval, which
 * catches stale reads, lost and duplicated writes and reads of aborted writes at once; then
 * Wing–Gong–Lowe depth-first search with a memo of explored configurations, as in
 * Porcupine, tried earliest deadline first, plus register-specific reductions (forced
 * read-only steps, pruning steps that strand readers, one representative among
 * interchangeable writes, unobserved unknown-outcome writes tried only where a failed cas
 * needs them). On valid histories the search explores about one configuration per
 * operation even with 64 clients on one key; proving a violation the precheck misses can
 * still take exponential time in the concurrency, hence the budget. Details in
 * ./linearizability/{check,precheck,search}.ts.
 *
 * {@link simulateKvHistory} generates linearizable histories for tests and benchmarks.
 */
export {
  kv,
  parseHistory,
  HistoryRecorder,
  MalformedHistoryError,
  type KvValue,
  type KvOp,
  type GetOp,
  type PutOp,
  type DeleteOp,
  type CasOp,
  type KvResultOf,
  type HistoryEvent,
  type InvokeEvent,
  type OkEvent,
  type FailEvent,
  type InfoEvent,
  type HistoryOp,
  type OpHandle,
  type HistoryRecorderOptions,
  type MalformedHistoryCode,
} from './linearizability/history.js';
export {
  checkLinearizability,
  formatOp,
  type CheckOptions,
  type LinearizabilityResult,
  type Linearizable,
  type Violation,
  type Undecided,
  type StuckOp,
} from './linearizability/check.js';
export { simulateKvHistory, type SimulatedKvOptions } from './linearizability/simulate.js';
