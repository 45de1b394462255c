/**
 * The replicated state store: Consul's agent/consul/state on our own tables.
 *
 * Writes happen only through {@link StateStore.apply} / {@link StateStore.applyCommand}, one
 * Raft command at a time, each all-or-nothing (a {@link Journal} undoes a failed command).
 * Reads return `{ index, value }` where `index` is the X-Consul-Index to report (never 0) and
 * may register what they read on a {@link WatchSet} for blocking queries.
 *
 * Case: node names and service names compare case-insensitively (Consul's memdb indexes
 * lowercase them); service IDs, check IDs, session IDs and KV keys are case-sensitive.
 */
import {
  MessageType,
  decodeCommand,
  packr,
  plainView,
  validateCommand,
  type Command,
} from './commands.js';
import { StateError, StateErrorCode, isStateError } from './errors.js';
import { Journal, Table, channel, compare } from './table.js';
import {
  MAX_LOCK_DELAY_NS,
  type CAConfig,
  type CARoot,
  type ConfigEntryRequest,
  type ConfigEntryRow,
  type ConnectCARequest,
  type CheckInput,
  type CheckStatus,
  type DirEntry,
  type DirEntryInput,
  type HealthCheck,
  type Node,
  type RegisterRequest,
  type Service,
  type ServiceInput,
  type Session,
  type SessionInput,
  type Tombstone,
  type TxnError,
  type TxnOp,
  type TxnResponse,
} from './types.js';
import { WatchRegistry, type WatchSet } from './watch.js';

/** A read's result and the index to report for it (≥ 1). */
export interface QueryResult<T> {
  readonly index: number;
  readonly value: T;
}

/** A service instance with its node (the /catalog/service join). */
export interface ServiceNode {
  readonly Node: Node;
  readonly Service: Service;
}

/** A service instance with its node and the checks that apply to it (node + service checks). */
export interface CheckServiceNode {
  readonly Node: Node;
  readonly Service: Service;
  readonly Checks: readonly HealthCheck[];
}

export interface NodeServices {
  readonly Node: Node;
  readonly Services: readonly Service[];
}

/** What a command returns: see the command catalog in commands.ts. */
export type CommandValue = null | boolean | string | TxnResponse;

export type ApplyResult =
  | { readonly ok: true; readonly value: CommandValue; readonly ignored?: true }
  | { readonly ok: false; readonly error: StateError };

/** Which things a {@link StateStore.watch} call watches. */
export interface WatchSpec {
  readonly tables?: readonly TableName[];
  readonly rows?: ReadonlyArray<readonly [TableName, string]>;
  readonly prefixes?: ReadonlyArray<readonly [TableName, string]>;
}

export const TABLES = [
  'nodes',
  'services',
  'checks',
  'kvs',
  'tombstones',
  'sessions',
  'configEntries',
  'caRoots',
  'caConfig',
] as const;
export type TableName = (typeof TABLES)[number];

export const SNAPSHOT_MAGIC = 'trellis-state';
export const SNAPSHOT_VERSION = 1;

const lower = (s: string): string => s.toLowerCase();
const pair = (a: string, b: string): string => `${lower(a)}\0${b}`;
const serviceKey = (name: string): string => `service.${lower(name)}`;
const connectKey = (name: string): string => `connect.${lower(name)}`;
/** Config entries are keyed by kind and case-folded name, as Consul's memdb index is. */
const configKey = (kind: string, name: string): string => `${kind}\0${lower(name)}`;

/** The names under which a service instance counts for service-specific indexes. */
function serviceIndexKeys(s: Service): string[] {
  const keys = [serviceKey(s.Service)];
  if (s.Kind === 'connect-proxy') keys.push(connectKey(s.Proxy.DestinationServiceName));
  if (s.Connect.Native) keys.push(connectKey(s.Service));
  return keys;
}

/** The tables. Later issues add config entries, intentions, CA and ACL tables here. */
class Db {
  readonly nodes = new Table<Node>('nodes', (n) => lower(n.Node), [
    { name: 'id', keys: (n) => (n.ID === '' ? [] : [lower(n.ID)]) },
  ]);
  readonly services = new Table<Service>('services', (s) => pair(s.Node, s.ID), [
    { name: 'node', keys: (s) => [lower(s.Node)] },
    { name: 'service', keys: (s) => [lower(s.Service)] },
    {
      name: 'connect',
      keys: (s) =>
        s.Kind === 'connect-proxy'
          ? [lower(s.Proxy.DestinationServiceName)]
          : s.Connect.Native
            ? [lower(s.Service)]
            : [],
    },
  ]);
  readonly checks = new Table<HealthCheck>('checks', (c) => pair(c.Node, c.CheckID), [
    { name: 'node', keys: (c) => [lower(c.Node)] },
    { name: 'service', keys: (c) => (c.ServiceID === '' ? [] : [lower(c.ServiceName)]) },
    { name: 'node_service', keys: (c) => [pair(c.Node, c.ServiceID)] },
    { name: 'status', keys: (c) => [c.Status] },
  ]);
  readonly kvs = new Table<DirEntry>('kvs', (e) => e.Key, [
    { name: 'session', keys: (e) => (e.Session === undefined ? [] : [e.Session]) },
  ]);
  readonly tombstones = new Table<Tombstone>('tombstones', (t) => t.Key);
  readonly sessions = new Table<Session>('sessions', (s) => s.ID, [
    { name: 'node', keys: (s) => [lower(s.Node)] },
    { name: 'check', keys: (s) => sessionCheckIds(s).map((id) => pair(s.Node, id)) },
  ]);
  readonly configEntries = new Table<ConfigEntryRow>(
    'configEntries',
    (e) => configKey(e.Kind, e.Name),
    [{ name: 'kind', keys: (e) => [e.Kind] }],
  );
  readonly caRoots = new Table<CARoot>('caRoots', (r) => r.ID);
  /** One row at most, under the key `config`. */
  readonly caConfig = new Table<CAConfig>('caConfig', () => 'config');
  /** Per-service indexes (`service.<name>`, `connect.<name>`): Consul's index table entries. */
  readonly serviceIndexes = new Map<string, number>();
  /** Consul's service_last_extinction: the index at which some service lost its last instance. */
  lastExtinction = 0;
  /** Lock-delay expiries (ms since the epoch, leader clock) per KV key. */
  readonly lockDelays = new Map<string, number>();
  /** The index of the last applied command. */
  lastIndex = 0;

  table(name: TableName): Table<unknown> {
    return this[name] as Table<unknown>;
  }
}

function sessionCheckIds(s: Session): string[] {
  return [...new Set([...s.Checks, ...s.NodeChecks, ...s.ServiceChecks.map((c) => c.ID)])];
}

interface Ctx {
  readonly index: number;
  readonly now: number;
  readonly j: Journal;
}

export class StateStore {
  private db = new Db();
  private readonly watches = new WatchRegistry();

  /** The index of the last command applied (0 for an empty store). */
  get lastIndex(): number {
    return this.db.lastIndex;
  }

  // ---------------------------------------------------------------- applying

