/**
 * The error catalog of the Raft core. Every error the core throws is a {@link RaftError}
 * with a stable `code` (never reworded: drivers and clients match on it).
 *
 * - Caller mistakes and expected refusals (not leader, proposal dropped, bad conf change…)
 *   are thrown from the RawNode method that was called; the core's state is unchanged.
 * - Storage "soft" errors (compacted, unavailable) are thrown by Storage implementations and
 *   handled inside the core.
 * - A broken invariant (a bug, or corrupted durable state) throws {@link RaftInvariantError}:
 *   the node must stop.
 */
import type { NodeId } from './types.js';

export type RaftErrorCode =
  | 'ERR_NOT_LEADER'
  | 'ERR_PROPOSAL_DROPPED'
  | 'ERR_TRANSFER_IN_PROGRESS'
  | 'ERR_INVALID_TRANSFEREE'
  | 'ERR_CONF_CHANGE_PENDING'
  | 'ERR_INVALID_CONF_CHANGE'
  | 'ERR_LEASE_UNAVAILABLE'
  | 'ERR_INVALID_CONFIG'
  | 'ERR_COMPACTED'
  | 'ERR_UNAVAILABLE'
  | 'ERR_SNAPSHOT_OUT_OF_DATE'
  | 'ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE'
  | 'ERR_READY_OUTSTANDING'
  | 'ERR_INVARIANT'
  // Raised by the driver (RaftNode) and its transport, not by the pure core:
  | 'ERR_TIMEOUT'
  | 'ERR_NODE_CLOSED'
  | 'ERR_BAD_MESSAGE';

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
    this.name = 'RaftError';
  }
}

/** This node is not the leader; `leaderHint` is the leader it knows of (NONE = 0 if none). */
export class NotLeaderError extends RaftError {
  readonly leaderHint: NodeId;
  constructor(leaderHint: NodeId, what = 'request') {
    super(
      'ERR_NOT_LEADER',
      `${what} refused: not the leader` + (leaderHint !== 0 ? ` (leader is ${leaderHint})` : ''),
    );
    this.leaderHint = leaderHint;
    this.name = 'NotLeaderError';
  }
}

/** A proposal was refused by the leader (e.g. the uncommitted-entries budget is exhausted). */
export class ProposalDroppedError extends RaftError {
  constructor(reason: string) {
    super('ERR_PROPOSAL_DROPPED', reason);
    this.name = 'ProposalDroppedError';
  }
}

/** Proposals and new transfers are refused while a leadership transfer is in progress. */
export class TransferInProgressError extends RaftError {
  readonly transferee: NodeId;
  constructor(transferee: NodeId) {
    super('ERR_TRANSFER_IN_PROGRESS', `leadership transfer to ${transferee} in progress`);
    this.transferee = transferee;
    this.name = 'TransferInProgressError';
  }
}

/** A broken invariant: a bug or corrupted state. Not recoverable; the node must stop. */
export class RaftInvariantError extends RaftError {
  constructor(message: string) {
    super('ERR_INVARIANT', message);
    this.name = 'RaftInvariantError';
  }
}

/** Throws a RaftInvariantError unless `cond` holds. */
export function invariant(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}

export const errCompacted = (): RaftError =>
  new RaftError('ERR_COMPACTED', 'requested index is unavailable due to compaction');
export const errUnavailable = (): RaftError =>
  new RaftError('ERR_UNAVAILABLE', 'requested entry at index is unavailable');
export const errSnapOutOfDate = (): RaftError =>
  new RaftError('ERR_SNAPSHOT_OUT_OF_DATE', 'requested index is older than the existing snapshot');
export const errSnapshotTemporarilyUnavailable = (): RaftError =>
  new RaftError(
    'ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE',
    'snapshot is temporarily unavailable; the core retries later',
  );

export function isRaftError(e: unknown, code?: RaftErrorCode): e is RaftError {
  return e instanceof RaftError && (code === undefined || e.code === code);
}
