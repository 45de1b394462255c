/**
 * An ingress gateway listener (Consul's ingress-gateway config entry, one listener per
 * `gatewayListeners` entry of the snapshot): plain TCP or HTTP from clients outside the mesh
 * on `bindAddress:port`, mutual TLS from here to the services' sidecars, presenting the
 * gateway's own leaf — so the destination sidecars decide intentions with the gateway's
 * service name as the source.
 *
 * - tcp (and grpc, forwarded as bytes): exactly one service; each connection goes to one of
 *   its endpoints (see tcp-forward.ts).
 * - http and http2 (parsed as HTTP/1.1): each request is routed by its Host header to one
 *   service (Envoy's virtual host matching, below), then goes to an endpoint over that
 *   endpoint's keep-alive pool. No matching host: 404 (`route_not_found`); no endpoint: 503
 *   `no healthy upstream`. Upgrade requests (WebSocket) are routed the same way and piped
 *   after the 101.
 *
 * Host matching (case-insensitive, the Host header as sent, port included): an exact domain
 * first; then domains with a leading wildcard (`*.example.com`), longest first; then other
 * wildcard domains (`web.ingress.*`, `web.ingress.*:8080`), longest first; then `*`. A
 * wildcard matches one or more characters, so `web.ingress.*` matches `web.ingress.consul`
 * and `web.ingress.consul:8080`.
 *
 * Each service is a cluster of its own per listener (balancing, outlier detection, pools),
 * kept across versions while the service stays on the listener.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net';
import type { GatewayListener, GatewayService } from '@trellis/connect';
import { Cluster, type Endpoint, type EndpointStatus } from './cluster.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  HTTP_SERVER_OPTIONS,
  INGRESS_KEEPALIVE_MS,
  MAX_CONNECT_ATTEMPTS,
  MAX_LISTENER_CONNECTIONS,
  ProxyConfigError,
  isL7,
  type OutlierOptions,
} from './config.js';
import { ENVOY_TEXT, forwardHeaders, forwardHttp, forwardUpgrade, localReply } from './forward.js';
import { listen } from './listen.js';
import type { ListenerDeps } from './public-listener.js';
import { forwardTcp } from './tcp-forward.js';
import type { TlsGeneration } from './tls-generation.js';

/** A wildcard domain: matches hosts that start with `prefix`, end with `suffix` and are longer. */
interface WildcardRoute {
  readonly prefix: string;
  readonly suffix: string;
  readonly service: string;
}

/** A listener's Host routing table, compiled once per version. */
export interface GatewayRoutes {
  readonly exact: ReadonlyMap<string, string>;
  /** In matching order. */
  readonly wildcards: readonly WildcardRoute[];
  /** The service of the `*` domain. */
  readonly any: string | undefined;
}

const NO_ROUTES: GatewayRoutes = { exact: new Map(), wildcards: [], any: undefined };

/**
 * Checks a gateway listener and compiles its routes; throws ProxyConfigError (a NACK) for a
 * listener Envoy would refuse too: a tcp listener without exactly one service, a service
 * twice, a domain routed to two services.
 */
export function compileGatewayRoutes(l: GatewayListener, path: string): GatewayRoutes {
  const names = new Set<string>();
  for (const s of l.services) {
    if (names.has(s.name)) {
      throw new ProxyConfigError(`${path}: service ${s.name} appears twice`);
    }
    names.add(s.name);
  }
  if (!isL7(l.protocol)) {
    if (l.services.length !== 1) {
      throw new ProxyConfigError(
        `${path}: a ${l.protocol} listener has exactly one service (it has ${l.services.length})`,
      );
    }
    return NO_ROUTES;
  }
  const owner = new Map<string, string>();
  const exact = new Map<string, string>();
  const leading: WildcardRoute[] = [];
  const other: WildcardRoute[] = [];
  let any: string | undefined;
  for (const s of l.services) {
    for (const raw of s.hosts) {
      const domain = raw.toLowerCase();
      const taken = owner.get(domain);
      if (taken !== undefined && taken !== s.name) {
        throw new ProxyConfigError(`${path}: host ${raw} is routed to both ${taken} and ${s.name}`);
      }
      if (taken !== undefined) continue;
      owner.set(domain, s.name);
      if (domain === '*') {
        any = s.name;
        continue;
      }
      const star = domain.indexOf('*');
      if (star < 0) {
        exact.set(domain, s.name);
        continue;
      }
      const route = {
        prefix: domain.slice(0, star),
        suffix: domain.slice(star + 1),
        service: s.name,
      };
      (star === 0 ? leading : other).push(route);
    }
  }
  const longestFirst = (a: WildcardRoute, b: WildcardRoute): number =>
    b.prefix.length + b.suffix.length - (a.prefix.length + a.suffix.length);
  leading.sort(longestFirst);
  other.sort(longestFirst);
  return { exact, wildcards: [...leading, ...other], any };
}

