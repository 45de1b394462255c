/**
 * The dialing side: keeps one connection to one server URL, reconnecting with exponential
 * back-off and jitter whenever it drops, until closed.
 *
 * Calls made while disconnected wait for the connection (bounded by `maxPendingCalls` and
 * by their own timeout). A call in flight when the connection drops fails with
 * ERR_RPC_DISCONNECTED and is not retried: only the caller knows whether it is idempotent.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { DEFAULTS, PROTOCOL_VERSIONS } from './constants.js';
import {
  Handlers,
  RpcConnection,
  limitsFrom,
  type CallOptions,
  type ConnectionLimits,
} from './connection.js';
import { RpcError, RpcErrorCode } from './errors.js';
import { NODE_HEADER, offeredProtocols } from './handshake.js';
import { silentLogger, type Logger } from './logger.js';
import type { RpcStream } from './stream.js';

export interface ClientTlsOptions {
  /** Roots the server's certificate must chain to. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate and key, for servers that require mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Name to verify the server certificate against (default: the URL's host). */
  servername?: string;
}

export type ClientState = 'connecting' | 'connected' | 'backoff' | 'closed';

export interface RpcClientOptions extends Partial<ConnectionLimits> {
  /** ws://host:port/trellis/rpc or wss://… (see RpcServer.url). */
  url: string;
  /** Handlers the server may call back on this connection (symmetric RPC). */
  handlers?: Handlers;
  tls?: ClientTlsOptions;
  logger?: Logger;
  nodeName?: string;
  maxPendingCalls?: number;
  connectTimeoutMs?: number;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Uniform [0,1) source for back-off jitter; injectable for tests. */
  random?: () => number;
  protocolVersions?: readonly number[];
}

export class RpcClient {
  readonly #opts: RpcClientOptions;
  readonly #limits: ConnectionLimits;
  readonly #log: Logger;
  readonly #handlers: Handlers;
  #conn: RpcConnection | null = null;
  #state: ClientState = 'connecting';
  #attempt = 0;
  #timer: NodeJS.Timeout | null = null;
  #waiters: Array<{ resolve: (c: RpcConnection) => void; reject: (e: Error) => void }> = [];
  #lastError: RpcError | null = null;
  readonly #stateListeners: Array<(s: ClientState, err?: RpcError) => void> = [];
  /** Completed connects, for tests and metrics. */
  connects = 0;

  constructor(opts: RpcClientOptions) {
    this.#opts = opts;
    this.#limits = limitsFrom(opts);
    this.#log = opts.logger ?? silentLogger;
    this.#handlers = opts.handlers ?? new Handlers();
    this.#dial();
  }

  get state(): ClientState {
    return this.#state;
  }

  /** The error that ended the last connection or connect attempt. */
  get lastError(): RpcError | null {
    return this.#lastError;
  }

  onStateChange(fn: (s: ClientState, err?: RpcError) => void): void {
    this.#stateListeners.push(fn);
  }

