/**
 * A generator of linearizable key-value histories: concurrent clients against a simulated
 * store that applies each operation atomically at a point chosen uniformly inside the
 * operation's interval. Deterministic for a seed; times are virtual milliseconds.
 *
 * Each client loops: think, invoke a random operation on a random key, wait its latency,
 * complete. Written values are unique (`v1`, `v2`, …). A cas expects the value the client
 * last saw for the key. Failed operations take no effect. An operation of unknown outcome
 * takes effect with probability ½, at a point up to three latencies after its invocation
 * (possibly after its info event); its client carries on regardless.
 */
import { Prng, type Seed } from '../prng.js';
import type { HistoryEvent, KvOp, KvValue } from './history.js';
import { kv } from './history.js';

export interface SimulatedKvOptions {
  readonly seed: Seed;
  /** Operations in total. */
  readonly ops: number;
  readonly clients: number;
  readonly keys: number;
  /** Relative weights of the operation kinds. Default get 50, put 30, delete 5, cas 15. */
  readonly mix?: {
    readonly get: number;
    readonly put: number;
    readonly delete: number;
    readonly cas: number;
  };
  /** Operation latency range in ms. Default [0.5, 10]. */
  readonly latencyMs?: readonly [min: number, max: number];
  /** Pause between a client's operations, range in ms. Default [0, 5]. */
  readonly thinkMs?: readonly [min: number, max: number];
  /** Probability that an operation fails (no effect). Default 0. */
  readonly failRate?: number;
  /** Probability that an operation's outcome is unknown. Default 0. */
  readonly infoRate?: number;
}

interface SimEvent {
  readonly time: number;
  readonly seq: number;
  readonly type: 'invoke' | 'apply' | 'complete';
  readonly client: number;
}

/** A binary min-heap on (time, seq). */
class EventQueue {
  readonly #items: SimEvent[] = [];
  get size(): number {
    return this.#items.length;
  }
  push(e: SimEvent): void {
    const a = this.#items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, a[p] as SimEvent)) break;
      a[i] = a[p] as SimEvent;
      i = p;
    }
    a[i] = e;
  }
  pop(): SimEvent {
    const a = this.#items;
    const top = a[0] as SimEvent;
    const last = a.pop() as SimEvent;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && before(a[r] as SimEvent, a[l] as SimEvent) ? r : l;
        if (!before(a[c] as SimEvent, last)) break;
        a[i] = a[c] as SimEvent;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

function before(x: SimEvent, y: SimEvent): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq);
}

interface Pending {
  op: KvOp;
  fate: 'ok' | 'fail' | 'info';
  result: KvValue | boolean | undefined;
}

/** Generates a linearizable history (events with virtual times) as described above. */
export function simulateKvHistory(options: SimulatedKvOptions): HistoryEvent[] {
  const prng = Prng.derive(options.seed, 'simulate-kv');
  const mix = options.mix ?? { get: 50, put: 30, delete: 5, cas: 15 };
  const [latMin, latMax] = options.latencyMs ?? [0.5, 10];
  const [thinkMin, thinkMax] = options.thinkMs ?? [0, 5];
  const failRate = options.failRate ?? 0;
  const infoRate = options.infoRate ?? 0;
  const keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);
  const store = new Map<string, string>();
  const lastSeen: Map<string, KvValue>[] = [];
  const pending: (Pending | undefined)[] = [];
  const queue = new EventQueue();
  const events: HistoryEvent[] = [];
  const applies = new Map<number, Pending>();
  let seq = 0;
  let invoked = 0;
  let nextValue = 1;

  for (let c = 0; c < options.clients; c++) {
    lastSeen.push(new Map());
    pending.push(undefined);
    queue.push({
      time: prng.floatBetween(thinkMin, thinkMax),
      seq: seq++,
      type: 'invoke',
      client: c,
    });
  }

  const chooseOp = (c: number): KvOp => {
    const key = prng.pick(keys);
    let r = prng.float() * (mix.get + mix.put + mix.delete + mix.cas);
    if ((r -= mix.get) < 0) return kv.get(key);
    if ((r -= mix.put) < 0) return kv.put(key, `v${nextValue++}`);
    if ((r -= mix.delete) < 0) return kv.delete(key);
    return kv.cas(key, lastSeen[c]?.get(key) ?? null, `v${nextValue++}`);
  };

  const apply = (p: Pending): void => {
    const op = p.op;
    const current = store.get(op.key) ?? null;
    const set = (v: KvValue): void => {
      if (v === null) store.delete(op.key);
      else store.set(op.key, v);
    };
    switch (op.f) {
      case 'get':
        p.result = current;
        break;
      case 'put':
        set(op.value);
        break;
      case 'delete':
        set(null);
        break;
      case 'cas':
        p.result = current === op.expected;
        if (p.result) set(op.value);
        break;
    }
  };

  while (queue.size > 0) {
    const e = queue.pop();
    const c = e.client;
    if (e.type === 'invoke') {
      if (invoked >= options.ops) continue;
      invoked++;
      const op = chooseOp(c);
      const roll = prng.float();
      const fate = roll < failRate ? 'fail' : roll < failRate + infoRate ? 'info' : 'ok';
      const p: Pending = { op, fate, result: undefined };
      pending[c] = p;
      events.push({ kind: 'invoke', process: c, op, time: e.time });
      const latency = prng.floatBetween(latMin, latMax);
      if (fate === 'ok' || (fate === 'info' && prng.chance(0.5))) {
        const horizon = fate === 'ok' ? latency : 3 * latency;
        const at = e.time + prng.float() * horizon;
        const s = seq++;
        applies.set(s, p);
        queue.push({ time: at, seq: s, type: 'apply', client: c });
      }
      queue.push({ time: e.time + latency, seq: seq++, type: 'complete', client: c });
    } else if (e.type === 'apply') {
      const p = applies.get(e.seq) as Pending;
      applies.delete(e.seq);
      apply(p);
    } else {
      const p = pending[c] as Pending;
      pending[c] = undefined;
      if (p.fate === 'ok') {
        const op = p.op;
        if (op.f === 'get' || op.f === 'cas') {
          events.push({
            kind: 'ok',
            process: c,
            result: p.result as KvValue | boolean,
            time: e.time,
          });
        } else {
          events.push({ kind: 'ok', process: c, time: e.time });
        }
        const seen = lastSeen[c] as Map<string, KvValue>;
        if (op.f === 'get') seen.set(op.key, p.result as KvValue);
        else if (op.f === 'put') seen.set(op.key, op.value);
        else if (op.f === 'delete') seen.set(op.key, null);
        else if (p.result === true) seen.set(op.key, op.value);
      } else {
        events.push({ kind: p.fate, process: c, time: e.time });
      }
      queue.push({
        time: e.time + prng.floatBetween(thinkMin, thinkMax),
        seq: seq++,
        type: 'invoke',
        client: c,
      });
    }
  }
  return events;
}
