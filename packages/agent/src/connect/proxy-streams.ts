/**
 * The proxy configuration stream (DESIGN.md data flow 5): a proxy connects to its local agent
 * on port 8502 (@trellis/rpc), names the proxy service it serves, and gets a versioned proxy
 * snapshot now and after every change of what it depends on:
 *
 *   the proxy's own registration (local state) · its leaf certificate (leaf.ts) · the CA
 *   roots · the service-intentions, service-defaults and proxy-defaults entries · the
 *   Connect-capable healthy instances of each upstream (`/v1/health/connect/:svc`) · for an
 *   ingress gateway, its ingress-gateway entry and each listener service's instances.
 *
 * Every input is a shared watch (watches.ts), so 1,000 proxies with the same upstreams cost
 * the agent one parked query per distinct input. A change schedules a compile (coalesced
 * within COMPILE_DELAY_MS); the snapshot (@trellis/connect compileProxySnapshot, pure) is
 * pushed only when its hash changed, as version n+1. While a send waits for the proxy (flow
 * control), newer changes collapse into one next version, so a slow proxy never queues
 * snapshots. The proxy ACKs or NACKs each version; a NACK is logged and kept in the status
 * (`GET /v1/agent/connect/proxy/:id`), and the proxy keeps running its last good version.
 */
import {
  INGRESS_GATEWAY,
  PROXY_CONFIG_METHOD,
  compileProxySnapshot,
  decodeProxyStreamOpen,
  decodeProxyStreamUp,
  snapshotHash,
  upstreamId,
  type IngressGatewayEntry,
  type ProxyDefaultsEntry,
  type ProxySnapshot,
  type ServiceDefaultsEntry,
  type ServiceIntentionsEntry,
} from '@trellis/connect';
import { Handlers, RpcServer, type RpcStream } from '@trellis/rpc';
import type { CheckServiceNode, Node } from '@trellis/state';
import type { LocalAgent } from '../local/agent.js';
import type { LocalService } from '../local/types.js';
import type { AgentLogger } from '../log.js';
import { INTENTIONS_PATH, type AgentConnect } from './agent-connect.js';
import { ROOTS_PATH, type LeafJson, type RootsJson } from './leaf.js';
import type { WatchValue } from './watches.js';

const SERVICE_DEFAULTS_PATH = '/v1/config/service-defaults';
const PROXY_DEFAULTS_PATH = '/v1/config/proxy-defaults';
const INGRESS_PATH = '/v1/config/ingress-gateway';
/** Changes within this window are compiled once. */
export const COMPILE_DELAY_MS = 10;
/** Most streams one agent serves (each holds a few KiB of state and a snapshot). */
export const MAX_PROXY_STREAMS = 8192;

function healthPath(name: string, dc: string): string {
  return `/v1/health/connect/${encodeURIComponent(name)}${dc === '' ? '' : `?dc=${encodeURIComponent(dc)}`}`;
}

export interface NackInfo {
  readonly Version: number;
  readonly Error: string;
  readonly At: string;
}

/** One stream's state as `GET /v1/agent/connect/proxy/:id` shows it. */
export interface ProxyStreamStatus {
  readonly ProxyServiceID: string;
  readonly Version: number;
  readonly AckedVersion: number;
  readonly LastNack: NackInfo | null;
  readonly ConnectedAt: string;
  readonly Warnings: readonly string[];
}

export interface ProxyStreamsOptions {
  readonly connect: AgentConnect;
  readonly local: LocalAgent;
  /** This agent's node (the proxies' node). */
  readonly node: () => Node;
  readonly logger: AgentLogger;
}

class ProxyWatch {
  version = 0;
  acked = 0;
  lastNack: NackInfo | null = null;
  readonly connectedAt = new Date().toISOString();
  warnings: readonly string[] = [];
  #hash = '';
  #subs = new Map<string, () => void>();
  readonly #values = new Map<string, WatchValue>();
  #leafFor = '';
  #unleaf: (() => void) | null = null;
  #leaf: LeafJson | undefined;
  #timer: NodeJS.Timeout | null = null;
  #sending = false;
  #dirty = false;
  #closed = false;
  readonly #unlocal: () => void;

  constructor(
    readonly proxyId: string,
    private readonly o: ProxyStreamsOptions,
    private readonly stream: RpcStream,
  ) {
    this.#unlocal = o.local.state.onChange(() => this.#plan());
    this.#plan();
  }

