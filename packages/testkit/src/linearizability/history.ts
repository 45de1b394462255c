/**
 * Histories of key-value operations: the event shapes the linearizability checker reads, a
 * recorder that produces them, and the validation that turns events into operations.
 *
 * A history is a list of events in real-time order (the order of the array is the order in
 * which things happened; `time` fields are only for humans). Every operation is an `invoke`
 * followed later by exactly one completion from the same process:
 *
 * - `ok`: the operation took effect once, between its invocation and this event, with
 *   `result` (get: the value or null; cas: whether it swapped; put/delete: no result).
 * - `fail`: the operation definitely did not take effect. The checker drops it.
 * - `info`: the outcome is unknown (a timeout, a lost connection). The operation may have
 *   taken effect at any instant after its invocation, even after the info event, or never;
 *   its result is unknown.
 *
 * A process has at most one operation outstanding: a second `invoke` before the completion
 * is malformed. An `info` completion closes the process's operation, so the process may
 * invoke again; the unknown operation stays concurrent with everything that follows. (Jepsen
 * retires a process after an info; recording with fresh process numbers is equally valid.)
 * Operations still outstanding at the end of the history are treated as `info`.
 */

/** A register value; null means the key is absent. */
export type KvValue = string | null;

export type GetOp = { readonly f: 'get'; readonly key: string };
export type PutOp = { readonly f: 'put'; readonly key: string; readonly value: string };
export type DeleteOp = { readonly f: 'delete'; readonly key: string };
/** Sets the key to `value` (null deletes) iff its current value is `expected` (null: absent). */
export type CasOp = {
  readonly f: 'cas';
  readonly key: string;
  readonly expected: KvValue;
  readonly value: KvValue;
};
export type KvOp = GetOp | PutOp | DeleteOp | CasOp;

/** The result an `ok` completion carries for an operation: get → value, cas → swapped. */
export type KvResultOf<O extends KvOp> = O extends GetOp
  ? KvValue
  : O extends CasOp
    ? boolean
    : undefined;

/** Constructors for operations: `kv.get('a')`, `kv.cas('a', null, 'x')`. */
export const kv = {
  get: (key: string): GetOp => ({ f: 'get', key }),
  put: (key: string, value: string): PutOp => ({ f: 'put', key, value }),
  delete: (key: string): DeleteOp => ({ f: 'delete', key }),
  cas: (key: string, expected: KvValue, value: KvValue): CasOp => ({
    f: 'cas',
    key,
    expected,
    value,
  }),
} as const;

export interface InvokeEvent {
  readonly kind: 'invoke';
  readonly process: number;
  readonly op: KvOp;
  /** When it happened, in any monotonic unit (virtual or wall-clock ms); for reports only. */
  readonly time?: number;
}
export interface OkEvent {
  readonly kind: 'ok';
  readonly process: number;
  /** Required for get (value or null) and cas (boolean); absent for put and delete. */
  readonly result?: KvValue | boolean;
  readonly time?: number;
}
export interface FailEvent {
  readonly kind: 'fail';
  readonly process: number;
  readonly time?: number;
}
export interface InfoEvent {
  readonly kind: 'info';
  readonly process: number;
  readonly time?: number;
}
export type HistoryEvent = InvokeEvent | OkEvent | FailEvent | InfoEvent;

export type MalformedHistoryCode =
  /** A completion from a process with no outstanding invocation. */
  | 'ERR_LIN_NO_INVOKE'
  /** An invocation from a process whose previous operation has not completed. */
  | 'ERR_LIN_DOUBLE_INVOKE'
  /** An event whose `kind` is not invoke, ok, fail or info. */
  | 'ERR_LIN_UNKNOWN_EVENT'
  /** An operation whose `f` is unknown, or whose key or values have the wrong type. */
  | 'ERR_LIN_BAD_OP'
  /** An `ok` whose result does not fit the operation (e.g. a get without a value). */
  | 'ERR_LIN_BAD_RESULT'
  /** A process id that is not a safe integer. */
  | 'ERR_LIN_BAD_PROCESS'
  /** A `time` earlier than the previous event's (clocks must be monotonic). */
  | 'ERR_LIN_TIME_ORDER'
  /** A recorder handle completed twice. */
  | 'ERR_LIN_ALREADY_COMPLETED';

