/**
 * The accepting side: an HTTP(S) server that upgrades `RPC_PATH` to WebSocket and runs an
 * {@link RpcConnection} per peer. With `tls.requestCert`, peers must present a certificate
 * chained to `tls.ca` (mutual TLS between servers).
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { DEFAULTS, PROTOCOL_VERSIONS, RPC_PATH } from './constants.js';
import type { Handlers } from './connection.js';
import { RpcConnection, limitsFrom, type ConnectionLimits, type PeerInfo } from './connection.js';
import { MAX_NODE_NAME, NODE_HEADER, chooseVersion } from './handshake.js';
import { silentLogger, type Logger } from './logger.js';

export interface ServerTlsOptions {
  key: string | Buffer;
  cert: string | Buffer;
  /** Roots that client certificates must chain to. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Ask peers for a certificate and refuse those without a valid one. Default false. */
  requestCert?: boolean;
}

export interface RpcServerOptions extends Partial<ConnectionLimits> {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  handlers: Handlers;
  tls?: ServerTlsOptions;
  logger?: Logger;
  maxConnections?: number;
  /** Protocol versions accepted (tests use this to simulate an old or new peer). */
  protocolVersions?: readonly number[];
}

export class RpcServer {
  readonly #http: HttpServer;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<RpcConnection>();
  readonly #log: Logger;
  readonly #tls: boolean;
  readonly #listeners: Array<(c: RpcConnection) => void> = [];

  private constructor(http: HttpServer, wss: WebSocketServer, log: Logger, tls: boolean) {
    this.#http = http;
    this.#wss = wss;
    this.#log = log;
    this.#tls = tls;
  }

  static async listen(opts: RpcServerOptions): Promise<RpcServer> {
    const log = opts.logger ?? silentLogger;
    const limits = limitsFrom(opts);
    const maxConnections = opts.maxConnections ?? DEFAULTS.maxConnections;
    const versions = opts.protocolVersions ?? PROTOCOL_VERSIONS;
    const http = opts.tls
      ? createHttpsServer({
          key: opts.tls.key,
          cert: opts.tls.cert,
          ...(opts.tls.ca === undefined ? {} : { ca: opts.tls.ca }),
          requestCert: opts.tls.requestCert ?? false,
          rejectUnauthorized: opts.tls.requestCert ?? false,
          minVersion: 'TLSv1.2',
        })
      : createHttpServer();
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end('this port speaks the Trellis RPC protocol over WebSocket\n');
    });
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const server = new RpcServer(http, wss, log, opts.tls !== undefined);
    http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const reject = (status: number, text: string, headers: Record<string, string> = {}) => {
        const extra = Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('');
        socket.end(
          `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\n${extra}content-length: 0\r\n\r\n`,
        );
      };
      const path = (req.url ?? '').split('?')[0];
      if (path !== RPC_PATH) return reject(404, 'Not Found');
      const version = chooseVersion(req.headers['sec-websocket-protocol'], versions);
      if (version === undefined) {
        log.warn(
          { offered: req.headers['sec-websocket-protocol'] ?? '' },
          'rpc peer shares no protocol version',
        );
        return reject(426, 'Upgrade Required', { 'x-trellis-rpc-versions': versions.join(',') });
      }
      if (server.#connections.size >= maxConnections) {
        log.warn({ limit: maxConnections }, 'rpc connection limit reached; refusing');
        return reject(503, 'Service Unavailable');
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const nodeHeader = req.headers[NODE_HEADER];
        const tlsSocket = server.#tls ? (req.socket as TLSSocket) : undefined;
        const cert = tlsSocket?.getPeerCertificate();
        const peer: PeerInfo = {
          remoteAddress: req.socket.remoteAddress ?? '',
          remotePort: req.socket.remotePort ?? 0,
          nodeName: typeof nodeHeader === 'string' ? nodeHeader.slice(0, MAX_NODE_NAME) : undefined,
          certificate: cert !== undefined && Object.keys(cert).length > 0 ? cert : undefined,
        };
        const conn = new RpcConnection(ws, {
          side: 'acceptor',
          handlers: opts.handlers,
          limits,
          logger: log,
          peer,
        });
        server.#connections.add(conn);
        void conn.closed.then(() => server.#connections.delete(conn));
        for (const fn of server.#listeners) fn(conn);
      });
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        http.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** The bound address (the real port when listening on 0). */
  address(): { host: string; port: number } {
    const a = this.#http.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** The URL a client dials. */
  get url(): string {
    const { host, port } = this.address();
    const h = host.includes(':') ? `[${host}]` : host;
    return `${this.#tls ? 'wss' : 'ws'}://${h}:${port}${RPC_PATH}`;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  get connections(): ReadonlySet<RpcConnection> {
    return this.#connections;
  }

  onConnection(fn: (c: RpcConnection) => void): void {
    this.#listeners.push(fn);
  }

  /** Stops accepting, closes every connection, and resolves once the port is released. */
  async close(): Promise<void> {
    const closing = [...this.#connections].map((c) => {
      c.close(1001, 'server shutting down');
      return c.closed;
    });
    const timer = setTimeout(() => {
      for (const c of this.#connections) c.terminate();
    }, 1000);
    await Promise.all(closing);
    clearTimeout(timer);
    this.#wss.close();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
    this.#log.debug({}, 'rpc server closed');
  }
}
