/**
 * An upstream listener: plaintext from the local app on `bindAddress:bindPort` (loopback by
 * default), mTLS from here to a healthy endpoint of the upstream (see cluster.ts).
 *
 * - tcp and grpc: each connection goes to one endpoint; a failed connect tries the next
 *   endpoint (up to MAX_CONNECT_ATTEMPTS); no endpoint left closes the connection.
 * - http and http2 (HTTP/1.1): each request goes to an endpoint over its keep-alive pool
 *   (no handshake per request); no endpoint is Envoy's 503 `no healthy upstream`. An upgrade
 *   request (WebSocket) is forwarded with its upgrade headers and, after the 101, the local
 *   app's connection and the endpoint's are piped both ways.
 *
 * The listener is keyed by address and port: a new snapshot that keeps them keeps the socket
 * bound and only swaps the configuration (protocol, endpoints, timeouts) for new
 * connections and requests.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net';
import type { SnapshotUpstream } from '@trellis/connect';
import { Cluster, type Endpoint } from './cluster.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_CONNECT_ATTEMPTS,
  HTTP_SERVER_OPTIONS,
  MAX_LISTENER_CONNECTIONS,
  UPSTREAM_KEEPALIVE_MS,
  isL7,
  type OutlierOptions,
} from './config.js';
import { ENVOY_TEXT, forwardHeaders, forwardHttp, forwardUpgrade, localReply } from './forward.js';
import { listen } from './listen.js';
import type { ListenerDeps } from './public-listener.js';
import { forwardTcp } from './tcp-forward.js';
import type { TlsGeneration } from './tls-generation.js';

export class UpstreamListenerRuntime {
  readonly server: Server;
  readonly cluster: Cluster;
  readonly #http: HttpServer;
  readonly #deps: ListenerDeps;
  #upstream: SnapshotUpstream;
  #label: { listener: string };
  readonly #sockets = new Set<Socket>();

  constructor(
    upstream: SnapshotUpstream,
    gen: TlsGeneration | null,
    deps: ListenerDeps & { readonly outlier: OutlierOptions },
  ) {
    this.#deps = deps;
    this.#upstream = upstream;
    this.#label = { listener: `upstream:${upstream.id}` };
    this.cluster = new Cluster(upstream.id, deps);
    this.cluster.update(upstream, gen);
    this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (s) =>
      this.#onConnection(s),
    );
    this.server.maxConnections = MAX_LISTENER_CONNECTIONS;
    this.server.on('drop', () => deps.metrics.overflow.inc(this.#label));
    this.#http = createHttpServer(HTTP_SERVER_OPTIONS, (req, res) => this.#onRequest(req, res));
    this.#http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#http.keepAliveTimeout = UPSTREAM_KEEPALIVE_MS;
    this.#http.emit('listening');
  }

  get upstream(): SnapshotUpstream {
    return this.#upstream;
  }

  /** The port the configuration asks for (0: any). */
  get configuredPort(): number {
    return this.#upstream.bindPort;
  }

  listen(): Promise<void> {
    return listen(this.server, this.#upstream.bindAddress, this.#upstream.bindPort);
  }

  address(): AddressInfo | null {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a : null;
  }

  update(upstream: SnapshotUpstream, gen: TlsGeneration | null): void {
    this.#upstream = upstream;
    this.#label = { listener: `upstream:${upstream.id}` };
    this.cluster.update(upstream, gen);
  }

  #onConnection(socket: Socket): void {
    const { metrics, logger } = this.#deps;
    const label = this.#label;
    this.#sockets.add(socket);
    metrics.connections.inc(label);
    metrics.activeConnections.inc(label);
    socket.on('error', (err) =>
      logger.debug({ err: err.message }, 'proxy: upstream listener connection error'),
    );
    socket.once('close', () => {
      this.#sockets.delete(socket);
      metrics.activeConnections.dec(label);
      metrics.bytesIn.inc(label, socket.bytesRead);
      metrics.bytesOut.inc(label, socket.bytesWritten);
    });
    if (isL7(this.#upstream.protocol)) {
      this.#http.emit('connection', socket);
      return;
    }
    forwardTcp(socket, this.cluster, this.#deps, this.#label.listener);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const { metrics } = this.#deps;
    const cluster = this.cluster;
    const u = this.#upstream;
    const label = this.#label.listener;
    const started = performance.now();
    let upstream: string | undefined;
    res.once('close', () => {
      if (res.headersSent) metrics.requests.inc({ listener: label, code: String(res.statusCode) });
      this.#deps.accessLog?.({
        kind: 'http',
        listener: label,
        method: req.method ?? '',
        path: req.url ?? '',
        status: res.headersSent ? res.statusCode : 0,
        ...(upstream !== undefined ? { upstream } : {}),
        durationMs: performance.now() - started,
      });
    });
    const tried = new Set<Endpoint>();
    forwardHttp(req, res, {
      headers: forwardHeaders(req.rawHeaders),
      pick: () => cluster.httpTarget(tried),
      maxAttempts: MAX_CONNECT_ATTEMPTS,
      connectTimeoutMs: u.connectTimeoutMs,
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
    const cluster = this.cluster;
    const u = this.#upstream;
    const label = this.#label.listener;
    const started = performance.now();
    let upstream: string | undefined;
    let status = 0;
    socket.once('close', () => {
      if (status > 0) metrics.requests.inc({ listener: label, code: String(status) });
      this.#deps.accessLog?.({
        kind: 'http',
        listener: label,
        method: req.method ?? '',
        path: req.url ?? '',
        status,
        ...(upstream !== undefined ? { upstream } : {}),
        durationMs: performance.now() - started,
      });
    });
    const tried = new Set<Endpoint>();
    forwardUpgrade(req, socket, head, {
      headers: forwardHeaders(req.rawHeaders),
      pick: () => cluster.httpTarget(tried),
      maxAttempts: MAX_CONNECT_ATTEMPTS,
      connectTimeoutMs: u.connectTimeoutMs,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      noTarget: () => {
        metrics.noHealthyUpstream.inc({ upstream: cluster.id });
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
    this.cluster.close();
  }

  /** Closes every connection now. */
  destroy(): void {
    this.close();
    for (const s of this.#sockets) s.destroy();
    this.cluster.destroy();
  }
}
