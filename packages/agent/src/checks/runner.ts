/**
 * createRunner: one runner for one check definition, by kind.
 *
 * - http, tcp, grpc, script: an interval loop (scheduler.ts) whose outcomes pass through a
 *   status handler built from the definition's thresholds (status-handler.ts);
 * - ttl: a {@link TtlRunner} (ttl.ts); alias: a watcher of deps.alias (alias.ts). Neither uses
 *   the status handler, as in Consul.
 *
 * Runners do not clamp Interval to Consul's 1 s minimum (checks.MinInterval) nor apply
 * FailuresBeforeWarning's default; the definition layer does both.
 */
import type { CheckDefinition } from '../local/types.js';
import { createAliasRunner } from './alias.js';
import { DEFAULT_NETWORK_TIMEOUT_MS, DEFAULT_SCRIPT_TIMEOUT_MS } from './constants.js';
import { CheckRunnerError } from './errors.js';
import { grpcProbe } from './grpc.js';
import { httpProbe } from './http.js';
import { createIntervalRunner, type Probe } from './scheduler.js';
import { scriptProbe } from './script.js';
import { createStatusHandler } from './status-handler.js';
import { tcpProbe } from './tcp.js';
import { createTtlRunner } from './ttl.js';
import type { CheckRunner, RunnerDeps, TtlRunner } from './types.js';

const positive = (n: number): boolean => Number.isFinite(n) && n > 0;

export function createRunner(def: CheckDefinition & { kind: 'ttl' }, deps: RunnerDeps): TtlRunner;
export function createRunner(def: CheckDefinition, deps: RunnerDeps): CheckRunner | TtlRunner;
export function createRunner(def: CheckDefinition, deps: RunnerDeps): CheckRunner | TtlRunner {
  const logger = deps.logger;
  switch (def.kind) {
    case 'ttl':
      if (!positive(def.TTL)) {
        throw new CheckRunnerError('BAD_TTL', def.CheckID, `check ${def.CheckID}: TTL must be > 0`);
      }
      return createTtlRunner(def, { notify: deps.notify, logger });
    case 'alias':
      if (deps.alias === undefined) {
        throw new CheckRunnerError(
          'NO_ALIAS_SOURCE',
          def.CheckID,
          `check ${def.CheckID}: alias checks need an alias source`,
        );
      }
      return createAliasRunner(def, { source: deps.alias, notify: deps.notify, logger });
    case 'http':
    case 'tcp':
    case 'grpc':
    case 'script': {
      if (!positive(def.Interval)) {
        throw new CheckRunnerError(
          'BAD_INTERVAL',
          def.CheckID,
          `check ${def.CheckID}: ${def.kind} checks need an Interval > 0`,
        );
      }
      const fallback =
        def.kind === 'script' ? DEFAULT_SCRIPT_TIMEOUT_MS : DEFAULT_NETWORK_TIMEOUT_MS;
      const timeout = positive(def.Timeout) ? def.Timeout : fallback;
      const opts = { timeout, tls: deps.tls, logger };
      const probe: Probe =
        def.kind === 'http'
          ? httpProbe(def, opts)
          : def.kind === 'tcp'
            ? tcpProbe(def, opts)
            : def.kind === 'grpc'
              ? grpcProbe(def, opts)
              : scriptProbe(def, opts);
      return createIntervalRunner({
        checkId: def.CheckID,
        interval: def.Interval,
        timeout,
        probe,
        handler: createStatusHandler(def, deps.notify, { logger, checkId: def.CheckID }),
        notify: deps.notify,
        random: deps.random ?? Math.random,
        logger,
      });
    }
    default: {
      const kind: string = (def as { kind: string }).kind;
      throw new CheckRunnerError(
        'UNKNOWN_KIND',
        def.CheckID,
        `check ${def.CheckID}: unknown kind "${kind}"`,
      );
    }
  }
}
