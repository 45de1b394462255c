/**
 * The interval loop shared by http, tcp, grpc and script checks (Consul's run(): a random
 * stagger, then Interval after each run ends), and createRunner's refusals.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { createRunner, createStatusHandler, isCheckRunnerError } from '../../src/checks/index.js';
import {
  RunStopped,
  RunTimeout,
  createIntervalRunner,
  randomStagger,
  type Probe,
  type ProbeResult,
} from '../../src/checks/scheduler.js';
import type { CheckDefinition } from '../../src/local/types.js';
import { Recorder, def, listen, noStagger, waitFor } from './helpers.js';

function loop(
  probe: Probe,
  over: { interval?: number; timeout?: number; random?: () => number } = {},
) {
  const rec = new Recorder();
  const runner = createIntervalRunner({
    checkId: 'c',
    interval: over.interval ?? 20,
    timeout: over.timeout ?? 1000,
    probe,
    handler: createStatusHandler(
      { SuccessBeforePassing: 0, FailuresBeforeWarning: 0, FailuresBeforeCritical: 0 },
      rec.notify,
    ),
    notify: rec.notify,
    random: over.random ?? noStagger,
  });
  return { rec, runner };
}

const passing: ProbeResult = { status: 'passing', output: 'ok' };

test('the stagger is uniform in [0, interval) (lib.RandomStagger)', (t) => {
  t.is(
    randomStagger(1000, () => 0),
    0,
  );
  t.is(
    randomStagger(1000, () => 0.5),
    500,
  );
  t.is(
    randomStagger(1000, () => 0.9999),
    999,
  );
  t.is(
    randomStagger(1000, () => 1),
    0,
    'an out-of-range random is treated as 0',
  );
  t.is(
    randomStagger(1000, () => Number.NaN),
    0,
  );
  t.is(
    randomStagger(0, () => 0.5),
    0,
  );
});

test('the first run waits for the stagger', async (t) => {
  let firstAt = 0;
  const { rec, runner } = loop(
    () => {
      firstAt ||= Date.now();
      return Promise.resolve(passing);
    },
    { interval: 200, random: () => 0.75 },
  );
  t.teardown(() => runner.stop());
  const started = Date.now();
  runner.start();
  await rec.next();
  // Slack: Node measures timers from the loop's cached time, a few ms before Date.now().
  t.true(firstAt - started >= 140, `first run after ${firstAt - started} ms`);
});

test('runs never overlap; the next starts Interval after the previous one ended', async (t) => {
  const spans: [number, number][] = [];
  let active = 0;
  let maxActive = 0;
  const { rec, runner } = loop(
    async () => {
      const start = Date.now();
      maxActive = Math.max(maxActive, ++active);
      await sleep(30);
      active--;
      spans.push([start, Date.now()]);
      return passing;
    },
    { interval: 25 },
  );
  t.teardown(() => runner.stop());
  runner.start();
  await rec.count(4);
  runner.stop();
  t.is(maxActive, 1);
  for (let i = 1; i < spans.length; i++) {
    const gap = spans[i]![0] - spans[i - 1]![1];
    // Slack as above; what matters is that the gap is there at all (no overlap).
    t.true(gap >= 15, `gap ${gap} ms between run ${i} and ${i + 1}`);
  }
});

test('Timeout aborts the run’s signal; the probe reports what was cut short', async (t) => {
  let reason: unknown;
  const { rec, runner } = loop(
    (signal) =>
      new Promise((resolve) =>
        signal.addEventListener('abort', () => {
          reason = signal.reason;
          resolve({ status: 'critical', output: 'cut' });
        }),
      ),
    { timeout: 50, interval: 10_000 },
  );
  t.teardown(() => runner.stop());
  runner.start();
  const u = await rec.next();
  t.deepEqual([u.status, u.output], ['critical', 'cut']);
  t.true(reason instanceof RunTimeout);
  t.is((reason as RunTimeout).timeoutMs, 50);
});

test('stop() aborts the in-flight run and drops its outcome', async (t) => {
  let reason: unknown;
  let settled = false;
  let begun = false;
  const { rec, runner } = loop(
    (signal) =>
      new Promise((resolve) => {
        begun = true;
        signal.addEventListener('abort', () => {
          reason = signal.reason;
          settled = true;
          resolve(passing);
        });
      }),
    { timeout: 60_000 },
  );
  runner.start();
  await waitFor('the run to begin', () => begun);
  runner.stop();
  await waitFor('the probe to settle', () => settled);
  await sleep(0);
  t.true(reason instanceof RunStopped);
  t.is(rec.updates.length, 0);
});

test('a probe that throws is reported critical with its message', async (t) => {
  const { rec, runner } = loop(() => Promise.reject(new Error('probe bug')), { interval: 10_000 });
  t.teardown(() => runner.stop());
  runner.start();
  const u = await rec.next();
  t.deepEqual([u.status, u.output], ['critical', 'probe bug']);
});

test('direct outcomes bypass the status handler', async (t) => {
  const rec = new Recorder();
  const outcomes: ProbeResult[] = [
    { status: 'passing', output: 'a' },
    { status: 'critical', output: 'b', direct: true },
    { status: 'critical', output: 'c' },
  ];
  const runner = createIntervalRunner({
    checkId: 'c',
    interval: 5,
    timeout: 1000,
    probe: () => Promise.resolve(outcomes.shift() ?? { status: 'passing', output: 'z' }),
    handler: createStatusHandler(
      { SuccessBeforePassing: 0, FailuresBeforeWarning: 3, FailuresBeforeCritical: 3 },
      rec.notify,
    ),
    notify: rec.notify,
    random: noStagger,
  });
  t.teardown(() => runner.stop());
  runner.start();
  await rec.next((u) => u.output === 'z');
  t.deepEqual(
    rec.updates.slice(0, 3).map((u) => u.output),
    ['a', 'b', 'z'],
    '"b" reported directly; "c" was one failure below the thresholds',
  );
});

test('notify may stop the runner: no further run starts', async (t) => {
  let runs = 0;
  const rec = new Recorder();
  let stopIt = (): void => {};
  const runner = createIntervalRunner({
    checkId: 'c',
    interval: 5,
    timeout: 1000,
    probe: () => {
      runs++;
      return Promise.resolve(passing);
    },
    handler: { update: () => stopIt() },
    notify: rec.notify,
    random: noStagger,
  });
  stopIt = () => runner.stop();
  runner.start();
  // A witness loop with the same interval runs three times meanwhile.
  const witness = loop(() => Promise.resolve(passing), { interval: 5 });
  witness.runner.start();
  await witness.rec.count(3);
  witness.runner.stop();
  t.is(runs, 1);
});

test.serial(
  'stop() during a run against a hanging server leaves no socket or timer behind',
  async (t) => {
    let open = 0;
    let requests = 0;
    const server = http.createServer(() => void requests++); // never answers
    server.on('connection', (s) => {
      open++;
      s.on('close', () => open--);
    });
    const port = await listen(t, server);
    const handles = (): string[] =>
      process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout');
    const baseline = handles().length;
    const rec = new Recorder();
    const runner = createRunner(
      def({ kind: 'http', HTTP: `http://127.0.0.1:${port}/`, Interval: 10, Timeout: 100 }),
      {
        notify: rec.notify,
        random: noStagger,
      },
    );
    runner.start();
    await rec.count(3);
    await waitFor('a run in flight', () => open >= 1);
    runner.stop();
    await waitFor('the in-flight connection to close', () => open === 0, 2000);
    await waitFor('no socket or timer left', () => handles().length <= baseline, 2000);
    t.true(rec.updates.every((u) => u.status === 'critical'));
    t.true(requests >= 3);
  },
);

test('createRunner refuses definitions it cannot run', (t) => {
  const cases: [CheckDefinition, string][] = [
    [def({ kind: 'http', Interval: 0 }), 'BAD_INTERVAL'],
    [def({ kind: 'script', Interval: -1 }), 'BAD_INTERVAL'],
    [def({ kind: 'ttl', TTL: 0 }), 'BAD_TTL'],
    [{ ...def({ kind: 'tcp' }), kind: 'docker' as 'tcp' }, 'UNKNOWN_KIND'],
  ];
  for (const [d, code] of cases) {
    const err = t.throws(() => createRunner(d, { notify: () => {} }));
    t.true(isCheckRunnerError(err));
    t.like(err, { code }, code);
  }
});
