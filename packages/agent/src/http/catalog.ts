/**
 * /v1/catalog — Consul's catalog_endpoint.go (HTTP) over Catalog.* (RPC): register, deregister,
 * datacenters, nodes, services, service/:name, connect/:name, node/:node, node-services/:node.
 *
 * Also the pieces /v1/health (health.ts) shares: the Go-shaped JSON of Node, ServiceNode,
 * NodeService and HealthCheck (agent/structs, field for field and in Go's field order), Go's map
 * key order on output, `?node-meta=`, `?filter=` and Consul's memdb result order.
 *
 * Parsing order follows Consul: the shared query options (400) first, then the path argument
 * (400 "Missing …"), then `?dc` (where Consul forwards the RPC), then the filter expression
 * (compiled by the RPC before its blocking query), then the blocking read.
 */
import {
  MessageType,
  channel,
  isStateError,
  StateErrorCode,
  type CheckStatus,
  type HealthCheck,
  type Node,
  type PlainMap,
  type PlainValue,
  type QueryResult,
  type RegisterRequest,
  type Service,
  type ServiceKind,
  type ServiceProxy,
  type StateStore,
  type Upstream,
  type WatchSet,
} from '@trellis/state';
import { json, setMeta, type Answer, type Ctx } from './context.js';
import { HttpError, NO_DC_PATH_TEXT, badRequest, bodyTooLarge } from './errors.js';
import { parseGoDuration } from './duration.js';
import type { Endpoint } from './endpoints.js';
import { FilterError, compileFilter, type FieldSchema, type FilterSchema } from './filter/index.js';
import {
  blockingRead,
  checkDatacenter,
  parseConsistency,
  parseQueryOptions,
  readBody,
  type QueryOptions,
} from './request.js';
import { field, qget, qhas, type Query } from './wire.js';

/**
 * Largest body /v1/catalog/register and /deregister read. Consul sets none; ours must be bounded,
 * and a registration (node, one service with its proxy config, up to 256 checks) is a few KiB.
 * 1 MiB leaves ample room for large proxy Config maps while staying far below the 8 MiB Raft
 * frame the command must fit in.
 */
export const CATALOG_MAX_BODY_BYTES = 1024 * 1024;

// ---------------------------------------------------------------- Go JSON with Go's map order

const GO_MAPS = new WeakSet<object>();
/**
 * Go maps with an integer-like key: a JS object lists such keys first, in numeric order, so
 * only the slow encoder writes them in Go's byte order.
 */
const ORDER_SENSITIVE = new WeakSet<object>();
/** Array-index keys, which JS objects order numerically ahead of the others. */
const INDEX_KEY = /^(?:0|[1-9][0-9]{0,9})$/;

const goOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A Go map: a copy of `o` with its keys inserted in Go's order (sorted by bytes, as Go's
 * encoding/json writes map keys), so {@link encodeGo} can hand it to JSON.stringify. Objects
 * not made by this function are Go structs: their keys are written in insertion order, which
 * the builders below keep in Go's field order.
 */
export function goMap<T extends object>(o: T): T {
  const src = o as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  let sensitive = false;
  for (const k of Object.keys(src).sort(goOrder)) {
    out[k] = src[k];
    if (!sensitive && INDEX_KEY.test(k) && Number(k) < 2 ** 32 - 1) sensitive = true;
  }
  GO_MAPS.add(out);
  if (sensitive) ORDER_SENSITIVE.add(out);
  return out as T;
}

/** A copy of a string map as a Go map, or null for an empty one (Go's nil map). */
function nilMap(m: Readonly<Record<string, string>>): Record<string, string> | null {
  return Object.keys(m).length === 0 ? null : goMap({ ...m });
}

/** A deep copy of an opaque value whose every object is a Go map (map[string]interface{}). */
function deepGoMap(v: PlainValue): PlainValue {
  if (Array.isArray(v)) return v.map(deepGoMap);
  if (v !== null && typeof v === 'object') {
    const out: PlainMap = {};
    for (const [k, x] of Object.entries(v)) out[k] = deepGoMap(x);
    return goMap(out);
  }
  return v;
}

/** Thrown by the fast path's replacer when a value needs the slow encoder. */
const NEEDS_SLOW_PATH = new Error('encodeGo: order-sensitive map');

/**
 * JSON.stringify's view of Go: bytes as base64 (Go's []byte), and a bail-out for the rare map
 * whose key order JS cannot reproduce. `this[key]` is the value before any toJSON().
 */
function goReplacer(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const orig = this[key];
  if (orig instanceof Uint8Array) return Buffer.from(orig).toString('base64');
  if (v !== null && typeof v === 'object' && ORDER_SENSITIVE.has(v)) throw NEEDS_SLOW_PATH;
  return v;
}

/**
 * Go's json.Marshal (or MarshalIndent with four spaces and a trailing newline when `pretty`),
 * honouring {@link goMap}. Undefined properties are left out (Go's omitempty, decided by the
 * builder). HTML-sensitive characters and U+2028/U+2029 are escaped as Go escapes them.
 * JSON.stringify does the work (it writes what Go writes for these values); a map with
 * integer-like keys takes the slower encoder below, which sorts them as Go does.
 */
