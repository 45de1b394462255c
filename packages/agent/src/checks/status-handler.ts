/**
 * Consul's StatusHandler (agent/checks/check.go): consecutive-result thresholds between a
 * runner's raw outcome and what the check reports.
 *
 * - passing and warning outcomes are both successes: they reset the failure count, and are
 *   reported (as themselves) once SuccessBeforePassing successes ran in a row;
 * - a critical outcome is a failure: it resets the success count; once FailuresBeforeCritical
 *   failures ran in a row it is reported critical, else once FailuresBeforeWarning ran in a
 *   row it is reported as warning (critical wins when both thresholds are reached);
 * - below its threshold an outcome reports nothing and the check keeps its last status;
 * - both counters start at their thresholds, so a new check reports its first outcome at once
 *   (a first failure goes straight to critical, whatever FailuresBeforeWarning says).
 *
 * Consul routes http, tcp, grpc, script (exit codes), docker, h2ping and os_service outcomes
 * through it; TTL updates, TTL expiry, alias updates, and a script that fails to start or times
 * out bypass it and report directly.
 *
 * Pure and synchronous; the caller serialises calls (one per run).
 */
import type { CheckStatus } from '@trellis/state';
import type { CheckLogger, CheckNotify } from './types.js';

export interface StatusThresholds {
  /** Consecutive successes before a success is reported (0 = at once). */
  readonly SuccessBeforePassing: number;
  /** Consecutive failures before a failure is reported as warning (0 = at once). */
  readonly FailuresBeforeWarning: number;
  /** Consecutive failures before a failure is reported as critical (0 = at once). */
  readonly FailuresBeforeCritical: number;
}

export interface StatusHandler {
  /** One run's outcome. Reports through notify when a threshold is reached. */
  update(status: CheckStatus, output: string): void;
}

export interface StatusHandlerOptions {
  readonly logger?: CheckLogger | undefined;
  /** Named in log lines. */
  readonly checkId?: string | undefined;
}

const nonNegative = (n: number): number => (Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

export function createStatusHandler(
  thresholds: StatusThresholds,
  notify: CheckNotify,
  o: StatusHandlerOptions = {},
): StatusHandler {
  const successBeforePassing = nonNegative(thresholds.SuccessBeforePassing);
  const failuresBeforeWarning = nonNegative(thresholds.FailuresBeforeWarning);
  const failuresBeforeCritical = nonNegative(thresholds.FailuresBeforeCritical);
  // Counters stop growing one past the largest threshold: past it every comparison is settled.
  const cap = Math.max(successBeforePassing, failuresBeforeWarning, failuresBeforeCritical) + 1;
  let successes = successBeforePassing;
  let failures = failuresBeforeCritical;
  let reported: CheckStatus | undefined;
  const check = o.checkId ?? '';

  const report = (status: CheckStatus, output: string): void => {
    if (status !== reported) {
      const fields = { check, status };
      if (status === 'passing') o.logger?.info(fields, 'Check status updated');
      else o.logger?.warn(fields, `Check is now ${status}`);
    }
    reported = status;
    notify(status, output);
  };

  return {
    update(status, output) {
      if (status === 'passing' || status === 'warning') {
        successes = Math.min(successes + 1, cap);
        failures = 0;
        if (successes >= successBeforePassing) {
          report(status, output);
          return;
        }
        o.logger?.debug(
          { check, status, success_count: successes, success_threshold: successBeforePassing },
          'Check passed but has not reached success threshold',
        );
        return;
      }
      failures = Math.min(failures + 1, cap);
      successes = 0;
      if (failures >= failuresBeforeCritical) {
        report('critical', output);
        return;
      }
      if (failures >= failuresBeforeWarning) {
        report('warning', output);
        return;
      }
      o.logger?.debug(
        {
          check,
          status,
          failure_count: failures,
          warning_threshold: failuresBeforeWarning,
          failure_threshold: failuresBeforeCritical,
        },
        'Check failed but has not reached warning/failure threshold',
      );
    },
  };
}
