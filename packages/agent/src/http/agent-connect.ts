/**
 * Consul's agent_endpoint.go Connect handlers, answered by the agent a request reaches (a
 * client agent too): `/v1/agent/connect/ca/roots`, `/v1/agent/connect/ca/leaf/:service`
 * (both blocking on `?index=`), and `/v1/agent/connect/authorize`.
 */
import type { AgentConnect } from '../connect/agent-connect.js';
import { json, type Answer, type Ctx } from './context.js';
import type { Endpoint } from './endpoints.js';
import { HttpError, badRequest } from './errors.js';
import { parseWait, readBody } from './request.js';
import { field, parseJsonObject } from './wire.js';

const LEAF_PREFIX = '/v1/agent/connect/ca/leaf/';
/** Largest authorize body (a target name and a SPIFFE URI). */
export const AUTHORIZE_MAX_BODY_BYTES = 16 * 1024;

function connectOf(ctx: Ctx): AgentConnect {
  const c = ctx.agent.connect;
  if (c === undefined)
    throw new HttpError(500, 'Connect must be enabled in order to use this endpoint');
  return c;
}

/** A signal that ends the blocking wait: the client leaving, or `wait` passing. */
function waitSignal(ctx: Ctx, waitMs: number): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), waitMs);
  const onGone = (): void => ac.abort();
  ctx.signal.addEventListener('abort', onGone, { once: true });
  return {
    signal: ac.signal,
    done: () => {
      clearTimeout(t);
      ctx.signal.removeEventListener('abort', onGone);
    },
  };
}

async function agentRoots(ctx: Ctx): Promise<Answer> {
  const c = connectOf(ctx);
  const { minIndex, waitMs } = parseWait(ctx.query, ctx.limits);
  const w = waitSignal(ctx, minIndex > 0 ? waitMs : 10_000);
  try {
    const r = await c.roots(minIndex, w.signal);
    ctx.reply.header('X-Consul-Index', String(Math.max(1, r.index)));
    return json(r.value);
  } finally {
    w.done();
  }
}

async function agentLeaf(ctx: Ctx): Promise<Answer> {
  const c = connectOf(ctx);
  const service = ctx.path.slice(LEAF_PREFIX.length);
  if (service === '' || service.includes('/')) throw badRequest('Missing or invalid service name');
  const { minIndex, waitMs } = parseWait(ctx.query, ctx.limits);
  // The first leaf needs a CSR signed by a server: allow it the same bounded time.
  const w = waitSignal(ctx, minIndex > 0 ? waitMs : 30_000);
  try {
    const leaf = await c.leaf(service, minIndex, w.signal);
    ctx.reply.header('X-Consul-Index', String(Math.max(1, leaf.ModifyIndex)));
    return json(leaf);
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    throw new HttpError(
      500,
      `Failed to get a leaf certificate for ${service}: ${(e as Error).message}`,
    );
  } finally {
    w.done();
  }
}

async function agentAuthorize(ctx: Ctx): Promise<Answer> {
  const c = connectOf(ctx);
  const body = parseJsonObject(await readBody(ctx.request.raw, AUTHORIZE_MAX_BODY_BYTES));
  const target = field(body, 'Target');
  const uri = field(body, 'ClientCertURI');
  if (target !== undefined && typeof target !== 'string')
    throw badRequest('Request decode failed: Target must be a string');
  if (uri !== undefined && typeof uri !== 'string')
    throw badRequest('Request decode failed: ClientCertURI must be a string');
  if (target === undefined || target === '') throw badRequest('Target service must be specified');
  if (uri === undefined || uri === '') throw badRequest('ClientCertURI must be specified');
  const w = waitSignal(ctx, 10_000);
  try {
    return json(await c.authorize(target, uri, w.signal));
  } finally {
    w.done();
  }
}

const PROXY_PREFIX = '/v1/agent/connect/proxy/';

/**
 * The proxy configuration streams serving a proxy service: the version pushed, the version it
 * acknowledged, and its last NACK (a refused configuration, with the proxy's reason).
 */
function agentProxyStatus(ctx: Ctx): Answer {
  const id = ctx.path.slice(PROXY_PREFIX.length);
  if (id === '') throw badRequest('Missing proxy service ID');
  const proxies = ctx.agent.proxies;
  if (proxies === undefined)
    throw new HttpError(500, 'Connect must be enabled in order to use this endpoint');
  const local = ctx.agent.local?.service(id);
  if (local === undefined) throw new HttpError(404, `unknown service ID: ${id}`);
  return json({ ProxyServiceID: id, Kind: local.Kind, Streams: proxies.status(id) });
}

export const AGENT_CONNECT_ENDPOINTS: readonly Endpoint[] = [
  { path: PROXY_PREFIX, methods: ['GET'], prefix: true, handler: agentProxyStatus },
  { path: '/v1/agent/connect/ca/roots', methods: ['GET'], handler: agentRoots },
  { path: LEAF_PREFIX, methods: ['GET'], prefix: true, handler: agentLeaf },
  {
    path: '/v1/agent/connect/authorize',
    methods: ['POST'],
    readsBody: true,
    handler: agentAuthorize,
  },
];
