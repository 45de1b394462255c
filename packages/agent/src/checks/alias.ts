/**
 * Alias checks (Consul's CheckAlias): the health of another service instance or node, from the
 * {@link AliasSource} the agent hands in. Every snapshot the source delivers is reported
 * straight through notify (Consul does not route alias checks through the status handler).
 *
 * {@link aliasOutcome} is Consul's processChecks:
 * - the checks that count are the node-level ones (ServiceID '') and, for a service alias, the
 *   aliased service's; others are ignored;
 * - any critical → critical `Aliased check "<name>" failing: <output>` (the first critical);
 *   else any warning → warning with the same text (the last warning); else passing,
 *   `All checks passing.`, or `No checks found.` when none counted;
 * - when none of the aliased service's own checks were seen and the target does not exist →
 *   critical `Service <id> could not be found on node <node>` (`Node <node> could not be found`
 *   for a node alias, where Consul's text would name an empty service).
 */
import type { CheckStatus } from '@trellis/state';
import type { CheckDefinition } from '../local/types.js';
import type { AliasSnapshot, AliasSource, CheckLogger, CheckNotify, CheckRunner } from './types.js';

export interface AliasTarget {
  /** AliasNode ('' = this agent's node). */
  readonly node: string;
  /** AliasService ('' = node-level alias). */
  readonly serviceId: string;
  /**
   * The alias check's own ID, left out when aliasing this agent's node (check IDs are unique
   * per node): an alias counting itself could never recover from its own critical.
   */
  readonly selfCheckId?: string | undefined;
}

export interface AliasOutcome {
  readonly status: CheckStatus;
  readonly output: string;
}

export function aliasOutcome(target: AliasTarget, snap: AliasSnapshot): AliasOutcome {
  let status: CheckStatus = 'passing';
  let output = 'No checks found.';
  let serviceFound = false;
  for (const chk of snap.checks) {
    if (target.node === '' && chk.CheckID === target.selfCheckId) continue;
    const serviceMatch = chk.ServiceID === target.serviceId;
    if (chk.ServiceID !== '' && !serviceMatch) continue;
    if (serviceMatch) serviceFound = true;
    if (chk.Status === 'critical' || chk.Status === 'warning') {
      status = chk.Status;
      output = `Aliased check "${chk.Name ?? chk.CheckID}" failing: ${chk.Output ?? ''}`;
      // A critical settles it; after a warning a critical may still follow.
      if (chk.Status === 'critical') break;
    } else if (status === 'passing') {
      output = 'All checks passing.';
    }
  }
  if (!serviceFound && !snap.exists) {
    return {
      status: 'critical',
      output:
        target.serviceId === ''
          ? `Node ${target.node} could not be found`
          : `Service ${target.serviceId} could not be found on node ${target.node}`,
    };
  }
  return { status, output };
}

export interface AliasRunnerOptions {
  readonly source: AliasSource;
  readonly notify: CheckNotify;
  readonly logger?: CheckLogger | undefined;
}

export function createAliasRunner(def: CheckDefinition, o: AliasRunnerOptions): CheckRunner {
  const target: AliasTarget = {
    node: def.AliasNode,
    serviceId: def.AliasService,
    selfCheckId: def.CheckID,
  };
  /** Bumped by start() and stop(): snapshots delivered to an older generation are dropped. */
  let generation = 0;
  let running = false;
  let unwatch: (() => void) | undefined;

  return {
    start() {
      if (running) return;
      running = true;
      const gen = ++generation;
      const onChange = (snap: AliasSnapshot): void => {
        if (gen !== generation) return;
        const r = aliasOutcome(target, snap);
        o.notify(r.status, r.output);
      };
      let stopFn: () => void;
      try {
        stopFn = o.source.watch(def.AliasNode, def.AliasService, onChange);
      } catch (err) {
        o.logger?.warn({ check: def.CheckID, err }, 'Alias check failed to watch its target');
        if (gen === generation) {
          o.notify(
            'critical',
            `Failure checking aliased node or service: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
        return;
      }
      // stop() may have run from within watch() (a synchronous onChange that stopped us).
      if (gen !== generation) stopFn();
      else unwatch = stopFn;
    },
    stop() {
      if (!running) return;
      running = false;
      generation++;
      const fn = unwatch;
      unwatch = undefined;
      fn?.();
    },
  };
}