  /**
   * Applies the command in `bytes` at Raft index `index`. Never throws for bad bytes: a
   * malformed, invalid or refused command returns `{ ok: false }` and changes nothing. An
   * ERR_STATE_UNKNOWN_COMMAND result must stop the caller (Consul panics there).
   */
  apply(index: number, bytes: Uint8Array): ApplyResult {
    let cmd: ReturnType<typeof decodeCommand>;
    try {
      cmd = decodeCommand(bytes);
    } catch (e) {
      if (isStateError(e)) return { ok: false, error: e };
      throw e;
    }
    return this.run(index, cmd);
  }

  /** Applies an already-built command (validated here as if it came from bytes). */
  applyCommand(index: number, cmd: Command): ApplyResult {
    let checked: ReturnType<typeof validateCommand>;
    try {
      checked = validateCommand(cmd.type, cmd.now, cmd.body);
    } catch (e) {
      if (isStateError(e)) return { ok: false, error: e };
      throw e;
    }
    return this.run(index, checked);
  }

  private run(index: number, cmd: ReturnType<typeof decodeCommand>): ApplyResult {
    if (!Number.isSafeInteger(index) || index <= this.db.lastIndex) {
      return {
        ok: false,
        error: new StateError(
          StateErrorCode.INDEX_NOT_MONOTONIC,
          `index ${index} is not above the last applied index ${this.db.lastIndex}`,
          { index, lastApplied: this.db.lastIndex },
        ),
      };
    }
    if ('ignored' in cmd) {
      this.db.lastIndex = index;
      return { ok: true, value: null, ignored: true };
    }
    if (cmd.type === MessageType.Restore) return this.restoreAt(index, cmd.body.Snapshot);
    const ctx: Ctx = { index, now: cmd.now, j: new Journal() };
    let value: CommandValue;
    let keep = true;
    try {
      [value, keep] = this.dispatch(ctx, cmd);
    } catch (e) {
      ctx.j.rollback();
      if (isStateError(e)) return { ok: false, error: e };
      throw e;
    }
    if (!keep) ctx.j.rollback();
    this.db.lastIndex = index;
    this.watches.notify(ctx.j);
    return { ok: true, value };
  }

  private dispatch(ctx: Ctx, cmd: Command): [CommandValue, boolean] {
    switch (cmd.type) {
      case MessageType.Register:
        this.ensureRegistration(ctx, cmd.body);
        return [null, true];
      case MessageType.Deregister: {
        const { Node: node, ServiceID, CheckID } = cmd.body;
        if (ServiceID === undefined && CheckID === undefined) this.deleteNode(ctx, node);
        else {
          if (ServiceID !== undefined) this.deleteService(ctx, node, ServiceID);
          if (CheckID !== undefined) this.deleteCheck(ctx, node, CheckID);
        }
        return [null, true];
      }
      case MessageType.KVS:
        return [this.kvsOp(ctx, cmd.body.Op, cmd.body.DirEnt, true), true];
      case MessageType.Session:
        if (cmd.body.Op === 'create') return [this.createSession(ctx, cmd.body.Session), true];
        this.destroySession(ctx, cmd.body.Session.ID);
        return [null, true];
      case MessageType.Tombstone:
        this.reapTombstones(ctx, cmd.body.ReapIndex);
        return [null, true];
      case MessageType.Txn: {
        const res = this.txn(ctx, cmd.body.Ops);
        return [res, res.Errors.length === 0];
      }
      case MessageType.ConfigEntry:
        return [this.configEntryOp(ctx, cmd.body), true];
      case MessageType.ConnectCA:
        return [this.connectCAOp(ctx, cmd.body), true];
      case MessageType.Restore:
        throw new Error('restore is applied by run(), not dispatched');
    }
  }

  /**
   * The Restore command: the snapshot's rows replace everything, and every table's index
   * moves up to this command's so X-Consul-Index never goes backwards and every parked
   * blocking query wakes. A bad snapshot changes nothing.
   */
  private restoreAt(index: number, bytes: Uint8Array): ApplyResult {
    let db: Db;
    try {
      db = decodeSnapshot(bytes);
    } catch (e) {
      if (isStateError(e)) return { ok: false, error: e };
      throw e;
    }
    db.lastIndex = index;
    for (const name of TABLES) {
      const t = db.table(name);
      t.loadMaxIndex(Math.max(t.maxIndex, index));
    }
    this.db = db;
    this.watches.notifyAll();
    return { ok: true, value: true };
  }

  // ---------------------------------------------------------------- catalog writes

  private ensureRegistration(ctx: Ctx, req: RegisterRequest): void {
    if (req.SkipNodeUpdate !== true) {
      const existing = this.db.nodes.get(lower(req.Node));
      const spec = {
        ID: req.ID ?? '',
        Node: req.Node,
        Address: req.Address,
        Datacenter: req.Datacenter ?? '',
        TaggedAddresses: req.TaggedAddresses ?? {},
        Meta: req.NodeMeta ?? {},
      };
      if (
        existing === undefined ||
        existing.ID !== spec.ID ||
        existing.Node !== spec.Node ||
        existing.Address !== spec.Address ||
        existing.Datacenter !== spec.Datacenter ||
        !sameValue(existing.TaggedAddresses, spec.TaggedAddresses) ||
        !sameValue(existing.Meta, spec.Meta)
      ) {
        this.ensureNode(ctx, spec, existing);
      }
    }
    if (req.Service !== undefined) this.ensureService(ctx, req.Node, req.Service);
    if (req.Check !== undefined) this.ensureCheck(ctx, req.Check, req.Node);
    for (const c of req.Checks ?? []) this.ensureCheck(ctx, c, req.Node);
  }

  private ensureNode(
    ctx: Ctx,
    spec: Omit<Node, 'CreateIndex' | 'ModifyIndex'>,
    existing: Node | undefined,
  ): void {
    if (spec.ID !== '') {
      for (const other of this.db.nodes.lookup('id', lower(spec.ID))) {
        if (lower(other.Node) !== lower(spec.Node)) {
          throw new StateError(
            StateErrorCode.NODE_ID_CONFLICT,
            `node ID ${JSON.stringify(spec.ID)} for node ${JSON.stringify(spec.Node)} aliases existing node ${JSON.stringify(other.Node)}`,
            { id: spec.ID, node: spec.Node, existing: other.Node },
          );
        }
      }
    }
    const row: Node = {
      ID: spec.ID,
      Node: spec.Node,
      Address: spec.Address,
      Datacenter: spec.Datacenter,
      TaggedAddresses: spec.TaggedAddresses,
      Meta: spec.Meta,
      CreateIndex: existing?.CreateIndex ?? ctx.index,
      ModifyIndex: ctx.index,
    };
    this.db.nodes.put(row, ctx.j);
    this.db.nodes.bump(ctx.index, ctx.j);
    // Node fields appear in every service query of the node's services.
    for (const s of this.db.services.lookup('node', lower(spec.Node))) this.bumpService(ctx, s);
  }

