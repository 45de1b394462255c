/**
 * An upstream's endpoints (Envoy's cluster): load balancing, outlier detection, and the mTLS
 * connections to the endpoints' sidecars.
 *
 * - Balancing: smooth weighted round-robin (nginx's) over the endpoints that are not
 *   ejected; for HTTP with equal weights, least-request by power of two random choices
 *   (Envoy's LEAST_REQUEST). When every endpoint is ejected, all of them are used (Envoy's
 *   panic mode).
 * - Outlier detection: `consecutiveFailures` failed connects in a row eject an endpoint for
 *   `baseEjectionMs`, doubled for each further ejection without a successful connect in
 *   between, up to `maxEjectionMs`.
 * - TLS: the client SecureContext of the current generation (leaf as client certificate,
 *   roots as trust anchors), the server certificate's URI SAN checked against the
 *   upstream's expected SPIFFE IDs (host names do not matter). TCP connections resume the
 *   endpoint's last TLS session; HTTP requests go through a keep-alive https.Agent per
 *   endpoint, which pools connections and caches sessions itself. A new generation (leaf or
 *   roots) or a new set of expected IDs retires the pools: requests in flight finish on their
 *   connections, idle ones are closed, and new requests handshake with the new material.
 */
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ClientRequest } from 'node:http';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { SnapshotUpstream } from '@trellis/connect';
import { MAX_FREE_SOCKETS, type OutlierOptions } from './config.js';
import { spiffeServerIdentityCheck } from './identity.js';
import type { Logger } from './log.js';
import type { ProxyMetrics } from './metrics.js';
import type { ForwardTarget } from './forward.js';
import type { TlsGeneration } from './tls-generation.js';

export class Endpoint {
  /** Smooth weighted round-robin state. */
  current = 0;
  /** Requests or connections in flight. */
  active = 0;
  /** Consecutive connect failures. */
  failures = 0;
  /** Ejected until this time (ms since epoch); 0: not ejected. */
  ejectedUntil = 0;
  /** Ejections since the last successful connect (the doubling exponent). */
  ejections = 0;
  session: Buffer | undefined;
  agent: HttpsAgent | undefined;
  weight: number;

  constructor(
    readonly key: string,
    readonly address: string,
    readonly port: number,
    weight: number,
  ) {
    this.weight = weight;
  }
}

/** What tests and status pages see of an endpoint. */
export interface EndpointStatus {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly active: number;
  readonly failures: number;
  readonly ejected: boolean;
  readonly ejectedUntil: number;
  readonly hasSession: boolean;
}

/** What a cluster takes from a snapshot: an upstream, or an ingress gateway's service. */
export type ClusterSpec = Pick<
  SnapshotUpstream,
  'connectTimeoutMs' | 'expectedSpiffeIds' | 'endpoints'
>;

export interface ClusterDeps {
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  readonly outlier: OutlierOptions;
}

function retire(agent: HttpsAgent | undefined): void {
  if (agent === undefined) return;
  // In-flight requests finish; their sockets are closed when released instead of pooled.
  agent.keepSocketAlive = () => false;
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
}

export class Cluster {
  endpoints: Endpoint[] = [];
  connectTimeoutMs = 5000;
  #expected: ReadonlySet<string> = new Set();
  #gen: TlsGeneration | null = null;
  #equalWeights = true;
  readonly #check = spiffeServerIdentityCheck(() => this.#expected);
  readonly #deps: ClusterDeps;
  readonly #label: { upstream: string };

  constructor(
    readonly id: string,
    deps: ClusterDeps,
  ) {
    this.#deps = deps;
    this.#label = { upstream: id };
  }

  get generation(): TlsGeneration | null {
    return this.#gen;
  }

