/**
 * A small client for an agent's HTTP API (Consul's /v1), over Node's built-in fetch.
 *
 * Contract: every call has a deadline (connect + headers + body) and a response-size limit;
 * failures reject with {@link ApiError} carrying Consul's client wording. Statuses other than
 * 2xx reject with ERR_API_STATUS unless the caller lists them in `allowStatus` (a missing KV
 * key is a 404 the caller handles). The client holds no connections of its own between calls.
 */
import { ApiError } from './errors.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_ERROR_BODY_BYTES,
  MAX_RESPONSE_BYTES,
} from './constants.js';

export interface ClientOptions {
  /** `http(s)://host:port`, as resolveAgentUrl returns it. */
  readonly baseUrl: string;
  /** ACL token, sent as X-Consul-Token. */
  readonly token?: string;
  /** Sent as `?dc=` on every request (Consul's -datacenter). */
  readonly datacenter?: string;
  /** Per-request deadline unless a call overrides it. */
  readonly timeoutMs?: number;
}

/** Query parameters; `''` sends a bare flag (`?recurse=`), `undefined` omits the parameter. */
export type Query = Readonly<Record<string, string | number | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: Uint8Array | string;
  readonly timeoutMs?: number;
  /** Largest body accepted; over it the call rejects with ERR_API_TOO_LARGE. */
  readonly maxBytes?: number;
  /** Non-2xx statuses returned to the caller instead of rejecting. */
  readonly allowStatus?: readonly number[];
  readonly signal?: AbortSignal;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

export interface StreamResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The body in chunks; iterating enforces maxBytes and the deadline. Iterate once. */
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** Escapes a KV key or other path tail for a URL, keeping its slashes. */
export function escapePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

/** Go's http client names the method this way in its errors: `Get "url": …`. */
function goMethod(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
}

interface SysError {
  code?: string;
  message?: string;
  cause?: unknown;
}

