/**
 * One RPC connection over one WebSocket. Symmetric: either side may call the other's
 * request handlers and open streams, so a pair of Raft servers needs one connection. Stream
 * ids are split by parity (the dialer opens odd ids, the acceptor even ones) so the two
 * sides never collide; request ids are per direction and need no split.
 *
 * Contracts:
 * - Every call settles exactly once: answer, remote error, timeout, abort or disconnect.
 * - At most `maxInflightPerConnection` handlers run at once per connection; excess requests
 *   are answered with ERR_RPC_OVERLOADED without running.
 * - A malformed frame closes the connection (code 1002) and is logged; it never throws out
 *   of the socket callbacks.
 */
import type { Socket } from 'node:net';
import type { WebSocket, RawData } from 'ws';
import type { PeerCertificate } from 'node:tls';
import { DEFAULTS } from './constants.js';
import { RpcError, RpcErrorCode } from './errors.js';
import { FrameError, FrameType, decodeFrame, encodeFrame, type Frame } from './frame.js';
import type { Logger } from './logger.js';
import { StreamState, type RpcStream, type StreamHost } from './stream.js';

export interface PeerInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The node name the peer announced in its handshake, if any (not authenticated). */
  readonly nodeName: string | undefined;
  /** The peer's TLS client or server certificate, when the connection is TLS. */
  readonly certificate: PeerCertificate | undefined;
}

export interface HandlerContext {
  readonly peer: PeerInfo;
  /** Aborted when the connection closes: long handlers should stop. */
  readonly signal: AbortSignal;
}

export type RequestHandler = (body: unknown, ctx: HandlerContext) => unknown;
export type StreamHandler = (
  stream: RpcStream,
  body: unknown,
  ctx: HandlerContext,
) => void | Promise<void>;

/** Method name → handler. Built once and shared by every connection of a server or client. */
export class Handlers {
  readonly #requests = new Map<string, RequestHandler>();
  readonly #streams = new Map<string, StreamHandler>();

  request(method: string, fn: RequestHandler): this {
    this.#requests.set(method, fn);
    return this;
  }

  stream(method: string, fn: StreamHandler): this {
    this.#streams.set(method, fn);
    return this;
  }

  getRequest(method: string): RequestHandler | undefined {
    return this.#requests.get(method);
  }

  getStream(method: string): StreamHandler | undefined {
    return this.#streams.get(method);
  }
}

export interface CallOptions {
  /** Default: the connection's requestTimeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ConnectionLimits {
  maxMessageBytes: number;
  requestTimeoutMs: number;
  maxInflightPerConnection: number;
  maxStreamsPerConnection: number;
  streamWindow: number;
  sendHighWaterBytes: number;
  keepaliveIntervalMs: number;
}

export interface ConnectionStats {
  /** Frames handed to the socket. */
  framesSent: number;
  callsSent: number;
  requestsHandled: number;
  requestsRefused: number;
  malformedFrames: number;
  lateResponses: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

export class RpcConnection implements StreamHost {
  readonly peer: PeerInfo;
  readonly stats: ConnectionStats = {
    framesSent: 0,
    callsSent: 0,
    requestsHandled: 0,
    requestsRefused: 0,
    malformedFrames: 0,
    lateResponses: 0,
  };
  readonly #ws: WebSocket;
  readonly #handlers: Handlers;
  readonly #limits: ConnectionLimits;
  readonly #log: Logger;
  readonly #pending = new Map<number, Pending>();
  readonly #streams = new Map<number, StreamState>();
  readonly #abort = new AbortController();
  #nextCallId = 0;
  #nextStreamId: number;
  #inflight = 0;
  /** The socket corked for this turn's frames, if any (see #cork). */
  #corkedSocket: Socket | null = null;
  /** Data frames waiting for the socket to drain (see #send). */
  readonly #outbox: Array<{ frame: Buffer; resolve: () => void; reject: (e: Error) => void }> = [];
  #closed = false;
  #alive = true;
  readonly #keepalive: NodeJS.Timeout;
  readonly #closeListeners: Array<(err: RpcError) => void> = [];
  readonly closed: Promise<void>;

