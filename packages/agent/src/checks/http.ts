/**
 * HTTP checks (Consul's CheckHTTP). One request per run on a fresh connection (Consul disables
 * keep-alives so a stale pooled connection never fails a check):
 *
 * - method from the definition (GET when empty), Header's lists sent as given, Body sent with
 *   its Content-Length; User-Agent "Consul Health Check" and Accept "text/plain, text/*, *\/*"
 *   unless the definition sets them; a Host header becomes the request's Host;
 * - redirects followed as Go's http.Client does (at most 10; 301/302/303 turn the request into a
 *   GET without body, 307/308 repeat it) unless DisableRedirects, which reports the 3xx itself;
 * - https: TLSSkipVerify turns verification off, TLSServerName names the server for SNI and
 *   verification (default: the URL's host name);
 * - 2xx passing, 429 warning, anything else critical, with output
 *   `HTTP <METHOD> <url>: <code> <reason> Output: <body>`; at most OutputMaxSize bytes of the
 *   body are read, then the connection is closed;
 * - failures before a response are critical with Go's url.Error shape: `Get "<url>": <reason>`;
 * - Timeout bounds the whole exchange. A body cut short by it still reports the response's
 *   status with what arrived (as Consul, which only logs the read error).
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { CheckDefinition } from '../local/types.js';
import {
  HTTP_ACCEPT,
  HTTP_DEFAULT_METHOD,
  HTTP_MAX_REDIRECTS,
  HTTP_USER_AGENT,
} from './constants.js';
import { formatGoDuration, outputMax, utf8Prefix } from './output.js';
import type { Probe, ProbeResult } from './scheduler.js';
import type { CheckLogger, CheckTlsOptions } from './types.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers Go writes itself, ignoring the request's Header map (Request.write). */
const COMPUTED = new Set(['content-length', 'transfer-encoding', 'trailer']);
/** Headers Go drops when a redirect leaves the original host (shouldCopyHeaderOnRedirect). */
const SENSITIVE = new Set(['authorization', 'www-authenticate', 'cookie', 'cookie2']);
/** Methods for which Go sends `Content-Length: 0` with an empty body. */
const BODY_EXPECTED = new Set(['POST', 'PUT', 'PATCH']);

/** Go's urlErrorOp: "GET" → "Get". */
function urlErrorOp(method: string): string {
  return method.slice(0, 1) + method.slice(1).toLowerCase();
}

const critical = (output: string): ProbeResult => ({ status: 'critical', output });