export function encodeGo(value: unknown, pretty: boolean): string {
  let text: string;
  try {
    text = JSON.stringify(value, goReplacer, pretty ? 4 : undefined) ?? 'null';
  } catch (e) {
    if (e !== NEEDS_SLOW_PATH) throw e;
    text = encodeValue(value, pretty ? '\n' : '');
  }
  return (pretty ? `${text}\n` : text).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function encodeValue(v: unknown, nl: string): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return 'null';
  }
  const inner = nl === '' ? '' : `${nl}    `;
  const sep = nl === '' ? ',' : `,${inner}`;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[${inner}${v.map((x) => encodeValue(x, inner)).join(sep)}${nl}]`;
  }
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString('base64'));
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined);
  if (GO_MAPS.has(o)) keys.sort(goOrder);
  if (keys.length === 0) return '{}';
  const colon = nl === '' ? ':' : ': ';
  const parts = keys.map((k) => `${JSON.stringify(k)}${colon}${encodeValue(o[k], inner)}`);
  return `{${inner}${parts.join(sep)}${nl}}`;
}

/** A 200 answer with Go's JSON bytes for `value` (`?pretty` honoured). */
export function goAnswer(ctx: Ctx, value: unknown): Answer {
  if (value instanceof EncodedAnswer) {
    return { kind: 'bytes', body: value.body, contentType: 'application/json' };
  }
  const body = Buffer.from(encodeGo(value, qhas(ctx.query, 'pretty')), 'utf8');
  const answers = answerCache(ctx.backend.store);
  answers.builds++;
  const pending = PENDING.get(ctx);
  if (pending !== undefined) {
    PENDING.delete(ctx);
    answers.set(pending.key, { ...pending, body });
  }
  return { kind: 'bytes', body, contentType: 'application/json' };
}

// ---------------------------------------------------------------- structs, as Consul writes them

/** structs.Node (Partition, PeerName and Locality are omitempty and never set here). */
export function nodeJson(n: Node): Record<string, unknown> {
  return {
    ID: n.ID,
    Node: n.Node,
    Address: n.Address,
    Datacenter: n.Datacenter,
    TaggedAddresses: nilMap(n.TaggedAddresses),
    Meta: nilMap(n.Meta),
    CreateIndex: n.CreateIndex,
    ModifyIndex: n.ModifyIndex,
  };
}

function serviceTaggedAddresses(s: Service): Record<string, unknown> | undefined {
  const keys = Object.keys(s.TaggedAddresses);
  if (keys.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const a = s.TaggedAddresses[k];
    if (a !== undefined) out[k] = { Address: a.Address, Port: a.Port };
  }
  return goMap(out);
}

/** structs.Upstream (DestinationNamespace/Partition/Peer and socket fields are omitempty). */
function upstreamJson(u: Upstream): Record<string, unknown> {
  const out: Record<string, unknown> = {
    DestinationType: u.DestinationType,
    DestinationName: u.DestinationName,
    Datacenter: u.Datacenter,
  };
  if (u.LocalBindAddress !== '') out.LocalBindAddress = u.LocalBindAddress;
  if (u.LocalBindPort !== 0) out.LocalBindPort = u.LocalBindPort;
  if (Object.keys(u.Config).length > 0) out.Config = deepGoMap(u.Config);
  out.MeshGateway = {};
  return out;
}

/**
 * structs.ConnectProxyConfig through its MarshalJSON: the omitempty fields only when set, Mode
 * always (""), MeshGateway and Expose as empty structs; TransparentProxy and AccessLogs are never
 * set here, so never written.
 */
export function proxyJson(p: ServiceProxy): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (p.DestinationServiceName !== '') out.DestinationServiceName = p.DestinationServiceName;
  if (p.DestinationServiceID !== '') out.DestinationServiceID = p.DestinationServiceID;
  if (p.LocalServiceAddress !== '') out.LocalServiceAddress = p.LocalServiceAddress;
  if (p.LocalServicePort !== 0) out.LocalServicePort = p.LocalServicePort;
  out.Mode = '';
  if (Object.keys(p.Config).length > 0) out.Config = deepGoMap(p.Config);
  if (p.Upstreams.length > 0) out.Upstreams = p.Upstreams.map(upstreamJson);
  out.MeshGateway = {};
  out.Expose = {};
  return out;
}

/** structs.ServiceConnect: Native is omitempty. */
function connectJson(s: Service): Record<string, unknown> {
  return s.Connect.Native ? { Native: true } : {};
}

/**
 * structs.ServiceNode. With its node (GET /v1/catalog/service, /connect) it is Consul's
 * PartialClone plus the node's fields: ServiceMeta is always a map. Without (the raw rows
 * GET /v1/catalog/services filters) the node fields stay empty and ServiceMeta may be nil.
 */
export function serviceNodeJson(s: Service, node?: Node): Record<string, unknown> {
  return {
    ID: node?.ID ?? '',
    Node: node?.Node ?? s.Node,
    Address: node?.Address ?? '',
    Datacenter: node?.Datacenter ?? '',
    TaggedAddresses: node === undefined ? null : nilMap(node.TaggedAddresses),
    NodeMeta: node === undefined ? null : nilMap(node.Meta),
    ServiceKind: s.Kind,
    ServiceID: s.ID,
    ServiceName: s.Service,
    ServiceTags: [...s.Tags],
    ServiceAddress: s.Address,
    ServiceTaggedAddresses: serviceTaggedAddresses(s),
    ServiceWeights: { Passing: s.Weights.Passing, Warning: s.Weights.Warning },
    ServiceMeta: node === undefined ? nilMap(s.Meta) : goMap({ ...s.Meta }),
    ServicePort: s.Port,
    ServiceSocketPath: '',
    ServiceEnableTagOverride: s.EnableTagOverride,
    ServiceProxy: proxyJson(s.Proxy),
    ServiceConnect: connectJson(s),
    ServiceLocality: null,
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  };
}

/** structs.NodeService (Kind, TaggedAddresses, Port, SocketPath, Locality are omitempty). */
export function nodeServiceJson(s: Service): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.Kind !== '') out.Kind = s.Kind;
  out.ID = s.ID;
  out.Service = s.Service;
  out.Tags = [...s.Tags];
  out.Address = s.Address;
  out.TaggedAddresses = serviceTaggedAddresses(s);
  out.Meta = nilMap(s.Meta);
  if (s.Port !== 0) out.Port = s.Port;
  out.Weights = { Passing: s.Weights.Passing, Warning: s.Weights.Warning };
  out.EnableTagOverride = s.EnableTagOverride;
  out.Proxy = proxyJson(s.Proxy);
  out.Connect = connectJson(s);
  out.PeerName = '';
  out.CreateIndex = s.CreateIndex;
  out.ModifyIndex = s.ModifyIndex;
  return out;
}

/**
 * structs.HealthCheckDefinition's fields in the order its MarshalJSON writes them (the duration
 * fields first, then the rest as declared); every one is omitempty. Unknown keys are dropped, as
 * Go's decoder drops them on the way in.
 */
const DEFINITION_FIELDS = [
  'Interval',
  'OutputMaxSize',
  'Timeout',
  'DeregisterCriticalServiceAfter',
  'TTL',
  'HTTP',
  'TLSServerName',
  'TLSSkipVerify',
  'Header',
  'Method',
  'Body',
  'DisableRedirects',
  'TCP',
  'TCPUseTLS',
  'UDP',
  'H2PING',
  'OSService',
  'H2PingUseTLS',
  'ScriptArgs',
  'DockerContainerID',
  'Shell',
  'GRPC',
  'GRPCUseTLS',
  'AliasNode',
  'AliasService',
] as const;

function isEmptyValue(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v).length === 0;
}

function definitionJson(d: PlainMap): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of DEFINITION_FIELDS) {
    const v = field(d, name) as PlainValue | undefined;
    if (v === undefined || isEmptyValue(v)) continue;
    out[name] = name === 'Header' ? deepGoMap(v) : v;
  }
  return out;
}

/**
 * structs.HealthCheck: Interval/Timeout (copied from an agent's check definition) and
 * ExposedPort are not kept by the catalog and are written empty; PeerName is omitempty.
 */
export function checkJson(c: HealthCheck): Record<string, unknown> {
  return {
    Node: c.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    ServiceName: c.ServiceName,
    ServiceTags: [...c.ServiceTags],
    Type: c.Type,
    Interval: '',
    Timeout: '',
    ExposedPort: 0,
    Definition: definitionJson(c.Definition),
    CreateIndex: c.CreateIndex,
    ModifyIndex: c.ModifyIndex,
  };
}

// ---------------------------------------------------------------- Consul's result order

const lc = (s: string): string => s.toLowerCase();

/**
 * Consul's memdb keys lower-case node names, service IDs and check IDs, so its listings come in
 * that order: checks by (node, CheckID), instances by (node, ServiceID), case-folded.
 */
export function byNodeThenCheck(a: HealthCheck, b: HealthCheck): number {
  return goOrder(lc(a.Node), lc(b.Node)) || goOrder(lc(a.CheckID), lc(b.CheckID));
}

export function byNodeThenServiceId(
  a: { readonly Node: string; readonly ID: string },
  b: { readonly Node: string; readonly ID: string },
): number {
  return goOrder(lc(a.Node), lc(b.Node)) || goOrder(lc(a.ID), lc(b.ID));
}

// ---------------------------------------------------------------- query arguments

/**
 * Consul's parseMetaFilter: each `?node-meta=key:value` (split at the first ':'; no ':' means an
 * empty value; a later repeat of a key wins), or undefined when the parameter is absent.
 */
export function parseNodeMeta(q: Query): Record<string, string> | undefined {
  const list = q.get('node-meta');
  if (list === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const pair of list) {
    const at = pair.indexOf(':');
    if (at < 0) out[pair] = '';
    else out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

/** Consul's structs.SatisfiesMetaFilters. */
export function satisfiesMeta(
  meta: Readonly<Record<string, string>>,
  filters: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of Object.entries(filters)) {
    if (!Object.hasOwn(meta, k) || meta[k] !== v) return false;
  }
  return true;
}

/** `?tag=` (repeatable): undefined when absent, else every value (Consul's ServiceTags). */
export function parseTags(q: Query): readonly string[] | undefined {
  return q.get('tag');
}

/** The decoded path after `prefix`; "" gives Consul's 400 `missing`. */
export function pathArg(ctx: Ctx, prefix: string, missing: string): string {
  const arg = ctx.path.slice(prefix.length);
  if (arg === '') throw badRequest(missing);
  return arg;
}

// ---------------------------------------------------------------- ?filter

/*
 * What go-bexpr can select on each filtered element type: the Go struct's fields, minus those
 * tagged bexpr:"-" (RaftIndex, EnterpriseMeta, Locality, Definition, opaque Config maps). The
 * schema gives Consul's compile-time errors ("Selector … is not valid", operators per type).
 */
const MESH_GATEWAY: FieldSchema = { struct: { Mode: 'string' } };
const UPSTREAM: FieldSchema = {
  struct: {
    DestinationType: 'string',
    DestinationNamespace: 'string',
    DestinationPartition: 'string',
    DestinationPeer: 'string',
    DestinationName: 'string',
    Datacenter: 'string',
    LocalBindAddress: 'string',
    LocalBindPort: 'int',
    LocalBindSocketPath: 'string',
    LocalBindSocketMode: 'string',
    MeshGateway: MESH_GATEWAY,
  },
};
const PROXY: FieldSchema = {
  struct: {
    EnvoyExtensions: {
      list: {
        struct: {
          Name: 'string',
          Required: 'bool',
          ConsulVersion: 'string',
          EnvoyVersion: 'string',
        },
      },
    },
    DestinationServiceName: 'string',
    DestinationServiceID: 'string',
    LocalServiceAddress: 'string',
    LocalServicePort: 'int',
    LocalServiceSocketPath: 'string',
    Mode: 'string',
    Upstreams: { list: UPSTREAM },
    MeshGateway: MESH_GATEWAY,
    Expose: {
      struct: {
        Checks: 'bool',
        Paths: {
          list: {
            struct: {
              ListenerPort: 'int',
              Path: 'string',
              LocalPathPort: 'int',
              Protocol: 'string',
              ParsedFromCheck: 'bool',
            },
          },
        },
      },
    },
    TransparentProxy: { struct: { OutboundListenerPort: 'int', DialedDirectly: 'bool' } },
    AccessLogs: {
      struct: {
        Enabled: 'bool',
        DisableListenerLogs: 'bool',
        Type: 'string',
        Path: 'string',
        JSONFormat: 'string',
        TextFormat: 'string',
      },
    },
  },
};
const SERVICE_ADDRESSES: FieldSchema = {
  map: { struct: { Address: 'string', Port: 'int' } },
};
const WEIGHTS: FieldSchema = { struct: { Passing: 'int', Warning: 'int' } };
const CONNECT: FieldSchema = { struct: { Native: 'bool' } };

/** structs.Node. */
export const NODE_SCHEMA: FilterSchema = {
  ID: 'string',
  Node: 'string',
  Address: 'string',
  Datacenter: 'string',
  Partition: 'string',
  PeerName: 'string',
  TaggedAddresses: { map: 'string' },
  Meta: { map: 'string' },
};

/** structs.ServiceNode. */
export const SERVICE_NODE_SCHEMA: FilterSchema = {
  ID: 'string',
  Node: 'string',
  Address: 'string',
  Datacenter: 'string',
  TaggedAddresses: { map: 'string' },
  NodeMeta: { map: 'string' },
  ServiceKind: 'string',
  ServiceID: 'string',
  ServiceName: 'string',
  ServiceTags: { list: 'string' },
  ServiceAddress: 'string',
  ServiceTaggedAddresses: SERVICE_ADDRESSES,
  ServiceWeights: WEIGHTS,
  ServiceMeta: { map: 'string' },
  ServicePort: 'int',
  ServiceSocketPath: 'string',
  ServiceEnableTagOverride: 'bool',
  ServiceProxy: PROXY,
  ServiceConnect: CONNECT,
  PeerName: 'string',
};

/** structs.NodeService. */
export const NODE_SERVICE_SCHEMA: FilterSchema = {
  Kind: 'string',
  ID: 'string',
  Service: 'string',
  Tags: { list: 'string' },
  Address: 'string',
  TaggedAddresses: SERVICE_ADDRESSES,
  Meta: { map: 'string' },
  Port: 'int',
  SocketPath: 'string',
  Weights: WEIGHTS,
  EnableTagOverride: 'bool',
  Proxy: PROXY,
  Connect: CONNECT,
  PeerName: 'string',
};

/** structs.HealthCheck. */
export const HEALTH_CHECK_SCHEMA: FilterSchema = {
  Node: 'string',
  CheckID: 'string',
  Name: 'string',
  Status: 'string',
  Notes: 'string',
  Output: 'string',
  ServiceID: 'string',
  ServiceName: 'string',
  ServiceTags: { list: 'string' },
  Type: 'string',
  Interval: 'string',
  Timeout: 'string',
  ExposedPort: 'int',
  PeerName: 'string',
};

/** structs.CheckServiceNode. */
export const CHECK_SERVICE_NODE_SCHEMA: FilterSchema = {
  Node: { struct: NODE_SCHEMA },
  Service: { struct: NODE_SERVICE_SCHEMA },
  Checks: { list: { struct: HEALTH_CHECK_SCHEMA } },
};

export type Predicate = (value: unknown) => boolean;

function filterRefused(e: unknown): unknown {
  return e instanceof FilterError ? badRequest(e.message) : e;
}

/**
 * Compiles `?filter=` for elements of `schema` (undefined when absent or empty: Consul's nil
 * filter). A refused expression is 400 with the filter module's (Consul's) text, whether it is
 * refused at compile time or by the predicate on the first value that shows the error.
 */
export function compileQueryFilter(q: Query, schema?: FilterSchema): Predicate | undefined {
  const expr = qget(q, 'filter');
  if (expr === '') return undefined;
  let keep: Predicate;
  try {
    keep = compileFilter(expr, schema === undefined ? {} : { schema });
  } catch (e) {
    throw filterRefused(e);
  }
  return (value) => {
    try {
      return keep(value);
    } catch (e) {
      throw filterRefused(e);
    }
  };
}

/**
 * Runs a blocking-read query that may throw (a filter refusing a value): the watch set it was
 * filling is cancelled before the error leaves, so nothing stays registered.
 */
export function guarded<T>(
  query: (store: StateStore, ws: WatchSet | undefined) => QueryResult<T>,
): (store: StateStore, ws: WatchSet | undefined) => QueryResult<T> {
  return (store, ws) => {
    try {
      return query(store, ws);
    } catch (e) {
      ws?.cancel();
      throw e;
    }
  };
}

/** Keeps the elements whose Go-shaped `shape` passes `filter` (all when there is none). */
export function applyFilter<T>(
  items: readonly T[],
  filter: Predicate | undefined,
  shape: (item: T) => unknown,
): T[] {
  return filter === undefined ? [...items] : items.filter((x) => filter(shape(x)));
}

// ---------------------------------------------------------------- reads

/** A blocking read whose result becomes X-Consul-Index and the consistency headers. */
/**
 * Encoded answers of catalog and health reads, shared by every request asking the same thing
 * (path and query, less the blocking and consistency parameters) of the same store state: a
 * thousand Prometheus, Traefik or blocking-query clients asking for /v1/health/service/web
 * cost one build and one encoding per change instead of one each. An entry is valid only for
 * the store's `lastIndex` it was built at, so any applied write retires it; entries are
 * evicted least-recently-used past {@link ANSWER_CACHE_BYTES}. Small answers are kept too:
 * ten thousand blocking readers woken by one change each save a build, whatever its size.
 */
export const ANSWER_CACHE_BYTES = 32 * 1024 * 1024;
/** Query parameters that do not change an answer's bytes. */
const NOT_IN_KEY = new Set(['index', 'wait', 'stale', 'consistent', 'cached', 'token']);

interface CachedAnswer {
  readonly version: number;
  readonly index: number;
  readonly body: Buffer;
}

class AnswerCache {
  readonly #entries = new Map<string, CachedAnswer>();
  #bytes = 0;
  hits = 0;
  misses = 0;
  /** Answers built and encoded (cached or not): what the cache saves is hits vs builds. */
  builds = 0;

  get(key: string, version: number): CachedAnswer | undefined {
    const e = this.#entries.get(key);
    if (e === undefined || e.version !== version) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Re-insert: Map order is the LRU order.
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e;
  }

  set(key: string, e: CachedAnswer): void {
    if (e.body.length > ANSWER_CACHE_BYTES / 4) return;
    const old = this.#entries.get(key);
    if (old !== undefined) {
      if (old.version > e.version) return;
      this.#bytes -= old.body.length;
      this.#entries.delete(key);
    }
    this.#entries.set(key, e);
    this.#bytes += e.body.length;
    for (const [k, v] of this.#entries) {
      if (this.#bytes <= ANSWER_CACHE_BYTES) break;
      this.#entries.delete(k);
      this.#bytes -= v.body.length;
    }
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** One cache per store: an entry's version is only meaningful for the store that built it. */
const CACHES = new WeakMap<StateStore, AnswerCache>();

/** The answer cache of `store` (created on first use). */
export function answerCache(store: StateStore): AnswerCache {
  let c = CACHES.get(store);
  if (c === undefined) CACHES.set(store, (c = new AnswerCache()));
  return c;
}

function answerKey(ctx: Ctx): string {
  const parts: string[] = [];
  for (const [k, vs] of [...ctx.query].sort(([a], [b]) => goOrder(a, b))) {
    if (!NOT_IN_KEY.has(k)) parts.push(`${k}=${vs.join('\u0000')}`);
  }
  return `${ctx.path}?${parts.join('&')}`;
}

/** An answer taken from {@link answerCache}: {@link goAnswer} sends its bytes as they are. */
class EncodedAnswer {
  constructor(readonly body: Buffer) {}
}

/** What {@link goAnswer} stores once it has encoded a read's value. */
const PENDING = new WeakMap<Ctx, { key: string; version: number; index: number }>();

/**
 * A blocking read of catalog state (see blockingRead), with the X-Consul-* headers set. A read
 * without a watch (non-blocking, or after a wake) is answered from {@link answerCache}, built and
 * encoded there first if the store moved since; a first blocking read that already has a
 * newer index returns its value, and {@link goAnswer} caches the encoding. Callers hand the
 * result to goAnswer untouched.
 */
export async function catalogRead<T>(
  ctx: Ctx,
  opts: QueryOptions,
  query: (store: StateStore, ws: WatchSet | undefined) => QueryResult<T>,
): Promise<T> {
  const key = answerKey(ctx);
  const answers = answerCache(ctx.backend.store);
  const q = guarded(query);
  let hit: CachedAnswer | undefined;
  let version = -1;
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) => {
    hit = undefined;
    if (ws === undefined) {
      // A read without a watch is the answer: take it from the cache, or build, encode and
      // cache it now, so readers woken in the same turn find it.
      let cached = answers.get(key, store.lastIndex);
      if (cached === undefined) {
        const r = q(store, undefined);
        const body = Buffer.from(encodeGo(r.value, qhas(ctx.query, 'pretty')), 'utf8');
        answers.builds++;
        cached = { version: store.lastIndex, index: r.index, body };
        answers.set(key, cached);
      }
      hit = cached;
      return { index: cached.index, value: undefined as T };
    }
    const r = q(store, ws);
    version = store.lastIndex;
    return r;
  });
  setMeta(ctx, result.index, meta, opts.mode);
  if (hit !== undefined) return new EncodedAnswer(hit.body) as T;
  PENDING.set(ctx, { key, version, index: result.index });
  return result.value;
}

function datacenters(ctx: Ctx): Answer {
  // Consul parses only the consistency flags here and sets no index headers. Without WAN
  // federation the list is this datacenter alone (Catalog.ListDatacenters).
  parseConsistency(ctx.query);
  return goAnswer(ctx, [ctx.backend.datacenter]);
}

async function catalogNodes(ctx: Ctx): Promise<Answer> {
  // ?near= is accepted and ignored: no network coordinates, so Consul's distance sort is a no-op.
  const meta = parseNodeMeta(ctx.query);
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, NODE_SCHEMA);
  const nodes = await catalogRead(ctx, opts, (store, ws) => {
    const r = store.nodes(ws);
    let rows = r.value;
    if (meta !== undefined) rows = rows.filter((n) => satisfiesMeta(n.Meta, meta));
    return { index: r.index, value: applyFilter(rows.map(nodeJson), filter, (x) => x) };
  });
  return goAnswer(ctx, nodes);
}

async function catalogServices(ctx: Ctx): Promise<Answer> {
  const meta = parseNodeMeta(ctx.query);
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, SERVICE_NODE_SCHEMA);
  const byName = await catalogRead(ctx, opts, (store, ws) => {
    const r = store.serviceInstances(meta === undefined ? {} : { nodeMeta: meta }, ws);
    // Consul filters the raw ServiceNode rows (no node fields), then unions tags per name.
    const rows = applyFilter(r.value, filter, (s) => serviceNodeJson(s));
    const tags = new Map<string, Set<string>>();
    for (const s of rows) {
      let set = tags.get(s.Service);
      if (set === undefined) tags.set(s.Service, (set = new Set()));
      for (const t of s.Tags) set.add(t);
    }
    const out: Record<string, string[]> = {};
    for (const [name, set] of tags) out[name] = [...set].sort(goOrder);
    return { index: r.index, value: goMap(out) };
  });
  return goAnswer(ctx, byName);
}

const SERVICE_PREFIX = '/v1/catalog/service/';
const CONNECT_PREFIX = '/v1/catalog/connect/';

async function catalogServiceNodes(ctx: Ctx, connect: boolean): Promise<Answer> {
  const meta = parseNodeMeta(ctx.query);
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  // A connect lookup ignores ?tag (Consul's ServiceNodes takes the Connect branch first).
  const tags = connect ? undefined : parseTags(ctx.query);
  const name = pathArg(ctx, connect ? CONNECT_PREFIX : SERVICE_PREFIX, 'Missing service name');
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, SERVICE_NODE_SCHEMA);
  const list = await catalogRead(ctx, opts, (store, ws) => {
    const r = connect
      ? store.connectServiceNodes(name, {}, ws)
      : store.serviceNodes(name, tags === undefined ? {} : { tags }, ws);
    let rows = r.value;
    if (meta !== undefined) rows = rows.filter((x) => satisfiesMeta(x.Node.Meta, meta));
    rows.sort((a, b) => byNodeThenServiceId(a.Service, b.Service));
    const shaped = rows.map((x) => serviceNodeJson(x.Service, x.Node));
    return { index: r.index, value: applyFilter(shaped, filter, (x) => x) };
  });
  return goAnswer(ctx, list);
}

const NODE_PREFIX = '/v1/catalog/node/';
const NODE_SERVICES_PREFIX = '/v1/catalog/node-services/';

async function catalogNodeServices(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  const node = pathArg(ctx, NODE_PREFIX, 'Missing node name');
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, NODE_SERVICE_SCHEMA);
  const value = await catalogRead<unknown>(ctx, opts, (store, ws) => {
    const r = store.nodeServices(node, ws);
    if (r.value === undefined) return { index: r.index, value: null };
    // Services is a Go map keyed by service ID; the filter sees each NodeService.
    const services: Record<string, unknown> = {};
    for (const s of r.value.Services) {
      const shaped = nodeServiceJson(s);
      if (filter === undefined || filter(shaped)) services[s.ID] = shaped;
    }
    return { index: r.index, value: { Node: nodeJson(r.value.Node), Services: goMap(services) } };
  });
  return goAnswer(ctx, value);
}

async function catalogNodeServiceList(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  const node = pathArg(ctx, NODE_SERVICES_PREFIX, 'Missing node name');
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, NODE_SERVICE_SCHEMA);
  const value = await catalogRead<unknown>(ctx, opts, (store, ws) => {
    const r = store.nodeServices(node, ws);
    // An unknown node is Consul's zero NodeServiceList: both fields null, status 200.
    if (r.value === undefined) return { index: r.index, value: { Node: null, Services: null } };
    const services = [...r.value.Services].sort(byNodeThenServiceId).map(nodeServiceJson);
    return {
      index: r.index,
      value: { Node: nodeJson(r.value.Node), Services: applyFilter(services, filter, (x) => x) },
    };
  });
  return goAnswer(ctx, value);
}

// ---------------------------------------------------------------- request bodies

type Obj = Readonly<Record<string, unknown>>;

/**
 * Where a value sits, for Go's UnmarshalTypeError text: the innermost struct type being decoded
 * and the field path from the top ("json: cannot unmarshal number into Go struct field
 * NodeService.Service.Port of type int").
 */
interface At {
  readonly struct: string;
  readonly path: string;
}

const at = (parent: At, name: string, struct = parent.struct): At => ({
  struct,
  path: parent.path === '' ? name : `${parent.path}.${name}`,
});

export function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'bool';
    default:
      return 'object';
  }
}

function typeError(v: unknown, where: At, goType: string, value = jsonKind(v)): HttpError {
  return badRequest(
    `Request decode failed: json: cannot unmarshal ${value} into Go struct field ` +
      `${where.struct}.${where.path} of type ${goType}`,
  );
}

/** A field of a JSON object (case-insensitive, as Go's decoder); null counts as absent. */
function get(o: Obj, name: string): unknown {
  const v = field(o, name);
  return v === null ? undefined : v;
}

function getStr(o: Obj, name: string, parent: At, goType = 'string'): string {
  const v = get(o, name);
  if (v === undefined) return '';
  if (typeof v !== 'string') throw typeError(v, at(parent, name), goType);
  return v;
}

function getInt(o: Obj, name: string, parent: At): number {
  const v = get(o, name);
  if (v === undefined) return 0;
  if (typeof v !== 'number') throw typeError(v, at(parent, name), 'int');
  if (!Number.isSafeInteger(v)) throw typeError(v, at(parent, name), 'int', `number ${v}`);
  return v;
}

function getBool(o: Obj, name: string, parent: At): boolean {
  const v = get(o, name);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw typeError(v, at(parent, name), 'bool');
  return v;
}

function getObj(o: Obj, name: string, parent: At, goType: string): Obj | undefined {
  const v = get(o, name);
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw typeError(v, at(parent, name), goType);
  return v as Obj;
}

function getStrList(o: Obj, name: string, parent: At): string[] {
  const v = get(o, name);
  if (v === undefined) return [];
  const where = at(parent, name);
  if (!Array.isArray(v)) throw typeError(v, where, '[]string');
  return v.map((x: unknown) => {
    if (typeof x !== 'string') throw typeError(x, where, 'string');
    return x;
  });
}

function getStrMap(o: Obj, name: string, parent: At): Record<string, string> {
  const m = getObj(o, name, parent, 'map[string]string');
  if (m === undefined) return {};
  const where = at(parent, name);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(m)) {
    if (x === null) continue;
    if (typeof x !== 'string') throw typeError(x, where, 'string');
    out[k] = x;
  }
  return out;
}

function getPlainMap(o: Obj, name: string, parent: At, goType: string): PlainMap {
  return (getObj(o, name, parent, goType) ?? {}) as PlainMap;
}

/**
 * The body as Consul's decodeBody sees it: empty is Go's "EOF", `null` decodes to nothing, a
 * non-object is a type error on the request struct; else a JSON object.
 */
export function decodeBody(body: Uint8Array, struct: string): Obj {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (text.trim() === '') throw badRequest('Request decode failed: EOF');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw badRequest(`Request decode failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw badRequest(
      `Request decode failed: json: cannot unmarshal ${jsonKind(v)} into Go value of type structs.${struct}`,
    );
  }
  return v as Obj;
}

