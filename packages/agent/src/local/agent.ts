/**
 * The part of every agent (client or server) that owns the node's services and checks:
 * local state, the check runners, anti-entropy to the catalog, maintenance mode, and the
 * reaping of services whose checks stay critical past DeregisterCriticalServiceAfter.
 * The agent endpoints (/v1/agent/service/*, /v1/agent/check/*, /v1/agent/maintenance,
 * /v1/agent/health/service/*) call this; so does config loading for `services`/`checks`.
 */
import type { CheckStatus, HealthCheck } from '@trellis/state';
import {
  createRunner,
  type AliasSource,
  type CheckRunner,
  type TtlRunner,
} from '../checks/index.js';
import type { AgentLogger } from '../log.js';
import { AntiEntropy, type CatalogSync, type NodeIdentity } from './anti-entropy.js';
import type {
  CheckDefinitionOptions,
  DefinitionSource,
  ServiceDefinitionOptions,
} from './definition.js';
import { LocalState, type LocalCheckEntry } from './state.js';
import { BLANK_CHECK, type CheckDefinition, type LocalService } from './types.js';

/** The catalog reads alias checks of other nodes need (a blocking query on the node's checks). */
export interface RemoteChecks {
  nodeChecks(
    node: string,
    minIndex: number,
    signal: AbortSignal,
  ): Promise<{
    readonly index: number;
    readonly exists: boolean;
    readonly checks: readonly HealthCheck[];
  }>;
}

export interface LocalAgentOptions {
  readonly identity: NodeIdentity;
  readonly dataDir: string;
  readonly catalog: CatalogSync & RemoteChecks;
  readonly logger: AgentLogger;
  readonly clusterSize: () => number;
  /** Consul's enable_script_checks: script (Args) checks may be registered. */
  readonly enableScriptChecks: boolean;
  /** The range sidecar services get their ports from (Consul: 21000–21255). */
  readonly sidecarPorts: { readonly min: number; readonly max: number };
  /** Anti-entropy full-sync base interval (Consul 1 min). */
  readonly syncIntervalMs?: number;
  readonly syncRetryMinMs?: number;
  /** How often critical checks are looked at for DeregisterCriticalServiceAfter. */
  readonly reapIntervalMs?: number;
  /** check_update_interval: output-only changes are pushed at most this often (5 min). */
  readonly checkUpdateIntervalMs?: number;
}

export const NODE_MAINT_CHECK_ID = '_node_maintenance';
export const SERVICE_MAINT_PREFIX = '_service_maintenance:';
const DEFAULT_NODE_MAINT_REASON =
  'Maintenance mode is enabled for this node, but no reason was provided. This is a default message.';
const DEFAULT_SERVICE_MAINT_REASON =
  'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

export type AggregatedStatus = CheckStatus | 'maintenance';

export class LocalAgentError extends Error {
  override readonly name = 'LocalAgentError';
  constructor(
    readonly status: 400 | 404 | 500,
    message: string,
  ) {
    super(message);
  }
}

/** A maintenance check: critical, never run, its reason in Notes (Consul's). */
function maintenanceCheck(
  id: string,
  name: string,
  serviceId: string,
  notes: string,
): CheckDefinition {
  return { ...BLANK_CHECK, CheckID: id, Name: name, Notes: notes, ServiceID: serviceId };
}

function isMaintenance(id: string): boolean {
  return id === NODE_MAINT_CHECK_ID || id.startsWith(SERVICE_MAINT_PREFIX);
}

/** Consul's AggregatedStatus: maintenance, then critical, warning, passing. */
export function aggregateStatus(
  checks: readonly { CheckID: string; Status: CheckStatus }[],
): AggregatedStatus {
  let warning = false;
  let critical = false;
  let maintenance = false;
  for (const c of checks) {
    if (isMaintenance(c.CheckID)) maintenance = true;
    else if (c.Status === 'critical') critical = true;
    else if (c.Status === 'warning') warning = true;
  }
  if (maintenance) return 'maintenance';
  if (critical) return 'critical';
  if (warning) return 'warning';
  return 'passing';
}

