/**
 * Proxy snapshots: everything a sidecar proxy or an ingress gateway needs, compiled by a pure
 * function from catalog rows and config entries (Consul's proxycfg ConfigSnapshot plus the
 * parts of agent/xds that turn it into listeners, clusters and endpoints).
 *
 * Sources read (hashicorp/consul): agent/xds/listeners.go (public listener address/port
 * defaults), agent/xds/config.go ParseProxyConfig (protocol default tcp,
 * local_connect_timeout_ms default 5000), agent/structs/config_entry.go ParseUpstreamConfig
 * (upstream protocol tcp, connect_timeout_ms 5000), agent/configentry/resolve.go
 * ComputeResolvedServiceConfig (proxy-defaults Config, then service-defaults protocol,
 * max_inbound_connections, local_connect_timeout_ms, local_request_timeout_ms, under the
 * proxy's own Config, which wins), agent/structs/connect_proxy_config.go Upstream.Identifier
 * (`db`, `db?dc=dc2`, `prepared_query:q`), agent/xds/endpoints.go
 * calculateEndpointHealthAndWeight, agent/xds/routes.go generateUpstreamIngressDomains.
 *
 * Health: proxycfg watches the upstream's Connect instances without `?passing` and the xDS
 * layer marks an instance unhealthy when any of its checks (node checks such as serfHealth
 * and maintenance included) is critical — warnings stay, weighted by Weights.Warning. A
 * weight below 1 also removes the instance; weights above 128 are capped (Envoy's limit).
 * The snapshot leaves out what Envoy would mark unhealthy.
 *
 * The output is plain data (null, booleans, numbers, strings, arrays, plain objects), ready
 * for msgpack, in a deterministic order: upstreams by ID, endpoints by node then service ID,
 * gateway listeners by port.
 */
import { createHash } from 'node:crypto';
import type { CheckServiceNode, Node, PlainMap, PlainValue, Service } from '@trellis/state';
import { compileIntentions, type CompiledIntentions } from './authz.js';
import {
  DEFAULT_PROTOCOL,
  WILDCARD,
  effectiveProtocol,
  isHttpLike,
  isProtocol,
  type IngressGatewayEntry,
  type Protocol,
  type ProxyDefaultsEntry,
  type ServiceDefaultsEntry,
  type ServiceIntentionsEntry,
} from './config-entries.js';
import { ConnectError, ConnectErrorCode } from './errors.js';
import { compareGo, intentionRules } from './intentions.js';

/** Consul's default upstream connect timeout (UpstreamConfig.ConnectTimeoutMs). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** Consul's default local app connect timeout (ProxyConfig.LocalConnectTimeoutMs). */
export const DEFAULT_LOCAL_CONNECT_TIMEOUT_MS = 5000;
/** Envoy's largest load-balancing weight, as Consul caps it. */
export const MAX_ENDPOINT_WEIGHT = 128;

export interface LeafCert {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serialNumber: string;
  /** RFC 3339. */
  readonly validBefore: string;
}

export interface CaRootsInput {
  readonly activeRootId: string;
  /** Every trusted root (the active one and any still being rotated out). */
  readonly pems: readonly string[];
}

export interface SnapshotInput {
  /** A `connect-proxy` sidecar or an `ingress-gateway` service. */
  readonly proxy: Service;
  /** The proxy's node. */
  readonly node: Node;
  readonly datacenter: string;
  /** The CA's trust domain (`<cluster id>.consul`). */
  readonly trustDomain: string;
  /** The proxy's leaf certificate (for the destination service), once issued. */
  readonly leaf: LeafCert | undefined;
  readonly roots: CaRootsInput;
  /** The service-intentions entries of the destination and of `*` (others are ignored). */
  readonly intentions: readonly ServiceIntentionsEntry[];
  /** The default when no intention matches (the ACL default policy; allow without ACLs). */
  readonly defaultAllow: boolean;
  /** service-defaults entries by service name (the destination's and every upstream's). */
  readonly serviceDefaults: Readonly<Record<string, ServiceDefaultsEntry>>;
  readonly proxyDefaults?: ProxyDefaultsEntry | undefined;
  /**
   * The Connect-capable instances of each upstream and ingress service, from
   * `health/connect`: sidecars whose Proxy.DestinationServiceName is the service, and
   * Connect-native instances of it; with their checks. Keyed by upstream ID — the bare service
   * name for the local datacenter, `name?dc=dc2` for another. For a `*` ingress service, every
   * key that is a service of the listener's protocol is exposed.
   */
  readonly upstreamInstances: Readonly<Record<string, readonly CheckServiceNode[]>>;
  /** The ingress-gateway config entry, for an ingress gateway. */
  readonly ingressGateway?: IngressGatewayEntry | undefined;
}

