/**
 * Raft commands: a typed, versioned msgpack envelope `[ENVELOPE_VERSION, type, now, body]`.
 *
 * - `type` is a {@link MessageType}: an append-only numeric enum using Consul's own numbers
 *   (structs.MessageType). A type with {@link IGNORE_UNKNOWN_TYPE_FLAG} set may be skipped by a
 *   server that does not know it; any other unknown type is refused (ERR_STATE_UNKNOWN_COMMAND).
 * - `now` is the leader's wall clock (ms since the epoch) when it proposed the command: the only
 *   time the store ever sees (lock-delay bookkeeping), so applying is deterministic.
 * - `body` is the request, validated field by field on decode: bad bytes from the log yield a
 *   StateError, never an exception and never a change.
 */
import { Packr } from 'msgpackr';
import { StateError, StateErrorCode, invalid } from './errors.js';
import {
  CHECK_STATUSES,
  CONFIG_ENTRY_OPS,
  CONNECT_CA_OPS,
  MAX_CA_ROOTS,
  MAX_CONFIG_ENTRY_BYTES,
  type CAConfigInput,
  type CARootInput,
  type ConfigEntryRequest,
  type ConnectCARequest,
  KV_OPS,
  MAX_RESTORE_BYTES,
  MAX_TXN_OPS,
  SERVICE_KINDS,
  TXN_KV_VERBS,
  type CheckInput,
  type DeregisterRequest,
  type DirEntryInput,
  type KVSRequest,
  type PlainMap,
  type PlainValue,
  type RegisterRequest,
  type RestoreRequest,
  type ServiceAddress,
  type ServiceCheck,
  type ServiceInput,
  type ServiceProxy,
  type SessionInput,
  type SessionRequest,
  type TombstoneRequest,
  type TxnOp,
  type TxnRequest,
  type Upstream,
} from './types.js';

export const ENVELOPE_VERSION = 1;

/** Append-only: never renumber or reuse. Numbers follow Consul's structs.MessageType. */
export const MessageType = {
  Register: 0,
  Deregister: 1,
  KVS: 2,
  Session: 3,
  Tombstone: 5,
  Txn: 8,
  ConnectCA: 13,
  ConfigEntry: 22,
  /**
   * Trellis only (Consul restores a snapshot beside the log, not through it): replaces the
   * whole state on every server at one index. Far above Consul's numbers, below the flag.
   */
  Restore: 120,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Consul's IgnoreUnknownTypeFlag: an older server skips such a command instead of refusing. */
export const IGNORE_UNKNOWN_TYPE_FLAG = 128;

interface Envelope<T extends MessageType, B> {
  readonly type: T;
  /** The leader's clock in ms since the epoch at proposal time. */
  readonly now: number;
  readonly body: B;
}

export type Command =
  | Envelope<typeof MessageType.Register, RegisterRequest>
  | Envelope<typeof MessageType.Deregister, DeregisterRequest>
  | Envelope<typeof MessageType.KVS, KVSRequest>
  | Envelope<typeof MessageType.Session, SessionRequest>
  | Envelope<typeof MessageType.Tombstone, TombstoneRequest>
  | Envelope<typeof MessageType.Txn, TxnRequest>
  | Envelope<typeof MessageType.ConnectCA, ConnectCARequest>
  | Envelope<typeof MessageType.ConfigEntry, ConfigEntryRequest>
  | Envelope<typeof MessageType.Restore, RestoreRequest>;

/** A decoded command of a type this build does not know but may skip. */
export interface IgnoredCommand {
  readonly type: number;
  readonly ignored: true;
}

/** Plain msgpack (no record extension, smallest map headers), readable by any msgpack reader. */
export const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  mapsAsObjects: true,
  variableMapSize: true,
  // Decoded bytes must not alias the input (the caller may reuse its buffer).
  copyBuffers: true,
});

/** Encodes a command (validating it first: a leader never proposes what the FSM would refuse). */
export function encodeCommand(cmd: Command): Uint8Array {
  const checked = validateCommand(cmd.type, cmd.now, cmd.body);
  if ('ignored' in checked) return encodeRawCommand(cmd.type, cmd.now, cmd.body);
  return copy(packr.pack([ENVELOPE_VERSION, checked.type, checked.now, checked.body]));
}

/** Encodes a command of an arbitrary type number, for version-skew tests and future types. */
export function encodeRawCommand(type: number, now: number, body: unknown): Uint8Array {
  return copy(packr.pack([ENVELOPE_VERSION, type, now, body]));
}

