/**
 * HTTP/1.1 forwarding shared by the public listener (to the local app, plain HTTP) and the
 * upstream listeners (to a remote sidecar, mTLS): hop-by-hop headers dropped, the request
 * body streamed only once the connection to the target is up (so a failed connect can be
 * retried on another target without losing the body), a connect timeout, a timeout to the
 * response headers, and Envoy's texts for the answers the proxy makes itself.
 */
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