interface DecodedService {
  readonly ID: string;
  readonly Service: string;
  readonly Kind: string;
  readonly Tags: string[];
  readonly Address: string;
  readonly TaggedAddresses: Record<string, { Address: string; Port: number }>;
  readonly Meta: Record<string, string>;
  readonly Port: number;
  readonly Weights: { Passing: number; Warning: number } | undefined;
  readonly EnableTagOverride: boolean;
  readonly Proxy: {
    DestinationServiceName: string;
    DestinationServiceID: string;
    LocalServiceAddress: string;
    LocalServicePort: number;
    Config: PlainMap;
    Upstreams: Upstream[];
  };
  readonly Native: boolean;
}

function decodeService(o: Obj, parent: At): DecodedService {
  const ns: At = { struct: 'NodeService', path: parent.path };
  const tagged: Record<string, { Address: string; Port: number }> = {};
  const ta = getObj(o, 'TaggedAddresses', ns, 'map[string]structs.ServiceAddress');
  for (const [k, x] of Object.entries(ta ?? {})) {
    if (x === null) continue;
    const where = at(ns, 'TaggedAddresses');
    if (typeof x !== 'object' || Array.isArray(x)) {
      throw typeError(x, where, 'structs.ServiceAddress');
    }
    const sa: At = { struct: 'ServiceAddress', path: where.path };
    tagged[k] = {
      Address: getStr(x as Obj, 'Address', sa),
      Port: getInt(x as Obj, 'Port', sa),
    };
  }
  const w = getObj(o, 'Weights', ns, 'structs.Weights');
  const wa: At = { struct: 'Weights', path: at(ns, 'Weights').path };
  const p = getObj(o, 'Proxy', ns, 'structs.ConnectProxyConfig') ?? {};
  const pa: At = { struct: 'ConnectProxyConfig', path: at(ns, 'Proxy').path };
  const ups = get(p, 'Upstreams');
  if (ups !== undefined && !Array.isArray(ups)) {
    throw typeError(ups, at(pa, 'Upstreams'), 'structs.Upstreams');
  }
  const ua: At = { struct: 'Upstream', path: at(pa, 'Upstreams').path };
  const upstreams = ((ups ?? []) as unknown[]).map((u): Upstream => {
    if (u === null || typeof u !== 'object' || Array.isArray(u)) {
      throw typeError(u, ua, 'structs.Upstream');
    }
    const uo = u as Obj;
    return {
      DestinationType: getStr(uo, 'DestinationType', ua),
      DestinationName: getStr(uo, 'DestinationName', ua),
      Datacenter: getStr(uo, 'Datacenter', ua),
      LocalBindAddress: getStr(uo, 'LocalBindAddress', ua),
      LocalBindPort: getInt(uo, 'LocalBindPort', ua),
      Config: getPlainMap(uo, 'Config', ua, 'map[string]interface {}'),
    };
  });
  const c = getObj(o, 'Connect', ns, 'structs.ServiceConnect') ?? {};
  return {
    ID: getStr(o, 'ID', ns),
    Service: getStr(o, 'Service', ns),
    Kind: getStr(o, 'Kind', ns, 'structs.ServiceKind'),
    Tags: getStrList(o, 'Tags', ns),
    Address: getStr(o, 'Address', ns),
    TaggedAddresses: tagged,
    Meta: getStrMap(o, 'Meta', ns),
    Port: getInt(o, 'Port', ns),
    Weights:
      w === undefined
        ? undefined
        : { Passing: getInt(w, 'Passing', wa), Warning: getInt(w, 'Warning', wa) },
    EnableTagOverride: getBool(o, 'EnableTagOverride', ns),
    Proxy: {
      DestinationServiceName: getStr(p, 'DestinationServiceName', pa),
      DestinationServiceID: getStr(p, 'DestinationServiceID', pa),
      LocalServiceAddress: getStr(p, 'LocalServiceAddress', pa),
      LocalServicePort: getInt(p, 'LocalServicePort', pa),
      Config: getPlainMap(p, 'Config', pa, 'map[string]interface {}'),
      Upstreams: upstreams,
    },
    Native: getBool(c, 'Native', { struct: 'ServiceConnect', path: at(ns, 'Connect').path }),
  };
}

