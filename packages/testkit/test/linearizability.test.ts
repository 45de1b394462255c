import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Prng } from '../src/prng.js';
import {
  HistoryRecorder,
  MalformedHistoryError,
  checkLinearizability,
  kv,
  parseHistory,
  simulateKvHistory,
} from '../src/linearizability.js';
import type {
  MalformedHistoryCode,
  HistoryEvent,
  HistoryOp,
  KvOp,
  KvValue,
  LinearizabilityResult,
  Violation,
} from '../src/linearizability.js';

// ---------------------------------------------------------------------------------------
// Event shorthands. Histories are written in real-time order, one event per line.

const inv = (process: number, op: KvOp): HistoryEvent => ({ kind: 'invoke', process, op });
const ok = (process: number, result?: KvValue | boolean): HistoryEvent =>
  result === undefined ? { kind: 'ok', process } : { kind: 'ok', process, result };
const fail = (process: number): HistoryEvent => ({ kind: 'fail', process });
const info = (process: number): HistoryEvent => ({ kind: 'info', process });
/** An operation that completes before anything else happens. */
const seq = (process: number, op: KvOp, result?: KvValue | boolean): HistoryEvent[] => [
  inv(process, op),
  ok(process, result),
];

function assertLinearizable(t: ExecutionContext, history: HistoryEvent[]): void {
  const r = checkLinearizability(history);
  t.is(r.outcome, 'ok', r.outcome === 'ok' ? '' : r.explanation);
}

/** Asserts a violation on `key`, found both with the precheck and by the search alone. */
function assertViolation(t: ExecutionContext, history: HistoryEvent[], key = 'x'): Violation {
  const searched = checkLinearizability(history, { precheck: false });
  t.is(searched.outcome, 'violation', 'by the search alone');
  const r = checkLinearizability(history);
  if (r.outcome !== 'violation') {
    t.fail(`expected a violation, got ${r.outcome}`);
    throw new Error('unreachable');
  }
  t.is(r.key, key);
  if (searched.outcome === 'violation') t.is(searched.key, key);
  return r;
}

// ---------------------------------------------------------------------------------------
// Recording

test('the recorder pairs invocations with completions in call order, with times', (t) => {
  let now = 0;
  const rec = new HistoryRecorder({ now: () => now++ });
  const put = rec.invoke(1, kv.put('x', 'a'));
  const get = rec.invoke(2, kv.get('x'));
  put.ok();
  get.ok('a');
  rec.invoke(3, kv.cas('x', 'a', 'b')).ok(true);
  rec.invoke(4, kv.delete('x')).info();
  rec.invoke(4, kv.get('x')).fail();
  t.deepEqual(rec.events, [
    { kind: 'invoke', process: 1, op: { f: 'put', key: 'x', value: 'a' }, time: 0 },
    { kind: 'invoke', process: 2, op: { f: 'get', key: 'x' }, time: 1 },
    { kind: 'ok', process: 1, time: 2 },
    { kind: 'ok', process: 2, result: 'a', time: 3 },
    { kind: 'invoke', process: 3, op: { f: 'cas', key: 'x', expected: 'a', value: 'b' }, time: 4 },
    { kind: 'ok', process: 3, result: true, time: 5 },
    { kind: 'invoke', process: 4, op: { f: 'delete', key: 'x' }, time: 6 },
    { kind: 'info', process: 4, time: 7 },
    { kind: 'invoke', process: 4, op: { f: 'get', key: 'x' }, time: 8 },
    { kind: 'fail', process: 4, time: 9 },
  ]);
  t.is(checkLinearizability(rec.events).outcome, 'ok');
});

test('the recorder rejects a second invocation on a busy process and a double completion', (t) => {
  const rec = new HistoryRecorder();
  const h = rec.invoke(1, kv.get('x'));
  t.throws(() => rec.invoke(1, kv.get('x')), { code: 'ERR_LIN_DOUBLE_INVOKE' } as never);
  h.ok(null);
  t.throws(() => h.fail(), { code: 'ERR_LIN_ALREADY_COMPLETED' } as never);
  const g = rec.invoke(1, kv.get('x'));
  t.throws(() => (g.ok as (r: unknown) => void)(true), { code: 'ERR_LIN_BAD_RESULT' } as never);
});

// ---------------------------------------------------------------------------------------
// Linearizable histories

test('an empty history is linearizable', (t) => {
  assertLinearizable(t, []);
});

