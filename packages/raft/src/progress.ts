/**
 * Leader-side replication tracking (etcd's tracker package): per-follower Progress with its
 * flow-control window (Inflights), and majority-quorum arithmetic.
 */
import { invariant } from './errors.js';
import type { ConfState, NodeId, ProgressStatus } from './types.js';

/**
 * The window of App messages in flight to one follower: bounded by message count and by
 * payload bytes. Each entry is the last index of one message and its payload size.
 */
export class Inflights {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #buf: { index: number; bytes: number }[] = [];
  #start = 0;
  #bytes = 0;

  /** `maxBytes` 0 = unlimited. */
  constructor(maxCount: number, maxBytes: number) {
    invariant(maxCount > 0, 'inflights: maxCount must be positive');
    this.#maxCount = maxCount;
    this.#maxBytes = maxBytes;
  }

  get count(): number {
    return this.#buf.length - this.#start;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Records a message whose last entry is `index` carrying `bytes` of payload. */
  add(index: number, bytes: number): void {
    invariant(!this.full(), 'cannot add into a full inflights window');
    const last = this.#buf[this.#buf.length - 1];
    invariant(
      last === undefined || this.count === 0 || index > last.index,
      () => `inflights must be added in increasing index order (${index} after ${last?.index})`,
    );
    this.#buf.push({ index, bytes });
    this.#bytes += bytes;
  }

  /** Frees every message whose last index is ≤ `to` (acknowledged). */
  freeLE(to: number): void {
    while (this.#start < this.#buf.length && this.#buf[this.#start]!.index <= to) {
      this.#bytes -= this.#buf[this.#start]!.bytes;
      this.#start++;
    }
    if (this.#start === this.#buf.length) {
      this.#buf = [];
      this.#start = 0;
    } else if (this.#start > 64 && this.#start * 2 > this.#buf.length) {
      this.#buf = this.#buf.slice(this.#start);
      this.#start = 0;
    }
  }

  /** Frees the oldest message (used when every message in flight may have been lost). */
  freeFirstOne(): void {
    const first = this.#buf[this.#start];
    if (first !== undefined) this.freeLE(first.index);
  }

  /** No more messages may be sent: the count or the byte budget is exhausted. */
  full(): boolean {
    return this.count >= this.#maxCount || (this.#maxBytes > 0 && this.#bytes >= this.#maxBytes);
  }

  reset(): void {
    this.#buf = [];
    this.#start = 0;
    this.#bytes = 0;
  }
}

export type ProgressState = 'Probe' | 'Replicate' | 'Snapshot';

/** Snapshot streaming state of one follower (leader side). */
export interface SnapshotSend {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  readonly confState: ConfState;
  /** Bytes the follower acknowledged. */
  acked: number;
  /** Bytes sent (≥ acked). */
  sent: number;
  /** The final chunk has been sent (since the last rewind). */
  finished: boolean;
  /** `acked` when the previous heartbeat response arrived: no progress since → resend. */
  ackedAtLastHeartbeat: number;
}

/**
 * A follower's replication state, as the leader sees it (Raft §5.3 nextIndex/matchIndex,
 * plus etcd's Probe/Replicate/Snapshot states):
 * - Probe: one App at a time until the follower's position is known.
 * - Replicate: pipelined Apps, optimistically advancing `next`, bounded by Inflights.
 * - Snapshot: a snapshot is being streamed; no Apps until it is installed.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'Probe';
  /** Snapshot state: index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Probe state: an App was sent and not yet answered. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;
  /** Highest heartbeat round this follower acknowledged in the current term. */
  ackedRound = 0;
  /** Tick at which that round was sent (for the leader lease); -Infinity when unknown. */
  ackedRoundSentTick = Number.NEGATIVE_INFINITY;
  /** Highest commit index sent to this follower (to tell it promptly when commit moves). */
  sentCommit = 0;
  /** Snapshot state: the stream in progress. */
  snap: SnapshotSend | undefined = undefined;

  constructor(next: number, maxInflight: number, maxInflightBytes: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
    this.isLearner = isLearner;
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
    this.snap = undefined;
  }

  becomeProbe(): void {
    if (this.state === 'Snapshot') {
      const pending = this.pendingSnapshot;
      this.#resetState('Probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#resetState('Probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#resetState('Replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snap: SnapshotSend): void {
    this.#resetState('Snapshot');
    this.pendingSnapshot = snap.index;
    this.snap = snap;
  }

  /** Bookkeeping after sending an App with `entries` entries of `bytes` payload. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === 'Replicate') {
      if (entries > 0) {
        const last = this.next + entries - 1;
        this.next = last + 1; // optimistic: pipelining
        this.inflights.add(last, bytes);
      }
    } else if (this.state === 'Probe') {
      // One probe in flight; even an empty probe waits for a reply (or a heartbeat reply).
      this.msgAppFlowPaused = true;
    } else {
      invariant(false, `sending append in unhandled state ${this.state}`);
    }
  }

  /** The follower acknowledged `n`: returns false if that is stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower rejected an App at `rejected`, hinting its log matches at most up to
   * `matchHint`. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'Replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** True when the leader must not send more Apps now (flow control). */
  isPaused(): boolean {
    switch (this.state) {
      case 'Probe':
        return this.msgAppFlowPaused;
      case 'Replicate':
        return this.inflights.full();
      case 'Snapshot':
        return true;
    }
  }

  status(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      isLearner: this.isLearner,
      recentActive: this.recentActive,
      paused: this.isPaused(),
      inflight: this.inflights.count,
      inflightBytes: this.inflights.bytes,
      pendingSnapshot: this.pendingSnapshot,
    };
  }

  describe(): string {
    let s = `${this.state} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.isPaused()) s += ' paused';
    if (this.inflights.count > 0) s += ` inflight=${this.inflights.count}/${this.inflights.bytes}B`;
    if (this.state === 'Snapshot') {
      s += ` pendingSnap=${this.pendingSnapshot}`;
      if (this.snap !== undefined) s += ` sent=${this.snap.sent} acked=${this.snap.acked}`;
    }
    return s;
  }
}

/** Votes needed for a majority of `n` voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest value v such that a majority of voters have a value ≥ v (e.g. the committed
 * index from match indexes). With no voters: +Infinity (no constraint), as in etcd.
 */
export function quorumValue(values: readonly number[]): number {
  if (values.length === 0) return Number.POSITIVE_INFINITY;
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[majority(values.length) - 1]!;
}

export type VoteResult = 'Won' | 'Lost' | 'Pending';

/** Outcome of an election among `voters` given the votes so far (true = granted). */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  if (voters.length === 0) return 'Won';
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const g = votes.get(v);
    if (g === true) granted++;
    else if (g === false) rejected++;
  }
  const q = majority(voters.length);
  if (granted >= q) return 'Won';
  if (voters.length - rejected >= q) return 'Pending';
  return 'Lost';
}