interface DecodedCheck {
  Node: string;
  CheckID: string;
  readonly Name: string;
  readonly Status: string;
  readonly Notes: string;
  readonly Output: string;
  readonly ServiceID: string;
  readonly Type: string;
  readonly Definition: PlainMap;
}

function decodeCheck(v: unknown, where: At): DecodedCheck {
  if (typeof v !== 'object' || Array.isArray(v) || v === null) {
    throw typeError(v, where, 'structs.HealthCheck');
  }
  const o = v as Obj;
  const hc: At = { struct: 'HealthCheck', path: where.path };
  return {
    Node: getStr(o, 'Node', hc),
    CheckID: getStr(o, 'CheckID', hc, 'types.CheckID'),
    Name: getStr(o, 'Name', hc),
    Status: getStr(o, 'Status', hc),
    Notes: getStr(o, 'Notes', hc),
    Output: getStr(o, 'Output', hc),
    ServiceID: getStr(o, 'ServiceID', hc),
    Type: getStr(o, 'Type', hc),
    Definition: getPlainMap(o, 'Definition', hc, 'structs.HealthCheckDefinition'),
  };
}

interface DecodedRegister {
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly Datacenter: string;
  readonly TaggedAddresses: Record<string, string>;
  readonly NodeMeta: Record<string, string>;
  readonly Service: DecodedService | undefined;
  /** Check and Checks, the single one first appended last (Consul's order). */
  readonly Checks: DecodedCheck[];
  readonly SkipNodeUpdate: boolean;
}

