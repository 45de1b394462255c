/**
 * What the HTTP API needs from the agent it serves. The HTTP layer (routes, parsing, headers,
 * blocking queries, error bodies) codes against this interface only; the server agent
 * (server/server.ts) implements it over Raft, gossip and the local state-store replica.
 *
 * Errors: methods reject with {@link BackendError} for conditions the HTTP layer maps to a
 * status and Consul's plain-text body (no leader → 500 "No cluster leader", a forwarding
 * failure → 500 with the cause, a bad argument → 400). A command the state store refuses
 * (a CAS mismatch is *not* an error: it resolves with `value: false`) rejects with the
 * store's StateError, which the HTTP layer turns into a 400/500 by its code.
 */
import type { Command, CommandValue, Session, StateStore } from '@trellis/state';
import type { CaConfigRequest, IssuedLeaf } from '../connect/server-ca.js';
import type { AgentConnect } from '../connect/agent-connect.js';
import type { ProxyStreams } from '../connect/proxy-streams.js';
import type { LocalAgent } from '../local/agent.js';

export type ReadMode = 'default' | 'consistent' | 'stale';

/** What a read reports in Consul's X-Consul-KnownLeader / X-Consul-LastContact headers. */
export interface ReadMeta {
  readonly knownLeader: boolean;
  /** Milliseconds since this server last heard from the leader (0 on the leader). */
  readonly lastContactMs: number;
}

export interface ApplyOutcome {
  /** The Raft index that applied the command: the X-Consul-Index of a write. */
  readonly index: number;
  readonly value: CommandValue;
}

/** One entry of /v1/agent/members (Consul's shape). */
export interface MemberInfo {
  readonly Name: string;
  readonly Addr: string;
  readonly Port: number;
  readonly Tags: Readonly<Record<string, string>>;
  /** Serf's numeric status: 0 none, 1 alive, 2 leaving, 3 left, 4 failed. */
  readonly Status: number;
  readonly ProtocolMin: number;
  readonly ProtocolMax: number;
  readonly ProtocolCur: number;
  readonly DelegateMin: number;
  readonly DelegateMax: number;
  readonly DelegateCur: number;
}

/** One server of /v1/operator/raft/configuration. */
export interface RaftServerInfo {
  readonly ID: string;
  readonly Node: string;
  /** "host:port" of the server's RPC/Raft port. */
  readonly Address: string;
  readonly Leader: boolean;
  readonly Voter: boolean;
  readonly ProtocolVersion: string;
  /** The last log index the leader knows the server to have (Consul ≥ 1.17). */
  readonly LastIndex: number;
}

export interface RaftConfigurationInfo {
  readonly Servers: readonly RaftServerInfo[];
  /** The Raft index of the configuration. */
  readonly Index: number;
}

/** One server of /v1/operator/autopilot/health. */
export interface AutopilotServerHealth {
  readonly ID: string;
  readonly Name: string;
  readonly Address: string;
  readonly SerfStatus: 'alive' | 'leaving' | 'left' | 'failed' | 'none';
  readonly Version: string;
  readonly Leader: boolean;
  /** Go duration string, e.g. "12ms". */
  readonly LastContact: string;
  readonly LastTerm: number;
  readonly LastIndex: number;
  readonly Healthy: boolean;
  readonly Voter: boolean;
  /** RFC 3339 time since when the server has been in its current health state. */
  readonly StableSince: string;
}

export interface AutopilotHealthInfo {
  readonly Healthy: boolean;
  readonly FailureTolerance: number;
  readonly Servers: readonly AutopilotServerHealth[];
}

/** Consul's /v1/agent/self (the fields clients read). */
export interface AgentSelfInfo {
  readonly Config: {
    readonly Datacenter: string;
    readonly PrimaryDatacenter: string;
    readonly NodeName: string;
    readonly NodeID: string;
    readonly Revision: string;
    readonly Server: boolean;
    readonly Version: string;
  };
  readonly DebugConfig: Readonly<Record<string, unknown>>;
  readonly Coord: null;
  readonly Member: MemberInfo;
  readonly Stats: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly Meta: Readonly<Record<string, string>>;
}

/** A user event as /v1/event/list returns it (Consul's structs.UserEvent). */
export interface UserEventInfo {
  /** A UUID. */
  readonly ID: string;
  readonly Name: string;
  /** Base64 in JSON; null when empty. */
  readonly Payload: Uint8Array | null;
  /** Regular expressions limiting which nodes act on the event ("" = all). */
  readonly NodeFilter: string;
  readonly ServiceFilter: string;
  readonly TagFilter: string;
  readonly Version: number;
  /** The gossip Lamport time of the event. */
  readonly LTime: number;
}

export interface FireEventRequest {
  readonly name: string;
  readonly payload: Uint8Array;
  readonly nodeFilter: string;
  readonly serviceFilter: string;
  readonly tagFilter: string;
}

export type BackendErrorCode =
  /** No leader is known (or it could not be reached in time): HTTP 500 "No cluster leader". */
  | 'NO_LEADER'
  /** The request could not be forwarded or timed out with its outcome unknown: HTTP 500. */
  | 'UNAVAILABLE'
  /** An argument is wrong (unknown peer, bad snapshot archive…): HTTP 400. */
  | 'BAD_REQUEST'
  /** Something the request names does not exist: HTTP 404. */
  | 'NOT_FOUND'
  /** A rate limit refused the request (CA signing): HTTP 429. */
  | 'RATE_LIMITED'
  /** The agent is not a server, or the operation needs the leader and failed there: HTTP 500. */
  | 'INTERNAL';

