/**
 * Anti-entropy (Consul's agent/ae and local.State.SyncFull/SyncChanges): keeps the catalog's
 * entries for this node equal to the agent's local state.
 *
 * - A change here is pushed at once (coalesced: one sync runs at a time, and another follows
 *   if something changed meanwhile).
 * - A full sync reads the node's services and checks from the catalog, marks whatever differs
 *   out of sync, deregisters what the catalog holds for this node that the agent does not own
 *   (a service someone registered through /v1/catalog/register for this node is removed, as
 *   Consul does; the servers' own `consul` service and the `serfHealth` check are the
 *   leader's), then pushes. It runs at start and every `interval` scaled by cluster size
 *   (Consul's: 1 min, doubling per doubling of nodes beyond 128), staggered at random.
 * - A failed sync is retried with back-off (`retryMinMs` doubling to `retryMaxMs`, jittered).
 */
import type {
  CheckInput,
  DeregisterRequest,
  HealthCheck,
  PlainMap,
  RegisterRequest,
  Service,
  ServiceInput,
} from '@trellis/state';
import { formatGoDuration } from '../http/duration.js';
import type { AgentLogger } from '../log.js';
import type { LocalState } from './state.js';
import type { CheckDefinition, CheckState, LocalService } from './types.js';

/** What anti-entropy needs from the catalog (a server: its store and Raft; a client: RPC). */
export interface CatalogSync {
  /** The node's row, services and checks as the catalog holds them (a consistent-enough read). */
  nodeState(): Promise<{
    readonly node:
      | {
          readonly ID: string;
          readonly Address: string;
          readonly Meta: Readonly<Record<string, string>>;
          readonly TaggedAddresses: Readonly<Record<string, string>>;
        }
      | undefined;
    readonly services: readonly Service[];
    readonly checks: readonly HealthCheck[];
  }>;
  register(req: RegisterRequest): Promise<void>;
  deregister(req: DeregisterRequest): Promise<void>;
}

export interface NodeIdentity {
  readonly node: string;
  readonly id: string;
  readonly address: string;
  readonly datacenter: string;
  readonly taggedAddresses: Readonly<Record<string, string>>;
  readonly meta: Readonly<Record<string, string>>;
}

export interface AntiEntropyOptions {
  readonly local: LocalState;
  readonly catalog: CatalogSync;
  readonly identity: NodeIdentity;
  readonly logger: AgentLogger;
  /** Members in the LAN pool (scales the full-sync interval). */
  readonly clusterSize: () => number;
  /** Base full-sync interval (Consul: 1 min). */
  readonly intervalMs?: number;
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Output-only changes wait this long after a check's last sync (check_update_interval). */
  readonly outputDeferMs?: number;
  readonly random?: () => number;
}

export const AE_INTERVAL_MS = 60_000;
/** Consul's aeScaleThreshold: beyond 128 nodes the interval grows with log2(nodes / 128). */
const SCALE_THRESHOLD = 128;

/** Consul's ae.scaleFactor: 1 up to 128 nodes, then ceil(log2(n) - log2(128)) + 1. */
export function scaleFactor(nodes: number): number {
  if (nodes <= SCALE_THRESHOLD) return 1;
  return Math.ceil(Math.log2(nodes) - Math.log2(SCALE_THRESHOLD)) + 1;
}

/** Services and checks the leader owns on every node; anti-entropy never removes them. */
const CONSUL_SERVICE_ID = 'consul';
const SERF_CHECK_ID = 'serfHealth';

export function serviceInput(s: LocalService): ServiceInput {
  return {
    ID: s.ID,
    Service: s.Service,
    Tags: s.Tags,
    Address: s.Address,
    TaggedAddresses: s.TaggedAddresses,
    Meta: s.Meta,
    Port: s.Port,
    Weights: s.Weights,
    EnableTagOverride: s.EnableTagOverride,
    Kind: s.Kind,
    Proxy: s.Proxy,
    Connect: s.Connect,
  };
}