export class LocalAgent {
  readonly state: LocalState;
  readonly ae: AntiEntropy;
  readonly #o: LocalAgentOptions;
  readonly #log: AgentLogger;
  readonly #runners = new Map<string, CheckRunner>();
  #reapTimer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(o: LocalAgentOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.state = new LocalState({ dataDir: o.dataDir });
    this.ae = new AntiEntropy({
      local: this.state,
      catalog: o.catalog,
      identity: o.identity,
      logger: o.logger,
      clusterSize: o.clusterSize,
      ...(o.syncIntervalMs === undefined ? {} : { intervalMs: o.syncIntervalMs }),
      ...(o.syncRetryMinMs === undefined ? {} : { retryMinMs: o.syncRetryMinMs }),
      outputDeferMs: o.checkUpdateIntervalMs ?? 5 * 60_000,
    });
  }

  get nodeName(): string {
    return this.#o.identity.node;
  }

  /** The node this agent registers (name, ID, addresses, meta). */
  get identity(): NodeIdentity {
    return this.#o.identity;
  }

  /**
   * What parsing a service definition needs to know about this agent: whether script checks
   * are allowed, and the sidecar ports taken (by local services, and `extraUsed`).
   */
  definitionContext(
    extraUsed: ReadonlySet<number> = new Set(),
    source: DefinitionSource = 'remote',
  ): ServiceDefinitionOptions {
    const { min, max } = this.#o.sidecarPorts;
    const used = new Set(extraUsed);
    for (const s of this.state.services()) if (s.Port >= min && s.Port <= max) used.add(s.Port);
    return {
      enableScriptChecks: this.#o.enableScriptChecks,
      source,
      sidecarPorts: { used, min, max },
      existingSidecarPort: (id) => this.state.service(id)?.Port,
    };
  }

  checkDefinitionContext(source: DefinitionSource = 'remote'): CheckDefinitionOptions {
    return {
      enableScriptChecks: this.#o.enableScriptChecks,
      source,
      serviceExists: (id) => this.state.service(id) !== undefined,
    };
  }

  /**
   * Restores what a previous run persisted, adds the config file's definitions (which win
   * over persisted ones of the same ID), starts the checks and anti-entropy.
   */
  start(fromConfig: {
    services: readonly { service: LocalService; checks: readonly CheckDefinition[] }[];
    checks: readonly CheckDefinition[];
  }): void {
    const persisted = this.state.loadPersisted();
    const configServiceIds = new Set(fromConfig.services.map((s) => s.service.ID));
    const configCheckIds = new Set([
      ...fromConfig.checks.map((c) => c.CheckID),
      ...fromConfig.services.flatMap((s) => s.checks.map((c) => c.CheckID)),
    ]);
    for (const s of persisted.services) {
      if (!configServiceIds.has(s.ID)) this.state.addService(s, { persist: false });
    }
    for (const c of persisted.checks) {
      if (configCheckIds.has(c.CheckID)) continue;
      if (
        c.ServiceID !== '' &&
        this.state.service(c.ServiceID) === undefined &&
        !configServiceIds.has(c.ServiceID)
      )
        continue;
      this.state.addCheck(c, { persist: false });
    }
    for (const s of fromConfig.services) {
      this.state.addService(s.service, { fromConfig: true, persist: false });
      for (const c of s.checks) this.state.addCheck(c, { fromConfig: true, persist: false });
    }
    for (const c of fromConfig.checks) this.state.addCheck(c, { fromConfig: true, persist: false });
    for (const e of this.state.checks()) this.#startRunner(e.def);
    this.ae.start();
    const every = this.#o.reapIntervalMs ?? 3_000;
    this.#reapTimer = setInterval(() => this.#reapCritical(), every);
    this.#reapTimer.unref();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#reapTimer) clearInterval(this.#reapTimer);
    for (const r of this.#runners.values()) r.stop();
    this.#runners.clear();
    this.ae.stop();
  }

  // ---------------------------------------------------------------- services

  services(): LocalService[] {
    return this.state.services();
  }

  service(id: string): LocalService | undefined {
    return this.state.service(id);
  }

  /**
   * Registers a service with its checks (and its sidecar's). With `replaceExistingChecks`,
   * checks of the service not in this definition are removed (Consul's
   * ?replace-existing-checks); otherwise they stay.
   */
  addService(
    svc: { service: LocalService; checks: readonly CheckDefinition[] },
    replaceExistingChecks = false,
  ): void {
    const id = svc.service.ID;
    if (replaceExistingChecks) {
      const keep = new Set(svc.checks.map((c) => c.CheckID));
      for (const c of this.state.checksFor(id, false)) {
        if (!keep.has(c.def.CheckID) && !isMaintenance(c.def.CheckID))
          this.removeCheck(c.def.CheckID);
      }
    }
    this.state.addService(svc.service);
    for (const c of svc.checks) this.addCheck(c);
  }

  /** Removes a service, its checks and its maintenance check. False when unknown. */
  removeService(id: string): boolean {
    const checks = this.state.checksFor(id, false);
    if (!this.state.removeService(id)) return false;
    for (const c of checks) this.#stopRunner(c.def.CheckID);
    return true;
  }

  // ---------------------------------------------------------------- checks

  checks(): LocalCheckEntry[] {
    return this.state.checks();
  }

  addCheck(def: CheckDefinition): void {
    if (def.ServiceID !== '' && this.state.service(def.ServiceID) === undefined) {
      throw new LocalAgentError(400, `ServiceID "${def.ServiceID}" does not exist`);
    }
    this.#stopRunner(def.CheckID);
    this.state.addCheck(def);
    this.#startRunner(def);
  }

  removeCheck(id: string): boolean {
    this.#stopRunner(id);
    return this.state.removeCheck(id);
  }

  /**
   * /v1/agent/check/pass|warn|fail|update: sets a TTL check's status (and resets its TTL).
   * Consul's errors: an unknown check → "Unknown check ID", a check that is not TTL →
   * "CheckID does not have associated TTL".
   */
  updateTtl(id: string, status: CheckStatus, output: string): void {
    const e = this.state.check(id);
    if (e === undefined)
      throw new LocalAgentError(
        404,
        `Unknown check ID "${id}". Ensure that the check ID is passed, not the check name.`,
      );
    const r = this.#runners.get(id);
    if (e.def.kind !== 'ttl' || r === undefined || !('set' in r)) {
      throw new LocalAgentError(500, `CheckID "${id}" does not have associated TTL`);
    }
    (r as TtlRunner).set(status, output);
  }

  #notify(def: CheckDefinition): (status: CheckStatus, output: string) => void {
    return (status, output) => {
      if (this.#stopped) return;
      const e = this.state.check(def.CheckID);
      if (e === undefined || e.def !== def) return;
      this.state.updateCheck(
        def.CheckID,
        status,
        output,
        this.#o.checkUpdateIntervalMs ?? 5 * 60_000,
      );
    };
  }

  #startRunner(def: CheckDefinition): void {
    if (isMaintenance(def.CheckID) || this.#stopped) return;
    const runner = createRunner(def, {
      notify: this.#notify(def),
      alias: this.#aliasSource(),
      logger: this.#log,
    });
    this.#runners.set(def.CheckID, runner);
    runner.start();
  }

  #stopRunner(id: string): void {
    this.#runners.get(id)?.stop();
    this.#runners.delete(id);
  }

  /** Alias checks: the local state for this node's services, a blocking query for others. */
  #aliasSource(): AliasSource {
    return {
      watch: (node, serviceId, onChange) => {
        if (node === '' || node === this.nodeName) {
          const report = (): void => {
            const exists = serviceId === '' || this.state.service(serviceId) !== undefined;
            const checks = this.state
              .checks()
              .filter((c) => c.def.ServiceID === serviceId || c.def.ServiceID === '')
              .map((c) => ({
                Status: c.state.Status,
                ServiceID: c.def.ServiceID,
                CheckID: c.def.CheckID,
              }));
            onChange({ exists, checks });
          };
          queueMicrotask(report);
          return this.state.onChange(report);
        }
        const ac = new AbortController();
        void (async () => {
          let index = 0;
          let failures = 0;
          while (!ac.signal.aborted) {
            try {
              const r = await this.#o.catalog.nodeChecks(node, index, ac.signal);
              failures = 0;
              if (ac.signal.aborted) return;
              const checks = r.checks
                .filter((c) => serviceId === '' || c.ServiceID === serviceId || c.ServiceID === '')
                .map((c) => ({ Status: c.Status, ServiceID: c.ServiceID, CheckID: c.CheckID }));
              const exists =
                r.exists && (serviceId === '' || r.checks.some((c) => c.ServiceID === serviceId));
              onChange({ exists, checks });
              index = r.index;
            } catch {
              failures++;
              await new Promise((res) =>
                setTimeout(res, Math.min(30_000, 500 * 2 ** Math.min(failures, 6))).unref(),
              );
            }
          }
        })();
        return () => ac.abort();
      },
    };
  }

  /** Services whose check has been critical longer than its DeregisterCriticalServiceAfter. */
  #reapCritical(): void {
    const now = performance.now();
    for (const e of this.state.checks()) {
      const after = e.def.DeregisterCriticalServiceAfter;
      if (after <= 0 || e.def.ServiceID === '' || e.criticalSince === undefined) continue;
      if (e.state.Status !== 'critical' || now - e.criticalSince < after) continue;
      if (this.removeService(e.def.ServiceID)) {
        this.#log.info(
          { service: e.def.ServiceID, check: e.def.CheckID },
          'agent: check critical for too long; deregistered service',
        );
      }
    }
  }

  // ---------------------------------------------------------------- maintenance

  enableNodeMaintenance(reason: string): void {
    if (this.state.check(NODE_MAINT_CHECK_ID) !== undefined) return;
    this.state.addCheck(
      maintenanceCheck(
        NODE_MAINT_CHECK_ID,
        'Node Maintenance Mode',
        '',
        reason === '' ? DEFAULT_NODE_MAINT_REASON : reason,
      ),
    );
  }

  disableNodeMaintenance(): void {
    this.state.removeCheck(NODE_MAINT_CHECK_ID);
  }

  enableServiceMaintenance(serviceId: string, reason: string): void {
    if (this.state.service(serviceId) === undefined) {
      throw new LocalAgentError(404, `No service registered with ID "${serviceId}"`);
    }
    const id = SERVICE_MAINT_PREFIX + serviceId;
    if (this.state.check(id) !== undefined) return;
    this.state.addCheck(
      maintenanceCheck(
        id,
        'Service Maintenance Mode',
        serviceId,
        reason === '' ? DEFAULT_SERVICE_MAINT_REASON : reason,
      ),
    );
  }

  disableServiceMaintenance(serviceId: string): void {
    if (this.state.service(serviceId) === undefined) {
      throw new LocalAgentError(404, `No service registered with ID "${serviceId}"`);
    }
    this.state.removeCheck(SERVICE_MAINT_PREFIX + serviceId);
  }

  // ---------------------------------------------------------------- health

  /** The checks that decide a service's local health: its own and the node's. */
  serviceHealth(id: string): { status: AggregatedStatus; checks: LocalCheckEntry[] } | undefined {
    if (this.state.service(id) === undefined) return undefined;
    const checks = this.state.checksFor(id, true);
    return {
      status: aggregateStatus(
        checks.map((c) => ({ CheckID: c.def.CheckID, Status: c.state.Status })),
      ),
      checks,
    };
  }
}