export interface SnapshotTls {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serialNumber: string;
  readonly validBefore: string;
  readonly activeRootId: string;
  readonly rootPems: readonly string[];
}

export interface SnapshotEndpoint {
  readonly address: string;
  readonly port: number;
  readonly node: string;
  readonly serviceId: string;
  /** 1–128. */
  readonly weight: number;
}

export interface SnapshotUpstream {
  /** Consul's upstream ID: `db`, `db?dc=dc2`. */
  readonly id: string;
  readonly destinationName: string;
  readonly datacenter: string;
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly protocol: Protocol;
  readonly connectTimeoutMs: number;
  /** The SPIFFE IDs the upstream's certificate may carry. */
  readonly expectedSpiffeIds: readonly string[];
  /** Healthy instances only; empty when there are none (a warning says so). */
  readonly endpoints: readonly SnapshotEndpoint[];
}

export interface PublicListener {
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly localApp: { readonly address: string; readonly port: number };
  /**
   * http, http2, grpc: authorize each request (`Authorizer.request`); tcp: each connection
   * (`Authorizer.connection`, where an L7 intention denies).
   */
  readonly protocol: Protocol;
  /** 0: no limit. */
  readonly maxInboundConnections: number;
  readonly localConnectTimeoutMs: number;
  /** 0: the proxy's default. */
  readonly localRequestTimeoutMs: number;
  /** Null until a leaf certificate exists: the listener must refuse connections. */
  readonly tls: SnapshotTls | null;
  readonly authz: CompiledIntentions;
}

export interface GatewayService {
  readonly name: string;
  /** Host header values routed to the service (http-like listeners), with `:port` forms. */
  readonly hosts: readonly string[];
  readonly connectTimeoutMs: number;
  readonly expectedSpiffeIds: readonly string[];
  readonly endpoints: readonly SnapshotEndpoint[];
}

export interface GatewayListener {
  readonly bindAddress: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly services: readonly GatewayService[];
}

export interface ProxySnapshot {
  readonly kind: 'connect-proxy' | 'ingress-gateway';
  readonly proxyId: string;
  /** The destination service (sidecar) or the gateway's own service name. */
  readonly service: string;
  readonly datacenter: string;
  /** The identity the proxy presents: `spiffe://<td>/ns/default/dc/<dc>/svc/<service>`. */
  readonly spiffeId: string;
  /** The client and server certificate, null until issued. */
  readonly tls: SnapshotTls | null;
  /** Sidecars only. */
  readonly publicListener: PublicListener | null;
  readonly upstreams: readonly SnapshotUpstream[];
  /** Ingress gateways only. */
  readonly gatewayListeners: readonly GatewayListener[];
  readonly warnings: readonly string[];
}

/** `spiffe://<trust domain>/ns/default/dc/<dc>/svc/<service>` (default partition). */
export function serviceSpiffeId(trustDomain: string, datacenter: string, service: string): string {
  return `spiffe://${trustDomain}/ns/default/dc/${datacenter}/svc/${service}`;
}

/** Consul's Upstream.Identifier. */
export function upstreamId(u: {
  readonly DestinationType: string;
  readonly DestinationName: string;
  readonly Datacenter: string;
}): string {
  let name = u.DestinationName;
  if (u.Datacenter !== '') name += `?dc=${u.Datacenter}`;
  return u.DestinationType === '' || u.DestinationType === 'service'
    ? name
    : `${u.DestinationType}:${name}`;
}

/** Compiles one proxy's snapshot. Throws only for a service that is not a proxy. */
export function compileProxySnapshot(input: SnapshotInput): ProxySnapshot {
  const { proxy } = input;
  if (proxy.Kind === 'connect-proxy') return compileSidecar(input);
  if (proxy.Kind === 'ingress-gateway') return compileIngress(input);
  throw new ConnectError(
    ConnectErrorCode.InvalidSnapshotInput,
    `service ${proxy.ID} is of kind ${JSON.stringify(proxy.Kind)}, not connect-proxy or ingress-gateway`,
  );
}

function snapshotTls(input: SnapshotInput): SnapshotTls | null {
  const leaf = input.leaf;
  if (leaf === undefined) return null;
  return {
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
    serialNumber: leaf.serialNumber,
    validBefore: leaf.validBefore,
    activeRootId: input.roots.activeRootId,
    rootPems: [...input.roots.pems],
  };
}

