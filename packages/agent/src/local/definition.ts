/**
 * Service and check definitions, as a Consul agent accepts them: PUT /v1/agent/service/register
 * (structs.ServiceDefinition), PUT /v1/agent/check/register (structs.CheckDefinition) and the
 * `service`/`check` blocks of config files. Raw JSON in; normalized {@link LocalService} and
 * {@link CheckDefinition} values out, with every default applied, or a {@link DefinitionError}
 * with Consul's status and text.
 *
 * The order of the checks is Consul's (agent_endpoint.go AgentRegisterService/AgentRegisterCheck,
 * then agent.go AddService/addCheck, then sidecar_service.go), so that a definition with several
 * faults gets the answer Consul would give:
 *
 *   service: decode (400 "Request decode failed: …") → "Missing service name" → "Invalid service
 *   address" → [Trellis: kinds, ports, unsupported features] → "Invalid Weights: …" → "Invalid
 *   Service Meta: …" → "Validation failed: …" (NodeService.Validate) → "Invalid check: …" per
 *   check → "Status for checks must …" → the same two for the sidecar's checks ("Invalid check
 *   in sidecar_service: …") → "Invalid SidecarService: …" → "Failed Validation: …" (sidecar
 *   ValidateForAgent) → what Consul's AddService refuses, with 500 as Consul answers: tagged
 *   addresses, script checks, then the sidecar's port allocation, tagged addresses and scripts.
 *
 *   check: decode → "Missing check name" → "Bad check status" → "Invalid check: …" → 404
 *   `ServiceID "x" does not exist` → 500 script checks disabled.
 *
 * Pure: the agent's state is read only through the options' callbacks and sets.
 */
import {
  CHECK_STATUSES,
  SERVICE_KINDS,
  type CheckStatus,
  type PlainMap,
  type ServiceAddress,
  type ServiceKind,
  type ServiceWeights,
  type Upstream,
} from '@trellis/state';
import { checkTypeOf, decodeBody, isAnyAddress, multiError } from '../http/catalog.js';
import { HttpError } from '../http/errors.js';
import { goQuote, joinHostPort, parseDurationNs, parseGoIP } from './go.js';
import {
  GoDecodeError,
  decodeGo,
  setOwn,
  type Dialect,
  type GoField,
  type GoSpec,
  type GoStruct,
  type Rec,
} from './json-decode.js';
import type { CheckDefinition, CheckKind, LocalService } from './types.js';

// ---------------------------------------------------------------- errors

/** Stable codes for what went wrong (the HTTP status and Consul's text ride along). */
export type DefinitionErrorCode =
  /** The body does not decode into Consul's struct (400 "Request decode failed: …"). */
  | 'DECODE'
  /** Consul refuses the definition (400, or 500 where Consul's AddService refuses it). */
  | 'INVALID'
  /** Beyond one of {@link DEFINITION_LIMITS} (400; Consul has no such limit). */
  | 'LIMIT'
  /** Valid for Consul, but a feature Trellis does not have (400). */
  | 'UNSUPPORTED'
  /** The check names a service this agent does not have (404, as Consul). */
  | 'UNKNOWN_SERVICE'
  /** A script check while scripts are disabled (500, as Consul). */
  | 'SCRIPTS_DISABLED'
  /** No sidecar port could be allocated (500, as Consul). */
  | 'SIDECAR_PORT';

/**
 * A refused definition. It is an {@link HttpError}: `status` is the status Consul answers with
 * and the message is Consul's body, so the HTTP layer can throw it as it is.
 */
export class DefinitionError extends HttpError {
  constructor(
    status: 400 | 404 | 500,
    readonly code: DefinitionErrorCode,
    text: string,
  ) {
    super(status, text);
  }
}

const invalid = (text: string, status: 400 | 500 = 400): DefinitionError =>
  new DefinitionError(status, 'INVALID', text);
const unsupported = (text: string): DefinitionError =>
  new DefinitionError(400, 'UNSUPPORTED', text);

export function isDefinitionError(e: unknown): e is DefinitionError {
  return e instanceof DefinitionError;
}

// ---------------------------------------------------------------- limits and defaults

/**
 * Trellis's bounds on a definition (Consul has none of these apart from its meta rules). Each is
 * far above what real registrations use and keeps one request's work and memory small.
 */
export const DEFINITION_LIMITS = {
  /** Bytes of an identifier: service/check IDs and names, aliases, destinations, datacenter. */
  maxIdentifierBytes: 512,
  /** Bytes of any other string: addresses, URLs, notes, bodies, arguments, meta values. */
  maxTextBytes: 64 * 1024,
  /** Tags on one service. */
  maxTags: 512,
  /** Bytes of one tag. */
  maxTagBytes: 1024,
  /** Keys of Meta, TaggedAddresses or a check Header (Consul then allows 64 meta pairs). */
  maxMapKeys: 1024,
  /** Entries of Checks on one service (the single Check comes on top). */
  maxChecks: 64,
  /** Upstreams of one proxy. */
  maxUpstreams: 1024,
  /** ScriptArgs of one check. */
  maxScriptArgs: 256,
  /** Values of one HTTP check header. */
  maxHeaderValues: 64,
  /** Nesting of objects and arrays anywhere in a definition (Proxy.Config included). */
  maxDepth: 32,
  /** Object members and array elements in one definition. */
  maxValues: 100_000,
} as const;

/** Consul's structs.metaMaxKeyPairs / metaKeyMaxLength / metaValueMaxLength. */
const META_MAX_PAIRS = 64;
const META_KEY_MAX_BYTES = 128;
const META_VALUE_MAX_BYTES = 512;
/** Consul's structs.MetaKeyReservedPrefix and the one key a mesh gateway may use with it. */
const META_RESERVED_PREFIX = 'consul-';
const META_WAN_FEDERATION_KEY = 'consul-wan-federation';

/** Consul's checks.MinInterval: shorter intervals are raised to it (with a warning in Consul). */
export const CHECK_MIN_INTERVAL_MS = 1000;
/** Consul's check_output_max_size default (checks.DefaultBufSize). */
export const DEFAULT_CHECK_OUTPUT_MAX_SIZE = 4096;
/** Consul's check_deregister_interval_min default; a shorter DeregisterCriticalServiceAfter is raised. */
export const DEFAULT_CHECK_DEREGISTER_INTERVAL_MIN_MS = 60_000;
/** Timeouts the check runners use when the definition has none (Consul's checks package). */
const DEFAULT_NETWORK_TIMEOUT_MS = 10_000;
const DEFAULT_SCRIPT_TIMEOUT_MS = 30_000;
/** structs.SidecarProxySuffix. */
export const SIDECAR_SUFFIX = '-sidecar-proxy';
/** The interval of the default "Connect Sidecar Listening" check (sidecarDefaultChecks). */
const SIDECAR_CHECK_INTERVAL_NS = 10e9;

// ---------------------------------------------------------------- options and results

export interface SidecarPorts {
  /**
   * Ports of the agent's local services (every kind, as Consul counts them) within min..max;
   * the allocator skips them.
   */
  readonly used: ReadonlySet<number>;
  /** Consul's ports.sidecar_min_port / sidecar_max_port (inclusive); below 1 disables. */
  readonly min: number;
  readonly max: number;
}

/** Where a definition comes from: the HTTP API, or a config file (Consul's ConfigSourceLocal). */
export type DefinitionSource = 'remote' | 'local';

interface CommonOptions {
  /** enable_script_checks: script checks are allowed from any source. */
  readonly enableScriptChecks: boolean;
  /** enable_local_script_checks: script checks are allowed from config files. */
  readonly enableLocalScriptChecks?: boolean;
  /** 'remote' (default): the HTTP API's JSON. 'local': also config-file spellings. */
  readonly source?: DefinitionSource;
  /** The agent's check_output_max_size (default 4096): the most a check may keep. */
  readonly checkOutputMaxSize?: number;
  /** The agent's check_deregister_interval_min in ms (default 60 s). */
  readonly checkDeregisterIntervalMinMs?: number;
}

export interface ServiceDefinitionOptions extends CommonOptions {
  /** Not needed by the parser (Consul uses it only to stamp HealthCheck.Node); accepted. */
  readonly nodeName?: string;
  readonly sidecarPorts: SidecarPorts;
  /**
   * The port of an already registered service with this ID (the sidecar's), if any: Consul
   * keeps it when it lies in the sidecar range rather than allocating another.
   */
  readonly existingSidecarPort?: (sidecarId: string) => number | undefined;
}

