/**
 * RaftNode: the driver that runs the pure core (RawNode) against real time, a durable log,
 * a transport and the application's state machine.
 *
 * The loop obeys the core's contract, in this order, for every Ready:
 * 1. persist — snapshot file, then WAL records (hard state, entries); one fdatasync when
 *    the Ready says mustSync (group commit: everything proposed since the last loop shares
 *    it);
 * 2. send — messages leave only after what they promise is on disk;
 * 3. apply — snapshot restore, then committed entries in order; proposals and reads settle;
 * 4. advance.
 * The loop runs deferred after any input (tick, message, proposal), so inputs arriving in
 * the same turn are batched into one Ready and one fsync.
 *
 * Proposals settle exactly once: with the state machine's result when their entry is
 * applied; with ERR_PROPOSAL_DROPPED when a different entry is applied at their index (it
 * can never commit); with ERR_NOT_LEADER at once on a follower (carrying the leader hint);
 * with ERR_TIMEOUT (outcome unknown) after `proposalTimeoutMs`.
 */
import type { Logger } from '@trellis/rpc';
import { RaftError, isRaftError } from '../errors.js';
import { bootstrapEntry, decodeConfigEntry } from '../membership.js';
import { RawNode } from '../rawnode.js';
import { MemoryStorage } from '../storage.js';
import {
  EntryType,
  NONE,
  StateType,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
  type SnapshotMetadata,
  type Status,
} from '../types.js';
import type { Config } from '../config.js';
import { joinPath, type Disk } from '../wal/disk.js';
import { SnapshotStore } from '../wal/snapshot-store.js';
import { Wal } from '../wal/wal.js';
import { systemScheduler, type Scheduler } from './scheduler.js';
import type { RaftTransport } from './transport.js';

/** The application's replicated state machine. Calls are serialised by the driver. */
export interface StateMachine {
  /** Applies a committed command; the return value settles the proposal that made it. */
  apply(entry: Entry): unknown;
  /** The whole state, for a snapshot taken at the last applied index. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array, metadata: SnapshotMetadata): void;
}

/** Defaults for a LAN, chosen so a crashed leader is replaced well within one second. */
export const NODE_DEFAULTS = {
  /**
   * One tick is 40 ms: with electionTick 10 a follower campaigns 400–800 ms after it last
   * heard from the leader, so failover (detection + pre-vote + vote) completes within 1 s.
   * Heartbeats every tick (40 ms) keep false elections away from a healthy LAN. (Consul's
   * defaults are 1 s heartbeat / 1 s election; etcd's 100 ms / 1 s.)
   */
  tickMs: 40,
  electionTick: 10,
  heartbeatTick: 1,
  /** Take a snapshot every 8,192 applied entries: Consul's `raft_snapshot_threshold`. */
  snapshotThreshold: 8192,
  /** Keep 10,240 entries behind a snapshot for lagging followers: Consul's `raft_trailing_logs`. */
  trailingLogs: 10240,
  /** A proposal without an outcome after this long fails with ERR_TIMEOUT (unknown outcome). */
  proposalTimeoutMs: 10_000,
  /** A read without a read index after this long fails with ERR_TIMEOUT. */
  readTimeoutMs: 5_000,
  /** Proposals waiting for their entry to apply, at most (back-pressure: ERR_PROPOSAL_DROPPED). */
  maxPendingProposals: 65_536,
} as const;

export interface RaftNodeOptions {
  id: NodeId;
  /** Directory holding `wal/` and `snap/`. */
  dataDir: string;
  disk: Disk;
  transport: RaftTransport;
  stateMachine: StateMachine;
  scheduler?: Scheduler;
  logger?: Logger;
  /** The initial configuration, used only when the data dir holds no state. */
  bootstrap?: ConfState;
  tickMs?: number;
  snapshotThreshold?: number;
  trailingLogs?: number;
  proposalTimeoutMs?: number;
  readTimeoutMs?: number;
  walSegmentBytes?: number;
  /** Core settings (electionTick, heartbeatTick, leaseTicks, preVote, rand…). */
  raft?: Partial<Omit<Config, 'id' | 'storage' | 'applied'>>;
}

export interface ProposalResult {
  readonly index: number;
  readonly term: number;
  readonly result: unknown;
}

interface PendingProposal {
  term: number;
  resolve: (r: ProposalResult) => void;
  reject: (e: Error) => void;
  timer: unknown;
}

interface PendingRead {
  resolve: (index: number) => void;
  reject: (e: Error) => void;
  timer: unknown;
  /** Set once the read index is known; the read completes when applied reaches it. */
  index?: number;
}

export interface RaftNodeStats {
  readies: number;
  fsyncs: number;
  applied: number;
  snapshots: number;
  proposals: number;
}

export class RaftNode {
  readonly id: NodeId;
  readonly stats: RaftNodeStats = { readies: 0, fsyncs: 0, applied: 0, snapshots: 0, proposals: 0 };
  readonly #o: RaftNodeOptions;
  readonly #sched: Scheduler;
  readonly #log: Logger | undefined;
  readonly #storage: MemoryStorage;
  readonly #wal: Wal;
  readonly #snaps: SnapshotStore;
  readonly #node: RawNode;
  readonly #sm: StateMachine;
  #applied: number;
  #appliedConf: ConfState;
  #snapshotIndex: number;
  #tickTimer: unknown = null;
  /** Time of the last tick counted (ticks follow elapsed time, see #catchUpTicks). */
  #lastTickAt = 0;
  #scheduled = false;
  #closed = false;
  #failed: Error | null = null;
  readonly #proposals = new Map<number, PendingProposal>();
  readonly #reads = new Map<string, PendingRead>();
  #readSeq = 0;
  #leader: NodeId = NONE;
  #state: StateType = StateType.Follower;
  readonly #leaderListeners: Array<(leader: NodeId, state: StateType) => void> = [];
  readonly #appliedListeners: Array<(index: number) => void> = [];
  readonly #failListeners: Array<(e: Error) => void> = [];
  #confIndex = 0;

