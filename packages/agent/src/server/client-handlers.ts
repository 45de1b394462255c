/**
 * The server's side of the client-agent RPCs (client-rpc.ts). Bodies come from the network:
 * each is checked field by field and a bad one is refused with ERR_BAD_REQUEST naming the
 * field; nothing a client sends reaches Raft except a Register or Deregister request, which
 * the state store validates like any other.
 */
import { RpcError, type Handlers } from '@trellis/rpc';
import { MessageType, blockingQuery, type StateStore } from '@trellis/state';
import type { DnsAnswerer } from '@trellis/dns';
import type { FastifyInstance } from 'fastify';
import {
  CLIENT_RPC,
  MAX_CSR_BYTES,
  MAX_DNS_MESSAGE,
  MAX_FORWARDED_BODY,
  type DnsReply,
  MAX_NODE_CHECKS_WAIT_MS,
  type ForwardedAnswer,
  type NodeChecksReply,
  type NodeStateReply,
} from '../client-rpc.js';
import type { ApplyOutcome, ReadMeta, ReadMode } from '../http/backend.js';
import type { CatalogSync } from '../local/anti-entropy.js';
import type { RemoteChecks } from '../local/agent.js';
import { BackendError } from '../http/backend.js';
import type { IssuedLeaf, ServerCa } from '../connect/server-ca.js';

export interface ClientHandlerHost {
  readonly store: StateStore;
  readBarrier(mode: ReadMode, signal?: AbortSignal): Promise<ReadMeta>;
  apply(
    cmd: {
      type: typeof MessageType.Register | typeof MessageType.Deregister;
      now: number;
      body: unknown;
    },
    signal?: AbortSignal,
  ): Promise<ApplyOutcome>;
  /** The server's HTTP API (not necessarily listening), for forwarded requests. */
  httpApp(): FastifyInstance;
  /** The server's DNS handler, for queries client agents relay. */
  dns(): DnsAnswerer;
  /** The server's Connect CA, for leaf certificates client agents ask for. */
  readonly ca: Pick<ServerCa, 'sign'>;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
const MAX_URL = 64 * 1024;

function bad(message: string): RpcError {
  return new RpcError('ERR_BAD_REQUEST', message);
}

function obj(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw bad('body: expected a map');
  }
  return body as Record<string, unknown>;
}

function toRpc(e: unknown): Error {
  if (e instanceof BackendError) return new RpcError(`ERR_BACKEND_${e.code}`, e.message);
  if (e instanceof RpcError) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && e instanceof Error && e.name === 'StateError') {
    return new RpcError('ERR_STATE', e.message, { code });
  }
  return e instanceof Error ? e : new Error(String(e));
}