test('sequential put, get, cas and delete behave as a register that starts absent', (t) => {
  assertLinearizable(t, [
    ...seq(1, kv.get('x'), null),
    ...seq(1, kv.put('x', 'a')),
    ...seq(2, kv.get('x'), 'a'),
    ...seq(2, kv.cas('x', 'a', 'b'), true),
    ...seq(1, kv.cas('x', 'a', 'c'), false),
    ...seq(1, kv.get('x'), 'b'),
    ...seq(2, kv.delete('x')),
    ...seq(2, kv.get('x'), null),
    ...seq(1, kv.cas('x', null, 'd'), true),
    ...seq(1, kv.cas('x', 'd', null), true),
    ...seq(1, kv.get('x'), null),
  ]);
});

test('a read overlapping a write may return either the old or the new value', (t) => {
  for (const seen of ['a', 'b']) {
    assertLinearizable(t, [
      ...seq(1, kv.put('x', 'a')),
      inv(1, kv.put('x', 'b')),
      inv(2, kv.get('x')),
      ok(2, seen),
      ok(1),
    ]);
  }
});

test('concurrent writes may take effect in either order, as later reads decide', (t) => {
  for (const last of ['a', 'b']) {
    assertLinearizable(t, [
      inv(1, kv.put('x', 'a')),
      inv(2, kv.put('x', 'b')),
      ok(2),
      ok(1),
      ...seq(3, kv.get('x'), last),
      ...seq(3, kv.get('x'), last),
    ]);
  }
});

test('a read may see a write invoked after the read was', (t) => {
  assertLinearizable(t, [inv(2, kv.get('x')), inv(1, kv.put('x', 'a')), ok(1), ok(2, 'a')]);
});

test('a write of unknown outcome may have taken effect', (t) => {
  assertLinearizable(t, [inv(1, kv.put('x', 'a')), info(1), ...seq(2, kv.get('x'), 'a')]);
});

test('a write of unknown outcome may never take effect', (t) => {
  assertLinearizable(t, [
    inv(1, kv.put('x', 'a')),
    info(1),
    ...seq(2, kv.get('x'), null),
    ...seq(2, kv.get('x'), null),
  ]);
});

test('a write of unknown outcome may take effect long after its info event', (t) => {
  assertLinearizable(t, [
    ...seq(2, kv.put('x', 'a')),
    inv(1, kv.put('x', 'b')),
    info(1),
    ...seq(2, kv.get('x'), 'a'),
    ...seq(1, kv.get('x'), 'a'), // the process carries on after its info
    ...seq(2, kv.get('x'), 'b'),
  ]);
});

test('a cas of unknown outcome may explain a later failed cas', (t) => {
  assertLinearizable(t, [
    ...seq(1, kv.put('x', 'a')),
    inv(2, kv.cas('x', 'a', 'z')),
    info(2),
    ...seq(1, kv.cas('x', 'a', 'b'), false),
  ]);
});

test('a write nobody read, of unknown outcome, may explain a later failed cas', (t) => {
  assertLinearizable(t, [
    ...seq(1, kv.put('x', 'a')),
    inv(2, kv.put('x', 'unseen')),
    info(2),
    ...seq(1, kv.cas('x', 'a', 'b'), false),
  ]);
  // …and it is not required to have happened.
  assertLinearizable(t, [
    ...seq(1, kv.put('x', 'a')),
    inv(2, kv.put('x', 'unseen')),
    info(2),
    ...seq(1, kv.cas('x', 'b', 'c'), false),
    ...seq(1, kv.get('x'), 'a'),
  ]);
});

test('a failed write is dropped: it neither happened nor constrains anything', (t) => {
  assertLinearizable(t, [
    ...seq(1, kv.put('x', 'a')),
    inv(2, kv.put('x', 'b')),
    fail(2),
    ...seq(1, kv.get('x'), 'a'),
  ]);
});

test('operations still outstanding at the end of the history count as unknown outcome', (t) => {
  assertLinearizable(t, [inv(1, kv.put('x', 'a')), ...seq(2, kv.get('x'), 'a')]);
  assertLinearizable(t, [inv(1, kv.put('x', 'a')), ...seq(2, kv.get('x'), null)]);
});