/** Stable JSON (sorted keys) for comparing rows built in different orders. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString('base64'));
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

function sameService(local: LocalService, remote: Service): boolean {
  const { Node: _n, CreateIndex: _c, ModifyIndex: _m, ...r } = remote;
  return canonical(local) === canonical(r);
}

/** structs.HealthCheckDefinition as the catalog stores it: Go duration strings, omitempty. */
export function checkDefinitionMap(d: CheckDefinition): PlainMap {
  const out: PlainMap = {};
  const dur = (k: string, ms: number): void => {
    if (ms > 0) out[k] = formatGoDuration(ms);
  };
  dur('Interval', d.Interval);
  if (d.OutputMaxSize > 0) out.OutputMaxSize = d.OutputMaxSize;
  if (d.kind !== 'ttl' && d.kind !== 'alias') dur('Timeout', d.Timeout);
  dur('DeregisterCriticalServiceAfter', d.DeregisterCriticalServiceAfter);
  dur('TTL', d.TTL);
  if (d.HTTP !== '') out.HTTP = d.HTTP;
  if (d.TLSServerName !== '') out.TLSServerName = d.TLSServerName;
  if (d.TLSSkipVerify) out.TLSSkipVerify = true;
  if (Object.keys(d.Header).length > 0) {
    const h: PlainMap = {};
    for (const [k, v] of Object.entries(d.Header)) h[k] = [...v];
    out.Header = h;
  }
  if (d.kind === 'http' && d.Method !== '') out.Method = d.Method;
  if (d.Body !== '') out.Body = d.Body;
  if (d.DisableRedirects) out.DisableRedirects = true;
  if (d.TCP !== '') out.TCP = d.TCP;
  if (d.TCPUseTLS) out.TCPUseTLS = true;
  if (d.ScriptArgs.length > 0) out.ScriptArgs = [...d.ScriptArgs];
  if (d.GRPC !== '') out.GRPC = d.GRPC;
  if (d.GRPCUseTLS) out.GRPCUseTLS = true;
  if (d.AliasNode !== '') out.AliasNode = d.AliasNode;
  if (d.AliasService !== '') out.AliasService = d.AliasService;
  return out;
}

export function checkInput(node: string, def: CheckDefinition, state: CheckState): CheckInput {
  return {
    Node: node,
    CheckID: def.CheckID,
    Name: def.Name,
    Status: state.Status,
    Notes: def.Notes,
    Output: state.Output,
    ServiceID: def.ServiceID,
    Type: def.kind,
    Definition: checkDefinitionMap(def),
  };
}

function sameCheck(
  def: CheckDefinition,
  state: CheckState,
  service: LocalService | undefined,
  remote: HealthCheck,
  compareOutput: boolean,
): boolean {
  return (
    remote.Name === def.Name &&
    remote.Status === state.Status &&
    remote.Notes === def.Notes &&
    remote.ServiceID === def.ServiceID &&
    remote.ServiceName === (service?.Service ?? '') &&
    remote.Type === def.kind &&
    (!compareOutput || remote.Output === state.Output) &&
    canonical(remote.Definition) === canonical(checkDefinitionMap(def))
  );
}

export class AntiEntropy {
  readonly #o: AntiEntropyOptions;
  readonly #log: AgentLogger;
  #running = false;
  #again = false;
  #full = true;
  /** The next periodic full sync. */
  #fullTimer: NodeJS.Timeout | null = null;
  /** The retry after a failed sync (back-off). */
  #retryTimer: NodeJS.Timeout | null = null;
  #failures = 0;
  #nodeInSync = false;
  #stopped = false;
  #unsubscribe: (() => void) | null = null;
  /** Completed syncs (full and partial), for tests and /v1/agent/self stats. */
  syncs = 0;
  /** Passes that failed (each is retried with back-off). */
  failedSyncs = 0;
  lastError: Error | null = null;

  constructor(o: AntiEntropyOptions) {
    this.#o = o;
    this.#log = o.logger;
  }