/** Decodes and validates command bytes; throws {@link StateError} (only) on anything bad. */
export function decodeCommand(bytes: Uint8Array): Command | IgnoredCommand {
  let raw: unknown;
  try {
    raw = packr.unpack(plainView(bytes));
  } catch (e) {
    throw new StateError(StateErrorCode.MALFORMED_COMMAND, 'command bytes are not msgpack', {
      reason: e instanceof Error ? e.message : String(e),
    });
  }
  if (!Array.isArray(raw) || raw.length !== 4) {
    throw new StateError(StateErrorCode.MALFORMED_COMMAND, 'command is not a 4-element array', {
      reason: 'shape',
    });
  }
  const [version, type, now, body] = raw as [unknown, unknown, unknown, unknown];
  if (version !== ENVELOPE_VERSION) {
    throw new StateError(
      StateErrorCode.UNSUPPORTED_VERSION,
      `unsupported command envelope version ${String(version)}`,
      { version },
    );
  }
  if (typeof type !== 'number' || !Number.isInteger(type) || type < 0 || type > 255) {
    throw new StateError(StateErrorCode.MALFORMED_COMMAND, 'command type must be 0..255', {
      reason: 'type',
    });
  }
  return validateCommand(type, now, body);
}

/** Validates a command given as parts; returns a fresh, normalised copy. */
export function validateCommand(
  type: number,
  now: unknown,
  body: unknown,
): Command | IgnoredCommand {
  const t = nonNegInt(now, 'now');
  switch (type) {
    case MessageType.Register:
      return { type, now: t, body: registerRequest(body) };
    case MessageType.Deregister:
      return { type, now: t, body: deregisterRequest(body) };
    case MessageType.KVS:
      return { type, now: t, body: kvsRequest(body) };
    case MessageType.Session:
      return { type, now: t, body: sessionRequest(body) };
    case MessageType.Tombstone:
      return { type, now: t, body: tombstoneRequest(body) };
    case MessageType.Txn:
      return { type, now: t, body: txnRequest(body) };
    case MessageType.Restore:
      return { type, now: t, body: restoreRequest(body) };
    case MessageType.ConnectCA:
      return { type, now: t, body: connectCARequest(body) };
    case MessageType.ConfigEntry:
      return { type, now: t, body: configEntryRequest(body) };
    default:
      if ((type & IGNORE_UNKNOWN_TYPE_FLAG) !== 0) return { type, ignored: true };
      throw new StateError(
        StateErrorCode.UNKNOWN_COMMAND,
        `unknown command type ${type}: this server is older than the log; upgrade it`,
        { type },
      );
  }
}

/**
 * A fresh plain Uint8Array view of `b` (no copy): msgpackr caches a DataView on the buffer it
 * reads (so never hand it the caller's object), and a plain view makes it decode bin values as
 * plain Uint8Arrays whatever the caller passed (Buffer or not).
 */
export function plainView(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** A plain Uint8Array copy (msgpackr reuses its output buffer across calls). */
function copy(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

// ---- Field validators: each returns a fresh value or throws INVALID_COMMAND naming the path. ----

type Obj = Readonly<Record<string, unknown>>;

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw invalid(path, 'must be a map');
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw invalid(path, 'must be a plain map');
  return v as Obj;
}

function str(v: unknown, path: string, max = 65536): string {
  if (typeof v !== 'string') throw invalid(path, 'must be a string');
  if (v.length > max) throw invalid(path, `longer than ${max}`);
  return v;
}

function nonEmpty(v: unknown, path: string): string {
  const s = str(v, path);
  if (s === '') throw invalid(path, 'must not be empty');
  return s;
}

function optStr(o: Obj, k: string, path: string): string {
  return o[k] === undefined || o[k] === null ? '' : str(o[k], `${path}.${k}`);
}

function nonNegInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || Object.is(v, -0)) {
    throw invalid(path, 'must be a non-negative integer');
  }
  return v;
}

function optInt(o: Obj, k: string, path: string, def = 0): number {
  return o[k] === undefined || o[k] === null ? def : nonNegInt(o[k], `${path}.${k}`);
}

function optBool(o: Obj, k: string, path: string): boolean {
  const v = o[k];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalid(`${path}.${k}`, 'must be a boolean');
  return v;
}

