/**
 * Limits and defaults of the data plane, and the structural check of a snapshot before it is
 * applied: a snapshot arrives over the network (msgpack), so every field the proxy reads is
 * checked here; anything malformed is refused with a NACK naming the field, and the proxy
 * keeps its last good configuration.
 */
import type { ProxySnapshot } from '@trellis/connect';

/** Most connections a listener holds at once (on top of max_inbound_connections). */
export const MAX_LISTENER_CONNECTIONS = 16_384;
/** A TLS handshake on the public listener must finish within this. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Envoy's default route timeout: time to response headers when the snapshot sets none. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
/** Idle keep-alive time of downstream HTTP connections on the public listener. */
export const PUBLIC_KEEPALIVE_MS = 60_000;
/** Idle keep-alive time of downstream HTTP connections on upstream listeners. */
export const UPSTREAM_KEEPALIVE_MS = 60_000;
/** Idle pooled connections kept per endpoint (and to the local app). */
export const MAX_FREE_SOCKETS = 64;
/** Endpoints tried for one connection or request whose connect fails. */
export const MAX_CONNECT_ATTEMPTS = 3;
/** Idle keep-alive time of downstream HTTP connections on ingress gateway listeners. */
export const INGRESS_KEEPALIVE_MS = 60_000;
/** Largest request header block accepted (Node's default; Envoy's is 60 KiB). */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Options of the listeners' HTTP servers (which never listen themselves: connections are
 * handed to them). Headers must be complete within 30 s and a whole request within 300 s,
 * checked every 5 s; Node answers 408, 431 (headers too large) or 400 and closes.
 */
export const HTTP_SERVER_OPTIONS = {
  maxHeaderSize: MAX_HEADER_BYTES,
  headersTimeout: 30_000,
  requestTimeout: 300_000,
  connectionsCheckingInterval: 5_000,
} as const;

export interface OutlierOptions {
  /** Consecutive connect failures that eject an endpoint. Default 5 (Envoy's consecutive_5xx). */
  readonly consecutiveFailures: number;
  /** First ejection; each further one without a success in between doubles it. Default 10 s. */
  readonly baseEjectionMs: number;
  /** Longest ejection. Default 300 s (Envoy's max_ejection_time). */
  readonly maxEjectionMs: number;
}

export const DEFAULT_OUTLIER: OutlierOptions = {
  consecutiveFailures: 5,
  baseEjectionMs: 10_000,
  maxEjectionMs: 300_000,
};

/** A snapshot the proxy cannot apply: the text goes back to the agent in the NACK. */
export class ProxyConfigError extends Error {
  readonly code = 'ERR_PROXY_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ProxyConfigError';
  }
}

const PROTOCOLS = new Set(['tcp', 'http', 'http2', 'grpc']);
const ACTIONS = new Set(['allow', 'deny']);

type Obj = Readonly<Record<string, unknown>>;

function fail(path: string, want: string): never {
  throw new ProxyConfigError(`snapshot.${path}: expected ${want}`);
}

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'a map');
  return v as Obj;
}

function arr(v: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(v)) fail(path, 'a list');
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'a string');
  return v;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(path, `an integer in ${min}..${max}`);
  }
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'true or false');
  return v;
}

function protocol(v: unknown, path: string): void {
  if (typeof v !== 'string' || !PROTOCOLS.has(v)) fail(path, 'tcp, http, http2 or grpc');
}

function strings(v: unknown, path: string): void {
  arr(v, path).forEach((x, i) => str(x, `${path}[${i}]`));
}

function tlsOf(v: unknown, path: string): void {
  if (v === null) return;
  const t = obj(v, path);
  str(t.certPem, `${path}.certPem`);
  str(t.keyPem, `${path}.keyPem`);
  strings(t.rootPems, `${path}.rootPems`);
}