  private ensureService(ctx: Ctx, nodeName: string, input: ServiceInput): void {
    const node = this.requireNode(nodeName);
    const id = input.ID ?? input.Service;
    const existing = this.db.services.get(pair(node.Node, id));
    const fields = {
      Node: node.Node,
      ID: id,
      Service: input.Service,
      Tags: input.Tags ?? [],
      Address: input.Address ?? '',
      TaggedAddresses: input.TaggedAddresses ?? {},
      Meta: input.Meta ?? {},
      Port: input.Port ?? 0,
      Weights: input.Weights ?? { Passing: 1, Warning: 1 },
      EnableTagOverride: input.EnableTagOverride ?? false,
      Kind: input.Kind ?? '',
      Proxy: {
        DestinationServiceName: input.Proxy?.DestinationServiceName ?? '',
        DestinationServiceID: input.Proxy?.DestinationServiceID ?? '',
        LocalServiceAddress: input.Proxy?.LocalServiceAddress ?? '',
        LocalServicePort: input.Proxy?.LocalServicePort ?? 0,
        Config: input.Proxy?.Config ?? {},
        Upstreams: input.Proxy?.Upstreams ?? [],
      },
      Connect: { Native: input.Connect?.Native ?? false },
    };
    // Consul skips the write (and the index bump) when nothing changed.
    if (existing !== undefined && sameValue(withoutIndexes(existing), fields)) return;
    const row: Service = {
      ...fields,
      CreateIndex: existing?.CreateIndex ?? ctx.index,
      ModifyIndex: ctx.index,
    };
    this.db.services.put(row, ctx.j);
    this.db.services.bump(ctx.index, ctx.j);
    if (existing !== undefined) this.serviceGone(ctx, existing);
    this.bumpService(ctx, row);
    // Keep the service's checks' ServiceName/ServiceTags in step with the service.
    let touched = false;
    for (const c of this.db.checks.lookup('node_service', pair(node.Node, id))) {
      if (c.ServiceName === row.Service && sameValue(c.ServiceTags, row.Tags)) continue;
      this.db.checks.put(
        { ...c, ServiceName: row.Service, ServiceTags: row.Tags, ModifyIndex: ctx.index },
        ctx.j,
      );
      touched = true;
    }
    if (touched) this.db.checks.bump(ctx.index, ctx.j);
  }

  private ensureCheck(ctx: Ctx, input: CheckInput, nodeName: string): void {
    const node = this.requireNode(input.Node ?? nodeName);
    const checkId = input.CheckID ?? input.Name ?? '';
    const existing = this.db.checks.get(pair(node.Node, checkId));
    const serviceId = input.ServiceID ?? '';
    let service: Service | undefined;
    if (serviceId !== '') {
      service = this.db.services.get(pair(node.Node, serviceId));
      if (service === undefined) {
        throw new StateError(StateErrorCode.MISSING_SERVICE, 'Missing service registration', {
          node: node.Node,
          serviceId,
        });
      }
    }
    const status: CheckStatus = input.Status ?? 'critical';
    const fields = {
      Node: node.Node,
      CheckID: checkId,
      Name: input.Name ?? '',
      Status: status,
      Notes: input.Notes ?? '',
      Output: input.Output ?? '',
      ServiceID: serviceId,
      ServiceName: service?.Service ?? '',
      ServiceTags: service?.Tags ?? [],
      Type: input.Type ?? '',
      Definition: input.Definition ?? {},
    };
    // Consul invalidates sessions on a critical check even when the row does not change.
    if (status === 'critical') this.invalidateCheckSessions(ctx, node.Node, checkId);
    if (existing !== undefined && sameValue(withoutIndexes(existing), fields)) return;
    this.db.checks.put(
      { ...fields, CreateIndex: existing?.CreateIndex ?? ctx.index, ModifyIndex: ctx.index },
      ctx.j,
    );
    this.db.checks.bump(ctx.index, ctx.j);
    if (service !== undefined) this.bumpService(ctx, service);
    else
      for (const s of this.db.services.lookup('node', lower(node.Node))) this.bumpService(ctx, s);
  }

  private deleteCheck(ctx: Ctx, nodeName: string, checkId: string): void {
    const existing = this.db.checks.remove(pair(nodeName, checkId), ctx.j);
    if (existing === undefined) return;
    this.db.checks.bump(ctx.index, ctx.j);
    const service =
      existing.ServiceID === ''
        ? undefined
        : this.db.services.get(pair(existing.Node, existing.ServiceID));
    if (service !== undefined) this.bumpService(ctx, service);
    else if (existing.ServiceID === '') {
      for (const s of this.db.services.lookup('node', lower(existing.Node))) {
        this.bumpService(ctx, s);
      }
    }
    this.invalidateCheckSessions(ctx, existing.Node, checkId);
  }

  private deleteService(ctx: Ctx, nodeName: string, serviceId: string): void {
    const key = pair(nodeName, serviceId);
    const existing = this.db.services.get(key);
    if (existing === undefined) return;
    for (const c of this.db.checks.lookup('node_service', key)) {
      this.deleteCheck(ctx, c.Node, c.CheckID);
    }
    this.db.services.remove(key, ctx.j);
    this.db.services.bump(ctx.index, ctx.j);
    this.serviceGone(ctx, existing);
  }

  private deleteNode(ctx: Ctx, nodeName: string): void {
    const node = this.db.nodes.get(lower(nodeName));
    if (node === undefined) return;
    for (const s of this.db.services.lookup('node', lower(nodeName))) {
      this.deleteService(ctx, s.Node, s.ID);
    }
    for (const c of this.db.checks.lookup('node', lower(nodeName))) {
      this.deleteCheck(ctx, c.Node, c.CheckID);
    }
    this.db.nodes.remove(lower(nodeName), ctx.j);
    this.db.nodes.bump(ctx.index, ctx.j);
    for (const s of this.db.sessions.lookup('node', lower(nodeName))) {
      this.destroySession(ctx, s.ID);
    }
  }

  private requireNode(name: string): Node {
    const node = this.db.nodes.get(lower(name));
    if (node === undefined) {
      throw new StateError(StateErrorCode.MISSING_NODE, 'Missing node registration', {
        node: name,
      });
    }
    return node;
  }

  /** Sets the service-specific indexes of `s` to the current index. */
  private bumpService(ctx: Ctx, s: Service): void {
    for (const k of serviceIndexKeys(s)) this.setServiceIndex(ctx, k, ctx.index);
  }

  /**
   * After `old` was replaced or removed: bumps its names' indexes, or drops them (recording the
   * extinction, as Consul does) when no instance remains under a name.
   */
  private serviceGone(ctx: Ctx, old: Service): void {
    const svcName = lower(old.Service);
    for (const k of serviceIndexKeys(old)) {
      const name = k.slice(k.indexOf('.') + 1);
      const remains = k.startsWith('service.')
        ? this.db.services.has('service', name)
        : this.db.services.has('connect', name);
      if (remains) this.setServiceIndex(ctx, k, ctx.index);
      else {
        this.setServiceIndex(ctx, k, undefined);
        if (k === serviceKey(svcName)) this.setExtinction(ctx, ctx.index);
      }
    }
  }