export interface CheckDefinitionOptions extends CommonOptions {
  /** Whether this agent has a local service with this ID. */
  readonly serviceExists: (id: string) => boolean;
}

export interface ParsedSidecar {
  readonly service: LocalService;
  readonly checks: CheckDefinition[];
  /** The sidecar's own ACL token ("" = the request's). */
  readonly token: string;
}

export interface ParsedService {
  readonly service: LocalService;
  readonly checks: CheckDefinition[];
  /** The definition's ACL token ("" = the request's). */
  readonly token: string;
  /** The sidecar Connect.SidecarService asked for, fully expanded. */
  readonly sidecar?: ParsedSidecar;
}

// ---------------------------------------------------------------- Consul's structs, as decoded

const L = DEFINITION_LIMITS;
const ident: GoSpec = { k: 'string', maxBytes: L.maxIdentifierBytes };
const text: GoSpec = { k: 'string', maxBytes: L.maxTextBytes };
const typed = (go: string): GoSpec => ({ k: 'string', go, maxBytes: L.maxIdentifierBytes });
const bool: GoSpec = { k: 'bool' };
const int: GoSpec = { k: 'int' };
const duration: GoSpec = { k: 'any' };
const opaque: GoSpec = { k: 'opaque' };
const textList = (maxItems: number, maxBytes: number): GoSpec => ({
  k: 'strings',
  maxItems,
  maxBytes,
});
const fld = (name: string, spec: GoSpec, local?: readonly string[]): GoField =>
  local === undefined ? { name, spec } : { name, spec, local };

/** Fields CheckType and CheckDefinition share (check_type.go / check_definition.go). */
const CHECK_COMMON: readonly GoField[] = [
  fld('Name', ident),
  fld('Status', ident),
  fld('Notes', text),
  fld('ScriptArgs', textList(L.maxScriptArgs, L.maxTextBytes)),
  fld('HTTP', text),
  fld('H2PING', text),
  fld('H2PingUseTLS', bool),
  fld('Header', {
    k: 'stringsMap',
    maxKeys: L.maxMapKeys,
    maxItems: L.maxHeaderValues,
    maxBytes: L.maxTextBytes,
  }),
  fld('Method', ident),
  fld('Body', text),
  fld('DisableRedirects', bool),
  fld('TCP', text),
  fld('TCPUseTLS', bool),
  fld('UDP', text),
  fld('Interval', duration),
  fld('AliasNode', ident),
  fld('AliasService', ident),
  fld('DockerContainerID', ident),
  fld('Shell', text),
  fld('GRPC', text),
  fld('GRPCUseTLS', bool),
  fld('OSService', ident),
  fld('TLSServerName', ident),
  fld('TLSSkipVerify', bool),
  fld('Timeout', duration),
  fld('TTL', duration),
  fld('SuccessBeforePassing', int),
  fld('FailuresBeforeWarning', int),
  fld('FailuresBeforeCritical', int),
  fld('DeregisterCriticalServiceAfter', duration),
  fld('OutputMaxSize', int),
  // The aux struct's snake_case translations.
  fld('args', textList(L.maxScriptArgs, L.maxTextBytes)),
  fld('script_args', textList(L.maxScriptArgs, L.maxTextBytes)),
  fld('deregister_critical_service_after', duration),
  fld('docker_container_id', ident),
  fld('tls_server_name', ident),
  fld('tls_skip_verify', bool),
  fld('grpc_use_tls', bool),
  fld('h2ping_use_tls', bool),
  fld('service_id', ident),
];

const DURATION_FIELDS = ['Interval', 'Timeout', 'TTL', 'DeregisterCriticalServiceAfter'] as const;

/**
 * Go's time.Duration(float64): truncated toward zero; out of int64's range it is what amd64
 * produces, the minimum int64 (so a huge number is a negative duration, as in Consul).
 */
function durationFromNumber(v: number): number {
  const t = Math.trunc(v);
  return Math.abs(t) >= 2 ** 63 ? -(2 ** 63) : t;
}

/** What CheckType/CheckDefinition.UnmarshalJSON do after decoding: the duration fields. */
function parseCheckDurations(rec: Rec): void {
  rec.DeregisterCriticalServiceAfter ??= rec.deregister_critical_service_after;
  for (const name of DURATION_FIELDS) {
    const v = rec[name];
    if (typeof v === 'string') {
      const parsed = parseDurationNs(v);
      if ('error' in parsed) throw GoDecodeError.text(parsed.error);
      rec[name] = parsed.ns;
    } else if (typeof v === 'number') {
      rec[name] = durationFromNumber(v);
    } else {
      // Consul's switch ignores any other JSON type.
      delete rec[name];
    }
  }
}

/** structs.CheckType: a check inside a service definition. */
const CHECK_TYPE: GoStruct = {
  name: '',
  go: 'structs.CheckType',
  strict: true,
  post: parseCheckDurations,
  fields: [
    fld('CheckID', typed('types.CheckID'), ['id']),
    ...CHECK_COMMON,
    fld('ProxyHTTP', text),
    fld('ProxyGRPC', text),
    fld('ServiceID', ident),
  ],
};

/** structs.CheckDefinition: PUT /v1/agent/check/register. */
const CHECK_DEFINITION: GoStruct = {
  name: '',
  go: 'structs.CheckDefinition',
  strict: true,
  post: parseCheckDurations,
  fields: [
    fld('ID', typed('types.CheckID'), ['check_id']),
    fld('ServiceID', ident),
    fld('Token', ident),
    ...CHECK_COMMON,
    fld('disable_redirects', bool),
  ],
};

const MESH_GATEWAY: GoStruct = {
  name: 'MeshGatewayConfig',
  go: 'structs.MeshGatewayConfig',
  fields: [fld('Mode', typed('structs.MeshGatewayMode'))],
};

const EXPOSE_PATH: GoStruct = {
  name: '',
  go: 'structs.ExposePath',
  strict: true,
  fields: [
    fld('ListenerPort', int),
    fld('Path', text),
    fld('LocalPathPort', int),
    fld('Protocol', ident),
    fld('ParsedFromCheck', bool),
    fld('listener_port', int),
    fld('local_path_port', int),
    fld('parsed_from_check', bool),
  ],
};

const EXPOSE: GoStruct = {
  name: 'ExposeConfig',
  go: 'structs.ExposeConfig',
  fields: [
    fld('Checks', bool),
    fld('Paths', {
      k: 'list',
      go: '[]structs.ExposePath',
      of: { k: 'custom', of: () => EXPOSE_PATH },
      maxItems: L.maxUpstreams,
    }),
  ],
};

const TRANSPARENT_PROXY: GoStruct = {
  name: 'TransparentProxyConfig',
  go: 'structs.TransparentProxyConfig',
  fields: [fld('OutboundListenerPort', int), fld('DialedDirectly', bool)],
};

const ACCESS_LOGS: GoStruct = {
  name: 'AccessLogsConfig',
  go: 'structs.AccessLogsConfig',
  fields: [
    fld('Enabled', bool),
    fld('DisableListenerLogs', bool),
    fld('Type', typed('structs.LogSinkType')),
    fld('Path', text),
    fld('JSONFormat', text),
    fld('TextFormat', text),
  ],
};

const ENVOY_EXTENSION: GoStruct = {
  name: 'EnvoyExtension',
  go: 'structs.EnvoyExtension',
  fields: [
    fld('Name', ident),
    fld('Required', bool),
    fld('Arguments', opaque),
    fld('ConsulVersion', ident),
    fld('EnvoyVersion', ident),
  ],
};