function decodeRegister(o: Obj): DecodedRegister {
  const rr: At = { struct: 'RegisterRequest', path: '' };
  const svc = getObj(o, 'Service', rr, 'structs.NodeService');
  const checks: DecodedCheck[] = [];
  const list = get(o, 'Checks');
  if (list !== undefined) {
    if (!Array.isArray(list)) throw typeError(list, at(rr, 'Checks'), 'structs.HealthChecks');
    for (const c of list as unknown[]) {
      if (c !== null) checks.push(decodeCheck(c, at(rr, 'Checks')));
    }
  }
  const single = get(o, 'Check');
  const decoded: DecodedRegister = {
    ID: getStr(o, 'ID', rr, 'types.NodeID'),
    Node: getStr(o, 'Node', rr),
    Address: getStr(o, 'Address', rr),
    Datacenter: getStr(o, 'Datacenter', rr),
    TaggedAddresses: getStrMap(o, 'TaggedAddresses', rr),
    NodeMeta: getStrMap(o, 'NodeMeta', rr),
    Service: svc === undefined ? undefined : decodeService(svc, at(rr, 'Service')),
    Checks: checks,
    SkipNodeUpdate: getBool(o, 'SkipNodeUpdate', rr),
  };
  // Catalog.Register moves the old single Check to the end of Checks.
  if (single !== undefined) checks.push(decodeCheck(single, at(rr, 'Check')));
  return decoded;
}