/** The service a Host header is routed to, or undefined (404). */
export function routeHost(routes: GatewayRoutes, host: string | undefined): string | undefined {
  const h = (host ?? '').trim().toLowerCase();
  if (h !== '') {
    const exact = routes.exact.get(h);
    if (exact !== undefined) return exact;
    for (const w of routes.wildcards) {
      if (
        h.length > w.prefix.length + w.suffix.length &&
        h.startsWith(w.prefix) &&
        h.endsWith(w.suffix)
      ) {
        return w.service;
      }
    }
  }
  return routes.any;
}

/** The authority of a request: the Host header, or the host of an absolute-form target. */
function hostOf(req: IncomingMessage): string | undefined {
  const url = req.url ?? '';
  if (/^https?:\/\//i.test(url)) {
    try {
      return new URL(url).host;
    } catch {
      return undefined;
    }
  }
  return req.headers.host;
}

export interface GatewayServiceStatus {
  readonly name: string;
  readonly endpoints: readonly EndpointStatus[];
}

export class GatewayListenerRuntime {
  readonly server: Server;
  readonly #http: HttpServer;
  readonly #deps: ListenerDeps & { readonly outlier: OutlierOptions };
  #cfg: GatewayListener;
  #routes: GatewayRoutes;
  #label: { listener: string };
  readonly #clusters = new Map<string, Cluster>();
  readonly #sockets = new Set<Socket>();

  constructor(
    cfg: GatewayListener,
    routes: GatewayRoutes,
    gen: TlsGeneration | null,
    deps: ListenerDeps & { readonly outlier: OutlierOptions },
  ) {
    this.#deps = deps;
    this.#cfg = cfg;
    this.#routes = routes;
    this.#label = { listener: `ingress:${cfg.port}` };
    this.#updateClusters(cfg, gen);
    this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (s) =>
      this.#onConnection(s),
    );
    this.server.maxConnections = MAX_LISTENER_CONNECTIONS;
    this.server.on('drop', () => deps.metrics.overflow.inc(this.#label));
    this.#http = createHttpServer(HTTP_SERVER_OPTIONS, (req, res) => this.#onRequest(req, res));
    this.#http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#http.keepAliveTimeout = INGRESS_KEEPALIVE_MS;
    this.#http.emit('listening');
  }

  get listener(): GatewayListener {
    return this.#cfg;
  }

  /** The port the configuration asks for (0: any). */
  get configuredPort(): number {
    return this.#cfg.port;
  }

  async listen(): Promise<void> {
    await listen(this.server, this.#cfg.bindAddress, this.#cfg.port);
    // An ephemeral listener is labelled by the port it got.
    if (this.#cfg.port === 0) this.#label = { listener: `ingress:${this.address()?.port ?? 0}` };
  }

  address(): AddressInfo | null {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a : null;
  }

  /** Takes a new version of the listener; connections stay, clusters of kept services too. */
  update(cfg: GatewayListener, routes: GatewayRoutes, gen: TlsGeneration | null): void {
    this.#cfg = cfg;
    this.#routes = routes;
    this.#updateClusters(cfg, gen);
  }

  #updateClusters(cfg: GatewayListener, gen: TlsGeneration | null): void {
    const keep = new Set<string>();
    for (const s of cfg.services) {
      keep.add(s.name);
      let c = this.#clusters.get(s.name);
      if (c === undefined) {
        c = new Cluster(s.name, this.#deps);
        this.#clusters.set(s.name, c);
      }
      c.update(s, gen);
    }
    for (const [name, c] of this.#clusters) {
      if (keep.has(name)) continue;
      c.close();
      this.#clusters.delete(name);
    }
  }

  status(): GatewayServiceStatus[] {
    return this.#cfg.services.map((s) => ({
      name: s.name,
      endpoints: this.#clusters.get(s.name)?.status() ?? [],
    }));
  }