/** structs.Upstream (connect_proxy_config.go). */
const UPSTREAM: GoStruct = {
  name: '',
  go: 'structs.Upstream',
  strict: true,
  fields: [
    fld('DestinationType', ident),
    fld('DestinationNamespace', ident),
    fld('DestinationPartition', ident),
    fld('DestinationPeer', ident),
    fld('DestinationName', ident),
    fld('Datacenter', ident),
    fld('LocalBindAddress', text),
    fld('LocalBindPort', int),
    fld('LocalBindSocketPath', text),
    fld('LocalBindSocketMode', ident),
    fld('Config', opaque),
    fld('MeshGateway', { k: 'struct', of: () => MESH_GATEWAY }),
    fld('CentrallyConfigured', bool),
    fld('destination_type', ident),
    fld('destination_partition', ident),
    fld('destination_namespace', ident),
    fld('destination_peer', ident),
    fld('destination_name', ident),
    fld('local_bind_address', text),
    fld('local_bind_port', int),
    fld('local_bind_socket_path', text),
    fld('local_bind_socket_mode', ident),
    fld('mesh_gateway', { k: 'struct', of: () => MESH_GATEWAY }),
  ],
};

/** structs.ConnectProxyConfig. */
const PROXY: GoStruct = {
  name: '',
  go: 'structs.ConnectProxyConfig',
  strict: true,
  fields: [
    fld('EnvoyExtensions', {
      k: 'list',
      go: '[]structs.EnvoyExtension',
      of: { k: 'struct', of: () => ENVOY_EXTENSION },
      maxItems: L.maxUpstreams,
    }),
    fld('DestinationServiceName', ident),
    fld('DestinationServiceID', ident),
    fld('LocalServiceAddress', text),
    fld('LocalServicePort', int),
    fld('LocalServiceSocketPath', text),
    fld('Mode', typed('structs.ProxyMode')),
    fld('Config', opaque),
    fld('Upstreams', {
      k: 'list',
      go: 'structs.Upstreams',
      of: { k: 'custom', of: () => UPSTREAM },
      maxItems: L.maxUpstreams,
    }),
    fld('MeshGateway', { k: 'struct', of: () => MESH_GATEWAY }),
    fld('Expose', { k: 'struct', of: () => EXPOSE }),
    fld('TransparentProxy', { k: 'struct', of: () => TRANSPARENT_PROXY }),
    fld('AccessLogs', { k: 'struct', of: () => ACCESS_LOGS }),
    fld('destination_service_name', ident),
    fld('destination_service_id', ident),
    fld('local_service_address', text),
    fld('local_service_port', int),
    fld('local_service_socket_path', text),
    fld('mesh_gateway', { k: 'struct', of: () => MESH_GATEWAY }),
    fld('transparent_proxy', { k: 'struct', of: () => TRANSPARENT_PROXY }),
    fld('access_logs', { k: 'struct', of: () => ACCESS_LOGS }),
  ],
};

const PEERING_META: GoStruct = {
  name: 'PeeringServiceMeta',
  go: 'structs.PeeringServiceMeta',
  fields: [
    fld('SNI', textList(L.maxTags, L.maxTextBytes)),
    fld('SpiffeID', textList(L.maxTags, L.maxTextBytes)),
    fld('Protocol', ident),
  ],
};

/** structs.ServiceConnect: decoded with plain json.Unmarshal, so unknown keys are ignored. */
const SERVICE_CONNECT: GoStruct = {
  name: '',
  go: 'structs.ServiceConnect',
  fields: [
    fld('Native', bool),
    fld('SidecarService', { k: 'custom', of: () => SERVICE_DEFINITION }),
    fld('PeerMeta', { k: 'struct', of: () => PEERING_META }),
    fld('sidecar_service', { k: 'custom', of: () => SERVICE_DEFINITION }),
  ],
};

const SERVICE_ADDRESS: GoStruct = {
  name: 'ServiceAddress',
  go: 'structs.ServiceAddress',
  fields: [fld('Address', text), fld('Port', int)],
};

const TAGGED_ADDRESSES: GoSpec = {
  k: 'map',
  go: 'map[string]structs.ServiceAddress',
  of: { k: 'struct', of: () => SERVICE_ADDRESS },
  maxKeys: L.maxMapKeys,
};

const WEIGHTS: GoStruct = {
  name: 'Weights',
  go: 'structs.Weights',
  fields: [fld('Passing', int), fld('Warning', int)],
};

const LOCALITY: GoStruct = {
  name: 'Locality',
  go: 'structs.Locality',
  fields: [fld('Region', ident), fld('Zone', ident)],
};

/** structs.ServiceDefinition: PUT /v1/agent/service/register and Connect.SidecarService. */
const SERVICE_DEFINITION: GoStruct = {
  name: '',
  go: 'structs.ServiceDefinition',
  strict: true,
  fields: [
    fld('Kind', typed('structs.ServiceKind')),
    fld('ID', ident),
    fld('Name', ident),
    fld('Tags', textList(L.maxTags, L.maxTagBytes)),
    fld('Address', text),
    fld('TaggedAddresses', TAGGED_ADDRESSES),
    fld('Meta', { k: 'stringMap', maxKeys: L.maxMapKeys, maxBytes: L.maxTextBytes }),
    fld('Port', int),
    fld('SocketPath', text),
    fld('Check', { k: 'custom', of: () => CHECK_TYPE }),
    fld('Checks', {
      k: 'list',
      go: 'structs.CheckTypes',
      of: { k: 'custom', of: () => CHECK_TYPE },
      maxItems: L.maxChecks,
      pointers: true,
    }),
    fld('Weights', { k: 'struct', of: () => WEIGHTS }),
    fld('Token', ident),
    fld('EnableTagOverride', bool),
    fld('Proxy', { k: 'custom', of: () => PROXY }),
    fld('Connect', { k: 'custom', of: () => SERVICE_CONNECT }),
    fld('Locality', { k: 'struct', of: () => LOCALITY }),
    fld('enable_tag_override', bool),
    fld('tagged_addresses', TAGGED_ADDRESSES),
  ],
};

// ---------------------------------------------------------------- typed views of a decoded Rec

const str = (r: Rec | undefined, k: string): string => {
  const v = r?.[k];
  return typeof v === 'string' ? v : '';
};
const num = (r: Rec | undefined, k: string): number => {
  const v = r?.[k];
  return typeof v === 'number' ? v : 0;
};
const flag = (r: Rec | undefined, k: string): boolean => r?.[k] === true;
const sub = (r: Rec | undefined, k: string): Rec | undefined => {
  const v = r?.[k];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
};
const strs = (r: Rec | undefined, k: string): string[] | undefined => {
  const v = r?.[k];
  return Array.isArray(v) ? (v as string[]) : undefined;
};
const recs = (r: Rec | undefined, k: string): Array<Rec | null> | undefined => {
  const v = r?.[k];
  return Array.isArray(v) ? (v as Array<Rec | null>) : undefined;
};
function strMap<T>(r: Rec | undefined, k: string): Record<string, T> | undefined {
  return sub(r, k) as Record<string, T> | undefined;
}
const orElse = (a: string, b: string): string => (a !== '' ? a : b);

/** Consul's CheckType after UnmarshalJSON (durations in nanoseconds). */
interface CheckSpec {
  readonly CheckID: string;
  readonly Name: string;
  readonly Status: string;
  readonly Notes: string;
  /** undefined is Go's nil slice (an empty check), [] a present but empty one. */
  readonly ScriptArgs: readonly string[] | undefined;
  readonly HTTP: string;
  readonly H2PING: string;
  readonly H2PingUseTLS: boolean;
  readonly Header: Readonly<Record<string, readonly string[]>> | undefined;
  readonly Method: string;
  readonly Body: string;
  readonly DisableRedirects: boolean;
  readonly TCP: string;
  readonly TCPUseTLS: boolean;
  readonly UDP: string;
  readonly Interval: number;
  readonly AliasNode: string;
  readonly AliasService: string;
  readonly DockerContainerID: string;
  readonly Shell: string;
  readonly GRPC: string;
  readonly GRPCUseTLS: boolean;
  readonly OSService: string;
  readonly TLSServerName: string;
  readonly TLSSkipVerify: boolean;
  readonly Timeout: number;
  readonly TTL: number;
  readonly SuccessBeforePassing: number;
  readonly FailuresBeforeWarning: number;
  readonly FailuresBeforeCritical: number;
  readonly DeregisterCriticalServiceAfter: number;
  readonly OutputMaxSize: number;
  readonly ProxyHTTP: string;
  readonly ProxyGRPC: string;
  /** CheckDefinition only. */
  readonly ServiceID: string;
}