  /** Resolves with the open connection, waiting (bounded) if it is being re-established. */
  connection(opts: CallOptions = {}): Promise<RpcConnection> {
    if (this.#state === 'closed')
      return Promise.reject(new RpcError(RpcErrorCode.CLOSED, 'client is closed'));
    if (this.#conn?.isOpen) return Promise.resolve(this.#conn);
    const max = this.#opts.maxPendingCalls ?? DEFAULTS.maxPendingCalls;
    if (this.#waiters.length >= max) {
      return Promise.reject(
        new RpcError(
          RpcErrorCode.OVERLOADED,
          `${this.#waiters.length} calls already wait for a connection`,
        ),
      );
    }
    const timeoutMs = opts.timeoutMs ?? this.#limits.requestTimeoutMs;
    return new Promise<RpcConnection>((resolve, reject) => {
      const entry = {
        resolve: (c: RpcConnection) => {
          done();
          resolve(c);
        },
        reject: (e: Error) => {
          done();
          reject(e);
        },
      };
      const onAbort = () =>
        entry.reject(new RpcError(RpcErrorCode.ABORTED, 'aborted while connecting'));
      const timer = setTimeout(() => {
        const why = this.#lastError ? `: ${this.#lastError.message}` : '';
        entry.reject(
          new RpcError(RpcErrorCode.TIMEOUT, `not connected within ${timeoutMs} ms${why}`),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        const i = this.#waiters.indexOf(entry);
        if (i >= 0) this.#waiters.splice(i, 1);
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(entry);
    });
  }

  /**
   * Calls a server method; see the module contract for disconnects. When connected, the
   * request is written to the socket before this returns (no microtask hop), so a caller
   * about to block (e.g. on fsync) has already handed its messages to the kernel.
   */
  call(method: string, body: unknown, opts: CallOptions = {}): Promise<unknown> {
    if (this.#conn?.isOpen) return this.#conn.call(method, body, opts);
    return this.#callWhenConnected(method, body, opts);
  }

  /** Writes out frames coalesced in the current turn now (see RpcConnection.flush). */
  flush(): void {
    this.#conn?.flush();
  }

  /**
   * Skips the remaining back-off and dials at once: for callers that learn the server is
   * back (e.g. it just sent us a request) before the back-off timer would have noticed.
   */
  reconnectNow(): void {
    if (this.#state !== 'backoff') return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#dial();
  }

  async #callWhenConnected(method: string, body: unknown, opts: CallOptions): Promise<unknown> {
    const started = Date.now();
    const conn = await this.connection(opts);
    const timeoutMs = opts.timeoutMs ?? this.#limits.requestTimeoutMs;
    const left = Math.max(1, timeoutMs - (Date.now() - started));
    return conn.call(method, body, { ...opts, timeoutMs: left });
  }

  /** Opens a stream on the current connection (waiting for one if needed). */
  async openStream(method: string, body: unknown, opts: CallOptions = {}): Promise<RpcStream> {
    const conn = await this.connection(opts);
    return conn.openStream(method, body);
  }

  /** Stops reconnecting, closes the connection, fails everything waiting. */
  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    this.#setState('closed');
    if (this.#timer) clearTimeout(this.#timer);
    const err = new RpcError(RpcErrorCode.CLOSED, 'client is closed');
    for (const w of [...this.#waiters]) w.reject(err);
    const conn = this.#conn;
    if (!conn) return Promise.resolve();
    conn.close(1000, 'client closing');
    return conn.closed;
  }

  #setState(s: ClientState, err?: RpcError): void {
    this.#state = s;
    for (const fn of this.#stateListeners) fn(s, err);
  }

  #dial(): void {
    this.#setState('connecting');
    const o = this.#opts;
    const headers: Record<string, string> = {};
    if (o.nodeName !== undefined) headers[NODE_HEADER] = o.nodeName;
    const ws = new WebSocket(o.url, offeredProtocols(o.protocolVersions ?? PROTOCOL_VERSIONS), {
      maxPayload: this.#limits.maxMessageBytes,
      perMessageDeflate: false,
      handshakeTimeout: o.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      headers,
      ...(o.tls?.ca === undefined ? {} : { ca: o.tls.ca }),
      ...(o.tls?.cert === undefined ? {} : { cert: o.tls.cert }),
      ...(o.tls?.key === undefined ? {} : { key: o.tls.key }),
      ...(o.tls?.servername === undefined ? {} : { servername: o.tls.servername }),
    });
    let failure: RpcError | null = null;
    ws.on('unexpected-response', (_req, res) => {
      const versions = res.headers['x-trellis-rpc-versions'];
      failure =
        res.statusCode === 426
          ? new RpcError(
              RpcErrorCode.VERSION,
              `server speaks protocol versions ${String(versions)}, this client ${offeredProtocols().join(',')}`,
            )
          : new RpcError(
              RpcErrorCode.CONNECT,
              `server refused the upgrade with HTTP ${res.statusCode}`,
              {
                status: res.statusCode ?? 0,
              },
            );
      ws.terminate();
    });
    ws.on('error', (e) => {
      failure ??= new RpcError(RpcErrorCode.CONNECT, `connect to ${o.url} failed: ${e.message}`);
    });
    ws.once('open', () => {
      const sock = (ws as unknown as { _socket: Socket })._socket;
      const tlsSock = sock as TLSSocket;
      const cert =
        typeof tlsSock.getPeerCertificate === 'function' ? tlsSock.getPeerCertificate() : undefined;
      const conn = new RpcConnection(ws, {
        side: 'dialer',
        handlers: this.#handlers,
        limits: this.#limits,
        logger: this.#log,
        peer: {
          remoteAddress: sock.remoteAddress ?? '',
          remotePort: sock.remotePort ?? 0,
          nodeName: undefined,
          certificate: cert !== undefined && Object.keys(cert).length > 0 ? cert : undefined,
        },
      });
      if (this.#state === 'closed') {
        conn.close(1000, 'client closing');
        return;
      }
      this.#conn = conn;
      this.#attempt = 0;
      this.connects++;
      this.#lastError = null;
      this.#setState('connected');
      for (const w of [...this.#waiters]) w.resolve(conn);
      conn.onClose((err) => {
        this.#conn = null;
        this.#lastError = err;
        if (this.#state !== 'closed') this.#scheduleReconnect(err);
      });
    });
    ws.once('close', () => {
      // A connect attempt that never opened.
      if (this.#conn === null && this.#state === 'connecting') {
        const err = failure ?? new RpcError(RpcErrorCode.CONNECT, `connect to ${o.url} failed`);
        this.#lastError = err;
        this.#scheduleReconnect(err);
      }
    });
  }

  #scheduleReconnect(err: RpcError): void {
    const base = this.#opts.reconnectBaseMs ?? DEFAULTS.reconnectBaseMs;
    const max = this.#opts.reconnectMaxMs ?? DEFAULTS.reconnectMaxMs;
    // A version mismatch will not fix itself quickly: wait the longest.
    const exp = err.code === RpcErrorCode.VERSION ? max : Math.min(max, base * 2 ** this.#attempt);
    const jitter = 0.5 + (this.#opts.random ?? Math.random)();
    const delay = Math.round(exp * jitter);
    this.#attempt++;
    const fields = { err: err.message, attempt: this.#attempt, delayMs: delay };
    if (err.code === RpcErrorCode.VERSION) this.#log.error(fields, 'rpc reconnecting');
    else this.#log.debug(fields, 'rpc reconnecting');
    this.#setState('backoff', err);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#state !== 'closed') this.#dial();
    }, delay);
    this.#timer.unref();
  }
}