function arr(v: unknown, path: string, max = 4096): readonly unknown[] {
  if (!Array.isArray(v)) throw invalid(path, 'must be an array');
  if (v.length > max) throw invalid(path, `more than ${max} elements`);
  return v as readonly unknown[];
}

function optStrArr(o: Obj, k: string, path: string): string[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  return arr(v, `${path}.${k}`).map((x, i) => str(x, `${path}.${k}[${i}]`));
}

function entries(v: unknown, path: string): Array<[string, unknown]> {
  const o = obj(v, path);
  const out = Object.entries(o);
  if (out.length > 4096) throw invalid(path, 'more than 4096 entries');
  return out;
}

function optStrMap(o: Obj, k: string, path: string): Record<string, string> {
  const v = o[k];
  if (v === undefined || v === null) return {};
  return Object.fromEntries(
    entries(v, `${path}.${k}`).map(([key, x]) => [key, str(x, `${path}.${k}.${key}`)]),
  );
}

function plain(v: unknown, path: string, depth = 0): PlainValue {
  if (depth > 32) throw invalid(path, 'nested too deeply');
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw invalid(path, 'must be a finite number');
    return v;
  }
  if (Array.isArray(v)) return arr(v, path).map((x, i) => plain(x, `${path}[${i}]`, depth + 1));
  return plainMap(v, path, depth);
}

function plainMap(v: unknown, path: string, depth = 0): PlainMap {
  return Object.fromEntries(
    entries(v, path).map(([key, x]): [string, PlainValue] => [
      key,
      plain(x, `${path}.${key}`, depth + 1),
    ]),
  );
}

function optPlainMap(o: Obj, k: string, path: string): PlainMap {
  const v = o[k];
  return v === undefined || v === null ? {} : plainMap(v, `${path}.${k}`);
}

