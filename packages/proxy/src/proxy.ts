/**
 * The sidecar proxy and ingress gateway: applies proxy snapshots (from the agent's stream, or
 * handed to {@link Proxy.apply} directly) to a public listener and one listener per upstream
 * (a `connect-proxy` snapshot), or to one listener per gateway listener (`ingress-gateway`).
 *
 * Applying a version is all or nothing: it is checked, its TLS material loaded and every new
 * listener bound before anything changes; any failure (a malformed field, a bad PEM, a port
 * that cannot be bound) closes what was bound for it and rejects with the reason — the
 * stream sends that as the NACK, and the previous version keeps running. Once committed:
 * listeners on the same address and port stay bound and take the new configuration for new
 * connections and requests; established connections are never dropped (except TCP
 * connections an intention now denies); listeners no longer in the snapshot stop accepting
 * and their open connections run until they end.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  compileAuthorizer,
  type Authorizer,
  type ProxySnapshot,
  type SnapshotTls,
} from '@trellis/connect';
import type { EndpointStatus } from './cluster.js';
import {
  DEFAULT_OUTLIER,
  HANDSHAKE_TIMEOUT_MS,
  ProxyConfigError,
  checkSnapshot,
  type OutlierOptions,
} from './config.js';
import { silentLogger, type AccessLogger, type Logger } from './log.js';
import {
  GatewayListenerRuntime,
  compileGatewayRoutes,
  type GatewayRoutes,
  type GatewayServiceStatus,
} from './gateway-listener.js';
import { ProxyMetrics, type MetricsServer } from './metrics.js';
import { PublicListenerRuntime, type PublicConfig } from './public-listener.js';
import { ConfigStream, type StreamStatus } from './stream-client.js';
import { TlsGeneration } from './tls-generation.js';
import { UpstreamListenerRuntime } from './upstream-listener.js';

export interface ProxyOptions {
  /** The agent's proxy stream address, `host:port` (port 8502 by default). Absent: no stream;
   * configure with {@link Proxy.apply}. */
  readonly agentAddr?: string;
  /** The proxy service ID registered on the agent (`web-sidecar-proxy`). */
  readonly proxyId: string;
  readonly logger?: Logger;
  /** Serve Prometheus metrics at `http://<metricsHost>:<metricsPort>/metrics`. */
  readonly metricsPort?: number;
  /** Default 127.0.0.1. */
  readonly metricsHost?: string;
  /** Access logs: called once per request (HTTP) or connection (TCP). Off when absent. */
  readonly accessLog?: AccessLogger;
  /** Outlier detection of upstream endpoints. */
  readonly outlier?: Partial<OutlierOptions>;
  /** A TLS handshake on the public listener must finish within this. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
}

export interface ProxyStatus {
  readonly proxyId: string;
  /** The version applied last (0: none; hand-applied snapshots count from the caller). */
  readonly version: number;
  readonly lastNack: { readonly version: number; readonly error: string } | null;
  readonly stream: StreamStatus | null;
  readonly publicListener: AddressInfo | null;
  readonly upstreams: ReadonlyArray<{
    readonly id: string;
    readonly address: AddressInfo | null;
    readonly endpoints: readonly EndpointStatus[];
  }>;
  /** An ingress gateway's listeners, in snapshot order. */
  readonly gatewayListeners: ReadonlyArray<{
    readonly port: number;
    readonly protocol: string;
    readonly address: AddressInfo | null;
    readonly services: readonly GatewayServiceStatus[];
  }>;
}

type ListenerRuntime = PublicListenerRuntime | UpstreamListenerRuntime | GatewayListenerRuntime;

/** Listeners are keyed by address and port; ephemeral ones (port 0) by upstream too. */
function listenerKey(address: string, port: number, id = ''): string {
  return port === 0 ? `${address}|0|${id}` : `${address}|${port}`;
}

interface Prepared {
  readonly snapshot: ProxySnapshot;
  readonly gen: TlsGeneration | null;
  readonly authorizer: Authorizer | null;
  readonly authzSource: string | null;
  /** One per gateway listener, in snapshot order. */
  readonly routes: readonly GatewayRoutes[];
}

/** Events: `applied` (version, snapshot), `nack` (version, error). */
export class Proxy extends EventEmitter {
  readonly proxyId: string;
  readonly metrics = new ProxyMetrics();
  readonly #logger: Logger;
  readonly #accessLog: AccessLogger | undefined;
  readonly #outlier: OutlierOptions;
  readonly #handshakeTimeoutMs: number;
  #metricsServer: MetricsServer | null = null;
  #stream: ConfigStream | null = null;
  #public: PublicListenerRuntime | null = null;
  #publicKey = '';
  #upstreams = new Map<string, UpstreamListenerRuntime>();
  #gateways = new Map<string, GatewayListenerRuntime>();
  #snapshot: ProxySnapshot | null = null;
  #version = 0;
  #lastNack: { version: number; error: string } | null = null;
  #gen: TlsGeneration | null = null;
  #genCounter = 0;
  #authzSource: string | null = null;
  #authorizer: Authorizer | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #resolveClosed!: () => void;
  /** Resolves once {@link close} has finished. */
  readonly closed: Promise<void>;