function toCheckSpec(r: Rec, idField: 'CheckID' | 'ID'): CheckSpec {
  // if len(ScriptArgs) == 0 { ScriptArgs = args }; if still empty { ScriptArgs = script_args }
  let args = strs(r, 'ScriptArgs');
  if ((args?.length ?? 0) === 0) args = strs(r, 'args');
  if ((args?.length ?? 0) === 0) args = strs(r, 'script_args');
  return {
    CheckID: str(r, idField),
    Name: str(r, 'Name'),
    Status: str(r, 'Status'),
    Notes: str(r, 'Notes'),
    ScriptArgs: args,
    HTTP: str(r, 'HTTP'),
    H2PING: str(r, 'H2PING'),
    H2PingUseTLS: flag(r, 'H2PingUseTLS') || flag(r, 'h2ping_use_tls'),
    Header: strMap<string[]>(r, 'Header'),
    Method: str(r, 'Method'),
    Body: str(r, 'Body'),
    DisableRedirects: flag(r, 'DisableRedirects') || flag(r, 'disable_redirects'),
    TCP: str(r, 'TCP'),
    TCPUseTLS: flag(r, 'TCPUseTLS'),
    UDP: str(r, 'UDP'),
    Interval: num(r, 'Interval'),
    AliasNode: str(r, 'AliasNode'),
    AliasService: str(r, 'AliasService'),
    DockerContainerID: orElse(str(r, 'DockerContainerID'), str(r, 'docker_container_id')),
    Shell: str(r, 'Shell'),
    GRPC: str(r, 'GRPC'),
    GRPCUseTLS: flag(r, 'GRPCUseTLS') || flag(r, 'grpc_use_tls'),
    OSService: str(r, 'OSService'),
    TLSServerName: orElse(str(r, 'TLSServerName'), str(r, 'tls_server_name')),
    TLSSkipVerify: flag(r, 'TLSSkipVerify') || flag(r, 'tls_skip_verify'),
    Timeout: num(r, 'Timeout'),
    TTL: num(r, 'TTL'),
    SuccessBeforePassing: num(r, 'SuccessBeforePassing'),
    FailuresBeforeWarning: num(r, 'FailuresBeforeWarning'),
    FailuresBeforeCritical: num(r, 'FailuresBeforeCritical'),
    DeregisterCriticalServiceAfter: num(r, 'DeregisterCriticalServiceAfter'),
    OutputMaxSize: num(r, 'OutputMaxSize'),
    ProxyHTTP: str(r, 'ProxyHTTP'),
    ProxyGRPC: str(r, 'ProxyGRPC'),
    ServiceID: orElse(str(r, 'ServiceID'), str(r, 'service_id')),
  };
}

/** CheckType.Empty(): the zero value (a nil Header or ScriptArgs, every other field zero). */
function isEmptyCheck(c: CheckSpec): boolean {
  return Object.values(c).every((v) => v === undefined || v === '' || v === 0 || v === false);
}

interface UpstreamSpec {
  readonly DestinationType: string;
  readonly DestinationNamespace: string;
  readonly DestinationPartition: string;
  readonly DestinationPeer: string;
  readonly DestinationName: string;
  readonly Datacenter: string;
  readonly LocalBindAddress: string;
  readonly LocalBindPort: number;
  readonly LocalBindSocketPath: string;
  readonly Config: PlainMap;
  readonly CentrallyConfigured: boolean;
}

interface ExposePathSpec {
  readonly ListenerPort: number;
  readonly Path: string;
  readonly Protocol: string;
}

interface ProxySpec {
  readonly DestinationServiceName: string;
  readonly DestinationServiceID: string;
  readonly LocalServiceAddress: string;
  readonly LocalServicePort: number;
  readonly LocalServiceSocketPath: string;
  readonly Config: PlainMap;
  readonly Upstreams: readonly UpstreamSpec[];
  readonly ExposePaths: readonly ExposePathSpec[];
}

/** structs.ServiceDefinition after UnmarshalJSON. */
interface ServiceSpec {
  readonly Kind: string;
  readonly ID: string;
  readonly Name: string;
  readonly Tags: readonly string[] | undefined;
  readonly Address: string;
  readonly TaggedAddresses: Readonly<Record<string, ServiceAddress>> | undefined;
  readonly Meta: Readonly<Record<string, string>> | undefined;
  readonly Port: number;
  readonly SocketPath: string;
  readonly Check: CheckSpec | undefined;
  readonly Checks: ReadonlyArray<CheckSpec | null>;
  readonly Weights: ServiceWeights | undefined;
  readonly Token: string;
  readonly EnableTagOverride: boolean;
  readonly Proxy: ProxySpec | undefined;
  readonly Native: boolean;
  /** Connect was given and Connect.SidecarService is set. */
  readonly SidecarService: ServiceSpec | undefined;
}

function toUpstream(r: Rec | null): UpstreamSpec {
  const u = r ?? {};
  const pick = (k: string, snake: string): string => orElse(str(u, k), str(u, snake));
  return {
    DestinationType: pick('DestinationType', 'destination_type'),
    DestinationNamespace: pick('DestinationNamespace', 'destination_namespace'),
    DestinationPartition: pick('DestinationPartition', 'destination_partition'),
    DestinationPeer: pick('DestinationPeer', 'destination_peer'),
    DestinationName: pick('DestinationName', 'destination_name'),
    Datacenter: str(u, 'Datacenter'),
    LocalBindAddress: pick('LocalBindAddress', 'local_bind_address'),
    LocalBindPort: num(u, 'LocalBindPort') || num(u, 'local_bind_port'),
    LocalBindSocketPath: pick('LocalBindSocketPath', 'local_bind_socket_path'),
    Config: (sub(u, 'Config') ?? {}) as PlainMap,
    CentrallyConfigured: flag(u, 'CentrallyConfigured'),
  };
}

function toProxy(r: Rec): ProxySpec {
  const pick = (k: string, snake: string): string => orElse(str(r, k), str(r, snake));
  const expose = sub(r, 'Expose');
  return {
    DestinationServiceName: pick('DestinationServiceName', 'destination_service_name'),
    DestinationServiceID: pick('DestinationServiceID', 'destination_service_id'),
    LocalServiceAddress: pick('LocalServiceAddress', 'local_service_address'),
    LocalServicePort: num(r, 'LocalServicePort') || num(r, 'local_service_port'),
    LocalServiceSocketPath: pick('LocalServiceSocketPath', 'local_service_socket_path'),
    Config: (sub(r, 'Config') ?? {}) as PlainMap,
    Upstreams: (recs(r, 'Upstreams') ?? []).map(toUpstream),
    ExposePaths: (recs(expose, 'Paths') ?? []).map((p) => ({
      ListenerPort: num(p ?? {}, 'ListenerPort') || num(p ?? {}, 'listener_port'),
      Path: str(p ?? {}, 'Path'),
      Protocol: str(p ?? {}, 'Protocol'),
    })),
  };
}

function toServiceSpec(r: Rec): ServiceSpec {
  const tagged = strMap<Rec>(r, 'TaggedAddresses');
  const taggedSnake = strMap<Rec>(r, 'tagged_addresses');
  // if len(TaggedAddresses) == 0 { TaggedAddresses = tagged_addresses }
  const taggedRecs =
    tagged !== undefined && Object.keys(tagged).length > 0 ? tagged : (taggedSnake ?? tagged);
  let taggedAddresses: Record<string, ServiceAddress> | undefined;
  if (taggedRecs !== undefined) {
    taggedAddresses = {};
    for (const [k, a] of Object.entries(taggedRecs)) {
      setOwn(taggedAddresses, k, { Address: str(a, 'Address'), Port: num(a, 'Port') });
    }
  }
  const weights = sub(r, 'Weights');
  const proxy = sub(r, 'Proxy');
  const connect = sub(r, 'Connect');
  const sidecar = sub(connect, 'SidecarService') ?? sub(connect, 'sidecar_service');
  const check = sub(r, 'Check');
  return {
    Kind: str(r, 'Kind'),
    ID: str(r, 'ID'),
    Name: str(r, 'Name'),
    Tags: strs(r, 'Tags'),
    Address: str(r, 'Address'),
    TaggedAddresses: taggedAddresses,
    Meta: strMap<string>(r, 'Meta'),
    Port: num(r, 'Port'),
    SocketPath: str(r, 'SocketPath'),
    Check: check === undefined ? undefined : toCheckSpec(check, 'CheckID'),
    Checks: (recs(r, 'Checks') ?? []).map((c) => (c === null ? null : toCheckSpec(c, 'CheckID'))),
    Weights:
      weights === undefined
        ? undefined
        : { Passing: num(weights, 'Passing'), Warning: num(weights, 'Warning') },
    Token: str(r, 'Token'),
    EnableTagOverride: flag(r, 'EnableTagOverride') || flag(r, 'enable_tag_override'),
    Proxy: proxy === undefined ? undefined : toProxy(proxy),
    Native: flag(connect, 'Native'),
    SidecarService: sidecar === undefined ? undefined : toServiceSpec(sidecar),
  };
}