  private setServiceIndex(ctx: Ctx, key: string, value: number | undefined): void {
    const map = this.db.serviceIndexes;
    const prev = map.get(key);
    if (value === undefined) map.delete(key);
    else map.set(key, value);
    ctx.j.record(() => {
      if (prev === undefined) map.delete(key);
      else map.set(key, prev);
    });
    ctx.j.touched.add(channel.named(key));
  }

  private setExtinction(ctx: Ctx, index: number): void {
    const db = this.db;
    const prev = db.lastExtinction;
    db.lastExtinction = index;
    ctx.j.record(() => {
      db.lastExtinction = prev;
    });
  }

  // ---------------------------------------------------------------- sessions

  private createSession(ctx: Ctx, input: SessionInput): string {
    if (this.db.sessions.get(input.ID) !== undefined) {
      throw new StateError(StateErrorCode.SESSION_EXISTS, `session ${input.ID} already exists`, {
        id: input.ID,
      });
    }
    const node = this.requireNode(input.Node);
    const row: Session = {
      ID: input.ID,
      Name: input.Name ?? '',
      Node: node.Node,
      Checks: input.Checks ?? [],
      NodeChecks: input.NodeChecks ?? [],
      ServiceChecks: input.ServiceChecks ?? [],
      LockDelay: input.LockDelay ?? 0,
      Behavior: input.Behavior ?? 'release',
      TTL: input.TTL ?? '',
      CreateIndex: ctx.index,
      ModifyIndex: ctx.index,
    };
    for (const checkId of sessionCheckIds(row)) {
      const check = this.db.checks.get(pair(node.Node, checkId));
      if (check === undefined) {
        throw new StateError(
          StateErrorCode.MISSING_CHECK,
          `Missing check '${checkId}' registration`,
          { node: node.Node, checkId },
        );
      }
      if (check.Status === 'critical') {
        throw new StateError(
          StateErrorCode.CHECK_CRITICAL,
          `Check '${checkId}' is in critical state`,
          { node: node.Node, checkId },
        );
      }
    }
    this.db.sessions.put(row, ctx.j);
    this.db.sessions.bump(ctx.index, ctx.j);
    return row.ID;
  }

  /** Consul's deleteSessionTxn: releases or deletes held keys, recording lock delays. */
  private destroySession(ctx: Ctx, id: string): void {
    const session = this.db.sessions.get(id);
    if (session === undefined) return;
    const delayMs = Math.min(session.LockDelay, MAX_LOCK_DELAY_NS) / 1e6;
    this.pruneLockDelays(ctx);
    for (const e of this.db.kvs.lookup('session', id)) {
      if (session.Behavior === 'delete') this.kvDelete(ctx, e.Key);
      else this.kvWrite(ctx, withoutSession(e));
      if (delayMs > 0) this.setLockDelay(ctx, e.Key, ctx.now + delayMs);
    }
    this.db.sessions.remove(id, ctx.j);
    this.db.sessions.bump(ctx.index, ctx.j);
  }

  private invalidateCheckSessions(ctx: Ctx, nodeName: string, checkId: string): void {
    for (const s of this.db.sessions.lookup('check', pair(nodeName, checkId))) {
      this.destroySession(ctx, s.ID);
    }
  }

  private setLockDelay(ctx: Ctx, key: string, expires: number | undefined): void {
    const map = this.db.lockDelays;
    const prev = map.get(key);
    if (expires === undefined) map.delete(key);
    else map.set(key, expires);
    ctx.j.record(() => {
      if (prev === undefined) map.delete(key);
      else map.set(key, prev);
    });
  }

  private pruneLockDelays(ctx: Ctx): void {
    for (const [k, exp] of [...this.db.lockDelays]) {
      if (exp <= ctx.now) this.setLockDelay(ctx, k, undefined);
    }
  }

  // ---------------------------------------------------------------- KV writes

  private kvsOp(
    ctx: Ctx,
    op: TxnOp['KV']['Verb'],
    d: DirEntryInput,
    checkLockDelay: boolean,
  ): boolean {
    switch (op) {
      case 'set':
        this.kvSet(ctx, d);
        return true;
      case 'delete':
        this.kvDelete(ctx, d.Key);
        return true;
      case 'delete-tree':
        for (const e of this.db.kvs.withPrefix(d.Key)) this.kvDelete(ctx, e.Key);
        return true;
      case 'delete-cas':
        return this.kvDeleteCas(ctx, d);
      case 'cas':
        return this.kvCas(ctx, d) !== undefined;
      case 'lock':
        return this.kvLock(ctx, d, checkLockDelay) !== undefined;
      case 'unlock':
        return this.kvUnlock(ctx, d) !== undefined;
      default:
        throw new Error(`kvsOp: ${op} is not a write`);
    }
  }

  /** Consul's kvsSetTxn with updateSession=false: a plain write keeps the lock state. */
  private kvSet(ctx: Ctx, d: DirEntryInput): DirEntry {
    const existing = this.db.kvs.get(d.Key);
    return this.kvWrite(ctx, {
      Key: d.Key,
      Flags: d.Flags ?? 0,
      Value: d.Value ?? null,
      ...(existing?.Session === undefined ? {} : { Session: existing.Session }),
      LockIndex: existing?.LockIndex ?? 0,
      CreateIndex: 0,
      ModifyIndex: 0,
    });
  }

  /** Writes `e` (its indexes are filled in); skips the write when nothing changed. */
  private kvWrite(ctx: Ctx, e: DirEntry): DirEntry {
    const existing = this.db.kvs.get(e.Key);
    if (
      existing !== undefined &&
      existing.Flags === e.Flags &&
      existing.LockIndex === e.LockIndex &&
      existing.Session === e.Session &&
      bytesEqual(existing.Value, e.Value)
    ) {
      return existing;
    }
    const row: DirEntry = {
      Key: e.Key,
      Flags: e.Flags,
      Value: e.Value,
      ...(e.Session === undefined ? {} : { Session: e.Session }),
      LockIndex: e.LockIndex,
      CreateIndex: existing?.CreateIndex ?? ctx.index,
      ModifyIndex: ctx.index,
    };
    this.db.kvs.put(row, ctx.j);
    this.db.kvs.bump(ctx.index, ctx.j);
    return row;
  }

  /** Deletes a key, leaving a tombstone at this index; a missing key is a no-op. */
  private kvDelete(ctx: Ctx, key: string): void {
    if (this.db.kvs.remove(key, ctx.j) === undefined) return;
    this.db.tombstones.put({ Key: key, Index: ctx.index }, ctx.j);
    this.db.tombstones.bump(ctx.index, ctx.j);
    this.db.kvs.bump(ctx.index, ctx.j);
  }

  /** Consul's kvsDeleteCASTxn: true when deleted or already absent. */
  private kvDeleteCas(ctx: Ctx, d: DirEntryInput): boolean {
    const existing = this.db.kvs.get(d.Key);
    if (existing === undefined) return true;
    if (existing.ModifyIndex !== (d.ModifyIndex ?? 0)) return false;
    this.kvDelete(ctx, d.Key);
    return true;
  }

