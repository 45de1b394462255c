/**
 * Fixtures: a CA (root, signer, leaves from @trellis/ca), hand-made proxy snapshots, apps on
 * loopback (TCP echo, HTTP), a recording TCP relay, and waiting for conditions.
 */
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server as HttpServer, Agent } from 'node:http';
import {
  connect as netConnect,
  createServer as createNetServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DEFAULT_LEAF_TTL_MS,
  createLeafKeyAndCsr,
  createSigner,
  generateRoot,
  spiffeIdForService,
  trustDomainFor,
  type GeneratedRoot,
  type Signer,
} from '@trellis/ca';
import {
  compileIntentions,
  ingressDomains,
  precedence,
  type GatewayListener,
  type IntentionPermission,
  type IntentionRule,
  type ProxySnapshot,
  type SnapshotEndpoint,
  type SnapshotTls,
  type SnapshotUpstream,
  type Protocol,
} from '@trellis/connect';
import type { ExecutionContext } from 'ava';
import { Proxy, type ProxyOptions } from '../src/index.js';

export const CLUSTER_ID = '11111111-2222-3333-4444-555555555555';
export const TRUST_DOMAIN = trustDomainFor(CLUSTER_ID);
export const DC = 'dc1';

export function spiffe(service: string, td = TRUST_DOMAIN): string {
  return spiffeIdForService({ trustDomain: td, datacenter: DC, service });
}

export interface Ca {
  readonly root: GeneratedRoot;
  readonly signer: Signer;
  readonly trustDomain: string;
  leaf(service: string): Promise<{ certPem: string; keyPem: string; serialNumber: string }>;
  tls(service: string, extraRoots?: readonly string[]): Promise<SnapshotTls>;
}

export async function newCa(clusterId = CLUSTER_ID): Promise<Ca> {
  const trustDomain = trustDomainFor(clusterId);
  const root = await generateRoot({ trustDomain, clusterId, now: new Date() });
  const signer = await createSigner({ certPem: root.certPem, keyPem: root.keyPem });
  const leaf = async (service: string) => {
    const { keyPem, csrPem } = await createLeafKeyAndCsr({ uri: spiffe(service, trustDomain) });
    const signed = await signer.signLeaf(csrPem, {
      trustDomain,
      datacenter: DC,
      ttlMs: DEFAULT_LEAF_TTL_MS,
      now: new Date(),
    });
    return { certPem: signed.certPem, keyPem, serialNumber: signed.serialNumber };
  };
  return {
    root,
    signer,
    trustDomain,
    leaf,
    async tls(service, extraRoots = []) {
      const l = await leaf(service);
      return {
        ...l,
        validBefore: new Date(Date.now() + DEFAULT_LEAF_TTL_MS).toISOString(),
        activeRootId: 'root-1',
        rootPems: [root.certPem, ...extraRoots],
      };
    },
  };
}

/** An intention rule (L4 when no permissions). */
export function rule(
  source: string,
  destination: string,
  action: 'allow' | 'deny' | undefined,
  permissions?: IntentionPermission[],
): IntentionRule {
  return {
    SourceName: source,
    DestinationName: destination,
    ...(action !== undefined ? { Action: action } : {}),
    ...(permissions !== undefined ? { Permissions: permissions } : {}),
    Precedence: precedence(source, destination),
  };
}

export interface SidecarSpec {
  readonly service: string;
  readonly tls: SnapshotTls | null;
  /** Public listener; absent: none. */
  readonly public?: {
    readonly appPort: number;
    readonly protocol?: Protocol;
    readonly maxInboundConnections?: number;
    readonly bindPort?: number;
    readonly rules?: readonly IntentionRule[];
    readonly defaultAllow?: boolean;
    readonly localRequestTimeoutMs?: number;
  };
  readonly upstreams?: ReadonlyArray<{
    readonly name: string;
    readonly endpoints: ReadonlyArray<{ port: number; weight?: number; address?: string }>;
    readonly protocol?: Protocol;
    readonly bindPort?: number;
    readonly expectedSpiffeIds?: readonly string[];
    readonly connectTimeoutMs?: number;
  }>;
}

export function proxyIdOf(service: string): string {
  return `${service}-sidecar-proxy`;
}