  start(): void {
    this.#unsubscribe = this.#o.local.onChange(() => this.trigger(false));
    this.trigger(true);
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    if (this.#fullTimer) clearTimeout(this.#fullTimer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#fullTimer = this.#retryTimer = null;
  }

  /** Pushes changes now (or a full sync when `full`). While backing off, waits for the retry. */
  trigger(full: boolean): void {
    if (this.#stopped) return;
    if (full) this.#full = true;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#retryTimer !== null) return; // the retry (a full sync) will carry it
    void this.#run();
  }

  #fullIntervalMs(): number {
    const base = (this.#o.intervalMs ?? AE_INTERVAL_MS) * scaleFactor(this.#o.clusterSize());
    // Consul staggers by up to the interval / 16 (lib.RandomStagger) around it.
    const r = this.#o.random ?? Math.random;
    return base + Math.floor(r() * (base / 16));
  }

  #scheduleFull(ms: number): void {
    if (this.#stopped) return;
    if (this.#fullTimer) clearTimeout(this.#fullTimer);
    this.#fullTimer = setTimeout(() => {
      this.#fullTimer = null;
      this.trigger(true);
    }, ms);
    this.#fullTimer.unref();
  }

  #scheduleRetry(ms: number): void {
    if (this.#stopped) return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.trigger(true);
    }, ms);
    this.#retryTimer.unref();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      do {
        this.#again = false;
        const full = this.#full;
        this.#full = false;
        try {
          if (full) await this.#updateSyncState();
          await this.#syncChanges();
          this.syncs++;
          this.#failures = 0;
          this.lastError = null;
          if (full) this.#scheduleFull(this.#fullIntervalMs());
        } catch (e) {
          this.#failures++;
          this.failedSyncs++;
          this.lastError = e instanceof Error ? e : new Error(String(e));
          if (full) this.#full = true;
          const min = this.#o.retryMinMs ?? 1_000;
          const max = this.#o.retryMaxMs ?? 30_000;
          const r = this.#o.random ?? Math.random;
          const wait = Math.min(max, min * 2 ** Math.min(this.#failures - 1, 16));
          const jittered = Math.floor(wait / 2 + r() * (wait / 2));
          this.#log.warn(
            { err: this.lastError.message, retry_ms: jittered, full },
            'agent: anti-entropy sync failed; will retry',
          );
          this.#again = false;
          this.#scheduleRetry(jittered);
          return;
        }
      } while ((this.#again || this.#full) && !this.#stopped);
    } finally {
      this.#running = false;
    }
  }

  /** Compares the catalog with local state; marks differences; removes foreign entries. */
  async #updateSyncState(): Promise<void> {
    const id = this.#o.identity;
    const local = this.#o.local;
    const remote = await this.#o.catalog.nodeState();
    const n = remote.node;
    this.#nodeInSync =
      n !== undefined &&
      n.ID === id.id &&
      n.Address === id.address &&
      canonical(n.TaggedAddresses) === canonical(id.taggedAddresses) &&
      canonical(n.Meta) === canonical(id.meta);
    if (!this.#nodeInSync) local.markAllOutOfSync();

    const remoteServices = new Map(remote.services.map((s) => [s.ID, s]));
    for (const e of local.serviceEntries()) {
      const r = remoteServices.get(e.service.ID);
      remoteServices.delete(e.service.ID);
      if (e.deleted) {
        if (r === undefined) local.markServiceSynced(e.service.ID, e.service);
        else local.markServiceOutOfSync(e.service.ID);
        continue;
      }
      if (r === undefined) {
        local.markServiceOutOfSync(e.service.ID);
        continue;
      }
      if (e.service.EnableTagOverride) {
        local.overrideTags(e.service.ID, r.Tags);
        const now = local.service(e.service.ID);
        if (now !== undefined && !sameService(now, r)) local.markServiceOutOfSync(now.ID);
        continue;
      }
      if (sameService(e.service, r)) local.markServiceSynced(e.service.ID, e.service);
      else local.markServiceOutOfSync(e.service.ID);
    }
    // Services the catalog holds for this node that the agent does not own.
    for (const r of remoteServices.values()) {
      if (r.ID === CONSUL_SERVICE_ID) continue;
      this.#log.info({ service: r.ID }, 'agent: deregistering a service this agent does not own');
      await this.#o.catalog.deregister({ Node: id.node, ServiceID: r.ID });
    }

    const remoteChecks = new Map(remote.checks.map((c) => [c.CheckID, c]));
    const now = performance.now();
    const defer = this.#o.outputDeferMs ?? 5 * 60_000;
    for (const e of local.checkEntries()) {
      const r = remoteChecks.get(e.def.CheckID);
      remoteChecks.delete(e.def.CheckID);
      if (e.deleted) {
        if (r === undefined) local.markCheckSynced(e.def.CheckID, e.def, undefined);
        else local.markCheckOutOfSync(e.def.CheckID);
        continue;
      }
      const svc = e.def.ServiceID === '' ? undefined : local.service(e.def.ServiceID);
      const compareOutput = now - e.syncedAt >= defer;
      if (r !== undefined && sameCheck(e.def, e.state, svc, r, compareOutput)) {
        local.markCheckSynced(e.def.CheckID, e.def, e.state);
      } else local.markCheckOutOfSync(e.def.CheckID);
    }
    for (const r of remoteChecks.values()) {
      if (r.CheckID === SERF_CHECK_ID) continue;
      // A check of a service that is being removed goes with it.
      if (r.ServiceID !== '' && !remote.services.some((s) => s.ID === r.ServiceID)) continue;
      if (r.ServiceID === CONSUL_SERVICE_ID) continue;
      this.#log.info({ check: r.CheckID }, 'agent: deregistering a check this agent does not own');
      await this.#o.catalog.deregister({ Node: id.node, CheckID: r.CheckID });
    }
  }

