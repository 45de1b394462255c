/**
 * The fastify instance serving Consul's v1 HTTP API over a {@link Backend}. Fastify does the
 * socket work; routing details Consul clients depend on (Go's path cleaning, 405 with Allow,
 * OPTIONS, plain-text errors, Go's JSON) are done here so the answers match Consul's bytes.
 */
import type { Socket } from 'node:net';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { pino, type Logger } from 'pino';
import { agentOf, type AgentApi, type Backend } from './backend.js';
import {
  FORWARDED_REQUEST_HEADERS,
  MAX_FORWARDED_BODY,
  type ForwardedAnswer,
  type ForwardedRequest,
} from '../client-rpc.js';
import {
  DEFAULT_ACL_POLICY,
  DEFAULT_KV_MAX_VALUE_SIZE,
  DEFAULT_MAX_IGNORED_BODY_BYTES,
  DEFAULT_QUERY_TIME_MS,
  DEFAULT_SNAPSHOT_MAX_BYTES,
  MAX_QUERY_TIME_MS,
} from './constants.js';
import type { Answer, Ctx, ResolvedLimits } from './context.js';
import type { Endpoint } from './endpoints.js';
import { ROUTES } from './routes.js';
import { HttpError, bodyTooLarge, methodNotAllowed, toHttpError } from './errors.js';
import { KV_METHODS, KV_PREFIX, kvEndpoint } from './kv.js';
import { ClientGone, declaredLength, readBody } from './request.js';
import {
  cleanPath,
  decodePath,
  escapePath,
  goJson,
  isPrintablePath,
  parseQuery,
  qhas,
  splitUrl,
} from './wire.js';

export interface HttpLimits {
  /** Largest KV value (bytes); Consul's kv_max_value_size. Default 512 KiB. */
  readonly kvMaxValueSize?: number;
  /** Largest snapshot archive a restore accepts (bytes). Default 256 MiB. */
  readonly snapshotMaxBytes?: number;
  /** Largest body an endpoint that reads none may declare (bytes). Default 64 KiB. */
  readonly maxIgnoredBodyBytes?: number;
  /** Blocking wait without ?wait= (ms); Consul's default 5 min. */
  readonly defaultQueryTimeMs?: number;
  /** Cap on ?wait= (ms); Consul's 10 min. */
  readonly maxQueryTimeMs?: number;
}

export interface HttpApiOptions {
  readonly logger?: Logger;
  readonly limits?: HttpLimits;
  /** X-Consul-Default-ACL-Policy on every answer ("allow" while ACLs are not enforced). */
  readonly aclDefaultPolicy?: 'allow' | 'deny';
  /** Jitter source for blocking waits, [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** The agent the API belongs to (agent and event endpoints); default: the backend's view. */
  readonly agent?: AgentApi;
  /**
   * A client agent: every request but /v1/agent/* and /v1/event/* goes to a server through
   * this, and its answer is sent back as it came.
   */
  readonly forward?: (req: ForwardedRequest, signal: AbortSignal) => Promise<ForwardedAnswer>;
}