  /** The proxy's registration, if it is (still) a proxy on this agent. */
  #service(): LocalService | undefined {
    const s = this.o.local.service(this.proxyId);
    return s !== undefined && (s.Kind === 'connect-proxy' || s.Kind === INGRESS_GATEWAY)
      ? s
      : undefined;
  }

  /** (Re)subscribes to exactly what the current registration needs. */
  #plan(): void {
    if (this.#closed) return;
    const s = this.#service();
    const want = new Set<string>([
      ROOTS_PATH,
      INTENTIONS_PATH,
      SERVICE_DEFAULTS_PATH,
      PROXY_DEFAULTS_PATH,
    ]);
    let leafFor = '';
    if (s !== undefined) {
      if (s.Kind === 'connect-proxy') {
        leafFor = s.Proxy.DestinationServiceName;
        for (const u of s.Proxy.Upstreams) {
          if (u.DestinationType === '' || u.DestinationType === 'service') {
            want.add(
              healthPath(
                u.DestinationName,
                u.Datacenter === this.o.connect.datacenter ? '' : u.Datacenter,
              ),
            );
          }
        }
      } else {
        leafFor = s.Service;
        want.add(INGRESS_PATH);
        const entry = this.#ingressEntry(s.Service);
        for (const l of entry?.Listeners ?? []) {
          for (const svc of l.Services) if (svc.Name !== '*') want.add(healthPath(svc.Name, ''));
        }
      }
    }
    for (const [path, stop] of this.#subs) {
      if (!want.has(path)) {
        stop();
        this.#subs.delete(path);
        this.#values.delete(path);
      }
    }
    for (const path of want) {
      if (this.#subs.has(path)) continue;
      this.#subs.set(
        path,
        this.o.connect.watches.subscribe(path, (v) => {
          this.#values.set(path, v);
          // The ingress entry decides which services to watch.
          if (path === INGRESS_PATH) queueMicrotask(() => this.#plan());
          this.#schedule();
        }),
      );
    }
    if (leafFor !== this.#leafFor) {
      this.#unleaf?.();
      this.#unleaf = null;
      this.#leaf = undefined;
      this.#leafFor = leafFor;
      if (leafFor !== '') {
        this.#unleaf = this.o.connect.leaves.subscribe(leafFor, (l) => {
          this.#leaf = l;
          this.#schedule();
        });
      }
    }
    this.#schedule();
  }

  #ingressEntry(name: string): IngressGatewayEntry | undefined {
    const list = this.#values.get(INGRESS_PATH)?.value;
    if (!Array.isArray(list)) return undefined;
    const e = (list as IngressGatewayEntry[]).find((x) => x.Name === name);
    if (e === undefined) return undefined;
    // The watch holds the API's JSON, where a service without hosts has `Hosts: null`.
    return {
      ...e,
      Listeners: (e.Listeners ?? []).map((l) => ({
        ...l,
        Services: (l.Services ?? []).map((svc) => ({ ...svc, Hosts: svc.Hosts ?? [] })),
      })),
    };
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#push();
    }, COMPILE_DELAY_MS);
  }

  #compile(s: LocalService): ProxySnapshot {
    const roots = this.#values.get(ROOTS_PATH)?.value as RootsJson | undefined;
    const list = <T>(path: string): T[] => {
      const v = this.#values.get(path)?.value;
      return Array.isArray(v) ? (v as T[]) : [];
    };
    const serviceDefaults: Record<string, ServiceDefaultsEntry> = {};
    for (const e of list<ServiceDefaultsEntry>(SERVICE_DEFAULTS_PATH)) serviceDefaults[e.Name] = e;
    const proxyDefaults = list<ProxyDefaultsEntry>(PROXY_DEFAULTS_PATH).find(
      (e) => e.Name === 'global',
    );
    const upstreamInstances: Record<string, CheckServiceNode[]> = {};
    if (s.Kind === 'connect-proxy') {
      for (const u of s.Proxy.Upstreams) {
        const dc = u.Datacenter === this.o.connect.datacenter ? '' : u.Datacenter;
        upstreamInstances[upstreamId(u)] = list<CheckServiceNode>(
          healthPath(u.DestinationName, dc),
        );
      }
    }
    const ingress = s.Kind === INGRESS_GATEWAY ? this.#ingressEntry(s.Service) : undefined;
    for (const l of ingress?.Listeners ?? []) {
      for (const svc of l.Services) {
        if (svc.Name !== '*')
          upstreamInstances[svc.Name] = list<CheckServiceNode>(healthPath(svc.Name, ''));
      }
    }
    const node = this.o.node();
    const leaf = this.#leaf;
    return compileProxySnapshot({
      proxy: { ...s, Node: node.Node, CreateIndex: 0, ModifyIndex: 0 },
      node,
      datacenter: this.o.connect.datacenter,
      trustDomain: roots?.TrustDomain ?? '',
      leaf:
        leaf === undefined
          ? undefined
          : {
              certPem: leaf.CertPEM,
              keyPem: leaf.PrivateKeyPEM,
              serialNumber: leaf.SerialNumber,
              validBefore: leaf.ValidBefore,
            },
      roots: {
        activeRootId: roots?.ActiveRootID ?? '',
        pems: (roots?.Roots ?? []).flatMap((r) => [r.RootCert, ...(r.IntermediateCerts ?? [])]),
      },
      intentions: list<ServiceIntentionsEntry>(INTENTIONS_PATH),
      defaultAllow: this.o.connect.defaultAllow,
      serviceDefaults,
      proxyDefaults,
      upstreamInstances,
      ingressGateway: ingress,
    });
  }

  async #push(): Promise<void> {
    if (this.#closed) return;
    if (this.#sending) {
      this.#dirty = true;
      return;
    }
    const s = this.#service();
    if (s === undefined) {
      await this.#fail(`${this.proxyId} is not a proxy service registered on this agent`);
      return;
    }
    // Nothing to send before the roots are known: a proxy cannot run without them.
    if (this.#values.get(ROOTS_PATH) === undefined) return;
    let snapshot: ProxySnapshot;
    try {
      snapshot = this.#compile(s);
    } catch (e) {
      this.o.logger.warn(
        { proxy: this.proxyId, err: (e as Error).message },
        'connect: proxy snapshot failed to compile',
      );
      return;
    }
    const hash = snapshotHash(snapshot);
    if (hash === this.#hash) return;
    this.#hash = hash;
    this.version++;
    this.warnings = snapshot.warnings;
    this.#sending = true;
    try {
      await this.stream.send({ type: 'snapshot', version: this.version, snapshot });
    } catch {
      this.close();
      return;
    } finally {
      this.#sending = false;
    }
    if (this.#dirty) {
      this.#dirty = false;
      this.#schedule();
    }
  }

  async #fail(message: string): Promise<void> {
    try {
      await this.stream.send({ type: 'error', message });
      this.stream.end();
    } catch {
      // the proxy is gone already
    }
    this.close();
  }

  /** An ACK or NACK from the proxy. */
  onMessage(msg: unknown): void {
    let m;
    try {
      m = decodeProxyStreamUp(msg);
    } catch (e) {
      this.o.logger.warn(
        { proxy: this.proxyId, err: (e as Error).message },
        'connect: bad message from a proxy',
      );
      return;
    }
    if (m.version > this.version) {
      this.o.logger.warn(
        { proxy: this.proxyId, version: m.version },
        'connect: a proxy answered a version never sent',
      );
      return;
    }
    if (m.type === 'ack') {
      this.acked = Math.max(this.acked, m.version);
      return;
    }
    this.lastNack = { Version: m.version, Error: m.error, At: new Date().toISOString() };
    this.o.logger.warn(
      { proxy: this.proxyId, version: m.version, error: m.error, running: this.acked },
      'connect: proxy refused a configuration (NACK); it keeps its last good version',
    );
  }

  status(): ProxyStreamStatus {
    return {
      ProxyServiceID: this.proxyId,
      Version: this.version,
      AckedVersion: this.acked,
      LastNack: this.lastNack,
      ConnectedAt: this.connectedAt,
      Warnings: this.warnings,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#unlocal();
    for (const stop of this.#subs.values()) stop();
    this.#subs.clear();
    this.#unleaf?.();
  }
}

export class ProxyStreams {
  readonly #o: ProxyStreamsOptions;
  readonly #streams = new Set<ProxyWatch>();
  #server: RpcServer | null = null;

  constructor(o: ProxyStreamsOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Listens for proxies (Consul's grpc port, 8502). */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const handlers = new Handlers().stream(PROXY_CONFIG_METHOD, (stream, body) =>
      this.#serve(stream, body),
    );
    this.#server = await RpcServer.listen({
      host,
      port,
      handlers,
      maxConnections: MAX_PROXY_STREAMS,
    });
    return this.#server.address();
  }

  async #serve(stream: RpcStream, body: unknown): Promise<void> {
    let proxyId: string;
    try {
      proxyId = decodeProxyStreamOpen(body).proxyId;
    } catch (e) {
      await stream.send({ type: 'error', message: (e as Error).message }).catch(() => {});
      stream.end();
      return;
    }
    if (this.#streams.size >= MAX_PROXY_STREAMS) {
      await stream
        .send({
          type: 'error',
          message: `too many proxy streams on this agent (limit ${MAX_PROXY_STREAMS})`,
        })
        .catch(() => {});
      stream.end();
      return;
    }
    const w = new ProxyWatch(proxyId, this.#o, stream);
    this.#streams.add(w);
    try {
      for await (const msg of stream) w.onMessage(msg);
    } catch {
      // cancelled or disconnected
    } finally {
      w.close();
      this.#streams.delete(w);
    }
  }

  /** Where proxies connect, once listening. */
  address(): { host: string; port: number } | undefined {
    return this.#server?.address();
  }

  /** The streams serving `proxyId` (a proxy may reconnect while its old stream lingers). */
  status(proxyId?: string): ProxyStreamStatus[] {
    return [...this.#streams]
      .filter((w) => proxyId === undefined || w.proxyId === proxyId)
      .map((w) => w.status());
  }

  async close(): Promise<void> {
    for (const w of this.#streams) w.close();
    this.#streams.clear();
    await this.#server?.close();
    this.#server = null;
  }
}
