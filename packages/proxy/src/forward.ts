/**
 * HTTP/1.1 forwarding shared by the public listener (to the local app, plain HTTP), the
 * upstream listeners and the ingress gateway's HTTP listeners (to a remote sidecar, mTLS):
 * hop-by-hop headers dropped, the request body streamed only once the connection to the
 * target is up (so a failed connect can be retried on another target without losing the
 * body), a connect timeout, a timeout to the response headers, and Envoy's texts for the
 * answers the proxy makes itself.
 *
 * HTTP upgrades (WebSocket): {@link forwardUpgrade} sends the request with its `Connection:
 * Upgrade` and `Upgrade` headers; once the target answers 101 the two sockets are piped both
 * ways until either closes. Any other answer is passed on and the downstream connection closed.
 */
import { STATUS_CODES } from 'node:http';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Bodies of locally generated answers, as Envoy writes them. */
export const ENVOY_TEXT = {
  rbacDenied: 'RBAC: access denied',
  noHealthyUpstream: 'no healthy upstream',
  overflow: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
  connectFailure:
    'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
  connectTimeout:
    'upstream connect error or disconnect/reset before headers. reset reason: connection timeout',
  reset:
    'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
  timeout: 'upstream request timeout',
  /** Envoy answers an unrouted request 404 with an empty body and details `route_not_found`. */
  routeNotFound: 'route_not_found',
} as const;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'expect',
  'http2-settings',
]);

/**
 * A raw header list (`[name, value, name, value, …]`) without hop-by-hop headers, those the
 * Connection header names, and those in `set` (which are then appended: set replaces).
 */
export function forwardHeaders(
  raw: readonly string[],
  set?: Readonly<Record<string, string>>,
): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] ?? '').toLowerCase() === 'connection') {
      named ??= new Set();
      for (const t of (raw[i + 1] ?? '').split(',')) named.add(t.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    if (set !== undefined && Object.hasOwn(set, lower)) continue;
    out.push(name, raw[i + 1] ?? '');
  }
  if (set !== undefined) for (const [k, v] of Object.entries(set)) out.push(k, v);
  return out;
}

/** Answers with a short text body made by the proxy (403, 503, 504). */
export function localReply(
  res: ServerResponse,
  status: number,
  body: string,
  extra: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': String(Buffer.byteLength(body)),
    ...extra,
  });
  res.end(body);
}

/** One place a request may go. */
export interface ForwardTarget {
  /** `address:port`, for logs. */
  readonly name: string;
  /** Whether the connection is TLS (ready at `secureConnect`) or plain (at `connect`). */
  readonly secure: boolean;
  /** Starts the request (headers not sent until the body is piped or ended). */
  request(method: string, path: string, headers: string[]): ClientRequest;
  /** A new connection came up after `ms` (not called for a pooled one). */
  connected(ms: number): void;
  /** The connect failed (refused, timed out, TLS or identity failure). */
  failed(err: Error): void;
  /** The request is over, whatever the outcome (balances in-flight counts). */
  done(): void;
}

export interface ForwardOptions {
  readonly headers: string[];
  /** The target for attempt n (0-based), or undefined when there is none (left). */
  readonly pick: (attempt: number) => ForwardTarget | undefined;
  readonly maxAttempts: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Answer when no target exists at all (first attempt). */
  readonly noTarget: (res: ServerResponse) => void;
  /** The target that answered (for access logs). */
  readonly onTarget?: (name: string) => void;
}

class ConnectTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`connect timed out after ${ms} ms`);
  }
}