/** A connect-proxy snapshot as the agent compiles it, on loopback with ephemeral ports. */
export function sidecarSnapshot(spec: SidecarSpec): ProxySnapshot {
  const p = spec.public;
  const upstreams: SnapshotUpstream[] = (spec.upstreams ?? []).map((u) => ({
    id: u.name,
    destinationName: u.name,
    datacenter: DC,
    bindAddress: '127.0.0.1',
    bindPort: u.bindPort ?? 0,
    protocol: u.protocol ?? 'tcp',
    connectTimeoutMs: u.connectTimeoutMs ?? 2000,
    expectedSpiffeIds: u.expectedSpiffeIds ?? [spiffe(u.name)],
    endpoints: u.endpoints.map((e, i): SnapshotEndpoint => ({
      address: e.address ?? '127.0.0.1',
      port: e.port,
      node: `n${i}`,
      serviceId: `${u.name}-sidecar-proxy-${i}`,
      weight: e.weight ?? 1,
    })),
  }));
  return {
    kind: 'connect-proxy',
    proxyId: proxyIdOf(spec.service),
    service: spec.service,
    datacenter: DC,
    spiffeId: spiffe(spec.service),
    tls: spec.tls,
    publicListener:
      p === undefined
        ? null
        : {
            bindAddress: '127.0.0.1',
            bindPort: p.bindPort ?? 0,
            localApp: { address: '127.0.0.1', port: p.appPort },
            protocol: p.protocol ?? 'tcp',
            maxInboundConnections: p.maxInboundConnections ?? 0,
            localConnectTimeoutMs: 2000,
            localRequestTimeoutMs: p.localRequestTimeoutMs ?? 0,
            tls: spec.tls,
            authz: compileIntentions(spec.service, p.rules ?? [], p.defaultAllow ?? true),
          },
    upstreams,
    gatewayListeners: [],
    warnings: [],
  };
}

export interface GatewaySpec {
  /** The gateway service (its proxy ID too). */
  readonly service: string;
  readonly tls: SnapshotTls | null;
  readonly listeners: ReadonlyArray<{
    readonly protocol: Protocol;
    /** Default 0 (ephemeral). */
    readonly port?: number;
    readonly services: ReadonlyArray<{
      readonly name: string;
      readonly endpoints: ReadonlyArray<{ port: number; weight?: number; address?: string }>;
      /** Hosts as in the config entry; the compiler's defaults and `:port` forms are added. */
      readonly hosts?: readonly string[];
    }>;
  }>;
}

/**
 * An ingress-gateway snapshot as the agent compiles it (hosts through the compiler's own
 * ingressDomains), bound on 127.0.0.1. `hostPort` is the port used in the `:port` host forms.
 */
export function gatewaySnapshot(spec: GatewaySpec, hostPort = 8080): ProxySnapshot {
  const gatewayListeners: GatewayListener[] = spec.listeners.map((l) => ({
    bindAddress: '127.0.0.1',
    port: l.port ?? 0,
    protocol: l.protocol,
    services: l.services.map((svc) => ({
      name: svc.name,
      hosts:
        l.protocol === 'tcp' ? [] : ingressDomains(svc.name, svc.hosts ?? [], l.port ?? hostPort),
      connectTimeoutMs: 2000,
      expectedSpiffeIds: [spiffe(svc.name)],
      endpoints: svc.endpoints.map((e, i): SnapshotEndpoint => ({
        address: e.address ?? '127.0.0.1',
        port: e.port,
        node: `n${i}`,
        serviceId: `${svc.name}-sidecar-proxy-${i}`,
        weight: e.weight ?? 1,
      })),
    })),
  }));
  return {
    kind: 'ingress-gateway',
    proxyId: spec.service,
    service: spec.service,
    datacenter: DC,
    spiffeId: spiffe(spec.service),
    tls: spec.tls,
    publicListener: null,
    upstreams: [],
    gatewayListeners,
    warnings: [],
  };
}

/** The port of the gateway listener at `index` (after apply). */
export function gatewayPort(p: Proxy, index: number): number {
  const a = p.gatewayAddress(index);
  if (a === null) throw new Error(`no gateway listener ${index}`);
  return a.port;
}