/** A URL as Go's url.Error shows it: any password replaced by "***". */
function shown(url: URL): string {
  if (url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.password = '***';
  return copy.href;
}

interface Exchange {
  readonly url: URL;
  readonly method: string;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
}

export interface HttpProbeOptions {
  readonly timeout: number;
  readonly tls?: CheckTlsOptions | undefined;
  readonly logger?: CheckLogger | undefined;
}

export function httpProbe(def: CheckDefinition, o: HttpProbeOptions): Probe {
  const method = def.Method === '' ? HTTP_DEFAULT_METHOD : def.Method;
  const op = urlErrorOp(method);
  const target = def.HTTP;
  const max = outputMax(def.OutputMaxSize);

  // Header map → request headers, as Go's transport writes them.
  const baseHeaders: OutgoingHttpHeaders = {};
  let host: string | undefined;
  const has = new Set<string>();
  for (const [name, values] of Object.entries(def.Header)) {
    const lower = name.toLowerCase();
    if (values.length === 0 || COMPUTED.has(lower)) continue;
    if (lower === 'host') {
      host ??= values[0];
      continue;
    }
    has.add(lower);
    baseHeaders[name] = values.length === 1 ? values[0] : [...values];
  }
  if (!has.has('user-agent')) baseHeaders['User-Agent'] = HTTP_USER_AGENT;
  if (!has.has('accept')) baseHeaders['Accept'] = HTTP_ACCEPT;
  const body = Buffer.from(def.Body);

  const tlsFor = (url: URL): https.RequestOptions => {
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    return {
      rejectUnauthorized: !def.TLSSkipVerify,
      // '' (not undefined) for an IP: no SNI, and Node must not guess a name from the Host
      // header; verification then uses the IP, as Go does.
      servername: def.TLSServerName !== '' ? def.TLSServerName : isIP(hostname) ? '' : hostname,
      ...(o.tls?.ca !== undefined ? { ca: o.tls.ca } : {}),
      ...(o.tls?.cert !== undefined ? { cert: o.tls.cert } : {}),
      ...(o.tls?.key !== undefined ? { key: o.tls.key } : {}),
    };
  };

  const withLength = (headers: OutgoingHttpHeaders, m: string, b: Buffer): OutgoingHttpHeaders =>
    b.length > 0 || BODY_EXPECTED.has(m.toUpperCase())
      ? { ...headers, 'Content-Length': String(b.length) }
      : headers;

  return async (signal) => {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return critical(`parse "${target}": invalid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return critical(
        `${op} "${target}": unsupported protocol scheme "${url.protocol.slice(0, -1)}"`,
      );
    }
    const firstHeaders = host === undefined ? baseHeaders : { ...baseHeaders, Host: host };
    let ex: Exchange = { url, method, headers: withLength(firstHeaders, method, body), body };

    for (let redirects = 0; ; redirects++) {
      // Go's url.Error quotes the URL as requested: the definition's text, then each Location.
      const where = redirects === 0 && url.password === '' ? target : shown(ex.url);
      let res: IncomingMessage;
      try {
        res = await send(ex, ex.url.protocol === 'https:' ? tlsFor(ex.url) : {}, signal);
      } catch (err) {
        if (signal.aborted) {
          return critical(
            `${op} "${where}": request timed out after ${formatGoDuration(o.timeout)} ` +
              '(Timeout exceeded while awaiting headers)',
          );
        }
        return critical(`${op} "${where}": ${err instanceof Error ? err.message : String(err)}`);
      }
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (!def.DisableRedirects && REDIRECTS.has(status) && location !== undefined) {
        res.destroy();
        if (redirects + 1 > HTTP_MAX_REDIRECTS) {
          return critical(`${op} "${where}": stopped after ${HTTP_MAX_REDIRECTS} redirects`);
        }
        let next: URL;
        try {
          next = new URL(location, ex.url);
        } catch {
          return critical(`${op} "${where}": failed to parse Location header "${location}"`);
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          return critical(
            `${op} "${shown(next)}": unsupported protocol scheme "${next.protocol.slice(0, -1)}"`,
          );
        }
        ex = redirectExchange(ex, next, status, location);
        continue;
      }

      const read = await readPrefix(res, max, signal);
      if (read.error !== undefined) {
        o.logger?.warn({ check: def.CheckID, err: read.error }, 'Check error while reading body');
      }
      const reason = res.statusMessage ?? '';
      const result = `HTTP ${method} ${target}: ${`${status} ${reason}`.trimEnd()} Output: ${read.body.toString()}`;
      if (status >= 200 && status <= 299) return { status: 'passing', output: result };
      // 429 Too Many Requests (RFC 6585): the target is up but shedding load.
      if (status === 429) return { status: 'warning', output: result };
      return critical(result);
    }
  };
}

/** The request that follows a redirect, as Go's http.Client builds it. */
function redirectExchange(prev: Exchange, next: URL, status: number, location: string): Exchange {
  let method = prev.method;
  let body = prev.body;
  if (status === 303 || ((status === 301 || status === 302) && !/^(GET|HEAD)$/i.test(method))) {
    method = 'GET';
    body = Buffer.alloc(0);
  }
  const sameHost = next.host === prev.url.host;
  // A Host override survives only a relative Location (Go keeps ireq.Host then).
  const relative = !/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith('//');
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(prev.headers)) {
    const lower = name.toLowerCase();
    if (COMPUTED.has(lower)) continue;
    if (lower === 'host' && !relative) continue;
    if (!sameHost && SENSITIVE.has(lower)) continue;
    headers[name] = value;
  }
  if (body.length > 0 || BODY_EXPECTED.has(method.toUpperCase())) {
    headers['Content-Length'] = String(body.length);
  }
  return { url: next, method, headers, body };
}

function send(
  ex: Exchange,
  tls: https.RequestOptions,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      method: ex.method,
      headers: ex.headers,
      // A fresh connection per request, closed after it (Consul: DisableKeepAlives).
      agent: false,
      signal,
      ...tls,
    };
    let req: http.ClientRequest;
    try {
      req =
        ex.url.protocol === 'https:'
          ? https.request(ex.url, options)
          : http.request(ex.url, options);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    req.once('response', resolve);
    req.once('error', reject);
    req.end(ex.body.length > 0 ? ex.body : undefined);
  });
}

interface BodyRead {
  readonly body: Buffer;
  readonly error?: Error;
}

/** Reads at most `max` bytes of the body, then closes the response. */
function readPrefix(res: IncomingMessage, max: number, signal: AbortSignal): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (error?: Error): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      res.off('data', onData);
      res.destroy();
      const body = utf8Prefix(Buffer.concat(chunks, size), max);
      resolve(error === undefined ? { body } : { body, error });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max) done();
    };
    const onAbort = (): void => done(new Error('timed out reading the body'));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    res.on('data', onData);
    res.once('end', () => done());
    res.once('error', (err) => done(err));
    res.once('close', () => done(res.complete ? undefined : new Error('connection closed early')));
  });
}
