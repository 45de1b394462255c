/**
 * Consul's StatusHandler (agent/checks/check.go), pinned with the sequences of Consul's own
 * tests (check_test.go: TestStatusHandler*), driven synchronously with a recording notify.
 */
import test from 'ava';
import type { CheckStatus } from '@trellis/state';
import { createStatusHandler, type CheckLogger } from '../../src/checks/index.js';
import { createLogger } from '../../src/log.js';
import { Recorder } from './helpers.js';

const P: CheckStatus = 'passing';
const W: CheckStatus = 'warning';
const C: CheckStatus = 'critical';

function handler(
  successBeforePassing: number,
  failuresBeforeWarning: number,
  failuresBeforeCritical: number,
) {
  const rec = new Recorder();
  const h = createStatusHandler(
    {
      SuccessBeforePassing: successBeforePassing,
      FailuresBeforeWarning: failuresBeforeWarning,
      FailuresBeforeCritical: failuresBeforeCritical,
    },
    rec.notify,
  );
  const feed = (...statuses: CheckStatus[]): void => {
    for (const s of statuses) h.update(s, `out-${rec.updates.length}`);
  };
  const reported = (): string[] => rec.updates.map((u) => u.status);
  return { rec, feed, reported };
}

test('with no thresholds every outcome is reported as it is', (t) => {
  const { feed, reported } = handler(0, 0, 0);
  feed(P, C, W, C, P);
  t.deepEqual(reported(), [P, C, W, C, P]);
});

test('a new check reports its first outcome at once: counters start at their thresholds', (t) => {
  const passing = handler(3, 2, 5);
  passing.feed(P);
  t.deepEqual(passing.reported(), [P], 'first success reported despite SuccessBeforePassing 3');
  const failing = handler(3, 2, 5);
  failing.feed(C);
  t.deepEqual(failing.reported(), [C], 'first failure goes straight to critical, not warning');
});

test('thresholds reached in a row (TestStatusHandlerUpdateStatusAfterConsecutiveChecksThresholdIsReached)', (t) => {
  const { feed, reported } = handler(2, 2, 3);
  feed(P);
  t.deepEqual(reported(), [P]);
  feed(C);
  t.deepEqual(reported(), [P], 'one failure: nothing yet');
  feed(C);
  t.deepEqual(reported(), [P, W], 'two failures: warning');
  feed(C);
  t.deepEqual(reported(), [P, W, C], 'three failures: critical');
  feed(P);
  t.deepEqual(reported(), [P, W, C], 'one success: nothing yet');
  feed(P);
  t.deepEqual(reported(), [P, W, C, P], 'two successes: passing');
});

test('interleaved outcomes reset the counters (TestStatusHandlerResetCountersOnNonIdenticalsConsecutiveChecks)', (t) => {
  const { feed, reported } = handler(2, 2, 3);
  feed(P, C, P, C, P, C);
  t.deepEqual(reported(), [P], 'three failures, never two in a row');
  feed(C);
  t.deepEqual(reported(), [P, W]);
  feed(C);
  t.deepEqual(reported(), [P, W, C]);
  feed(P, C, P);
  t.deepEqual(reported(), [P, W, C], 'successes never two in a row');
  feed(P);
  t.deepEqual(reported(), [P, W, C, P]);
});

test('equal warning and critical thresholds go straight to critical (TestStatusHandlerWarningAndCriticalThresholdsTheSameSetsCritical)', (t) => {
  const { feed, reported } = handler(2, 3, 3);
  feed(P, C, C);
  t.deepEqual(reported(), [P]);
  feed(C);
  t.deepEqual(reported(), [P, C]);
  feed(P, P);
  t.deepEqual(reported(), [P, C, P]);
});

test('a flapping check stays warning until the critical threshold is reached in a row (TestStatusHandlerMaintainWarningStatusWhenCheckIsFlapping)', (t) => {
  const { feed, reported } = handler(3, 3, 5);
  feed(P, C, C);
  t.deepEqual(reported(), [P]);
  feed(C);
  t.deepEqual(reported(), [P, W]);
  feed(P, C, C, C);
  t.deepEqual(reported(), [P, W, W], 'the failure counter reset, so warning is reported again');
  feed(P, C, C, C);
  t.deepEqual(reported(), [P, W, W, W]);
  feed(P, C, C, C, C);
  t.deepEqual(reported(), [P, W, W, W, W, W], 'fourth failure in a row: still warning');
  feed(C);
  t.deepEqual(reported(), [P, W, W, W, W, W, C], 'fifth failure in a row: critical');
});

test('warning outcomes count as successes and are reported as warning', (t) => {
  const { feed, reported } = handler(2, 0, 2);
  feed(C);
  t.deepEqual(reported(), [C]);
  feed(W);
  t.deepEqual(reported(), [C], 'one success (a warning) is below SuccessBeforePassing');
  feed(W);
  t.deepEqual(reported(), [C, W], 'the second is reported, as warning');
  feed(C);
  t.deepEqual(reported(), [C, W, W], 'FailuresBeforeWarning 0: the first failure reports warning');
  feed(C);
  t.deepEqual(reported(), [C, W, W, C]);
});

test('reported outputs are the outcome’s own', (t) => {
  const rec = new Recorder();
  const h = createStatusHandler(
    { SuccessBeforePassing: 0, FailuresBeforeWarning: 1, FailuresBeforeCritical: 2 },
    rec.notify,
  );
  h.update('passing', 'ok');
  h.update('critical', 'down: connection refused');
  t.deepEqual(
    rec.updates.map((u) => [u.status, u.output]),
    [
      ['passing', 'ok'],
      ['warning', 'down: connection refused'],
    ],
    'a failure below the critical threshold is reported as warning with the failure’s output',
  );
});

test('log lines name the check and its transitions', (t) => {
  const lines: [string, object, string][] = [];
  const logger = {
    debug: (o: object, m: string) => lines.push(['debug', o, m]),
    info: (o: object, m: string) => lines.push(['info', o, m]),
    warn: (o: object, m: string) => lines.push(['warn', o, m]),
  };
  const h = createStatusHandler(
    { SuccessBeforePassing: 0, FailuresBeforeWarning: 0, FailuresBeforeCritical: 2 },
    () => {},
    { logger, checkId: 'web' },
  );
  h.update('passing', '');
  h.update('passing', '');
  h.update('critical', '');
  h.update('critical', '');
  t.deepEqual(
    lines.map(([level, , msg]) => `${level}: ${msg}`),
    ['info: Check status updated', 'warn: Check is now warning', 'warn: Check is now critical'],
    'only changes of the reported status are logged above debug',
  );
  t.like(lines[0]![1], { check: 'web', status: 'passing' });
});

test('the agent’s pino logger is a CheckLogger', (t) => {
  const lines: string[] = [];
  const logger: CheckLogger = createLogger({ level: 'info', write: (l) => void lines.push(l) });
  const h = createStatusHandler(
    { SuccessBeforePassing: 0, FailuresBeforeWarning: 0, FailuresBeforeCritical: 0 },
    () => {},
    { logger, checkId: 'web' },
  );
  h.update('critical', 'down');
  t.is(lines.length, 1);
  t.regex(lines[0]!, /\[WARN\] +Check is now critical: check=web status=critical/);
});