function decodeDefinition(raw: unknown, s: GoStruct, source: DefinitionSource): Rec {
  const dialect: Dialect = source;
  try {
    return decodeGo(raw, s, {
      dialect,
      bounds: { maxDepth: L.maxDepth, maxValues: L.maxValues },
      limit: (t) => new DefinitionError(400, 'LIMIT', t),
    });
  } catch (e) {
    if (e instanceof GoDecodeError) {
      throw new DefinitionError(400, 'DECODE', `Request decode failed: ${e.message}`);
    }
    throw e;
  }
}

// ---------------------------------------------------------------- Consul's validation

/** structs.ValidateWeights. */
function weightsError(w: ServiceWeights): string | undefined {
  if (w.Passing < 1) return 'Passing must be greater than 0';
  if (w.Warning < 0) return 'Warning must be greater or equal than 0';
  if (w.Passing > 65535 || w.Warning > 65535) return 'DNS Weight must be between 0 and 65535';
  return undefined;
}

const META_KEY = /^[a-zA-Z0-9_-]+$/;

/** structs.ValidateServiceMetadata(kind, meta, false); pairs in the request's order. */
function metaError(kind: string, meta: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(meta);
  if (keys.length > META_MAX_PAIRS) {
    return `Node metadata cannot contain more than ${META_MAX_PAIRS} key/value pairs`;
  }
  for (const key of keys) {
    const value = meta[key] ?? '';
    let err: string | undefined;
    if (key === '') err = 'Key cannot be blank';
    else if (!META_KEY.test(key)) err = 'Key contains invalid characters';
    else if (key.length > META_KEY_MAX_BYTES) {
      err = `Key is too long (limit: ${META_KEY_MAX_BYTES} characters)`;
    } else if (
      key.startsWith(META_RESERVED_PREFIX) &&
      !(kind === 'mesh-gateway' && key === META_WAN_FEDERATION_KEY)
    ) {
      err = `Key prefix '${META_RESERVED_PREFIX}' is reserved for internal use`;
    } else if (Buffer.byteLength(value, 'utf8') > META_VALUE_MAX_BYTES) {
      err = `Value is too long (limit: ${META_VALUE_MAX_BYTES} characters)`;
    }
    if (err !== undefined) return `Couldn't load metadata pair ('${key}', '${value}'): ${err}`;
  }
  return undefined;
}

/** A NodeService as ServiceDefinition.NodeService() builds it (ID defaulted, upstream types). */
interface NodeServiceSpec {
  Kind: string;
  ID: string;
  Service: string;
  Tags: readonly string[];
  Address: string;
  TaggedAddresses: Readonly<Record<string, ServiceAddress>>;
  Meta: Readonly<Record<string, string>>;
  Port: number;
  Weights: ServiceWeights | undefined;
  EnableTagOverride: boolean;
  Proxy: {
    DestinationServiceName: string;
    DestinationServiceID: string;
    LocalServiceAddress: string;
    LocalServicePort: number;
    Config: PlainMap;
    Upstreams: readonly UpstreamSpec[];
    ExposePaths: readonly ExposePathSpec[];
  };
  Native: boolean;
  SidecarService: ServiceSpec | undefined;
}

function toNodeService(d: ServiceSpec): NodeServiceSpec {
  const p = d.Proxy;
  return {
    Kind: d.Kind,
    ID: d.ID === '' ? d.Name : d.ID,
    Service: d.Name,
    Tags: d.Tags ?? [],
    Address: d.Address,
    TaggedAddresses: d.TaggedAddresses ?? {},
    Meta: d.Meta ?? {},
    Port: d.Port,
    Weights: d.Weights,
    EnableTagOverride: d.EnableTagOverride,
    Proxy: {
      DestinationServiceName: p?.DestinationServiceName ?? '',
      DestinationServiceID: p?.DestinationServiceID ?? '',
      LocalServiceAddress: p?.LocalServiceAddress ?? '',
      LocalServicePort: p?.LocalServicePort ?? 0,
      Config: p?.Config ?? {},
      Upstreams: (p?.Upstreams ?? []).map((u) => ({
        ...u,
        DestinationType: u.DestinationType === '' ? 'service' : u.DestinationType,
      })),
      ExposePaths: p?.ExposePaths ?? [],
    },
    Native: d.Native,
    SidecarService: d.SidecarService,
  };
}

const GATEWAY_KINDS = new Set(['mesh-gateway', 'terminating-gateway', 'ingress-gateway']);
/** validateOpaqueProxyConfig's bound on envoy_hcp_metrics_bind_socket_dir. */
const MAX_SOCKET_DIR_BYTES = 70;

/** structs.Upstream.Validate. */
function upstreamError(u: UpstreamSpec): string | undefined {
  if (!['prepared_query', 'service', ''].includes(u.DestinationType)) {
    return `unknown upstream destination type: ${goQuote(u.DestinationType)}`;
  }
  if (u.DestinationName === '') return 'upstream destination name cannot be empty';
  if (u.DestinationName === '*' && !u.CentrallyConfigured) {
    return 'upstream destination name cannot be a wildcard';
  }
  if (u.DestinationPeer !== '' && u.Datacenter !== '') {
    return 'upstream cannot specify both destination peer and datacenter';
  }
  if (u.LocalBindPort === 0 && !u.CentrallyConfigured) {
    return 'upstream local bind port or local socket path must be defined and nonzero';
  }
  return undefined;
}

/**
 * NodeService.Validate (`full`) or ValidateForAgent, in Consul's order (a flattened
 * go-multierror list). SocketPath is always empty here: Trellis refuses it earlier.
 */