// ---------------------------------------------------------------- register validation

/** go-uuid's ParseUUID, with its error texts. */
function uuidError(id: string): string | undefined {
  if (id.length !== 36) return 'uuid string is wrong length';
  if (id[8] !== '-' || id[13] !== '-' || id[18] !== '-' || id[23] !== '-') {
    return 'uuid is improperly formatted';
  }
  const hex = id.replace(/-/g, '');
  const bad = /[^0-9a-fA-F]/.exec(hex);
  if (bad !== null) {
    const cp = bad[0].codePointAt(0) ?? 0;
    return `encoding/hex: invalid byte: U+${cp.toString(16).toUpperCase().padStart(4, '0')} ${quoteRune(bad[0])}`;
  }
  return undefined;
}

function quoteRune(c: string): string {
  return c === "'" ? "'\\''" : `'${c}'`;
}

/** go-multierror's default text for a non-empty list. */
export function multiError(errs: readonly string[]): string {
  if (errs.length === 1) return `1 error occurred:\n\t* ${errs[0]}\n\n`;
  return `${errs.length} errors occurred:\n\t${errs.map((e) => `* ${e}`).join('\n\t')}\n\n`;
}

/** Consul's ipaddr.IsAny: the unspecified address in any spelling. */
export function isAnyAddress(a: string): boolean {
  return a === '0.0.0.0' || a === '::' || a === '[::]';
}

