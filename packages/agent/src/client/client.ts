/**
 * The client agent's link to the cluster: its LAN gossip member (tags `role=node`, `dc`,
 * `id`, `build`, `vsn`), the servers it finds through gossip, and RPCs to one of them.
 *
 * Server choice (Consul's router.Manager): the alive servers of our datacenter in a random
 * order; every call goes to the first; a server that cannot be reached (or is not alive in
 * gossip) is moved to the back and the call is retried on the next, within
 * {@link RPC_HOLD_MS}. The list is reshuffled every few minutes so clients spread over the
 * servers. A call that reached a server and failed there is not retried unless it is safe
 * (a read, or a write the server certainly did not make).
 */
import type { IssuedLeaf } from '../connect/server-ca.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { availableParallelism } from 'node:os';
import type { GossipAgent, Member, PresetName } from '@trellis/gossip';
import { servfailFor, type DnsAnswerer } from '@trellis/dns';
import { RpcClient, RpcError } from '@trellis/rpc';
import {
  AGENT_NODE_HEADER,
  CLIENT_RPC,
  MAX_FORWARD_MS,
  MAX_NODE_CHECKS_WAIT_MS,
  type DnsReply,
  type ForwardedAnswer,
  type ForwardedRequest,
  type NodeChecksReply,
  type NodeStateReply,
} from '../client-rpc.js';
import type { RuntimeConfig } from '../config/schema.js';
import {
  BackendError,
  type AgentSelfInfo,
  type FireEventRequest,
  type MemberInfo,
  type UserEventInfo,
} from '../http/backend.js';
import type { CatalogSync } from '../local/anti-entropy.js';
import type { RemoteChecks } from '../local/agent.js';
import type { AgentLogger } from '../log.js';
import { UserEventLog } from '../membership/events.js';
import {
  advertiseHost,
  hostOf,
  hostPort,
  gossipStats,
  memberInfo,
  startLanGossip,
} from '../membership/members.js';
import { loadOrCreateNodeId } from '../server/ids.js';

/** Longest a call waits for a reachable server (Consul's rpc_hold_timeout: 7 s). */
export const RPC_HOLD_MS = 7_000;
/** Longest wait for a connection before the server counts as unreachable. */
const CONNECT_WAIT_MS = 500;
/** How often the server order is reshuffled (Consul rebalances every ~2–4 min). */
const REBALANCE_MS = 120_000;

export interface ClientOptions {
  readonly config: RuntimeConfig;
  readonly logger: AgentLogger;
  readonly version: string;
  readonly gossipPreset?: PresetName;
  readonly localServices?: () => readonly { Service: string; Tags: readonly string[] }[];
}

interface ServerEntry {
  readonly name: string;
  readonly url: string;
}

/**
 * An error that is the server's answer, not its failure: the same request would get the same
 * answer from any server, so it is neither retried nor held against the server. A refusal by
 * the CSR rate limit is one too (the agent's leaf cache retries it with its own back-off, as
 * Consul's client does not retry ErrRateLimited either).
 */
const ANSWERS = new Set([
  'ERR_BAD_REQUEST',
  'ERR_STATE',
  'ERR_BACKEND_BAD_REQUEST',
  'ERR_BACKEND_RATE_LIMITED',
]);

function isAnswer(e: RpcError): boolean {
  return ANSWERS.has(e.code);
}

/** Errors after which the call certainly did not run on the server. */
function notDelivered(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'ERR_RPC_CONNECT' || code === 'ERR_RPC_OVERLOADED';
}

export class Client {
  readonly datacenter: string;
  readonly nodeName: string;
  readonly nodeId: string;
  readonly isServer = false;
  readonly #cfg: RuntimeConfig;
  readonly #o: ClientOptions;
  readonly #log: AgentLogger;
  readonly #events: UserEventLog;
  #gossip!: GossipAgent;
  #advertise = '';
  /** Alive servers of our datacenter, in the order calls try them. */
  #servers: ServerEntry[] = [];
  readonly #conns = new Map<string, RpcClient>();
  #rebalance: NodeJS.Timeout | null = null;
  #closed = false;
  #leaving = false;
  /** RPCs sent, by method (for /v1/agent/self and the client benchmark). */
  readonly #rpcCalls = new Map<string, number>();
  #rpcFailovers = 0;
  #resolveStopped!: () => void;
  readonly stopped = new Promise<void>((resolve) => {
    this.#resolveStopped = resolve;
  });