  private constructor(o: ProxyOptions) {
    super();
    this.proxyId = o.proxyId;
    this.#logger = o.logger ?? silentLogger;
    this.#accessLog = o.accessLog;
    this.#outlier = { ...DEFAULT_OUTLIER, ...o.outlier };
    this.#handshakeTimeoutMs = o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }

  /**
   * Starts a proxy: the metrics listener (if asked) and the configuration stream (if
   * `agentAddr` is given). Resolves without waiting for the first snapshot.
   */
  static async start(o: ProxyOptions): Promise<Proxy> {
    const p = new Proxy(o);
    if (o.metricsPort !== undefined) {
      p.#metricsServer = await p.metrics.serve(o.metricsHost ?? '127.0.0.1', o.metricsPort);
    }
    if (o.agentAddr !== undefined) {
      p.#stream = new ConfigStream({
        agentAddr: o.agentAddr,
        proxyId: o.proxyId,
        logger: p.#logger,
        apply: (s, v) => p.apply(s, v),
        onNack: (version, error) => {
          p.#lastNack = { version, error };
          p.metrics.configUpdates.inc({ result: 'nack' });
          p.emit('nack', version, error);
        },
      });
    }
    return p;
  }

  get version(): number {
    return this.#version;
  }

  get snapshot(): ProxySnapshot | null {
    return this.#snapshot;
  }

  /**
   * Applies a snapshot (the stream calls this for each version). Rejects with a
   * ProxyConfigError when it cannot be applied; the previous configuration then stays.
   * Calls are serialized.
   */
  apply(snapshot: ProxySnapshot, version = this.#version + 1): Promise<void> {
    const run = this.#queue.then(() => this.#apply(snapshot, version));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #apply(raw: unknown, version: number): Promise<void> {
    if (this.#closed) throw new ProxyConfigError('proxy is closed');
    const prepared = this.#prepare(raw);
    const s = prepared.snapshot;
    const deps = {
      metrics: this.metrics,
      logger: this.#logger,
      accessLog: this.#accessLog,
      handshakeTimeoutMs: this.#handshakeTimeoutMs,
    };
    const clusterDeps = { ...deps, outlier: this.#outlier };
    const pl = s.publicListener;
    const publicCfg: PublicConfig | null =
      pl !== null && prepared.authorizer !== null
        ? {
            listener: pl,
            gen: prepared.gen,
            authorizer: prepared.authorizer,
            ownSpiffeId: s.spiffeId,
          }
        : null;
    const newPublicKey = pl !== null ? listenerKey(pl.bindAddress, pl.bindPort, '*public') : '';
    const upstreamKeys = new Set(
      s.upstreams.map((u) => listenerKey(u.bindAddress, u.bindPort, u.id)),
    );
    const gatewayKeys = new Set(
      s.gatewayListeners.map((g, i) => listenerKey(g.bindAddress, g.port, `*gateway${i}`)),
    );
    // Listeners this version drops: their ports may be wanted by new ones.
    const dropping: ListenerRuntime[] = [];
    if (this.#public !== null && (publicCfg === null || newPublicKey !== this.#publicKey)) {
      dropping.push(this.#public);
    }
    for (const [key, l] of this.#upstreams) if (!upstreamKeys.has(key)) dropping.push(l);
    for (const [key, l] of this.#gateways) if (!gatewayKeys.has(key)) dropping.push(l);
    const stoppedEarly: ListenerRuntime[] = [];

    // 1. Bind what is new; nothing running changes yet.
    const created: ListenerRuntime[] = [];
    let newPublic: PublicListenerRuntime | null = null;
    const nextUpstreams = new Map<string, UpstreamListenerRuntime>();
    const newUpstreams = new Set<UpstreamListenerRuntime>();
    const nextGateways = new Map<string, GatewayListenerRuntime>();
    const newGateways = new Set<GatewayListenerRuntime>();
    try {
      if (publicCfg !== null && (this.#public === null || newPublicKey !== this.#publicKey)) {
        newPublic = new PublicListenerRuntime(publicCfg, deps);
        created.push(newPublic);
        await this.#bind(
          newPublic,
          `public listener ${publicCfg.listener.bindAddress}:${publicCfg.listener.bindPort}`,
          dropping,
          stoppedEarly,
        );
      }
      for (const u of s.upstreams) {
        const key = listenerKey(u.bindAddress, u.bindPort, u.id);
        if (nextUpstreams.has(key) || key === newPublicKey) {
          throw new ProxyConfigError(
            `upstream ${u.id}: ${u.bindAddress}:${u.bindPort} is bound by another listener of this snapshot`,
          );
        }
        const existing = this.#upstreams.get(key);
        if (existing !== undefined) {
          nextUpstreams.set(key, existing);
          continue;
        }
        const l = new UpstreamListenerRuntime(u, prepared.gen, clusterDeps);
        created.push(l);
        await this.#bind(
          l,
          `upstream ${u.id} listener ${u.bindAddress}:${u.bindPort}`,
          dropping,
          stoppedEarly,
        );
        nextUpstreams.set(key, l);
        newUpstreams.add(l);
      }
      for (const [i, g] of s.gatewayListeners.entries()) {
        const key = listenerKey(g.bindAddress, g.port, `*gateway${i}`);
        if (nextGateways.has(key)) {
          throw new ProxyConfigError(
            `gatewayListeners[${i}]: ${g.bindAddress}:${g.port} is bound by another listener of this snapshot`,
          );
        }
        const existing = this.#gateways.get(key);
        if (existing !== undefined) {
          nextGateways.set(key, existing);
          continue;
        }
        const routes = prepared.routes[i] as GatewayRoutes;
        const l = new GatewayListenerRuntime(g, routes, prepared.gen, clusterDeps);
        created.push(l);
        await this.#bind(l, `ingress listener ${g.bindAddress}:${g.port}`, dropping, stoppedEarly);
        nextGateways.set(key, l);
        newGateways.add(l);
      }
    } catch (e) {
      for (const l of created) l.destroy();
      // Put back what was stopped to free a port (best effort: it held the port a moment ago).
      for (const l of stoppedEarly) {
        await l
          .listen()
          .catch((err: Error) =>
            this.#logger.error(
              { err: err.message },
              'proxy: could not rebind a listener after a refused configuration',
            ),
          );
      }
      throw e instanceof ProxyConfigError ? e : new ProxyConfigError((e as Error).message);
    }

    // 2. Commit.
    if (publicCfg !== null) {
      if (newPublic !== null) {
        this.#public?.close();
        this.#public = newPublic;
        this.#publicKey = newPublicKey;
      } else {
        this.#public?.update(publicCfg);
      }
    } else if (this.#public !== null) {
      this.#public.close();
      this.#public = null;
      this.#publicKey = '';
    }
    for (const u of s.upstreams) {
      const l = nextUpstreams.get(listenerKey(u.bindAddress, u.bindPort, u.id));
      if (l !== undefined && !newUpstreams.has(l)) l.update(u, prepared.gen);
    }
    for (const [key, l] of this.#upstreams) if (!nextUpstreams.has(key)) l.close();
    this.#upstreams = nextUpstreams;
    for (const [i, g] of s.gatewayListeners.entries()) {
      const l = nextGateways.get(listenerKey(g.bindAddress, g.port, `*gateway${i}`));
      if (l !== undefined && !newGateways.has(l)) {
        l.update(g, prepared.routes[i] as GatewayRoutes, prepared.gen);
      }
    }
    for (const [key, l] of this.#gateways) if (!nextGateways.has(key)) l.close();
    this.#gateways = nextGateways;
    this.#gen = prepared.gen;
    this.#authorizer = prepared.authorizer;
    this.#authzSource = prepared.authzSource;
    this.#snapshot = s;
    this.#version = version;
    this.metrics.configVersion.set(version);
    this.metrics.configUpdates.inc({ result: 'ack' });
    const warnings: unknown = s.warnings;
    if (Array.isArray(warnings)) {
      for (const w of warnings as unknown[])
        this.#logger.debug({ warning: w }, 'proxy: snapshot warning');
    }
    this.#logger.info({ version }, 'proxy: configuration applied');
    this.emit('applied', version, s);
  }

  /** Checks the snapshot and builds its TLS generation, authorizer and routes (may throw). */
  #prepare(raw: unknown): Prepared {
    checkSnapshot(raw);
    const s = raw;
    if (s.kind === 'connect-proxy' && s.gatewayListeners.length > 0) {
      throw new ProxyConfigError('a connect-proxy snapshot has no gatewayListeners');
    }
    if (s.kind === 'ingress-gateway' && (s.publicListener !== null || s.upstreams.length > 0)) {
      throw new ProxyConfigError(
        'an ingress-gateway snapshot has no publicListener and no upstreams',
      );
    }
    if (s.proxyId !== this.proxyId) {
      throw new ProxyConfigError(`snapshot is for proxy ${s.proxyId}, this is ${this.proxyId}`);
    }
    const routes = s.gatewayListeners.map((g, i) =>
      compileGatewayRoutes(g, `gatewayListeners[${i}]`),
    );
    const gen = s.tls !== null ? this.#generation(s.tls) : null;
    let authorizer: Authorizer | null = null;
    let authzSource: string | null = null;
    if (s.publicListener !== null) {
      // The compiled intentions rarely change: keep the authorizer when they are the same
      // (then open connections are not re-authorized).
      authzSource = JSON.stringify(s.publicListener.authz);
      if (authzSource === this.#authzSource && this.#authorizer !== null) {
        authorizer = this.#authorizer;
      } else {
        try {
          authorizer = compileAuthorizer(s.publicListener.authz);
        } catch (e) {
          throw new ProxyConfigError(`publicListener.authz: ${(e as Error).message}`);
        }
      }
    }
    return { snapshot: s, gen, authorizer, authzSource, routes };
  }

  #generation(material: SnapshotTls): TlsGeneration {
    if (this.#gen?.sameAs(material) === true) return this.#gen;
    try {
      return new TlsGeneration(++this.#genCounter, material);
    } catch (e) {
      throw new ProxyConfigError(`tls: ${(e as Error).message}`);
    }
  }

  /**
   * Binds a new listener. When its port is taken and a listener this version drops holds
   * that port (another address, say 0.0.0.0 → 127.0.0.1), that one stops accepting first and
   * the bind is tried again; `stoppedEarly` collects it for a rollback.
   */
  async #bind(
    l: ListenerRuntime,
    what: string,
    dropping: ListenerRuntime[],
    stoppedEarly: ListenerRuntime[],
  ): Promise<void> {
    try {
      try {
        await l.listen();
      } catch (e) {
        const port = l.configuredPort;
        const holder = dropping.find(
          (d) => !stoppedEarly.includes(d) && port !== 0 && d.address()?.port === port,
        );
        if ((e as { code?: string }).code !== 'EADDRINUSE' || holder === undefined) throw e;
        // Stop accepting; the port is free once the handle has closed (a loop turn or so).
        holder.server.close();
        stoppedEarly.push(holder);
        for (let i = 0; ; i++) {
          await new Promise((resolve) => setTimeout(resolve, i === 0 ? 0 : 10));
          try {
            await l.listen();
            break;
          } catch (again) {
            if ((again as { code?: string }).code !== 'EADDRINUSE' || i >= 20) throw again;
          }
        }
      }
    } catch (e) {
      throw new ProxyConfigError(`${what}: ${(e as Error).message}`);
    }
    l.server.on('error', (err: Error) =>
      this.#logger.warn({ listener: what, err: err.message }, 'proxy: listener error'),
    );
  }

  /** Where the public listener is bound (its real port when the snapshot says 0). */
  publicAddress(): AddressInfo | null {
    return this.#public?.address() ?? null;
  }

  /** Where an upstream's listener is bound. */
  upstreamAddress(id: string): AddressInfo | null {
    for (const l of this.#upstreams.values()) if (l.upstream.id === id) return l.address();
    return null;
  }

  /** Where the ingress gateway listener at `index` of the snapshot's gatewayListeners is bound. */
  gatewayAddress(index: number): AddressInfo | null {
    const g = this.#snapshot?.gatewayListeners[index];
    if (g === undefined) return null;
    return (
      this.#gateways.get(listenerKey(g.bindAddress, g.port, `*gateway${index}`))?.address() ?? null
    );
  }

  metricsAddress(): AddressInfo | null {
    return this.#metricsServer?.address() ?? null;
  }

  status(): ProxyStatus {
    return {
      proxyId: this.proxyId,
      version: this.#version,
      lastNack: this.#lastNack,
      stream: this.#stream?.status() ?? null,
      publicListener: this.publicAddress(),
      upstreams: [...this.#upstreams.values()].map((l) => ({
        id: l.upstream.id,
        address: l.address(),
        endpoints: l.cluster.status(),
      })),
      gatewayListeners: (this.#snapshot?.gatewayListeners ?? []).flatMap((g, i) => {
        const l = this.#gateways.get(listenerKey(g.bindAddress, g.port, `*gateway${i}`));
        return l === undefined
          ? []
          : [{ port: g.port, protocol: g.protocol, address: l.address(), services: l.status() }];
      }),
    };
  }

  /** Stops the stream, closes every listener and connection, and the metrics listener. */
  async close(): Promise<void> {
    if (this.#closed) return this.closed;
    this.#closed = true;
    await this.#stream?.close();
    await this.#queue;
    this.#public?.destroy();
    this.#public = null;
    for (const l of this.#upstreams.values()) l.destroy();
    this.#upstreams.clear();
    for (const l of this.#gateways.values()) l.destroy();
    this.#gateways.clear();
    await this.#metricsServer?.close();
    this.#resolveClosed();
    return this.closed;
  }
}
