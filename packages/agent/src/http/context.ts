/** What an endpoint handler receives and returns (server.ts turns the answer into bytes). */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { AgentApi, Backend, ReadMeta, ReadMode } from './backend.js';
import type { WaitLimits } from './request.js';
import type { Query } from './wire.js';

export interface ResolvedLimits extends WaitLimits {
  readonly kvMaxValueSize: number;
  readonly snapshotMaxBytes: number;
  readonly maxIgnoredBodyBytes: number;
}

export interface Ctx {
  /** The servers' state (on a client agent, requests that need it are forwarded instead). */
  readonly backend: Backend;
  /** The agent the request reached (/v1/agent/* and /v1/event/* use only this). */
  readonly agent: AgentApi;
  readonly limits: ResolvedLimits;
  readonly log: FastifyBaseLogger;
  readonly method: string;
  /** The decoded, clean request path. */
  readonly path: string;
  readonly query: Query;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  /** Aborts when the client disconnects before the answer is sent. */
  readonly signal: AbortSignal;
  /** acl.default_policy: what intentions default to when none matches. */
  readonly aclDefaultPolicy: 'allow' | 'deny';
}

export type Answer =
  | { readonly kind: 'json'; readonly value: unknown; readonly status?: number }
  | { readonly kind: 'empty'; readonly status?: number }
  | {
      readonly kind: 'bytes';
      readonly body: Uint8Array;
      readonly contentType: string;
      readonly status?: number;
    };

export const json = (value: unknown, status?: number): Answer =>
  status === undefined ? { kind: 'json', value } : { kind: 'json', value, status };
export const empty = (status?: number): Answer =>
  status === undefined ? { kind: 'empty' } : { kind: 'empty', status };

const CONSISTENCY: Readonly<Record<ReadMode, string>> = {
  default: 'leader',
  consistent: 'consistent',
  stale: 'stale',
};

/**
 * Consul's setMeta: X-Consul-Index (never 0: a client blocking on 0 would spin), LastContact in
 * whole milliseconds, KnownLeader, and the consistency the read was served with.
 */
export function setMeta(ctx: Ctx, index: number, meta: ReadMeta, mode: ReadMode): void {
  ctx.reply.header('X-Consul-Index', String(Math.max(1, Math.floor(index))));
  ctx.reply.header('X-Consul-LastContact', String(Math.max(0, Math.floor(meta.lastContactMs))));
  ctx.reply.header('X-Consul-KnownLeader', meta.knownLeader ? 'true' : 'false');
  ctx.reply.header('X-Consul-Effective-Consistency', CONSISTENCY[mode]);
}