  /** Consul's kvsSetCASTxn: index 0 writes only if absent, else only if ModifyIndex matches. */
  private kvCas(ctx: Ctx, d: DirEntryInput): DirEntry | undefined {
    const existing = this.db.kvs.get(d.Key);
    const cas = d.ModifyIndex ?? 0;
    if (cas === 0 && existing !== undefined) return undefined;
    if (cas !== 0 && (existing === undefined || existing.ModifyIndex !== cas)) return undefined;
    return this.kvSet(ctx, d);
  }

  /** Consul's kvsLockTxn (+ the KV endpoint's lock-delay check when `checkLockDelay`). */
  private kvLock(ctx: Ctx, d: DirEntryInput, checkLockDelay: boolean): DirEntry | undefined {
    const session = d.Session ?? '';
    if (session === '') {
      throw new StateError(StateErrorCode.MISSING_SESSION, 'missing session', { key: d.Key });
    }
    if (this.db.sessions.get(session) === undefined) {
      throw new StateError(
        StateErrorCode.INVALID_SESSION,
        `invalid session ${JSON.stringify(session)}`,
        { key: d.Key, session },
      );
    }
    if (checkLockDelay) {
      const until = this.db.lockDelays.get(d.Key);
      if (until !== undefined && until > ctx.now) return undefined;
    }
    const existing = this.db.kvs.get(d.Key);
    let lockIndex = 1;
    if (existing !== undefined) {
      if (existing.Session === session) lockIndex = existing.LockIndex;
      else if (existing.Session !== undefined) return undefined;
      else lockIndex = existing.LockIndex + 1;
    }
    return this.kvWrite(ctx, {
      Key: d.Key,
      Flags: d.Flags ?? 0,
      Value: d.Value ?? null,
      Session: session,
      LockIndex: lockIndex,
      CreateIndex: 0,
      ModifyIndex: 0,
    });
  }

  /** Consul's kvsUnlockTxn: only the holder releases; the value is written too. */
  private kvUnlock(ctx: Ctx, d: DirEntryInput): DirEntry | undefined {
    const session = d.Session ?? '';
    if (session === '') {
      throw new StateError(StateErrorCode.MISSING_SESSION, 'missing session', { key: d.Key });
    }
    const existing = this.db.kvs.get(d.Key);
    if (existing === undefined || existing.Session !== session) return undefined;
    return this.kvWrite(ctx, {
      Key: d.Key,
      Flags: d.Flags ?? 0,
      Value: d.Value ?? null,
      LockIndex: existing.LockIndex,
      CreateIndex: 0,
      ModifyIndex: 0,
    });
  }

  private reapTombstones(ctx: Ctx, reapIndex: number): void {
    for (const t of this.db.tombstones.all()) {
      if (t.Index <= reapIndex) this.db.tombstones.remove(t.Key, ctx.j);
    }
  }

  // ---------------------------------------------------------------- transactions

  /** Consul's txnDispatch for KV ops: every op runs, errors are collected, any error aborts. */
  private txn(ctx: Ctx, ops: readonly TxnOp[]): TxnResponse {
    const results: Array<{ KV: DirEntry }> = [];
    const errors: TxnError[] = [];
    ops.forEach((op, i) => {
      try {
        for (const kv of this.txnKV(ctx, op.KV.Verb, op.KV.DirEnt)) results.push({ KV: kv });
      } catch (e) {
        if (!isStateError(e) && !(e instanceof TxnOpError)) throw e;
        errors.push({ OpIndex: i, What: e.message });
      }
    });
    return errors.length === 0 ? { Results: results, Errors: [] } : { Results: [], Errors: errors };
  }

  private txnKV(ctx: Ctx, verb: TxnOp['KV']['Verb'], d: DirEntryInput): DirEntry[] {
    const key = JSON.stringify(d.Key);
    const blank = (e: DirEntry): DirEntry[] => [{ ...e, Value: null }];
    switch (verb) {
      case 'set':
        return blank(this.kvSet(ctx, d));
      case 'delete':
      case 'delete-tree':
        this.kvsOp(ctx, verb, d, false);
        return [];
      case 'delete-cas':
        if (!this.kvDeleteCas(ctx, d)) {
          throw new TxnOpError(`failed to delete key ${key}, index is stale`);
        }
        return [];
      case 'cas': {
        const e = this.kvCas(ctx, d);
        if (e === undefined) throw new TxnOpError(`failed to set key ${key}, index is stale`);
        return blank(e);
      }
      case 'lock': {
        // Consul's transaction endpoint does not apply lock-delay.
        const e = this.kvLock(ctx, d, false);
        if (e === undefined) {
          throw new TxnOpError(`failed to lock key ${key}, lock is already held`);
        }
        return blank(e);
      }
      case 'unlock': {
        const e = this.kvUnlock(ctx, d);
        if (e === undefined) {
          throw new TxnOpError(
            `failed to unlock key ${key}, lock isn't held, or is held by another session`,
          );
        }
        return blank(e);
      }
      case 'get': {
        const e = this.db.kvs.get(d.Key);
        if (e === undefined) throw new TxnOpError(`key ${key} doesn't exist`);
        return [e];
      }
      case 'get-tree':
        return this.db.kvs.withPrefix(d.Key);
      case 'check-index': {
        const e = this.db.kvs.get(d.Key);
        if (e === undefined) throw new TxnOpError(`key ${key} doesn't exist`);
        const want = d.ModifyIndex ?? 0;
        if (e.ModifyIndex !== want) {
          throw new TxnOpError(
            `failed index check for key ${key}, current modify index ${e.ModifyIndex} != ${want}`,
          );
        }
        return blank(e);
      }
      case 'check-session': {
        const e = this.db.kvs.get(d.Key);
        if (e === undefined) throw new TxnOpError(`key ${key} doesn't exist`);
        const want = d.Session ?? '';
        if ((e.Session ?? '') !== want) {
          throw new TxnOpError(
            `failed session check for key ${key}, current session ${JSON.stringify(e.Session ?? '')} != ${JSON.stringify(want)}`,
          );
        }
        return blank(e);
      }
      case 'check-not-exists':
        if (this.db.kvs.get(d.Key) !== undefined) throw new TxnOpError(`key ${key} exists`);
        return [];
    }
  }

  // ---------------------------------------------------------------- watches

  /** A new, empty watch set: pass it to queries, then await `changed` / `wait(signal)`. */
  watchSet(): WatchSet {
    return this.watches.create();
  }

  /** A watch set on whole tables, single rows (by primary key) and primary-key prefixes. */
  watch(spec: WatchSpec, ws: WatchSet = this.watchSet()): WatchSet {
    for (const t of spec.tables ?? []) ws.add(channel.table(t));
    for (const [t, pk] of spec.rows ?? []) ws.add(channel.row(t, pk));
    for (const [t, p] of spec.prefixes ?? []) ws.add(channel.prefix(t, p));
    return ws;
  }

  /** Parked watch sets and live channels (for leak checks and metrics). */
  watchStats(): { parked: number; channels: number } {
    return { parked: this.watches.parked, channels: this.watches.channelCount };
  }