function transportError(method: string, url: URL, e: unknown, timeoutMs: number): ApiError {
  const prefix = `${goMethod(method)} "${url.href}"`;
  const err = e as SysError | undefined;
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new ApiError(
      'ERR_API_TIMEOUT',
      `${prefix}: context deadline exceeded (no answer within ${timeoutMs} ms)`,
    );
  }
  // fetch wraps the socket error: TypeError('fetch failed', { cause: { code, … } }).
  let cause: SysError | undefined = err;
  for (let i = 0; i < 4 && cause?.cause !== undefined; i++) cause = cause.cause as SysError;
  const code = cause?.code ?? '';
  const hostPort = url.host;
  const detail: Record<string, string> = {
    ECONNREFUSED: `dial tcp ${hostPort}: connect: connection refused`,
    ENOTFOUND: `dial tcp: lookup ${url.hostname}: no such host`,
    EAI_AGAIN: `dial tcp: lookup ${url.hostname}: temporary failure in name resolution`,
    ECONNRESET: `read tcp ${hostPort}: read: connection reset by peer`,
    EHOSTUNREACH: `dial tcp ${hostPort}: connect: no route to host`,
    ENETUNREACH: `dial tcp ${hostPort}: connect: network is unreachable`,
    EPIPE: `write tcp ${hostPort}: write: broken pipe`,
    UND_ERR_SOCKET: 'EOF',
    UND_ERR_CLOSED: 'EOF',
  };
  const text = detail[code] ?? cause?.message ?? String(e);
  return new ApiError('ERR_API_CONNECT', `${prefix}: ${text}`, { syscallCode: code });
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly datacenter: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.datacenter = opts.datacenter;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** The full URL of a request (exported for error messages and tests). */
  url(path: string, query: Query = {}): URL {
    const u = new URL(this.baseUrl + path);
    const params: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.push([k, String(v)]);
    if (this.datacenter !== undefined && this.datacenter !== '')
      params.push(['dc', this.datacenter]);
    // Go's url.Values.Encode sorts by key; keep the same order for identical request lines.
    params.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    u.search = params
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    return u;
  }

  /** Sends a request and buffers the response body (bounded). */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse> {
    const res = await this.stream(method, path, opts);
    const parts: Uint8Array[] = [];
    for await (const c of res.chunks) parts.push(c);
    return { status: res.status, headers: res.headers, body: Buffer.concat(parts) };
  }

  /** Sends a request and parses a JSON answer. A 2xx with an empty body yields undefined. */
  async json<T>(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<{ status: number; headers: Headers; value: T | undefined }> {
    const res = await this.request(method, path, opts);
    if (res.status < 200 || res.status > 299 || res.body.length === 0) {
      return { status: res.status, headers: res.headers, value: undefined };
    }
    const text = res.body.toString('utf8');
    try {
      return { status: res.status, headers: res.headers, value: JSON.parse(text) as T };
    } catch (e) {
      const shown = text.length > 200 ? `${text.slice(0, 200)}…` : text;
      throw new ApiError(
        'ERR_API_BAD_RESPONSE',
        `${goMethod(method)} "${this.url(path, opts.query).href}": response is not JSON ` +
          `(${(e as Error).message}): ${shown.trim()}`,
      );
    }
  }

  /**
   * Sends a request and hands back the body as a bounded stream (snapshots). Non-2xx
   * statuses not in `allowStatus` reject after reading a bounded error body.
   */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<StreamResponse> {
    const url = this.url(path, opts.query);
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const signals = [AbortSignal.timeout(timeoutMs)];
    if (opts.signal) signals.push(opts.signal);
    const signal = AbortSignal.any(signals);
    const headers: Record<string, string> = {};
    if (this.token !== undefined && this.token !== '') headers['X-Consul-Token'] = this.token;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        signal,
        redirect: 'manual',
        ...(opts.body !== undefined ? { body: opts.body } : {}),
      });
    } catch (e) {
      throw transportError(method, url, e, timeoutMs);
    }
    const ok = (res.status >= 200 && res.status <= 299) || opts.allowStatus?.includes(res.status);
    if (!ok) {
      const body = await readAll(res, MAX_ERROR_BODY_BYTES, true).catch(() => Buffer.alloc(0));
      const text = body.toString('utf8').trim();
      throw new ApiError('ERR_API_STATUS', `Unexpected response code: ${res.status} (${text})`, {
        status: res.status,
        body: text,
      });
    }
    const maxBytes = opts.maxBytes ?? MAX_RESPONSE_BYTES;
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw tooLarge(method, url, maxBytes);
    }
    const chunks = async function* (): AsyncGenerator<Uint8Array> {
      if (!res.body) return;
      let total = 0;
      try {
        for await (const c of res.body as AsyncIterable<Uint8Array>) {
          total += c.byteLength;
          // Throwing out of the loop releases and cancels the body stream.
          if (total > maxBytes) throw tooLarge(method, url, maxBytes);
          yield c;
        }
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw transportError(method, url, e, timeoutMs);
      }
    };
    return { status: res.status, headers: res.headers, chunks: chunks() };
  }
}

function tooLarge(method: string, url: URL, maxBytes: number): ApiError {
  return new ApiError(
    'ERR_API_TOO_LARGE',
    `${goMethod(method)} "${url.href}": response body exceeds the limit of ${maxBytes} bytes`,
  );
}

/** Reads at most `max` bytes of a body; with `truncate` the rest is dropped, not an error. */
async function readAll(res: Response, max: number, truncate: boolean): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const c of res.body as AsyncIterable<Uint8Array>) {
    const room = max - total;
    if (c.byteLength > room) {
      if (room > 0) parts.push(c.subarray(0, room));
      if (!truncate) throw new Error(`body exceeds ${max} bytes`);
      break; // leaving the loop cancels the rest of the body
    }
    parts.push(c);
    total += c.byteLength;
  }
  return Buffer.concat(parts);
}
