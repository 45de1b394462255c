/** Test helpers: catalog rows from partial descriptions, and golden snapshot inputs. */
import type {
  CheckServiceNode,
  HealthCheck,
  Node,
  PlainMap,
  Service,
  ServiceProxy,
  Upstream,
} from '@trellis/state';
import {
  decodeConfigEntry,
  type IngressGatewayEntry,
  type ProxyDefaultsEntry,
  type ServiceDefaultsEntry,
  type ServiceIntentionsEntry,
  type SnapshotInput,
} from '../src/index.js';

type Partial1<T> = { [K in keyof T]?: T[K] };

export function node(p: Partial1<Node> & { Node: string }): Node {
  return {
    ID: '',
    Address: '127.0.0.1',
    Datacenter: 'dc1',
    TaggedAddresses: {},
    Meta: {},
    CreateIndex: 1,
    ModifyIndex: 1,
    ...p,
  };
}

export interface ServiceSpec extends Omit<Partial1<Service>, 'Proxy'> {
  readonly Service: string;
  readonly Proxy?: Partial1<Omit<ServiceProxy, 'Upstreams'>> & {
    readonly Upstreams?: ReadonlyArray<Partial1<Upstream> & { DestinationName: string }>;
  };
}

export function service(p: ServiceSpec, nodeName = 'node-a'): Service {
  const { Proxy: proxy, ...rest } = p;
  return {
    Node: nodeName,
    ID: p.ID ?? p.Service,
    Tags: [],
    Address: '',
    TaggedAddresses: {},
    Meta: {},
    Port: 0,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Kind: '',
    Connect: { Native: false },
    CreateIndex: 1,
    ModifyIndex: 1,
    ...rest,
    Proxy: {
      DestinationServiceName: '',
      DestinationServiceID: '',
      LocalServiceAddress: '',
      LocalServicePort: 0,
      Config: {},
      ...proxy,
      Upstreams: (proxy?.Upstreams ?? []).map((u) => ({
        DestinationType: '',
        Datacenter: '',
        LocalBindAddress: '',
        LocalBindPort: 0,
        Config: {},
        ...u,
      })),
    },
  };
}

export function check(
  p: Partial1<HealthCheck> & { CheckID: string },
  nodeName: string,
  serviceId = '',
): HealthCheck {
  return {
    Node: nodeName,
    Name: p.CheckID,
    Status: 'passing',
    Notes: '',
    Output: '',
    ServiceID: serviceId,
    ServiceName: '',
    ServiceTags: [],
    Type: '',
    Definition: {},
    CreateIndex: 1,
    ModifyIndex: 1,
    ...p,
  };
}

export interface InstanceSpec {
  readonly Node: Partial1<Node> & { Node: string };
  readonly Service: ServiceSpec;
  readonly Checks?: ReadonlyArray<Partial1<HealthCheck> & { CheckID: string }>;
}

export function instance(spec: InstanceSpec): CheckServiceNode {
  const n = node(spec.Node);
  const s = service(spec.Service, n.Node);
  return {
    Node: n,
    Service: s,
    Checks: (spec.Checks ?? []).map((c) =>
      check(c, n.Node, c.ServiceID ?? (c.CheckID === 'serfHealth' ? '' : s.ID)),
    ),
  };
}

/**
 * A golden case's input: compact catalog rows (defaults filled in by the helpers above) and
 * config entries as Consul JSON bodies (decoded with decodeConfigEntry).
 */
export interface GoldenInput {
  readonly description: string;
  readonly proxy: ServiceSpec;
  readonly node: Partial1<Node> & { Node: string };
  readonly datacenter: string;
  readonly trustDomain: string;
  readonly leaf: SnapshotInput['leaf'] | null;
  readonly roots: SnapshotInput['roots'];
  readonly defaultAllow: boolean;
  readonly configEntries?: readonly unknown[];
  readonly upstreamInstances?: Readonly<Record<string, readonly InstanceSpec[]>>;
}

export function snapshotInput(g: GoldenInput): SnapshotInput {
  const n = node(g.node);
  const intentions: ServiceIntentionsEntry[] = [];
  const serviceDefaults: Record<string, ServiceDefaultsEntry> = {};
  let proxyDefaults: ProxyDefaultsEntry | undefined;
  let ingressGateway: IngressGatewayEntry | undefined;
  for (const body of g.configEntries ?? []) {
    const e = decodeConfigEntry(body);
    if (e.Kind === 'service-intentions') intentions.push(e);
    else if (e.Kind === 'service-defaults') serviceDefaults[e.Name] = e;
    else if (e.Kind === 'proxy-defaults') proxyDefaults = e;
    else ingressGateway = e;
  }
  return {
    proxy: service(g.proxy, n.Node),
    node: n,
    datacenter: g.datacenter,
    trustDomain: g.trustDomain,
    leaf: g.leaf ?? undefined,
    roots: g.roots,
    intentions,
    defaultAllow: g.defaultAllow,
    serviceDefaults,
    proxyDefaults,
    upstreamInstances: Object.fromEntries(
      Object.entries(g.upstreamInstances ?? {}).map(([k, v]) => [k, v.map(instance)]),
    ),
    ingressGateway,
  };
}

/** Is `v` plain data (what msgpack and JSON carry unchanged)? Returns the first bad path. */
export function notPlain(v: unknown, path = '$'): string | null {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return null;
  if (typeof v === 'number') return Number.isFinite(v) ? null : path;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = notPlain(v[i], `${path}[${i}]`);
      if (bad !== null) return bad;
    }
    return null;
  }
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v as PlainMap)) {
      if (x === undefined) return `${path}.${k}`;
      const bad = notPlain(x, `${path}.${k}`);
      if (bad !== null) return bad;
    }
    return null;
  }
  return path;
}