/** Sockets seen connected: a pooled socket handed out again is ready at once. */
const readySockets = new WeakSet<Socket>();

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/** Forwards `req` to a target chosen by `o.pick`, streaming the answer back into `res`. */
export function forwardHttp(req: IncomingMessage, res: ServerResponse, o: ForwardOptions): void {
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const body = hasBody(req);
  // A bodiless request is complete already; let it end so the parser moves on.
  if (!body) req.resume();
  let attempt = 0;
  let lastError: Error | undefined;
  let finished = false;
  let current: ClientRequest | undefined;
  res.once('close', () => {
    finished = true;
    if (!res.writableFinished) current?.destroy();
  });

  const tryNext = (): void => {
    if (finished) return;
    const target = attempt < o.maxAttempts ? o.pick(attempt) : undefined;
    attempt++;
    if (target === undefined) {
      if (attempt === 1) o.noTarget(res);
      else {
        const timedOut = lastError instanceof ConnectTimeoutError;
        localReply(res, 503, timedOut ? ENVOY_TEXT.connectTimeout : ENVOY_TEXT.connectFailure);
      }
      return;
    }
    let up: ClientRequest;
    try {
      up = target.request(method, path, o.headers);
    } catch (e) {
      target.done();
      lastError = e as Error;
      target.failed(lastError);
      tryNext();
      return;
    }
    current = up;
    let connected = false;
    let responded = false;
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let requestTimer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(requestTimer);
      target.done();
    };

    const ready = (): void => {
      clearTimeout(connectTimer);
      connected = true;
      if (finished) {
        up.destroy();
        return;
      }
      requestTimer = setTimeout(() => {
        if (responded) return;
        up.destroy();
        localReply(res, 504, ENVOY_TEXT.timeout);
      }, o.requestTimeoutMs);
      if (body) req.pipe(up);
      else up.end();
    };

    up.once('socket', (socket: Socket) => {
      if (up.reusedSocket || readySockets.has(socket)) {
        ready();
        return;
      }
      const started = performance.now();
      connectTimer = setTimeout(
        () => up.destroy(new ConnectTimeoutError(o.connectTimeoutMs)),
        o.connectTimeoutMs,
      );
      socket.once(target.secure ? 'secureConnect' : 'connect', () => {
        readySockets.add(socket);
        target.connected(performance.now() - started);
        ready();
      });
    });

    up.once('response', (upRes: IncomingMessage) => {
      responded = true;
      clearTimeout(requestTimer);
      o.onTarget?.(target.name);
      upRes.once('close', () => {
        settle();
        if (!upRes.complete) res.destroy();
      });
      if (finished || res.headersSent) {
        upRes.destroy();
        return;
      }
      const headers = forwardHeaders(upRes.rawHeaders);
      const status = upRes.statusCode ?? 502;
      if (upRes.statusMessage) res.writeHead(status, upRes.statusMessage, headers);
      else res.writeHead(status, headers);
      upRes.pipe(res);
    });

    up.on('error', (err: Error) => {
      settle();
      if (finished) return;
      if (!connected) {
        lastError = err;
        target.failed(err);
        tryNext();
        return;
      }
      if (responded) {
        res.destroy();
        return;
      }
      // Answered already (the request timed out): nothing more to do.
      if (res.headersSent) return;
      // A pooled connection the peer had just closed: safe to send again when nothing of a
      // body was consumed and the method is idempotent.
      if (up.reusedSocket && !body && IDEMPOTENT.has(method)) {
        tryNext();
        return;
      }
      if (body) req.unpipe(up);
      localReply(res, 503, ENVOY_TEXT.reset);
    });
    up.once('close', settle);
  };
  tryNext();
}

// ---------------------------------------------------------------------------- upgrades