function ownKey<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function serviceDefaultsFor(input: SnapshotInput, name: string): ServiceDefaultsEntry | undefined {
  const exact = ownKey(input.serviceDefaults, name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const key of Object.keys(input.serviceDefaults)) {
    if (key.toLowerCase() === lower) return input.serviceDefaults[key];
  }
  return undefined;
}

function protocolOf(input: SnapshotInput, name: string): Protocol {
  return effectiveProtocol(name, serviceDefaultsFor(input, name), input.proxyDefaults);
}

// ------------------------------------------------------------------- weakly typed config

/** mapstructure's weak decoding of an int: an integer number or a decimal string. */
function weakInt(v: PlainValue | undefined): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^-?\d{1,15}$/.test(v.trim())) return Number(v.trim());
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

class ConfigReader {
  constructor(
    private readonly config: PlainMap,
    private readonly where: string,
    private readonly warnings: string[],
  ) {}

  private get(key: string): PlainValue | undefined {
    return Object.hasOwn(this.config, key) ? this.config[key] : undefined;
  }

  int(key: string, min: number, max: number): number | undefined {
    const raw = this.get(key);
    if (raw === undefined || raw === null || raw === '') return undefined;
    const v = weakInt(raw);
    if (v === undefined || v < min || v > max) {
      this.warnings.push(
        `${this.where}.${key}: ${JSON.stringify(raw)} is not an integer between ${min} and ${max}; ignored`,
      );
      return undefined;
    }
    return v;
  }

  str(key: string): string | undefined {
    const raw = this.get(key);
    if (raw === undefined || raw === null || raw === '') return undefined;
    if (typeof raw !== 'string') {
      this.warnings.push(`${this.where}.${key}: ${JSON.stringify(raw)} is not a string; ignored`);
      return undefined;
    }
    return raw;
  }

  protocol(key: string): Protocol | undefined {
    const raw = this.str(key);
    if (raw === undefined) return undefined;
    const p = raw.toLowerCase();
    if (isProtocol(p)) return p;
    this.warnings.push(
      `${this.where}.${key}: ${JSON.stringify(raw)} is not tcp, http, http2 or grpc; ignored`,
    );
    return undefined;
  }
}

// ---------------------------------------------------------------------------- endpoints

/**
 * The healthy Connect endpoints of `name` among `instances`: sidecars for it and native
 * instances of it, without any with a critical check, weighted like Consul's xDS endpoints.
 */
export function connectEndpoints(
  name: string,
  instances: readonly CheckServiceNode[],
): SnapshotEndpoint[] {
  const lower = name.toLowerCase();
  const out: SnapshotEndpoint[] = [];
  for (const { Node: node, Service: svc, Checks: checks } of instances) {
    const sidecar =
      svc.Kind === 'connect-proxy' && svc.Proxy.DestinationServiceName.toLowerCase() === lower;
    const native = svc.Kind === '' && svc.Connect.Native && svc.Service.toLowerCase() === lower;
    if (!sidecar && !native) continue;
    if (checks.some((c) => c.Status === 'critical')) continue;
    let weight = svc.Weights.Passing;
    if (checks.some((c) => c.Status === 'warning')) weight = svc.Weights.Warning;
    if (!(weight >= 1)) continue; // Consul: weight 0 makes the instance unhealthy
    const port = svc.Port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) continue;
    out.push({
      address: svc.Address !== '' ? svc.Address : node.Address,
      port,
      node: node.Node,
      serviceId: svc.ID,
      weight: Math.min(Math.trunc(weight), MAX_ENDPOINT_WEIGHT),
    });
  }
  return out.sort((a, b) => compareGo(a.node, b.node) || compareGo(a.serviceId, b.serviceId));
}

function instancesFor(input: SnapshotInput, id: string): readonly CheckServiceNode[] {
  return ownKey(input.upstreamInstances, id) ?? [];
}

// ------------------------------------------------------------------------------- sidecar

