/**
 * The server agent: one Raft replica of the state store, its RPC port, and its LAN gossip
 * member — wired together and offered to the HTTP API as a {@link Backend}.
 *
 * Formation (Consul's): servers carry `role=consul`, `dc`, `port` (server RPC port), `id`
 * (node UUID) and `expect` tags in gossip. A server with Raft state on disk starts Raft at
 * once; `-bootstrap` (and `-dev`) bootstrap a one-voter configuration; with
 * `-bootstrap-expect=N` a server waits until it sees N servers of its datacenter with the
 * same `expect`, asks each whether it already has Raft state (then it joins as a new member
 * instead), and otherwise bootstraps all N as voters — every one of them computes the same
 * configuration, because Raft IDs derive from the node UUIDs in the tags. Any other server
 * starts Raft empty and waits for the leader to add it.
 *
 * The leader (leader loop, every second and on membership events):
 * - adds alive servers it does not have as learners and promotes caught-up learners to
 *   voters once they have been stable for `server_stabilization_time`;
 * - removes servers that left gracefully at once, and (autopilot's dead-server cleanup)
 *   servers failed for `server_stabilization_time`, if a majority of voters stays alive;
 * - reconciles gossip into the catalog: every member's node with a `serfHealth` check
 *   (passing, or critical when failed; left members deregistered) and each server's
 *   `consul` service on its server port.
 *
 * Requests: writes are proposed on the leader (a follower forwards `Server.Apply` over RPC);
 * the caller returns once its own replica has applied the index, so it reads its writes.
 * Default reads take the leader's lease (or a ReadIndex round), consistent reads a ReadIndex
 * round, both through `Server.ReadIndex` from a follower; stale reads read the replica.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { availableParallelism } from 'node:os';
import type { GossipAgent } from '@trellis/gossip';
import { type Member, type MemberEventKind, type PresetName } from '@trellis/gossip';
import {
  ConfChangeType,
  MemoryDisk,
  NodeDisk,
  NONE,
  RaftNode,
  RpcRaftTransport,
  StateType,
  isRaftError,
  type Disk,
  type Message,
  type NodeId,
  type RaftTransport,
} from '@trellis/raft';
import { Handlers, RpcClient, RpcError, RpcServer } from '@trellis/rpc';
import {
  MAX_RESTORE_BYTES,
  MessageType,
  StateStore,
  encodeCommand,
  isStateError,
  type ApplyResult,
  type CheckStatus,
  type Command,
  type RegisterRequest,
  type Session,
} from '@trellis/state';
import type { RuntimeConfig } from '../config/schema.js';
import {
  BackendError,
  type AgentSelfInfo,
  type ApplyOutcome,
  type AutopilotHealthInfo,
  type AutopilotServerHealth,
  type Backend,
  type MemberInfo,
  type RaftConfigurationInfo,
  type FireEventRequest,
  type ReadMeta,
  type ReadMode,
  type UserEventInfo,
} from '../http/backend.js';
import { parseDuration } from '../config/duration.js';
import { DnsHandler } from '@trellis/dns';
import type { FastifyInstance } from 'fastify';
import { buildHttpApi } from '../http/server.js';
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
import { ArchiveError, readArchive, writeArchive } from './archive.js';
import type { CatalogSync } from '../local/anti-entropy.js';
import type { RemoteChecks } from '../local/agent.js';
import {
  registerClientHandlers,
  serverCatalog,
  type ClientHandlerHost,
} from './client-handlers.js';
import { ServerCa } from '../connect/server-ca.js';
import type { ForwardedAnswer } from '../client-rpc.js';
import { StoreStateMachine } from './fsm.js';
import { loadOrCreateNodeId, raftIdOf } from './ids.js';

export interface ServerOptions {
  readonly config: RuntimeConfig;
  readonly logger: AgentLogger;
  /** The build's version, advertised in gossip (`build`) and /v1/agent/self. */
  readonly version: string;
  /** Gossip timing preset (default 'lan'; tests use 'local'). */
  readonly gossipPreset?: PresetName;
  /** Called once if the server stops itself (a fatal apply error). */
  readonly onFatal?: (err: Error) => void;
  /** This agent's local services (user-event service filters); none when absent. */
  readonly localServices?: () => readonly { Service: string; Tags: readonly string[] }[];
}

/** Longest a request waits for a leader to appear (Consul's rpc_hold_timeout). */
export const LEADER_WAIT_MS = 7_000;
/** Consul's SessionTTLMultiplier: a session lapses after twice its TTL without renewal. */
export const SESSION_TTL_MULTIPLIER = 2;
export { EVENT_BUFFER } from '../membership/events.js';

/** Longest wait for a connection to another server before the call counts as undelivered. */
const CONNECT_WAIT_MS = 300;
/** How often the leader loop runs without an event. */
const LEADER_LOOP_MS = 1_000;
/** RPC methods servers call on each other. */
const M = {
  status: 'Server.Status',
  apply: 'Server.Apply',
  readIndex: 'Server.ReadIndex',
  operator: 'Server.Operator',
} as const;

/** What a server knows of another server from gossip. */
interface ServerMember {
  readonly raftId: NodeId;
  readonly nodeId: string;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly expect: number;
  status: Member['status'];
  /** Monotonic ms when `status` last changed. */
  since: number;
}

interface StatusReply {
  bootstrapped: boolean;
  raftId: number;
  leader: number;
  term: number;
  lastIndex: number;
  applied: number;
  lastContactMs: number;
}

function now(): number {
  return performance.now();
}