function nodeServiceErrors(s: NodeServiceSpec, full: boolean): string[] {
  const errs: string[] = [];
  const kind = s.Kind;
  const p = s.Proxy;
  if (full && kind === 'connect-proxy' && s.Port === 0) {
    errs.push(`Port or SocketPath must be set for a ${kind}`);
  }
  if (kind === 'connect-proxy') {
    if (p.DestinationServiceName.trim() === '') {
      errs.push('Proxy.DestinationServiceName must be non-empty for Connect proxy services');
    }
    if (p.DestinationServiceName === '*') {
      errs.push('Proxy.DestinationServiceName must not be a wildcard for Connect proxy services');
    }
    if (s.Native) errs.push('A Proxy cannot also be Connect Native, only typical services');
    const dir = p.Config.envoy_hcp_metrics_bind_socket_dir;
    if (typeof dir === 'string' && Buffer.byteLength(dir, 'utf8') > MAX_SOCKET_DIR_BYTES) {
      errs.push(
        `Proxy.Config: envoy_hcp_metrics_bind_socket_dir length ` +
          `${Buffer.byteLength(dir, 'utf8')} exceeds max ${MAX_SOCKET_DIR_BYTES}`,
      );
    }
    const keys = new Set<string>();
    const binds = new Set<string>();
    for (const u of p.Upstreams) {
      const partition = u.DestinationPartition === '' ? 'default' : u.DestinationPartition;
      if (u.DestinationPeer === '') {
        if (u.Datacenter !== '' && partition !== 'default') {
          errs.push('upstreams cannot target another datacenter in non default partition');
          continue;
        }
      } else if (partition !== 'default') {
        errs.push('upstreams must target peers in the same partition as the service');
        continue;
      }
      const bad = upstreamError(u);
      if (bad !== undefined) {
        errs.push(bad);
        continue;
      }
      const key =
        `[type=${goQuote(u.DestinationType)}, name=${goQuote(u.DestinationName)}, ` +
        `partition=${goQuote(u.DestinationPartition)}, ` +
        `namespace=${goQuote(u.DestinationNamespace)}, peer=${goQuote(u.DestinationPeer)}, ` +
        `datacenter=${goQuote(u.Datacenter)}]`;
      if (keys.has(key)) {
        errs.push(`upstreams cannot contain duplicates of ${key}`);
        continue;
      }
      keys.add(key);
      const addr = joinHostPort(u.LocalBindAddress || '127.0.0.1', u.LocalBindPort);
      if (binds.has(addr) && !u.CentrallyConfigured) {
        errs.push(
          'upstreams cannot contain duplicates by local bind address and port or unix path; ' +
            `${goQuote(addr)} is specified twice`,
        );
        continue;
      }
      binds.add(addr);
    }
    const listeners = new Set<number>();
    for (const path of p.ExposePaths) {
      if (path.Path === '') errs.push('expose.paths: empty path exposed');
      if (listeners.has(path.ListenerPort)) {
        errs.push('expose.paths: duplicate listener ports exposed');
      }
      listeners.add(path.ListenerPort);
      if (path.ListenerPort <= 0 || path.ListenerPort > 65535) {
        errs.push(`expose.paths: invalid listener port: ${path.ListenerPort}`);
      }
      const protocol = path.Protocol.toLowerCase();
      if (protocol !== '' && protocol !== 'http' && protocol !== 'http2') {
        errs.push(
          `protocol '${protocol}' not supported for path: ${path.Path}, must be in: [http http2]`,
        );
      }
    }
  }
  if (GATEWAY_KINDS.has(kind)) {
    if (s.Port === 0 && kind !== 'ingress-gateway')
      errs.push(`Port must be non-zero for a ${kind}`);
    if (s.SidecarService !== undefined) {
      errs.push(`A ${kind} cannot have a sidecar service defined`);
    }
    const field = (name: string): string =>
      `The Proxy.${name} configuration is invalid for a ${kind}`;
    if (p.DestinationServiceName !== '') errs.push(field('DestinationServiceName'));
    if (p.DestinationServiceID !== '') errs.push(field('DestinationServiceID'));
    if (p.LocalServiceAddress !== '') errs.push(field('LocalServiceAddress'));
    if (p.LocalServicePort !== 0) errs.push(field('LocalServicePort'));
    if (p.Upstreams.length !== 0) errs.push(field('Upstreams'));
  }
  if (s.SidecarService !== undefined) {
    if (s.SidecarService.ID !== '') {
      errs.push('A SidecarService cannot specify an ID as this is managed by the agent');
    }
    if (s.SidecarService.SidecarService !== undefined) {
      errs.push('A SidecarService cannot have a nested SidecarService');
    }
  }
  if (s.Native && s.Port === 0) {
    errs.push('Port or SocketPath must be set for a Connect native service.');
  }
  return errs;
}

/** CheckType.Validate. */
function checkError(c: CheckSpec): string | undefined {
  const isScript = (c.ScriptArgs?.length ?? 0) > 0;
  const intervalCheck =
    isScript ||
    c.HTTP !== '' ||
    c.TCP !== '' ||
    c.UDP !== '' ||
    c.GRPC !== '' ||
    c.H2PING !== '' ||
    c.OSService !== '';
  const isAlias = c.AliasNode !== '' || c.AliasService !== '';
  if (c.Interval > 0 && c.TTL > 0) return 'Interval and TTL cannot both be specified';
  if (intervalCheck && c.Interval <= 0) {
    return 'Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks';
  }
  if (intervalCheck && isAlias) return 'Interval cannot be set for Alias checks';
  if (isAlias && c.TTL > 0) return 'TTL must be not be set for Alias checks';
  if (!intervalCheck && !isAlias && c.TTL <= 0) return 'TTL must be > 0 for TTL checks';
  if (c.OutputMaxSize < 0) return 'MaxOutputMaxSize must be positive';
  if (c.FailuresBeforeWarning > c.FailuresBeforeCritical) {
    return "FailuresBeforeWarning can't be higher than FailuresBeforeCritical";
  }
  return undefined;
}

const SUPPORTED_KINDS: ReadonlySet<string> = new Set<CheckKind>([
  'ttl',
  'http',
  'tcp',
  'grpc',
  'alias',
  'script',
]);

/**
 * The check's kind: Consul's CheckType.Type() (the catalog's HealthCheck.Type), via the
 * catalog's checkTypeOf. Only meaningful for a check that passed {@link checkError}.
 */
function kindOf(c: CheckSpec): string {
  return checkTypeOf({
    Interval: c.Interval,
    TTL: c.TTL,
    GRPC: c.GRPC,
    HTTP: c.HTTP,
    TCP: c.TCP,
    UDP: c.UDP,
    AliasNode: c.AliasNode,
    AliasService: c.AliasService,
    ScriptArgs: [...(c.ScriptArgs ?? [])],
    DockerContainerID: c.DockerContainerID,
    H2PING: c.H2PING,
    OSService: c.OSService,
  });
}

/** Consul's validation of one check, then Trellis's: non-negative counters, supported kinds. */
function checkProblem(c: CheckSpec): { code: 'INVALID' | 'UNSUPPORTED'; text: string } | undefined {
  const consul = checkError(c);
  if (consul !== undefined) return { code: 'INVALID', text: consul };
  for (const name of [
    'SuccessBeforePassing',
    'FailuresBeforeWarning',
    'FailuresBeforeCritical',
  ] as const) {
    if (c[name] < 0) return { code: 'INVALID', text: `${name} must not be negative` };
  }
  const kind = kindOf(c);
  if (!SUPPORTED_KINDS.has(kind)) {
    return { code: 'UNSUPPORTED', text: `${kind} checks are not supported by Trellis` };
  }
  return undefined;
}

const validStatus = (s: string): boolean => (CHECK_STATUSES as readonly string[]).includes(s);

/**
 * ServiceDefinition.CheckTypes() and the handler's status loop: Check (unless empty), then
 * Checks, each validated in turn; then every status. `prefix` is the handler's wording.
 */
function checkTypes(d: ServiceSpec, prefix: string): CheckSpec[] {
  const out: CheckSpec[] = [];
  const all = d.Check !== undefined && !isEmptyCheck(d.Check) ? [d.Check, ...d.Checks] : d.Checks;
  for (const c of all) {
    // Consul dereferences the nil pointer of a `null` entry and fails the request.
    if (c === null) throw invalid(`${prefix}: check definition is null`);
    const problem = checkProblem(c);
    if (problem !== undefined) {
      throw new DefinitionError(400, problem.code, `${prefix}: ${problem.text}`);
    }
    out.push(c);
  }
  for (const c of out) {
    if (c.Status !== '' && !validStatus(c.Status)) {
      throw invalid("Status for checks must 'passing', 'warning', 'critical'");
    }
  }
  return out;
}

// ---------------------------------------------------------------- Trellis's own rules

const MAX_PORT = 65535;

function portProblem(where: string, port: number, defaulted = false): void {
  // A sidecar's Port and LocalServicePort below 1 are filled in by the agent, as in Consul.
  if (port > MAX_PORT || (port < 0 && !defaulted)) {
    throw invalid(`${where}: ${port} is not a valid port (0 to ${MAX_PORT})`);
  }
}

/**
 * What Trellis refuses although Consul would take it: kinds the catalog does not model, unix
 * sockets, cluster peering, ports outside 0..65535. `at` prefixes field names in the texts.
 */
function trellisRules(d: ServiceSpec, at: string, sidecar: boolean): void {
  if (d.Kind !== '' && !(SERVICE_KINDS as readonly string[]).includes(d.Kind)) {
    if (d.Kind === 'api-gateway') {
      throw unsupported(`Service kind ${goQuote(d.Kind)} is not supported by Trellis`);
    }
    throw invalid(`Invalid service kind ${goQuote(d.Kind)}`);
  }
  if (d.SocketPath !== '') throw unsupported(`${at}SocketPath is not supported by Trellis`);
  portProblem(`${at}Port`, d.Port, sidecar);
  for (const [name, a] of Object.entries(d.TaggedAddresses ?? {})) {
    portProblem(`${at}TaggedAddresses.${name}.Port`, a.Port);
  }
  const p = d.Proxy;
  if (p === undefined) return;
  if (p.LocalServiceSocketPath !== '') {
    throw unsupported(`${at}Proxy.LocalServiceSocketPath is not supported by Trellis`);
  }
  portProblem(`${at}Proxy.LocalServicePort`, p.LocalServicePort, sidecar);
  p.Upstreams.forEach((u, i) => {
    const where = `${at}Proxy.Upstreams[${i}]`;
    if (u.LocalBindSocketPath !== '') {
      throw unsupported(`${where}.LocalBindSocketPath is not supported by Trellis`);
    }
    if (u.DestinationPeer !== '') {
      throw unsupported(
        `${where}.DestinationPeer is not supported by Trellis (no cluster peering)`,
      );
    }
    portProblem(`${where}.LocalBindPort`, u.LocalBindPort);
  });
}