function compileSidecar(input: SnapshotInput): ProxySnapshot {
  const { proxy, datacenter, trustDomain } = input;
  const dest = proxy.Proxy.DestinationServiceName;
  if (dest === '') {
    throw new ConnectError(
      ConnectErrorCode.InvalidSnapshotInput,
      `connect-proxy ${proxy.ID} has no Proxy.DestinationServiceName`,
    );
  }
  const warnings: string[] = [];
  const tls = snapshotTls(input);
  if (tls === null)
    warnings.push('no leaf certificate yet: the public listener refuses connections');

  // Resolved proxy config: proxy-defaults Config, the destination's service-defaults on top,
  // the proxy registration's own Config over both (ComputeResolvedServiceConfig + mergo).
  const sd = serviceDefaultsFor(input, dest);
  const merged: PlainMap = {
    ...(input.proxyDefaults?.Config ?? {}),
    ...(sd !== undefined && sd.Protocol !== '' ? { protocol: sd.Protocol } : {}),
    ...(sd?.MaxInboundConnections !== undefined
      ? { max_inbound_connections: sd.MaxInboundConnections }
      : {}),
    ...(sd?.LocalConnectTimeoutMs !== undefined
      ? { local_connect_timeout_ms: sd.LocalConnectTimeoutMs }
      : {}),
    ...(sd?.LocalRequestTimeoutMs !== undefined
      ? { local_request_timeout_ms: sd.LocalRequestTimeoutMs }
      : {}),
    ...proxy.Proxy.Config,
  };
  const cfg = new ConfigReader(merged, 'Proxy.Config', warnings);
  const bindPort = cfg.int('bind_port', 1, 65535) ?? proxy.Port;
  const localPort = proxy.Proxy.LocalServicePort;
  if (!(localPort >= 1 && localPort <= 65535)) {
    warnings.push('Proxy.LocalServicePort is not set: the public listener has nowhere to forward');
  }
  const localConnect = cfg.int('local_connect_timeout_ms', -(2 ** 31), 2 ** 31 - 1) ?? 0;
  const rules = intentionRules(
    input.intentions
      .filter((e) => e.Name === WILDCARD || e.Name.toLowerCase() === dest.toLowerCase())
      .map((e) => (e.Name === WILDCARD ? e : { ...e, Name: dest })),
  );
  let publicListener: PublicListener | null = null;
  if (bindPort >= 1 && bindPort <= 65535) {
    publicListener = {
      bindAddress: cfg.str('bind_address') ?? (proxy.Address !== '' ? proxy.Address : '0.0.0.0'),
      bindPort,
      localApp: {
        address:
          proxy.Proxy.LocalServiceAddress !== '' ? proxy.Proxy.LocalServiceAddress : '127.0.0.1',
        port: localPort,
      },
      protocol: cfg.protocol('protocol') ?? DEFAULT_PROTOCOL,
      maxInboundConnections: cfg.int('max_inbound_connections', 0, 2 ** 31 - 1) ?? 0,
      localConnectTimeoutMs: localConnect < 1 ? DEFAULT_LOCAL_CONNECT_TIMEOUT_MS : localConnect,
      localRequestTimeoutMs: cfg.int('local_request_timeout_ms', 0, 2 ** 31 - 1) ?? 0,
      tls,
      authz: compileIntentions(dest, rules, input.defaultAllow),
    };
  } else {
    warnings.push('the proxy has no port: no public listener');
  }

  const upstreams: SnapshotUpstream[] = [];
  proxy.Proxy.Upstreams.forEach((u, i) => {
    const id = upstreamId(u);
    if (u.DestinationType !== '' && u.DestinationType !== 'service') {
      warnings.push(
        `upstream ${id}: destination type ${u.DestinationType} is not supported; skipped`,
      );
      return;
    }
    if (u.DestinationName === '') {
      warnings.push(`upstream ${i} has no DestinationName; skipped`);
      return;
    }
    if (!(u.LocalBindPort >= 1 && u.LocalBindPort <= 65535)) {
      warnings.push(`upstream ${id} has no LocalBindPort; skipped`);
      return;
    }
    const ucfg = new ConfigReader(u.Config, `Upstreams[${id}].Config`, warnings);
    const dc = u.Datacenter !== '' ? u.Datacenter : datacenter;
    const endpoints = connectEndpoints(u.DestinationName, instancesFor(input, id));
    if (endpoints.length === 0) warnings.push(`upstream ${id} has no healthy endpoints`);
    const timeout = ucfg.int('connect_timeout_ms', -(2 ** 31), 2 ** 31 - 1) ?? 0;
    upstreams.push({
      id,
      destinationName: u.DestinationName,
      datacenter: dc,
      bindAddress: u.LocalBindAddress !== '' ? u.LocalBindAddress : '127.0.0.1',
      bindPort: u.LocalBindPort,
      protocol: ucfg.protocol('protocol') ?? protocolOf(input, u.DestinationName),
      connectTimeoutMs: timeout > 0 ? timeout : DEFAULT_CONNECT_TIMEOUT_MS,
      expectedSpiffeIds: [serviceSpiffeId(trustDomain, dc, u.DestinationName)],
      endpoints,
    });
  });
  upstreams.sort(
    (a, b) =>
      compareGo(a.id, b.id) || compareGo(a.bindAddress, b.bindAddress) || a.bindPort - b.bindPort,
  );

  return {
    kind: 'connect-proxy',
    proxyId: proxy.ID,
    service: dest,
    datacenter,
    spiffeId: serviceSpiffeId(trustDomain, datacenter, dest),
    tls,
    publicListener,
    upstreams,
    gatewayListeners: [],
    warnings,
  };
}