  #onConnection(socket: Socket): void {
    const { metrics, logger } = this.#deps;
    const label = this.#label;
    this.#sockets.add(socket);
    metrics.connections.inc(label);
    metrics.activeConnections.inc(label);
    socket.on('error', (err) =>
      logger.debug({ err: err.message }, 'proxy: ingress listener connection error'),
    );
    socket.once('close', () => {
      this.#sockets.delete(socket);
      metrics.activeConnections.dec(label);
      metrics.bytesIn.inc(label, socket.bytesRead);
      metrics.bytesOut.inc(label, socket.bytesWritten);
    });
    if (isL7(this.#cfg.protocol)) {
      this.#http.emit('connection', socket);
      return;
    }
    const svc = this.#cfg.services[0];
    const cluster = svc !== undefined ? this.#clusters.get(svc.name) : undefined;
    if (svc === undefined || cluster === undefined) {
      socket.destroy();
      return;
    }
    forwardTcp(socket, cluster, this.#deps, label.listener, svc.name);
  }

  /** The service and cluster a request goes to, or undefined (no route). */
  #route(req: IncomingMessage): { service: GatewayService; cluster: Cluster } | undefined {
    const name = routeHost(this.#routes, hostOf(req));
    if (name === undefined) return undefined;
    const service = this.#cfg.services.find((s) => s.name === name);
    const cluster = this.#clusters.get(name);
    return service !== undefined && cluster !== undefined ? { service, cluster } : undefined;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const { metrics } = this.#deps;
    const label = this.#label.listener;
    const started = performance.now();
    const route = this.#route(req);
    let upstream: string | undefined;
    res.once('close', () => {
      if (res.headersSent) metrics.requests.inc({ listener: label, code: String(res.statusCode) });
      this.#deps.accessLog?.({
        kind: 'http',
        listener: label,
        ...(route !== undefined ? { service: route.service.name } : {}),
        method: req.method ?? '',
        path: req.url ?? '',
        status: res.headersSent ? res.statusCode : 0,
        ...(upstream !== undefined ? { upstream } : {}),
        durationMs: performance.now() - started,
      });
    });
    if (route === undefined) {
      req.resume();
      localReply(res, 404, ENVOY_TEXT.routeNotFound);
      return;
    }
    const { service, cluster } = route;
    const tried = new Set<Endpoint>();
    forwardHttp(req, res, {
      headers: forwardHeaders(req.rawHeaders),
      pick: () => cluster.httpTarget(tried),
      maxAttempts: MAX_CONNECT_ATTEMPTS,
      connectTimeoutMs: service.connectTimeoutMs,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      noTarget: (r) => {
        metrics.noHealthyUpstream.inc({ upstream: cluster.id });
        localReply(r, 503, ENVOY_TEXT.noHealthyUpstream);
      },
      onTarget: (name) => {
        upstream = name;
      },
    });
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.pause();
    const { metrics } = this.#deps;
    const label = this.#label.listener;
    const started = performance.now();
    const route = this.#route(req);
    let upstream: string | undefined;
    let status = 0;
    socket.once('close', () => {
      if (status > 0) metrics.requests.inc({ listener: label, code: String(status) });
      this.#deps.accessLog?.({
        kind: 'http',
        listener: label,
        ...(route !== undefined ? { service: route.service.name } : {}),
        method: req.method ?? '',
        path: req.url ?? '',
        status,
        ...(upstream !== undefined ? { upstream } : {}),
        durationMs: performance.now() - started,
      });
    });
    const noRoute = route === undefined;
    const cluster = route?.cluster;
    const tried = new Set<Endpoint>();
    forwardUpgrade(req, socket, head, {
      headers: forwardHeaders(req.rawHeaders),
      pick: () => cluster?.httpTarget(tried),
      maxAttempts: MAX_CONNECT_ATTEMPTS,
      connectTimeoutMs: route?.service.connectTimeoutMs ?? 1,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      noTarget: () => {
        if (noRoute) return [404, ENVOY_TEXT.routeNotFound];
        metrics.noHealthyUpstream.inc({ upstream: route.cluster.id });
        return [503, ENVOY_TEXT.noHealthyUpstream];
      },
      onTarget: (name) => {
        upstream = name;
      },
      onStatus: (s) => {
        status = s;
      },
    });
  }

  /** Stops accepting; open connections stay until they end. Idle pools are closed. */
  close(): void {
    this.server.close();
    this.#http.close();
    for (const c of this.#clusters.values()) c.close();
  }

  /** Closes every connection now. */
  destroy(): void {
    this.close();
    for (const s of this.#sockets) s.destroy();
    for (const c of this.#clusters.values()) c.destroy();
  }
}