// ---------------------------------------------------------------- what the agent's AddService does

/**
 * agent.validateService's tagged-address rules (Consul checks lan_ipv4, wan_ipv4 and lan_ipv6;
 * wan_ipv6 escapes by a slip Consul has, kept). Consul answers these with 500.
 */
function taggedAddressProblem(tagged: Readonly<Record<string, ServiceAddress>>): void {
  const rules: Array<[string, boolean]> = [
    ['lan_ipv4', true],
    ['wan_ipv4', true],
    ['lan_ipv6', false],
  ];
  for (const [name, v4] of rules) {
    if (!Object.hasOwn(tagged, name)) continue;
    const ip = parseGoIP(tagged[name]?.Address ?? '');
    if (ip === undefined || ip.v4 !== v4) {
      throw invalid(
        `Service tagged address ${goQuote(name)} must be a valid ipv${v4 ? 4 : 6} address`,
        500,
      );
    }
  }
}

/** addServiceInternal's default tagged addresses: lan/wan for the service's own IP address. */
function withDefaultTaggedAddresses(
  s: NodeServiceSpec,
  port: number,
): Record<string, ServiceAddress> {
  const out: Record<string, ServiceAddress> = {};
  for (const [k, v] of Object.entries(s.TaggedAddresses)) setOwn(out, k, { ...v });
  const ip = parseGoIP(s.Address);
  if (ip === undefined) return out;
  for (const name of ip.v4 ? ['lan_ipv4', 'wan_ipv4'] : ['lan_ipv6', 'wan_ipv6']) {
    if (!Object.hasOwn(out, name)) setOwn(out, name, { Address: s.Address, Port: port });
  }
  return out;
}

function scriptProblem(checks: readonly CheckSpec[], opts: CommonOptions): void {
  if (!checks.some((c) => (c.ScriptArgs?.length ?? 0) > 0)) return;
  if ((opts.source ?? 'remote') === 'local') {
    if (opts.enableScriptChecks || opts.enableLocalScriptChecks === true) return;
    throw new DefinitionError(
      500,
      'SCRIPTS_DISABLED',
      "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or " +
        "'enable_local_script_checks' to true",
    );
  }
  if (opts.enableScriptChecks) return;
  throw new DefinitionError(
    500,
    'SCRIPTS_DISABLED',
    "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true",
  );
}

/**
 * Agent.sidecarPortFromServiceIDLocked. `parentPort` counts as used: Consul allocates after the
 * parent service is already in the agent's state.
 */
function sidecarPort(
  sidecarId: string,
  ports: SidecarPorts,
  existing: ((id: string) => number | undefined) | undefined,
  parentPort: number,
): number {
  const { min, max, used } = ports;
  let port = 0;
  if (min > 0 && max - min + 1 > 0) {
    const prev = existing?.(sidecarId);
    if (prev !== undefined && prev >= min && prev <= max) port = prev;
    else {
      for (let p = min; p <= Math.min(max, MAX_PORT); p++) {
        if (!used.has(p) && p !== parentPort) {
          port = p;
          break;
        }
      }
    }
  }
  if (port >= 1) return port;
  if (min < 1 || max < 1) {
    throw new DefinitionError(
      500,
      'SIDECAR_PORT',
      'no port provided for sidecar_service and auto-assignment disabled in config',
    );
  }
  throw new DefinitionError(
    500,
    'SIDECAR_PORT',
    `no port provided for sidecar_service and none left in the configured range [${min}, ${max}]`,
  );
}

// ---------------------------------------------------------------- building the results

const ns2ms = (ns: number): number => ns / 1e6;

function buildCheck(
  c: CheckSpec,
  ids: { CheckID: string; Name: string; ServiceID: string },
  opts: CommonOptions,
): CheckDefinition {
  const kind = kindOf(c) as CheckKind;
  const periodic = kind === 'http' || kind === 'tcp' || kind === 'grpc' || kind === 'script';
  const defaultTimeout = kind === 'script' ? DEFAULT_SCRIPT_TIMEOUT_MS : DEFAULT_NETWORK_TIMEOUT_MS;
  const agentMax = opts.checkOutputMaxSize ?? DEFAULT_CHECK_OUTPUT_MAX_SIZE;
  const deregisterMin =
    opts.checkDeregisterIntervalMinMs ?? DEFAULT_CHECK_DEREGISTER_INTERVAL_MIN_MS;
  const deregister = ns2ms(c.DeregisterCriticalServiceAfter);
  const header: Record<string, readonly string[]> = {};
  for (const [k, v] of Object.entries(c.Header ?? {})) setOwn(header, k, [...v]);
  return {
    CheckID: ids.CheckID,
    Name: ids.Name,
    Notes: c.Notes,
    ServiceID: ids.ServiceID,
    Status: (c.Status === '' ? 'critical' : c.Status) as CheckStatus,
    kind,
    Interval: periodic ? Math.max(ns2ms(c.Interval), CHECK_MIN_INTERVAL_MS) : 0,
    Timeout: !periodic ? 0 : c.Timeout > 0 ? ns2ms(c.Timeout) : defaultTimeout,
    TTL: kind === 'ttl' ? ns2ms(c.TTL) : 0,
    HTTP: c.HTTP,
    Method: c.Method,
    Header: header,
    Body: c.Body,
    DisableRedirects: c.DisableRedirects,
    TLSServerName: c.TLSServerName,
    TLSSkipVerify: c.TLSSkipVerify,
    TCP: c.TCP,
    TCPUseTLS: c.TCPUseTLS,
    GRPC: c.GRPC,
    GRPCUseTLS: c.GRPCUseTLS,
    AliasNode: c.AliasNode,
    AliasService: c.AliasService,
    ScriptArgs: [...(c.ScriptArgs ?? [])],
    SuccessBeforePassing: c.SuccessBeforePassing,
    // addCheck: FailuresBeforeWarning defaults to FailuresBeforeCritical.
    FailuresBeforeWarning:
      c.FailuresBeforeWarning === 0 ? c.FailuresBeforeCritical : c.FailuresBeforeWarning,
    FailuresBeforeCritical: c.FailuresBeforeCritical,
    DeregisterCriticalServiceAfter: deregister > 0 ? Math.max(deregister, deregisterMin) : 0,
    OutputMaxSize: c.OutputMaxSize > 0 && agentMax > c.OutputMaxSize ? c.OutputMaxSize : agentMax,
  };
}

/** addServiceInternal's check IDs ("service:<id>", numbered when several) and names. */
function buildServiceChecks(
  s: LocalService,
  checks: readonly CheckSpec[],
  opts: CommonOptions,
): CheckDefinition[] {
  return checks.map((c, i) => {
    let id = c.CheckID;
    if (id === '') id = checks.length > 1 ? `service:${s.ID}:${i + 1}` : `service:${s.ID}`;
    const name = c.Name !== '' ? c.Name : `Service '${s.Service}' check`;
    return buildCheck(c, { CheckID: id, Name: name, ServiceID: s.ID }, opts);
  });
}

function buildService(s: NodeServiceSpec, weights: ServiceWeights): LocalService {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.Meta)) setOwn(meta, k, v);
  const upstreams = s.Proxy.Upstreams.map((u): Upstream => ({
    DestinationType: u.DestinationType,
    DestinationName: u.DestinationName,
    Datacenter: u.Datacenter,
    LocalBindAddress: u.LocalBindAddress,
    LocalBindPort: u.LocalBindPort,
    Config: u.Config,
  }));
  return {
    ID: s.ID,
    Service: s.Service,
    Tags: [...s.Tags],
    Address: s.Address,
    TaggedAddresses: withDefaultTaggedAddresses(s, s.Port),
    Meta: meta,
    Port: s.Port,
    Weights: { Passing: weights.Passing, Warning: weights.Warning },
    EnableTagOverride: s.EnableTagOverride,
    Kind: s.Kind as ServiceKind,
    Proxy: {
      DestinationServiceName: s.Proxy.DestinationServiceName,
      DestinationServiceID: s.Proxy.DestinationServiceID,
      LocalServiceAddress: s.Proxy.LocalServiceAddress,
      LocalServicePort: s.Proxy.LocalServicePort,
      Config: s.Proxy.Config,
      Upstreams: upstreams,
    },
    Connect: { Native: s.Native },
  };
}