// ------------------------------------------------------------------------------- ingress

/** Consul's generateUpstreamIngressDomains (default namespace). */
export function ingressDomains(service: string, hosts: readonly string[], port: number): string[] {
  const domains = hosts.length > 0 ? [...hosts] : [`${service}.ingress.*`];
  const set = new Set(domains);
  for (const h of [...domains]) {
    if (hasPort(h)) continue;
    const withPort = `${h}:${port}`;
    if (!set.has(withPort)) {
      domains.push(withPort);
      set.add(withPort);
    }
  }
  return domains;
}

function hasPort(host: string): boolean {
  const colon = host.lastIndexOf(':');
  return colon >= 0 && /^\d+$/.test(host.slice(colon + 1));
}

function compileIngress(input: SnapshotInput): ProxySnapshot {
  const { proxy, datacenter, trustDomain } = input;
  const warnings: string[] = [];
  const tls = snapshotTls(input);
  if (tls === null) warnings.push('no leaf certificate yet: upstream connections cannot be made');
  const entry = input.ingressGateway;
  const bindAddress = proxy.Address !== '' ? proxy.Address : '0.0.0.0';
  const listeners: GatewayListener[] = [];
  if (entry === undefined) {
    warnings.push(`no ingress-gateway config entry for ${proxy.Service}: no listeners`);
  } else {
    for (const l of [...entry.Listeners].sort((a, b) => a.Port - b.Port)) {
      const services: GatewayService[] = [];
      const explicit = new Set(l.Services.map((s) => s.Name.toLowerCase()));
      const add = (name: string, hosts: readonly string[]): void => {
        const endpoints = connectEndpoints(name, instancesFor(input, name));
        if (endpoints.length === 0) {
          warnings.push(
            `ingress service ${name} (listener on port ${l.Port}) has no healthy endpoints`,
          );
        }
        services.push({
          name,
          hosts: isHttpLike(l.Protocol) ? ingressDomains(name, hosts, l.Port) : [],
          connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
          expectedSpiffeIds: [serviceSpiffeId(trustDomain, datacenter, name)],
          endpoints,
        });
      };
      for (const s of l.Services) {
        if (s.Name !== WILDCARD) add(s.Name, s.Hosts);
      }
      if (l.Services.some((s) => s.Name === WILDCARD) && isHttpLike(l.Protocol)) {
        const names = Object.keys(input.upstreamInstances)
          .filter(
            (n) =>
              n !== WILDCARD &&
              !n.includes('?') &&
              !explicit.has(n.toLowerCase()) &&
              n.toLowerCase() !== proxy.Service.toLowerCase() &&
              protocolOf(input, n) === l.Protocol,
          )
          .sort(compareGo);
        for (const n of names) add(n, []);
      }
      listeners.push({ bindAddress, port: l.Port, protocol: l.Protocol, services });
    }
  }
  return {
    kind: 'ingress-gateway',
    proxyId: proxy.ID,
    service: proxy.Service,
    datacenter,
    spiffeId: serviceSpiffeId(trustDomain, datacenter, proxy.Service),
    tls,
    publicListener: null,
    upstreams: [],
    gatewayListeners: listeners,
    warnings,
  };
}

// ----------------------------------------------------------------------- change detection

/**
 * JSON with every object's keys sorted, so equal data gives equal text whatever the key
 * order (undefined properties are left out, as JSON.stringify does).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) {
    return `[${value.map((v: unknown) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  }
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort(compareGo);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** SHA-256 (hex) of the snapshot's canonical JSON: push a new version only when it changes. */
export function snapshotHash(snapshot: ProxySnapshot): string {
  return createHash('sha256').update(canonicalJson(snapshot)).digest('hex');
}

export function snapshotsEqual(a: ProxySnapshot, b: ProxySnapshot): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
