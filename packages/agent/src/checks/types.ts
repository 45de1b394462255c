/**
 * What the check runners consume and what they hand back. The agent owns one runner per check
 * it runs; a runner reports every outcome through {@link CheckNotify}, which the agent's local
 * state turns into the check's Status and Output (idempotently: Consul's UpdateCheck ignores an
 * update that changes nothing, and runners may repeat an unchanged outcome every interval).
 */
import type { CheckStatus } from '@trellis/state';

/** Receives a check's new status and output. Never called after the runner's stop(). */
export interface CheckNotify {
  (status: CheckStatus, output: string): void;
}

/** One check of an aliased target, as the alias runner needs it. */
export interface AliasCheck {
  readonly Status: CheckStatus;
  /** '' for a node-level check. */
  readonly ServiceID: string;
  readonly CheckID: string;
  /** Used in the output of a failing alias ("Aliased check "<Name>" failing: …"); CheckID if absent. */
  readonly Name?: string | undefined;
  readonly Output?: string | undefined;
}

/** What an {@link AliasSource} reports about an aliased target. */
export interface AliasSnapshot {
  /** False when the aliased node (or, for a service alias, the service) does not exist. */
  readonly exists: boolean;
  /**
   * The checks of the aliased node: its node-level checks and the aliased service's checks
   * (Consul's alias of a service also turns critical when a node-level check is critical).
   * Checks of other services may be included; the runner ignores them.
   */
  readonly checks: readonly AliasCheck[];
}

export interface AliasSource {
  /**
   * Calls onChange with the current checks of the aliased target now (or soon) and again on
   * every change; returns a stop function. `node` is the AliasNode ('' = this agent's node);
   * `serviceId` the AliasService ('' = node-level alias: all node checks). onChange may be
   * called synchronously from within watch().
   */
  watch(node: string, serviceId: string, onChange: (r: AliasSnapshot) => void): () => void;
}

/** Structured logging, pino-shaped (a pino Logger fits). */
export interface CheckLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * TLS material for checks (Consul's enable_agent_tls_for_checks): the CA replaces the system
 * roots for https, TCP+TLS and gRPC+TLS checks, and the certificate is presented to them.
 */
export interface CheckTlsOptions {
  readonly ca?: string | Buffer | undefined;
  readonly cert?: string | Buffer | undefined;
  readonly key?: string | Buffer | undefined;
}

export interface RunnerDeps {
  readonly notify: CheckNotify;
  /** Required for alias checks. */
  readonly alias?: AliasSource | undefined;
  readonly logger?: CheckLogger | undefined;
  /** Uniform in [0, 1); picks the first run's stagger within the interval (default Math.random). */
  readonly random?: (() => number) | undefined;
  readonly tls?: CheckTlsOptions | undefined;
}

export interface CheckRunner {
  /** Starts running (or watching). Calling start() on a started runner does nothing. */
  start(): void;
  /**
   * Stops: timers are cleared, an in-flight run is cancelled (a script's process group is
   * killed), and notify is not called again. A stopped runner may be started again.
   */
  stop(): void;
}

export interface TtlRunner extends CheckRunner {
  /**
   * pass/warn/fail/update: reports `status` with `output` (truncated to OutputMaxSize) and
   * restarts the TTL. Returns the output as reported, for persisting the check's state.
   * Ignored (nothing reported) after stop().
   */
  set(status: CheckStatus, output: string): string;
}

/** Whether `r` is a TTL check's runner (what createRunner returns for kind 'ttl'). */
export function isTtlRunner(r: CheckRunner): r is TtlRunner {
  return typeof (r as Partial<TtlRunner>).set === 'function';
}