/** The history cannot be checked because it is not well formed. */
export class MalformedHistoryError extends Error {
  constructor(
    readonly code: MalformedHistoryCode,
    message: string,
    /** Index of the offending event in the history, when there is one. */
    readonly eventIndex?: number,
  ) {
    super(eventIndex === undefined ? message : `event ${eventIndex}: ${message}`);
    this.name = 'MalformedHistoryError';
  }
}

/** One operation of a history, paired up from its invocation and completion. */
export interface HistoryOp {
  /** Position among the history's operations, in invocation order (0-based). */
  readonly id: number;
  readonly process: number;
  readonly op: KvOp;
  /** How it completed; `info` also for operations still outstanding at the end. */
  readonly outcome: 'ok' | 'fail' | 'info';
  /** The `ok` result; undefined for put/delete and for fail/info. */
  readonly result: KvValue | boolean | undefined;
  /** Index of the invoke event in the history. */
  readonly invokeIndex: number;
  /** Index of the completion event; Infinity when the outcome is info (it never returned). */
  readonly completeIndex: number;
  readonly invokeTime?: number;
  readonly completeTime?: number;
}

function isValue(v: unknown): v is KvValue {
  return v === null || typeof v === 'string';
}

function validateOp(op: unknown, index: number): KvOp {
  const bad = (why: string): never => {
    throw new MalformedHistoryError('ERR_LIN_BAD_OP', why, index);
  };
  if (typeof op !== 'object' || op === null) return bad('invoke without an op');
  const o = op as Record<string, unknown>;
  if (typeof o['key'] !== 'string') return bad(`op key must be a string, got ${typeof o['key']}`);
  switch (o['f']) {
    case 'get':
    case 'delete':
      return op as KvOp;
    case 'put':
      if (typeof o['value'] !== 'string') return bad('put value must be a string');
      return op as KvOp;
    case 'cas':
      if (!isValue(o['expected'])) return bad('cas expected must be a string or null');
      if (!isValue(o['value'])) return bad('cas value must be a string or null');
      return op as KvOp;
    default:
      return bad(`unknown op f=${JSON.stringify(o['f'])}`);
  }
}

function validateResult(op: KvOp, result: unknown, index: number): KvValue | boolean | undefined {
  const bad = (want: string): never => {
    throw new MalformedHistoryError(
      'ERR_LIN_BAD_RESULT',
      `ok for ${op.f} must carry ${want}, got ${JSON.stringify(result)}`,
      index,
    );
  };
  switch (op.f) {
    case 'get':
      return isValue(result) ? result : bad('a string or null');
    case 'cas':
      return typeof result === 'boolean' ? result : bad('a boolean');
    case 'put':
    case 'delete':
      return result === undefined ? undefined : bad('no result');
  }
}

interface Open {
  id: number;
  op: KvOp;
  invokeIndex: number;
  invokeTime: number | undefined;
}

/**
 * Validates a history and pairs its events into operations, in invocation order.
 * Throws {@link MalformedHistoryError} on the first malformed event.
 */
export function parseHistory(events: readonly HistoryEvent[]): HistoryOp[] {
  const open = new Map<number, Open>();
  const ops: (HistoryOp | undefined)[] = [];
  let lastTime = -Infinity;
  const close = (
    o: Open,
    process: number,
    outcome: HistoryOp['outcome'],
    result: KvValue | boolean | undefined,
    completeIndex: number,
    completeTime: number | undefined,
  ): void => {
    ops[o.id] = {
      id: o.id,
      process,
      op: o.op,
      outcome,
      result,
      invokeIndex: o.invokeIndex,
      completeIndex: outcome === 'info' ? Infinity : completeIndex,
      ...(o.invokeTime === undefined ? {} : { invokeTime: o.invokeTime }),
      ...(completeTime === undefined ? {} : { completeTime }),
    };
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as HistoryEvent;
    if (typeof e !== 'object' || e === null) {
      throw new MalformedHistoryError('ERR_LIN_UNKNOWN_EVENT', 'event is not an object', i);
    }
    if (!Number.isSafeInteger(e.process)) {
      throw new MalformedHistoryError(
        'ERR_LIN_BAD_PROCESS',
        `process must be a safe integer, got ${JSON.stringify(e.process)}`,
        i,
      );
    }
    if (e.time !== undefined) {
      if (typeof e.time !== 'number' || Number.isNaN(e.time) || e.time < lastTime) {
        throw new MalformedHistoryError(
          'ERR_LIN_TIME_ORDER',
          `time ${String(e.time)} is earlier than the previous event's ${lastTime}`,
          i,
        );
      }
      lastTime = e.time;
    }
    const kind: string = e.kind;
    switch (e.kind) {
      case 'invoke': {
        const prev = open.get(e.process);
        if (prev !== undefined) {
          throw new MalformedHistoryError(
            'ERR_LIN_DOUBLE_INVOKE',
            `process ${e.process} invoked while its operation from event ${prev.invokeIndex} is outstanding`,
            i,
          );
        }
        const op = validateOp(e.op, i);
        open.set(e.process, { id: ops.length, op, invokeIndex: i, invokeTime: e.time });
        ops.push(undefined);
        break;
      }
      case 'ok':
      case 'fail':
      case 'info': {
        const o = open.get(e.process);
        if (o === undefined) {
          throw new MalformedHistoryError(
            'ERR_LIN_NO_INVOKE',
            `${e.kind} from process ${e.process}, which has no outstanding invocation`,
            i,
          );
        }
        open.delete(e.process);
        const result = e.kind === 'ok' ? validateResult(o.op, e.result, i) : undefined;
        close(o, e.process, e.kind, result, i, e.time);
        break;
      }
      default:
        throw new MalformedHistoryError(
          'ERR_LIN_UNKNOWN_EVENT',
          `unknown event kind ${JSON.stringify(kind)}`,
          i,
        );
    }
  }
  for (const [process, o] of open) close(o, process, 'info', undefined, Infinity, undefined);
  return ops as HistoryOp[];
}

