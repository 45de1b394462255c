/**
 * The sidecar's public listener: mutual TLS in front of the local app.
 *
 * - TLS: `tls.createServer` requiring a client certificate that chains to the snapshot's
 *   roots (TLS 1.2+); a new leaf or new roots swap the server's secure context
 *   (`setSecureContext`), once per generation, so established connections are untouched.
 *   Without a leaf (a snapshot whose tls is null) the listener stays bound and closes every
 *   connection.
 * - Identity: the caller's SPIFFE service ID is read from its certificate once per connection;
 *   a certificate without one is closed.
 * - tcp and grpc: `Authorizer.connection(source)` once per connection (an L7 intention
 *   denies, as Envoy's network RBAC filter), then bytes are piped to the local app.
 * - http and http2 (parsed as HTTP/1.1): every request is decided by `Authorizer.request`;
 *   a denial is Envoy's 403 `RBAC: access denied`; an allowed request goes to the local app
 *   over a keep-alive pool, with `x-forwarded-client-cert` set (any value the caller sent is
 *   replaced).
 * - HTTP upgrades (WebSocket): decided like any request; allowed, the request goes to the
 *   local app with its upgrade headers (and XFCC) and after the 101 both connections are
 *   piped until either closes. `local_request_timeout_ms` bounds the wait for the 101.
 * - max_inbound_connections: over the limit, a TCP connection is closed as it arrives, an
 *   HTTP one is answered 503 (`x-envoy-overloaded`) and closed. When a new configuration
 *   sets a limit below the HTTP connections already admitted, those are drained, as Envoy
 *   drains a listener it replaces: idle ones close now, busy ones after their response
 *   (`connection: close`); callers reconnect under the new limit. (Otherwise a caller's
 *   keep-alive pool would keep every connection it had and never see the limit.)
 * - A new intention set swaps the authorizer; open TCP connections whose source it now denies
 *   are closed at once, and so are upgraded connections whose upgrade request it now denies.
 *   (Consul's Envoy keeps them open until they end; we close them so a deny takes effect for
 *   everyone.) HTTP connections stay: their next request is decided by the new rules.
 */
import {
  Agent as HttpAgent,
  createServer as createHttpServer,
  request as httpRequest,
} from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type TLSSocket,
} from 'node:tls';
import type { Authorizer, PublicListener } from '@trellis/connect';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  HANDSHAKE_TIMEOUT_MS,
  MAX_FREE_SOCKETS,
  HTTP_SERVER_OPTIONS,
  MAX_LISTENER_CONNECTIONS,
  PUBLIC_KEEPALIVE_MS,
  isL7,
} from './config.js';
import {
  ENVOY_TEXT,
  forwardHeaders,
  forwardHttp,
  forwardUpgrade,
  localReply,
  rawReply,
  type ForwardTarget,
} from './forward.js';
import { certHash, serviceIdentityOf, xfcc } from './identity.js';
import type { AccessLogger, Logger } from './log.js';
import type { ProxyMetrics } from './metrics.js';
import { MIN_TLS_VERSION, type TlsGeneration } from './tls-generation.js';
import { listen } from './listen.js';

export interface PublicConfig {
  readonly listener: PublicListener;
  readonly gen: TlsGeneration | null;
  readonly authorizer: Authorizer;
  /** This proxy's SPIFFE ID (XFCC `By`). */
  readonly ownSpiffeId: string;
}

export interface ListenerDeps {
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  readonly accessLog: AccessLogger | undefined;
  /** Default HANDSHAKE_TIMEOUT_MS. */
  readonly handshakeTimeoutMs?: number;
}

interface InboundConn {
  readonly socket: TLSSocket;
  readonly source: string;
  readonly peerUri: string;
  readonly overflow: boolean;
  readonly xfcc: string;
}

const LABEL = { listener: 'public' };

