/**
 * Config entries (`PUT /v1/config`, `GET /v1/config/:kind/:name`): decoding with Consul's
 * validation, encoding to Consul's JSON, and the cross-entry protocol checks.
 *
 * Sources read: hashicorp/consul agent/structs/config_entry.go (DecodeConfigEntry,
 * MakeConfigEntry, ServiceConfigEntry, ProxyConfigEntry, validateConfigEntryMeta),
 * config_entry_ce.go (validateUnusedKeys), config_entry_intentions.go (normalize, validate,
 * computeIntentionPrecedence), config_entry_gateways.go (IngressGatewayConfigEntry.Validate,
 * validateHost), agent/consul/state/config_entry.go (validateProposedConfigEntryInServiceGraph).
 *
 * Deliberate differences from Consul, all stricter:
 * - Types are not coerced (Consul decodes "weakly": "10" for an int, 1 for a bool).
 * - Only the first problem is reported (Consul sometimes joins several with go-multierror).
 * - Service-intentions problems carry the source's index in the body as sent; Consul sorts the
 *   sources by precedence before validating, so its indexes can point elsewhere.
 * - Protocol must be one of tcp, http, http2, grpc (Consul stores any string).
 * - Names are at most 256 characters, without spaces, control characters or `/ ? # % \ *`
 *   (`*` alone is the wildcard where one is allowed); ingress listener ports are 1–65535; lists
 *   are bounded (see {@link LIMITS}).
 * - Fields of Consul features Trellis does not implement (UpstreamConfig, MeshGateway, JWT, …)
 *   are accepted only with their zero value and refused otherwise.
 * - An unknown kind is quoted in the error: `invalid config entry kind: "foo"`.
 */
import type { PlainMap } from '@trellis/state';
import { readStruct, Reader, joinPath, type StructSpec } from './decode.js';
import { ConnectError, ConnectErrorCode, goQuote } from './errors.js';
import { regexProblem } from './regex.js';

export const SERVICE_DEFAULTS = 'service-defaults';
export const PROXY_DEFAULTS = 'proxy-defaults';
export const SERVICE_INTENTIONS = 'service-intentions';
export const INGRESS_GATEWAY = 'ingress-gateway';

/** The config entry kinds Trellis implements. */
export const CONFIG_ENTRY_KINDS = [
  SERVICE_DEFAULTS,
  PROXY_DEFAULTS,
  SERVICE_INTENTIONS,
  INGRESS_GATEWAY,
] as const;
export type ConfigEntryKind = (typeof CONFIG_ENTRY_KINDS)[number];

/** Consul kinds Trellis knows of but does not implement (a clearer error than "invalid"). */
export const UNSUPPORTED_CONSUL_KINDS: readonly string[] = [
  'service-router',
  'service-splitter',
  'service-resolver',
  'terminating-gateway',
  'mesh',
  'exported-services',
  'sameness-group',
  'api-gateway',
  'bound-api-gateway',
  'inline-certificate',
  'file-system-certificate',
  'http-route',
  'tcp-route',
  'jwt-provider',
  'control-plane-request-limit',
];

/** The name of the one proxy-defaults entry (Consul's ProxyConfigGlobal). */
export const PROXY_CONFIG_GLOBAL = 'global';
/** The wildcard service name (intentions, ingress listeners). */
export const WILDCARD = '*';

export const PROTOCOLS = ['tcp', 'http', 'http2', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** Consul's DefaultServiceProtocol. */
export const DEFAULT_PROTOCOL: Protocol = 'tcp';

export const HTTP_METHODS: readonly string[] = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
];

/** Bounds on config entries. The Meta and Description limits are Consul's; the rest are ours. */
export const LIMITS = {
  maxNameLength: 256,
  maxSources: 1000,
  maxPermissionsPerSource: 100,
  maxHeadersPerPermission: 64,
  maxMatchValueLength: 1024,
  /** Consul's metaMaxKeyPairs. */
  maxMetaKeys: 64,
  /** Consul's metaKeyMaxLength. */
  metaKeyMaxLength: 128,
  /** Consul's metaValueMaxLength (also the Description limit). */
  metaValueMaxLength: 512,
  maxListeners: 256,
  maxServicesPerListener: 1000,
  maxHostsPerService: 64,
  maxHostLength: 253,
} as const;

/** Consul's IsProtocolHTTPLike: http, http2 and grpc. */
export function isHttpLike(protocol: string): boolean {
  return protocol === 'http' || protocol === 'http2' || protocol === 'grpc';
}

export function isProtocol(p: string): p is Protocol {
  return (PROTOCOLS as readonly string[]).includes(p);
}

// ------------------------------------------------------------------------------- entry types

export type IntentionAction = 'allow' | 'deny';
export type IntentionSourceType = 'consul';

/** One header condition of an L7 permission: exactly one of Present/Exact/Prefix/Suffix/Regex. */
export interface IntentionHTTPHeaderPermission {
  readonly Name: string;
  readonly Present?: true;
  readonly Exact?: string;
  readonly Prefix?: string;
  readonly Suffix?: string;
  readonly Regex?: string;
  readonly Invert?: true;
}

/** The HTTP conditions of an L7 permission (all must hold); at most one path condition. */
export interface IntentionHTTPPermission {
  readonly PathExact?: string;
  readonly PathPrefix?: string;
  readonly PathRegex?: string;
  readonly Header?: readonly IntentionHTTPHeaderPermission[];
  /** Upper case, no duplicates. */
  readonly Methods?: readonly string[];
}

export interface IntentionPermission {
  readonly Action: IntentionAction;
  readonly HTTP: IntentionHTTPPermission;
}

/**
 * One source of a service-intentions entry. Optional fields are absent when empty (Consul's
 * `omitempty`), so an entry is also its own JSON. Times are RFC 3339 strings as given.
 */
export interface SourceIntention {
  readonly Name: string;
  /** Absent exactly when Permissions are present. */
  readonly Action?: IntentionAction;
  readonly Permissions?: readonly IntentionPermission[];
  /** Computed (see {@link precedence}); input values are ignored. */
  readonly Precedence: number;
  /** Set only for intentions created through the legacy ID-based API. */
  readonly LegacyID?: string;
  readonly Type: IntentionSourceType;
  readonly Description?: string;
  readonly LegacyMeta?: Readonly<Record<string, string>>;
  readonly LegacyCreateTime?: string;
  readonly LegacyUpdateTime?: string;
}

