/**
 * TTL checks (Consul's CheckTTL). Negative claims ("nothing more is reported") are checked
 * against a witness: a second TTL runner with a longer TTL, started after the first, whose
 * expiry proves the first one's timer would have fired by then.
 */
import test from 'ava';
import { createRunner, isTtlRunner, type TtlRunner } from '../../src/checks/index.js';
import type { CheckDefinition } from '../../src/local/types.js';
import { Recorder, def } from './helpers.js';

function ttl(over: Partial<CheckDefinition>): { rec: Recorder; runner: TtlRunner } {
  const rec = new Recorder();
  const runner = createRunner(
    { ...def({ kind: 'ttl', TTL: 100 }), ...over, kind: 'ttl' },
    { notify: rec.notify },
  );
  return { rec, runner };
}

/** Resolves when a fresh runner with `ttlMs` expires. */
async function witness(ttlMs: number): Promise<void> {
  const w = ttl({ TTL: ttlMs });
  w.runner.start();
  await w.rec.next();
  w.runner.stop();
}

test('without an update for TTL the check turns critical "TTL expired" (TestCheckTTL)', async (t) => {
  const { rec, runner } = ttl({ TTL: 80 });
  t.teardown(() => runner.stop());
  const started = Date.now();
  runner.start();
  t.is(rec.updates.length, 0, 'starting reports nothing: the check keeps its initial Status');
  const u = await rec.next();
  t.deepEqual([u.status, u.output], ['critical', 'TTL expired']);
  // Slack: Node measures timers from the loop's cached time, a few ms before Date.now().
  t.true(u.at - started >= 70, `expired after ${u.at - started} ms`);
});

test('an update is reported at once, restarts the TTL, and its output is kept through expiry', async (t) => {
  const { rec, runner } = ttl({ TTL: 150 });
  t.teardown(() => runner.stop());
  runner.start();
  t.is(runner.set('passing', 'first'), 'first');
  t.deepEqual([rec.last?.status, rec.last?.output], ['passing', 'first']);
  await witness(60);
  runner.set('warning', 'second');
  const setAt = Date.now();
  const expired = await rec.next((u) => u.status === 'critical');
  t.is(expired.output, 'TTL expired (last output before timeout follows): second');
  t.true(expired.at - setAt >= 140, `the TTL ran from the last update (${expired.at - setAt} ms)`);
  t.deepEqual(
    rec.updates.map((u) => u.status),
    ['passing', 'warning', 'critical'],
  );
});

test('expiry is reported once; the next update starts a new TTL', async (t) => {
  const { rec, runner } = ttl({ TTL: 30 });
  t.teardown(() => runner.stop());
  runner.start();
  await rec.next();
  await witness(120);
  t.is(rec.updates.length, 1);
  runner.set('passing', '');
  await rec.next((u) => u.status === 'critical' && rec.updates.indexOf(u) === 2);
  t.deepEqual(
    rec.updates.map((u) => [u.status, u.output]),
    [
      ['critical', 'TTL expired'],
      ['passing', ''],
      ['critical', 'TTL expired'],
    ],
  );
});

test('update output is truncated to OutputMaxSize as Consul does, and returned as reported', (t) => {
  const { rec, runner } = ttl({ OutputMaxSize: 10 });
  const out = runner.set('passing', 'abcdefghijklmnop');
  t.is(out, 'abcdefghij ... (captured 10 of 16 bytes)');
  t.is(rec.last?.output, out);
});

test('stop() ends the TTL: no expiry, and later updates are ignored', async (t) => {
  const { rec, runner } = ttl({ TTL: 30 });
  runner.start();
  runner.stop();
  t.is(runner.set('passing', 'late'), 'late');
  await witness(120);
  t.is(rec.updates.length, 0);
});

test('an update before start() is reported; the TTL runs from start()', async (t) => {
  const { rec, runner } = ttl({ TTL: 60 });
  t.teardown(() => runner.stop());
  runner.set('passing', 'early');
  t.is(rec.updates.length, 1);
  await witness(120);
  t.is(rec.updates.length, 1, 'no TTL before start');
  runner.start();
  const u = await rec.next((x) => x.status === 'critical');
  t.is(u.output, 'TTL expired (last output before timeout follows): early');
});

test('createRunner gives ttl checks a TtlRunner, and only them', (t) => {
  const d = def({ kind: 'ttl', TTL: 1000 });
  t.true(isTtlRunner(createRunner(d, { notify: () => {} })));
  t.false(
    isTtlRunner(createRunner(def({ kind: 'tcp', TCP: '127.0.0.1:1' }), { notify: () => {} })),
  );
});