/** NodeService.Validate for the kinds the store keeps (connect-proxy rules and upstreams). */
function serviceValidationErrors(s: DecodedService): string[] {
  if (s.Kind !== 'connect-proxy') return [];
  const errs: string[] = [];
  if (s.Port === 0) errs.push('Port or SocketPath must be set for a connect-proxy');
  const dest = s.Proxy.DestinationServiceName;
  if (dest.trim() === '') {
    errs.push('Proxy.DestinationServiceName must be non-empty for Connect proxy services');
  }
  if (dest === '*') {
    errs.push('Proxy.DestinationServiceName must not be a wildcard for Connect proxy services');
  }
  if (s.Native) errs.push('A Proxy cannot also be Connect Native, only typical services');
  const seen = new Set<string>();
  for (const u of s.Proxy.Upstreams) {
    let err: string | undefined;
    if (!['service', 'prepared_query', ''].includes(u.DestinationType)) {
      err = `unknown upstream destination type: ${JSON.stringify(u.DestinationType)}`;
    } else if (u.DestinationName === '') err = 'upstream destination name cannot be empty';
    else if (u.DestinationName === '*') err = 'upstream destination name cannot be a wildcard';
    else if (u.LocalBindPort === 0) {
      err = 'upstream local bind port or local socket path must be defined and nonzero';
    }
    if (err !== undefined) {
      errs.push(err);
      continue;
    }
    const key =
      `[type=${JSON.stringify(u.DestinationType)}, name=${JSON.stringify(u.DestinationName)}, ` +
      `partition="", namespace="", peer="", datacenter=${JSON.stringify(u.Datacenter)}]`;
    if (seen.has(key)) errs.push(`upstreams cannot contain duplicates of ${key}`);
    seen.add(key);
  }
  return errs;
}

/** A definition duration is set: a Go duration string above zero, or nanoseconds above zero. */
function positiveDuration(v: unknown): boolean {
  if (typeof v === 'number') return v > 0;
  if (typeof v !== 'string') return false;
  const ms = parseGoDuration(v);
  return ms !== undefined && ms > 0;
}

/**
 * Catalog.Register fills an empty check Type from its definition (HealthCheck.CheckType().Type()):
 * the first kind whose fields are set, in Consul's order.
 */
export function checkTypeOf(d: PlainMap): string {
  const str = (name: string): boolean => {
    const v = field(d, name);
    return typeof v === 'string' && v !== '';
  };
  const interval = positiveDuration(field(d, 'Interval'));
  const args = field(d, 'ScriptArgs');
  const script = Array.isArray(args) && args.length > 0;
  if (str('GRPC') && interval) return 'grpc';
  if (str('HTTP') && interval) return 'http';
  if (positiveDuration(field(d, 'TTL'))) return 'ttl';
  if (str('TCP') && interval) return 'tcp';
  if (str('UDP') && interval) return 'udp';
  if (str('AliasNode') || str('AliasService')) return 'alias';
  if (script && str('DockerContainerID') && interval) return 'docker';
  if (script && interval) return 'script';
  if (str('H2PING') && interval) return 'h2ping';
  if (str('OSService') && interval) return 'os_service';
  return '';
}

const CHECK_STATUSES = new Set(['', 'passing', 'warning', 'critical']);

/**
 * Catalog.Register's checks, in its order (RPC errors: 500 with the text), then the request the
 * store applies. `store` is read for vetRegisterWithACL's service lookup.
 */