export function registerClientHandlers(handlers: Handlers, host: ClientHandlerHost): void {
  handlers.request(CLIENT_RPC.http, async (body): Promise<ForwardedAnswer> => {
    const b = obj(body);
    const method = b.method;
    const url = b.url;
    const headers = b.headers;
    const payload = b.body;
    if (typeof method !== 'string' || !METHODS.has(method)) throw bad('method: unknown');
    if (typeof url !== 'string' || !url.startsWith('/') || url.length > MAX_URL) {
      throw bad('url: expected a path of at most 64 KiB');
    }
    if (url.startsWith('/v1/agent/')) throw bad('url: agent endpoints are answered by the agent');
    if (!(payload instanceof Uint8Array) || payload.length > MAX_FORWARDED_BODY) {
      throw bad(`body: expected at most ${MAX_FORWARDED_BODY} bytes`);
    }
    const h: Record<string, string> = {};
    if (headers !== undefined) {
      const ho = obj(headers);
      for (const [k, v] of Object.entries(ho)) {
        if (typeof v !== 'string' || !/^[a-z0-9-]{1,64}$/.test(k)) throw bad('headers: bad entry');
        h[k] = v;
      }
    }
    const res = await host.httpApp().inject({
      method: method as 'GET',
      url,
      headers: h,
      ...(payload.length > 0 ? { payload: Buffer.from(payload) } : {}),
    });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined || k === 'connection' || k === 'transfer-encoding') continue;
      out[k] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    return { status: res.statusCode, headers: out, body: res.rawPayload };
  });

  handlers.request(CLIENT_RPC.dns, async (body): Promise<DnsReply> => {
    const b = obj(body);
    const query = b.query;
    const transport = b.transport;
    if (!(query instanceof Uint8Array) || query.length > MAX_DNS_MESSAGE) {
      throw bad(`query: expected at most ${MAX_DNS_MESSAGE} bytes`);
    }
    if (transport !== 'udp' && transport !== 'tcp') throw bad('transport: udp or tcp');
    return { answer: await host.dns().answer(query, transport) };
  });

  handlers.request(CLIENT_RPC.connectSign, async (body): Promise<IssuedLeaf> => {
    const csr = obj(body).csr;
    if (typeof csr !== 'string' || csr.length === 0 || csr.length > MAX_CSR_BYTES) {
      throw bad(`csr: expected a PEM CSR of at most ${MAX_CSR_BYTES} bytes`);
    }
    try {
      return await host.ca.sign(csr);
    } catch (e) {
      throw toRpc(e);
    }
  });

  handlers.request(CLIENT_RPC.nodeState, async (body): Promise<NodeStateReply> => {
    const node = obj(body).node;
    if (typeof node !== 'string' || node === '') throw bad('node: expected a name');
    try {
      await host.readBarrier('default');
    } catch (e) {
      throw toRpc(e);
    }
    const s = host.store;
    return {
      node: s.node(node).value ?? null,
      services: s.nodeServices(node).value?.Services ?? [],
      checks: s.nodeChecks(node).value,
    };
  });

  const write = async (
    type: typeof MessageType.Register | typeof MessageType.Deregister,
    body: unknown,
  ) => {
    const req = obj(obj(body).req);
    if (typeof req.Node !== 'string' || req.Node === '') throw bad('req.Node: expected a name');
    try {
      const r = await host.apply({ type, now: Date.now(), body: req });
      return { index: r.index };
    } catch (e) {
      throw toRpc(e);
    }
  };
  // The store validates the request itself (as it does one from /v1/catalog/register).
  handlers.request(CLIENT_RPC.register, (body) => write(MessageType.Register, body));
  handlers.request(CLIENT_RPC.deregister, (body) => write(MessageType.Deregister, body));

  handlers.request(CLIENT_RPC.nodeChecks, async (body, ctx): Promise<NodeChecksReply> => {
    const b = obj(body);
    const node = b.node;
    const index = b.index;
    const waitMs = b.waitMs;
    if (typeof node !== 'string' || node === '') throw bad('node: expected a name');
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
      throw bad('index: expected a non-negative integer');
    }
    if (typeof waitMs !== 'number' || !(waitMs >= 0)) throw bad('waitMs: expected a duration');
    const signal = AbortSignal.any([
      ctx.signal,
      AbortSignal.timeout(Math.min(waitMs, MAX_NODE_CHECKS_WAIT_MS)),
    ]);
    return serverCatalog(host, '').nodeChecks(node, index, signal);
  });
}

/** A server agent's own anti-entropy and alias checks read and write its store directly. */
export function serverCatalog(
  host: ClientHandlerHost,
  nodeName: string,
): CatalogSync & RemoteChecks {
  return {
    nodeState: async () => {
      await host.readBarrier('default');
      const s = host.store;
      return {
        node: s.node(nodeName).value,
        services: s.nodeServices(nodeName).value?.Services ?? [],
        checks: s.nodeChecks(nodeName).value,
      };
    },
    register: async (req) => {
      await host.apply({ type: MessageType.Register, now: Date.now(), body: req });
    },
    deregister: async (req) => {
      await host.apply({ type: MessageType.Deregister, now: Date.now(), body: req });
    },
    nodeChecks: async (node, index, signal) => {
      const res = await blockingQuery(host.store, { minIndex: index, signal }, (ws) => {
        const checks = host.store.nodeChecks(node, ws);
        const n = host.store.node(node, ws);
        return {
          index: Math.max(checks.index, n.index),
          value: { checks: checks.value, exists: n.value !== undefined },
        };
      });
      return { index: res.index, exists: res.value.exists, checks: res.value.checks };
    },
  };
}