  // ---------------------------------------------------------------- reads: indexes

  /** The max index over the given tables (≥ 1). */
  maxIndex(...tables: TableName[]): number {
    let max = 1;
    for (const t of tables) max = Math.max(max, this.db.table(t).maxIndex);
    return max;
  }

  /** Consul's maxIndexForService: the per-service index, the extinction index, or the tables. */
  private indexForService(key: string, exists: boolean, checks: boolean): number {
    if (!exists && this.db.lastExtinction > 0) return this.db.lastExtinction;
    if (exists) {
      const idx = this.db.serviceIndexes.get(key);
      if (idx !== undefined) return Math.max(1, idx);
    }
    return checks
      ? this.maxIndex('nodes', 'services', 'checks')
      : this.maxIndex('nodes', 'services');
  }

  // ---------------------------------------------------------------- reads: catalog

  /** GET /v1/catalog/nodes: all nodes, ordered by name. */
  nodes(ws?: WatchSet): QueryResult<Node[]> {
    ws?.add(channel.table('nodes'));
    return { index: this.maxIndex('nodes'), value: this.db.nodes.all() };
  }

  /** One node by name (case-insensitive). */
  node(name: string, ws?: WatchSet): QueryResult<Node | undefined> {
    ws?.add(channel.row('nodes', lower(name)));
    return { index: this.maxIndex('nodes'), value: this.db.nodes.get(lower(name)) };
  }

  /** GET /v1/catalog/services: service name → union of tags (sorted), names sorted. */
  services(ws?: WatchSet): QueryResult<Record<string, string[]>> {
    ws?.add(channel.table('services'));
    const tags = new Map<string, Set<string>>();
    for (const s of this.db.services.all()) {
      let t = tags.get(s.Service);
      if (t === undefined) tags.set(s.Service, (t = new Set()));
      for (const tag of s.Tags) t.add(tag);
    }
    const names = [...tags.keys()].sort(compare);
    return {
      index: this.maxIndex('nodes', 'services'),
      value: Object.fromEntries(names.map((n) => [n, [...(tags.get(n) ?? [])].sort(compare)])),
    };
  }

  /**
   * Every service instance, by (node, ID): what GET /v1/catalog/services evaluates `?filter`
   * on before it groups tags by name (Consul's state.Services / ServicesByNodeMeta).
   *
   * Without `nodeMeta` the index is the services table's and only that table is watched, as in
   * Consul's Services (a node-only change does not wake the listing). With `nodeMeta` only
   * instances on nodes whose Meta has every given key with exactly the given value are listed;
   * the index is max(nodes, services) and both tables are watched (a node's meta change can
   * add or remove its instances).
   */
  serviceInstances(
    opts: { nodeMeta?: Readonly<Record<string, string>> } = {},
    ws?: WatchSet,
  ): QueryResult<Service[]> {
    ws?.add(channel.table('services'));
    const rows = this.db.services.all();
    const filters = opts.nodeMeta;
    if (filters === undefined) return { index: this.maxIndex('services'), value: rows };
    ws?.add(channel.table('nodes'));
    const matches = new Map<string, boolean>();
    const value = rows.filter((s) => {
      const key = lower(s.Node);
      let ok = matches.get(key);
      if (ok === undefined) {
        const node = this.db.nodes.get(key);
        ok = node !== undefined && satisfiesMeta(node.Meta, filters);
        matches.set(key, ok);
      }
      return ok;
    });
    return { index: this.maxIndex('nodes', 'services'), value };
  }

  /**
   * GET /v1/catalog/service/:name (?tag= repeated): instances with their nodes, by (node, ID).
   * Tags match case-insensitively and all must be present (Consul's serviceTagsFilter).
   */
  serviceNodes(
    name: string,
    opts: { tags?: readonly string[] } = {},
    ws?: WatchSet,
  ): QueryResult<ServiceNode[]> {
    const key = serviceKey(name);
    ws?.add(channel.named(key));
    const rows = this.db.services.lookup('service', lower(name));
    return {
      index: this.indexForService(key, rows.length > 0, false),
      value: this.join(filterTags(rows, opts.tags)),
    };
  }

  /**
   * GET /v1/catalog/connect/:name: connect-capable instances of `name` — sidecars whose
   * Proxy.DestinationServiceName is `name` and instances of `name` with Connect.Native.
   */
  connectServiceNodes(
    name: string,
    opts: { tags?: readonly string[] } = {},
    ws?: WatchSet,
  ): QueryResult<ServiceNode[]> {
    const key = connectKey(name);
    ws?.add(channel.named(key));
    const rows = this.db.services.lookup('connect', lower(name));
    return {
      index: this.indexForService(key, rows.length > 0, false),
      value: this.join(filterTags(rows, opts.tags)),
    };
  }

  /** GET /v1/catalog/node/:node: the node and its services (undefined if no such node). */
  nodeServices(nodeName: string, ws?: WatchSet): QueryResult<NodeServices | undefined> {
    ws?.add(channel.row('nodes', lower(nodeName)));
    ws?.add(channel.index('services', 'node', lower(nodeName)));
    const node = this.db.nodes.get(lower(nodeName));
    return {
      index: this.maxIndex('nodes', 'services'),
      value:
        node === undefined
          ? undefined
          : { Node: node, Services: this.db.services.lookup('node', lower(nodeName)) },
    };
  }

  // ---------------------------------------------------------------- reads: health

  /** GET /v1/health/node/:node: the node's checks (node-level and service), by CheckID. */
  nodeChecks(nodeName: string, ws?: WatchSet): QueryResult<HealthCheck[]> {
    ws?.add(channel.index('checks', 'node', lower(nodeName)));
    return {
      index: this.maxIndex('checks'),
      value: this.db.checks.lookup('node', lower(nodeName)),
    };
  }

  /** GET /v1/health/checks/:service: checks of every instance of the service. */
  serviceChecks(name: string, ws?: WatchSet): QueryResult<HealthCheck[]> {
    ws?.add(channel.index('checks', 'service', lower(name)));
    return { index: this.maxIndex('checks'), value: this.db.checks.lookup('service', lower(name)) };
  }

  /** GET /v1/health/state/:state: checks in a state ('any' for all), by (node, CheckID). */
  checksInState(state: CheckStatus | 'any', ws?: WatchSet): QueryResult<HealthCheck[]> {
    if (state === 'any') {
      ws?.add(channel.table('checks'));
      return { index: this.maxIndex('checks'), value: this.db.checks.all() };
    }
    ws?.add(channel.index('checks', 'status', state));
    return { index: this.maxIndex('checks'), value: this.db.checks.lookup('status', state) };
  }