function goDuration(ms: number): string {
  if (ms < 1) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(3).replace(/\.?0+$/, '')}s`;
}

export class Server implements Backend {
  readonly store = new StateStore();
  readonly datacenter: string;
  readonly nodeName: string;
  readonly isServer = true;
  readonly nodeId: string;
  readonly raftId: NodeId;
  readonly #cfg: RuntimeConfig;
  readonly #o: ServerOptions;
  readonly #log: AgentLogger;
  readonly #disk: Disk;
  readonly #raftDir: string;
  readonly #handlers = new Handlers();
  readonly #fsm: StoreStateMachine;
  #rpc!: RpcServer;
  #transport!: RpcRaftTransport;
  #gossip!: GossipAgent;
  #raft: RaftNode | null = null;
  #advertise = '';
  readonly #servers = new Map<NodeId, ServerMember>();
  readonly #clients = new Map<NodeId, { url: string; client: RpcClient }>();
  readonly #appliedWaiters: Array<{ index: number; resolve: () => void }> = [];
  readonly #leaderWaiters = new Set<() => void>();
  #lastContactAt = 0;
  #bootstrapping = false;
  #leaderTimer: NodeJS.Timeout | null = null;
  #leaderLoopRunning = false;
  #leaderLoopAgain = false;
  /** Learner → monotonic ms when it was added (promotion waits for stabilization). */
  readonly #learnerSince = new Map<NodeId, number>();
  /** Leader only: session ID → its TTL timer. */
  readonly #sessionTimers = new Map<string, NodeJS.Timeout>();
  readonly #events: UserEventLog;
  /** The Connect CA (roots and keys in the replicated state; any server signs). */
  readonly ca: ServerCa;
  /** The HTTP API that answers requests client agents forward (built on first use). */
  #httpApp: FastifyInstance | null = null;
  /** The DNS handler (this agent's DNS port, and queries client agents relay). */
  #dns: DnsHandler | null = null;
  #closed = false;
  #leaving = false;
  #resolveStopped!: () => void;
  /** Resolves once the server has stopped: close(), leave(), or a fatal error. */
  readonly stopped = new Promise<void>((resolve) => {
    this.#resolveStopped = resolve;
  });

  private constructor(o: ServerOptions) {
    this.#o = o;
    this.#cfg = o.config;
    this.#log = o.logger;
    this.datacenter = o.config.datacenter;
    this.nodeName = o.config.node_name;
    this.nodeId = loadOrCreateNodeId(o.config.data_dir);
    this.raftId = raftIdOf(this.nodeId);
    const inMemory = o.config.data_dir === '';
    this.#disk = inMemory ? new MemoryDisk() : new NodeDisk();
    this.#raftDir = inMemory ? '/memory/raft' : `${o.config.data_dir}/raft`;
    this.#fsm = new StoreStateMachine(this.store);
    this.ca = new ServerCa({
      store: this.store,
      datacenter: this.datacenter,
      log: o.logger.child({ name: 'agent.connect.ca' }),
      apply: (cmd) => this.apply(cmd),
      ...(o.config.connect.ca_config === undefined
        ? {}
        : { initialConfig: o.config.connect.ca_config }),
    });
    this.#events = new UserEventLog({
      nodeName: this.nodeName,
      logger: o.logger.child({ name: 'agent.event' }),
      localServices: () => o.localServices?.() ?? [],
    });
  }

  /** Binds the RPC and gossip ports, joins, and starts (or waits to bootstrap) Raft. */
  static async start(o: ServerOptions): Promise<Server> {
    const s = new Server(o);
    try {
      await s.#start();
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  async #start(): Promise<void> {
    const cfg = this.#cfg;
    this.#advertise = advertiseHost(cfg);
    this.#registerHandlers();
    this.#transport = new RpcRaftTransport({
      self: this.raftId,
      handlers: this.#handlers,
      logger: this.#log.child({ name: 'agent.server.raft.transport' }),
    });
    this.#rpc = await RpcServer.listen({
      host: cfg.bind_addr,
      port: cfg.ports.server,
      handlers: this.#handlers,
      logger: this.#log.child({ name: 'agent.server.rpc' }),
    });
    const serverPort = this.#rpc.address().port;
    this.#gossip = await startLanGossip(cfg, {
      advertise: this.#advertise,
      ...(this.#o.gossipPreset === undefined ? {} : { preset: this.#o.gossipPreset }),
      tags: {
        role: 'consul',
        dc: cfg.datacenter,
        port: String(serverPort),
        id: this.nodeId,
        expect: String(cfg.bootstrap_expect),
        vsn: '2',
        raft_vsn: '3',
        build: this.#o.version,
        ...(cfg.bootstrap ? { bootstrap: '1' } : {}),
      },
      logger: this.#log.child({ name: 'agent.server.serf.lan' }),
    });
    this.#gossip.onMember((kind, m) => this.#onMember(kind, m));
    this.#gossip.onUserEvent((e) => this.#events.receive(e.name, e.payload, e.ltime));
    this.#noteMember(this.#gossip.localMember());
    for (const m of this.#gossip.members()) this.#noteMember(m);

    const hasState = this.#disk.list(`${this.#raftDir}/wal`).length > 0;
    if (hasState) {
      this.#log.info({ data_dir: cfg.data_dir }, 'raft: found existing state; resuming');
      this.#startRaft(false);
    } else if (cfg.bootstrap || cfg.dev_mode) {
      this.#log.info({}, 'raft: bootstrapping a one-server cluster');
      this.#startRaft(true);
    } else if (cfg.bootstrap_expect > 0) {
      this.#log.info(
        { expect: cfg.bootstrap_expect },
        'raft: waiting for servers to bootstrap the cluster',
      );
      void this.#maybeBootstrap();
    } else {
      this.#log.info({}, 'raft: no bootstrap configured; waiting to be added by a leader');
      this.#startRaft(false);
    }
  }

  // ------------------------------------------------------------------ Raft lifecycle

  #startRaft(bootstrap: boolean, voters: readonly NodeId[] = [this.raftId]): void {
    if (this.#raft || this.#closed) return;
    const transport = this.#contactTracking(this.#transport);
    const raft = new RaftNode({
      id: this.raftId,
      dataDir: this.#raftDir,
      disk: this.#disk,
      transport,
      stateMachine: this.#fsm,
      logger: this.#log.child({ name: 'agent.server.raft' }),
      snapshotThreshold: this.#cfg.raft_snapshot_threshold,
      trailingLogs: this.#cfg.raft_trailing_logs,
      ...(bootstrap ? { bootstrap: { voters: [...voters], learners: [] } } : {}),
    });
    this.#raft = raft;
    raft.onApplied((index) => this.#onApplied(index));
    raft.onLeaderChange((leader, state) => this.#onLeaderChange(leader, state));
    raft.onFail((e) => {
      this.#log.error({ err: e }, 'raft stopped; the server cannot continue');
      void this.close().then(() => this.#o.onFatal?.(e));
    });
    for (const s of this.#servers.values()) this.#setPeer(s);
    raft.start();
    // Applied state restored from disk counts as applied for waiters.
    this.#onApplied(raft.appliedIndex);
  }

  /** Wraps the transport so messages from the leader record when we last heard from it. */
  #contactTracking(inner: RaftTransport): RaftTransport {
    return {
      send: (ms) => inner.send(ms),
      setHandler: (h) =>
        inner.setHandler((m: Message) => {
          if (m.from === this.#raft?.leader) this.#lastContactAt = now();
          h(m);
        }),
      setPeer: (id, a) => inner.setPeer(id, a),
      removePeer: (id) => inner.removePeer(id),
      close: () => inner.close(),
    };
  }

  async #maybeBootstrap(): Promise<void> {
    if (this.#raft || this.#bootstrapping || this.#closed) return;
    const expect = this.#cfg.bootstrap_expect;
    const servers = [...this.#servers.values()].filter(
      (s) => s.status === 'alive' || s.status === 'suspect',
    );
    const mismatched = servers.filter((s) => s.expect !== expect && s.expect !== 0);
    if (mismatched.length > 0) {
      this.#log.error(
        { servers: mismatched.map((s) => `${s.name}=${s.expect}`).join(','), expect },
        'raft: servers disagree on bootstrap_expect; not bootstrapping',
      );
      return;
    }
    if (servers.length < expect) return;
    this.#bootstrapping = true;
    try {
      let someoneHasState = false;
      for (const s of servers) {
        if (s.raftId === this.raftId) continue;
        const st = (await this.#call(s.raftId, M.status, {}, 2_000)) as StatusReply;
        if (st.bootstrapped) someoneHasState = true;
      }
      if (this.#raft || this.#closed) return;
      if (someoneHasState) {
        this.#log.info({}, 'raft: a server already has Raft state; joining it instead');
        this.#startRaft(false);
      } else {
        const voters = servers.map((s) => s.raftId).sort((a, b) => a - b);
        this.#log.info(
          { servers: servers.map((s) => s.name).join(',') },
          'raft: bootstrapping the cluster with the expected servers',
        );
        this.#startRaft(true, voters);
      }
    } catch (e) {
      this.#log.warn({ err: e }, 'raft: bootstrap check failed; will retry');
      setTimeout(() => void this.#maybeBootstrap(), 1_000).unref();
    } finally {
      this.#bootstrapping = false;
    }
  }

  #onApplied(index: number): void {
    const w = this.#appliedWaiters;
    let i = 0;
    while (i < w.length) {
      const item = w[i];
      if (item !== undefined && item.index <= index) {
        w.splice(i, 1);
        item.resolve();
      } else i++;
    }
  }

  /** Resolves once this replica has applied `index` (or rejects when the signal fires). */
  #waitApplied(index: number, signal?: AbortSignal): Promise<void> {
    if (this.#raft && this.#raft.appliedIndex >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const item = {
        index,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const at = this.#appliedWaiters.indexOf(item);
        if (at >= 0) this.#appliedWaiters.splice(at, 1);
        reject(new BackendError('UNAVAILABLE', 'timed out waiting for this server to catch up'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#appliedWaiters.push(item);
    });
  }

  #onLeaderChange(leader: NodeId, state: StateType): void {
    if (leader !== NONE) {
      this.#lastContactAt = now();
      for (const fn of [...this.#leaderWaiters]) fn();
    }
    if (state === StateType.Leader) {
      this.#log.info({ term: this.#raft?.status().hardState.term }, 'leadership gained');
      this.#learnerSince.clear();
      this.#kickLeaderLoop();
    } else {
      this.#clearSessionTimers();
      if (this.#leaderTimer) {
        clearTimeout(this.#leaderTimer);
        this.#leaderTimer = null;
        this.#log.info({ leader: this.#serverName(leader) }, 'leadership lost or not held');
      }
    }
  }

  /** Waits (bounded) until some leader is known; returns its Raft ID. */
  async #awaitLeader(signal?: AbortSignal): Promise<NodeId> {
    // The common case (a leader is known) creates no timer.
    if (this.#raft && this.#raft.leader !== NONE) return this.#raft.leader;
    const deadline = now() + LEADER_WAIT_MS;
    for (;;) {
      const raft = this.#raft;
      if (raft && raft.leader !== NONE) return raft.leader;
      if (this.#closed) throw new BackendError('UNAVAILABLE', 'agent is shutting down');
      if (now() > deadline || signal?.aborted) {
        throw new BackendError('NO_LEADER', 'No cluster leader');
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.#leaderWaiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, 100);
        this.#leaderWaiters.add(done);
      });
    }
  }

  // ------------------------------------------------------------------ gossip

  #onMember(kind: MemberEventKind, m: Member): void {
    this.#log.debug({ member: m.name, event: kind, status: m.status }, 'serf: member event');
    this.#noteMember(m);
    if (!this.#raft && this.#cfg.bootstrap_expect > 0) void this.#maybeBootstrap();
    if (this.#raft?.isLeader) this.#kickLeaderLoop();
  }

  #noteMember(m: Member): void {
    if (m.tags.role !== 'consul' || m.tags.dc !== this.datacenter) return;
    const nodeId = m.tags.id ?? '';
    const port = Number(m.tags.port);
    if (nodeId === '' || !Number.isInteger(port) || port <= 0 || port > 65535) return;
    const raftId = raftIdOf(nodeId);
    const prev = this.#servers.get(raftId);
    const host = hostOf(m.addr);
    const s: ServerMember = {
      raftId,
      nodeId,
      name: m.name,
      host,
      port,
      expect: Number(m.tags.expect ?? '0') || 0,
      status: m.status,
      since: prev && prev.status === m.status ? prev.since : now(),
    };
    this.#servers.set(raftId, s);
    if (!prev || prev.host !== host || prev.port !== port) this.#setPeer(s);
  }

  #rpcUrl(s: ServerMember): string {
    return `ws://${hostPort(s.host, s.port)}/trellis/rpc`;
  }

  #setPeer(s: ServerMember): void {
    if (s.raftId === this.raftId) return;
    this.#transport.setPeer(s.raftId, this.#rpcUrl(s));
  }

  #serverName(id: NodeId): string {
    return this.#servers.get(id)?.name ?? String(id);
  }

  // ------------------------------------------------------------------ server-to-server RPC

  #client(id: NodeId): RpcClient {
    const s = this.#servers.get(id);
    if (!s) throw new BackendError('UNAVAILABLE', `no address known for server ${id}`);
    const url = this.#rpcUrl(s);
    const cur = this.#clients.get(id);
    if (cur?.url === url) return cur.client;
    if (cur) void cur.client.close();
    const client = new RpcClient({
      url,
      nodeName: this.nodeName,
      reconnectBaseMs: 20,
      reconnectMaxMs: 1_000,
    });
    this.#clients.set(id, { url, client });
    return client;
  }

  /**
   * Calls another server. The connection is awaited for at most CONNECT_WAIT_MS: a call to
   * a server that is down fails fast with ERR_RPC_CONNECT — certainly not delivered, so the
   * caller may retry elsewhere (the next leader) instead of holding the request.
   */
  async #call(id: NodeId, method: string, body: unknown, timeoutMs = 10_000): Promise<unknown> {
    const client = this.#client(id);
    let conn;
    try {
      conn = await client.connection({ timeoutMs: CONNECT_WAIT_MS });
    } catch (e) {
      throw new RpcError(
        'ERR_RPC_CONNECT',
        `server ${this.#serverName(id)} is unreachable: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    return conn.call(method, body, { timeoutMs });
  }

  #clientHost(): ClientHandlerHost {
    return {
      store: this.store,
      readBarrier: (mode, signal) => this.readBarrier(mode, signal),
      apply: (cmd, signal) => this.apply(cmd as Command, signal),
      httpApp: () =>
        (this.#httpApp ??= buildHttpApi(this, {
          logger: this.#log.child({ name: 'agent.http.forwarded' }),
          aclDefaultPolicy: this.#cfg.acl.default_policy,
        })),
      dns: () => this.dnsHandler(),
      ca: this.ca,
    };
  }

  /** A GET on this server's own HTTP API (the agent's Connect watches use it). */
  async httpGet(url: string): Promise<ForwardedAnswer> {
    const app = this.#clientHost().httpApp();
    const res = await app.inject({ method: 'GET', url });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    return { status: res.statusCode, headers, body: res.rawPayload };
  }

  /** Answers DNS from this replica (Consul's DNS interface; see @trellis/dns). */
  dnsHandler(): DnsHandler {
    if (this.#dns) return this.#dns;
    const cfg = this.#cfg;
    this.#dns = new DnsHandler({
      backend: {
        store: this.store,
        datacenter: this.datacenter,
        nodeName: this.nodeName,
        readBarrier: (mode) => this.readBarrier(mode),
        staleReadSync: () => this.#staleReadMeta(),
        servers: () =>
          [...this.#servers.values()]
            .filter((s) => s.status === 'alive' || s.status === 'suspect')
            .map((s) => ({ name: s.name, address: s.host })),
      },
      domain: cfg.domain,
      altDomain: cfg.alt_domain,
      config: cfg.dns_config,
      recursors: cfg.recursors,
      logger: this.#log.child({ name: 'agent.dns' }),
    });
    return this.#dns;
  }

  /** The catalog as this server's own local agent (anti-entropy, alias checks) uses it. */
  localCatalog(): CatalogSync & RemoteChecks {
    return serverCatalog(this.#clientHost(), this.nodeName);
  }

  #registerHandlers(): void {
    registerClientHandlers(this.#handlers, this.#clientHost());
    this.#handlers.request(M.status, () => this.#statusReply());
    this.#handlers.request(M.apply, async (body) => {
      const b = body as { cmd?: unknown };
      if (!(b.cmd instanceof Uint8Array)) throw new RpcError('ERR_BAD_REQUEST', 'cmd: bytes');
      const raft = this.#leaderRaft();
      try {
        const r = await raft.propose(b.cmd);
        return { index: r.index, result: r.result as ApplyResult };
      } catch (e) {
        throw this.#toRpcError(e);
      }
    });
    this.#handlers.request(M.readIndex, async (body) => {
      const b = body as { consistent?: unknown };
      const raft = this.#leaderRaft();
      try {
        const index = await raft.readBarrier({
          mode: b.consistent === true ? 'read-index' : 'lease',
        });
        return { index };
      } catch (e) {
        throw this.#toRpcError(e);
      }
    });
    this.#handlers.request(M.operator, async (body) => {
      this.#leaderRaft();
      const b = body as { op?: unknown; id?: unknown; address?: unknown };
      try {
        switch (b.op) {
          case 'remove-peer':
            await this.#removePeerHere({
              ...(typeof b.id === 'string' ? { id: b.id } : {}),
              ...(typeof b.address === 'string' ? { address: b.address } : {}),
            });
            return {};
          case 'transfer-leader':
            await this.#transferHere(typeof b.id === 'string' ? b.id : undefined);
            return {};
          case 'autopilot-health':
            return await this.#autopilotHere();
          case 'raft-configuration':
            return this.#raftConfigurationHere();
          case 'session-renew':
            return { session: this.#renewHere(typeof b.id === 'string' ? b.id : '') ?? null };
          default:
            throw new RpcError('ERR_BAD_REQUEST', `unknown operator op ${String(b.op)}`);
        }
      } catch (e) {
        if (e instanceof BackendError) throw new RpcError(`ERR_BACKEND_${e.code}`, e.message);
        throw e;
      }
    });
  }

  #statusReply(): StatusReply {
    const raft = this.#raft;
    const st = raft?.status();
    return {
      bootstrapped: raft !== null && (raft.configuration.voters.length > 0 || raft.lastIndex > 0),
      raftId: this.raftId,
      leader: raft?.leader ?? NONE,
      term: st?.hardState.term ?? 0,
      lastIndex: raft?.lastIndex ?? 0,
      applied: raft?.appliedIndex ?? 0,
      lastContactMs: raft?.isLeader ? 0 : Math.round(now() - this.#lastContactAt),
    };
  }

  #leaderRaft(): RaftNode {
    const raft = this.#raft;
    if (!raft || !raft.isLeader) {
      throw new RpcError('ERR_NOT_LEADER', 'not the leader', { leader: raft?.leader ?? NONE });
    }
    return raft;
  }

  #toRpcError(e: unknown): Error {
    if (isRaftError(e)) return new RpcError(e.code, e.message);
    return e instanceof Error ? e : new Error(String(e));
  }

  /**
   * Runs `here` on the leader itself, or `there` against the leader over RPC, retrying within
   * LEADER_WAIT_MS while there is no leader or the attempt failed in a way that says it did
   * not happen (the peer was not the leader, the proposal was dropped, the connection could
   * not be made). An `idempotent` operation (a read) is retried after any failure.
   */
  async #onLeader<T>(
    here: (raft: RaftNode) => Promise<T>,
    there: (leader: NodeId) => Promise<T>,
    signal?: AbortSignal,
    idempotent = false,
  ): Promise<T> {
    const deadline = now() + LEADER_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      const leader = await this.#awaitLeader(signal);
      const raft = this.#raft;
      try {
        if (raft && leader === this.raftId && raft.isLeader) return await here(raft);
        return await there(leader);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        const retry =
          (idempotent && !(e instanceof BackendError && e.code === 'BAD_REQUEST')) ||
          code === 'ERR_NOT_LEADER' ||
          code === 'ERR_PROPOSAL_DROPPED' ||
          code === 'ERR_RPC_CONNECT' ||
          (e instanceof BackendError && e.code === 'UNAVAILABLE' && /no address/.test(e.message));
        if (!retry || now() > deadline || signal?.aborted || this.#closed) throw this.#fromRpc(e);
        await sleep(Math.min(25 * 2 ** attempt, 400));
      }
    }
  }

  #fromRpc(e: unknown): Error {
    if (e instanceof BackendError || isStateError(e)) return e;
    if (e instanceof RpcError) {
      if (e.code.startsWith('ERR_BACKEND_')) {
        return new BackendError(
          e.code.slice('ERR_BACKEND_'.length) as BackendError['code'],
          e.message,
        );
      }
      if (e.code === 'ERR_NOT_LEADER') return new BackendError('NO_LEADER', 'No cluster leader');
      if (e.code === 'ERR_TIMEOUT' || e.code === 'ERR_RPC_TIMEOUT') {
        return new BackendError('UNAVAILABLE', `timed out; the outcome is unknown: ${e.message}`);
      }
      return new BackendError('UNAVAILABLE', `rpc error: ${e.message}`);
    }
    if (isRaftError(e)) {
      if (e.code === 'ERR_NOT_LEADER') return new BackendError('NO_LEADER', 'No cluster leader');
      return new BackendError('UNAVAILABLE', e.message);
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  // ------------------------------------------------------------------ Backend: reads/writes

  /** A stale read needs no barrier: how stale this replica is, at once. */
  #staleReadMeta(): ReadMeta {
    const raft = this.#raft;
    return {
      knownLeader: raft !== null && raft.leader !== NONE,
      lastContactMs: raft?.isLeader ? 0 : Math.max(0, Math.round(now() - this.#lastContactAt)),
    };
  }

  async readBarrier(mode: ReadMode, signal?: AbortSignal): Promise<ReadMeta> {
    if (mode === 'stale') return this.#staleReadMeta();
    const consistent = mode === 'consistent';
    const index = await this.#onLeader(
      (r) => r.readBarrier({ mode: consistent ? 'read-index' : 'lease' }),
      async (leader) =>
        ((await this.#call(leader, M.readIndex, { consistent })) as { index: number }).index,
      signal,
      true,
    );
    if ((this.#raft?.appliedIndex ?? 0) < index) {
      await this.#waitApplied(index, signal ?? AbortSignal.timeout(LEADER_WAIT_MS));
    }
    return { knownLeader: true, lastContactMs: 0 };
  }

  async apply(cmd: Command, signal?: AbortSignal): Promise<ApplyOutcome> {
    const bytes = encodeCommand(cmd);
    const { index, result } = await this.#onLeader(
      async (raft) => {
        const r = await raft.propose(bytes);
        return { index: r.index, result: r.result as ApplyResult };
      },
      async (leader) =>
        (await this.#call(leader, M.apply, { cmd: bytes })) as {
          index: number;
          result: ApplyResult;
        },
      signal,
    );
    if ((this.#raft?.appliedIndex ?? 0) < index) {
      await this.#waitApplied(index, AbortSignal.timeout(LEADER_WAIT_MS));
    }
    if (!result.ok) throw result.error;
    return { index, value: result.value };
  }

  leaderAddress(): string {
    const id = this.#raft?.leader ?? NONE;
    const s = id === NONE ? undefined : this.#servers.get(id);
    return s ? hostPort(s.host, s.port) : '';
  }

  peerAddresses(): string[] {
    const voters = this.#raft?.configuration.voters ?? [];
    return voters.flatMap((id) => {
      const s = this.#servers.get(id);
      return s ? [hostPort(s.host, s.port)] : [];
    });
  }

  // ------------------------------------------------------------------ Backend: agent

  members(): MemberInfo[] {
    return this.#gossip.members().map(memberInfo);
  }

  self(): AgentSelfInfo {
    const raft = this.#raft;
    const st = raft?.status();
    const { encrypt: _secret, ...visible } = this.#cfg;
    const member = memberInfo(this.#gossip.localMember());
    const gs = this.#gossip.stats();
    return {
      Config: {
        Datacenter: this.datacenter,
        PrimaryDatacenter: this.datacenter,
        NodeName: this.nodeName,
        NodeID: this.nodeId,
        Revision: '',
        Server: true,
        Version: this.#o.version,
      },
      DebugConfig: { ...visible, encrypt_enabled: this.#cfg.encrypt !== '' },
      Coord: null,
      Member: member,
      Stats: {
        consul: {
          server: 'true',
          leader: String(raft?.isLeader ?? false),
          leader_addr: this.leaderAddress(),
          bootstrap: String(this.#cfg.bootstrap),
          known_datacenters: '1',
        },
        raft: {
          state: raft ? (st?.softState.state ?? 'Follower') : 'Bootstrapping',
          term: String(st?.hardState.term ?? 0),
          applied_index: String(raft?.appliedIndex ?? 0),
          commit_index: String(st?.hardState.commit ?? 0),
          last_log_index: String(raft?.lastIndex ?? 0),
          num_peers: String(Math.max(0, (raft?.configuration.voters.length ?? 1) - 1)),
          latest_configuration_index: String(raft?.configurationIndex ?? 0),
          last_contact: raft?.isLeader ? '0' : goDuration(now() - this.#lastContactAt),
        },
        serf_lan: gossipStats(gs, this.#cfg.encrypt !== ''),
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

  // ------------------------------------------------------------------ Backend: operator

  /** Answered by the leader, which knows how far each server's log reaches. */
  raftConfiguration(): Promise<RaftConfigurationInfo> {
    return this.#onLeader(
      () => Promise.resolve(this.#raftConfigurationHere()),
      async (leader) =>
        (await this.#call(leader, M.operator, {
          op: 'raft-configuration',
        })) as RaftConfigurationInfo,
      undefined,
      true,
    );
  }

  #raftConfigurationHere(): RaftConfigurationInfo {
    const raft = this.#leaderRaft();
    const conf = raft.configuration;
    const progress = raft.status().progress;
    const ids = [
      ...conf.voters.map((id) => [id, true] as const),
      ...conf.learners.map((id) => [id, false] as const),
    ];
    return {
      Servers: ids.map(([id, voter]) => {
        const s = this.#servers.get(id);
        return {
          ID: s?.nodeId ?? String(id),
          Node: s?.name ?? '(unknown)',
          Address: s ? hostPort(s.host, s.port) : '(unknown)',
          Leader: raft.leader === id,
          Voter: voter,
          ProtocolVersion: '3',
          LastIndex: id === this.raftId ? raft.lastIndex : (progress?.get(id)?.match ?? 0),
        };
      }),
      Index: raft.configurationIndex,
    };
  }

  removeRaftPeer(by: { readonly id?: string; readonly address?: string }): Promise<void> {
    return this.#onLeader(
      () => this.#removePeerHere(by),
      async (leader) => {
        await this.#call(leader, M.operator, { op: 'remove-peer', ...by });
      },
    );
  }

  async #removePeerHere(by: { readonly id?: string; readonly address?: string }): Promise<void> {
    const raft = this.#leaderRaft();
    const conf = raft.configuration;
    const members = [...conf.voters, ...conf.learners];
    const match = members.find((id) => {
      const s = this.#servers.get(id);
      if (by.id !== undefined) return s?.nodeId === by.id || String(id) === by.id;
      return s !== undefined && hostPort(s.host, s.port) === by.address;
    });
    if (match === undefined) {
      throw new BackendError(
        'BAD_REQUEST',
        by.id !== undefined
          ? `id "${by.id}" was not found in the Raft configuration`
          : `address "${by.address ?? ''}" was not found in the Raft configuration`,
      );
    }
    this.#log.info({ server: this.#serverName(match) }, 'operator: removing raft peer');
    await raft.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: match });
  }

  transferLeader(id?: string): Promise<void> {
    return this.#onLeader(
      () => this.#transferHere(id),
      async (leader) => {
        await this.#call(leader, M.operator, {
          op: 'transfer-leader',
          ...(id === undefined ? {} : { id }),
        });
      },
    );
  }

  async #transferHere(id?: string): Promise<void> {
    const raft = this.#leaderRaft();
    const target = id === undefined ? this.#bestSuccessor(raft) : this.#raftIdByNodeId(id);
    if (target === undefined || !raft.configuration.voters.includes(target)) {
      throw new BackendError(
        'BAD_REQUEST',
        id === undefined
          ? 'cannot transfer leadership: no other voter'
          : `cannot find peer with id "${id}" among the voters`,
      );
    }
    if (target === this.raftId) throw new BackendError('BAD_REQUEST', 'already the leader');
    await this.#transferTo(raft, target);
  }

  #raftIdByNodeId(id: string): NodeId | undefined {
    for (const s of this.#servers.values())
      if (s.nodeId === id || String(s.raftId) === id) return s.raftId;
    return undefined;
  }

  /** The voter with the highest match index (alive in gossip), other than us. */
  #bestSuccessor(raft: RaftNode): NodeId | undefined {
    const progress = raft.status().progress;
    let best: NodeId | undefined;
    let bestMatch = -1;
    for (const id of raft.configuration.voters) {
      if (id === this.raftId) continue;
      const s = this.#servers.get(id);
      if (s && s.status !== 'alive') continue;
      const match = progress?.get(id)?.match ?? 0;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    return best;
  }

  async #transferTo(raft: RaftNode, target: NodeId): Promise<void> {
    this.#log.info({ to: this.#serverName(target) }, 'transferring leadership');
    raft.transferLeadership(target);
    const deadline = now() + 5_000;
    while (now() < deadline) {
      if (raft.leader === target) return;
      await sleep(20);
    }
    throw new BackendError('INTERNAL', 'leadership transfer timed out');
  }

  autopilotHealth(): Promise<AutopilotHealthInfo> {
    return this.#onLeader(
      () => this.#autopilotHere(),
      async (leader) =>
        (await this.#call(leader, M.operator, { op: 'autopilot-health' })) as AutopilotHealthInfo,
    );
  }

  async #autopilotHere(): Promise<AutopilotHealthInfo> {
    const raft = this.#leaderRaft();
    const ap = this.#cfg.autopilot;
    const conf = raft.configuration;
    const leaderLast = raft.lastIndex;
    const leaderTerm = raft.status().hardState.term;
    const ids = [...conf.voters, ...conf.learners];
    const replies = await Promise.all(
      ids.map(async (id): Promise<StatusReply | null> => {
        if (id === this.raftId) return this.#statusReply();
        try {
          return (await this.#call(id, M.status, {}, 1_000)) as StatusReply;
        } catch {
          return null;
        }
      }),
    );
    const servers: AutopilotServerHealth[] = ids.map((id, i) => {
      const s = this.#servers.get(id);
      const st = replies[i] ?? null;
      const serf =
        s === undefined
          ? 'none'
          : s.status === 'dead'
            ? 'failed'
            : s.status === 'suspect'
              ? 'alive'
              : s.status;
      const lastContact = id === this.raftId ? 0 : (st?.lastContactMs ?? Infinity);
      const healthy =
        st !== null &&
        serf === 'alive' &&
        lastContact <= ap.last_contact_threshold &&
        st.term === leaderTerm &&
        leaderLast - st.lastIndex <= ap.max_trailing_logs;
      return {
        ID: s?.nodeId ?? String(id),
        Name: s?.name ?? '',
        Address: s ? hostPort(s.host, s.port) : '',
        SerfStatus: serf,
        Version: this.#o.version,
        Leader: id === this.raftId,
        LastContact: Number.isFinite(lastContact) ? goDuration(lastContact) : '',
        LastTerm: st?.term ?? 0,
        LastIndex: st?.lastIndex ?? 0,
        Healthy: healthy,
        Voter: conf.voters.includes(id),
        StableSince: new Date(Date.now() - (s ? now() - s.since : 0)).toISOString(),
      };
    });
    const healthyVoters = servers.filter((s) => s.Voter && s.Healthy).length;
    const quorum = Math.floor(conf.voters.length / 2) + 1;
    return {
      Healthy: servers.every((s) => s.Healthy),
      FailureTolerance: Math.max(0, healthyVoters - quorum),
      Servers: servers,
    };
  }

  // ------------------------------------------------------------------ Backend: snapshots

  async snapshotSave(mode: ReadMode): Promise<{ index: number; archive: Uint8Array }> {
    await this.readBarrier(mode);
    const index = this.store.lastIndex;
    return { index, archive: writeArchive(this.store.snapshot(), index, this.datacenter) };
  }

  async snapshotRestore(archive: Uint8Array): Promise<void> {
    let state: Uint8Array;
    try {
      state = readArchive(archive).state;
    } catch (e) {
      if (e instanceof ArchiveError) throw new BackendError('BAD_REQUEST', e.message);
      throw e;
    }
    if (state.length > MAX_RESTORE_BYTES) {
      throw new BackendError(
        'BAD_REQUEST',
        `snapshot state is ${state.length} bytes; restores are limited to ${MAX_RESTORE_BYTES}`,
      );
    }
    // Validate before proposing: a bad snapshot must not reach the log.
    try {
      new StateStore().restore(state);
    } catch (e) {
      if (isStateError(e)) throw new BackendError('BAD_REQUEST', e.message);
      throw e;
    }
    await this.apply({ type: MessageType.Restore, now: Date.now(), body: { Snapshot: state } });
  }

  // ------------------------------------------------------------------ leader loop

  #kickLeaderLoop(): void {
    if (this.#closed || !this.#raft?.isLeader) return;
    if (this.#leaderLoopRunning) {
      this.#leaderLoopAgain = true;
      return;
    }
    if (this.#leaderTimer) clearTimeout(this.#leaderTimer);
    this.#leaderTimer = setTimeout(() => void this.#leaderLoop(), 0);
  }

  async #leaderLoop(): Promise<void> {
    this.#leaderTimer = null;
    const raft = this.#raft;
    if (this.#closed || !raft?.isLeader) return;
    this.#leaderLoopRunning = true;
    try {
      await this.#reconcileRaft(raft);
      this.#armSessionTimers();
      await this.#reconcileCatalog();
      if (this.#cfg.connect.enabled) await this.ca.leaderPass();
    } catch (e) {
      if (!isRaftError(e, 'ERR_NOT_LEADER') && !(e instanceof BackendError)) {
        this.#log.warn({ err: e }, 'leader loop: reconcile failed; will retry');
      }
    } finally {
      this.#leaderLoopRunning = false;
    }
    if (this.#closed || !raft.isLeader) return;
    const again = this.#leaderLoopAgain;
    this.#leaderLoopAgain = false;
    this.#leaderTimer = setTimeout(() => void this.#leaderLoop(), again ? 0 : LEADER_LOOP_MS);
  }

  /** One membership change per pass (Raft allows one at a time). */
  async #reconcileRaft(raft: RaftNode): Promise<void> {
    if (this.#leaving) return;
    const conf = raft.configuration;
    const inConf = new Set([...conf.voters, ...conf.learners]);
    const ap = this.#cfg.autopilot;
    const t = now();
    // Left gracefully: remove at once.
    for (const id of inConf) {
      const s = this.#servers.get(id);
      if (id !== this.raftId && s?.status === 'left') {
        this.#log.info({ server: s.name }, 'autopilot: removing server that left');
        await raft.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id });
        return;
      }
    }
    // Failed for the stabilization time: remove while a majority of voters stays alive.
    if (ap.cleanup_dead_servers) {
      const failed = conf.voters.filter((id) => this.#servers.get(id)?.status === 'dead');
      if (failed.length > 0 && failed.length < conf.voters.length / 2) {
        for (const id of failed) {
          const s = this.#servers.get(id);
          if (id === this.raftId || !s || t - s.since < ap.server_stabilization_time) continue;
          this.#log.info({ server: s.name }, 'autopilot: removing dead server');
          await raft.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id });
          return;
        }
      }
    }
    // New alive servers join as learners.
    for (const s of this.#servers.values()) {
      if (inConf.has(s.raftId) || s.status !== 'alive') continue;
      this.#log.info({ server: s.name }, 'autopilot: adding server as non-voter');
      await raft.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: s.raftId });
      this.#learnerSince.set(s.raftId, now());
      return;
    }
    // Caught-up, stable learners become voters.
    const progress = raft.status().progress;
    for (const id of conf.learners) {
      const s = this.#servers.get(id);
      const since = this.#learnerSince.get(id) ?? t;
      if (!this.#learnerSince.has(id)) this.#learnerSince.set(id, t);
      const match = progress?.get(id)?.match ?? 0;
      if (
        s?.status === 'alive' &&
        raft.lastIndex - match <= ap.max_trailing_logs &&
        t - since >= ap.server_stabilization_time
      ) {
        this.#log.info({ server: s.name }, 'autopilot: promoting server to voter');
        await raft.proposeConfChange({ type: ConfChangeType.AddVoter, nodeId: id });
        this.#learnerSince.delete(id);
        return;
      }
    }
  }

  /** Gossip members → catalog nodes with serfHealth; servers → the `consul` service. */
  /**
   * Failed members the catalog still holds, by name → monotonic ms since this leader knew
   * them failed (or, for nodes gossip has already forgotten, since it first noticed them).
   * A failed node is reaped (deregistered) after `reconnect_timeout` (Consul: 72 h).
   */
  readonly #failedSince = new Map<string, number>();

  /** Deregisters a failed node past reconnect_timeout; true when it did (or already had). */
  async #maybeReap(name: string): Promise<boolean> {
    const t = now();
    const since = this.#failedSince.get(name) ?? t;
    this.#failedSince.set(name, since);
    if (t - since < this.#cfg.reconnect_timeout) return false;
    if (this.store.node(name).value) {
      this.#log.info({ member: name }, 'reaping a member failed for longer than reconnect_timeout');
      await this.apply({ type: MessageType.Deregister, now: Date.now(), body: { Node: name } });
    }
    return true;
  }

  async #reconcileCatalog(): Promise<void> {
    const seen = new Set<string>([this.nodeName]);
    for (const m of this.#gossip.members()) {
      seen.add(m.name);
      if ((m.tags.dc ?? this.datacenter) !== this.datacenter) continue;
      if (!this.#raft?.isLeader) return;
      const host = hostOf(m.addr);
      if (m.status === 'dead') {
        if (await this.#maybeReap(m.name)) continue;
      } else this.#failedSince.delete(m.name);
      if (m.status === 'left') {
        if (m.name !== this.nodeName && this.store.node(m.name).value) {
          await this.apply({
            type: MessageType.Deregister,
            now: Date.now(),
            body: { Node: m.name },
          });
        }
        continue;
      }
      const status: CheckStatus = m.status === 'dead' ? 'critical' : 'passing';
      const isServer = m.tags.role === 'consul';
      const node = this.store.node(m.name).value;
      const check = this.store.nodeChecks(m.name).value.find((c) => c.CheckID === 'serfHealth');
      const svc = isServer
        ? this.store.nodeServices(m.name).value?.Services.find((s) => s.ID === 'consul')
        : undefined;
      const port = Number(m.tags.port);
      const upToDate =
        node !== undefined &&
        node.Address === host &&
        check?.Status === status &&
        (!isServer || (svc !== undefined && svc.Port === port));
      if (upToDate) continue;
      // The node row is the agent's (anti-entropy writes its tagged addresses and meta);
      // the leader writes it only when it is missing or its address changed.
      const skipNode = node !== undefined && node.Address === host;
      const req: RegisterRequest = {
        ...(skipNode ? { SkipNodeUpdate: true } : {}),
        Node: m.name,
        Address: host,
        ...(m.tags.id ? { ID: m.tags.id } : {}),
        Datacenter: this.datacenter,
        ...(isServer
          ? {
              Service: {
                ID: 'consul',
                Service: 'consul',
                Port: port,
                Meta: {
                  raft_version: m.tags.raft_vsn ?? '3',
                  serf_protocol_current: '2',
                  serf_protocol_max: '5',
                  serf_protocol_min: '1',
                  version: m.tags.build ?? '',
                },
              },
            }
          : {}),
        Check: {
          Node: m.name,
          CheckID: 'serfHealth',
          Name: 'Serf Health Status',
          Status: status,
          Output:
            status === 'passing' ? 'Agent alive and reachable' : 'Agent not live or unreachable',
        },
      };
      await this.apply({ type: MessageType.Register, now: Date.now(), body: req });
    }
    // Nodes with a serfHealth check that gossip no longer knows (it forgets failed members
    // after a while; a new leader may never have seen them): failed until reaped.
    for (const c of this.store.checksInState('any').value) {
      if (c.CheckID !== 'serfHealth' || seen.has(c.Node)) continue;
      if (!this.#raft?.isLeader) return;
      seen.add(c.Node);
      if (await this.#maybeReap(c.Node)) continue;
      if (c.Status !== 'critical') {
        await this.apply({
          type: MessageType.Register,
          now: Date.now(),
          body: {
            Node: c.Node,
            Address: this.store.node(c.Node).value?.Address ?? '',
            SkipNodeUpdate: true,
            Check: {
              Node: c.Node,
              CheckID: c.CheckID,
              Name: c.Name,
              Status: 'critical',
              Output: 'Agent not live or unreachable',
            },
          },
        });
      }
    }
    for (const name of this.#failedSince.keys()) {
      if (!seen.has(name)) this.#failedSince.delete(name);
    }
  }

  // ------------------------------------------------------------------ sessions

  /** Arms a timer for every TTL session without one (after a failover: the full TTL × 2). */
  #armSessionTimers(): void {
    const live = new Set<string>();
    for (const sess of this.store.sessions().value) {
      live.add(sess.ID);
      if (sess.TTL !== '' && !this.#sessionTimers.has(sess.ID)) this.#resetSessionTimer(sess);
    }
    for (const [id, t] of this.#sessionTimers) {
      if (!live.has(id)) {
        clearTimeout(t);
        this.#sessionTimers.delete(id);
      }
    }
  }

  #resetSessionTimer(sess: Session): void {
    const old = this.#sessionTimers.get(sess.ID);
    if (old) clearTimeout(old);
    let ttl: number;
    try {
      ttl = parseDuration(sess.TTL);
    } catch {
      return; // the store validated it; nothing sensible to time
    }
    const t = setTimeout(() => void this.#expireSession(sess.ID), ttl * SESSION_TTL_MULTIPLIER);
    t.unref();
    this.#sessionTimers.set(sess.ID, t);
  }

  async #expireSession(id: string): Promise<void> {
    this.#sessionTimers.delete(id);
    if (this.#closed || !this.#raft?.isLeader || !this.store.session(id).value) return;
    this.#log.info({ session: id }, 'session TTL expired; destroying');
    try {
      await this.apply({
        type: MessageType.Session,
        now: Date.now(),
        body: { Op: 'destroy', Session: { ID: id } },
      });
    } catch (e) {
      this.#log.warn({ err: e, session: id }, 'session expiry failed; will retry');
      const t = setTimeout(() => void this.#expireSession(id), 1_000);
      t.unref();
      this.#sessionTimers.set(id, t);
    }
  }

  #clearSessionTimers(): void {
    for (const t of this.#sessionTimers.values()) clearTimeout(t);
    this.#sessionTimers.clear();
  }

  #renewHere(id: string): Session | undefined {
    this.#leaderRaft();
    const sess = this.store.session(id).value;
    if (sess && sess.TTL !== '') this.#resetSessionTimer(sess);
    return sess;
  }

  renewSession(id: string): Promise<Session | undefined> {
    return this.#onLeader(
      () => Promise.resolve(this.#renewHere(id)),
      async (leader) => {
        const r = (await this.#call(leader, M.operator, { op: 'session-renew', id })) as {
          session: Session | null;
        };
        return r.session ?? undefined;
      },
    );
  }

  // ------------------------------------------------------------------ user events

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

  // ------------------------------------------------------------------ leave / close

  /**
   * Graceful leave: hand leadership to the most up-to-date voter, announce the leave in
   * gossip (the leader then removes us from the Raft configuration), wait (bounded) to be out
   * of it, and stop.
   */
  async leave(): Promise<void> {
    if (this.#leaving || this.#closed) return;
    this.#leaving = true;
    const raft = this.#raft;
    if (raft?.isLeader && raft.configuration.voters.length > 1) {
      const target = this.#bestSuccessor(raft);
      if (target !== undefined) {
        try {
          await this.#transferTo(raft, target);
        } catch (e) {
          this.#log.warn({ err: e }, 'leave: leadership transfer failed; leaving anyway');
        }
      }
    }
    this.#log.info({}, 'leave: announcing to the cluster');
    await this.#gossip.leave();
    if (raft && raft.configuration.voters.length > 1) {
      const deadline = now() + 5_000;
      while (now() < deadline) {
        const c = raft.configuration;
        if (!c.voters.includes(this.raftId) && !c.learners.includes(this.raftId)) break;
        await sleep(50);
      }
    }
    await this.close();
  }

  /** Stops everything without leaving (a restart comes back as the same member). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#leaderTimer) clearTimeout(this.#leaderTimer);
    this.#clearSessionTimers();
    for (const fn of [...this.#leaderWaiters]) fn();
    const raft = this.#raft;
    await Promise.allSettled([
      raft ? raft.close() : this.#transport?.close(),
      this.#gossip?.close(),
      ...[...this.#clients.values()].map((c) => c.client.close()),
    ]);
    await this.#rpc?.close();
    await this.#httpApp?.close();
    this.#dns?.close();
    if (this.#disk instanceof NodeDisk) this.#disk.close();
    this.#resolveStopped();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Raft state for tests and the dev banner. */
  get raft(): RaftNode | null {
    return this.#raft;
  }

  /** The address other agents reach this one at. */
  get advertiseAddress(): string {
    return this.#advertise;
  }

  /** Members in the LAN pool (alive or suspect). */
  clusterSize(): number {
    return this.#gossip.numAlive();
  }

  /** Joins the LAN pool through `addrs`; resolves with how many answered. */
  join(addrs: readonly string[]): Promise<number> {
    return this.#gossip.join(addrs);
  }

  /** serf's force-leave; false when the member is unknown here or not failed. */
  forceLeave(name: string): boolean {
    return this.#gossip.forceLeave(name);
  }

  get rpcAddress(): string {
    return hostPort(this.#advertise, this.#rpc.address().port);
  }

  get gossipAddress(): string {
    return this.#gossip.addr;
  }
}
