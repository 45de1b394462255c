/**
 * RawNode: the driver's handle on the pure Raft core (etcd's RawNode).
 *
 * ## The Ready / advance contract
 *
 * The driver loops:
 *
 * 1. `if (node.hasReady()) { const rd = node.ready(); … }`
 * 2. PERSIST, atomically enough that a crash leaves a prefix: `rd.snapshot` (if any), then
 *    append `rd.entries` (overwriting stored entries at the same indexes), then
 *    `rd.hardState` (if any). fsync when `rd.mustSync`.
 * 3. SEND `rd.messages` — only after step 2 is durable (a vote or an append acknowledgement
 *    must never leave before the state it promises is on disk).
 * 4. APPLY: restore the state machine from `rd.snapshot` (if any), then apply
 *    `rd.committedEntries` in order; serve `rd.readStates` once applied ≥ their index.
 * 5. `node.advance()` — acknowledges steps 2 and 4. A leader counts its own entries toward
 *    commit only now (so they are durable on the leader before being counted).
 *
 * Exactly one Ready may be outstanding: ready() throws ERR_READY_OUTSTANDING until advance().
 * tick/step/propose/read calls ARE allowed between ready() and advance() (e.g. while an
 * fsync is in flight); their effects appear in the next Ready. The core never performs I/O,
 * reads no clock and draws no randomness of its own: time is `tick()`, randomness is
 * `Config.rand`.
 */
import { resolveConfig, type Config } from './config.js';
import { invariant, RaftError } from './errors.js';
import { describeConf } from './membership.js';
import { Raft, type ProposalRef } from './raft.js';
import {
  NONE,
  StateType,
  type ConfChange,
  type ConfState,
  type HardState,
  type Message,
  type NodeId,
  type ProgressStatus,
  type Ready,
  type SoftState,
  type Status,
} from './types.js';

export type { ProposalRef } from './raft.js';

