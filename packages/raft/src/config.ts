/**
 * Configuration of a Raft node, with defaults. Time is measured in ticks: the driver calls
 * `tick()` at a fixed interval (e.g. 100 ms, etcd's default heartbeat interval), so
 * `electionTick: 10` is a 1 s election timeout.
 */
import { RaftError } from './errors.js';
import type { Storage } from './storage.js';
import type { NodeId } from './types.js';

export interface Config {
  /** This node's id (a positive safe integer). */
  readonly id: NodeId;
  /** The node's durable state (log, hard state, snapshot). */
  readonly storage: Storage;
  /** Ticks without hearing from a leader before campaigning (randomized in [e, 2e)). */
  readonly electionTick?: number;
  /** Ticks between leader heartbeats. Must be < electionTick. */
  readonly heartbeatTick?: number;
  /** Index of the last entry already applied to the state machine (on restart). */
  readonly applied?: number;
  /** Max bytes of entry payloads in one App message (at least one entry is always sent). */
  readonly maxSizePerMsg?: number;
  /** Max App messages in flight to one follower in Replicate state (pipelining window). */
  readonly maxInflightMsgs?: number;
  /** Max entry payload bytes in flight to one follower (0 = unlimited). */
  readonly maxInflightBytes?: number;
  /** Max bytes of uncommitted entry payloads the leader accepts (0 = unlimited). */
  readonly maxUncommittedEntriesSize?: number;
  /** Pre-vote (Raft dissertation §9.6): a candidate first checks it could win. */
  readonly preVote?: boolean;
  /** Check-quorum (§6.2): a leader that hears from no quorum for electionTick steps down. */
  readonly checkQuorum?: boolean;
  /**
   * Leader lease length in ticks, from the tick at which a quorum-acknowledged heartbeat
   * round was *sent*. Must be ≤ electionTick - 1; the gap is the clock-drift margin.
   * Lease reads are refused unless checkQuorum is on.
   */
  readonly leaseTicks?: number;
  /** Bytes per InstallSnapshot chunk. */
  readonly snapshotChunkSize?: number;
  /** Snapshot chunks in flight to one follower before waiting for an acknowledgement. */
  readonly maxSnapshotInflightChunks?: number;
  /**
   * Randomness for the election timeout jitter: returns an integer in [0, n). Injected so
   * the core stays pure; defaults to a PRNG seeded with `randSeed` (default: the node id).
   */
  readonly rand?: (n: number) => number;
  /** Seed of the default PRNG when `rand` is not given. */
  readonly randSeed?: number;
}

/** etcd's embed default: 1 s election timeout at a 100 ms tick. */
export const DEFAULT_ELECTION_TICK = 10;
/** etcd's default: one heartbeat per tick (100 ms). */
export const DEFAULT_HEARTBEAT_TICK = 1;
/** etcd server's default (1 MiB, etcd `maxSizePerMsg`). */
export const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024;
/** etcd server's default (`maxInflightMsgs = 4096 / 8 = 512`). */
export const DEFAULT_MAX_INFLIGHT_MSGS = 512;
/** etcd's `MaxInflightBytes` default is 0 (unlimited); we bound at 32 MiB per follower so one
 * slow follower cannot pin unbounded memory in the transport. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 32 * 1024 * 1024;
/** etcd raft's default is 0 (unlimited); we cap the leader's uncommitted payload at 64 MiB so
 * that a slow quorum produces backpressure (ERR_PROPOSAL_DROPPED) instead of OOM. */
export const DEFAULT_MAX_UNCOMMITTED_SIZE = 64 * 1024 * 1024;
/** Pre-vote on: hashicorp/raft ≥ 1.7 (Consul) and etcd ≥ 3.5 servers enable it by default. */
export const DEFAULT_PRE_VOTE = true;
/** Check-quorum on: hashicorp/raft always steps down without quorum contact (its
 * LeaderLeaseTimeout check); etcd's server sets CheckQuorum: true. */