  constructor(
    ws: WebSocket,
    opts: {
      side: 'dialer' | 'acceptor';
      handlers: Handlers;
      limits: ConnectionLimits;
      logger: Logger;
      peer: PeerInfo;
    },
  ) {
    this.#ws = ws;
    this.#handlers = opts.handlers;
    this.#limits = opts.limits;
    this.#log = opts.logger;
    this.peer = opts.peer;
    this.#nextStreamId = opts.side === 'dialer' ? 1 : 2;
    ws.binaryType = 'nodebuffer';
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.#onClosed(code, reason.toString());
        resolve();
      });
    });
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', (err) =>
      this.#log.debug({ err: err.message, peer: this.peer.remoteAddress }, 'rpc socket error'),
    );
    ws.on('pong', () => (this.#alive = true));
    this.#keepalive = setInterval(() => {
      if (!this.#alive) {
        this.#log.warn(
          { peer: this.peer.remoteAddress },
          'rpc peer missed keepalive; dropping connection',
        );
        ws.terminate();
        return;
      }
      this.#alive = false;
      ws.ping();
    }, this.#limits.keepaliveIntervalMs);
    this.#keepalive.unref();
  }

  /** Bytes queued in the socket's send buffer, not yet written to the kernel. */
  get bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /** Registers a listener for the close of this connection, with the reason. */
  onClose(fn: (err: RpcError) => void): void {
    this.#closeListeners.push(fn);
  }

  /** Calls a method on the peer. See the class contract for how it settles. */
  call(method: string, body: unknown, opts: CallOptions = {}): Promise<unknown> {
    if (this.#closed)
      return Promise.reject(new RpcError(RpcErrorCode.DISCONNECTED, 'connection is closed'));
    if (opts.signal?.aborted)
      return Promise.reject(new RpcError(RpcErrorCode.ABORTED, `${method}: aborted`));
    const id = ++this.#nextCallId;
    let frame: Buffer;
    try {
      frame = this.#encode({ type: FrameType.Request, id, method, body });
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    this.stats.callsSent++;
    return new Promise((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.#limits.requestTimeoutMs;
      const onAbort = () =>
        this.#settle(id, new RpcError(RpcErrorCode.ABORTED, `${method}: aborted`));
      const timer = setTimeout(
        () =>
          this.#settle(
            id,
            new RpcError(RpcErrorCode.TIMEOUT, `${method}: no answer within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve,
        reject,
        timer,
        cleanup: () => opts.signal?.removeEventListener('abort', onAbort),
      });
      this.#send(frame).catch((e: Error) => this.#settle(id, e));
    });
  }

  /** Opens a bidirectional stream to the peer's stream handler for `method`. */
  openStream(method: string, body: unknown): RpcStream {
    if (this.#closed) throw new RpcError(RpcErrorCode.DISCONNECTED, 'connection is closed');
    if (this.#streams.size >= this.#limits.maxStreamsPerConnection) {
      throw new RpcError(RpcErrorCode.OVERLOADED, `too many open streams (${this.#streams.size})`);
    }
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const frame = this.#encode({ type: FrameType.StreamOpen, streamId: id, method, body });
    const s = new StreamState(id, method, this, this.#limits.streamWindow);
    this.#streams.set(id, s);
    this.#send(frame).catch((e: RpcError) => s.fail(e));
    s.start();
    return s;
  }

  close(code = 1000, reason = 'closing'): void {
    if (this.#closed) return;
    this.#ws.close(code, reason);
  }

  /** Drops the connection at once (no close handshake). */
  terminate(): void {
    this.#ws.terminate();
  }

  // --- StreamHost -------------------------------------------------------------------

  sendMessage(streamId: number, body: unknown): Promise<void> {
    return this.#send(this.#encode({ type: FrameType.StreamMessage, streamId, body }));
  }

  sendEnd(streamId: number): void {
    // Queued like messages, so that the end never overtakes the stream's last messages.
    this.#send(this.#encode({ type: FrameType.StreamEnd, streamId })).catch(() => undefined);
  }

  sendCancel(streamId: number, code: string, message: string): void {
    this.#sendRaw(this.#encode({ type: FrameType.StreamCancel, streamId, code, message }));
  }

  sendCredit(streamId: number, n: number): void {
    this.#sendRaw(this.#encode({ type: FrameType.StreamCredit, streamId, n }));
  }

  release(streamId: number): void {
    this.#streams.delete(streamId);
  }

  // --- internals ----------------------------------------------------------------------

  #encode(f: Frame): Buffer {
    const b = encodeFrame(f);
    if (b.length > this.#limits.maxMessageBytes) {
      throw new RpcError(
        RpcErrorCode.TOO_LARGE,
        `message of ${b.length} bytes exceeds the limit of ${this.#limits.maxMessageBytes}`,
        { size: b.length, limit: this.#limits.maxMessageBytes },
      );
    }
    return b;
  }

  /**
   * Sends a control frame (credit, cancel, response, error) at once, bypassing the
   * outbox: these are small or bounded by the in-flight limit, and must not wait behind
   * bulk data (a credit stuck behind messages could stall both directions).
   */
  #sendRaw(frame: Buffer): void {
    if (this.#closed) return;
    this.stats.framesSent++;
    this.#cork();
    this.#ws.send(frame, { binary: true }, () => this.#pump());
  }

  /**
   * Sends a data frame in FIFO order, respecting back-pressure: while the socket holds
   * `sendHighWaterBytes` or more, frames wait in the outbox; the check and the send happen
   * in the same turn, so concurrent senders cannot all slip past the mark.
   */
  #send(frame: Buffer): Promise<void> {
    if (this.#closed)
      return Promise.reject(new RpcError(RpcErrorCode.DISCONNECTED, 'connection is closed'));
    if (this.#outbox.length === 0 && this.#ws.bufferedAmount < this.#limits.sendHighWaterBytes) {
      this.#sendRaw(frame);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => this.#outbox.push({ frame, resolve, reject }));
  }

  /**
   * Coalesces the frames written in one turn of the event loop into one write(2): the
   * socket is corked at the first frame and uncorked once the current tick's callbacks
   * and microtasks are done, or earlier by {@link flush}.
   */
  #cork(): void {
    if (this.#corkedSocket !== null) return;
    const sock = (this.#ws as unknown as { _socket?: Socket })._socket;
    if (!sock) return;
    this.#corkedSocket = sock;
    sock.cork();
    process.nextTick(() => this.flush());
  }

  /** Writes out the frames coalesced so far, now (call before blocking the thread). */
  flush(): void {
    const sock = this.#corkedSocket;
    if (sock === null) return;
    this.#corkedSocket = null;
    sock.uncork();
  }

  /** Moves frames from the outbox to the socket once it has drained below half the mark. */
  #pump(): void {
    while (
      this.#outbox.length > 0 &&
      !this.#closed &&
      this.#ws.bufferedAmount < this.#limits.sendHighWaterBytes / 2
    ) {
      const next = this.#outbox.shift()!;
      this.#sendRaw(next.frame);
      next.resolve();
    }
  }

  #settle(id: number, result: Error | { value: unknown }): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    p.cleanup();
    if (result instanceof Error) p.reject(result);
    else p.resolve(result.value);
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (!isBinary) {
      this.#protocolViolation(new FrameError('text frames are not accepted'));
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer));
    } catch (e) {
      this.#protocolViolation(e as Error);
      return;
    }
    switch (frame.type) {
      case FrameType.Request:
        this.#onRequest(frame.id, frame.method, frame.body);
        return;
      case FrameType.Response:
        if (this.#pending.has(frame.id)) this.#settle(frame.id, { value: frame.body });
        else this.stats.lateResponses++;
        return;
      case FrameType.Error:
        if (this.#pending.has(frame.id))
          this.#settle(frame.id, new RpcError(frame.code, frame.message, frame.meta));
        else this.stats.lateResponses++;
        return;
      case FrameType.StreamOpen:
        this.#onStreamOpen(frame.streamId, frame.method, frame.body);
        return;
      case FrameType.StreamMessage:
        this.#streams.get(frame.streamId)?.onMessage(frame.body);
        return;
      case FrameType.StreamEnd:
        this.#streams.get(frame.streamId)?.onEnd();
        return;
      case FrameType.StreamCancel:
        this.#streams.get(frame.streamId)?.fail(new RpcError(frame.code, frame.message));
        return;
      case FrameType.StreamCredit:
        this.#streams.get(frame.streamId)?.onCredit(frame.n);
        return;
    }
  }

  #protocolViolation(err: Error): void {
    this.stats.malformedFrames++;
    this.#log.warn(
      { err: err.message, peer: this.peer.remoteAddress },
      'rpc protocol violation; closing connection',
    );
    this.close(1002, 'protocol error');
  }

  #ctx(): HandlerContext {
    return { peer: this.peer, signal: this.#abort.signal };
  }

  #onRequest(id: number, method: string, body: unknown): void {
    const handler = this.#handlers.getRequest(method);
    if (!handler) {
      this.#replyError(id, new RpcError(RpcErrorCode.UNKNOWN_METHOD, `unknown method ${method}`));
      return;
    }
    if (this.#inflight >= this.#limits.maxInflightPerConnection) {
      this.stats.requestsRefused++;
      this.#replyError(
        id,
        new RpcError(RpcErrorCode.OVERLOADED, `too many requests in flight (${this.#inflight})`, {
          limit: this.#limits.maxInflightPerConnection,
        }),
      );
      return;
    }
    this.#inflight++;
    this.stats.requestsHandled++;
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(handler(body, this.#ctx()));
    } catch (e) {
      result = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    result
      .then(
        (value) => {
          let frame: Buffer;
          try {
            frame = this.#encode({ type: FrameType.Response, id, body: value });
          } catch (e) {
            this.#replyError(id, e);
            return;
          }
          this.#sendRaw(frame);
        },
        (e: unknown) => this.#replyError(id, e),
      )
      .finally(() => this.#inflight--);
  }

  #replyError(id: number, e: unknown): void {
    const err =
      e instanceof RpcError
        ? e
        : new RpcError(RpcErrorCode.HANDLER, e instanceof Error ? e.message : String(e));
    if (!(e instanceof RpcError)) this.#log.error({ err: err.message }, 'rpc handler failed');
    let meta: Record<string, unknown> = { ...err.meta };
    try {
      encodeFrame({ type: FrameType.Error, id, code: err.code, message: err.message, meta });
    } catch {
      meta = {}; // metadata that msgpack cannot carry is dropped, the error itself is not
    }
    this.#sendRaw(
      encodeFrame({ type: FrameType.Error, id, code: err.code, message: err.message, meta }),
    );
  }

  #onStreamOpen(streamId: number, method: string, body: unknown): void {
    const ownParity = this.#nextStreamId % 2;
    if (streamId % 2 === ownParity || this.#streams.has(streamId)) {
      this.#protocolViolation(new FrameError(`stream id ${streamId} is not the peer's to open`));
      return;
    }
    const handler = this.#handlers.getStream(method);
    if (!handler) {
      this.sendCancel(streamId, RpcErrorCode.UNKNOWN_METHOD, `unknown stream method ${method}`);
      return;
    }
    if (this.#streams.size >= this.#limits.maxStreamsPerConnection) {
      this.sendCancel(
        streamId,
        RpcErrorCode.OVERLOADED,
        `too many open streams (${this.#streams.size})`,
      );
      return;
    }
    const s = new StreamState(streamId, method, this, this.#limits.streamWindow);
    this.#streams.set(streamId, s);
    s.start();
    Promise.resolve()
      .then(() => handler(s, body, this.#ctx()))
      .catch((e: unknown) => {
        this.#log.error(
          { err: e instanceof Error ? e.message : String(e), method },
          'rpc stream handler failed',
        );
        s.cancel(e instanceof Error ? e.message : String(e));
      });
  }

  #onClosed(code: number, reason: string): void {
    this.#closed = true;
    clearInterval(this.#keepalive);
    this.#abort.abort();
    const err = new RpcError(
      RpcErrorCode.DISCONNECTED,
      `connection closed (${code}${reason === '' ? '' : ' ' + reason})`,
      { closeCode: code },
    );
    for (const id of [...this.#pending.keys()]) this.#settle(id, err);
    for (const s of [...this.#streams.values()]) s.fail(err);
    for (const w of this.#outbox.splice(0)) w.reject(err);
    for (const fn of this.#closeListeners) fn(err);
  }
}

export function limitsFrom(opts: Partial<ConnectionLimits>): ConnectionLimits {
  return {
    maxMessageBytes: opts.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
    requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    maxInflightPerConnection: opts.maxInflightPerConnection ?? DEFAULTS.maxInflightPerConnection,
    maxStreamsPerConnection: opts.maxStreamsPerConnection ?? DEFAULTS.maxStreamsPerConnection,
    streamWindow: opts.streamWindow ?? DEFAULTS.streamWindow,
    sendHighWaterBytes: opts.sendHighWaterBytes ?? DEFAULTS.sendHighWaterBytes,
    keepaliveIntervalMs: opts.keepaliveIntervalMs ?? DEFAULTS.keepaliveIntervalMs,
  };
}
