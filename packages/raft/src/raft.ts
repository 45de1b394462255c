/**
 * The Raft state machine (etcd-io/raft's `raft` struct): pure, single-threaded, no I/O.
 * Inputs are ticks, messages and requests; outputs accumulate (messages, read states, log
 * changes) and are drained by {@link RawNode.ready}.
 *
 * References: "In Search of an Understandable Consensus Algorithm" (Ongaro & Ousterhout,
 * 2014, §n) and Ongaro's dissertation "Consensus: Bridging Theory and Practice" (2014).
 */
import type { ResolvedConfig } from './config.js';
import {
  invariant,
  isRaftError,
  NotLeaderError,
  ProposalDroppedError,
  RaftError,
  TransferInProgressError,
} from './errors.js';
import { RaftLog } from './log.js';
import {
  applyConfChange,
  decodeConfigEntry,
  encodeConfigEntry,
  normalizeConf,
} from './membership.js';
import { Progress, quorumValue, voteResult } from './progress.js';
import { entryPayloadSize } from './storage.js';
import {
  EntryType,
  MessageType,
  NONE,
  StateType,
  msg,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
} from './types.js';

/** A ReadIndex request waiting for its heartbeat round to be acknowledged by a quorum. */
interface PendingRead {
  readonly context: string;
  /** Requester: this node (→ Ready.readStates) or a follower (→ ReadIndexResp). */
  readonly from: NodeId;
  /** The commit index when the request was accepted: the read index. */
  readonly index: number;
  /** Heartbeat round the request rides on; 0 = not yet sent. */
  round: number;
}

/** A snapshot being reassembled from chunks (follower side). */
interface SnapshotReceive {
  readonly from: NodeId;
  readonly term: number;
  readonly index: number;
  readonly snapTerm: number;
  readonly chunks: Uint8Array[];
  received: number;
}

/** Result of a successful proposal: the entry's position. It is committed iff the entry
 * later applied at `index` has term `term`. */
export interface ProposalRef {
  readonly index: number;
  readonly term: number;
}

