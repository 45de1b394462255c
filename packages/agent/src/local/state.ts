/**
 * The agent's local state (Consul's agent/local.State): the services and checks this agent
 * owns, each with whether the catalog is known to hold it as it is here. Anti-entropy
 * (anti-entropy.ts) reads what is out of sync and marks what it wrote; everything else (the
 * agent endpoints, check runners, config files) changes it through the methods here.
 *
 * Local state is authoritative for its node: the catalog is made to match it, never the
 * other way round (except tags of a service with EnableTagOverride, which anti-entropy takes
 * from the catalog).
 *
 * Persistence: definitions (not check statuses) are written to `<data_dir>/local-state.json`
 * atomically (temp file, fsync, rename, directory fsync) on every register and deregister, so
 * an agent restarted from the same data dir comes back with its registrations. Check
 * statuses start again from each definition's initial status after a restart.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { CheckStatus } from '@trellis/state';
import type { CheckDefinition, CheckState, LocalService } from './types.js';

export interface LocalServiceEntry {
  readonly service: LocalService;
  inSync: boolean;
  /** Deregistered here; anti-entropy removes it from the catalog, then forgets it. */
  deleted: boolean;
  /** Registered from a config file (reloaded, not persisted). */
  readonly fromConfig: boolean;
}

export interface LocalCheckEntry {
  readonly def: CheckDefinition;
  state: CheckState;
  inSync: boolean;
  deleted: boolean;
  readonly fromConfig: boolean;
  /** Monotonic ms when the check turned critical (for DeregisterCriticalServiceAfter). */
  criticalSince: number | undefined;
  /** Monotonic ms of the last sync of this check (output-only changes wait a while). */
  syncedAt: number;
}

/** The persisted form. */
interface PersistedState {
  readonly version: 1;
  readonly services: readonly LocalService[];
  readonly checks: readonly CheckDefinition[];
}

export const STATE_FILE = 'local-state.json';
/** Largest persisted file read back (a corrupt or hostile file is refused, not parsed). */
const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

const str = (o: Record<string, unknown>, k: string): boolean => typeof o[k] === 'string';
const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The persisted shape of a service (what addService stored), checked field by field. */
function isLocalService(v: unknown): v is LocalService {
  return (
    isObj(v) &&
    str(v, 'ID') &&
    str(v, 'Service') &&
    str(v, 'Address') &&
    str(v, 'Kind') &&
    typeof v.Port === 'number' &&
    typeof v.EnableTagOverride === 'boolean' &&
    Array.isArray(v.Tags) &&
    isObj(v.Meta) &&
    isObj(v.TaggedAddresses) &&
    isObj(v.Weights) &&
    isObj(v.Proxy) &&
    isObj(v.Connect)
  );
}

const KINDS = new Set(['ttl', 'http', 'tcp', 'grpc', 'alias', 'script']);

function isCheckDefinition(v: unknown): v is CheckDefinition {
  return (
    isObj(v) &&
    str(v, 'CheckID') &&
    str(v, 'Name') &&
    str(v, 'ServiceID') &&
    typeof v.kind === 'string' &&
    KINDS.has(v.kind) &&
    ['passing', 'warning', 'critical'].includes(v.Status as string) &&
    typeof v.Interval === 'number' &&
    typeof v.Timeout === 'number' &&
    typeof v.TTL === 'number' &&
    isObj(v.Header) &&
    Array.isArray(v.ScriptArgs)
  );
}

export class LocalStateError extends Error {
  override readonly name = 'LocalStateError';
}

export class LocalState {
  readonly #services = new Map<string, LocalServiceEntry>();
  readonly #checks = new Map<string, LocalCheckEntry>();
  readonly #listeners = new Set<() => void>();
  readonly #dataDir: string;
  readonly #now: () => number;