function toRegisterRequest(
  d: DecodedRegister,
  datacenter: string,
  store: StateStore,
): RegisterRequest {
  const rpc = (text: string): HttpError => new HttpError(500, text);
  if (d.Node === '') throw rpc('Must provide node');
  if (d.ID !== '') {
    const bad = uuidError(d.ID);
    if (bad !== undefined) throw rpc(`Bad node ID: ${bad}`);
  }
  if (d.Address === '' && !d.SkipNodeUpdate) {
    throw rpc('Must provide address if SkipNodeUpdate is not set');
  }
  let serviceId = '';
  const s = d.Service;
  if (s !== undefined) {
    const errs = serviceValidationErrors(s);
    if (errs.length > 0) throw rpc(multiError(errs));
    serviceId = s.ID === '' ? s.Service : s.ID;
    if (serviceId !== '' && s.Service === '') {
      throw rpc('Must provide service name (Service.Service) when service ID is provided');
    }
    // Consul has no text for a service with neither name nor ID (its index insert fails).
    if (serviceId === '') throw rpc('Must provide service name (Service.Service)');
    if (isAnyAddress(s.Address)) throw rpc('Invalid service address');
  }
  for (const c of d.Checks) {
    if (c.Node === '') c.Node = d.Node;
    if (c.CheckID === '') c.CheckID = c.Name;
  }
  let existing: readonly Service[] | undefined;
  for (const c of d.Checks) {
    if (c.Node.toLowerCase() !== d.Node.toLowerCase()) {
      throw rpc(
        `Node '${c.Node}' for check '${c.CheckID}' doesn't match register request node '${d.Node}'`,
      );
    }
    if (c.ServiceID === '' || (s !== undefined && c.ServiceID === serviceId)) continue;
    existing ??= store.nodeServices(d.Node).value?.Services ?? [];
    if (!existing.some((x) => x.ID === c.ServiceID)) {
      throw rpc(`Unknown service ID '${c.ServiceID}' for check ID '${c.CheckID}'`);
    }
  }
  for (const c of d.Checks) {
    // Consul stores any status; the store keeps only the three Consul defines (400, in the
    // wording of Consul's agent check endpoint).
    if (!CHECK_STATUSES.has(c.Status)) throw badRequest('Bad check status');
    // Consul has no text for this either: its index insert fails on the empty CheckID.
    if (c.CheckID === '') {
      throw rpc(`failed inserting check on node "${d.Node}": Must provide check ID or name`);
    }
  }
  const req: { -readonly [K in keyof RegisterRequest]: RegisterRequest[K] } = {
    ID: d.ID,
    Node: d.Node,
    Address: d.Address,
    Datacenter: datacenter,
    TaggedAddresses: d.TaggedAddresses,
    NodeMeta: d.NodeMeta,
    SkipNodeUpdate: d.SkipNodeUpdate,
  };
  if (s !== undefined) {
    // NodeService.ToServiceNode: invalid weights (Passing < 1, Warning < 0) fall back to 1/1.
    const w = s.Weights;
    const weights =
      w === undefined || w.Passing < 1 || w.Warning < 0 ? { Passing: 1, Warning: 1 } : w;
    req.Service = {
      ID: serviceId,
      Service: s.Service,
      Tags: s.Tags,
      Address: s.Address,
      TaggedAddresses: s.TaggedAddresses,
      Meta: s.Meta,
      Port: s.Port,
      Weights: weights,
      EnableTagOverride: s.EnableTagOverride,
      // Consul takes any kind; the store keeps the ones it models and refuses others (400).
      Kind: s.Kind as ServiceKind,
      Proxy: s.Proxy,
      Connect: { Native: s.Native },
    };
  }
  if (d.Checks.length > 0) {
    req.Checks = d.Checks.map((c) => ({
      Node: c.Node,
      CheckID: c.CheckID,
      Name: c.Name,
      Status: c.Status === '' ? 'critical' : (c.Status as CheckStatus),
      Notes: c.Notes,
      Output: c.Output,
      ServiceID: c.ServiceID,
      Type: c.Type === '' ? checkTypeOf(c.Definition) : c.Type,
      Definition: c.Definition,
    }));
  }
  return req;
}

/** The body's Datacenter (Consul's RPC target): empty is this one; another is unreachable. */
function targetDatacenter(ctx: Ctx, dc: string): string {
  if (dc === '' || dc === ctx.backend.datacenter) return ctx.backend.datacenter;
  throw new HttpError(500, NO_DC_PATH_TEXT);
}

async function readCatalogBody(ctx: Ctx): Promise<Uint8Array> {
  return readBody(ctx.request.raw, CATALOG_MAX_BODY_BYTES, (n) =>
    bodyTooLarge(n, CATALOG_MAX_BODY_BYTES),
  );
}

async function register(ctx: Ctx): Promise<Answer> {
  const d = decodeRegister(decodeBody(await readCatalogBody(ctx), 'RegisterRequest'));
  const dc = targetDatacenter(ctx, d.Datacenter);
  const req = toRegisterRequest(d, dc, ctx.backend.store);
  try {
    await ctx.backend.apply({ type: MessageType.Register, now: Date.now(), body: req }, ctx.signal);
  } catch (e) {
    // The state store's ErrMissingNode/ErrMissingService, wrapped as ensureRegistrationTxn does.
    if (isStateError(e, StateErrorCode.MISSING_NODE)) {
      throw new HttpError(
        500,
        req.Service !== undefined
          ? `failed inserting service: ${e.message}`
          : `failed inserting check on node ${JSON.stringify(req.Node)}: ${e.message}`,
      );
    }
    if (isStateError(e, StateErrorCode.MISSING_SERVICE)) {
      throw new HttpError(
        500,
        `failed inserting check on node ${JSON.stringify(req.Node)}: ${e.message}`,
      );
    }
    throw e;
  }
  return json(true);
}

async function deregister(ctx: Ctx): Promise<Answer> {
  const o = decodeBody(await readCatalogBody(ctx), 'DeregisterRequest');
  const dr: At = { struct: 'DeregisterRequest', path: '' };
  const node = getStr(o, 'Node', dr);
  const serviceId = getStr(o, 'ServiceID', dr);
  const checkId = getStr(o, 'CheckID', dr, 'types.CheckID');
  targetDatacenter(ctx, getStr(o, 'Datacenter', dr));
  if (node === '') throw new HttpError(500, 'Must provide node');
  const body: { Node: string; ServiceID?: string; CheckID?: string } = { Node: node };
  if (serviceId !== '') body.ServiceID = serviceId;
  if (checkId !== '') body.CheckID = checkId;
  await ctx.backend.apply({ type: MessageType.Deregister, now: Date.now(), body }, ctx.signal);
  return json(true);
}

/** Watches a channel that never fires: a query for something no write can produce waits out. */
export function watchNothing(ws: WatchSet | undefined, what: string): void {
  ws?.add(channel.named(`never.${what}`));
}

/** Consul's agent/http_register.go entries for /v1/catalog. */
export const CATALOG_ENDPOINTS: readonly Endpoint[] = [
  { path: '/v1/catalog/register', methods: ['PUT'], readsBody: true, handler: register },
  { path: '/v1/catalog/deregister', methods: ['PUT'], readsBody: true, handler: deregister },
  { path: '/v1/catalog/datacenters', methods: ['GET'], handler: datacenters },
  { path: '/v1/catalog/nodes', methods: ['GET'], handler: catalogNodes },
  { path: '/v1/catalog/services', methods: ['GET'], handler: catalogServices },
  {
    path: SERVICE_PREFIX,
    methods: ['GET'],
    prefix: true,
    handler: (ctx) => catalogServiceNodes(ctx, false),
  },
  {
    path: CONNECT_PREFIX,
    methods: ['GET'],
    prefix: true,
    handler: (ctx) => catalogServiceNodes(ctx, true),
  },
  { path: NODE_PREFIX, methods: ['GET'], prefix: true, handler: catalogNodeServices },
  { path: NODE_SERVICES_PREFIX, methods: ['GET'], prefix: true, handler: catalogNodeServiceList },
];