function bytes(v: unknown, path: string): Uint8Array | null {
  if (v === undefined || v === null) return null;
  if (!(v instanceof Uint8Array)) throw invalid(path, 'must be bytes');
  if (v.length > 512 * 1024) throw invalid(path, 'larger than 512 KiB (Consul limit)');
  // A plain copy: the type msgpack decoding of a plain view yields, whichever path it took.
  return new Uint8Array(v);
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], path: string, def: T): T {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw invalid(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  return v as T;
}

// ---- Bodies ----

function registerRequest(v: unknown): RegisterRequest {
  const o = obj(v, 'body');
  const node = nonEmpty(o.Node, 'body.Node');
  const skip = optBool(o, 'SkipNodeUpdate', 'body');
  // Consul: "Must provide address if SkipNodeUpdate is not set".
  const address = skip ? optStr(o, 'Address', 'body') : nonEmpty(o.Address, 'body.Address');
  const req: {
    -readonly [K in keyof RegisterRequest]: RegisterRequest[K];
  } = {
    ID: optStr(o, 'ID', 'body'),
    Node: node,
    Address: address,
    Datacenter: optStr(o, 'Datacenter', 'body'),
    TaggedAddresses: optStrMap(o, 'TaggedAddresses', 'body'),
    NodeMeta: optStrMap(o, 'NodeMeta', 'body'),
    SkipNodeUpdate: skip,
  };
  if (o.Service !== undefined && o.Service !== null) {
    req.Service = serviceInput(o.Service, 'body.Service');
  }
  if (o.Check !== undefined && o.Check !== null) {
    req.Check = checkInput(o.Check, 'body.Check', node);
  }
  if (o.Checks !== undefined && o.Checks !== null) {
    req.Checks = arr(o.Checks, 'body.Checks', 256).map((c, i) =>
      checkInput(c, `body.Checks[${i}]`, node),
    );
  }
  return req;
}

function serviceInput(v: unknown, path: string): ServiceInput {
  const o = obj(v, path);
  const name = nonEmpty(o.Service, `${path}.Service`);
  const kind = oneOf(o.Kind, SERVICE_KINDS, `${path}.Kind`, '');
  const proxy = proxyInput(o.Proxy, `${path}.Proxy`);
  const connect =
    o.Connect === undefined || o.Connect === null ? {} : obj(o.Connect, `${path}.Connect`);
  const native = optBool(connect, 'Native', `${path}.Connect`);
  const port = optInt(o, 'Port', path);
  if (port > 65535) throw invalid(`${path}.Port`, 'must be at most 65535');
  if (kind === 'connect-proxy') {
    if (proxy.DestinationServiceName === '') {
      throw invalid(`${path}.Proxy.DestinationServiceName`, 'must be set for a connect-proxy');
    }
    if (native) throw invalid(`${path}.Connect.Native`, 'a connect-proxy cannot be native');
  }
  const weights =
    o.Weights === undefined || o.Weights === null ? undefined : obj(o.Weights, `${path}.Weights`);
  const tagged =
    o.TaggedAddresses === undefined || o.TaggedAddresses === null
      ? []
      : entries(o.TaggedAddresses, `${path}.TaggedAddresses`).map(
          ([k, a]): [string, ServiceAddress] => {
            const p = `${path}.TaggedAddresses.${k}`;
            const ao = obj(a, p);
            return [k, { Address: optStr(ao, 'Address', p), Port: optInt(ao, 'Port', p) }];
          },
        );
  return {
    ID: o.ID === undefined || o.ID === null || o.ID === '' ? name : str(o.ID, `${path}.ID`),
    Service: name,
    Tags: optStrArr(o, 'Tags', path),
    Address: optStr(o, 'Address', path),
    TaggedAddresses: Object.fromEntries(tagged),
    Meta: optStrMap(o, 'Meta', path),
    Port: port,
    Weights:
      weights === undefined
        ? { Passing: 1, Warning: 1 }
        : {
            Passing: optInt(weights, 'Passing', `${path}.Weights`, 1),
            Warning: optInt(weights, 'Warning', `${path}.Weights`, 1),
          },
    EnableTagOverride: optBool(o, 'EnableTagOverride', path),
    Kind: kind,
    Proxy: proxy,
    Connect: { Native: native },
  };
}

function proxyInput(v: unknown, path: string): ServiceProxy {
  const o = v === undefined || v === null ? {} : obj(v, path);
  const ups =
    o.Upstreams === undefined || o.Upstreams === null ? [] : arr(o.Upstreams, `${path}.Upstreams`);
  return {
    DestinationServiceName: optStr(o, 'DestinationServiceName', path),
    DestinationServiceID: optStr(o, 'DestinationServiceID', path),
    LocalServiceAddress: optStr(o, 'LocalServiceAddress', path),
    LocalServicePort: optInt(o, 'LocalServicePort', path),
    Config: optPlainMap(o, 'Config', path),
    Upstreams: ups.map((u, i): Upstream => {
      const p = `${path}.Upstreams[${i}]`;
      const uo = obj(u, p);
      return {
        DestinationType: optStr(uo, 'DestinationType', p) || 'service',
        DestinationName: nonEmpty(uo.DestinationName, `${p}.DestinationName`),
        Datacenter: optStr(uo, 'Datacenter', p),
        LocalBindAddress: optStr(uo, 'LocalBindAddress', p),
        LocalBindPort: optInt(uo, 'LocalBindPort', p),
        Config: optPlainMap(uo, 'Config', p),
      };
    }),
  };
}

function checkInput(v: unknown, path: string, node: string): CheckInput {
  const o = obj(v, path);
  const checkNode =
    o.Node === undefined || o.Node === null || o.Node === '' ? node : str(o.Node, `${path}.Node`);
  if (checkNode.toLowerCase() !== node.toLowerCase()) {
    throw invalid(`${path}.Node`, `must match the registration's node ${JSON.stringify(node)}`);
  }
  const name = optStr(o, 'Name', path);
  const id = optStr(o, 'CheckID', path) || name;
  if (id === '') throw invalid(`${path}.CheckID`, 'must not be empty (nor Name)');
  return {
    Node: node,
    CheckID: id,
    Name: name,
    Status: oneOf(
      o.Status === '' ? undefined : o.Status,
      CHECK_STATUSES,
      `${path}.Status`,
      'critical',
    ),
    Notes: optStr(o, 'Notes', path),
    Output: optStr(o, 'Output', path),
    ServiceID: optStr(o, 'ServiceID', path),
    Type: optStr(o, 'Type', path),
    Definition: optPlainMap(o, 'Definition', path),
  };
}

function deregisterRequest(v: unknown): DeregisterRequest {
  const o = obj(v, 'body');
  const req: { -readonly [K in keyof DeregisterRequest]: DeregisterRequest[K] } = {
    Node: nonEmpty(o.Node, 'body.Node'),
  };
  const sid = optStr(o, 'ServiceID', 'body');
  const cid = optStr(o, 'CheckID', 'body');
  if (sid !== '') req.ServiceID = sid;
  if (cid !== '') req.CheckID = cid;
  return req;
}

function dirEntInput(v: unknown, path: string, keyRequired: boolean): DirEntryInput {
  const o = obj(v, path);
  const key = keyRequired ? nonEmpty(o.Key, `${path}.Key`) : str(o.Key ?? '', `${path}.Key`);
  const out: { -readonly [K in keyof DirEntryInput]: DirEntryInput[K] } = {
    Key: key,
    Flags: optInt(o, 'Flags', path),
    Value: bytes(o.Value, `${path}.Value`),
    ModifyIndex: optInt(o, 'ModifyIndex', path),
  };
  const session = optStr(o, 'Session', path);
  if (session !== '') out.Session = session;
  return out;
}

function kvsRequest(v: unknown): KVSRequest {
  const o = obj(v, 'body');
  const op = oneOf(o.Op, KV_OPS, 'body.Op', 'set');
  if (o.Op === undefined) throw invalid('body.Op', 'is required');
  return { Op: op, DirEnt: dirEntInput(o.DirEnt, 'body.DirEnt', op !== 'delete-tree') };
}

function sessionRequest(v: unknown): SessionRequest {
  const o = obj(v, 'body');
  const op = oneOf(o.Op, ['create', 'destroy'] as const, 'body.Op', 'create');
  if (o.Op === undefined) throw invalid('body.Op', 'is required');
  const s = obj(o.Session, 'body.Session');
  const id = nonEmpty(s.ID, 'body.Session.ID');
  if (op === 'destroy') return { Op: 'destroy', Session: { ID: id } };
  const p = 'body.Session';
  const sc =
    s.ServiceChecks === undefined || s.ServiceChecks === null
      ? []
      : arr(s.ServiceChecks, `${p}.ServiceChecks`).map((c, i): ServiceCheck => {
          const co = obj(c, `${p}.ServiceChecks[${i}]`);
          return {
            ID: nonEmpty(co.ID, `${p}.ServiceChecks[${i}].ID`),
            Namespace: optStr(co, 'Namespace', `${p}.ServiceChecks[${i}]`),
          };
        });
  const session: SessionInput = {
    ID: id,
    Name: optStr(s, 'Name', p),
    Node: nonEmpty(s.Node, `${p}.Node`),
    Checks: optStrArr(s, 'Checks', p),
    NodeChecks: optStrArr(s, 'NodeChecks', p),
    ServiceChecks: sc,
    LockDelay: optInt(s, 'LockDelay', p),
    Behavior: oneOf(
      s.Behavior === '' ? undefined : s.Behavior,
      ['release', 'delete'] as const,
      `${p}.Behavior`,
      'release',
    ),
    TTL: optStr(s, 'TTL', p),
  };
  return { Op: 'create', Session: session };
}

function tombstoneRequest(v: unknown): TombstoneRequest {
  const o = obj(v, 'body');
  if (o.Op !== 'reap') throw invalid('body.Op', 'must be "reap"');
  return { Op: 'reap', ReapIndex: nonNegInt(o.ReapIndex, 'body.ReapIndex') };
}

function restoreRequest(v: unknown): RestoreRequest {
  const o = obj(v, 'body');
  if (!(o.Snapshot instanceof Uint8Array)) throw invalid('body.Snapshot', 'must be bytes');
  if (o.Snapshot.length > MAX_RESTORE_BYTES) {
    throw invalid('body.Snapshot', `must be at most ${MAX_RESTORE_BYTES} bytes`);
  }
  return { Snapshot: o.Snapshot };
}

function txnRequest(v: unknown): TxnRequest {
  const o = obj(v, 'body');
  const ops = arr(o.Ops, 'body.Ops', 1 << 16);
  if (ops.length > MAX_TXN_OPS) {
    throw new StateError(
      StateErrorCode.TXN_TOO_LARGE,
      `Transaction contains too many operations (${ops.length} > ${MAX_TXN_OPS})`,
      { ops: ops.length, max: MAX_TXN_OPS },
    );
  }
  return {
    Ops: ops.map((op, i): TxnOp => {
      const p = `body.Ops[${i}]`;
      const kv = obj(obj(op, p).KV, `${p}.KV`);
      const verb = oneOf(kv.Verb, TXN_KV_VERBS, `${p}.KV.Verb`, 'set');
      if (kv.Verb === undefined) throw invalid(`${p}.KV.Verb`, 'is required');
      return {
        KV: {
          Verb: verb,
          DirEnt: dirEntInput(
            kv.DirEnt,
            `${p}.KV.DirEnt`,
            verb !== 'delete-tree' && verb !== 'get-tree',
          ),
        },
      };
    }),
  };
}

// ---- Connect ----

function configEntryRequest(v: unknown): ConfigEntryRequest {
  const o = obj(v, 'body');
  const op = oneOf(o.Op, CONFIG_ENTRY_OPS, 'body.Op', 'upsert');
  const req: { -readonly [K in keyof ConfigEntryRequest]: ConfigEntryRequest[K] } = {
    Op: op,
    Kind: nonEmpty(o.Kind, 'body.Kind'),
    Name: nonEmpty(o.Name, 'body.Name'),
  };
  if (req.Kind.length > 64) throw invalid('body.Kind', 'longer than 64');
  if (req.Name.length > 256) throw invalid('body.Name', 'longer than 256');
  if (op === 'upsert' || op === 'upsert-cas') {
    const entry = plainMap(o.Entry, 'body.Entry');
    if (entry.Kind !== req.Kind || entry.Name !== req.Name) {
      throw invalid('body.Entry', 'Kind and Name must match the request');
    }
    if (packr.pack(entry).length > MAX_CONFIG_ENTRY_BYTES) {
      throw invalid('body.Entry', `larger than ${MAX_CONFIG_ENTRY_BYTES} bytes`);
    }
    req.Entry = entry;
  }
  if (op === 'upsert-cas' || op === 'delete-cas') req.Index = optInt(o, 'Index', 'body');
  return req;
}

function connectCARequest(v: unknown): ConnectCARequest {
  const o = obj(v, 'body');
  const op = oneOf(o.Op, CONNECT_CA_OPS, 'body.Op', 'set-roots');
  const req: { -readonly [K in keyof ConnectCARequest]: ConnectCARequest[K] } = {
    Op: op,
    Index: optInt(o, 'Index', 'body'),
  };
  if (op !== 'set-config') {
    const roots = arr(o.Roots, 'body.Roots', MAX_CA_ROOTS).map((r, i) =>
      caRoot(r, `body.Roots[${i}]`),
    );
    const active = roots.filter((r) => r.Active).length;
    if (active > 1) throw invalid('body.Roots', 'more than one active root');
    if (new Set(roots.map((r) => r.ID)).size !== roots.length) {
      throw invalid('body.Roots', 'duplicate root IDs');
    }
    req.Roots = roots;
  }
  if (op !== 'set-roots') req.Config = caConfig(o.Config, 'body.Config');
  return req;
}

function caRoot(v: unknown, path: string): CARootInput {
  const o = obj(v, path);
  const pem = (k: string): string => str(o[k], `${path}.${k}`, 64 * 1024);
  return {
    ID: nonEmpty(o.ID, `${path}.ID`),
    Name: optStr(o, 'Name', path),
    SerialNumber: optInt(o, 'SerialNumber', path),
    SigningKeyID: optStr(o, 'SigningKeyID', path),
    ExternalTrustDomain: optStr(o, 'ExternalTrustDomain', path),
    NotBefore: optStr(o, 'NotBefore', path),
    NotAfter: optStr(o, 'NotAfter', path),
    RootCert: pem('RootCert'),
    IntermediateCerts: arr(o.IntermediateCerts ?? [], `${path}.IntermediateCerts`, 8).map((x, i) =>
      str(x, `${path}.IntermediateCerts[${i}]`, 64 * 1024),
    ),
    SigningKey: o.SigningKey === undefined || o.SigningKey === null ? '' : pem('SigningKey'),
    Active: optBool(o, 'Active', path),
    RotatedOutAt: optStr(o, 'RotatedOutAt', path),
    PrivateKeyType: optStr(o, 'PrivateKeyType', path),
    PrivateKeyBits: optInt(o, 'PrivateKeyBits', path),
  };
}

function caConfig(v: unknown, path: string): CAConfigInput {
  const o = obj(v, path);
  return {
    ClusterID: nonEmpty(o.ClusterID, `${path}.ClusterID`),
    Provider: optStr(o, 'Provider', path) || 'consul',
    Config: optPlainMap(o, 'Config', path),
    ForceWithoutCrossSigning: optBool(o, 'ForceWithoutCrossSigning', path),
  };
}