interface Outstanding {
  lastEntry: { index: number; term: number } | undefined;
  snapshotIndex: number;
  applyingTo: number;
  committedEntries: Ready['committedEntries'];
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class RawNode {
  readonly #raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;
  #outstanding: Outstanding | undefined = undefined;

  /** Creates a node from its storage (a restart if storage holds state). */
  constructor(config: Config) {
    this.#raft = new Raft(resolveConfig(config));
    this.#prevSoft = this.#raft.softState();
    this.#prevHard = this.#raft.hardState();
  }

  get id(): NodeId {
    return this.#raft.id;
  }

  /** Advances the logical clock by one tick (election and heartbeat timeouts, lease). */
  tick(): void {
    this.#raft.tick();
  }

  /** Starts an election now (pre-vote first if enabled). No-op for leaders and non-voters. */
  campaign(): void {
    this.#raft.hup(false);
  }

  /** Delivers a message from a peer. Messages from unknown peers or stale terms are ignored. */
  step(m: Message): void {
    if (m.to !== this.#raft.id) {
      throw new RaftError('ERR_INVARIANT', `message for ${m.to} stepped into node ${this.id}`);
    }
    this.#raft.step(m);
  }

  /**
   * Appends `data` to the log (leader only). Returns the entry's (index, term): the proposal
   * succeeded iff the entry later applied at `index` has that `term`.
   * Throws ERR_NOT_LEADER (with leaderHint), ERR_TRANSFER_IN_PROGRESS, ERR_PROPOSAL_DROPPED.
   * Proposals made before the next ready() share one App message per follower.
   */
  propose(data: Uint8Array): ProposalRef {
    return this.#raft.propose(data);
  }

  /**
   * Proposes a single-server membership change (leader only). It takes effect on every
   * node as soon as the entry is appended to its log. Throws ERR_NOT_LEADER,
   * ERR_TRANSFER_IN_PROGRESS, ERR_CONF_CHANGE_PENDING (one uncommitted change at a time,
   * and not before the leader committed an entry of its term), ERR_INVALID_CONF_CHANGE.
   */
  proposeConfChange(cc: ConfChange): ProposalRef {
    return this.#raft.proposeConfChange(cc);
  }

  /**
   * Linearizable read via ReadIndex (§6.4). The result arrives as a ReadState with the same
   * context in a later Ready. On a follower the request is forwarded to the leader. Requests
   * made before the next ready() share one heartbeat round. Throws ERR_NOT_LEADER when no
   * leader is known. Requests are dropped silently if leadership is lost (retry on timeout).
   */
  readIndex(context: string): void {
    this.#raft.readIndex(context);
  }

  /**
   * Linearizable read under the leader lease (§6.4.1): a ReadState for `context` is queued
   * immediately (next Ready) if the lease holds. Throws ERR_NOT_LEADER on a non-leader and
   * ERR_LEASE_UNAVAILABLE when check-quorum is off, a transfer is under way, the leader has
   * not committed in its term, or the lease has (possibly) expired — fall back to readIndex.
   */
  leaseRead(context: string): void {
    this.#raft.leaseRead(context);
  }

  /**
   * Transfers leadership to `transferee` (§3.10): the leader brings it up to date, then sends
   * TimeoutNow. Proposals are refused meanwhile; abandoned after an election timeout.
   * On a follower the request is forwarded to the leader. Throws ERR_NOT_LEADER (no leader
   * known), ERR_INVALID_TRANSFEREE, ERR_TRANSFER_IN_PROGRESS (to another node).
   */
  transferLeadership(transferee: NodeId): void {
    this.#raft.transferLeadership(transferee);
  }

  /** Whether ready() would return something to do. False while a Ready is outstanding. */
  hasReady(): boolean {
    if (this.#outstanding !== undefined) return false;
    const r = this.#raft;
    r.flush();
    return (
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.hasNextUnstableEnts() ||
      r.log.unstable.nextSnapshot() !== undefined ||
      r.log.hasNextCommittedEnts() ||
      !hardStateEqual(r.hardState(), this.#prevHard) ||
      r.lead !== this.#prevSoft.lead ||
      r.state !== this.#prevSoft.state
    );
  }

  /** Takes the pending work; see the module comment for the contract. */
  ready(): Ready {
    if (this.#outstanding !== undefined) {
      throw new RaftError('ERR_READY_OUTSTANDING', 'call advance() before the next ready()');
    }
    const r = this.#raft;
    r.flush();
    const entries = r.log.unstable.nextEntries();
    const snapshot = r.log.unstable.nextSnapshot();
    const committedEntries = r.log.nextCommittedEnts();
    const hs = r.hardState();
    const ss = r.softState();
    const hardChanged = !hardStateEqual(hs, this.#prevHard);
    const rd: Ready = {
      ...(ss.lead !== this.#prevSoft.lead || ss.state !== this.#prevSoft.state
        ? { softState: ss }
        : {}),
      ...(hardChanged ? { hardState: hs } : {}),
      ...(snapshot !== undefined ? { snapshot } : {}),
      entries,
      committedEntries,
      messages: r.msgs,
      readStates: r.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hs.term !== this.#prevHard.term ||
        hs.vote !== this.#prevHard.vote,
    };
    r.msgs = [];
    r.readStates = [];
    r.log.unstable.acceptInProgress();
    const last = entries[entries.length - 1];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted !== undefined) r.log.applying = lastCommitted.index;
    this.#outstanding = {
      lastEntry: last === undefined ? undefined : { index: last.index, term: last.term },
      snapshotIndex: snapshot?.metadata.index ?? 0,
      applyingTo: lastCommitted?.index ?? 0,
      committedEntries,
    };
    this.#prevHard = hs;
    this.#prevSoft = ss;
    return rd;
  }

  /** Acknowledges the last Ready: its entries/state are durable and its entries applied. */
  advance(): void {
    const o = this.#outstanding;
    invariant(o !== undefined, 'advance() without an outstanding ready()');
    this.#outstanding = undefined;
    const r = this.#raft;
    if (o.snapshotIndex > 0) {
      r.log.stableSnapTo(o.snapshotIndex);
      r.log.applied = Math.max(r.log.applied, o.snapshotIndex);
      r.log.applying = Math.max(r.log.applying, o.snapshotIndex);
    }
    if (o.lastEntry !== undefined) r.onPersisted(o.lastEntry.index, o.lastEntry.term);
    if (o.applyingTo > 0) {
      r.log.appliedTo(o.applyingTo);
      r.reduceUncommittedSize(o.committedEntries);
    }
  }

  /** A snapshot of the node's state, for operators, tests and autopilot. */
  status(): Status {
    const r = this.#raft;
    const base = {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      config: r.conf,
      leadTransferee: r.leadTransferee,
    };
    if (r.state !== StateType.Leader) return base;
    const progress = new Map<NodeId, ProgressStatus>();
    for (const [id, pr] of [...r.prs].sort((a, b) => a[0] - b[0])) progress.set(id, pr.status());
    return { ...base, progress };
  }

  /** The leader this node knows of, or NONE. */
  get leader(): NodeId {
    return this.#raft.lead;
  }

  get isLeader(): boolean {
    return this.#raft.state === StateType.Leader;
  }

  /** The configuration in effect (the latest in the log, committed or not). */
  get config(): ConfState {
    return this.#raft.conf;
  }

  /** Ticks of leader lease left (≤ 0: none), or 0 on a non-leader. For metrics and tests. */
  leaseRemaining(): number {
    return this.#raft.state === StateType.Leader ? this.#raft.leaseRemaining() : 0;
  }

  /**
   * A learner's replication progress, for promotion policy (autopilot): its match index and
   * the leader's last index. Undefined on a non-leader or for a non-learner.
   */
  learnerProgress(id: NodeId): { match: number; lastIndex: number } | undefined {
    const r = this.#raft;
    if (r.state !== StateType.Leader) return undefined;
    const pr = r.prs.get(id);
    if (pr === undefined || !pr.isLearner) return undefined;
    return { match: pr.match, lastIndex: r.log.lastIndex() };
  }

  /** A one-line description (for logs and tests). */
  describe(): string {
    const s = this.status();
    const lead = s.softState.lead === NONE ? '-' : String(s.softState.lead);
    return (
      `${s.id} ${s.softState.state} term=${s.hardState.term} lead=${lead} ` +
      `commit=${s.hardState.commit} applied=${s.applied} last=${s.lastIndex} ${describeConf(s.config)}`
    );
  }

  /** Internal state, for this package's tests and the simulator's invariant checks. */
  get raftForTesting(): Raft {
    return this.#raft;
  }
}