  /**
   * GET /v1/health/service/:name (and /v1/health/connect/:name with `connect: true`): each
   * instance with its node and its checks (the node's checks, then the service's, by CheckID).
   * `passing` drops instances with any non-passing check (?passing).
   */
  checkServiceNodes(
    name: string,
    opts: { tags?: readonly string[]; connect?: boolean; passing?: boolean } = {},
    ws?: WatchSet,
  ): QueryResult<CheckServiceNode[]> {
    const key = opts.connect === true ? connectKey(name) : serviceKey(name);
    ws?.add(channel.named(key));
    const rows = this.db.services.lookup(
      opts.connect === true ? 'connect' : 'service',
      lower(name),
    );
    const out: CheckServiceNode[] = [];
    for (const { Node: node, Service: svc } of this.join(filterTags(rows, opts.tags))) {
      const checks = [
        ...this.db.checks.lookup('node_service', pair(node.Node, '')),
        ...this.db.checks.lookup('node_service', pair(node.Node, svc.ID)),
      ];
      if (opts.passing === true && checks.some((c) => c.Status !== 'passing')) continue;
      out.push({ Node: node, Service: svc, Checks: checks });
    }
    return { index: this.indexForService(key, rows.length > 0, true), value: out };
  }

  private join(rows: readonly Service[]): ServiceNode[] {
    const out: ServiceNode[] = [];
    for (const s of rows) {
      const node = this.db.nodes.get(lower(s.Node));
      if (node !== undefined) out.push({ Node: node, Service: s });
    }
    return out;
  }

  // ---------------------------------------------------------------- reads: KV

  /** GET /v1/kv/:key. The index is the KV tables' max index, as in Consul's kvsGetTxn. */
  kvGet(key: string, ws?: WatchSet): QueryResult<DirEntry | undefined> {
    ws?.add(channel.row('kvs', key));
    return { index: this.maxIndex('kvs', 'tombstones'), value: this.db.kvs.get(key) };
  }

  /**
   * GET /v1/kv/:prefix?recurse. The index is the highest ModifyIndex or tombstone under the
   * prefix (so it never goes backwards across deletes), else the KV tables' index.
   */
  kvList(prefix: string, ws?: WatchSet): QueryResult<DirEntry[]> {
    ws?.add(channel.prefix('kvs', prefix));
    ws?.add(channel.prefix('tombstones', prefix));
    const entries = this.db.kvs.withPrefix(prefix);
    let sub = 0;
    for (const e of entries) sub = Math.max(sub, e.ModifyIndex);
    return { index: this.kvPrefixIndex(prefix, sub), value: entries };
  }

  /**
   * GET /v1/kv/:prefix?keys&separator=: keys under the prefix; with a separator, keys are cut
   * after the first separator following the prefix and de-duplicated (Consul's kvsListKeysTxn).
   */
  kvKeys(prefix: string, separator = '', ws?: WatchSet): QueryResult<string[]> {
    ws?.add(channel.prefix('kvs', prefix));
    ws?.add(channel.prefix('tombstones', prefix));
    const keys: string[] = [];
    let sub = 0;
    let last: string | undefined;
    for (const e of this.db.kvs.withPrefix(prefix)) {
      sub = Math.max(sub, e.ModifyIndex);
      if (separator === '') {
        keys.push(e.Key);
        continue;
      }
      const at = e.Key.indexOf(separator, prefix.length);
      if (at >= 0) {
        const cut = e.Key.slice(0, at + separator.length);
        if (cut !== last) keys.push((last = cut));
      } else keys.push(e.Key);
    }
    return { index: this.kvPrefixIndex(prefix, sub), value: keys };
  }

  private kvPrefixIndex(prefix: string, entriesMax: number): number {
    let sub = entriesMax;
    if (prefix === '') sub = this.maxIndex('kvs', 'tombstones');
    else for (const t of this.db.tombstones.withPrefix(prefix)) sub = Math.max(sub, t.Index);
    return sub > 0 ? sub : this.maxIndex('kvs', 'tombstones');
  }

  /** Tombstones under a prefix, by key (the leader's tombstone GC reads them). */
  tombstones(prefix = ''): Tombstone[] {
    return this.db.tombstones.withPrefix(prefix);
  }

  /** When (ms since the epoch, leader clock) the key's lock-delay ends; 0 if none recorded. */
  lockDelay(key: string): number {
    return this.db.lockDelays.get(key) ?? 0;
  }

  // ---------------------------------------------------------------- reads: sessions

  /** GET /v1/session/info/:id. */
  session(id: string, ws?: WatchSet): QueryResult<Session | undefined> {
    ws?.add(channel.row('sessions', id));
    return { index: this.maxIndex('sessions'), value: this.db.sessions.get(id) };
  }

  /** GET /v1/session/list, by ID. */
  sessions(ws?: WatchSet): QueryResult<Session[]> {
    ws?.add(channel.table('sessions'));
    return { index: this.maxIndex('sessions'), value: this.db.sessions.all() };
  }

  /** GET /v1/session/node/:node, by ID. */
  nodeSessions(nodeName: string, ws?: WatchSet): QueryResult<Session[]> {
    ws?.add(channel.index('sessions', 'node', lower(nodeName)));
    return {
      index: this.maxIndex('sessions'),
      value: this.db.sessions.lookup('node', lower(nodeName)),
    };
  }

  // ---------------------------------------------------------------- connect

  /** Consul's ConfigEntry apply: returns false when a CAS lost (nothing changes then). */
  private configEntryOp(ctx: Ctx, req: ConfigEntryRequest): boolean {
    const t = this.db.configEntries;
    const key = configKey(req.Kind, req.Name);
    const existing = t.get(key);
    switch (req.Op) {
      case 'upsert-cas':
      case 'delete-cas':
        // Consul: index 0 means "only if it does not exist" for upsert-cas.
        if ((existing?.ModifyIndex ?? 0) !== (req.Index ?? 0)) return false;
        break;
      default:
        break;
    }
    if (req.Op === 'delete' || req.Op === 'delete-cas') {
      if (t.remove(key, ctx.j) !== undefined) t.bump(ctx.index, ctx.j);
      return true;
    }
    const entry = req.Entry ?? {};
    if (existing !== undefined && sameValue(existing.Entry, entry)) return true;
    t.put(
      {
        Kind: req.Kind,
        Name: req.Name,
        Entry: entry,
        CreateIndex: existing?.CreateIndex ?? ctx.index,
        ModifyIndex: ctx.index,
      },
      ctx.j,
    );
    t.bump(ctx.index, ctx.j);
    return true;
  }

  /**
   * Consul's CA apply: roots replace the whole roots table. The CAS: set-config and
   * set-roots-and-config compare `Index` with the configuration's ModifyIndex (0: not yet
   * configured, so two leaders cannot both initialise the CA); set-roots compares it with the
   * roots table's index when it is above 0. Returns false (changing nothing) when it lost.
   */
  private connectCAOp(ctx: Ctx, req: ConnectCARequest): boolean {
    const cas = req.Index ?? 0;
    if (req.Op === 'set-roots') {
      if (cas > 0 && this.db.caRoots.maxIndex !== cas) return false;
    } else if ((this.db.caConfig.get('config')?.ModifyIndex ?? 0) !== cas) {
      return false;
    }
    if (req.Roots !== undefined) {
      const t = this.db.caRoots;
      const keep = new Set(req.Roots.map((r) => r.ID));
      for (const old of t.all()) if (!keep.has(old.ID)) t.remove(old.ID, ctx.j);
      for (const r of req.Roots) {
        const existing = t.get(r.ID);
        if (existing !== undefined && sameValue(withoutIndexes(existing), r)) continue;
        t.put(
          { ...r, CreateIndex: existing?.CreateIndex ?? ctx.index, ModifyIndex: ctx.index },
          ctx.j,
        );
      }
      t.bump(ctx.index, ctx.j);
    }
    if (req.Config !== undefined) {
      const t = this.db.caConfig;
      const existing = t.get('config');
      t.put(
        { ...req.Config, CreateIndex: existing?.CreateIndex ?? ctx.index, ModifyIndex: ctx.index },
        ctx.j,
      );
      t.bump(ctx.index, ctx.j);
    }
    return true;
  }