function authz(v: unknown, path: string): void {
  const a = obj(v, path);
  str(a.destination, `${path}.destination`);
  bool(a.defaultAllow, `${path}.defaultAllow`);
  arr(a.rules, `${path}.rules`).forEach((r, i) => {
    const rp = `${path}.rules[${i}]`;
    const rule = obj(r, rp);
    str(rule.source, `${rp}.source`);
    str(rule.destination, `${rp}.destination`);
    if (typeof rule.precedence !== 'number') fail(`${rp}.precedence`, 'a number');
    if (rule.id !== null) str(rule.id, `${rp}.id`);
    if (rule.action !== null && !ACTIONS.has(rule.action as string)) {
      fail(`${rp}.action`, 'allow, deny or null');
    }
    arr(rule.permissions, `${rp}.permissions`).forEach((p, j) => {
      const pp = `${rp}.permissions[${j}]`;
      const perm = obj(p, pp);
      if (!ACTIONS.has(perm.action as string)) fail(`${pp}.action`, 'allow or deny');
      if (perm.path !== null) {
        const m = obj(perm.path, `${pp}.path`);
        if (!['exact', 'prefix', 'regex'].includes(m.match as string)) {
          fail(`${pp}.path.match`, 'exact, prefix or regex');
        }
        str(m.value, `${pp}.path.value`);
      }
      strings(perm.methods, `${pp}.methods`);
      arr(perm.headers, `${pp}.headers`).forEach((h, k) => {
        const hp = `${pp}.headers[${k}]`;
        const hdr = obj(h, hp);
        str(hdr.name, `${hp}.name`);
        if (!['present', 'exact', 'prefix', 'suffix', 'regex'].includes(hdr.match as string)) {
          fail(`${hp}.match`, 'present, exact, prefix, suffix or regex');
        }
        str(hdr.value, `${hp}.value`);
        bool(hdr.invert, `${hp}.invert`);
      });
    });
  });
}

function endpoints(v: unknown, path: string): void {
  arr(v, path).forEach((e, i) => {
    const ep = obj(e, `${path}[${i}]`);
    str(ep.address, `${path}[${i}].address`);
    int(ep.port, `${path}[${i}].port`, 1, 65535);
    int(ep.weight, `${path}[${i}].weight`, 1, 1 << 30);
  });
}

/**
 * Checks every field the proxy reads. Ports may be 0 (an ephemeral port: tests and embedded
 * use); timeouts are milliseconds.
 */
export function checkSnapshot(v: unknown): asserts v is ProxySnapshot {
  const s = obj(v, '');
  if (s.kind !== 'connect-proxy' && s.kind !== 'ingress-gateway') {
    fail('kind', 'connect-proxy or ingress-gateway');
  }
  str(s.proxyId, 'proxyId');
  str(s.service, 'service');
  str(s.spiffeId, 'spiffeId');
  tlsOf(s.tls, 'tls');
  if (s.publicListener !== null) {
    const p = obj(s.publicListener, 'publicListener');
    str(p.bindAddress, 'publicListener.bindAddress');
    int(p.bindPort, 'publicListener.bindPort', 0, 65535);
    const app = obj(p.localApp, 'publicListener.localApp');
    str(app.address, 'publicListener.localApp.address');
    int(app.port, 'publicListener.localApp.port', 0, 65535);
    protocol(p.protocol, 'publicListener.protocol');
    int(p.maxInboundConnections, 'publicListener.maxInboundConnections', 0, 2 ** 31 - 1);
    int(p.localConnectTimeoutMs, 'publicListener.localConnectTimeoutMs', 1, 2 ** 31 - 1);
    int(p.localRequestTimeoutMs, 'publicListener.localRequestTimeoutMs', 0, 2 ** 31 - 1);
    tlsOf(p.tls, 'publicListener.tls');
    authz(p.authz, 'publicListener.authz');
  }
  arr(s.upstreams, 'upstreams').forEach((u, i) => {
    const path = `upstreams[${i}]`;
    const up = obj(u, path);
    str(up.id, `${path}.id`);
    str(up.destinationName, `${path}.destinationName`);
    str(up.bindAddress, `${path}.bindAddress`);
    int(up.bindPort, `${path}.bindPort`, 0, 65535);
    protocol(up.protocol, `${path}.protocol`);
    int(up.connectTimeoutMs, `${path}.connectTimeoutMs`, 1, 2 ** 31 - 1);
    strings(up.expectedSpiffeIds, `${path}.expectedSpiffeIds`);
    endpoints(up.endpoints, `${path}.endpoints`);
  });
  arr(s.gatewayListeners, 'gatewayListeners').forEach((g, i) => {
    const path = `gatewayListeners[${i}]`;
    const gl = obj(g, path);
    str(gl.bindAddress, `${path}.bindAddress`);
    int(gl.port, `${path}.port`, 0, 65535);
    protocol(gl.protocol, `${path}.protocol`);
    arr(gl.services, `${path}.services`).forEach((v, j) => {
      const sp = `${path}.services[${j}]`;
      const svc = obj(v, sp);
      str(svc.name, `${sp}.name`);
      strings(svc.hosts, `${sp}.hosts`);
      int(svc.connectTimeoutMs, `${sp}.connectTimeoutMs`, 1, 2 ** 31 - 1);
      strings(svc.expectedSpiffeIds, `${sp}.expectedSpiffeIds`);
      endpoints(svc.endpoints, `${sp}.endpoints`);
    });
  });
}

/** http and http2 are parsed as HTTP/1.1; tcp and grpc are forwarded as bytes. */
export function isL7(protocol: string): boolean {
  return protocol === 'http' || protocol === 'http2';
}