  constructor(o: RaftNodeOptions) {
    this.id = o.id;
    this.#o = o;
    this.#sched = o.scheduler ?? systemScheduler;
    this.#log = o.logger;
    this.#sm = o.stateMachine;
    this.#snaps = new SnapshotStore(o.disk, { dir: joinPath(o.dataDir, 'snap') });
    const snap = this.#snaps.latest();
    for (const d of this.#snaps.damaged) this.#log?.error(d, 'raft: damaged snapshot skipped');
    const { wal, recovered } = Wal.open(o.disk, {
      dir: joinPath(o.dataDir, 'wal'),
      ...(o.walSegmentBytes === undefined ? {} : { segmentBytes: o.walSegmentBytes }),
      ...(snap ? { snapshot: { index: snap.metadata.index, term: snap.metadata.term } } : {}),
    });
    if (recovered.truncatedTail)
      this.#log?.warn(recovered.truncatedTail, 'raft: torn WAL tail truncated');
    this.#wal = wal;
    this.#storage = new MemoryStorage();
    this.#applied = 0;
    this.#appliedConf = { voters: [], learners: [] };
    this.#snapshotIndex = 0;
    if (snap) {
      this.#storage.applySnapshot(snap);
      this.#sm.restore(snap.data, snap.metadata);
      this.#applied = snap.metadata.index;
      this.#appliedConf = snap.metadata.confState;
      this.#confIndex = snap.metadata.index;
      this.#snapshotIndex = snap.metadata.index;
    }
    const fresh = !snap && recovered.entries.length === 0 && recovered.hardState.term === 0;
    if (fresh && o.bootstrap) {
      const boot = bootstrapEntry(o.bootstrap);
      const hs = { term: 1, vote: NONE, commit: 1 };
      wal.save(hs, [boot]);
      wal.sync();
      this.#storage.append([boot]);
      this.#storage.setHardState(hs);
      this.#applied = 1;
      this.#appliedConf = decodeConfigEntry(boot.data).conf;
      this.#confIndex = 1;
    } else {
      this.#storage.append(recovered.entries);
      this.#storage.setHardState(recovered.hardState);
    }
    this.#node = new RawNode({
      electionTick: NODE_DEFAULTS.electionTick,
      heartbeatTick: NODE_DEFAULTS.heartbeatTick,
      ...o.raft,
      id: o.id,
      storage: this.#storage,
      applied: this.#applied,
    });
    o.transport.setHandler((m) => this.step(m));
  }