/** One HTTP request with a Host header (bounded by a timeout). */
export function hostGet(
  port: number,
  host: string | undefined,
  path = '/',
  o: { method?: string; agent?: Agent | false; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'GET',
        agent: o.agent ?? false,
        timeout: o.timeoutMs ?? 10_000,
        setHost: false,
        headers: host !== undefined ? { host } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

export async function startProxy(
  t: ExecutionContext,
  service: string,
  extra: Partial<ProxyOptions> = {},
): Promise<Proxy> {
  const p = await Proxy.start({ proxyId: proxyIdOf(service), ...extra });
  t.teardown(() => p.close());
  return p;
}

export function listening(server: Server | HttpServer, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server | HttpServer, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A TCP echo app; `connections` counts what reached it. */
export async function echoApp(t: ExecutionContext) {
  const sockets = new Set<Socket>();
  const app = {
    connections: 0,
    received: [] as Buffer[],
    server: createNetServer({ allowHalfOpen: true }, (s) => {
      app.connections++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => app.received.push(d));
      s.pipe(s);
    }),
    port: 0,
  };
  app.port = await listening(app.server);
  t.teardown(() => closeServer(app.server, sockets));
  return app;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** An HTTP app answering `<name> <method> <url>`; `/slow?ms=N` waits N ms first. */
export async function httpApp(t: ExecutionContext, name = 'app') {
  const sockets = new Set<Socket>();
  const app = {
    seen: [] as SeenRequest[],
    server: createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        app.seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        const u = new URL(req.url ?? '/', 'http://x');
        const respond = () => {
          res.setHeader('content-type', 'text/plain');
          res.end(`${name} ${req.method} ${req.url}`);
        };
        if (u.pathname === '/slow') setTimeout(respond, Number(u.searchParams.get('ms') ?? '100'));
        else respond();
      });
    }),
    port: 0,
  };
  app.server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  app.port = await listening(app.server);
  t.teardown(() => closeServer(app.server, sockets));
  return app;
}

export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** One HTTP request (bounded by a timeout); rejects on a connection error. */
export function httpGet(
  port: number,
  path: string,
  o: { method?: string; body?: string; agent?: Agent | false; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'GET',
        agent: o.agent ?? false,
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Connects, writes `data`, half-closes, and collects everything until the peer closes. */
export function tcpExchange(port: number, data: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('tcp exchange timed out'));
    }, timeoutMs);
    s.on('connect', () => s.end(data));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
  });
}

/** An open TCP connection to talk on. */
export class TcpClient {
  readonly socket: Socket;
  readonly chunks: Buffer[] = [];
  closed = false;
  readonly ready: Promise<void>;
  constructor(port: number) {
    this.socket = netConnect({ host: '127.0.0.1', port });
    this.socket.on('data', (d: Buffer) => this.chunks.push(d));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
    this.ready = new Promise((resolve) => this.socket.once('connect', () => resolve()));
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
  /** Writes and waits until the total received text includes `expect`. */
  async roundTrip(data: string, expect = data): Promise<void> {
    await this.ready;
    this.socket.write(data);
    await waitFor(`echo of ${data}`, () => this.text().includes(expect) || this.closed);
    if (!this.text().includes(expect)) throw new Error(`connection closed before ${expect}`);
  }
  destroy(): void {
    this.socket.destroy();
  }
}

/** A TCP relay that records every byte in both directions. */
export async function recordingRelay(t: ExecutionContext, targetPort: number) {
  const sockets = new Set<Socket>();
  const relay = {
    bytes: [] as Buffer[],
    server: createNetServer({ allowHalfOpen: true }, (down) => {
      const up = netConnect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
      for (const s of [down, up]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      down.on('data', (d: Buffer) => relay.bytes.push(d));
      up.on('data', (d: Buffer) => relay.bytes.push(d));
      down.pipe(up);
      up.pipe(down);
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
    }),
    port: 0,
    all(): Buffer {
      return Buffer.concat(relay.bytes);
    },
  };
  relay.port = await listening(relay.server);
  t.teardown(() => closeServer(relay.server, sockets));
  return relay;
}

/** Polls `fn` until it returns something other than undefined/false (bounded). */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  pollMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** The public listener's port (after apply). */
export function publicPort(p: Proxy): number {
  const a = p.publicAddress();
  if (a === null) throw new Error('no public listener');
  return a.port;
}

export function upstreamPort(p: Proxy, id: string): number {
  const a = p.upstreamAddress(id);
  if (a === null) throw new Error(`no upstream listener ${id}`);
  return a.port;
}