export const DEFAULT_CHECK_QUORUM = true;
/**
 * Half the election timeout: Consul's raft config uses LeaderLeaseTimeout 500 ms against a
 * 1000 ms ElectionTimeout; the other half is the clock-drift and tick-granularity margin.
 */
export const defaultLeaseTicks = (electionTick: number): number =>
  Math.max(1, Math.floor(electionTick / 2));
/** 64 KiB chunks: small enough to interleave with heartbeats, large enough to stream fast. */
export const DEFAULT_SNAPSHOT_CHUNK_SIZE = 64 * 1024;
/** Four chunks (256 KiB) in flight per follower: keeps the pipe full at LAN latencies. */
export const DEFAULT_MAX_SNAPSHOT_INFLIGHT_CHUNKS = 4;
/**
 * Entries kept in the log behind a snapshot so slightly lagging followers catch up from the
 * log instead of a snapshot: hashicorp/raft's TrailingLogs default (Consul `raft_trailing_logs`).
 * Used by the driver when it compacts (the core does not compact on its own).
 */
export const DEFAULT_TRAILING_LOGS = 10240;

/** A config with every default filled in and validated. */
export interface ResolvedConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly applied: number;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedEntriesSize: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly leaseTicks: number;
  readonly snapshotChunkSize: number;
  readonly maxSnapshotInflightChunks: number;
  readonly rand: (n: number) => number;
}

/** splitmix32-based integer PRNG: deterministic jitter when no `rand` is injected. */
function seededRand(seed: number): (n: number) => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return (n: number): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) % n;
  };
}

function bad(why: string): never {
  throw new RaftError('ERR_INVALID_CONFIG', why);
}

function posInt(name: string, v: number, min = 1): number {
  if (!Number.isSafeInteger(v) || v < min) bad(`${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

export function resolveConfig(c: Config): ResolvedConfig {
  posInt('id', c.id);
  const electionTick = posInt('electionTick', c.electionTick ?? DEFAULT_ELECTION_TICK);
  const heartbeatTick = posInt('heartbeatTick', c.heartbeatTick ?? DEFAULT_HEARTBEAT_TICK);
  if (heartbeatTick >= electionTick) bad('heartbeatTick must be less than electionTick');
  const leaseTicks = posInt('leaseTicks', c.leaseTicks ?? defaultLeaseTicks(electionTick));
  if (leaseTicks > electionTick - 1) {
    bad(`leaseTicks must be ≤ electionTick - 1 (${electionTick - 1}), got ${leaseTicks}`);
  }
  return {
    id: c.id,
    storage: c.storage,
    electionTick,
    heartbeatTick,
    applied: posInt('applied', c.applied ?? 0, 0),
    maxSizePerMsg: posInt('maxSizePerMsg', c.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG, 0),
    maxInflightMsgs: posInt('maxInflightMsgs', c.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT_MSGS),
    maxInflightBytes: posInt(
      'maxInflightBytes',
      c.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES,
      0,
    ),
    maxUncommittedEntriesSize: posInt(
      'maxUncommittedEntriesSize',
      c.maxUncommittedEntriesSize ?? DEFAULT_MAX_UNCOMMITTED_SIZE,
      0,
    ),
    preVote: c.preVote ?? DEFAULT_PRE_VOTE,
    checkQuorum: c.checkQuorum ?? DEFAULT_CHECK_QUORUM,
    leaseTicks,
    snapshotChunkSize: posInt(
      'snapshotChunkSize',
      c.snapshotChunkSize ?? DEFAULT_SNAPSHOT_CHUNK_SIZE,
    ),
    maxSnapshotInflightChunks: posInt(
      'maxSnapshotInflightChunks',
      c.maxSnapshotInflightChunks ?? DEFAULT_MAX_SNAPSHOT_INFLIGHT_CHUNKS,
    ),
    rand: c.rand ?? seededRand(c.randSeed ?? c.id),
  };
}
