/**
 * Row and request shapes. Field names are Consul's (the HTTP layer serialises rows as they are).
 * Rows are immutable once stored: the store replaces them, never mutates them, so a reader may
 * keep a row it was given.
 */

/** A msgpack/JSON-plain value (opaque maps such as Proxy.Config and check Definition). */
export type PlainValue = null | boolean | number | string | PlainValue[] | PlainMap;
export interface PlainMap {
  [key: string]: PlainValue;
}

export type CheckStatus = 'passing' | 'warning' | 'critical';
export const CHECK_STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical'];

export type ServiceKind =
  '' | 'connect-proxy' | 'mesh-gateway' | 'terminating-gateway' | 'ingress-gateway';
export const SERVICE_KINDS: readonly ServiceKind[] = [
  '',
  'connect-proxy',
  'mesh-gateway',
  'terminating-gateway',
  'ingress-gateway',
];

export type SessionBehavior = 'release' | 'delete';

export interface Node {
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly Datacenter: string;
  readonly TaggedAddresses: Readonly<Record<string, string>>;
  readonly Meta: Readonly<Record<string, string>>;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

export interface ServiceAddress {
  readonly Address: string;
  readonly Port: number;
}

export interface ServiceWeights {
  readonly Passing: number;
  readonly Warning: number;
}

export interface Upstream {
  readonly DestinationType: string;
  readonly DestinationName: string;
  readonly Datacenter: string;
  readonly LocalBindAddress: string;
  readonly LocalBindPort: number;
  readonly Config: PlainMap;
}

export interface ServiceProxy {
  readonly DestinationServiceName: string;
  readonly DestinationServiceID: string;
  readonly LocalServiceAddress: string;
  readonly LocalServicePort: number;
  readonly Config: PlainMap;
  readonly Upstreams: readonly Upstream[];
}

export interface ServiceConnect {
  readonly Native: boolean;
}

/** A service instance, keyed by (Node, ID). */
export interface Service {
  readonly Node: string;
  readonly ID: string;
  readonly Service: string;
  readonly Tags: readonly string[];
  readonly Address: string;
  readonly TaggedAddresses: Readonly<Record<string, ServiceAddress>>;
  readonly Meta: Readonly<Record<string, string>>;
  readonly Port: number;
  readonly Weights: ServiceWeights;
  readonly EnableTagOverride: boolean;
  readonly Kind: ServiceKind;
  readonly Proxy: ServiceProxy;
  readonly Connect: ServiceConnect;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** A health check, keyed by (Node, CheckID). ServiceName/ServiceTags mirror the service. */
export interface HealthCheck {
  readonly Node: string;
  readonly CheckID: string;
  readonly Name: string;
  readonly Status: CheckStatus;
  readonly Notes: string;
  readonly Output: string;
  readonly ServiceID: string;
  readonly ServiceName: string;
  readonly ServiceTags: readonly string[];
  readonly Type: string;
  readonly Definition: PlainMap;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** A KV entry (Consul's DirEntry). `Session` is present only while a lock is held. */
export interface DirEntry {
  readonly Key: string;
  readonly Flags: number;
  readonly Value: Uint8Array | null;
  readonly Session?: string;
  readonly LockIndex: number;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** A deleted key's tombstone: the index of the delete, kept until reaped. */
export interface Tombstone {
  readonly Key: string;
  readonly Index: number;
}

export interface ServiceCheck {
  readonly ID: string;
  readonly Namespace: string;
}

export interface Session {
  readonly ID: string;
  readonly Name: string;
  readonly Node: string;
  /** Legacy list of node check IDs; Consul still accepts and reports it. */
  readonly Checks: readonly string[];
  readonly NodeChecks: readonly string[];
  readonly ServiceChecks: readonly ServiceCheck[];
  /** Nanoseconds, as Consul's JSON carries time.Duration. */
  readonly LockDelay: number;
  readonly Behavior: SessionBehavior;
  /** A Go duration string ("30s") or "". The leader tracks expiry; the store only keeps it. */
  readonly TTL: string;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

// ---- Requests (command bodies). Optional fields take Consul's defaults. ----

export interface ServiceInput {
  readonly ID?: string;
  readonly Service: string;
  readonly Tags?: readonly string[];
  readonly Address?: string;
  readonly TaggedAddresses?: Readonly<Record<string, ServiceAddress>>;
  readonly Meta?: Readonly<Record<string, string>>;
  readonly Port?: number;
  readonly Weights?: ServiceWeights;
  readonly EnableTagOverride?: boolean;
  readonly Kind?: ServiceKind;
  readonly Proxy?: Partial<ServiceProxy>;
  readonly Connect?: ServiceConnect;
}

export interface CheckInput {
  readonly Node?: string;
  readonly CheckID?: string;
  readonly Name?: string;
  /** Defaults to critical, as Consul's ensureCheck does. */
  readonly Status?: CheckStatus;
  readonly Notes?: string;
  readonly Output?: string;
  readonly ServiceID?: string;
  readonly Type?: string;
  readonly Definition?: PlainMap;
}

/** Consul's structs.RegisterRequest. */
export interface RegisterRequest {
  readonly ID?: string;
  readonly Node: string;
  readonly Address: string;
  readonly Datacenter?: string;
  readonly TaggedAddresses?: Readonly<Record<string, string>>;
  readonly NodeMeta?: Readonly<Record<string, string>>;
  readonly Service?: ServiceInput;
  readonly Check?: CheckInput;
  readonly Checks?: readonly CheckInput[];
  /** Leave the node row alone (agents re-registering a service or check). */
  readonly SkipNodeUpdate?: boolean;
}

/** Consul's structs.DeregisterRequest: neither ID deletes the node; else the service and/or check. */
export interface DeregisterRequest {
  readonly Node: string;
  readonly ServiceID?: string;
  readonly CheckID?: string;
}

export type KVOp = 'set' | 'delete' | 'delete-cas' | 'delete-tree' | 'cas' | 'lock' | 'unlock';
export const KV_OPS: readonly KVOp[] = [
  'set',
  'delete',
  'delete-cas',
  'delete-tree',
  'cas',
  'lock',
  'unlock',
];

/** The DirEnt of a KV request. `ModifyIndex` is the CAS index (0 for cas: only if absent). */
export interface DirEntryInput {
  readonly Key: string;
  readonly Flags?: number;
  readonly Value?: Uint8Array | null;
  readonly Session?: string;
  readonly ModifyIndex?: number;
}

export interface KVSRequest {
  readonly Op: KVOp;
  readonly DirEnt: DirEntryInput;
}

export interface SessionInput {
  readonly ID: string;
  readonly Name?: string;
  readonly Node: string;
  readonly Checks?: readonly string[];
  readonly NodeChecks?: readonly string[];
  readonly ServiceChecks?: readonly ServiceCheck[];
  readonly LockDelay?: number;
  readonly Behavior?: SessionBehavior;
  readonly TTL?: string;
}

export type SessionRequest =
  | { readonly Op: 'create'; readonly Session: SessionInput }
  | { readonly Op: 'destroy'; readonly Session: { readonly ID: string } };

/** Removes tombstones with Index ≤ ReapIndex (the leader picks it after the GC TTL). */
export interface TombstoneRequest {
  readonly Op: 'reap';
  readonly ReapIndex: number;
}

/**
 * Most bytes of a snapshot restored through the log: a Raft entry must fit one RPC frame
 * (8 MiB) with the append's own overhead. Larger restores need a chunked path (not built).
 */
export const MAX_RESTORE_BYTES = 6 * 1024 * 1024;

/** Replaces the whole state with a snapshot's (`PUT /v1/snapshot`), as one Raft command. */
export interface RestoreRequest {
  readonly Snapshot: Uint8Array;
}

export type TxnKVVerb =
  | 'set'
  | 'delete'
  | 'delete-cas'
  | 'delete-tree'
  | 'cas'
  | 'lock'
  | 'unlock'
  | 'get'
  | 'get-tree'
  | 'check-index'
  | 'check-session'
  | 'check-not-exists';
export const TXN_KV_VERBS: readonly TxnKVVerb[] = [
  ...KV_OPS,
  'get',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
];

/** Consul's structs.TxnOp; only KV operations so far (Node/Service/Check ops can follow). */
export interface TxnOp {
  readonly KV: { readonly Verb: TxnKVVerb; readonly DirEnt: DirEntryInput };
}

export interface TxnRequest {
  readonly Ops: readonly TxnOp[];
}

export interface TxnError {
  readonly OpIndex: number;
  readonly What: string;
}

/** Consul's structs.TxnResponse: Results when Errors is empty, else no Results. */
export interface TxnResponse {
  readonly Results: ReadonlyArray<{ readonly KV: DirEntry }>;
  readonly Errors: readonly TxnError[];
}

/** Consul's limit on operations in one transaction. */
export const MAX_TXN_OPS = 64;
/** Consul's structs.MaxLockDelay, in nanoseconds (60 s). */
export const MAX_LOCK_DELAY_NS = 60_000_000_000;

// ---- Connect: config entries and the certificate authority ----

/**
 * A config entry (`PUT /v1/config`): `Entry` is the canonical body (Kind and Name included),
 * validated by @trellis/connect before it is proposed; the store keeps it as a plain map.
 */
export interface ConfigEntryRow {
  readonly Kind: string;
  readonly Name: string;
  readonly Entry: PlainMap;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

export type ConfigEntryOp = 'upsert' | 'upsert-cas' | 'delete' | 'delete-cas';
export const CONFIG_ENTRY_OPS: readonly ConfigEntryOp[] = [
  'upsert',
  'upsert-cas',
  'delete',
  'delete-cas',
];
/** Most bytes of one config entry (msgpack-encoded), checked when it is proposed. */
export const MAX_CONFIG_ENTRY_BYTES = 512 * 1024;

/** Consul's structs.ConfigEntryRequest. `Index` is the CAS index of the *-cas ops. */
export interface ConfigEntryRequest {
  readonly Op: ConfigEntryOp;
  readonly Kind: string;
  readonly Name: string;
  readonly Entry?: PlainMap;
  readonly Index?: number;
}

/**
 * A CA root (Consul's structs.CARoot). `SigningKey` is the root's private key PEM: it lives
 * only in the replicated state of the servers (and so in their snapshots) and is never
 * returned by the HTTP API.
 */
export interface CARoot {
  readonly ID: string;
  readonly Name: string;
  readonly SerialNumber: number;
  readonly SigningKeyID: string;
  readonly ExternalTrustDomain: string;
  readonly NotBefore: string;
  readonly NotAfter: string;
  readonly RootCert: string;
  readonly IntermediateCerts: readonly string[];
  readonly SigningKey: string;
  readonly Active: boolean;
  /** When the root stopped being active (ISO time), '' while active. */
  readonly RotatedOutAt: string;
  readonly PrivateKeyType: string;
  readonly PrivateKeyBits: number;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

export type CARootInput = Omit<CARoot, 'CreateIndex' | 'ModifyIndex'>;

/** Consul's structs.CAConfiguration: the provider's settings and the cluster's identity. */
export interface CAConfig {
  readonly ClusterID: string;
  readonly Provider: string;
  readonly Config: PlainMap;
  readonly ForceWithoutCrossSigning: boolean;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

export type CAConfigInput = Omit<CAConfig, 'CreateIndex' | 'ModifyIndex'>;

export type ConnectCAOp = 'set-config' | 'set-roots' | 'set-roots-and-config';
export const CONNECT_CA_OPS: readonly ConnectCAOp[] = [
  'set-config',
  'set-roots',
  'set-roots-and-config',
];

/**
 * Consul's structs.CARequest. `Index` is a check-and-set: on the configuration's ModifyIndex
 * for set-config and set-roots-and-config (0 = not configured yet), on the roots table's
 * index for set-roots (when above 0). A lost CAS returns false and changes nothing.
 */
export interface ConnectCARequest {
  readonly Op: ConnectCAOp;
  readonly Index?: number;
  readonly Roots?: readonly CARootInput[];
  readonly Config?: CAConfigInput;
}

/** Most CA roots kept at once (active + rotated out but still trusted). */
export const MAX_CA_ROOTS = 16;