  #baseRequest(): Omit<RegisterRequest, 'Service' | 'Check' | 'Checks'> {
    const id = this.#o.identity;
    return {
      ID: id.id,
      Node: id.node,
      Address: id.address,
      Datacenter: id.datacenter,
      TaggedAddresses: id.taggedAddresses,
      NodeMeta: id.meta,
    };
  }

  /** Pushes whatever is out of sync. */
  async #syncChanges(): Promise<void> {
    const local = this.#o.local;
    const node = this.#o.identity.node;
    if (!this.#nodeInSync) {
      await this.#o.catalog.register({ ...this.#baseRequest() });
      this.#nodeInSync = true;
    }
    const pushedWithService = new Set<string>();
    for (const e of local.serviceEntries()) {
      if (e.inSync) continue;
      const svc = e.service;
      if (e.deleted) {
        await this.#o.catalog.deregister({ Node: node, ServiceID: svc.ID });
        local.markServiceSynced(svc.ID, svc);
        // The catalog drops a service's checks with it.
        for (const c of local.checkEntries()) {
          if (c.def.ServiceID === svc.ID && c.deleted) {
            local.markCheckSynced(c.def.CheckID, c.def, undefined);
          }
        }
        continue;
      }
      const checks = local.checksFor(svc.ID, false);
      const states = checks.map((c) => c.state);
      await this.#o.catalog.register({
        ...this.#baseRequest(),
        SkipNodeUpdate: true,
        Service: serviceInput(svc),
        Checks: checks.map((c) => checkInput(node, c.def, c.state)),
      });
      local.markServiceSynced(svc.ID, svc);
      checks.forEach((c, i) => {
        local.markCheckSynced(c.def.CheckID, c.def, states[i]);
        pushedWithService.add(c.def.CheckID);
      });
    }
    const syncedServices = new Set(
      local
        .serviceEntries()
        .filter((e) => e.inSync && !e.deleted)
        .map((e) => e.service.ID),
    );
    for (const e of local.checkEntries()) {
      if (e.inSync || pushedWithService.has(e.def.CheckID)) continue;
      if (e.deleted) {
        await this.#o.catalog.deregister({ Node: node, CheckID: e.def.CheckID });
        local.markCheckSynced(e.def.CheckID, e.def, undefined);
        continue;
      }
      const svc = e.def.ServiceID === '' ? undefined : local.service(e.def.ServiceID);
      if (e.def.ServiceID !== '' && svc === undefined) continue; // its service is going away
      // A service added while this pass ran (a sidecar registered with its parent) is not in
      // the catalog yet: its checks go with it on the next pass, not alone and refused now.
      if (svc !== undefined && !syncedServices.has(svc.ID)) continue;
      const state = e.state;
      await this.#o.catalog.register({
        ...this.#baseRequest(),
        SkipNodeUpdate: true,
        Check: checkInput(node, e.def, state),
      });
      local.markCheckSynced(e.def.CheckID, e.def, state);
    }
  }
}