export interface ServiceDefaultsEntry {
  readonly Kind: typeof SERVICE_DEFAULTS;
  readonly Name: string;
  /** '' when unset (the proxy-defaults protocol, else tcp, applies). */
  readonly Protocol: '' | Protocol;
  readonly MaxInboundConnections?: number;
  readonly LocalConnectTimeoutMs?: number;
  readonly LocalRequestTimeoutMs?: number;
  readonly BalanceInboundConnections?: 'exact_balance';
  readonly Meta?: Readonly<Record<string, string>>;
}

export interface ProxyDefaultsEntry {
  readonly Kind: typeof PROXY_DEFAULTS;
  readonly Name: typeof PROXY_CONFIG_GLOBAL;
  /** Free-form proxy config merged under every proxy's own; `protocol` is the global default. */
  readonly Config: PlainMap | null;
  readonly Meta?: Readonly<Record<string, string>>;
}

export interface ServiceIntentionsEntry {
  readonly Kind: typeof SERVICE_INTENTIONS;
  /** The destination service, or `*`. */
  readonly Name: string;
  /** Sorted by precedence, highest first (stable). */
  readonly Sources: readonly SourceIntention[];
  readonly Meta?: Readonly<Record<string, string>>;
}

export interface IngressService {
  /** A service name, or `*` (http-like listeners only). */
  readonly Name: string;
  readonly Hosts: readonly string[];
  readonly Meta?: Readonly<Record<string, string>>;
}

export interface IngressListener {
  readonly Port: number;
  readonly Protocol: Protocol;
  readonly Services: readonly IngressService[];
}

export interface IngressGatewayEntry {
  readonly Kind: typeof INGRESS_GATEWAY;
  /** The ingress gateway service's name. */
  readonly Name: string;
  readonly Listeners: readonly IngressListener[];
  readonly Meta?: Readonly<Record<string, string>>;
}

export type ConfigEntry =
  ServiceDefaultsEntry | ProxyDefaultsEntry | ServiceIntentionsEntry | IngressGatewayEntry;

export interface RaftIndex {
  readonly createIndex: number;
  readonly modifyIndex: number;
}

// ------------------------------------------------------------------------------ precedence

/**
 * Consul's intention precedence (computeIntentionPrecedence / Intention.UpdatePrecedence):
 * the more exact values, the higher. With namespaces (Consul's documented table):
 *
 * | source ns/name | destination ns/name | precedence |
 * | -------------- | ------------------- | ---------- |
 * | exact / exact  | exact / exact       | 9          |
 * | exact / *      | exact / exact       | 8          |
 * | * / *          | exact / exact       | 7          |
 * | exact / exact  | exact / *           | 6          |
 * | exact / *      | exact / *           | 5          |
 * | * / *          | exact / *           | 4          |
 * | exact / exact  | * / *               | 3          |
 * | exact / *      | * / *               | 2          |
 * | * / *          | * / *               | 1          |
 *
 * Trellis has only the default namespace, so it uses 9, 8, 6 and 5.
 */
export function precedence(
  sourceName: string,
  destinationName: string,
  namespaces: { readonly source?: string; readonly destination?: string } = {},
): number {
  const max = [3, 6, 9][countExact(namespaces.destination ?? 'default', destinationName)] ?? 0;
  return max - (2 - countExact(namespaces.source ?? 'default', sourceName));
}

function countExact(ns: string, name: string): number {
  if (ns === WILDCARD) return 0;
  if (name === WILDCARD) return 1;
  return 2;
}

// --------------------------------------------------------------------------------- decoding

const R: Reader = new Reader(ConnectErrorCode.InvalidConfigEntry);

const IGNORED_TOP = ['Kind', 'CreateIndex', 'ModifyIndex', 'Hash'];

export interface DecodeOptions {
  /**
   * Decode a service-intentions entry as written by the legacy intentions API (Consul's
   * LegacyNormalize/LegacyValidate): every source keeps and needs LegacyID, LegacyCreateTime and
   * LegacyUpdateTime, Permissions and Meta are refused. For re-validating stored entries; a
   * `PUT /v1/config` body is decoded without it (legacy fields are then dropped).
   */
  readonly legacy?: boolean;
}

/**
 * Decodes and validates a `PUT /v1/config` body into a normalized entry (Kind set, protocols
 * lower-cased, defaults applied, intention precedence computed and sources sorted by it).
 * Throws {@link ConnectError} (InvalidConfigEntry) with Consul's text where Consul has one.
 */
export function decodeConfigEntry(body: unknown, options: DecodeOptions = {}): ConfigEntry {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    R.fail('', 'Request decode failed: config entry must be a JSON object');
  }
  const o = R.obj(body, '');
  let kindVal: unknown;
  let found = false;
  for (const [k, v] of Object.entries(o)) {
    if (k.toLowerCase() !== 'kind') continue;
    if (found) R.fail(k, `${k}: duplicate key (Kind given twice)`);
    found = true;
    kindVal = v;
  }
  if (!found) R.fail('Kind', 'Payload does not contain a kind/Kind key at the top level');
  if (typeof kindVal !== 'string') R.fail('Kind', 'Kind value in payload is not a string');
  switch (kindVal) {
    case SERVICE_DEFAULTS:
      return decodeServiceDefaults(o);
    case PROXY_DEFAULTS:
      return decodeProxyDefaults(o);
    case SERVICE_INTENTIONS:
      return decodeServiceIntentions(o, options.legacy === true);
    case INGRESS_GATEWAY:
      return decodeIngressGateway(o);
    default:
      if (UNSUPPORTED_CONSUL_KINDS.includes(kindVal)) {
        return R.fail('Kind', `config entry kind ${goQuote(kindVal)} is not supported by Trellis`);
      }
      return R.fail('Kind', `invalid config entry kind: ${goQuote(kindVal.slice(0, 256))}`);
  }
}