/** service-defaults LocalRequestTimeoutMs (local_request_timeout_ms); 0: Envoy's 15 s. */
function requestTimeoutOf(l: PublicListener): number {
  return l.localRequestTimeoutMs > 0 ? l.localRequestTimeoutMs : DEFAULT_REQUEST_TIMEOUT_MS;
}

export class PublicListenerRuntime {
  readonly server: TlsServer;
  readonly #http: HttpServer;
  readonly #deps: ListenerDeps;
  #cfg: PublicConfig;
  #gen: TlsGeneration | null = null;
  #localAgent: HttpAgent;
  #localKey: string;
  /** HTTP connections under max_inbound_connections. */
  #admitted = 0;
  readonly #sockets = new Set<Socket>();
  readonly #http1 = new WeakMap<Socket, InboundConn>();
  /** The response in progress on an HTTP connection (HTTP/1.1: one at a time). */
  readonly #inFlight = new WeakMap<Socket, ServerResponse>();
  /** Admitted HTTP connections to close after their current response (a lowered limit). */
  readonly #draining = new WeakSet<Socket>();
  /** Open TCP connections by source service, for re-authorization. */
  readonly #tcpBySource = new Map<string, Set<Socket>>();
  /** Allowed upgrade requests (WebSockets) whose connections are open, for re-authorization. */
  readonly #upgraded = new Map<
    Socket,
    { readonly source: string; readonly req: IncomingMessage }
  >();

  constructor(cfg: PublicConfig, deps: ListenerDeps) {
    this.#deps = deps;
    this.#cfg = cfg;
    this.server = createTlsServer({
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: MIN_TLS_VERSION,
      handshakeTimeout: deps.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
      allowHalfOpen: true,
      // As the upstream listeners' sockets: without TCP_NODELAY every piece of an answer after
      // the first (a body streamed after its headers) waits for the peer's delayed ACK, 40 ms
      // on Linux.
      noDelay: true,
    });
    this.server.on('connection', (raw: Socket) => {
      // No leaf: nothing to present. Close before any TLS is attempted.
      if (this.#cfg.gen === null) raw.destroy();
    });
    this.server.on('drop', () => deps.metrics.overflow.inc(LABEL));
    this.server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      deps.metrics.tlsHandshakeErrors.inc(LABEL);
      deps.logger.debug(
        { err: err.message, code: err.code },
        'proxy: public listener TLS handshake failed',
      );
      // Node leaves the socket open on a handshake timeout: close it (slow or silent clients).
      socket.destroy();
    });
    this.server.on('secureConnection', (s: TLSSocket) => this.#onSecure(s));

    this.#http = createHttpServer(HTTP_SERVER_OPTIONS, (req, res) => this.#onRequest(req, res));
    this.#http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#http.keepAliveTimeout = PUBLIC_KEEPALIVE_MS;
    // The HTTP server never listens itself; this starts its header/request timeout checks.
    this.#http.emit('listening');
    this.#localKey = '';
    this.#localAgent = this.#newLocalAgent();
    this.update(cfg);
  }