  /** Takes a snapshot's view of the upstream; endpoints that stay keep their state. */
  update(u: ClusterSpec, gen: TlsGeneration | null): void {
    this.connectTimeoutMs = u.connectTimeoutMs;
    const expected = new Set(u.expectedSpiffeIds);
    const sameIds =
      expected.size === this.#expected.size && [...expected].every((x) => this.#expected.has(x));
    if (gen !== this.#gen || !sameIds) {
      for (const ep of this.endpoints) {
        retire(ep.agent);
        ep.agent = undefined;
        ep.session = undefined;
      }
    }
    this.#gen = gen;
    this.#expected = expected;
    const old = new Map(this.endpoints.map((e) => [e.key, e]));
    const next: Endpoint[] = [];
    const seen = new Set<string>();
    for (const e of u.endpoints) {
      const key = `${e.address}:${e.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const ep = old.get(key) ?? new Endpoint(key, e.address, e.port, e.weight);
      ep.weight = e.weight;
      old.delete(key);
      next.push(ep);
    }
    for (const gone of old.values()) retire(gone.agent);
    this.endpoints = next;
    this.#equalWeights = next.every((e) => e.weight === next[0]?.weight);
  }

  /**
   * The endpoint for the next connection or request, not one of `exclude` (those that
   * already failed for it); undefined when none is left.
   */
  pick(exclude: ReadonlySet<Endpoint> | undefined, leastRequest: boolean): Endpoint | undefined {
    const now = Date.now();
    const all = this.endpoints;
    let candidates: Endpoint[] = [];
    let anyHealthy = false;
    for (const e of all) {
      if (e.ejectedUntil > now) continue;
      anyHealthy = true;
      if (exclude === undefined || !exclude.has(e)) candidates.push(e);
    }
    // Panic mode: every endpoint is ejected, so ejection means nothing; use them all.
    if (!anyHealthy) candidates = all.filter((e) => exclude === undefined || !exclude.has(e));
    if (candidates.length <= 1) return candidates[0];
    if (leastRequest && this.#equalWeights) {
      const i = Math.floor(Math.random() * candidates.length);
      let j = Math.floor(Math.random() * (candidates.length - 1));
      if (j >= i) j++;
      const a = candidates[i] as Endpoint;
      const b = candidates[j] as Endpoint;
      return b.active < a.active ? b : a;
    }
    let total = 0;
    let best: Endpoint | undefined;
    for (const c of candidates) {
      c.current += c.weight;
      total += c.weight;
      if (best === undefined || c.current > best.current) best = c;
    }
    if (best !== undefined) best.current -= total;
    return best;
  }

  succeeded(ep: Endpoint, ms: number): void {
    this.#deps.metrics.upstreamConnectSeconds.observe(this.#label, ms / 1000);
    ep.failures = 0;
    ep.ejections = 0;
  }

  failed(ep: Endpoint, err: Error): void {
    const { metrics, logger, outlier } = this.#deps;
    metrics.upstreamConnectFailures.inc(this.#label);
    ep.failures++;
    const now = Date.now();
    logger.debug(
      { upstream: this.id, endpoint: ep.key, err: err.message, failures: ep.failures },
      'proxy: upstream connect failed',
    );
    if (ep.failures < outlier.consecutiveFailures || ep.ejectedUntil > now) return;
    ep.ejections++;
    const ms = Math.min(
      outlier.baseEjectionMs * 2 ** Math.min(ep.ejections - 1, 30),
      outlier.maxEjectionMs,
    );
    ep.ejectedUntil = now + ms;
    ep.failures = 0;
    metrics.upstreamEjections.inc(this.#label);
    logger.warn(
      { upstream: this.id, endpoint: ep.key, ejectionMs: ms, err: err.message },
      'proxy: upstream endpoint ejected after consecutive connect failures',
    );
  }

  /** A new mTLS connection to `ep` (for TCP), resuming its last session. */
  connect(ep: Endpoint): TLSSocket {
    const gen = this.#gen;
    if (gen === null) throw new Error('no leaf certificate yet');
    const options: ConnectionOptions & { allowHalfOpen: boolean } = {
      host: ep.address,
      port: ep.port,
      secureContext: gen.clientContext,
      rejectUnauthorized: true,
      checkServerIdentity: this.#check,
      ...(ep.session !== undefined ? { session: ep.session } : {}),
      // Passed on to the TLSSocket by tls.connect (not in @types/node's ConnectionOptions).
      allowHalfOpen: true,
    };
    const socket = tlsConnect(options);
    socket.on('session', (s: Buffer) => {
      if (this.#gen === gen) ep.session = s;
    });
    return socket;
  }

  #agent(ep: Endpoint, gen: TlsGeneration): HttpsAgent {
    ep.agent ??= new HttpsAgent({
      keepAlive: true,
      maxFreeSockets: MAX_FREE_SOCKETS,
      scheduling: 'lifo',
      secureContext: gen.clientContext,
      rejectUnauthorized: true,
      checkServerIdentity: this.#check,
      maxCachedSessions: 8,
    });
    return ep.agent;
  }

  /**
   * The forwarding target for attempt `attempt` of one HTTP request; `tried` collects the
   * endpoints that failed to connect for it, so a retry goes elsewhere.
   */
  httpTarget(tried: Set<Endpoint>): ForwardTarget | undefined {
    const gen = this.#gen;
    if (gen === null) return undefined;
    const ep = this.pick(tried, true);
    if (ep === undefined) return undefined;
    ep.active++;
    const agent = this.#agent(ep, gen);
    return {
      name: ep.key,
      secure: true,
      request: (method, path, headers): ClientRequest =>
        httpsRequest({ agent, host: ep.address, port: ep.port, method, path, headers }),
      connected: (ms) => this.succeeded(ep, ms),
      failed: (err) => {
        tried.add(ep);
        this.failed(ep, err);
      },
      done: () => {
        ep.active--;
      },
    };
  }

  status(): EndpointStatus[] {
    const now = Date.now();
    return this.endpoints.map((e) => ({
      address: e.address,
      port: e.port,
      weight: e.weight,
      active: e.active,
      failures: e.failures,
      ejected: e.ejectedUntil > now,
      ejectedUntil: e.ejectedUntil,
      hasSession: e.session !== undefined,
    }));
  }

  /** Drops the pools (in-flight requests finish). */
  close(): void {
    for (const ep of this.endpoints) {
      retire(ep.agent);
      ep.agent = undefined;
    }
  }

  /** Closes every pooled connection at once, in use or not. */
  destroy(): void {
    for (const ep of this.endpoints) {
      ep.agent?.destroy();
      ep.agent = undefined;
    }
  }
}