test('keys are independent registers (checked per key)', (t) => {
  assertLinearizable(t, [
    inv(1, kv.put('x', 'a')),
    inv(2, kv.put('y', 'b')),
    ok(1),
    ok(2),
    ...seq(3, kv.get('y'), 'b'),
    ...seq(3, kv.get('x'), 'a'),
    ...seq(3, kv.get('z'), null),
  ]);
});

// ---------------------------------------------------------------------------------------
// Anomalies

test('stale read: a value older than one already observed is read afterwards', (t) => {
  const r = assertViolation(t, [
    ...seq(1, kv.put('x', 'a')),
    ...seq(1, kv.put('x', 'b')),
    ...seq(2, kv.get('x'), 'b'),
    ...seq(3, kv.get('x'), 'a'), // a lagging replica
  ]);
  t.deepEqual(
    r.stuck.map((s) => s.op.id),
    [3],
  );
  t.regex(
    r.stuck[0]?.reason ?? '',
    /returned "a", but after the last write of it \(#0\) .* #1 overwrote it/,
  );
});

test('non-monotonic read: a read sees an older value than a read that completed before it began', (t) => {
  const r = assertViolation(t, [
    ...seq(1, kv.put('x', 'a')),
    inv(1, kv.put('x', 'b')), // still in flight throughout
    inv(2, kv.get('x')),
    ok(2, 'b'),
    inv(3, kv.get('x')),
    ok(3, 'a'),
    ok(1),
  ]);
  t.regex(r.stuck[0]?.reason ?? '', /#2 saw "b"/);
});

test('lost write: an acknowledged write is never seen while later reads see the older value', (t) => {
  assertViolation(t, [
    ...seq(1, kv.put('x', 'a')),
    inv(1, kv.put('x', 'b')),
    inv(2, kv.get('x')),
    ok(2, 'a'),
    ok(1),
    ...seq(2, kv.get('x'), 'a'),
    ...seq(3, kv.get('x'), 'a'),
  ]);
});

test('duplicated write: an overwritten value reappears (a retried write applied twice)', (t) => {
  assertViolation(t, [
    ...seq(1, kv.put('x', 'a')),
    ...seq(2, kv.get('x'), 'a'),
    ...seq(1, kv.put('x', 'b')),
    ...seq(2, kv.get('x'), 'b'),
    ...seq(2, kv.get('x'), 'a'),
  ]);
});

test('read of an aborted write: a value written only by a failed operation is read', (t) => {
  const r = assertViolation(t, [inv(1, kv.put('x', 'a')), fail(1), ...seq(2, kv.get('x'), 'a')]);
  t.regex(r.explanation, /"a" was written only by failed operation\(s\) #0/);
});

test('read of a value nobody wrote', (t) => {
  const r = assertViolation(t, [...seq(1, kv.put('x', 'a')), ...seq(2, kv.get('x'), 'zzz')]);
  t.regex(r.explanation, /no operation that took effect wrote "zzz"/);
});

test('read after delete returns the deleted value', (t) => {
  assertViolation(t, [
    ...seq(1, kv.put('x', 'a')),
    ...seq(1, kv.delete('x')),
    ...seq(2, kv.get('x'), 'a'),
  ]);
});

test('cas anomaly: two concurrent creates both succeed', (t) => {
  assertViolation(t, [
    inv(1, kv.cas('x', null, 'a')),
    inv(2, kv.cas('x', null, 'b')),
    ok(1, true),
    ok(2, true),
  ]);
});

test('cas anomaly: a cas fails although the value was the expected one', (t) => {
  const r = assertViolation(t, [
    ...seq(1, kv.put('x', 'a')),
    ...seq(2, kv.cas('x', 'a', 'b'), false),
  ]);
  t.regex(r.explanation, /failed its compare, but the value is "a", as it expected/);
});

test('cas anomaly: a cas succeeds although the value was not the expected one', (t) => {
  assertViolation(t, [...seq(1, kv.put('x', 'a')), ...seq(2, kv.cas('x', 'b', 'c'), true)]);
});

test('an unknown-outcome write cannot take effect before it was invoked', (t) => {
  assertViolation(t, [...seq(2, kv.get('x'), 'a'), inv(1, kv.put('x', 'a')), info(1)]);
});

test('a violation on one key is reported with that key while other keys are fine', (t) => {
  assertViolation(
    t,
    [
      ...seq(1, kv.put('ok', 'a')),
      ...seq(1, kv.put('bad', 'a')),
      ...seq(1, kv.put('bad', 'b')),
      ...seq(2, kv.get('ok'), 'a'),
      ...seq(2, kv.get('bad'), 'a'),
    ],
    'bad',
  );
});

test('explanation of a read that fits nowhere: the write it read and the one that overwrote it', (t) => {
  const r = assertViolation(t, [
    ...seq(1, kv.put('x', 'a')),
    ...seq(1, kv.put('x', 'b')),
    ...seq(2, kv.get('x'), 'a'),
  ]);
  t.is(
    r.explanation,
    [
      'not linearizable: key "x" (3 operations that may have taken effect)',
      'an operation that fits nowhere:',
      '  #2 p2 get("x") → "a"  [events 4–5]',
      '      returned "a", but after the last write of it (#0) and before this operation began, #1 overwrote it',
      '  the last write of "a" to complete:',
      '    #0 p1 put("x", "a") → ok  [events 0–1]',
      '  an operation that started after that and completed before the reader began:',
      '    #1 p1 put("x", "b") → ok  [events 2–3]',
    ].join('\n'),
  );
});

test('explanation of a search failure: the longest linearizable prefix and why nothing can follow', (t) => {
  const r = assertViolation(t, [
    { kind: 'invoke', process: 1, op: kv.cas('x', null, 'a'), time: 0 },
    { kind: 'invoke', process: 2, op: kv.cas('x', null, 'b'), time: 0.5 },
    { kind: 'ok', process: 1, result: true, time: 1 },
    { kind: 'ok', process: 2, result: true, time: 1.25 },
  ]);
  t.is(
    r.explanation,
    [
      'not linearizable: key "x" (2 operations that may have taken effect)',
      'longest linearizable prefix: 1 operation(s):',
      '  #0 p1 cas("x", null → "a") → true  [events 0–2, t 0–1]',
      'value after the prefix: "a"',
      'no operation can come next:',
      '  #1 p2 cas("x", null → "b") → true  [events 1–3, t 0.5–1.25]',
      '      expected null, but the value is "a" (it completed first, so it must come next at the latest)',
    ].join('\n'),
  );
  t.is(r.valueAfterPrefix, 'a');
  t.deepEqual(
    r.longestPrefix.map((h) => h.id),
    [0],
  );
});

test('the search reports the valid prefix up to the anomaly in a long history', (t) => {
  const events: HistoryEvent[] = [];
  for (let i = 0; i < 100; i++) {
    events.push(...seq(1, kv.put('x', `v${i}`)), ...seq(2, kv.get('x'), `v${i}`));
  }
  events.push(...seq(3, kv.cas('x', 'v98', 'z'), true));
  const r = checkLinearizability(events, { precheck: false });
  if (r.outcome !== 'violation') return t.fail(r.outcome);
  t.is(r.longestPrefix.length, 200);
  t.regex(r.explanation, /expected "v98", but the value is "v99"/);
});

// ---------------------------------------------------------------------------------------
// Time budget

test('an exhausted time budget yields unknown, not a verdict', (t) => {
  const history = simulateKvHistory({ seed: 7, ops: 200, clients: 8, keys: 2 });
  const r = checkLinearizability(history, { timeoutMs: 0 });
  t.is(r.outcome, 'unknown');
  t.false(r.ok);
  if (r.outcome === 'unknown') t.deepEqual([...r.undecidedKeys].sort(), ['k0', 'k1']);
});

// ---------------------------------------------------------------------------------------
// Malformed histories

const malformed: [string, HistoryEvent[], MalformedHistoryCode][] = [
  ['a completion without an invocation', [ok(1)], 'ERR_LIN_NO_INVOKE'],
  [
    'a second invocation while one is outstanding',
    [inv(1, kv.get('x')), inv(1, kv.get('x'))],
    'ERR_LIN_DOUBLE_INVOKE',
  ],
  [
    'an unknown event kind',
    [{ kind: 'done', process: 1 } as unknown as HistoryEvent],
    'ERR_LIN_UNKNOWN_EVENT',
  ],
  [
    'an unknown operation',
    [inv(1, { f: 'append', key: 'x' } as unknown as KvOp)],
    'ERR_LIN_BAD_OP',
  ],
  ['a put without a value', [inv(1, { f: 'put', key: 'x' } as unknown as KvOp)], 'ERR_LIN_BAD_OP'],
  ['a get completed without a value', [inv(1, kv.get('x')), ok(1)], 'ERR_LIN_BAD_RESULT'],
  ['a put completed with a result', [inv(1, kv.put('x', 'a')), ok(1, 'a')], 'ERR_LIN_BAD_RESULT'],
  [
    'a cas completed with a value',
    [inv(1, kv.cas('x', null, 'a')), ok(1, 'a')],
    'ERR_LIN_BAD_RESULT',
  ],
  ['a fractional process id', [inv(1.5, kv.get('x'))], 'ERR_LIN_BAD_PROCESS'],
  [
    'a time earlier than the previous event',
    [
      { kind: 'invoke', process: 1, op: kv.get('x'), time: 5 },
      { kind: 'ok', process: 1, result: null, time: 4 },
    ],
    'ERR_LIN_TIME_ORDER',
  ],
];
for (const [what, history, code] of malformed) {
  test(`malformed history: ${what} is rejected with ${code}`, (t) => {
    const err = t.throws(() => checkLinearizability(history), {
      instanceOf: MalformedHistoryError,
    });
    t.is(err?.code, code);
  });
}

// ---------------------------------------------------------------------------------------
// Properties

/** Makes one read in a linearizable history return a value overwritten before it began. */
function injectStaleRead(history: HistoryEvent[], prng: Prng): HistoryEvent[] | undefined {
  const ops = parseHistory(history);
  const candidates: [get: HistoryOp, stale: string][] = [];
  for (const g of ops) {
    if (g.op.f !== 'get' || g.outcome !== 'ok') continue;
    // w1 put a value; w2, invoked after w1 completed, overwrote it; both before g began.
    for (const w2 of ops) {
      if (w2.op.key !== g.op.key || w2.outcome !== 'ok' || w2.completeIndex > g.invokeIndex) {
        continue;
      }
      if (w2.op.f !== 'put' && w2.op.f !== 'delete' && !(w2.op.f === 'cas' && w2.result === true)) {
        continue;
      }
      const w1 = ops.find(
        (w) =>
          w.op.key === g.op.key &&
          w.op.f === 'put' &&
          w.outcome === 'ok' &&
          w.completeIndex < w2.invokeIndex &&
          w.op.value !== g.result,
      );
      if (w1 !== undefined && w1.op.f === 'put') {
        candidates.push([g, w1.op.value]);
        break;
      }
    }
  }
  if (candidates.length === 0) return undefined;
  const [g, stale] = prng.pick(candidates);
  const out = history.slice();
  out[g.completeIndex] = { kind: 'ok', process: g.process, result: stale };
  return out;
}

test('property: simulated linearizable stores always pass, and an injected stale read is caught', (t) => {
  const runs = 300;
  let caught = 0;
  let searched = 0;
  for (let i = 0; i < runs; i++) {
    const seed = 1000 + i;
    const prng = Prng.derive(seed, 'params');
    const history = simulateKvHistory({
      seed,
      ops: prng.intBetween(20, 400),
      clients: prng.intBetween(1, 12),
      keys: prng.intBetween(1, 3),
      failRate: prng.pick([0, 0.05, 0.2]),
      infoRate: prng.pick([0, 0.05, 0.2]),
      latencyMs: [0.1, prng.pick([1, 5, 20])],
      thinkMs: [0, prng.pick([0.5, 5])],
    });
    const r = checkLinearizability(history, { timeoutMs: 10_000 });
    if (r.outcome !== 'ok') {
      t.fail(`seed ${seed}: valid history reported ${r.outcome}:\n${r.explanation}`);
      return;
    }
    const bad = injectStaleRead(history, prng);
    if (bad === undefined) continue;
    const rb = checkLinearizability(bad, { timeoutMs: 10_000 });
    if (rb.outcome !== 'violation') {
      t.fail(`seed ${seed}: injected stale read reported ${rb.outcome}`);
      return;
    }
    // The search alone must find it too (within the budget on these small histories).
    const rs = checkLinearizability(bad, { timeoutMs: 10_000, precheck: false });
    if (rs.outcome === 'ok') {
      t.fail(`seed ${seed}: the search accepted an injected stale read`);
      return;
    }
    if (rs.outcome === 'violation') searched++;
    caught++;
  }
  t.true(caught > runs / 2, `only ${caught} of ${runs} histories had a stale read to inject`);
  t.true(searched > caught * 0.9, `the search alone decided only ${searched} of ${caught}`);
});

/** Reference checker: tries every order (and every subset of unknown outcomes). */
function bruteForce(history: readonly HistoryEvent[]): boolean {
  const ops = parseHistory(history).filter((h) => h.outcome !== 'fail');
  const keys = new Set(ops.map((h) => h.op.key));
  for (const key of keys) {
    const mine = ops.filter((h) => h.op.key === key);
    const done = mine.map(() => false);
    const search = (value: KvValue, left: number): boolean => {
      if (mine.every((h, i) => done[i] || h.outcome === 'info')) return true;
      if (left === 0) return false;
      for (let i = 0; i < mine.length; i++) {
        const h = mine[i] as HistoryOp;
        if (done[i]) continue;
        // Something not yet linearized completed before h began: it must come first.
        if (mine.some((o, j) => !done[j] && o.completeIndex < h.invokeIndex)) continue;
        let next: KvValue | undefined;
        const op = h.op;
        if (op.f === 'get') next = h.outcome === 'info' || h.result === value ? value : undefined;
        else if (op.f === 'put') next = op.value;
        else if (op.f === 'delete') next = null;
        else if (h.outcome === 'info') next = value === op.expected ? op.value : value;
        else if (h.result === true) next = value === op.expected ? op.value : undefined;
        else next = value !== op.expected ? value : undefined;
        if (next === undefined) continue;
        done[i] = true;
        const found = search(next, left - 1);
        done[i] = false;
        if (found) return true;
      }
      return false;
    };
    if (!search(null, mine.length)) return false;
  }
  return true;
}

/** A random small history: few processes, values and keys; results often impossible. */
function randomHistory(prng: Prng): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const busy = new Map<number, KvOp>();
  const values = ['a', 'b', 'c'];
  const keys = prng.chance(0.7) ? ['x'] : ['x', 'y'];
  let invoked = 0;
  const total = prng.intBetween(1, 7);
  while (invoked < total || busy.size > 0) {
    const p = prng.int(3);
    const op = busy.get(p);
    if (op === undefined) {
      if (invoked >= total) continue;
      const key = prng.pick(keys);
      // Unique values that nothing reads exercise the handling of unobserved writes.
      const written = prng.chance(0.3) ? `u${invoked}` : prng.pick(values);
      const ops: KvOp[] = [
        kv.get(key),
        kv.put(key, written),
        kv.delete(key),
        kv.cas(key, prng.pick([null, ...values]), prng.chance(0.2) ? null : written),
      ];
      const chosen = prng.pick(ops);
      busy.set(p, chosen);
      events.push(inv(p, chosen));
      invoked++;
      continue;
    }
    busy.delete(p);
    const roll = prng.float();
    if (roll < 0.1) events.push(fail(p));
    else if (roll < 0.25) events.push(info(p));
    else if (op.f === 'get') events.push(ok(p, prng.pick([null, ...values])));
    else if (op.f === 'cas') events.push(ok(p, prng.chance(0.5)));
    else events.push(ok(p));
  }
  return events;
}

test('property: the checker agrees with exhaustive search on small random histories', (t) => {
  const prng = (seed: number): Prng => Prng.derive(seed, 'options');
  let linearizable = 0;
  const runs = 6000;
  for (let seed = 0; seed < runs; seed++) {
    const history = randomHistory(new Prng(seed));
    const expected = bruteForce(history);
    const r: LinearizabilityResult = checkLinearizability(history, {
      precheck: prng(seed).chance(0.5),
    });
    if (r.outcome !== (expected ? 'ok' : 'violation')) {
      t.fail(
        `seed ${seed}: checker says ${r.outcome}, exhaustive search says ${expected}\n` +
          JSON.stringify(history),
      );
      return;
    }
    if (expected) linearizable++;
  }
  // Both verdicts must be well represented for the comparison to mean anything.
  t.true(linearizable > runs / 5 && linearizable < (runs * 4) / 5, `${linearizable} of ${runs}`);
});

test('64 clients on one key: a 5,000-operation history is checked within seconds', (t) => {
  const history = simulateKvHistory({
    seed: 42,
    ops: 5000,
    clients: 64,
    keys: 1,
    failRate: 0.01,
    infoRate: 0.01,
  });
  const r = checkLinearizability(history, { timeoutMs: 10_000 });
  t.is(r.outcome, 'ok', r.outcome === 'ok' ? '' : r.explanation);
  t.true(r.elapsedMs < 10_000);
});
