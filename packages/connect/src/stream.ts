/**
 * The proxy configuration stream (agent port 8502, over @trellis/rpc streams): a proxy opens
 * `Connect.ProxyConfig` naming the proxy service it serves; the agent pushes a versioned
 * {@link ProxySnapshot} whenever anything in it changes; the proxy answers every version with
 * an ACK (applied) or a NACK (refused, with why — the proxy keeps its last good version).
 *
 * Versions start at 1 for each stream and only grow. Messages are plain maps (msgpack);
 * everything a peer sends is checked here before use.
 */
import { ConnectError, ConnectErrorCode } from './errors.js';
import type { ProxySnapshot } from './snapshot.js';

export const PROXY_CONFIG_METHOD = 'Connect.ProxyConfig';
/** Longest proxy service ID and NACK text accepted. */
export const MAX_PROXY_ID_LENGTH = 256;
export const MAX_NACK_ERROR_LENGTH = 4096;

/** The body that opens a stream. */
export interface ProxyStreamOpen {
  readonly proxyId: string;
}

/** Agent → proxy. */
export type ProxyStreamDown =
  | { readonly type: 'snapshot'; readonly version: number; readonly snapshot: ProxySnapshot }
  /** The stream cannot serve (unknown proxy, not a proxy): it ends after this. */
  | { readonly type: 'error'; readonly message: string };

/** Proxy → agent. */
export type ProxyStreamUp =
  | { readonly type: 'ack'; readonly version: number }
  | { readonly type: 'nack'; readonly version: number; readonly error: string };

function bad(message: string): ConnectError {
  return new ConnectError(ConnectErrorCode.InvalidSnapshotInput, message);
}

function map(v: unknown, what: string): Readonly<Record<string, unknown>> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what}: expected a map`);
  // Own fields only: nothing inherited (a crafted prototype) is ever read.
  return Object.fromEntries(Object.entries(v));
}

function version(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw bad('version: expected a positive integer');
  }
  return v;
}

export function decodeProxyStreamOpen(body: unknown): ProxyStreamOpen {
  const o = map(body, 'open');
  const id = o.proxyId;
  if (typeof id !== 'string' || id === '' || id.length > MAX_PROXY_ID_LENGTH) {
    throw bad(`proxyId: expected a proxy service ID of 1..${MAX_PROXY_ID_LENGTH} characters`);
  }
  return { proxyId: id };
}

export function decodeProxyStreamUp(msg: unknown): ProxyStreamUp {
  const o = map(msg, 'message');
  switch (o.type) {
    case 'ack':
      return { type: 'ack', version: version(o.version) };
    case 'nack': {
      const error = o.error;
      if (typeof error !== 'string') throw bad('error: expected a string');
      return {
        type: 'nack',
        version: version(o.version),
        error: error.slice(0, MAX_NACK_ERROR_LENGTH),
      };
    }
    default:
      throw bad(`type: expected "ack" or "nack"`);
  }
}

export function decodeProxyStreamDown(msg: unknown): ProxyStreamDown {
  const o = map(msg, 'message');
  if (o.type === 'error') {
    if (typeof o.message !== 'string') throw bad('message: expected a string');
    return { type: 'error', message: o.message };
  }
  if (o.type !== 'snapshot') throw bad('type: expected "snapshot" or "error"');
  const snapshot = map(o.snapshot, 'snapshot');
  if (snapshot.kind !== 'connect-proxy' && snapshot.kind !== 'ingress-gateway') {
    throw bad('snapshot.kind: expected connect-proxy or ingress-gateway');
  }
  return {
    type: 'snapshot',
    version: version(o.version),
    snapshot: snapshot as unknown as ProxySnapshot,
  };
}