  constructor(opts: { readonly dataDir: string; readonly now?: () => number }) {
    this.#dataDir = opts.dataDir;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Reads what a previous run persisted (nothing in dev mode or on a first start). */
  loadPersisted(): { services: LocalService[]; checks: CheckDefinition[] } {
    if (this.#dataDir === '') return { services: [], checks: [] };
    let text: string;
    const path = join(this.#dataDir, STATE_FILE);
    try {
      const buf = readFileSync(path);
      if (buf.length > MAX_STATE_FILE_BYTES) {
        throw new LocalStateError(`${path}: ${buf.length} bytes is over the limit`);
      }
      text = buf.toString('utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { services: [], checks: [] };
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new LocalStateError(`${path}: not valid JSON (${(e as Error).message})`);
    }
    const p = parsed as Partial<PersistedState> | null;
    if (
      p === null ||
      typeof p !== 'object' ||
      p.version !== 1 ||
      !Array.isArray(p.services) ||
      !Array.isArray(p.checks)
    ) {
      throw new LocalStateError(`${path}: not a Trellis local-state file (version 1)`);
    }
    const services = (p.services as unknown[]).filter(isLocalService);
    const checks = (p.checks as unknown[]).filter(isCheckDefinition);
    const dropped = p.services.length - services.length + p.checks.length - checks.length;
    if (dropped > 0) {
      throw new LocalStateError(`${path}: ${dropped} entries are not services or checks`);
    }
    return { services, checks };
  }

  #persist(): void {
    if (this.#dataDir === '') return;
    const body: PersistedState = {
      version: 1,
      services: [...this.#services.values()]
        .filter((e) => !e.deleted && !e.fromConfig)
        .map((e) => e.service),
      checks: [...this.#checks.values()]
        .filter((e) => !e.deleted && !e.fromConfig)
        .map((e) => e.def),
    };
    mkdirSync(this.#dataDir, { recursive: true });
    const path = join(this.#dataDir, STATE_FILE);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(body));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dfd = openSync(this.#dataDir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  /** Called after every change that anti-entropy should push. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    for (const fn of this.#listeners) fn();
  }

  // ---------------------------------------------------------------- services

  service(id: string): LocalService | undefined {
    const e = this.#services.get(id);
    return e === undefined || e.deleted ? undefined : e.service;
  }

  services(): LocalService[] {
    return [...this.#services.values()].filter((e) => !e.deleted).map((e) => e.service);
  }

  serviceEntries(): LocalServiceEntry[] {
    return [...this.#services.values()];
  }

  /** Adds or replaces a service (and marks it for sync). */
  addService(service: LocalService, opts: { fromConfig?: boolean; persist?: boolean } = {}): void {
    this.#services.set(service.ID, {
      service,
      inSync: false,
      deleted: false,
      fromConfig: opts.fromConfig === true,
    });
    if (opts.persist !== false) this.#persist();
    this.#changed();
  }

  /** Removes a service and its checks. Returns false when there was none. */
  removeService(id: string, opts: { persist?: boolean } = {}): boolean {
    const e = this.#services.get(id);
    if (e === undefined || e.deleted) return false;
    e.deleted = true;
    e.inSync = false;
    for (const c of this.#checks.values()) {
      if (c.def.ServiceID === id && !c.deleted) {
        c.deleted = true;
        c.inSync = false;
      }
    }
    if (opts.persist !== false) this.#persist();
    this.#changed();
    return true;
  }

  /** Anti-entropy: the catalog now holds this service as it is here (or it is gone). */
  markServiceSynced(id: string, service: LocalService | undefined): void {
    const e = this.#services.get(id);
    if (e === undefined || (service !== undefined && e.service !== service)) return;
    if (e.deleted) this.#services.delete(id);
    else e.inSync = true;
  }

  /** Anti-entropy: the catalog differs (or a deleted entry is still there). */
  markServiceOutOfSync(id: string): void {
    const e = this.#services.get(id);
    if (e !== undefined) e.inSync = false;
  }

  /** Replaces the tags of a service with EnableTagOverride (taken from the catalog). */
  overrideTags(id: string, tags: readonly string[]): void {
    const e = this.#services.get(id);
    if (e === undefined || e.deleted) return;
    this.#services.set(id, { ...e, service: { ...e.service, Tags: [...tags] }, inSync: true });
  }

  // ---------------------------------------------------------------- checks

  check(id: string): LocalCheckEntry | undefined {
    const e = this.#checks.get(id);
    return e === undefined || e.deleted ? undefined : e;
  }

  checks(): LocalCheckEntry[] {
    return [...this.#checks.values()].filter((e) => !e.deleted);
  }

  checkEntries(): LocalCheckEntry[] {
    return [...this.#checks.values()];
  }

  /** The checks of a service (and, with `includeNode`, the node's own checks). */
  checksFor(serviceId: string, includeNode: boolean): LocalCheckEntry[] {
    return this.checks().filter(
      (c) => c.def.ServiceID === serviceId || (includeNode && c.def.ServiceID === ''),
    );
  }

  addCheck(
    def: CheckDefinition,
    opts: { fromConfig?: boolean; persist?: boolean; state?: CheckState } = {},
  ): void {
    const prev = this.#checks.get(def.CheckID);
    // Re-registering keeps the current status when the check is the same kind (Consul keeps
    // a TTL check's status across a re-register); otherwise it starts from its definition.
    const keep = prev !== undefined && !prev.deleted && prev.def.kind === def.kind;
    const state = opts.state ?? (keep ? prev.state : { Status: def.Status, Output: '' });
    this.#checks.set(def.CheckID, {
      def,
      state,
      inSync: false,
      deleted: false,
      fromConfig: opts.fromConfig === true,
      criticalSince: state.Status === 'critical' ? this.#now() : undefined,
      syncedAt: 0,
    });
    if (opts.persist !== false) this.#persist();
    this.#changed();
  }

  removeCheck(id: string, opts: { persist?: boolean } = {}): boolean {
    const e = this.#checks.get(id);
    if (e === undefined || e.deleted) return false;
    e.deleted = true;
    e.inSync = false;
    if (opts.persist !== false) this.#persist();
    this.#changed();
    return true;
  }

  /**
   * A check's new status and output. A status change is pushed at once; a change of output
   * alone waits until `outputDeferMs` after the check was last synced (Consul's
   * check_update_interval), so a check whose output carries a timestamp does not write to
   * the catalog every interval. Returns false when the check does not exist.
   */
  updateCheck(id: string, status: CheckStatus, output: string, outputDeferMs: number): boolean {
    const e = this.#checks.get(id);
    if (e === undefined || e.deleted) return false;
    if (e.state.Status === status && e.state.Output === output) return true;
    const statusChanged = e.state.Status !== status;
    e.state = { Status: status, Output: output };
    if (statusChanged) {
      e.criticalSince = status === 'critical' ? this.#now() : undefined;
      e.inSync = false;
      this.#changed();
    } else if (this.#now() - e.syncedAt >= outputDeferMs) {
      e.inSync = false;
      this.#changed();
    }
    return true;
  }

  markCheckSynced(id: string, def: CheckDefinition, state: CheckState | undefined): void {
    const e = this.#checks.get(id);
    if (e === undefined || e.def !== def) return;
    if (e.deleted) {
      this.#checks.delete(id);
      return;
    }
    if (state !== undefined && e.state === state) e.inSync = true;
    e.syncedAt = this.#now();
  }

  markCheckOutOfSync(id: string): void {
    const e = this.#checks.get(id);
    if (e !== undefined) e.inSync = false;
  }

  /** Marks everything for a resync (after the node itself was found out of sync). */
  markAllOutOfSync(): void {
    for (const e of this.#services.values()) e.inSync = false;
    for (const e of this.#checks.values()) e.inSync = false;
  }
}