/** A response head: status line and raw headers (`[name, value, …]`). */
function responseHead(status: number, message: string, headers: readonly string[]): string {
  let out = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${out}\r\n`;
}

/** How long a socket answered and ended by the proxy may take to be closed by its peer. */
const RAW_LINGER_MS = 5_000;

/**
 * Answers on a raw socket (an upgrade request, whose socket the HTTP server has let go) with a
 * short text made by the proxy, then closes the connection.
 */
export function rawReply(
  socket: Socket,
  status: number,
  body: string,
  extra: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const headers = [
    'content-type',
    'text/plain',
    'content-length',
    String(Buffer.byteLength(body)),
    ...Object.entries(extra).flat(),
    'connection',
    'close',
  ];
  endRaw(socket, responseHead(status, STATUS_CODES[status] ?? '', headers) + body);
}

/** Ends a raw socket after `data`; what the peer still sends is discarded. */
function endRaw(socket: Socket, data?: string): void {
  socket.resume();
  if (data !== undefined) socket.end(data);
  else socket.end();
  const timer = setTimeout(() => socket.destroy(), RAW_LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
}

export interface UpgradeOptions {
  /** The request's headers without hop-by-hop ones; `Connection` and `Upgrade` are added. */
  readonly headers: string[];
  readonly pick: (attempt: number) => ForwardTarget | undefined;
  readonly maxAttempts: number;
  readonly connectTimeoutMs: number;
  /** Until the 101 (or another answer); none once upgraded. */
  readonly requestTimeoutMs: number;
  /** Status and body when no target exists at all (first attempt). */
  readonly noTarget: () => readonly [number, string];
  readonly onTarget?: (name: string) => void;
  /** The status written downstream (101 when upgraded), for metrics and access logs. */
  readonly onStatus?: (status: number) => void;
}

/**
 * Forwards an upgrade request (the HTTP server's `upgrade` event: the socket is no longer
 * parsed, `head` holds what followed the request headers). The caller pauses `socket` at
 * once so nothing is read before the target has answered. Upgrade requests with a body are
 * refused (400): their bytes could only follow the 101.
 */
export function forwardUpgrade(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  o: UpgradeOptions,
): void {
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const upgrade = req.headers.upgrade ?? '';
  let answered = false;
  const reply = (status: number, body: string): void => {
    if (answered) {
      socket.destroy();
      return;
    }
    answered = true;
    o.onStatus?.(status);
    rawReply(socket, status, body);
  };
  socket.setTimeout(0);
  if (hasBody(req)) {
    reply(400, 'upgrade requests with a body are not supported');
    return;
  }
  const headers = [...o.headers, 'Connection', 'Upgrade', 'Upgrade', upgrade];
  let attempt = 0;
  let lastError: Error | undefined;
  let finished = false;
  let piped = false;
  let current: ClientRequest | undefined;
  socket.once('close', () => {
    finished = true;
    if (!piped) current?.destroy();
  });

  const tryNext = (): void => {
    if (finished) return;
    const target = attempt < o.maxAttempts ? o.pick(attempt) : undefined;
    attempt++;
    if (target === undefined) {
      if (attempt === 1) {
        const [status, body] = o.noTarget();
        reply(status, body);
      } else {
        const timedOut = lastError instanceof ConnectTimeoutError;
        reply(503, timedOut ? ENVOY_TEXT.connectTimeout : ENVOY_TEXT.connectFailure);
      }
      return;
    }
    let up: ClientRequest;
    try {
      up = target.request(method, path, headers);
    } catch (e) {
      target.done();
      lastError = e as Error;
      target.failed(lastError);
      tryNext();
      return;
    }
    current = up;
    let connected = false;
    let responded = false;
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let requestTimer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(requestTimer);
      target.done();
    };
    const ready = (): void => {
      clearTimeout(connectTimer);
      connected = true;
      if (finished) {
        up.destroy();
        return;
      }
      requestTimer = setTimeout(() => {
        if (responded) return;
        up.destroy();
        reply(504, ENVOY_TEXT.timeout);
      }, o.requestTimeoutMs);
      up.end();
    };

    up.once('socket', (s: Socket) => {
      if (up.reusedSocket || readySockets.has(s)) {
        ready();
        return;
      }
      const started = performance.now();
      connectTimer = setTimeout(
        () => up.destroy(new ConnectTimeoutError(o.connectTimeoutMs)),
        o.connectTimeoutMs,
      );
      s.once(target.secure ? 'secureConnect' : 'connect', () => {
        readySockets.add(s);
        target.connected(performance.now() - started);
        ready();
      });
    });

    up.once('upgrade', (upRes: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      responded = true;
      settle();
      o.onTarget?.(target.name);
      upSocket.on('error', () => undefined);
      if (finished || answered) {
        upSocket.destroy();
        return;
      }
      answered = true;
      piped = true;
      const status = upRes.statusCode ?? 101;
      o.onStatus?.(status);
      const out = [
        ...forwardHeaders(upRes.rawHeaders),
        'Connection',
        'Upgrade',
        'Upgrade',
        upRes.headers.upgrade ?? upgrade,
      ];
      socket.write(responseHead(status, upRes.statusMessage || 'Switching Protocols', out));
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      upSocket.setNoDelay(true);
      socket.setNoDelay(true);
      upSocket.pipe(socket);
      socket.pipe(upSocket);
      upSocket.once('close', () => socket.destroy());
      socket.once('close', () => upSocket.destroy());
    });

    up.once('response', (upRes: IncomingMessage) => {
      // Not upgraded: pass the answer on and close (the connection is no longer parsed).
      responded = true;
      clearTimeout(requestTimer);
      o.onTarget?.(target.name);
      upRes.once('close', () => {
        settle();
        if (!upRes.complete) socket.destroy();
      });
      if (finished || answered) {
        upRes.destroy();
        return;
      }
      answered = true;
      const status = upRes.statusCode ?? 502;
      o.onStatus?.(status);
      const out = forwardHeaders(upRes.rawHeaders, { connection: 'close' });
      socket.resume();
      socket.write(responseHead(status, upRes.statusMessage || (STATUS_CODES[status] ?? ''), out));
      upRes.pipe(socket, { end: false });
      upRes.once('end', () => endRaw(socket));
    });

    up.on('error', (err: Error) => {
      settle();
      if (finished) return;
      if (!connected) {
        lastError = err;
        target.failed(err);
        tryNext();
        return;
      }
      if (responded) {
        if (!piped) socket.destroy();
        return;
      }
      if (answered) return;
      if (up.reusedSocket && IDEMPOTENT.has(method)) {
        tryNext();
        return;
      }
      reply(503, ENVOY_TEXT.reset);
    });
    up.once('close', settle);
  };
  tryNext();
}