const DEFAULT_WEIGHTS: ServiceWeights = { Passing: 1, Warning: 1 };

/**
 * sidecarServiceFromNodeService: the sidecar's NodeService with Consul's defaults (not yet its
 * port, which AddService allocates).
 */
function sidecarNodeService(parent: NodeServiceSpec, d: ServiceSpec): NodeServiceSpec {
  const sc = toNodeService(d);
  sc.ID = parent.ID + SIDECAR_SUFFIX;
  if (d.Meta !== undefined) {
    const bad = metaError(sc.Kind, d.Meta);
    if (bad !== undefined) throw invalid(`Invalid SidecarService: ${bad}`);
  }
  if (Object.keys(sc.Meta).length === 0 && Object.keys(parent.Meta).length > 0) {
    sc.Meta = parent.Meta;
  }
  if (sc.Tags.length === 0 && parent.Tags.length > 0) sc.Tags = parent.Tags;
  if (sc.Kind === '') sc.Kind = 'connect-proxy';
  if (sc.Service === '') sc.Service = parent.Service + SIDECAR_SUFFIX;
  if (sc.Address === '') sc.Address = parent.Address;
  const p = sc.Proxy;
  if (p.DestinationServiceName === '') p.DestinationServiceName = parent.Service;
  if (p.DestinationServiceID === '') p.DestinationServiceID = parent.ID;
  if (p.LocalServiceAddress === '' || p.LocalServicePort < 1) {
    if (p.LocalServiceAddress === '') p.LocalServiceAddress = '127.0.0.1';
    if (p.LocalServicePort < 1) p.LocalServicePort = parent.Port;
  }
  return sc;
}

/** sidecarDefaultChecks: a TCP check on the sidecar's listener and an alias of the parent. */
function sidecarDefaultChecks(sc: NodeServiceSpec, parentId: string): CheckSpec[] {
  const zero = toCheckSpec({}, 'CheckID');
  const address = sc.Address !== '' ? sc.Address : sc.Proxy.LocalServiceAddress;
  return [
    {
      ...zero,
      Name: 'Connect Sidecar Listening',
      TCP: joinHostPort(address, sc.Port),
      Interval: SIDECAR_CHECK_INTERVAL_NS,
    },
    { ...zero, Name: `Connect Sidecar Aliasing ${parentId}`, AliasService: parentId },
  ];
}

// ---------------------------------------------------------------- public API

/**
 * Parses and validates a service definition (the JSON of PUT /v1/agent/service/register, or a
 * config file's `service` block with `source: 'local'`), expanding Connect.SidecarService.
 * Throws {@link DefinitionError} with Consul's status and text.
 */
export function parseServiceDefinition(
  raw: unknown,
  opts: ServiceDefinitionOptions,
): ParsedService {
  const source = opts.source ?? 'remote';
  const def = toServiceSpec(decodeDefinition(raw, SERVICE_DEFINITION, source));

  if (def.Name === '') throw invalid('Missing service name');
  if (isAnyAddress(def.Address)) throw invalid('Invalid service address');
  trellisRules(def, '', false);

  const ns = toNodeService(def);
  if (def.Weights !== undefined) {
    const bad = weightsError(def.Weights);
    if (bad !== undefined) throw invalid(`Invalid Weights: ${bad}`);
  }
  const badMeta = metaError(ns.Kind, ns.Meta);
  if (badMeta !== undefined) throw invalid(`Invalid Service Meta: ${badMeta}`);
  const errs = nodeServiceErrors(ns, true);
  if (errs.length > 0) throw invalid(`Validation failed: ${multiError(errs)}`);

  const checks = checkTypes(def, 'Invalid check');
  const sd = def.SidecarService;
  const sidecarChecks = sd === undefined ? [] : checkTypes(sd, 'Invalid check in sidecar_service');

  let sidecar: NodeServiceSpec | undefined;
  if (sd !== undefined) {
    try {
      trellisRules(sd, '', true);
    } catch (e) {
      if (e instanceof DefinitionError) {
        throw new DefinitionError(400, e.code, `Invalid SidecarService: ${e.message}`);
      }
      throw e;
    }
    if (isAnyAddress(sd.Address)) throw invalid('Invalid SidecarService: Invalid service address');
    sidecar = sidecarNodeService(ns, sd);
    const sErrs = nodeServiceErrors(sidecar, false);
    if (sErrs.length > 0) throw invalid(`Failed Validation: ${multiError(sErrs)}`);
  }

  // The parent's AddService.
  taggedAddressProblem(ns.TaggedAddresses);
  scriptProblem(checks, opts);
  const service = buildService(ns, def.Weights ?? DEFAULT_WEIGHTS);
  const parsed: ParsedService = {
    service,
    checks: buildServiceChecks(service, checks, opts),
    token: def.Token,
  };
  if (sidecar === undefined || sd === undefined) return parsed;

  // The sidecar's AddService: its port, its default checks, then the same rules.
  if (sidecar.Port < 1) {
    sidecar.Port = sidecarPort(sidecar.ID, opts.sidecarPorts, opts.existingSidecarPort, ns.Port);
  }
  const scChecks = sidecarChecks.length > 0 ? sidecarChecks : sidecarDefaultChecks(sidecar, ns.ID);
  taggedAddressProblem(sidecar.TaggedAddresses);
  scriptProblem(scChecks, opts);
  // Consul keeps invalid sidecar weights; its catalog stores 1/1 for them (ToServiceNode).
  const scWeights =
    sidecar.Weights !== undefined && weightsError(sidecar.Weights) === undefined
      ? sidecar.Weights
      : DEFAULT_WEIGHTS;
  const scService = buildService(sidecar, scWeights);
  return {
    ...parsed,
    sidecar: {
      service: scService,
      checks: buildServiceChecks(scService, scChecks, opts),
      token: sd.Token,
    },
  };
}

/**
 * Parses and validates a check definition (the JSON of PUT /v1/agent/check/register, or a
 * config file's `check` block with `source: 'local'`). Throws {@link DefinitionError}.
 */
export function parseCheckDefinition(raw: unknown, opts: CheckDefinitionOptions): CheckDefinition {
  const source = opts.source ?? 'remote';
  const c = toCheckSpec(decodeDefinition(raw, CHECK_DEFINITION, source), 'ID');
  if (c.Name === '') throw invalid('Missing check name');
  if (c.Status !== '' && !validStatus(c.Status)) throw invalid('Bad check status');
  const problem = checkProblem(c);
  if (problem !== undefined) {
    throw new DefinitionError(400, problem.code, `Invalid check: ${problem.text}`);
  }
  if (c.ServiceID !== '' && !opts.serviceExists(c.ServiceID)) {
    throw new DefinitionError(
      404,
      'UNKNOWN_SERVICE',
      `ServiceID ${goQuote(c.ServiceID)} does not exist`,
    );
  }
  scriptProblem([c], opts);
  const id = c.CheckID !== '' ? c.CheckID : c.Name;
  return buildCheck(c, { CheckID: id, Name: c.Name, ServiceID: c.ServiceID }, opts);
}

/** {@link parseServiceDefinition} over a request body, decoded as Consul's decodeBody does. */
export function parseServiceDefinitionBody(
  body: Uint8Array,
  opts: ServiceDefinitionOptions,
): ParsedService {
  return parseServiceDefinition(decodeBody(body, 'ServiceDefinition'), opts);
}

/** {@link parseCheckDefinition} over a request body, decoded as Consul's decodeBody does. */
export function parseCheckDefinitionBody(
  body: Uint8Array,
  opts: CheckDefinitionOptions,
): CheckDefinition {
  return parseCheckDefinition(decodeBody(body, 'CheckDefinition'), opts);
}