/** Paths a client agent answers itself. */
function isAgentLocal(path: string): boolean {
  return path.startsWith('/v1/agent/') || path.startsWith('/v1/event/');
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'] as const;

function positive(name: string, v: number | undefined, def: number): number {
  if (v === undefined) return def;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number`);
  return v;
}

function resolveLimits(opts: HttpApiOptions): ResolvedLimits {
  const l = opts.limits ?? {};
  const maxQueryTimeMs = positive('maxQueryTimeMs', l.maxQueryTimeMs, MAX_QUERY_TIME_MS);
  return {
    kvMaxValueSize: positive('kvMaxValueSize', l.kvMaxValueSize, DEFAULT_KV_MAX_VALUE_SIZE),
    snapshotMaxBytes: positive('snapshotMaxBytes', l.snapshotMaxBytes, DEFAULT_SNAPSHOT_MAX_BYTES),
    maxIgnoredBodyBytes: positive(
      'maxIgnoredBodyBytes',
      l.maxIgnoredBodyBytes,
      DEFAULT_MAX_IGNORED_BODY_BYTES,
    ),
    defaultQueryTimeMs: Math.min(
      positive('defaultQueryTimeMs', l.defaultQueryTimeMs, DEFAULT_QUERY_TIME_MS),
      maxQueryTimeMs,
    ),
    maxQueryTimeMs,
    random: opts.random ?? Math.random,
  };
}

/** Builds the API (not listening). Options are validated here; a bad limit throws RangeError. */
export function buildHttpApi(backend: Backend | null, opts: HttpApiOptions = {}): FastifyInstance {
  const limits = resolveLimits(opts);
  const agent = opts.agent ?? (backend === null ? null : agentOf(backend));
  if (agent === null) throw new RangeError('an HTTP API needs a backend or an agent');
  const forward = opts.forward;
  // A client agent has no state store: its non-agent requests are forwarded before any
  // handler could use `ctx.backend`.
  const stateBackend: Backend = backend ?? noBackend();
  // Typed as fastify's logger view of pino so fastify keeps its default generic parameters.
  const log: FastifyBaseLogger = (opts.logger ?? pino({ level: 'silent' })).child({
    component: 'http',
    node: agent.nodeName,
  });
  const aclPolicy = opts.aclDefaultPolicy ?? DEFAULT_ACL_POLICY;
  const app = Fastify({
    loggerInstance: log,
    // Requests are logged by the handler (errors only, at their level), not per request.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    // KV keys arrive as the wildcard; Node's 16 KiB header limit bounds them (431 beyond).
    routerOptions: { maxParamLength: 1 << 16 },
    clientErrorHandler: (err, socket) => goClientError(err, socket),
    // Parked blocking queries must not hold close() for up to 10 minutes.
    forceCloseConnections: true,
    frameworkErrors: (err, _req, res) => {
      const reply = res as unknown as FastifyReply;
      // Bad URL encodings and similar: Go's net/http answers a bare "400 Bad Request".
      log.debug({ err }, 'framework error');
      void reply.code(400).type('text/plain; charset=utf-8').send('400 Bad Request');
    },
  });
  // Bodies are read (bounded) by the handlers that want them, whatever the Content-Type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));
  // Go's mux answers an unknown path with an empty 404.
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send();
  });

  const serve = (ep: Endpoint) => async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('X-Consul-Default-ACL-Policy', aclPolicy);
    const ac = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) ac.abort();
    });
    let answer: Answer;
    let pretty = false;
    try {
      const { rawPath, rawQuery } = splitUrl(request.raw.url ?? '/');
      if (forward !== undefined && !isAgentLocal(rawPath)) {
        return await forwardRequest(request, reply, forward, ac.signal);
      }
      const path = decodePath(rawPath);
      if (!isPrintablePath(path)) throw new HttpError(400, '');
      const clean = cleanPath(path);
      if (clean !== path) {
        const loc = escapePath(clean) + (rawQuery === '' ? '' : `?${rawQuery}`);
        return await reply.code(301).header('Location', loc).send();
      }
      const query = parseQuery(rawQuery);
      pretty = qhas(query, 'pretty');
      const method = request.method;
      if (method === 'OPTIONS') {
        return await reply.header('Allow', ['OPTIONS', ...ep.methods].join(',')).send();
      }
      if (!ep.methods.includes(method)) throw methodNotAllowed(method, ep.methods);
      if (ep.readsBody !== true) {
        const n = declaredLength(request.raw);
        if (n !== undefined && n > limits.maxIgnoredBodyBytes) {
          throw bodyTooLarge(n, limits.maxIgnoredBodyBytes);
        }
      }
      const ctx: Ctx = {
        backend: stateBackend,
        agent,
        limits,
        log,
        method,
        path,
        query,
        request,
        reply,
        signal: ac.signal,
        aclDefaultPolicy: aclPolicy,
      };
      answer = await ep.handler(ctx);
    } catch (e) {
      if (e instanceof ClientGone || ac.signal.aborted) {
        log.debug({ method: request.method, url: request.url }, 'client went away');
        reply.hijack();
        reply.raw.destroy();
        return;
      }
      const err = toHttpError(e);
      if (err.status >= 500) {
        log.error({ err: e, method: request.method, url: request.url }, 'request failed');
      } else {
        log.debug({ status: err.status, method: request.method, url: request.url }, err.body);
      }
      reply.code(err.status).headers(err.headers);
      // After a 413 the rest of the body is never read: close instead of draining it.
      if (err.status === 413) reply.header('Connection', 'close');
      if (err.body === '') return await reply.send();
      return await reply.type('text/plain; charset=utf-8').send(err.body);
    }
    return await send(reply, answer, pretty);
  };

  for (const ep of ROUTES) {
    const url = ep.prefix === true ? `${ep.path}*` : ep.path;
    app.route({ method: [...ALL_METHODS], url, handler: serve(ep) });
  }
  const kv: Endpoint = {
    path: KV_PREFIX,
    methods: KV_METHODS,
    readsBody: true,
    handler: kvEndpoint,
  };
  app.route({ method: [...ALL_METHODS], url: `${KV_PREFIX}*`, handler: serve(kv) });
  // Go's mux redirects a subtree root without its slash ("/v1/kv", "/v1/catalog/service") to
  // the slash form — unless the root is an endpoint of its own (/v1/config, as in Consul).
  const subtrees = [KV_PREFIX, ...ROUTES.filter((ep) => ep.prefix === true).map((ep) => ep.path)];
  const exact = new Set(ROUTES.filter((ep) => ep.prefix !== true).map((ep) => ep.path));
  for (const prefix of new Set(subtrees)) {
    if (exact.has(prefix.slice(0, -1))) continue;
    app.route({
      method: [...ALL_METHODS],
      url: prefix.slice(0, -1),
      handler: async (request, reply) => {
        const { rawQuery } = splitUrl(request.raw.url ?? '');
        const loc = prefix + (rawQuery === '' ? '' : `?${rawQuery}`);
        return reply.code(301).header('Location', loc).send();
      },
    });
  }
  return app;
}

/** A Backend for an API that forwards every state read and write: never called. */
function noBackend(): Backend {
  return new Proxy({} as Backend, {
    get(_t, prop) {
      throw new Error(`internal error: a client agent has no state store (${String(prop)})`);
    },
  });
}

/** Sends a request to a server (client agents) and relays its answer unchanged. */
async function forwardRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  forward: NonNullable<HttpApiOptions['forward']>,
  signal: AbortSignal,
): Promise<FastifyReply> {
  const body = await readBody(request.raw, MAX_FORWARDED_BODY);
  const headers: Record<string, string> = {};
  for (const h of FORWARDED_REQUEST_HEADERS) {
    const v = request.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const answer = await forward(
    { method: request.method, url: request.raw.url ?? '/', headers, body },
    signal,
  );
  reply.code(answer.status);
  for (const [k, v] of Object.entries(answer.headers)) {
    if (k === 'content-length' || k === 'date' || k === 'keep-alive') continue;
    reply.header(k, v);
  }
  return reply.send(
    Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength),
  );
}

/**
 * What Go's net/http writes on a connection whose request it cannot parse: a plain-text status
 * line as body, then close (431 for an oversized request line or headers, else 400).
 */
function goClientError(err: Error & { code?: string }, socket: Socket): void {
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${status.length}\r\nConnection: close\r\n\r\n${status}`,
    );
  } else socket.destroy();
}

async function send(reply: FastifyReply, a: Answer, pretty: boolean): Promise<FastifyReply> {
  switch (a.kind) {
    case 'json':
      return (
        reply
          .code(a.status ?? 200)
          .type('application/json')
          // As bytes: fastify would append "; charset=utf-8" to a JSON string; Consul does not.
          .send(Buffer.from(goJson(a.value, pretty), 'utf8'))
      );
    case 'empty':
      return reply.code(a.status ?? 200).send();
    case 'bytes':
      return reply
        .code(a.status ?? 200)
        .type(a.contentType)
        .send(Buffer.from(a.body.buffer, a.body.byteOffset, a.body.byteLength));
  }
}

export interface StartOptions extends HttpApiOptions {
  readonly host: string;
  /** 0 for an ephemeral port. */
  readonly port: number;
}

export interface RunningHttpApi {
  /** e.g. "http://127.0.0.1:8500". */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open connections (parked blocking queries are cancelled). */
  close(): Promise<void>;
}

export async function startHttpApi(
  backend: Backend | null,
  opts: StartOptions,
): Promise<RunningHttpApi> {
  const app = buildHttpApi(backend, opts);
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: async () => {
      await app.close();
    },
  };
}
