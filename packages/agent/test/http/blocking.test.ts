// Blocking reads under load: every parked read stays bounded by its ?wait= (even when the
// garbage collector runs while it is parked), ends holding no timer, listener or watch, and a
// change that wakes many resumes them in batches rather than in one event-loop turn.
import test from 'ava';
import { getEventListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MessageType, StateStore, type WatchSet } from '@trellis/state';
import { Parking, type ParkOutcome } from '../../src/http/parking.js';
import { serve, until } from './helpers.js';

/** A full, synchronous garbage collection (the test process is not started with --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

test('a parked blocking GET still times out after ?wait when a full GC runs while it is parked', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('gc', '1');
  const pending = s.call('GET', `/v1/kv/gc?index=${idx}&wait=300ms`);
  await until(() => s.backend.store.watchStats().parked === 1);
  collectGarbage();
  collectGarbage();
  // A lost timer would park the read until the client gives up: bound the wait well past
  // 300 ms + 300/16 ms of jitter.
  let bound: NodeJS.Timeout | undefined;
  const lost = new Promise<'lost'>((resolve) => {
    bound = setTimeout(() => resolve('lost'), 10_000);
  });
  const r = await Promise.race([pending, lost]);
  clearTimeout(bound);
  if (r === 'lost') return t.fail('the parked read was not answered when its wait ended');
  t.is(r.status, 200);
  t.is(r.headers['x-consul-index'], String(idx));
  t.is(s.backend.store.watchStats().parked, 0);
});

// ---------------------------------------------------------------- Parking

/** A store with key `k` and a watch set on it, as a blocking GET leaves it before parking. */
function parkedOnK(): { store: StateStore; ws: WatchSet; put: (v: string) => void } {
  const store = new StateStore();
  const put = (v: string): void => {
    const r = store.applyCommand(store.lastIndex + 1, {
      type: MessageType.KVS,
      now: 0,
      body: { Op: 'set', DirEnt: { Key: 'k', Flags: 0, Value: Buffer.from(v) } },
    });
    if (!r.ok) throw r.error;
  };
  put('1');
  const ws = store.watchSet();
  store.kvGet('k', ws);
  return { store, ws, put };
}

/** One event-loop turn: runs after the setImmediate callbacks already queued (and their microtasks). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const ends: Array<
  [ParkOutcome, (h: { ac: AbortController; put: (v: string) => void }) => void, number]
> = [
  ['changed', ({ put }) => put('2'), 60_000],
  ['gone', ({ ac }) => ac.abort(), 60_000],
  ['timeout', () => {}, 20],
];
for (const [outcome, end, waitMs] of ends) {
  test(`a parked read that ends ${outcome} holds no timer, listener or watch afterwards`, async (t) => {
    const parking = new Parking();
    const { store, ws, put } = parkedOnK();
    const ac = new AbortController();
    const pending = parking.wait(ws, performance.now() + waitMs, ac.signal);
    t.deepEqual(parking.stats(), { parked: 1, waking: 0 });
    t.is(getEventListeners(ac.signal, 'abort').length, 1);
    t.is(store.watchStats().parked, 1);
    end({ ac, put });
    t.is(await pending, outcome);
    t.deepEqual(parking.stats(), { parked: 0, waking: 0 });
    t.is(getEventListeners(ac.signal, 'abort').length, 0);
    t.deepEqual(store.watchStats(), { parked: 0, channels: 0 });
  });
}

test('a deadline already passed or a client already gone does not park', async (t) => {
  const parking = new Parking();
  const a = parkedOnK();
  t.is(await parking.wait(a.ws, performance.now() - 1, new AbortController().signal), 'timeout');
  t.deepEqual(a.store.watchStats(), { parked: 0, channels: 0 });
  const b = parkedOnK();
  t.is(await parking.wait(b.ws, performance.now() + 60_000, AbortSignal.abort()), 'gone');
  t.deepEqual(b.store.watchStats(), { parked: 0, channels: 0 });
  t.deepEqual(parking.stats(), { parked: 0, waking: 0 });
});

test('reads woken by one change resume at most wakeBatch per event-loop turn, in wake order', async (t) => {
  const parking = new Parking(2);
  const store = new StateStore();
  const put = (v: string): void => {
    store.applyCommand(store.lastIndex + 1, {
      type: MessageType.KVS,
      now: 0,
      body: { Op: 'set', DirEnt: { Key: 'k', Flags: 0, Value: Buffer.from(v) } },
    });
  };
  put('1');
  const resumed: number[] = [];
  const ac = new AbortController();
  const all = Array.from({ length: 5 }, (_, i) => {
    const ws = store.watchSet();
    store.kvGet('k', ws);
    return parking.wait(ws, performance.now() + 60_000, ac.signal).then((o) => {
      resumed.push(i);
      return o;
    });
  });
  put('2');
  const seen: number[][] = [];
  for (let i = 0; i < 4; i++) {
    await turn();
    seen.push([...resumed]);
  }
  // None in the commit's own turn (the first is queued before the wake-ups are), then two a turn.
  t.deepEqual(seen, [[], [0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4]]);
  t.deepEqual(await Promise.all(all), ['changed', 'changed', 'changed', 'changed', 'changed']);
  t.deepEqual(parking.stats(), { parked: 0, waking: 0 });
});

test('a client gone while its woken read waits for its turn gets nothing answered', async (t) => {
  const parking = new Parking(1);
  const { ws, put } = parkedOnK();
  const other = parkedOnK();
  const ac = new AbortController();
  const first = parking.wait(other.ws, performance.now() + 60_000, new AbortController().signal);
  const second = parking.wait(ws, performance.now() + 60_000, ac.signal);
  other.put('2');
  put('2');
  ac.abort();
  t.is(await first, 'changed');
  t.is(await second, 'gone');
});

test('parked GETs of one key, with and without ?pretty, each answer their own encoding of the new entry', async (t) => {
  const s = await serve(t.teardown);
  const idx = s.backend.put('m', '1');
  const plain = s.call('GET', `/v1/kv/m?index=${idx}`);
  const pretty = s.call('GET', `/v1/kv/m?index=${idx}&pretty`);
  const again = s.call('GET', `/v1/kv/m?index=${idx}`);
  await until(() => s.backend.store.watchStats().parked === 3);
  s.backend.put('m', '<2>');
  const entry = {
    LockIndex: 0,
    Key: 'm',
    Flags: 0,
    Value: Buffer.from('<2>').toString('base64'),
    CreateIndex: idx,
    ModifyIndex: idx + 1,
  };
  const [a, b, c] = await Promise.all([plain, pretty, again]);
  t.is(a.text, JSON.stringify([entry]));
  t.is(c.text, a.text);
  t.is(b.text, `${JSON.stringify([entry], null, 4)}\n`);
  for (const r of [a, b, c]) {
    t.is(r.headers['content-type'], 'application/json');
    t.is(r.headers['x-consul-index'], String(idx + 1));
  }
});