export class BackendError extends Error {
  override readonly name = 'BackendError';
  constructor(
    readonly code: BackendErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isBackendError(e: unknown, code?: BackendErrorCode): e is BackendError {
  return e instanceof BackendError && (code === undefined || e.code === code);
}

/** The Connect CA of a server (connect/server-ca.ts). */
export interface CaBackend {
  /** `<cluster id>.consul`, or '' before the leader has initialised the CA. */
  trustDomain(): string;
  setConfig(req: CaConfigRequest): Promise<void>;
  sign(csrPem: string): Promise<IssuedLeaf>;
}

export interface Backend {
  /** The Connect CA (servers only). */
  readonly ca?: CaBackend;
  /** This agent's replica of the state store (read after {@link readBarrier}). */
  readonly store: StateStore;
  readonly datacenter: string;
  readonly nodeName: string;
  /** The HTTP layer's own limit on `?wait=` etc. come from Consul; this is the agent's. */
  readonly isServer: boolean;

  /**
   * Waits until a read in `mode` may be served from {@link store}:
   * - `default`: the leader's lease (or a ReadIndex round when it has none), forwarded to the
   *   leader when this server is a follower; then this replica has applied that index;
   * - `consistent`: a ReadIndex round through the leader;
   * - `stale`: at once, from whatever this replica has.
   * Rejects with NO_LEADER when default/consistent cannot find a leader in time.
   */
  readBarrier(mode: ReadMode, signal?: AbortSignal): Promise<ReadMeta>;

  /** Proposes a command on the leader (forwarded if need be) and waits until it is applied
   * on this replica, so a read after the write sees it. */
  apply(cmd: Command, signal?: AbortSignal): Promise<ApplyOutcome>;

  /** "host:port" of the leader's server port, or "" when none is known. */
  leaderAddress(): string;
  /** "host:port" of every voter, as /v1/status/peers lists them. */
  peerAddresses(): string[];

  /** The LAN gossip members (this agent included). */
  members(): MemberInfo[];
  self(): AgentSelfInfo;

  raftConfiguration(): Promise<RaftConfigurationInfo>;
  /** Removes a server from the Raft configuration by ID or by "host:port" (exactly one). */
  removeRaftPeer(by: { readonly id?: string; readonly address?: string }): Promise<void>;
  /** Transfers leadership to `id`, or to the most up-to-date voter when absent. */
  transferLeader(id?: string): Promise<void>;
  autopilotHealth(): Promise<AutopilotHealthInfo>;

  /** A point-in-time archive of the whole state (what `GET /v1/snapshot` streams). */
  snapshotSave(mode: ReadMode): Promise<{ readonly index: number; readonly archive: Uint8Array }>;
  /** Replaces the whole state with an archive from snapshotSave (through Raft). */
  snapshotRestore(archive: Uint8Array): Promise<void>;

  /**
   * Resets a session's TTL timer on the leader (`PUT /v1/session/renew/:id`); resolves with
   * the session, or undefined when it does not exist (HTTP 404). Sessions without a TTL
   * renew trivially.
   */
  renewSession(id: string): Promise<Session | undefined>;

  /** Fires a user event through gossip (`PUT /v1/event/fire/:name`); returns it with its ID. */
  fireEvent(req: FireEventRequest): Promise<UserEventInfo>;
  /**
   * The most recent user events this agent received (oldest first, at most 256, Consul's
   * buffer), and a wait for the next one (resolves true on a new event, false when the
   * signal ends the wait first).
   */
  events(): readonly UserEventInfo[];
  waitEvent(signal: AbortSignal): Promise<boolean>;

  /** Graceful leave (`PUT /v1/agent/leave`): leaves gossip, hands off leadership, stops. */
  leave(): Promise<void>;
}

/**
 * What the agent endpoints (/v1/agent/*, /v1/event/*) need: the agent itself, server or
 * client. These are answered by the agent a request reaches, never forwarded.
 */
export interface AgentApi {
  readonly nodeName: string;
  readonly datacenter: string;
  readonly isServer: boolean;
  /** The node's own services and checks; absent on an HTTP API built over a bare backend. */
  readonly local?: LocalAgent;
  /** Connect on this agent (leaf certificates, roots, authorize); absent when disabled. */
  readonly connect?: AgentConnect;
  /** The proxy configuration streams this agent serves (port 8502). */
  readonly proxies?: ProxyStreams;
  members(): MemberInfo[];
  self(): AgentSelfInfo;
  leave(): Promise<void>;
  /** Joins the LAN pool through these addresses; resolves with how many answered. */
  join(addrs: readonly string[]): Promise<number>;
  /** serf's force-leave of a failed member (false: unknown or not failed here). */
  forceLeave(node: string): Promise<boolean>;
  fireEvent(req: FireEventRequest): Promise<UserEventInfo>;
  events(): readonly UserEventInfo[];
  waitEvent(signal: AbortSignal): Promise<boolean>;
}

/** The agent view of a server backend without local state (tests of the HTTP layer). */
export function agentOf(b: Backend): AgentApi {
  return {
    nodeName: b.nodeName,
    datacenter: b.datacenter,
    isServer: b.isServer,
    members: () => b.members(),
    self: () => b.self(),
    leave: () => b.leave(),
    join: () => Promise.reject(new BackendError('INTERNAL', 'join is not available here')),
    forceLeave: () =>
      Promise.reject(new BackendError('INTERNAL', 'force-leave is not available here')),
    fireEvent: (r) => b.fireEvent(r),
    events: () => b.events(),
    waitEvent: (s) => b.waitEvent(s),
  };
}