/** The handle of a recorded invocation: complete it exactly once. */
export interface OpHandle<O extends KvOp = KvOp> {
  readonly process: number;
  readonly op: O;
  /** The operation took effect; get and cas pass their result, put and delete nothing. */
  ok(...result: O extends PutOp | DeleteOp ? [] : [result: KvResultOf<O>]): void;
  /** The operation definitely did not take effect. */
  fail(): void;
  /** The outcome is unknown (timeout, crash): it may or may not have taken effect. */
  info(): void;
}

export interface HistoryRecorderOptions {
  /**
   * Time source stamped on every event, e.g. `() => clock.now()` for a virtual clock or
   * `() => performance.now()` for wall-clock tests. Must be monotonic. Default: no times.
   */
  readonly now?: () => number;
}

/**
 * Records a history as it happens. Events are appended in call order, which must be the
 * real-time order: call `invoke` just before sending a request and complete the handle as
 * soon as the response (or timeout) is seen. Misuse throws {@link MalformedHistoryError}.
 */
export class HistoryRecorder {
  readonly #events: HistoryEvent[] = [];
  readonly #outstanding = new Set<number>();
  readonly #now: (() => number) | undefined;

  constructor(options: HistoryRecorderOptions = {}) {
    this.#now = options.now;
  }

  /** The events recorded so far (a live, read-only view). */
  get events(): readonly HistoryEvent[] {
    return this.#events;
  }

  invoke<O extends KvOp>(process: number, op: O): OpHandle<O> {
    const index = this.#events.length;
    if (!Number.isSafeInteger(process)) {
      throw new MalformedHistoryError('ERR_LIN_BAD_PROCESS', `bad process ${process}`, index);
    }
    if (this.#outstanding.has(process)) {
      throw new MalformedHistoryError(
        'ERR_LIN_DOUBLE_INVOKE',
        `process ${process} invoked while its previous operation is outstanding`,
        index,
      );
    }
    validateOp(op, index);
    this.#outstanding.add(process);
    this.#push({ kind: 'invoke', process, op });
    let done = false;
    const complete = (event: HistoryEvent): void => {
      if (done) {
        throw new MalformedHistoryError(
          'ERR_LIN_ALREADY_COMPLETED',
          `operation invoked at event ${index} completed twice`,
          this.#events.length,
        );
      }
      done = true;
      this.#outstanding.delete(process);
      this.#push(event);
    };
    return {
      process,
      op,
      ok: (...result: unknown[]) => {
        const r = result[0];
        if (op.f === 'get' || op.f === 'cas') {
          validateResult(op, r, this.#events.length);
          complete({ kind: 'ok', process, result: r as KvValue | boolean });
        } else {
          complete({ kind: 'ok', process });
        }
      },
      fail: () => complete({ kind: 'fail', process }),
      info: () => complete({ kind: 'info', process }),
    };
  }

  #push(event: HistoryEvent): void {
    this.#events.push(this.#now === undefined ? event : { ...event, time: this.#now() });
  }
}