/** Why `name` is not usable as a service name, or null. `*` is checked by the caller. */
export function serviceNameProblem(name: string): string | null {
  if (name.length > LIMITS.maxNameLength) return `longer than ${LIMITS.maxNameLength} characters`;

  if (/[\u0000-\u0020\u007f/?#%\\*]/.test(name)) {
    return 'must not contain spaces, control characters or any of / ? # % \\ *';
  }
  return null;
}

function readName(v: unknown, path: string, allowWildcard: boolean): string {
  const name = R.optStr(v, path, 4096);
  if (name === '') return '';
  if (allowWildcard && name === WILDCARD) return name;
  if (allowWildcard && name.includes(WILDCARD)) {
    R.fail(path, `${path}: wildcard character '*' cannot be used with partial values`);
  }
  const problem = serviceNameProblem(name);
  if (problem !== null) R.bad(path, problem);
  return name;
}

function readMeta(v: unknown, path: string): Record<string, string> {
  const meta = R.optStrMap(v, path);
  validateMeta(meta, path);
  return meta;
}

/** Consul's validateConfigEntryMeta (one error at a time). */
function validateMeta(meta: Readonly<Record<string, string>>, path: string): void {
  const keys = Object.keys(meta);
  if (keys.length > LIMITS.maxMetaKeys) {
    R.fail(path, `${path} exceeds maximum element count ${LIMITS.maxMetaKeys}`);
  }
  for (const k of keys) {
    if (utf8Length(k) > LIMITS.metaKeyMaxLength) {
      R.fail(path, `${path} key ${goQuote(k)} exceeds maximum length ${LIMITS.metaKeyMaxLength}`);
    }
    if (utf8Length(meta[k] ?? '') > LIMITS.metaValueMaxLength) {
      R.fail(
        path,
        `${path} value for key ${goQuote(k)} exceeds maximum length ${LIMITS.metaValueMaxLength}`,
      );
    }
  }
}

/** Go's len() of a string: its UTF-8 byte length. */
function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function withMeta<T extends object>(
  entry: T,
  meta: Readonly<Record<string, string>>,
): T & { readonly Meta?: Readonly<Record<string, string>> } {
  return Object.keys(meta).length > 0 ? { ...entry, Meta: meta } : entry;
}

function readProtocol(v: unknown, path: string): '' | Protocol {
  const p = R.optStr(v, path, 64).toLowerCase();
  if (p === '' || isProtocol(p)) return p;
  return R.bad(path, `must be one of "tcp", "http", "http2", "grpc" (got ${goQuote(p)})`);
}

const MAX_INT32 = 2 ** 31 - 1;

const SERVICE_DEFAULTS_SPEC: StructSpec = {
  fields: [
    'Name',
    'Protocol',
    'MaxInboundConnections',
    'LocalConnectTimeoutMs',
    'LocalRequestTimeoutMs',
    'BalanceInboundConnections',
    'Meta',
  ],
  unsupported: [
    'Mode',
    'TransparentProxy',
    'MutualTLSMode',
    'MeshGateway',
    'Expose',
    'ExternalSNI',
    'UpstreamConfig',
    'Destination',
    'RateLimits',
    'EnvoyExtensions',
  ],
  ignored: IGNORED_TOP,
  enterprise: true,
};

function decodeServiceDefaults(o: object): ServiceDefaultsEntry {
  const f = readStruct(R, o, '', SERVICE_DEFAULTS_SPEC);
  const name = readName(f.get('Name'), 'Name', true);
  const protocol = readProtocol(f.get('Protocol'), 'Protocol');
  const maxIn = R.optInt(f.get('MaxInboundConnections'), 'MaxInboundConnections', 0, MAX_INT32);
  const lct = R.optInt(f.get('LocalConnectTimeoutMs'), 'LocalConnectTimeoutMs', 0, MAX_INT32);
  const lrt = R.optInt(f.get('LocalRequestTimeoutMs'), 'LocalRequestTimeoutMs', 0, MAX_INT32);
  const balance = R.optStr(f.get('BalanceInboundConnections'), 'BalanceInboundConnections', 64);
  const meta = R.optStrMap(f.get('Meta'), 'Meta');
  // ServiceConfigEntry.Validate
  if (name === '') R.fail('Name', 'Name is required');
  if (name === WILDCARD) {
    R.fail('Name', 'service-defaults name must be the name of a service, and not a wildcard');
  }
  validateMeta(meta, 'Meta');
  if (balance !== '' && balance !== 'exact_balance') {
    R.fail(
      'BalanceInboundConnections',
      `invalid value for balance_inbound_connections: ${balance}`,
    );
  }
  const entry: ServiceDefaultsEntry = {
    Kind: SERVICE_DEFAULTS,
    Name: name,
    Protocol: protocol,
    ...(maxIn > 0 ? { MaxInboundConnections: maxIn } : {}),
    ...(lct > 0 ? { LocalConnectTimeoutMs: lct } : {}),
    ...(lrt > 0 ? { LocalRequestTimeoutMs: lrt } : {}),
    ...(balance === 'exact_balance' ? { BalanceInboundConnections: balance } : {}),
  };
  return withMeta(entry, meta);
}

const PROXY_DEFAULTS_SPEC: StructSpec = {
  fields: ['Name', 'Config', 'Meta'],
  unsupported: [
    'Mode',
    'TransparentProxy',
    'MutualTLSMode',
    'MeshGateway',
    'Expose',
    'AccessLogs',
    'EnvoyExtensions',
    'FailoverPolicy',
    'PrioritizeByLocality',
  ],
  ignored: IGNORED_TOP,
  enterprise: true,
};

function decodeProxyDefaults(o: object): ProxyDefaultsEntry {
  const f = readStruct(R, o, '', PROXY_DEFAULTS_SPEC);
  const name = R.optStr(f.get('Name'), 'Name', 4096);
  const rawConfig = f.get('Config');
  const config = rawConfig === undefined ? null : R.plainMap(rawConfig, 'Config');
  const meta = R.optStrMap(f.get('Meta'), 'Meta');
  // ProxyConfigEntry.Normalize then Validate
  if (name !== '' && name !== PROXY_CONFIG_GLOBAL) {
    R.fail(
      'Name',
      `invalid name (${goQuote(name.slice(0, 256))}), only ${goQuote(PROXY_CONFIG_GLOBAL)} is supported`,
    );
  }
  validateMeta(meta, 'Meta');
  if (config !== null && Object.hasOwn(config, 'protocol')) {
    const p = config['protocol'];
    if (typeof p !== 'string' || !isProtocol(p.toLowerCase())) {
      R.bad('Config.protocol', 'must be one of "tcp", "http", "http2", "grpc"');
    }
  }
  return withMeta({ Kind: PROXY_DEFAULTS, Name: PROXY_CONFIG_GLOBAL, Config: config }, meta);
}

const INTENTIONS_SPEC: StructSpec = {
  fields: ['Name', 'Sources', 'Meta'],
  unsupported: ['JWT'],
  ignored: IGNORED_TOP,
  enterprise: true,
};

const SOURCE_SPEC: StructSpec = {
  fields: [
    'Name',
    'Action',
    'Permissions',
    'Precedence',
    'LegacyID',
    'Type',
    'Description',
    'LegacyMeta',
    'LegacyCreateTime',
    'LegacyUpdateTime',
  ],
  unsupported: ['Peer', 'SamenessGroup'],
  enterprise: true,
};

const PERMISSION_SPEC: StructSpec = { fields: ['Action', 'HTTP'], unsupported: ['JWT'] };
const HTTP_SPEC: StructSpec = {
  fields: ['PathExact', 'PathPrefix', 'PathRegex', 'Header', 'Methods'],
};
const HEADER_SPEC: StructSpec = {
  fields: ['Name', 'Present', 'Exact', 'Prefix', 'Suffix', 'Regex', 'Invert'],
};

/** A decoded source before validation (Go's zero values for absent fields). */
interface RawSource {
  name: string;
  action: string;
  permissions: RawPermission[];
  legacyID: string;
  type: string;
  description: string;
  legacyMeta: Record<string, string>;
  legacyCreateTime: string;
  legacyUpdateTime: string;
}

interface RawPermission {
  action: string;
  http: RawHTTP | null;
}

interface RawHTTP {
  pathExact: string;
  pathPrefix: string;
  pathRegex: string;
  header: RawHeader[];
  methods: string[];
}

interface RawHeader {
  name: string;
  present: boolean;
  exact: string;
  prefix: string;
  suffix: string;
  regex: string;
  invert: boolean;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function readTime(v: unknown, path: string): string {
  const s = R.optStr(v, path, 64);
  if (s !== '' && !RFC3339.test(s)) R.bad(path, 'must be an RFC 3339 time');
  return s;
}

function readSource(v: unknown, path: string): RawSource {
  const f = readStruct(R, v, path, SOURCE_SPEC);
  const precedenceIn = f.get('Precedence');
  if (precedenceIn !== undefined) R.int(precedenceIn, `${path}.Precedence`, -1e9, 1e9);
  const permissions = R.optArr(
    f.get('Permissions'),
    `${path}.Permissions`,
    LIMITS.maxPermissionsPerSource,
    'permissions',
  ).map((p, j) => readPermission(p, `${path}.Permissions[${j}]`));
  return {
    name: R.optStr(f.get('Name'), `${path}.Name`, 4096),
    action: R.optStr(f.get('Action'), `${path}.Action`, 64),
    permissions,
    legacyID: R.optStr(f.get('LegacyID'), `${path}.LegacyID`, 256),
    type: R.optStr(f.get('Type'), `${path}.Type`, 64),
    description: R.optStr(f.get('Description'), `${path}.Description`),
    legacyMeta: R.optStrMap(f.get('LegacyMeta'), `${path}.LegacyMeta`),
    legacyCreateTime: readTime(f.get('LegacyCreateTime'), `${path}.LegacyCreateTime`),
    legacyUpdateTime: readTime(f.get('LegacyUpdateTime'), `${path}.LegacyUpdateTime`),
  };
}

function readPermission(v: unknown, path: string): RawPermission {
  const f = readStruct(R, v, path, PERMISSION_SPEC);
  const http = f.get('HTTP');
  return {
    action: R.optStr(f.get('Action'), `${path}.Action`, 64),
    http: http === undefined ? null : readHTTP(http, `${path}.HTTP`),
  };
}

function readHTTP(v: unknown, path: string): RawHTTP {
  const f = readStruct(R, v, path, HTTP_SPEC);
  const max = LIMITS.maxMatchValueLength;
  return {
    pathExact: R.optStr(f.get('PathExact'), `${path}.PathExact`, max),
    pathPrefix: R.optStr(f.get('PathPrefix'), `${path}.PathPrefix`, max),
    pathRegex: R.optStr(f.get('PathRegex'), `${path}.PathRegex`, max),
    header: R.optArr(f.get('Header'), `${path}.Header`, LIMITS.maxHeadersPerPermission).map(
      (h, k) => readHeader(h, `${path}.Header[${k}]`),
    ),
    methods: R.optStrArr(f.get('Methods'), `${path}.Methods`, 32, 64),
  };
}

function readHeader(v: unknown, path: string): RawHeader {
  const f = readStruct(R, v, path, HEADER_SPEC);
  const max = LIMITS.maxMatchValueLength;
  return {
    name: R.optStr(f.get('Name'), `${path}.Name`, 256),
    present: R.optBool(f.get('Present'), `${path}.Present`),
    exact: R.optStr(f.get('Exact'), `${path}.Exact`, max),
    prefix: R.optStr(f.get('Prefix'), `${path}.Prefix`, max),
    suffix: R.optStr(f.get('Suffix'), `${path}.Suffix`, max),
    regex: R.optStr(f.get('Regex'), `${path}.Regex`, max),
    invert: R.optBool(f.get('Invert'), `${path}.Invert`),
  };
}

function decodeServiceIntentions(o: object, legacy: boolean): ServiceIntentionsEntry {
  const f = readStruct(R, o, '', INTENTIONS_SPEC);
  const name = readName(f.get('Name'), 'Name', true);
  const meta = R.optStrMap(f.get('Meta'), 'Meta');
  const sources = R.optArr(f.get('Sources'), 'Sources', LIMITS.maxSources, 'sources').map((s, i) =>
    readSource(s, `Sources[${i}]`),
  );
  return buildServiceIntentions(name, sources, meta, legacy);
}

/**
 * Consul's ServiceIntentionsConfigEntry normalize + validate over decoded sources; shared with
 * the legacy intention API, which builds its entries through here too.
 */
function buildServiceIntentions(
  name: string,
  sources: readonly RawSource[],
  meta: Readonly<Record<string, string>>,
  legacy: boolean,
): ServiceIntentionsEntry {
  if (name === '') R.fail('Name', 'Name is required');
  if (legacy) {
    if (Object.keys(meta).length > 0)
      R.fail('Meta', 'Meta must be omitted for legacy intention writes');
  } else {
    validateMeta(meta, 'Meta');
  }
  if (sources.length === 0) R.fail('Sources', 'At least one source is required');
  const destIsWild = name === WILDCARD;
  const seen = new Set<string>();
  const out: SourceIntention[] = [];
  sources.forEach((src, i) => {
    const p = `Sources[${i}]`;
    if (src.name === '') R.fail(`${p}.Name`, `${p}.Name is required`);
    if (src.name !== WILDCARD) {
      if (src.name.includes(WILDCARD)) {
        R.fail(`${p}.Name`, `${p}.Name: wildcard character '*' cannot be used with partial values`);
      }
      const problem = serviceNameProblem(src.name);
      if (problem !== null) R.bad(`${p}.Name`, problem);
    }
    if (utf8Length(src.description) > LIMITS.metaValueMaxLength) {
      R.fail(
        `${p}.Description`,
        `${p}.Description exceeds maximum length ${LIMITS.metaValueMaxLength}`,
      );
    }
    if (legacy) {
      validateLegacyMeta(src.legacyMeta, p);
      if (src.legacyCreateTime === '') {
        R.fail(`${p}.LegacyCreateTime`, `${p}.LegacyCreateTime must be set`);
      }
      if (src.legacyUpdateTime === '') {
        R.fail(`${p}.LegacyUpdateTime`, `${p}.LegacyUpdateTime must be set`);
      }
      if (src.legacyID === '') R.fail(`${p}.LegacyID`, `${p}.LegacyID must be set`);
    } else if (Object.keys(src.legacyMeta).length > 0) {
      // normalize(false) drops LegacyID and the legacy times silently; LegacyMeta is kept
      // only so that this check can refuse it rather than lose it.
      R.fail(`${p}.LegacyMeta`, `${p}.LegacyMeta must be omitted`);
    }
    if (legacy || src.permissions.length === 0) {
      if (src.action !== 'allow' && src.action !== 'deny') {
        R.fail(`${p}.Action`, `${p}.Action must be set to 'allow' or 'deny'`);
      }
    }
    if (src.permissions.length > 0 && src.action !== '') {
      R.fail(`${p}.Action`, `${p}.Action must be omitted if Permissions are specified`);
    }
    if (destIsWild && src.permissions.length > 0) {
      R.fail(
        `${p}.Permissions`,
        `${p}.Permissions cannot be specified on intentions with wildcarded destinations`,
      );
    }
    const type = src.type === '' ? 'consul' : src.type;
    if (type !== 'consul') R.fail(`${p}.Type`, `${p}.Type must be set to 'consul'`);
    const permissions = src.permissions.map((perm, j) =>
      validatePermission(perm, `${p}.Permissions[${j}]`),
    );
    if (seen.has(src.name)) R.fail(p, `${p} defines ${goQuote(src.name)} more than once`);
    seen.add(src.name);

    const action = src.action === 'allow' || src.action === 'deny' ? src.action : undefined;
    out.push({
      Name: src.name,
      ...(action !== undefined ? { Action: action } : {}),
      ...(permissions.length > 0 ? { Permissions: permissions } : {}),
      Precedence: precedence(src.name, name),
      ...(legacy ? { LegacyID: src.legacyID } : {}),
      Type: 'consul',
      ...(src.description !== '' ? { Description: src.description } : {}),
      ...(legacy && Object.keys(src.legacyMeta).length > 0 ? { LegacyMeta: src.legacyMeta } : {}),
      ...(legacy
        ? { LegacyCreateTime: src.legacyCreateTime, LegacyUpdateTime: src.legacyUpdateTime }
        : {}),
    });
  });
  // Highest precedence first; a stable sort keeps the order given among equals.
  const sorted = out
    .map((s, i) => [s, i] as const)
    .sort((a, b) => b[0].Precedence - a[0].Precedence || a[1] - b[1])
    .map(([s]) => s);
  return withMeta({ Kind: SERVICE_INTENTIONS, Name: name, Sources: sorted }, meta);
}

function validateLegacyMeta(meta: Readonly<Record<string, string>>, p: string): void {
  const keys = Object.keys(meta);
  if (keys.length > LIMITS.maxMetaKeys) {
    R.fail(`${p}.Meta`, `${p}.Meta exceeds maximum element count ${LIMITS.maxMetaKeys}`);
  }
  for (const k of keys) {
    if (utf8Length(k) > LIMITS.metaKeyMaxLength) {
      R.fail(
        `${p}.Meta`,
        `${p}.Meta key ${goQuote(k)} exceeds maximum length ${LIMITS.metaKeyMaxLength}`,
      );
    }
    if (utf8Length(meta[k] ?? '') > LIMITS.metaValueMaxLength) {
      R.fail(
        `${p}.Meta`,
        `${p}.Meta value for key ${goQuote(k)} exceeds maximum length ${LIMITS.metaValueMaxLength}`,
      );
    }
  }
}

function validatePermission(perm: RawPermission, p: string): IntentionPermission {
  if (perm.action !== 'allow' && perm.action !== 'deny') {
    R.fail(`${p}.Action`, `${p}.Action must be set to 'allow' or 'deny'`);
  }
  const hp = `${p}.HTTP`;
  const http = perm.http;
  if (http === null) return R.fail(hp, `${hp} is required`);
  let pathParts = 0;
  if (http.pathExact !== '') {
    pathParts++;
    if (!http.pathExact.startsWith('/')) {
      R.fail(
        `${hp}.PathExact`,
        `${hp}.PathExact doesn't start with '/': ${goQuote(http.pathExact)}`,
      );
    }
  }
  if (http.pathPrefix !== '') {
    pathParts++;
    if (!http.pathPrefix.startsWith('/')) {
      R.fail(
        `${hp}.PathPrefix`,
        `${hp}.PathPrefix doesn't start with '/': ${goQuote(http.pathPrefix)}`,
      );
    }
  }
  if (http.pathRegex !== '') {
    pathParts++;
    const problem = regexProblem(http.pathRegex);
    if (problem !== null) R.bad(`${hp}.PathRegex`, problem);
  }
  if (pathParts > 1) {
    R.fail(hp, `${hp} should only contain at most one of PathExact, PathPrefix, or PathRegex`);
  }
  let permParts = pathParts;
  const headers: IntentionHTTPHeaderPermission[] = [];
  http.header.forEach((h, k) => {
    const hdp = `${hp}.Header[${k}]`;
    if (h.name === '') R.fail(hdp, `${hdp} missing required Name field`);
    const parts =
      (h.present ? 1 : 0) +
      (h.exact !== '' ? 1 : 0) +
      (h.regex !== '' ? 1 : 0) +
      (h.prefix !== '' ? 1 : 0) +
      (h.suffix !== '' ? 1 : 0);
    if (parts !== 1) {
      R.fail(hdp, `${hdp} should only contain one of Present, Exact, Prefix, Suffix, or Regex`);
    }
    if (h.regex !== '') {
      const problem = regexProblem(h.regex);
      if (problem !== null) R.bad(`${hdp}.Regex`, problem);
    }
    permParts++;
    headers.push({
      Name: h.name,
      ...(h.present ? { Present: true as const } : {}),
      ...(h.exact !== '' ? { Exact: h.exact } : {}),
      ...(h.prefix !== '' ? { Prefix: h.prefix } : {}),
      ...(h.suffix !== '' ? { Suffix: h.suffix } : {}),
      ...(h.regex !== '' ? { Regex: h.regex } : {}),
      ...(h.invert ? { Invert: true as const } : {}),
    });
  });
  // normalize upper-cases the methods before validate looks at them.
  const methods = http.methods.map((m) => m.toUpperCase());
  if (methods.length > 0) {
    const found = new Set<string>();
    for (const m of methods) {
      if (!HTTP_METHODS.includes(m)) {
        R.fail(`${hp}.Methods`, `${hp}.Methods contains an invalid method ${goQuote(m)}`);
      }
      if (found.has(m))
        R.fail(`${hp}.Methods`, `${hp}.Methods contains ${goQuote(m)} more than once`);
      found.add(m);
    }
    permParts++;
  }
  if (permParts === 0) R.fail(hp, `${hp} should not be empty`);
  return {
    Action: perm.action,
    HTTP: {
      ...(http.pathExact !== '' ? { PathExact: http.pathExact } : {}),
      ...(http.pathPrefix !== '' ? { PathPrefix: http.pathPrefix } : {}),
      ...(http.pathRegex !== '' ? { PathRegex: http.pathRegex } : {}),
      ...(headers.length > 0 ? { Header: headers } : {}),
      ...(methods.length > 0 ? { Methods: methods } : {}),
    },
  };
}

/** A source as the legacy intention API builds it (internal to this package). */
export interface SourceDraft {
  readonly name: string;
  readonly action: string;
  readonly permissions?: readonly IntentionPermission[];
  readonly legacyID: string;
  readonly type: string;
  readonly description: string;
  readonly legacyMeta: Readonly<Record<string, string>>;
  readonly legacyCreateTime: string;
  readonly legacyUpdateTime: string;
}

/**
 * Normalizes and validates a service-intentions entry assembled in code (the legacy and exact
 * intention APIs), with Consul's Normalize/Validate (or LegacyNormalize/LegacyValidate).
 */
export function buildIntentionsEntry(
  name: string,
  sources: readonly (SourceDraft | SourceIntention)[],
  meta: Readonly<Record<string, string>>,
  legacy: boolean,
): ServiceIntentionsEntry {
  const raw = sources.map((s): RawSource => ('Precedence' in s ? fromSource(s) : fromDraft(s)));
  return buildServiceIntentions(name, raw, meta, legacy);
}

function fromDraft(s: SourceDraft): RawSource {
  return {
    name: s.name,
    action: s.action,
    permissions: (s.permissions ?? []).map(toRawPermission),
    legacyID: s.legacyID,
    type: s.type,
    description: s.description,
    legacyMeta: { ...s.legacyMeta },
    legacyCreateTime: s.legacyCreateTime,
    legacyUpdateTime: s.legacyUpdateTime,
  };
}

function fromSource(s: SourceIntention): RawSource {
  return {
    name: s.Name,
    action: s.Action ?? '',
    permissions: (s.Permissions ?? []).map(toRawPermission),
    legacyID: s.LegacyID ?? '',
    type: s.Type,
    description: s.Description ?? '',
    legacyMeta: { ...(s.LegacyMeta ?? {}) },
    legacyCreateTime: s.LegacyCreateTime ?? '',
    legacyUpdateTime: s.LegacyUpdateTime ?? '',
  };
}

function toRawPermission(p: IntentionPermission): RawPermission {
  return {
    action: p.Action,
    http: {
      pathExact: p.HTTP.PathExact ?? '',
      pathPrefix: p.HTTP.PathPrefix ?? '',
      pathRegex: p.HTTP.PathRegex ?? '',
      header: (p.HTTP.Header ?? []).map((h) => ({
        name: h.Name,
        present: h.Present === true,
        exact: h.Exact ?? '',
        prefix: h.Prefix ?? '',
        suffix: h.Suffix ?? '',
        regex: h.Regex ?? '',
        invert: h.Invert === true,
      })),
      methods: [...(p.HTTP.Methods ?? [])],
    },
  };
}

/** Decodes the Permissions of a legacy intention body (reused by the exact intention API). */
export function decodePermissions(v: unknown, path: string): IntentionPermission[] {
  return R.optArr(v, path, LIMITS.maxPermissionsPerSource, 'permissions').map((p, j) =>
    validatePermission(readPermission(p, `${path}[${j}]`), `${path}[${j}]`),
  );
}

const INGRESS_SPEC: StructSpec = {
  fields: ['Name', 'TLS', 'Listeners', 'Meta'],
  unsupported: ['Defaults'],
  ignored: IGNORED_TOP,
  enterprise: true,
};
const GATEWAY_TLS_SPEC: StructSpec = {
  fields: ['Enabled'],
  unsupported: ['SDS', 'TLSMinVersion', 'TLSMaxVersion', 'CipherSuites'],
};
const LISTENER_SPEC: StructSpec = {
  fields: ['Port', 'Protocol', 'Services'],
  unsupported: ['TLS'],
};
const INGRESS_SERVICE_SPEC: StructSpec = {
  fields: ['Name', 'Hosts', 'Meta'],
  unsupported: [
    'TLS',
    'RequestHeaders',
    'ResponseHeaders',
    'MaxConnections',
    'MaxPendingRequests',
    'MaxConcurrentRequests',
    'PassiveHealthCheck',
  ],
  enterprise: true,
};

function decodeIngressGateway(o: object): IngressGatewayEntry {
  const f = readStruct(R, o, '', INGRESS_SPEC);
  const name = readName(f.get('Name'), 'Name', false);
  const tls = f.get('TLS');
  if (tls !== undefined) {
    const t = readStruct(R, tls, 'TLS', GATEWAY_TLS_SPEC);
    if (R.optBool(t.get('Enabled'), 'TLS.Enabled')) {
      R.fail('TLS.Enabled', 'TLS.Enabled: gateway TLS is not supported by Trellis');
    }
  }
  const meta = R.optStrMap(f.get('Meta'), 'Meta');
  const listeners = R.optArr(f.get('Listeners'), 'Listeners', LIMITS.maxListeners, 'listeners').map(
    (l, i) => readListener(l, `Listeners[${i}]`),
  );
  if (name === '') R.fail('Name', 'Name is required');
  // IngressGatewayConfigEntry.Validate
  validateMeta(meta, 'Meta');
  const ports = new Set<number>();
  listeners.forEach((l, i) => {
    const lp = `Listeners[${i}]`;
    if (ports.has(l.Port)) R.fail(`${lp}.Port`, `port ${l.Port} declared on two listeners`);
    ports.add(l.Port);
    const proto: string = l.Protocol; // not yet checked
    if (!isProtocol(proto)) {
      R.fail(
        `${lp}.Protocol`,
        `protocol must be 'tcp', 'http', 'http2', or 'grpc'. '${proto}' is an unsupported protocol`,
      );
    }
    if (l.Services.length === 0) {
      R.fail(`${lp}.Services`, `No service declared for listener with port ${l.Port}`);
    }
    if (!isHttpLike(l.Protocol) && l.Services.length > 1) {
      R.fail(
        `${lp}.Services`,
        `Multiple services per listener are only supported for L7 protocols, 'http', 'grpc' and 'http2' (listener on port ${l.Port})`,
      );
    }
    const hosts = new Set<string>();
    const names = new Set<string>();
    l.Services.forEach((s, j) => {
      const sp = `${lp}.Services[${j}]`;
      if (l.Protocol === 'tcp') {
        if (s.Name === WILDCARD) {
          R.fail(
            `${sp}.Name`,
            `Wildcard service name is only valid for protocol = 'http' (listener on port ${l.Port})`,
          );
        }
        if (s.Hosts.length !== 0) {
          R.fail(
            `${sp}.Hosts`,
            `Associating hosts to a service is not supported for the ${l.Protocol} protocol (listener on port ${l.Port})`,
          );
        }
      }
      if (s.Name === '') {
        R.fail(`${sp}.Name`, `Service name cannot be blank (listener on port ${l.Port})`);
      }
      if (s.Name === WILDCARD && s.Hosts.length !== 0) {
        R.fail(
          `${sp}.Hosts`,
          `Associating hosts to a wildcard service is not supported (listener on port ${l.Port})`,
        );
      }
      if (names.has(s.Name)) {
        R.fail(
          `${sp}.Name`,
          `Service ${s.Name} cannot be added multiple times (listener on port ${l.Port})`,
        );
      }
      names.add(s.Name);
      for (const h of s.Hosts) {
        if (hosts.has(h)) {
          R.fail(
            `${sp}.Hosts`,
            `Hosts must be unique within a specific listener (listener on port ${l.Port})`,
          );
        }
        hosts.add(h);
        const problem = hostProblem(h);
        if (problem !== null) R.fail(`${sp}.Hosts`, problem);
      }
    });
  });
  return withMeta({ Kind: INGRESS_GATEWAY, Name: name, Listeners: listeners }, meta);
}

function readListener(v: unknown, path: string): IngressListener {
  const f = readStruct(R, v, path, LISTENER_SPEC);
  const portIn = f.get('Port');
  if (portIn === undefined) R.bad(`${path}.Port`, 'must be an integer between 1 and 65535');
  const port = R.int(portIn, `${path}.Port`, 1, 65535);
  // Normalize: an empty protocol is tcp; protocols are lower-cased.
  const protocol = (R.optStr(f.get('Protocol'), `${path}.Protocol`, 64) || 'tcp').toLowerCase();
  const services = R.optArr(
    f.get('Services'),
    `${path}.Services`,
    LIMITS.maxServicesPerListener,
    'services',
  ).map((s, j) => readIngressService(s, `${path}.Services[${j}]`));
  return { Port: port, Protocol: protocol as Protocol, Services: services };
}

function readIngressService(v: unknown, path: string): IngressService {
  const f = readStruct(R, v, path, INGRESS_SERVICE_SPEC);
  const name = readName(f.get('Name'), `${path}.Name`, true);
  const hosts = R.optStrArr(
    f.get('Hosts'),
    `${path}.Hosts`,
    LIMITS.maxHostsPerService,
    LIMITS.maxHostLength + 6,
  );
  const meta = readMeta(f.get('Meta'), joinPath(path, 'Meta'));
  return withMeta({ Name: name, Hosts: hosts }, meta);
}

/**
 * Consul's validateHost (TLS is never enabled here, so `*` alone is allowed): a DNS name,
 * optionally with `:port`, whose only wildcard is a whole leftmost label.
 */
function hostProblem(host: string): string | null {
  if (host === WILDCARD) return null;
  let name = host;
  const colon = host.lastIndexOf(':');
  if (colon >= 0) {
    const port = host.slice(colon + 1);
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
      return `Host ${goQuote(host)} must be a valid DNS hostname`;
    }
    name = host.slice(0, colon);
  }
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  const valid =
    name.length > 0 &&
    name.length <= LIMITS.maxHostLength &&
    labels.every((l, i) => (l === WILDCARD && i === 0) || /^[A-Za-z0-9_*-]{1,63}$/.test(l));
  if (!valid) return `Host ${goQuote(host)} must be a valid DNS hostname`;
  const rest = name.startsWith('*.') ? name.slice(2) : name;
  if (rest.includes(WILDCARD)) {
    return `Host ${goQuote(host)} is not valid, a wildcard specifier is only allowed as the leftmost label`;
  }
  return null;
}

// --------------------------------------------------------------------------------- encoding

/**
 * Consul's JSON for `GET /v1/config/:kind/:name` (and each element of `GET /v1/config/:kind`):
 * Go's field order, its omitempty rules, and the always-present empty structs Go emits for
 * the struct-typed fields (TransparentProxy, MeshGateway, Expose, TLS).
 */
export function encodeConfigEntry(entry: ConfigEntry, index: RaftIndex): Record<string, unknown> {
  const raft = { CreateIndex: index.createIndex, ModifyIndex: index.modifyIndex };
  const meta =
    entry.Meta !== undefined && Object.keys(entry.Meta).length > 0 ? { Meta: entry.Meta } : {};
  switch (entry.Kind) {
    case SERVICE_DEFAULTS:
      return {
        Kind: entry.Kind,
        Name: entry.Name,
        Protocol: entry.Protocol,
        TransparentProxy: {},
        MeshGateway: {},
        Expose: {},
        ...(entry.MaxInboundConnections !== undefined
          ? { MaxInboundConnections: entry.MaxInboundConnections }
          : {}),
        ...(entry.LocalConnectTimeoutMs !== undefined
          ? { LocalConnectTimeoutMs: entry.LocalConnectTimeoutMs }
          : {}),
        ...(entry.LocalRequestTimeoutMs !== undefined
          ? { LocalRequestTimeoutMs: entry.LocalRequestTimeoutMs }
          : {}),
        ...(entry.BalanceInboundConnections !== undefined
          ? { BalanceInboundConnections: entry.BalanceInboundConnections }
          : {}),
        ...meta,
        ...raft,
      };
    case PROXY_DEFAULTS:
      return {
        Kind: entry.Kind,
        Name: entry.Name,
        Config: entry.Config,
        TransparentProxy: {},
        MeshGateway: {},
        Expose: {},
        ...meta,
        ...raft,
      };
    case SERVICE_INTENTIONS:
      return {
        Kind: entry.Kind,
        Name: entry.Name,
        Sources: entry.Sources.map(encodeSource),
        ...meta,
        ...raft,
      };
    case INGRESS_GATEWAY:
      return {
        Kind: entry.Kind,
        Name: entry.Name,
        TLS: { Enabled: false },
        Listeners: entry.Listeners.map((l) => ({
          Port: l.Port,
          Protocol: l.Protocol,
          Services: l.Services.map((s) => ({
            Name: s.Name,
            Hosts: s.Hosts.length > 0 ? s.Hosts : null,
            ...(s.Meta !== undefined && Object.keys(s.Meta).length > 0 ? { Meta: s.Meta } : {}),
          })),
        })),
        ...meta,
        ...raft,
      };
  }
}

function encodeSource(s: SourceIntention): Record<string, unknown> {
  // The type already follows Go's order and omitempty; LegacyMeta {} is omitted as Go does.
  const { LegacyMeta, ...rest } = s;
  if (LegacyMeta === undefined || Object.keys(LegacyMeta).length === 0) return { ...rest };
  return { ...s };
}

// ------------------------------------------------------------------------- keys and protocols

/**
 * The storage key of an entry. Consul's config-entry table indexes kind and name lower-cased,
 * so names are case-insensitive.
 */
export function configEntryKey(kind: string, name: string): string {
  return `${kind}/${name.toLowerCase()}`;
}

/** The global default protocol set in proxy-defaults `Config.protocol`, or ''. */
export function proxyDefaultsProtocol(
  proxyDefaults: ProxyDefaultsEntry | undefined,
): '' | Protocol {
  const p = proxyDefaults?.Config?.['protocol'];
  if (typeof p !== 'string') return '';
  const lower = p.toLowerCase();
  return isProtocol(lower) ? lower : '';
}

/**
 * A service's protocol as its discovery chain would see it: service-defaults Protocol, else
 * proxy-defaults Config.protocol, else tcp. A service-defaults entry for another service
 * (compared case-insensitively) is ignored.
 */
export function effectiveProtocol(
  service: string,
  serviceDefaults?: ServiceDefaultsEntry,
  proxyDefaults?: ProxyDefaultsEntry,
): Protocol {
  if (
    serviceDefaults !== undefined &&
    serviceDefaults.Protocol !== '' &&
    serviceDefaults.Name.toLowerCase() === service.toLowerCase()
  ) {
    return serviceDefaults.Protocol;
  }
  return proxyDefaultsProtocol(proxyDefaults) || DEFAULT_PROTOCOL;
}

/**
 * Consul's check that L7 permissions only target http-like services: a service-intentions
 * entry whose (non-wildcard) destination has Permissions is refused unless
 * `protocolOf(destination)` is http, http2 or grpc. Run it when writing service-intentions,
 * and — for every entry naming the service — when writing service-defaults or proxy-defaults.
 */
export function validateIntentionsProtocol(
  entry: ServiceIntentionsEntry,
  protocolOf: (service: string) => string,
): void {
  if (entry.Name === WILDCARD) return;
  if (!entry.Sources.some((s) => (s.Permissions?.length ?? 0) > 0)) return;
  const protocol = protocolOf(entry.Name);
  if (!isHttpLike(protocol)) {
    throw new ConnectError(
      ConnectErrorCode.ConfigEntryConflict,
      `service ${goQuote(entry.Name)} has protocol ${goQuote(protocol)}, which is incompatible with L7 intentions permissions`,
      'Sources',
    );
  }
}

/**
 * Consul's check that each (non-wildcard) service of an ingress listener speaks the listener's
 * protocol. `strict` (writing the ingress-gateway entry itself, Consul's
 * enforceIngressProtocolsMatch) requires equality; otherwise (writing service-defaults or
 * proxy-defaults) a tcp listener may front a service of any protocol, as Consul allows when the
 * service's discovery chain starts at its resolver — always the case in Trellis.
 */
export function validateIngressProtocols(
  entry: IngressGatewayEntry,
  protocolOf: (service: string) => string,
  options: { readonly strict?: boolean } = {},
): void {
  const strict = options.strict ?? true;
  for (const l of entry.Listeners) {
    for (const s of l.Services) {
      if (s.Name === WILDCARD) continue;
      const protocol = protocolOf(s.Name);
      if (protocol === l.Protocol) continue;
      if (!strict && l.Protocol === 'tcp') continue;
      throw new ConnectError(
        ConnectErrorCode.ConfigEntryConflict,
        `service ${goQuote(s.Name)} has protocol ${goQuote(protocol)}, which does not match defined listener protocol ${goQuote(l.Protocol)}`,
        'Listeners',
      );
    }
  }
}