  // ---------------------------------------------------------------- reads: connect

  /** GET /v1/config/:kind/:name. */
  configEntry(kind: string, name: string, ws?: WatchSet): QueryResult<ConfigEntryRow | undefined> {
    const key = configKey(kind, name);
    ws?.add(channel.row('configEntries', key));
    return { index: this.maxIndex('configEntries'), value: this.db.configEntries.get(key) };
  }

  /** GET /v1/config/:kind (or every kind), ordered by kind then name. */
  configEntries(kind?: string, ws?: WatchSet): QueryResult<ConfigEntryRow[]> {
    const t = this.db.configEntries;
    if (kind === undefined) {
      ws?.add(channel.table('configEntries'));
      return { index: this.maxIndex('configEntries'), value: t.all() };
    }
    ws?.add(channel.index('configEntries', 'kind', kind));
    return { index: this.maxIndex('configEntries'), value: t.lookup('kind', kind) };
  }

  /** The CA roots (active first, then by ID) and the roots table's index. */
  caRoots(ws?: WatchSet): QueryResult<CARoot[]> {
    ws?.add(channel.table('caRoots'));
    const roots = this.db.caRoots.all().sort((a, b) => Number(b.Active) - Number(a.Active));
    return { index: this.maxIndex('caRoots'), value: roots };
  }

  /** The CA configuration, undefined until the first leader has initialised the CA. */
  caConfig(ws?: WatchSet): QueryResult<CAConfig | undefined> {
    ws?.add(channel.table('caConfig'));
    return { index: this.maxIndex('caConfig'), value: this.db.caConfig.get('config') };
  }

  // ---------------------------------------------------------------- snapshot / restore

  /**
   * The whole store as msgpack: `[MAGIC, VERSION, lastIndex, tables, serviceIndexes,
   * lastExtinction, lockDelays]`, every collection in key order, so equal stores give equal bytes.
   */
  snapshot(): Uint8Array {
    const db = this.db;
    const sorted = (m: Map<string, number>): Array<[string, number]> =>
      [...m].sort((a, b) => compare(a[0], b[0]));
    const body = [
      SNAPSHOT_MAGIC,
      SNAPSHOT_VERSION,
      db.lastIndex,
      TABLES.map((t) => [t, db.table(t).maxIndex, db.table(t).all()]),
      sorted(db.serviceIndexes),
      db.lastExtinction,
      sorted(db.lockDelays),
    ];
    return new Uint8Array(packr.pack(body));
  }

  /**
   * Replaces the whole store with a snapshot and fires every parked watch. Throws
   * ERR_STATE_SNAPSHOT_INVALID (store unchanged) for bytes that are not a snapshot.
   */
  restore(bytes: Uint8Array): void {
    this.db = decodeSnapshot(bytes);
    this.watches.notifyAll();
  }
}

/** Decodes a snapshot into a fresh Db; throws SNAPSHOT_INVALID (only) on bad bytes. */
function decodeSnapshot(bytes: Uint8Array): Db {
  const bad = (reason: string): StateError =>
    new StateError(StateErrorCode.SNAPSHOT_INVALID, `invalid snapshot: ${reason}`, { reason });
  let raw: unknown;
  try {
    raw = packr.unpack(plainView(bytes));
  } catch {
    throw bad('not msgpack');
  }
  if (!Array.isArray(raw) || raw.length !== 7) throw bad('not a snapshot');
  const [magic, version, lastIndex, tables, svcIdx, extinction, delays] = raw as unknown[];
  if (magic !== SNAPSHOT_MAGIC) throw bad('wrong magic');
  if (version !== SNAPSHOT_VERSION) throw bad(`unsupported version ${String(version)}`);
  const db = new Db();
  try {
    db.lastIndex = index(lastIndex);
    db.lastExtinction = index(extinction);
    for (const [k, v] of pairs(svcIdx)) db.serviceIndexes.set(k, index(v));
    for (const [k, v] of pairs(delays)) db.lockDelays.set(k, index(v));
    if (!Array.isArray(tables)) throw bad('tables');
    for (const t of tables as unknown[]) {
      if (!Array.isArray(t) || t.length !== 3) throw bad('table entry');
      const [name, max, rows] = t as [unknown, unknown, unknown];
      if (typeof name !== 'string' || !(TABLES as readonly string[]).includes(name)) {
        throw bad(`unknown table ${String(name)}`);
      }
      if (!Array.isArray(rows)) throw bad(`rows of ${name}`);
      const table = db.table(name as TableName);
      table.loadMaxIndex(index(max));
      for (const row of rows as unknown[]) {
        if (typeof row !== 'object' || row === null) throw bad(`row of ${name}`);
        table.load(row);
      }
    }
  } catch (e) {
    if (isStateError(e)) throw e;
    throw bad(e instanceof Error ? e.message : String(e));
  }
  return db;
}

class TxnOpError extends Error {}

function index(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error('bad index');
  return v;
}

function pairs(v: unknown): Array<[string, unknown]> {
  if (!Array.isArray(v)) throw new Error('bad pairs');
  return (v as unknown[]).map((p) => {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string')
      throw new Error('bad pair');
    return [p[0], p[1] as unknown];
  });
}

/** Consul's structs.SatisfiesMetaFilters: every filter key present with exactly that value. */
function satisfiesMeta(
  meta: Readonly<Record<string, string>>,
  filters: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of Object.entries(filters)) {
    if (!Object.hasOwn(meta, k) || meta[k] !== v) return false;
  }
  return true;
}

function filterTags(rows: readonly Service[], tags: readonly string[] | undefined): Service[] {
  if (tags === undefined || tags.length === 0) return [...rows];
  const want = tags.map(lower);
  return rows.filter((s) => {
    const have = new Set(s.Tags.map(lower));
    return want.every((t) => have.has(t));
  });
}

function withoutIndexes<T extends { CreateIndex: number; ModifyIndex: number }>(
  row: T,
): Omit<T, 'CreateIndex' | 'ModifyIndex'> {
  const { CreateIndex: _c, ModifyIndex: _m, ...rest } = row;
  return rest;
}

function withoutSession(e: DirEntry): DirEntry {
  const { Session: _s, ...rest } = e;
  return rest;
}

function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Structural equality over plain values (key order ignored). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && bytesEqual(a, b);
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const bo = b as Record<string, unknown>;
  const ao = a as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(bo, k) && sameValue(ao[k], bo[k]));
}