  private constructor(o: ClientOptions) {
    this.#o = o;
    this.#cfg = o.config;
    this.#log = o.logger;
    this.datacenter = o.config.datacenter;
    this.nodeName = o.config.node_name;
    this.nodeId = loadOrCreateNodeId(o.config.data_dir);
    this.#events = new UserEventLog({
      nodeName: this.nodeName,
      logger: o.logger.child({ name: 'agent.event' }),
      localServices: () => o.localServices?.() ?? [],
    });
  }

  static async start(o: ClientOptions): Promise<Client> {
    const c = new Client(o);
    try {
      await c.#start();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  async #start(): Promise<void> {
    const cfg = this.#cfg;
    this.#advertise = advertiseHost(cfg);
    this.#gossip = await startLanGossip(cfg, {
      advertise: this.#advertise,
      ...(this.#o.gossipPreset === undefined ? {} : { preset: this.#o.gossipPreset }),
      tags: { role: 'node', dc: cfg.datacenter, id: this.nodeId, vsn: '2', build: this.#o.version },
      logger: this.#log.child({ name: 'agent.client.serf.lan' }),
    });
    this.#gossip.onMember((kind, m) => {
      this.#log.debug({ member: m.name, event: kind, status: m.status }, 'serf: member event');
      this.#refreshServers();
    });
    this.#gossip.onUserEvent((e) => this.#events.receive(e.name, e.payload, e.ltime));
    this.#refreshServers();
    this.#rebalance = setInterval(() => this.#shuffle(), REBALANCE_MS);
    this.#rebalance.unref();
  }

  get address(): string {
    return this.#advertise;
  }

  get gossipAddress(): string {
    return this.#gossip.addr;
  }

  /** Members in the LAN pool (alive or suspect). */
  clusterSize(): number {
    return this.#gossip.numAlive();
  }

  // ------------------------------------------------------------------ servers

  #isServer(m: Member): boolean {
    return m.tags.role === 'consul' && m.tags.dc === this.datacenter && Number(m.tags.port) > 0;
  }

  /** Keeps the current order for servers still alive; new ones join at random places. */
  #refreshServers(): void {
    const alive = new Map<string, ServerEntry>();
    for (const m of this.#gossip.members()) {
      if (!this.#isServer(m) || (m.status !== 'alive' && m.status !== 'suspect')) continue;
      alive.set(m.name, {
        name: m.name,
        url: `ws://${hostPort(hostOf(m.addr), Number(m.tags.port))}/trellis/rpc`,
      });
    }
    const kept = this.#servers.filter((s) => alive.get(s.name)?.url === s.url);
    for (const s of alive.values()) {
      if (kept.some((k) => k.name === s.name)) continue;
      kept.splice(Math.floor(Math.random() * (kept.length + 1)), 0, s);
    }
    this.#servers = kept;
    for (const [url, conn] of this.#conns) {
      if (!kept.some((s) => s.url === url)) {
        this.#conns.delete(url);
        void conn.close();
      }
    }
  }

  #shuffle(): void {
    const s = [...this.#servers];
    for (let i = s.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [s[i], s[j]] = [s[j]!, s[i]!];
    }
    this.#servers = s;
  }

  /** The servers this client knows, in the order it tries them. */
  servers(): readonly string[] {
    return this.#servers.map((s) => s.name);
  }

  #conn(s: ServerEntry): RpcClient {
    let c = this.#conns.get(s.url);
    if (c === undefined) {
      c = new RpcClient({
        url: s.url,
        nodeName: this.nodeName,
        reconnectBaseMs: 50,
        reconnectMaxMs: 2_000,
      });
      this.#conns.set(s.url, c);
    }
    return c;
  }

  /** Moves a failing server to the back of the list. */
  #demote(s: ServerEntry): void {
    const i = this.#servers.indexOf(s);
    if (i >= 0 && this.#servers.length > 1) {
      this.#servers.splice(i, 1);
      this.#servers.push(s);
    }
  }

  /**
   * Calls `method` on a server, failing over as the class comment says. `idempotent` calls
   * are retried after any failure of the server; others only when not delivered.
   */
  async call(
    method: string,
    body: unknown,
    opts: { timeoutMs?: number; idempotent?: boolean; signal?: AbortSignal } = {},
  ): Promise<unknown> {
    const deadline = performance.now() + RPC_HOLD_MS;
    let lastErr: unknown;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new BackendError('UNAVAILABLE', 'agent is shutting down');
      const s = this.#servers[0];
      if (s !== undefined) {
        this.#rpcCalls.set(method, (this.#rpcCalls.get(method) ?? 0) + 1);
        try {
          const conn = await this.#conn(s)
            .connection({
              timeoutMs: CONNECT_WAIT_MS,
              ...(opts.signal ? { signal: opts.signal } : {}),
            })
            .catch((e: unknown) => {
              throw new RpcError(
                'ERR_RPC_CONNECT',
                `server ${s.name} is unreachable: ${e instanceof Error ? e.message : String(e)}`,
              );
            });
          return await conn.call(method, body, {
            timeoutMs: opts.timeoutMs ?? 10_000,
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
        } catch (e) {
          lastErr = e;
          const retry =
            notDelivered(e) ||
            (opts.idempotent === true && !(e instanceof RpcError && isAnswer(e)));
          if (!retry || opts.signal?.aborted) throw this.#fromRpc(e);
          this.#demote(s);
          this.#rpcFailovers++;
          this.#log.debug(
            { server: s.name, err: (e as Error).message },
            'rpc failed; trying another server',
          );
        }
      }
      if (performance.now() > deadline) {
        if (lastErr === undefined) {
          throw new BackendError('UNAVAILABLE', 'No known Consul servers');
        }
        throw this.#fromRpc(lastErr);
      }
      await sleep(Math.min(50 * 2 ** attempt, 500));
    }
  }

  #fromRpc(e: unknown): Error {
    if (e instanceof BackendError) return e;
    if (e instanceof RpcError) {
      if (e.code.startsWith('ERR_BACKEND_')) {
        return new BackendError(
          e.code.slice('ERR_BACKEND_'.length) as BackendError['code'],
          e.message,
        );
      }
      if (e.code === 'ERR_STATE' || e.code === 'ERR_BAD_REQUEST') {
        return new BackendError('BAD_REQUEST', e.message);
      }
      if (e.code === 'ERR_RPC_TIMEOUT' || e.code === 'ERR_TIMEOUT') {
        return new BackendError('UNAVAILABLE', `timed out; the outcome is unknown: ${e.message}`);
      }
      return new BackendError('UNAVAILABLE', `rpc error: ${e.message}`);
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  /** Forwards an HTTP API request to a server; reads are retried on another server. */
  async forward(req: ForwardedRequest, signal?: AbortSignal): Promise<ForwardedAnswer> {
    const read = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS';
    const body = { ...req, headers: { ...req.headers, [AGENT_NODE_HEADER]: this.nodeName } };
    return (await this.call(CLIENT_RPC.http, body, {
      timeoutMs: MAX_FORWARD_MS,
      idempotent: read,
      ...(signal ? { signal } : {}),
    })) as ForwardedAnswer;
  }

  /** Asks a server to sign a leaf certificate for this CSR (the key stays here). */
  async connectSign(csr: string, signal?: AbortSignal): Promise<IssuedLeaf> {
    return (await this.call(
      CLIENT_RPC.connectSign,
      { csr },
      {
        timeoutMs: 15_000,
        idempotent: true,
        ...(signal ? { signal } : {}),
      },
    )) as IssuedLeaf;
  }

  /**
   * DNS for a client agent: each query is relayed to a server, which answers it from its
   * replica (stale reads, as Consul's DNS defaults to) and returns the answer packet.
   */
  dnsAnswerer(): DnsAnswerer {
    return {
      answer: async (query, transport) => {
        try {
          const r = (await this.call(
            CLIENT_RPC.dns,
            { query, transport },
            { idempotent: true, timeoutMs: 5_000 },
          )) as DnsReply;
          return r.answer;
        } catch (e) {
          this.#log.debug({ err: (e as Error).message }, 'dns: no server answered; SERVFAIL');
          return servfailFor(query);
        }
      },
    };
  }

  /** The catalog over RPC, for this agent's anti-entropy and alias checks. */
  catalog(): CatalogSync & RemoteChecks {
    return {
      nodeState: async () => {
        const r = (await this.call(
          CLIENT_RPC.nodeState,
          { node: this.nodeName },
          { idempotent: true },
        )) as NodeStateReply;
        return { node: r.node ?? undefined, services: r.services, checks: r.checks };
      },
      register: async (req) => {
        await this.call(CLIENT_RPC.register, { req }, { idempotent: true });
      },
      deregister: async (req) => {
        await this.call(CLIENT_RPC.deregister, { req }, { idempotent: true });
      },
      nodeChecks: async (node, index, signal) => {
        const waitMs = MAX_NODE_CHECKS_WAIT_MS;
        return (await this.call(
          CLIENT_RPC.nodeChecks,
          { node, index, waitMs },
          { idempotent: true, timeoutMs: waitMs + 10_000, signal },
        )) as NodeChecksReply;
      },
    };
  }

  // ------------------------------------------------------------------ agent endpoints

  members(): MemberInfo[] {
    return this.#gossip.members().map(memberInfo);
  }

  /** Joins the pool through `addrs` (host or host:port); resolves with how many answered. */
  async join(addrs: readonly string[]): Promise<number> {
    return this.#gossip.join(addrs);
  }

  /** force-leave: false when the member is unknown or not failed. */
  forceLeave(name: string): boolean {
    return this.#gossip.forceLeave(name);
  }

  self(): AgentSelfInfo {
    const { encrypt: _secret, ...visible } = this.#cfg;
    const gs = this.#gossip.stats();
    return {
      Config: {
        Datacenter: this.datacenter,
        PrimaryDatacenter: this.datacenter,
        NodeName: this.nodeName,
        NodeID: this.nodeId,
        Revision: '',
        Server: false,
        Version: this.#o.version,
      },
      DebugConfig: { ...visible, encrypt_enabled: this.#cfg.encrypt !== '' },
      Coord: null,
      Member: memberInfo(this.#gossip.localMember()),
      Stats: {
        consul: {
          server: 'false',
          known_servers: String(this.#servers.length),
          known_datacenters: '1',
        },
        serf_lan: gossipStats(gs, this.#cfg.encrypt !== ''),
        rpc: {
          servers: this.#servers.map((x) => x.name).join(','),
          failovers: String(this.#rpcFailovers),
          ...Object.fromEntries([...this.#rpcCalls].map(([m, n]) => [`calls.${m}`, String(n)])),
        },
        runtime: {
          version: process.version,
          os: process.platform,
          arch: process.arch,
          cpu_count: String(availableParallelism()),
        },
      },
      Meta: { ...this.#cfg.node_meta },
    };
  }

  fireEvent(req: FireEventRequest): Promise<UserEventInfo> {
    try {
      return Promise.resolve(this.#events.fire(this.#gossip, req));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  events(): readonly UserEventInfo[] {
    return this.#events.events();
  }

  waitEvent(signal: AbortSignal): Promise<boolean> {
    return this.#events.wait(signal);
  }

  /** Graceful leave: announce it in gossip (the leader deregisters the node), then stop. */
  async leave(): Promise<void> {
    if (this.#leaving || this.#closed) return;
    this.#leaving = true;
    this.#log.info({}, 'leave: announcing to the cluster');
    await this.#gossip.leave();
    await this.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#rebalance) clearInterval(this.#rebalance);
    await Promise.allSettled([
      this.#gossip?.close(),
      ...[...this.#conns.values()].map((c) => c.close()),
    ]);
    this.#resolveStopped();
  }

  get closed(): boolean {
    return this.#closed;
  }
}