  /** Starts ticking. */
  start(): void {
    if (this.#closed || this.#tickTimer !== null) return;
    const tickMs = this.#o.tickMs ?? NODE_DEFAULTS.tickMs;
    this.#lastTickAt = this.#sched.now();
    const tick = () => {
      if (this.#closed) return;
      this.#catchUpTicks();
      this.#kick();
      this.#tickTimer = this.#sched.setTimeout(tick, tickMs);
    };
    this.#tickTimer = this.#sched.setTimeout(tick, tickMs);
    this.#kick();
  }

  /**
   * Ticks the core once per whole tick period elapsed since the last tick, not once per
   * timer callback: a process that stalled (GC pause, blocked event loop, VM freeze) must
   * not believe less time has passed than did, or a leader would serve lease reads from a
   * lease that expired while it stood still.
   */
  #catchUpTicks(): void {
    if (this.#tickTimer === null) return; // not started
    const tickMs = this.#o.tickMs ?? NODE_DEFAULTS.tickMs;
    const due = Math.floor((this.#sched.now() - this.#lastTickAt) / tickMs);
    for (let i = 0; i < due; i++) this.#node.tick();
    if (due > 0) this.#lastTickAt += due * tickMs;
  }

  get leader(): NodeId {
    return this.#leader;
  }

  get isLeader(): boolean {
    return this.#state === StateType.Leader;
  }

  get appliedIndex(): number {
    return this.#applied;
  }

  get lastIndex(): number {
    return this.#storage.lastIndex();
  }

  /** The membership as of the last applied entry. */
  get configuration(): ConfState {
    return this.#appliedConf;
  }

  status(): Status {
    return this.#node.status();
  }

  /** Ticks of leader lease left (≤ 0: none). */
  leaseRemaining(): number {
    return this.#node.leaseRemaining();
  }

  /** The core, for invariant checks in simulation tests only. */
  get rawNodeForTesting(): RawNode {
    return this.#node;
  }

  /** The index of the entry (or snapshot) that set the current membership. */
  get configurationIndex(): number {
    return this.#confIndex;
  }

  /**
   * Called after each Ready's entries are applied, with the new applied index (after
   * proposals settle): how readers wait for "applied ≥ i" without polling.
   */
  onApplied(fn: (index: number) => void): void {
    this.#appliedListeners.push(fn);
  }

  /** Called once if the node stops itself (failed fsync, broken invariant, a throwing apply). */
  onFail(fn: (e: Error) => void): void {
    this.#failListeners.push(fn);
  }

  onLeaderChange(fn: (leader: NodeId, state: StateType) => void): void {
    this.#leaderListeners.push(fn);
  }

  /** Delivers a message from a peer (called by the transport). */
  step(m: Message): void {
    if (this.#closed) return;
    this.#node.step(m);
    this.#kick();
  }

  /** Starts an election now (operators, tests). */
  campaign(): void {
    this.#node.campaign();
    this.#kick();
  }

  /** Proposes a command; see the module contract for how it settles. */
  propose(data: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<ProposalResult> {
    return this.#track(() => this.#node.propose(data), opts.timeoutMs);
  }

  proposeConfChange(cc: ConfChange, opts: { timeoutMs?: number } = {}): Promise<ProposalResult> {
    return this.#track(() => this.#node.proposeConfChange(cc), opts.timeoutMs);
  }

  transferLeadership(to: NodeId): void {
    this.#node.transferLeadership(to);
    this.#kick();
  }

  /**
   * A linearizable read barrier: resolves with an index once this node has applied every
   * entry committed before the call; read the state machine then. `lease` serves from the
   * leader's lease without a network round when it is valid, falling back to ReadIndex.
   */
  readBarrier(opts: { mode?: 'read-index' | 'lease'; timeoutMs?: number } = {}): Promise<number> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const context = `${this.id}/${++this.#readSeq}`;
    return new Promise<number>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.#o.readTimeoutMs ?? NODE_DEFAULTS.readTimeoutMs;
      const timer = this.#sched.setTimeout(() => {
        if (this.#reads.delete(context)) {
          reject(
            new RaftError('ERR_TIMEOUT', `read barrier: no read index within ${timeoutMs} ms`),
          );
        }
      }, timeoutMs);
      this.#reads.set(context, { resolve, reject, timer });
      try {
        if (opts.mode === 'lease') {
          // Count the ticks a stall may have swallowed before judging the lease.
          this.#catchUpTicks();
          try {
            this.#node.leaseRead(context);
          } catch (e) {
            if (!isRaftError(e, 'ERR_LEASE_UNAVAILABLE')) throw e;
            this.#node.readIndex(context);
          }
        } else {
          this.#node.readIndex(context);
        }
      } catch (e) {
        this.#reads.delete(context);
        this.#sched.clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.#kick();
    });
  }

  /** Stops ticking and processing; fails everything pending with ERR_NODE_CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#tickTimer !== null) this.#sched.clearTimeout(this.#tickTimer);
    const err = this.#closedError();
    for (const [i, p] of this.#proposals) {
      this.#proposals.delete(i);
      this.#sched.clearTimeout(p.timer);
      p.reject(err);
    }
    for (const [c, r] of this.#reads) {
      this.#reads.delete(c);
      this.#sched.clearTimeout(r.timer);
      r.reject(err);
    }
    await this.#o.transport.close();
  }

  // --- internals --------------------------------------------------------------------------

  #closedError(): RaftError {
    return new RaftError(
      'ERR_NODE_CLOSED',
      this.#failed ? `node failed: ${this.#failed.message}` : 'node is closed',
    );
  }

  #track(
    submit: () => { index: number; term: number },
    timeoutMs?: number,
  ): Promise<ProposalResult> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#proposals.size >= NODE_DEFAULTS.maxPendingProposals) {
      return Promise.reject(new RaftError('ERR_PROPOSAL_DROPPED', 'too many proposals in flight'));
    }
    let ref: { index: number; term: number };
    try {
      ref = submit();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    this.stats.proposals++;
    this.#kick();
    // A proposal still pending at this index had its entry truncated from our log (we lost
    // leadership, then led again from a shorter log). Its entry may yet commit through
    // another node, or never: settle it now as unknown, or its promise would never settle.
    const displaced = this.#proposals.get(ref.index);
    if (displaced !== undefined) {
      this.#proposals.delete(ref.index);
      this.#sched.clearTimeout(displaced.timer);
      displaced.reject(
        new RaftError(
          'ERR_TIMEOUT',
          `proposal at index ${ref.index}: its entry was truncated from this node's log, outcome unknown`,
        ),
      );
    }
    return new Promise<ProposalResult>((resolve, reject) => {
      const ms = timeoutMs ?? this.#o.proposalTimeoutMs ?? NODE_DEFAULTS.proposalTimeoutMs;
      const timer = this.#sched.setTimeout(() => {
        if (this.#proposals.get(ref.index)?.timer === timer) {
          this.#proposals.delete(ref.index);
          reject(
            new RaftError(
              'ERR_TIMEOUT',
              `proposal at index ${ref.index}: outcome unknown after ${ms} ms`,
            ),
          );
        }
      }, ms);
      this.#proposals.set(ref.index, { term: ref.term, resolve, reject, timer });
    });
  }

  #kick(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    this.#sched.defer(() => {
      this.#scheduled = false;
      if (this.#closed) return;
      try {
        this.#process();
      } catch (e) {
        this.#fail(e as Error);
      }
    });
  }

  /** A failed fsync or a broken invariant: the node stops rather than risk safety. */
  #fail(e: Error): void {
    this.#failed = e;
    this.#log?.error({ err: e.message, node: this.id }, 'raft: node failed; stopping');
    void this.close();
    for (const fn of this.#failListeners) fn(e);
  }

  #process(): void {
    while (!this.#closed && this.#node.hasReady()) {
      const rd = this.#node.ready();
      this.stats.readies++;
      // A stable leader sends its appends and heartbeats before persisting (Raft thesis
      // §10.2.1, as etcd does): they promise nothing about its own disk, and the core counts
      // the leader's own entries towards commit only after advance(), i.e. once durable.
      // Anything else (votes, acknowledgements, a new term) waits for the fsync.
      const early = rd.messages.length > 0 && this.#isStableLeader(rd);
      if (early) this.#o.transport.send(rd.messages);
      this.#persist(rd);
      if (!early && rd.messages.length > 0) this.#o.transport.send(rd.messages);
      this.#apply(rd);
      this.#node.advance();
      this.#maybeSnapshot();
    }
  }

  #isStableLeader(rd: Ready): boolean {
    if ((rd.softState?.state ?? this.#state) !== StateType.Leader || rd.snapshot) return false;
    const hs = rd.hardState;
    if (!hs) return true;
    const durable = this.#storage.hardState;
    return hs.term === durable.term && hs.vote === durable.vote;
  }

  #persist(rd: Ready): void {
    if (rd.snapshot) {
      const meta = rd.snapshot.metadata;
      this.#snaps.save(rd.snapshot);
      this.#wal.saveSnapshot(meta.index, meta.term);
      this.#storage.applySnapshot(rd.snapshot);
    }
    if (rd.hardState || rd.entries.length > 0) this.#wal.save(rd.hardState ?? null, rd.entries);
    if (rd.mustSync || rd.snapshot) {
      this.#wal.sync();
      this.stats.fsyncs++;
    }
    if (rd.entries.length > 0) this.#storage.append(rd.entries);
    if (rd.hardState) this.#storage.setHardState(rd.hardState);
  }

  #apply(rd: Ready): void {
    if (
      rd.softState &&
      (rd.softState.lead !== this.#leader || rd.softState.state !== this.#state)
    ) {
      this.#leader = rd.softState.lead;
      this.#state = rd.softState.state;
      this.#log?.info(
        { node: this.id, leader: this.#leader, state: this.#state },
        'raft: leadership changed',
      );
      for (const fn of this.#leaderListeners) fn(this.#leader, this.#state);
    }
    if (rd.snapshot) {
      const meta = rd.snapshot.metadata;
      this.#sm.restore(rd.snapshot.data, meta);
      this.#applied = meta.index;
      this.#appliedConf = meta.confState;
      this.#confIndex = meta.index;
      this.#snapshotIndex = meta.index;
      // Proposals at or below the snapshot can no longer be matched to their entries.
      for (const [i, p] of this.#proposals) {
        if (i <= meta.index) {
          this.#proposals.delete(i);
          this.#sched.clearTimeout(p.timer);
          p.reject(
            new RaftError(
              'ERR_TIMEOUT',
              `proposal at index ${i}: superseded by a snapshot, outcome unknown`,
            ),
          );
        }
      }
    }
    for (const e of rd.committedEntries) {
      let result: unknown = undefined;
      if (e.type === EntryType.Config) {
        this.#appliedConf = decodeConfigEntry(e.data).conf;
        this.#confIndex = e.index;
      } else if (e.data.length > 0) {
        result = this.#sm.apply(e);
      }
      this.#applied = e.index;
      this.stats.applied++;
      const p = this.#proposals.get(e.index);
      if (p) {
        this.#proposals.delete(e.index);
        this.#sched.clearTimeout(p.timer);
        if (p.term === e.term) p.resolve({ index: e.index, term: e.term, result });
        else
          p.reject(
            new RaftError(
              'ERR_PROPOSAL_DROPPED',
              `entry ${e.index} was replaced by one of term ${e.term}`,
            ),
          );
      }
    }
    for (const rs of rd.readStates) {
      const r = this.#reads.get(rs.context);
      if (r) r.index = rs.index;
    }
    for (const [context, r] of this.#reads) {
      if (r.index !== undefined && r.index <= this.#applied) {
        this.#reads.delete(context);
        this.#sched.clearTimeout(r.timer);
        r.resolve(r.index);
      }
    }
    if (rd.snapshot || rd.committedEntries.length > 0) {
      for (const fn of this.#appliedListeners) fn(this.#applied);
    }
  }

  #maybeSnapshot(): void {
    const threshold = this.#o.snapshotThreshold ?? NODE_DEFAULTS.snapshotThreshold;
    if (this.#applied - this.#snapshotIndex < threshold) return;
    const index = this.#applied;
    const snap = this.#storage.createSnapshot(index, this.#appliedConf, this.#sm.snapshot());
    this.#snaps.save(snap);
    this.#wal.saveSnapshot(index, snap.metadata.term);
    this.#wal.sync();
    this.#snapshotIndex = index;
    this.stats.snapshots++;
    const compactTo = index - (this.#o.trailingLogs ?? NODE_DEFAULTS.trailingLogs);
    if (compactTo > this.#storage.firstIndex()) {
      this.#storage.compact(compactTo);
      this.#wal.releaseTo(compactTo);
    }
    this.#log?.info({ node: this.id, index }, 'raft: snapshot taken');
  }
}
