/**
 * Data types of the Raft core: log entries, persistent state, messages, snapshots and the
 * Ready batch handed to the driver.
 *
 * Node ids are positive safe integers; 0 (`NONE`) means "no node" (no leader, no vote).
 * Indexes and terms are non-negative safe integers.
 */

export type NodeId = number;

/** "No node": no known leader, no vote cast. */
export const NONE: NodeId = 0;

/**
 * Kind of a log entry. Persisted and sent on the wire.
 *
 * APPEND-ONLY: never renumber or reuse a value; add new kinds at the end.
 */
export enum EntryType {
  /** An application command (empty data: the no-op a new leader appends). */
  Normal = 0,
  /**
   * A membership configuration: `data` is {@link encodeConfigEntry} of the *full* resulting
   * configuration plus the single-server change that produced it. Takes effect when appended.
   */
  Config = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** State that must be durable before messages of the same Ready are sent (Raft Figure 2). */
export interface HardState {
  readonly term: number;
  /** Candidate voted for in `term`, or NONE. */
  readonly vote: NodeId;
  /** Highest index known committed (persisting it is an optimisation: it may lag). */
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

/** A cluster membership: voters decide elections and commit; learners only replicate. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export const EMPTY_CONF_STATE: ConfState = Object.freeze({ voters: [], learners: [] });

/** A single-server membership change (Raft dissertation §4.1). */
export enum ConfChangeType {
  /** Add a voter, or promote a learner to voter. */
  AddVoter = 0,
  /** Add a non-voting learner, or demote a voter to learner. */
  AddLearner = 1,
  /** Remove a voter or learner. */
  RemoveNode = 2,
}

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

export interface SnapshotMetadata {
  /** Last index covered by the snapshot. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

/** A state-machine snapshot: metadata plus the application's opaque bytes. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  metadata: Object.freeze({ index: 0, term: 0, confState: EMPTY_CONF_STATE }),
  data: new Uint8Array(0),
});

/**
 * Kind of a Raft message. Sent on the wire by the transport.
 *
 * APPEND-ONLY: values are part of the wire format. Never renumber or reuse a value; add new
 * kinds at the end. 0 is deliberately unused (an unset field).
 */
export enum MessageType {
  /** Leader → follower: entries after (index, logTerm), plus the leader's commit. */
  App = 1,
  /** Follower → leader: `index` = last matching index, or reject with a hint. */
  AppResp = 2,
  /** Candidate → voter: vote for me in `term`; (index, logTerm) = my last entry. */
  Vote = 3,
  VoteResp = 4,
  /** Pre-candidate → voter: would you vote for me in `term` (= my term + 1)? (§9.6) */
  PreVote = 5,
  PreVoteResp = 6,
  /** Leader → follower: keep-alive with commit and heartbeat `round` (ReadIndex, lease). */
  Heartbeat = 7,
  /** Follower → leader: echoes `round`. */
  HeartbeatResp = 8,
  /** Leader → follower: one chunk of a snapshot (`snapshot` metadata + `chunk`). */
  Snap = 9,
  /** Follower → leader: `chunk.offset` = next byte expected of snapshot `index`. */
  SnapResp = 10,
  /** Leader → transferee: campaign now, bypassing pre-vote and leases (§3.10). */
  TimeoutNow = 11,
  /** Follower → leader: ReadIndex request forwarded on behalf of a local client. */
  ReadIndex = 12,
  /** Leader → follower: the read index for `context`. */
  ReadIndexResp = 13,
  /** Follower → leader: an operator asked to transfer leadership to `index` (node id). */
  TransferLeader = 14,
}

/** A chunk of a snapshot stream (Raft §7: InstallSnapshot offset/data/done). */
export interface SnapshotChunk {
  /** Byte offset of `data` in the snapshot's data. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** True on the last chunk. */
  readonly done: boolean;
  /** Size of the whole snapshot data. */
  readonly totalSize: number;
}

/**
 * A Raft message. One flat shape (like etcd's raftpb.Message) so that a codec is simple;
 * fields a type does not use are 0/false/empty.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** App: term of the entry at `index`. Vote: candidate's last term. AppResp reject: hint term. */
  readonly logTerm: number;
  /** App: index preceding `entries`. AppResp: last matching index (or rejected index). */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** AppResp reject: the follower's guess at where the logs diverge. */
  readonly rejectHint: number;
  /** Heartbeat/HeartbeatResp: the leader's heartbeat round (ReadIndex and lease). */
  readonly round: number;
  /** ReadIndex/ReadIndexResp: the request context. */
  readonly context: string;
  /** Vote/PreVote sent because of a leadership transfer: bypasses the leader lease check. */
  readonly transfer: boolean;
  /** Snap/SnapResp: the snapshot's metadata. */
  readonly snapshot?: SnapshotMetadata;
  /** Snap/SnapResp: the chunk (SnapResp: offset = next expected byte, data empty). */
  readonly chunk?: SnapshotChunk;
}

/** Builds a message with defaults for every field not given. */
export function msg(m: Partial<Message> & Pick<Message, 'type' | 'to'>): Message {
  return {
    from: 0,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    round: 0,
    context: '',
    transfer: false,
    ...m,
  };
}

export enum StateType {
  Follower = 'Follower',
  PreCandidate = 'PreCandidate',
  Candidate = 'Candidate',
  Leader = 'Leader',
}

/** Volatile state reported in a Ready when it changes (not persisted). */
export interface SoftState {
  readonly lead: NodeId;
  readonly state: StateType;
}

/** The result of a ReadIndex request: reads at `context` may be served once applied ≥ index. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/**
 * One batch of work for the driver. See {@link RawNode.ready} for the contract:
 * persist (entries, hardState, snapshot) → send messages → apply (snapshot, committedEntries)
 * → advance().
 */
export interface Ready {
  /** Present when the leader or role changed since the previous Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed: persist it. */
  readonly hardState?: HardState;
  /** Append to stable storage (overwriting any stored entries at the same indexes). */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: persist it, then restore the state machine. */
  readonly snapshot?: Snapshot;
  /** Committed entries to apply, in order, after the above are durable. */
  readonly committedEntries: readonly Entry[];
  /** Messages to send after entries, hardState and snapshot are durable. */
  readonly messages: readonly Message[];
  /** Completed ReadIndex / lease reads. */
  readonly readStates: readonly ReadState[];
  /** True when hardState or entries must be fsynced before sending (false: only commit moved). */
  readonly mustSync: boolean;
}

/** Per-peer replication state, as reported by {@link RawNode.status}. */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: 'Probe' | 'Replicate' | 'Snapshot';
  readonly isLearner: boolean;
  readonly recentActive: boolean;
  readonly paused: boolean;
  readonly inflight: number;
  readonly inflightBytes: number;
  readonly pendingSnapshot: number;
}

export interface Status {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly lastIndex: number;
  readonly config: ConfState;
  /** Leader only: replication progress of every member (the leader included). */
  readonly progress?: ReadonlyMap<NodeId, ProgressStatus>;
  /** Leader only: transfer target, or NONE. */
  readonly leadTransferee: NodeId;
}