  #newLocalAgent(): HttpAgent {
    const app = this.#cfg.listener.localApp;
    this.#localKey = `${app.address}:${app.port}`;
    return new HttpAgent({ keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS, scheduling: 'lifo' });
  }

  /** The port the configuration asks for (0: any). */
  get configuredPort(): number {
    return this.#cfg.listener.bindPort;
  }

  listen(): Promise<void> {
    const l = this.#cfg.listener;
    return listen(this.server, l.bindAddress, l.bindPort);
  }

  address(): AddressInfo | null {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a : null;
  }

  /** Applies a new configuration; connections stay. */
  update(cfg: PublicConfig): void {
    const old = this.#cfg;
    this.#cfg = cfg;
    if (cfg.gen !== null && cfg.gen !== this.#gen) {
      this.server.setSecureContext(cfg.gen.serverOptions);
    }
    this.#gen = cfg.gen;
    const l = cfg.listener;
    this.server.maxConnections =
      !isL7(l.protocol) && l.maxInboundConnections > 0
        ? Math.min(l.maxInboundConnections, MAX_LISTENER_CONNECTIONS)
        : MAX_LISTENER_CONNECTIONS;
    const max = l.maxInboundConnections;
    if (
      isL7(l.protocol) &&
      max > 0 &&
      max !== old.listener.maxInboundConnections &&
      this.#admitted > max
    ) {
      this.#drainAdmitted(max);
    }
    const app = l.localApp;
    if (`${app.address}:${app.port}` !== this.#localKey) {
      const retired = this.#localAgent;
      retired.keepSocketAlive = () => false;
      for (const list of Object.values(retired.freeSockets))
        for (const s of list ?? []) s.destroy();
      this.#localAgent = this.#newLocalAgent();
    }
    if (cfg.authorizer !== old.authorizer) this.#reauthorize();
  }

  /**
   * A limit below what is admitted: every admitted HTTP connection is drained — closed now
   * when idle, after its response when busy — so that callers reconnect under the new limit.
   */
  #drainAdmitted(max: number): void {
    let n = 0;
    for (const s of this.#sockets) {
      const conn = this.#http1.get(s);
      if (conn === undefined || conn.overflow || this.#draining.has(s)) continue;
      this.#draining.add(s);
      n++;
      const res = this.#inFlight.get(s);
      if (res === undefined) s.destroy();
      else if (!res.headersSent) res.shouldKeepAlive = false;
      else if (res.writableFinished) s.destroySoon();
      else res.once('finish', () => s.destroySoon());
    }
    this.#deps.logger.info(
      { max_inbound_connections: max, admitted: this.#admitted, draining: n },
      'proxy: connection limit lowered; draining established HTTP connections',
    );
  }

  /**
   * Closes open TCP connections whose source the current intentions deny, and upgraded
   * (WebSocket) connections whose upgrade request they now deny.
   */
  #reauthorize(): void {
    const authz = this.#cfg.authorizer;
    for (const [socket, { source, req }] of this.#upgraded) {
      const d = authz.request(source, {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
      });
      if (d.allowed) continue;
      this.#deps.logger.info(
        { source, path: req.url, reason: d.reason },
        'proxy: closing an upgraded connection an intention now denies',
      );
      this.#deps.metrics.intentionDenials.inc({ listener: 'public', layer: 'l7' });
      socket.destroy();
    }
    for (const [source, sockets] of this.#tcpBySource) {
      const d = authz.connection(source);
      if (d.allowed) continue;
      this.#deps.logger.info(
        { source, connections: sockets.size, reason: d.reason },
        'proxy: closing connections an intention now denies',
      );
      for (const s of [...sockets]) {
        this.#deps.metrics.intentionDenials.inc({ listener: 'public', layer: 'l4' });
        s.destroy();
      }
    }
  }

  #track(socket: TLSSocket): void {
    const { metrics } = this.#deps;
    this.#sockets.add(socket);
    metrics.connections.inc(LABEL);
    metrics.activeConnections.inc(LABEL);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      metrics.activeConnections.dec(LABEL);
      metrics.bytesIn.inc(LABEL, socket.bytesRead);
      metrics.bytesOut.inc(LABEL, socket.bytesWritten);
    });
  }

  #onSecure(socket: TLSSocket): void {
    const { metrics, logger } = this.#deps;
    const cfg = this.#cfg;
    const started = performance.now();
    socket.on('error', (err: Error) =>
      logger.debug({ err: err.message }, 'proxy: public connection error'),
    );
    if (cfg.gen === null) {
      socket.destroy();
      return;
    }
    const cert = socket.getPeerCertificate();
    const id = serviceIdentityOf(cert);
    if (id === undefined) {
      metrics.intentionDenials.inc({ listener: 'public', layer: 'identity' });
      logger.debug({}, 'proxy: peer certificate has no SPIFFE service ID; closing');
      socket.destroy();
      return;
    }
    this.#track(socket);
    if (socket.isSessionReused()) metrics.tlsResumed.inc(LABEL);
    if (isL7(cfg.listener.protocol)) {
      const max = cfg.listener.maxInboundConnections;
      const overflow = max > 0 && this.#admitted >= max;
      if (overflow) {
        metrics.overflow.inc(LABEL);
      } else {
        this.#admitted++;
        socket.once('close', () => this.#admitted--);
      }
      this.#http1.set(socket, {
        socket,
        source: id.service,
        peerUri: id.uri,
        overflow,
        xfcc: xfcc(cfg.ownSpiffeId, certHash(cert.raw), id.uri),
      });
      this.#http.emit('connection', socket);
      return;
    }
    const d = cfg.authorizer.connection(id.service);
    if (!d.allowed) {
      metrics.intentionDenials.inc({ listener: 'public', layer: 'l4' });
      logger.debug({ source: id.service, reason: d.reason }, 'proxy: connection denied');
      this.#deps.accessLog?.({
        kind: 'tcp',
        listener: 'public',
        source: id.service,
        bytesIn: 0,
        bytesOut: 0,
        durationMs: 0,
        reason: 'denied',
      });
      socket.destroy();
      return;
    }
    this.#pipeToLocal(socket, id.service, started);
  }

  #pipeToLocal(socket: TLSSocket, source: string, started: number): void {
    const { listener } = this.#cfg;
    const app = listener.localApp;
    let set = this.#tcpBySource.get(source);
    if (set === undefined) this.#tcpBySource.set(source, (set = new Set()));
    set.add(socket);
    const target = `${app.address}:${app.port}`;
    let reason: string | undefined;
    socket.once('close', () => {
      const s = this.#tcpBySource.get(source);
      s?.delete(socket);
      if (s?.size === 0) this.#tcpBySource.delete(source);
      this.#deps.accessLog?.({
        kind: 'tcp',
        listener: 'public',
        source,
        upstream: target,
        bytesIn: socket.bytesRead,
        bytesOut: socket.bytesWritten,
        durationMs: performance.now() - started,
        ...(reason !== undefined ? { reason } : {}),
      });
    });
    if (app.port === 0) {
      reason = 'no local app port';
      socket.destroy();
      return;
    }
    const local = netConnect({ host: app.address, port: app.port, allowHalfOpen: true });
    local.setNoDelay(true);
    const timer = setTimeout(() => {
      reason = 'local app connect timeout';
      local.destroy();
    }, listener.localConnectTimeoutMs);
    local.once('connect', () => {
      clearTimeout(timer);
      socket.pipe(local);
      local.pipe(socket);
    });
    local.on('error', (err) => {
      reason ??= `local app: ${err.message}`;
    });
    local.once('close', () => {
      clearTimeout(timer);
      socket.destroy();
    });
    socket.once('close', () => local.destroy());
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.#http1.get(req.socket);
    if (conn === undefined) {
      res.destroy();
      return;
    }
    const { metrics } = this.#deps;
    const cfg = this.#cfg;
    const started = performance.now();
    let upstream: string | undefined;
    const socket = req.socket;
    if (this.#draining.has(socket)) res.shouldKeepAlive = false;
    this.#inFlight.set(socket, res);
    res.once('close', () => {
      if (this.#inFlight.get(socket) === res) this.#inFlight.delete(socket);
      if (res.headersSent)
        metrics.requests.inc({ listener: 'public', code: String(res.statusCode) });
      this.#deps.accessLog?.({
        kind: 'http',
        listener: 'public',
        source: conn.source,
        method: req.method ?? '',
        path: req.url ?? '',
        status: res.headersSent ? res.statusCode : 0,
        ...(upstream !== undefined ? { upstream } : {}),
        durationMs: performance.now() - started,
      });
    });
    if (conn.overflow) {
      localReply(res, 503, ENVOY_TEXT.overflow, {
        'x-envoy-overloaded': 'true',
        connection: 'close',
      });
      return;
    }
    const decision = cfg.authorizer.request(conn.source, {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
    });
    if (!decision.allowed) {
      metrics.intentionDenials.inc({ listener: 'public', layer: 'l7' });
      req.resume();
      localReply(res, 403, ENVOY_TEXT.rbacDenied);
      return;
    }
    const l = cfg.listener;
    const app = l.localApp;
    const target = this.#localTarget();
    forwardHttp(req, res, {
      headers: forwardHeaders(req.rawHeaders, { 'x-forwarded-client-cert': conn.xfcc }),
      // A second attempt: a pooled connection the app had just closed, or a failed connect.
      pick: (n) => (n < 2 && app.port !== 0 ? target : undefined),
      maxAttempts: 2,
      connectTimeoutMs: l.localConnectTimeoutMs,
      requestTimeoutMs: requestTimeoutOf(l),
      noTarget: (r) => localReply(r, 503, ENVOY_TEXT.connectFailure),
      onTarget: (name) => {
        upstream = name;
      },
    });
  }

  /** The local app as a forwarding target, over the keep-alive pool. */
  #localTarget(): ForwardTarget {
    const app = this.#cfg.listener.localApp;
    const agent = this.#localAgent;
    const target: ForwardTarget = {
      name: `${app.address}:${app.port}`,
      secure: false,
      request: (method, path, headers) =>
        httpRequest({ agent, host: app.address, port: app.port, method, path, headers }),
      connected: () => undefined,
      failed: (err) =>
        this.#deps.logger.debug(
          { app: target.name, err: err.message },
          'proxy: local app connect failed',
        ),
      done: () => undefined,
    };
    return target;
  }

  /** An upgrade request (WebSocket): authorized like any request, then piped after the 101. */
  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.pause();
    const conn = this.#http1.get(socket);
    if (conn === undefined) {
      socket.destroy();
      return;
    }
    const { metrics } = this.#deps;
    const cfg = this.#cfg;
    const started = performance.now();
    let upstream: string | undefined;
    let status = 0;
    socket.once('close', () => {
      if (status > 0) metrics.requests.inc({ listener: 'public', code: String(status) });
      this.#deps.accessLog?.({
        kind: 'http',
        listener: 'public',
        source: conn.source,
        method: req.method ?? '',
        path: req.url ?? '',
        status,
        ...(upstream !== undefined ? { upstream } : {}),
        durationMs: performance.now() - started,
      });
    });
    if (conn.overflow) {
      status = 503;
      rawReply(socket, 503, ENVOY_TEXT.overflow, { 'x-envoy-overloaded': 'true' });
      return;
    }
    const decision = cfg.authorizer.request(conn.source, {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
    });
    if (!decision.allowed) {
      metrics.intentionDenials.inc({ listener: 'public', layer: 'l7' });
      status = 403;
      rawReply(socket, 403, ENVOY_TEXT.rbacDenied);
      return;
    }
    this.#upgraded.set(socket, { source: conn.source, req });
    socket.once('close', () => this.#upgraded.delete(socket));
    const l = cfg.listener;
    const app = l.localApp;
    const target = this.#localTarget();
    forwardUpgrade(req, socket, head, {
      headers: forwardHeaders(req.rawHeaders, { 'x-forwarded-client-cert': conn.xfcc }),
      pick: (n) => (n < 2 && app.port !== 0 ? target : undefined),
      maxAttempts: 2,
      connectTimeoutMs: l.localConnectTimeoutMs,
      requestTimeoutMs: requestTimeoutOf(l),
      noTarget: () => [503, ENVOY_TEXT.connectFailure],
      onTarget: (name) => {
        upstream = name;
      },
      onStatus: (s) => {
        status = s;
      },
    });
  }

  /** Stops accepting; open connections stay until they end. */
  close(): void {
    this.server.close();
    this.#http.close();
  }

  /** Closes every open connection now. */
  destroy(): void {
    this.close();
    for (const s of this.#sockets) s.destroy();
    this.#localAgent.destroy();
  }
}