export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;

  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state: StateType = StateType.Follower;

  /** Outgoing messages, drained by ready(). */
  msgs: Message[] = [];
  /** Completed reads, drained by ready(). */
  readStates: ReadState[] = [];

  /**
   * Configurations in the log: [0] is the latest one at or below the commit index (or the
   * snapshot's), the rest are uncommitted Config entries in log order. The configuration in
   * effect is the last one (applied on append, dissertation §4.1).
   */
  confHistory: { index: number; conf: ConfState }[];

  /** Leader only: replication progress of every member, this node included. */
  prs: Map<NodeId, Progress> = new Map();
  votes: Map<NodeId, boolean> = new Map();

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Ticks since this Raft was created: the core's monotonic clock. */
  tickCount = 0;
  /** Restarted with a term ≥ 2: it may have acknowledged a leader's heartbeats before the
   * restart, so it must not vote for electionTick ticks (protects leader leases). */
  readonly #startupGrace: boolean;

  leadTransferee: NodeId = NONE;
  /** A TimeoutNow was sent in this term: leases are void until the term ends. */
  transferSentThisTerm = false;
  uncommittedSize = 0;

  // ReadIndex and lease (leader only).
  round = 0;
  roundSentTick: Map<number, number> = new Map();
  pendingReads: PendingRead[] = [];
  readsAwaitingTermCommit: PendingRead[] = [];

  snapRecv: SnapshotReceive | undefined = undefined;
  /** Leader removed from the committed configuration: step down after the next flush. */
  #stepDownAtFlush = false;

  constructor(cfg: ResolvedConfig) {
    this.id = cfg.id;
    this.cfg = cfg;
    const storage = cfg.storage;
    this.log = new RaftLog(storage);
    const { hardState, confState } = storage.initialState();

    this.confHistory = [{ index: this.log.firstIndex() - 1, conf: normalizeConf(confState) }];
    // Replay Config entries after the snapshot (configurations take effect when appended).
    const last = this.log.lastIndex();
    for (let lo = this.log.firstIndex(); lo <= last;) {
      const page = this.log.slice(lo, last + 1, 4 * 1024 * 1024);
      for (const e of page) {
        if (e.type === EntryType.Config) {
          this.confHistory.push({ index: e.index, conf: decodeConfigEntry(e.data).conf });
        }
      }
      lo += page.length;
    }

    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) {
      invariant(
        hardState.commit <= last,
        () => `hardState.commit ${hardState.commit} is beyond the last index ${last}`,
      );
      // (A commit below the snapshot index is merely stale: the snapshot is committed.)
      this.log.committed = Math.max(hardState.commit, this.log.committed);
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    this.#startupGrace = hardState.term >= 2;
    if (cfg.applied > 0) this.log.appliedTo(cfg.applied);
    this.#trimConfHistory();
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- state views

  isLeaderForTesting(): boolean {
    return this.state === StateType.Leader;
  }

  get conf(): ConfState {
    return this.confHistory[this.confHistory.length - 1]!.conf;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  isVoter(id: NodeId = this.id): boolean {
    return this.conf.voters.includes(id);
  }

  /** Can campaign: a voter with no snapshot waiting to be persisted. */
  promotable(): boolean {
    return this.isVoter() && !this.log.hasPendingSnapshot();
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  // ---------------------------------------------------------------- sending

  send(m: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
    this.msgs.push(msg({ from: this.id, term: this.term, ...m }));
  }

  /**
   * Sends an App to `to` if flow control allows (§5.3). Falls back to a snapshot when the
   * needed entries were compacted. Returns whether a message was sent.
   */
  sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      ents = this.log.entries(pr.next, this.cfg.maxSizePerMsg);
    } catch (e) {
      if (isRaftError(e, 'ERR_COMPACTED')) return this.#sendSnapshot(to, pr);
      throw e;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: MessageType.App,
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    let bytes = 0;
    for (const e of ents) bytes += entryPayloadSize(e);
    pr.sentEntries(ents.length, bytes);
    pr.sentCommit = Math.max(pr.sentCommit, this.log.committed);
    return true;
  }

  #sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false; // don't stream to a node we haven't heard from
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (e) {
      if (isRaftError(e, 'ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE')) return false;
      throw e;
    }
    invariant(snap.metadata.index > 0, 'need a non-empty snapshot');
    pr.becomeSnapshot({
      index: snap.metadata.index,
      term: snap.metadata.term,
      confState: snap.metadata.confState,
      data: snap.data,
      acked: 0,
      sent: 0,
      finished: false,
      ackedAtLastHeartbeat: -1,
    });
    this.#sendSnapshotChunks(to, pr);
    return true;
  }

  /** Streams snapshot chunks (Raft §7 InstallSnapshot) up to the in-flight chunk window. */
  #sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const s = pr.snap;
    if (s === undefined) return;
    const size = this.cfg.snapshotChunkSize;
    const total = s.data.length;
    const window = size * this.cfg.maxSnapshotInflightChunks;
    while (!s.finished && s.sent - s.acked < window) {
      const end = Math.min(s.sent + size, total);
      this.send({
        type: MessageType.Snap,
        to,
        snapshot: { index: s.index, term: s.term, confState: s.confState },
        chunk: {
          offset: s.sent,
          data: s.data.subarray(s.sent, end),
          done: end === total,
          totalSize: total,
        },
      });
      s.sent = end;
      if (end === total) s.finished = true;
    }
  }

  /** Starts a new heartbeat round (carries pending ReadIndex requests and renews the lease). */
  bcastHeartbeat(): void {
    this.round++;
    this.roundSentTick.set(this.round, this.tickCount);
    // Heartbeats of earlier rounds still waiting for the next Ready are superseded: this
    // round carries a commit index at least as high and acknowledges them all.
    if (this.msgs.some((m) => m.type === MessageType.Heartbeat)) {
      this.msgs = this.msgs.filter((m) => m.type !== MessageType.Heartbeat);
    }
    for (const r of this.pendingReads) if (r.round === 0) r.round = this.round;
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      pr.sentCommit = Math.max(pr.sentCommit, commit);
      this.send({
        type: MessageType.Heartbeat,
        to: id,
        commit,
        round: this.round,
      });
    }
    this.#releaseReads();
  }

  /**
   * Work deferred to the next Ready so that everything arriving in between is batched:
   * Apps carry all new proposals and the latest commit index (one message per follower
   * unless size limits split it), and one heartbeat round carries all ReadIndex requests.
   */
  flush(): void {
    if (this.state !== StateType.Leader) return;
    const last = this.log.lastIndex();
    const committed = this.log.committed;
    for (const [id, pr] of this.prs) {
      if (id === this.id || pr.isPaused()) continue;
      // New entries to send, or a commit index the follower has not been told.
      if (pr.next <= last || pr.sentCommit < committed) {
        if (this.sendAppend(id)) {
          while (this.sendAppend(id, false)) {
            // pipeline as far as flow control allows
          }
        }
      }
    }
    if (this.pendingReads.some((r) => r.round === 0)) this.bcastHeartbeat();
    if (this.#stepDownAtFlush) this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- role changes

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTick + this.cfg.rand(this.cfg.electionTick);
    this.leadTransferee = NONE;
    this.transferSentThisTerm = false;
    this.votes.clear();
    this.prs = new Map();
    this.round = 0;
    this.roundSentTick.clear();
    this.pendingReads = [];
    this.readsAwaitingTermCommit = [];
    this.uncommittedSize = 0;
    this.#stepDownAtFlush = false;
  }

  becomeFollower(term: number, lead: NodeId): void {
    const sameStream =
      this.snapRecv !== undefined && this.snapRecv.term === term && this.snapRecv.from === lead;
    this.#reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
    if (!sameStream) this.snapRecv = undefined;
  }

  becomePreCandidate(): void {
    invariant(this.state !== StateType.Leader, 'invalid transition [leader -> pre-candidate]');
    // Pre-vote does not change term or vote (§9.6): a partitioned node cannot inflate terms.
    this.votes.clear();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
  }

  becomeCandidate(): void {
    invariant(this.state !== StateType.Leader, 'invalid transition [leader -> candidate]');
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
  }

  becomeLeader(): void {
    invariant(this.state !== StateType.Follower, 'invalid transition [follower -> leader]');
    this.#reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const last = this.log.lastIndex();
    for (const id of [...this.conf.voters, ...this.conf.learners, this.id]) {
      if (this.prs.has(id)) continue;
      const pr = this.#newProgress(id, last + 1);
      if (id === this.id) {
        // Only entries below the unstable offset are known durable; the rest are counted
        // when advance() reports them persisted.
        pr.match = this.log.unstable.offset - 1;
        pr.becomeReplicate();
        pr.next = last + 1;
      }
      this.prs.set(id, pr);
    }
    // A new leader commits a no-op of its term (§5.4.2, §8): this commits everything before
    // it and enables ReadIndex.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
  }

  #newProgress(id: NodeId, next: number): Progress {
    const pr = new Progress(
      next,
      this.cfg.maxInflightMsgs,
      this.cfg.maxInflightBytes,
      this.conf.learners.includes(id),
    );
    pr.recentActive = true; // a new member gets a full check-quorum round to respond
    return pr;
  }

  // ---------------------------------------------------------------- elections

  /** Starts an election (MsgHup): with pre-vote first unless it is a transfer (§3.10). */
  hup(transfer: boolean): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    if (this.cfg.preVote && !transfer) this.#campaign('pre', false);
    else this.#campaign('election', transfer);
  }

  #campaign(kind: 'pre' | 'election', transfer: boolean): void {
    let term: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.becomePreCandidate();
      type = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = MessageType.Vote;
      term = this.term;
    }
    const res = this.#poll(this.id, true);
    if (res === 'Won') {
      // Single voter: won without any message.
      if (kind === 'pre') this.#campaign('election', transfer);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({ type, to: id, term, index: lastIndex, logTerm: lastTerm, transfer });
    }
  }

  #poll(id: NodeId, granted: boolean): 'Won' | 'Lost' | 'Pending' {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.conf.voters, this.votes);
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    this.tickCount++;
    if (this.state === StateType.Leader) this.#tickHeartbeat();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    // Lease bookkeeping: rounds whose lease has surely expired are useless.
    for (const [round, t] of this.roundSentTick) {
      if (t + this.cfg.leaseTicks <= this.tickCount) this.roundSentTick.delete(round);
      else break;
    }
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        // §6.2: step down if a quorum has not been heard from during an election timeout.
        if (!this.#quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
      }
      // A transfer that did not complete within an election timeout is abandoned (§3.10).
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  #quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const id of this.conf.voters) {
      votes.set(id, id === this.id || this.prs.get(id)?.recentActive === true);
    }
    return voteResult(this.conf.voters, votes) === 'Won';
  }

  // ---------------------------------------------------------------- step

  /** In the "leader lease" of §4.2.3/§6.2: heard from a leader within the election timeout
   * (or restarted recently and may have). Votes are refused then. */
  #inLease(): boolean {
    if (!this.cfg.checkQuorum || this.electionElapsed >= this.cfg.electionTick) return false;
    return this.lead !== NONE || (this.#startupGrace && this.tickCount < this.cfg.electionTick);
  }

  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        if (!m.transfer && this.#inLease()) return; // ignore: a leader is alive
      }
      if (m.type === MessageType.PreVote) {
        // Never change term in response to a PreVote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries our future term; we bump it when a quorum grants.
      } else if (
        m.type === MessageType.App ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.App)
      ) {
        // A stale leader (e.g. rejoining after a partition) learns the new term and steps
        // down; without this, pre-vote/check-quorum could leave it isolated forever.
        this.send({ type: MessageType.AppResp, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
      }
      return; // ignore other stale messages
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.#handleVoteRequest(m);
      return;
    }
    switch (this.state) {
      case StateType.Leader:
        this.#stepLeader(m);
        break;
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.#stepCandidate(m);
        break;
      case StateType.Follower:
        this.#stepFollower(m);
        break;
    }
  }

  #handleVoteRequest(m: Message): void {
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    // We can vote if we already voted for them, or have not voted and know no leader in this
    // term, or this is a pre-vote for a future term.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // §5.4.1 election restriction satisfied.
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  #stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    switch (m.type) {
      case MessageType.AppResp: {
        if (pr === undefined) return;
        pr.recentActive = true;
        if (m.reject) {
          // Fast backtracking (§5.3 optimisation): jump to the follower's hint, skipping
          // whole terms the follower cannot match.
          let next = m.rejectHint;
          if (m.logTerm > 0) next = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, next) && pr.state === 'Replicate') pr.becomeProbe();
          // (the next probe goes out at flush)
          return;
        }
        const updated = pr.maybeUpdate(m.index);
        if (updated || (pr.match === m.index && pr.state === 'Probe')) {
          if (pr.state === 'Probe') pr.becomeReplicate();
          else if (pr.state === 'Snapshot' && pr.match >= pr.pendingSnapshot) {
            // Snapshot installed: back to log replication.
            pr.becomeProbe();
            if (pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
          } else if (pr.state === 'Replicate') pr.inflights.freeLE(m.index);
          // Commit may advance; followers learn it (and get more entries) at flush.
          this.maybeCommit();
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
            this.#sendTimeoutNow(m.from);
          }
        }
        return;
      }
      case MessageType.HeartbeatResp: {
        if (pr === undefined) return;
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        if (m.round > pr.ackedRound) {
          pr.ackedRound = m.round;
          const sent = this.roundSentTick.get(m.round);
          if (sent !== undefined) pr.ackedRoundSentTick = sent;
        }
        if (pr.state === 'Snapshot' && pr.snap !== undefined) {
          const s = pr.snap;
          if (s.acked === s.ackedAtLastHeartbeat) {
            // No progress since the previous heartbeat: chunks (or the final reply) were
            // lost. Resend from the acknowledged offset.
            s.sent = s.acked;
            s.finished = false;
          }
          s.ackedAtLastHeartbeat = s.acked;
          this.#sendSnapshotChunks(m.from, pr);
        } else if (pr.match < this.log.lastIndex()) {
          // The follower is alive but behind. If the window is full, every App in flight
          // may have been lost: free one slot so an App goes out; if the follower lacks its
          // predecessor it rejects it and we fall back to probing (etcd does the same).
          if (pr.state === 'Replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
          this.sendAppend(m.from);
        }
        this.#releaseReads();
        return;
      }
      case MessageType.SnapResp: {
        if (pr === undefined) return;
        pr.recentActive = true;
        const s = pr.snap;
        if (pr.state !== 'Snapshot' || s === undefined || m.snapshot === undefined) return;
        if (m.snapshot.index !== s.index || m.snapshot.term !== s.term) return;
        const offset = m.chunk?.offset ?? 0;
        if (offset > s.acked) s.acked = offset;
        if (m.reject) {
          // The follower is missing bytes from `offset` (gap or restart): rewind.
          s.acked = offset;
          s.sent = offset;
          s.finished = false;
        }
        this.#sendSnapshotChunks(m.from, pr);
        return;
      }
      case MessageType.ReadIndex:
        if (pr === undefined) return;
        this.readIndex(m.context, m.from);
        return;
      case MessageType.TransferLeader:
        try {
          this.transferLeadership(m.index);
        } catch (e) {
          if (!(e instanceof RaftError) || e.code === 'ERR_INVARIANT') throw e;
          // A forwarded request the leader cannot honour is dropped (the operator retries).
        }
        return;
      default:
        return;
    }
  }

  #stepCandidate(m: Message): void {
    const myResp =
      this.state === StateType.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from); // a leader exists in this term (§5.2)
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshotChunk(m);
        return;
      case myResp: {
        const res = this.#poll(m.from, !m.reject);
        if (res === 'Won') {
          if (this.state === StateType.PreCandidate) this.#campaign('election', false);
          else this.becomeLeader();
        } else if (res === 'Lost') {
          // PreVoteResp rejections carry the voter's term (≥ ours).
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return; // TimeoutNow, ReadIndex… are meaningless without a leader
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshotChunk(m);
        return;
      case MessageType.TimeoutNow:
        // §3.10: the leader asks us to campaign at once, skipping pre-vote, with votes
        // that bypass leases.
        this.hup(true);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower handlers

  #handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed });
      return;
    }
    const res = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (res !== undefined) {
      if (res.conflictIndex !== 0) {
        this.#onAppended(m.entries.slice(res.conflictIndex - (m.index + 1)), res.conflictIndex);
      }
      this.#afterCommit();
      this.send({ type: MessageType.AppResp, to: m.from, index: res.lastNewIndex });
      return;
    }
    // Log mismatch (§5.3): reject with a hint — the largest index ≤ m.index whose term is
    // ≤ m.logTerm — so the leader can skip a whole divergent term at once.
    const hintIndex = Math.min(m.index, this.log.lastIndex());
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm);
    this.send({
      type: MessageType.AppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  #handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.#afterCommit();
    this.send({ type: MessageType.HeartbeatResp, to: m.from, round: m.round });
  }

  #handleSnapshotChunk(m: Message): void {
    const meta = m.snapshot;
    const ch = m.chunk;
    if (meta === undefined || ch === undefined) return;
    if (meta.index <= this.log.committed) {
      // Already have everything it covers (or a newer snapshot): tell the leader where we are.
      this.snapRecv = undefined;
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed });
      return;
    }
    let r = this.snapRecv;
    const same =
      r !== undefined &&
      r.from === m.from &&
      r.term === m.term &&
      r.index === meta.index &&
      r.snapTerm === meta.term;
    const ack = (offset: number, reject: boolean): void =>
      this.send({
        type: MessageType.SnapResp,
        to: m.from,
        reject,
        snapshot: meta,
        chunk: { offset, data: new Uint8Array(0), done: false, totalSize: ch.totalSize },
      });
    if (!same) {
      if (ch.offset !== 0) {
        this.snapRecv = undefined;
        ack(0, true); // we hold nothing of this snapshot: start over
        return;
      }
      r = {
        from: m.from,
        term: m.term,
        index: meta.index,
        snapTerm: meta.term,
        chunks: [],
        received: 0,
      };
      this.snapRecv = r;
    }
    const rr = r!;
    if (ch.offset !== rr.received) {
      // Duplicate (behind): acknowledge what we have. Gap (ahead): ask to rewind.
      ack(rr.received, ch.offset > rr.received);
      return;
    }
    rr.chunks.push(ch.data.slice());
    rr.received += ch.data.length;
    if (!ch.done) {
      ack(rr.received, false);
      return;
    }
    this.snapRecv = undefined;
    if (rr.received !== ch.totalSize) {
      ack(0, true); // corrupt stream: start over
      return;
    }
    const data = new Uint8Array(rr.received);
    let off = 0;
    for (const c of rr.chunks) {
      data.set(c, off);
      off += c.length;
    }
    const snap: Snapshot = { metadata: meta, data };
    if (this.restore(snap)) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() });
    } else {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed });
    }
  }

  /** Installs a snapshot from the leader. Returns false when it brings nothing new. */
  restore(s: Snapshot): boolean {
    const { index, term } = s.metadata;
    if (index <= this.log.committed) return false;
    invariant(this.state === StateType.Follower, 'restoring a snapshot while not a follower');
    if (this.log.matchTerm(index, term)) {
      // We have the entry: just fast-forward commit (§7: "retain the following entries").
      this.log.commitTo(index);
      this.#afterCommit();
      return false;
    }
    this.log.restore(s);
    this.confHistory = [{ index, conf: normalizeConf(s.metadata.confState) }];
    this.#onConfigChanged();
    return true;
  }

  // ---------------------------------------------------------------- log & commit

  /** Leader: append entries of the current term. */
  appendEntries(ents: Entry[]): Entry[] {
    const li = this.log.lastIndex();
    const stamped = ents.map((e, i) => ({ ...e, term: this.term, index: li + 1 + i }));
    this.log.append(stamped);
    this.#onAppended(stamped, li + 1);
    return stamped;
  }

  /** Configurations take effect when appended (§4.1); a truncation reverts them. */
  #onAppended(written: readonly Entry[], fromIndex: number): void {
    let changed = false;
    while (
      this.confHistory.length > 1 &&
      this.confHistory[this.confHistory.length - 1]!.index >= fromIndex
    ) {
      this.confHistory.pop();
      changed = true;
    }
    for (const e of written) {
      if (e.type !== EntryType.Config) continue;
      this.confHistory.push({ index: e.index, conf: decodeConfigEntry(e.data).conf });
      changed = true;
    }
    if (changed) this.#onConfigChanged();
  }

  #trimConfHistory(): void {
    while (this.confHistory.length > 1 && this.confHistory[1]!.index <= this.log.committed) {
      this.confHistory.shift();
    }
  }

  /** Tracker changes after the configuration changed (leader: progress for new members). */
  #onConfigChanged(): void {
    if (this.state !== StateType.Leader) return;
    const conf = this.conf;
    const members = new Set([...conf.voters, ...conf.learners]);
    for (const id of members) {
      const pr = this.prs.get(id);
      if (pr === undefined) this.prs.set(id, this.#newProgress(id, this.log.lastIndex()));
      else pr.isLearner = conf.learners.includes(id);
    }
    for (const id of [...this.prs.keys()]) {
      if (id !== this.id && !members.has(id)) this.prs.delete(id);
    }
    if (this.leadTransferee !== NONE && !conf.voters.includes(this.leadTransferee)) {
      this.leadTransferee = NONE;
    }
    // The quorum changed: commit and pending reads may now be satisfied.
    this.maybeCommit();
    this.#releaseReads();
  }

  /** Leader: advance commit to the quorum's match index if it is of the current term (§5.4.2). */
  maybeCommit(): boolean {
    const matches = this.conf.voters.map((id) => this.prs.get(id)?.match ?? 0);
    const mci = quorumValue(matches);
    if (!Number.isFinite(mci)) return false;
    if (!this.log.maybeCommit(mci, this.term)) return false;
    this.#afterCommit();
    return true;
  }

  #afterCommit(): void {
    this.#trimConfHistory();
    if (this.state !== StateType.Leader) return;
    if (this.readsAwaitingTermCommit.length > 0 && this.committedEntryInCurrentTerm()) {
      const waiting = this.readsAwaitingTermCommit;
      this.readsAwaitingTermCommit = [];
      for (const r of waiting) this.readIndex(r.context, r.from);
    }
    // §4.2.2: a leader not in the committed configuration steps down — at the next flush,
    // after telling the followers the new commit index.
    if (this.confHistory.length === 1 && !this.isVoter()) this.#stepDownAtFlush = true;
  }

  /** The persisted log reached (index, term): a leader counts its own entries only now. */
  onPersisted(index: number, term: number): void {
    this.log.stableTo(index, term);
    if (this.state !== StateType.Leader || !this.log.matchTerm(index, term)) return;
    const pr = this.prs.get(this.id);
    if (pr !== undefined && pr.maybeUpdate(index)) this.maybeCommit();
  }

  // ---------------------------------------------------------------- requests

  propose(data: Uint8Array): ProposalRef {
    this.#checkLeaderForProposal('proposal');
    const size = data.length;
    const max = this.cfg.maxUncommittedEntriesSize;
    if (max > 0 && this.uncommittedSize > 0 && this.uncommittedSize + size > max) {
      throw new ProposalDroppedError(
        `uncommitted entries exceed maxUncommittedEntriesSize (${max} bytes)`,
      );
    }
    this.uncommittedSize += size;
    const [e] = this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data }]);
    return { index: e!.index, term: e!.term };
  }

  proposeConfChange(cc: ConfChange): ProposalRef {
    this.#checkLeaderForProposal('configuration change');
    if (this.confHistory.length > 1) {
      throw new RaftError(
        'ERR_CONF_CHANGE_PENDING',
        `configuration change at index ${this.confHistory[this.confHistory.length - 1]!.index} is not committed yet`,
      );
    }
    if (!this.committedEntryInCurrentTerm()) {
      throw new RaftError(
        'ERR_CONF_CHANGE_PENDING',
        'the leader has not committed an entry of its term yet',
      );
    }
    const conf = applyConfChange(this.conf, cc);
    const [e] = this.appendEntries([
      { term: 0, index: 0, type: EntryType.Config, data: encodeConfigEntry({ conf, change: cc }) },
    ]);
    return { index: e!.index, term: e!.term };
  }

  #checkLeaderForProposal(what: string): void {
    if (this.state !== StateType.Leader) throw new NotLeaderError(this.lead, what);
    if (this.leadTransferee !== NONE) throw new TransferInProgressError(this.leadTransferee);
  }

  /**
   * ReadIndex (§6.4): remember the commit index, confirm leadership with one heartbeat round
   * (shared by every request made before the next flush), then report the index.
   */
  readIndex(context: string, from: NodeId = this.id): void {
    if (this.state !== StateType.Leader) {
      invariant(from === this.id, 'forwarded ReadIndex on a non-leader');
      if (this.lead === NONE) throw new NotLeaderError(NONE, 'read');
      this.send({ type: MessageType.ReadIndex, to: this.lead, context });
      return;
    }
    const req: PendingRead = { context, from, index: this.log.committed, round: 0 };
    if (!this.committedEntryInCurrentTerm()) {
      // A new leader does not know the commit index until its no-op commits (§6.4 step 1).
      this.readsAwaitingTermCommit.push(req);
      return;
    }
    if (this.conf.voters.length === 1 && this.isVoter()) {
      this.#completeRead(req); // a single voter is its own quorum
      return;
    }
    this.pendingReads.push(req);
  }

  #completeRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ index: r.index, context: r.context });
    else {
      this.send({
        type: MessageType.ReadIndexResp,
        to: r.from,
        index: r.index,
        context: r.context,
      });
    }
  }

  /** Releases reads whose heartbeat round a quorum acknowledged. */
  #releaseReads(): void {
    if (this.state !== StateType.Leader || this.pendingReads.length === 0) return;
    const acked = this.conf.voters.map((id) =>
      id === this.id ? this.round : (this.prs.get(id)?.ackedRound ?? 0),
    );
    const q = quorumValue(acked);
    let n = 0;
    for (const r of this.pendingReads) {
      if (r.round === 0 || r.round > q) break;
      n++;
      this.#completeRead(r);
    }
    if (n > 0) this.pendingReads = this.pendingReads.slice(n);
  }

  /**
   * The tick at which the current lease started: the latest heartbeat-round send tick that a
   * quorum of voters has acknowledged (this node counts as acknowledging now).
   */
  leaseStart(): number {
    const ticks = this.conf.voters.map((id) =>
      id === this.id ? this.tickCount : (this.prs.get(id)?.ackedRoundSentTick ?? -Infinity),
    );
    return quorumValue(ticks);
  }

  /** Ticks of lease left (≤ 0: expired). */
  leaseRemaining(): number {
    return this.leaseStart() + this.cfg.leaseTicks - this.tickCount;
  }

  /**
   * Lease read (§6.4.1): served at once if the lease holds. The lease holds for leaseTicks
   * from the send tick of a quorum-acknowledged heartbeat round; voters that acknowledged it
   * reset their election timers after that tick and (with check-quorum) refuse votes for a
   * full election timeout, so no other leader can exist before the lease ends.
   */
  leaseRead(context: string): void {
    const unavailable = (why: string): never => {
      throw new RaftError('ERR_LEASE_UNAVAILABLE', why);
    };
    if (this.state !== StateType.Leader) throw new NotLeaderError(this.lead, 'lease read');
    if (!this.cfg.checkQuorum) unavailable('leases need check-quorum (voters must honour them)');
    if (this.transferSentThisTerm || this.leadTransferee !== NONE) {
      unavailable('a leadership transfer voids the lease');
    }
    if (!this.committedEntryInCurrentTerm()) {
      unavailable('the leader has not committed an entry of its term yet');
    }
    const remaining = this.leaseRemaining();
    if (!Number.isFinite(remaining)) unavailable('no heartbeat round acknowledged by a quorum yet');
    if (remaining <= 0) {
      unavailable(
        `lease expired at tick ${this.tickCount - remaining} (now ${this.tickCount}); use readIndex`,
      );
    }
    this.readStates.push({ index: this.log.committed, context });
  }

  /** Leadership transfer (§3.10). */
  transferLeadership(transferee: NodeId): void {
    if (this.state !== StateType.Leader) {
      if (this.lead === NONE) throw new NotLeaderError(NONE, 'leadership transfer');
      this.send({ type: MessageType.TransferLeader, to: this.lead, index: transferee });
      return;
    }
    if (!this.conf.voters.includes(transferee) || !this.prs.has(transferee)) {
      throw new RaftError('ERR_INVALID_TRANSFEREE', `${transferee} is not a voter`);
    }
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return; // already under way
      throw new TransferInProgressError(this.leadTransferee);
    }
    if (transferee === this.id) return; // already leader
    // The transfer must finish within an election timeout or is abandoned.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    const pr = this.prs.get(transferee)!;
    if (pr.match === this.log.lastIndex()) this.#sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  #sendTimeoutNow(to: NodeId): void {
    this.transferSentThisTerm = true;
    this.send({ type: MessageType.TimeoutNow, to });
  }

  /** Applied entries left the uncommitted budget. */
  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.state !== StateType.Leader) return;
    let s = 0;
    for (const e of ents) s += entryPayloadSize(e);
    this.uncommittedSize = Math.max(0, this.uncommittedSize - s);
  }
}
