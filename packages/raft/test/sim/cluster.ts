/**
 * A simulated Raft cluster: real RaftNodes (the production driver, WAL and snapshot store)
 * over the test kit's SimNetwork and SimDisks, all time from one VirtualClock and all
 * randomness from streams derived from one seed. The safety checker looks at every node
 * after every step of the clock.
 *
 * The run loop steps the clock one timer at a time and then yields one microtask turn, so
 * the driver's promise settlements (proposals, reads) reach client code — written one
 * `.then` deep — before the next timer fires, with `clock.now()` still the time of that step.
 */
import {
  Prng,
  SimDisk,
  SimNetwork,
  VirtualClock,
  type LinkConfig,
  type Trace,
} from '@trellis/testkit';
import type { Logger } from '@trellis/rpc';
import type { Disk } from '../../src/wal/disk.js';
import { RaftNode, type StateMachine } from '../../src/driver/node.js';
import { schedulerFromClock, type Scheduler } from '../../src/driver/scheduler.js';
import type { Raft } from '../../src/raft.js';
import {
  StateType,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type SnapshotMetadata,
} from '../../src/types.js';
import { KvStateMachine } from '../kv-sm.js';
import { InvariantViolation, SafetyChecker } from './checker.js';
import { SimTransport, describeSimMessage, nodeName } from './transport.js';

export interface ClusterOptions {
  readonly seed: number;
  readonly trace: Trace;
  /** Voters of the bootstrap configuration. */
  readonly voters: readonly NodeId[];
  /** Nodes started empty (no configuration), to be added by membership changes. */
  readonly spares: readonly NodeId[];
  readonly tickMs: number;
  readonly electionTick: number;
  readonly snapshotThreshold: number;
  readonly trailingLogs: number;
  readonly walSegmentBytes: number;
  readonly proposalTimeoutMs: number;
  readonly readTimeoutMs: number;
  /** Payload bytes per App message (default 512; 1 sends one entry per message). */
  readonly maxSizePerMsg?: number;
  /** Default link settings (loss, duplication, reordering) for the whole run. */
  readonly link: Partial<LinkConfig>;
}

export type MemberStatus = 'up' | 'down' | 'retired';

/**
 * One process's view of time, able to PAUSE (a GC or VM stall): while paused, its timers
 * that come due, its arriving mail and the requests made to it wait; on resume they run in
 * the order they arrived, one clock step each. Virtual time (`now`) keeps moving.
 */
export class PausableScheduler implements Scheduler {
  #paused = false;
  #queue: Array<() => void> = [];
  constructor(readonly base: Scheduler) {}
  get paused(): boolean {
    return this.#paused;
  }
  now(): number {
    return this.base.now();
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const h = { cancelled: false, inner: undefined as unknown };
    h.inner = this.base.setTimeout(() => this.run(() => h.cancelled || fn()), ms);
    return h;
  }
  clearTimeout(handle: unknown): void {
    const h = handle as { cancelled: boolean; inner: unknown };
    h.cancelled = true;
    this.base.clearTimeout(h.inner);
  }
  defer(fn: () => void): void {
    this.base.defer(() => this.run(fn));
  }
  /** Runs `fn` now, or at resume when paused. */
  run(fn: () => void): void {
    if (this.#paused) this.#queue.push(fn);
    else fn();
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
    const q = this.#queue;
    this.#queue = [];
    for (const fn of q) this.base.defer(() => this.run(fn));
  }
}

const POWER_LOSS = 'SIM_POWER_LOSS';

/**
 * The node's view of its SimDisk, able to lose power in the middle of a Ready: an armed
 * fsync throws instead of syncing, so the driver stops (it treats a failed fsync as fatal)
 * with that Ready's writes unsynced and its messages unsent; the harness then crashes the
 * disk (tearing the last write) and restarts the node later.
 */
export class PowerLossDisk implements Disk {
  /** Fsyncs (file or directory) left before power is lost; 0 = disarmed. */
  fsyncsLeft = 0;
  constructor(readonly disk: SimDisk) {}
  #sync(): void {
    if (this.fsyncsLeft > 0 && --this.fsyncsLeft === 0) {
      throw new Error(`${POWER_LOSS}: power lost before fsync`);
    }
  }
  fsync(path: string): void {
    this.#sync();
    this.disk.fsync(path);
  }
  fsyncDir(dir: string): void {
    this.#sync();
    this.disk.fsyncDir(dir);
  }
  create(path: string): void {
    this.disk.create(path);
  }
  open(path: string): void {
    this.disk.open(path);
  }
  writeFile(path: string, bytes: Uint8Array): void {
    this.disk.writeFile(path, bytes);
  }
  append(path: string, bytes: Uint8Array): void {
    this.disk.append(path, bytes);
  }
  read(path: string): Uint8Array {
    return this.disk.read(path);
  }
  size(path: string): number {
    return this.disk.size(path);
  }
  truncate(path: string, length: number): void {
    this.disk.truncate(path, length);
  }
  rename(from: string, to: string): void {
    this.disk.rename(from, to);
  }
  unlink(path: string): void {
    this.disk.unlink(path);
  }
  exists(path: string): boolean {
    return this.disk.exists(path);
  }
  list(dir: string): string[] {
    return this.disk.list(dir);
  }
}

export interface Member {
  readonly id: NodeId;
  readonly disk: SimDisk;
  readonly power: PowerLossDisk;
  status: MemberStatus;
  /** This life's scheduler (pausable). */
  sched: PausableScheduler | undefined;
  node: RaftNode | undefined;
  sm: KvStateMachine | undefined;
  /** Lives so far (1 = first start). */
  incarnation: number;
  /** Appeared in a committed configuration at some point. */
  everMember: boolean;
  /** Last applied index whose state digest was recorded. */
  observedApplied: number;
}

/** A deterministic digest of a KV state machine's contents. */
export function digest(sm: KvStateMachine): string {
  const keys = [...sm.data.keys()].sort();
  return keys.map((k) => `${k}=${sm.data.get(k)}`).join(',');
}

/** The state machine handed to a node: the KV machine, reporting to the checker. */
class CheckedStateMachine implements StateMachine {
  constructor(
    readonly inner: KvStateMachine,
    readonly id: NodeId,
    readonly cluster: SimCluster,
  ) {}

  apply(entry: Entry): unknown {
    const r = this.inner.apply(entry);
    this.cluster.guard(() => {
      const node = this.cluster.members.get(this.id)?.node;
      const term = node?.rawNodeForTesting.raftForTesting.term ?? Number.POSITIVE_INFINITY;
      this.cluster.checker.onApply(this.id, entry, term);
      this.cluster.checker.onState(this.id, entry.index, digest(this.inner), 'applied');
    });
    return r;
  }

  snapshot(): Uint8Array {
    return this.inner.snapshot();
  }

  restore(data: Uint8Array, metadata: SnapshotMetadata): void {
    this.inner.restore(data, metadata);
    this.cluster.restores++;
    this.cluster.trace.record(
      this.cluster.clock.now(),
      'sm.restore',
      `n${this.id} snapshot ${metadata.index}@t${metadata.term}`,
    );
    this.cluster.guard(() =>
      this.cluster.checker.onState(this.id, metadata.index, digest(this.inner), 'restored'),
    );
  }
}

export class SimCluster {
  readonly clock = new VirtualClock(0);
  readonly sched: Scheduler;
  readonly net: SimNetwork<Message>;
  readonly trace: Trace;
  readonly checker = new SafetyChecker();
  readonly members = new Map<NodeId, Member>();
  readonly o: ClusterOptions;
  /** Scripted scenarios: outgoing messages for which this returns true are lost. */
  dropFilter: ((m: Message) => boolean) | undefined;
  /** Called when a node stopped at an injected power loss (default: crash, no restart). */
  onPowerLoss: (id: NodeId) => void = (id) =>
    this.crash(id, { keepSomeUnsynced: false, tearLastWrite: true });
  /** The first violation seen (inside a callback); the run loop throws it. */
  failure: Error | undefined;
  steps = 0;
  /** Snapshots restored into state machines (installs from a leader, restarts). */
  restores = 0;
  readonly #initial: ConfState;

  constructor(o: ClusterOptions) {
    this.o = o;
    this.trace = o.trace;
    this.sched = schedulerFromClock(this.clock);
    this.net = new SimNetwork<Message>({
      clock: this.clock,
      rng: Prng.derive(o.seed, 'network'),
      trace: o.trace,
      describe: describeSimMessage,
      defaults: o.link,
    });
    this.#initial = { voters: [...o.voters], learners: [] };
    for (const id of [...o.voters, ...o.spares]) {
      const disk = new SimDisk({
        rng: Prng.derive(o.seed, `disk/n${id}`),
        trace: o.trace,
        clock: this.clock,
        name: nodeName(id),
      });
      this.members.set(id, {
        id,
        disk,
        power: new PowerLossDisk(disk),
        status: 'down',
        sched: undefined,
        node: undefined,
        sm: undefined,
        incarnation: 0,
        everMember: o.voters.includes(id),
        observedApplied: -1,
      });
    }
  }

  /** Runs `fn`, recording (not throwing) a violation it raises: for callbacks of the driver. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fail(e);
    }
  }

  fail(e: unknown): void {
    if (this.failure === undefined) this.failure = e instanceof Error ? e : new Error(String(e));
  }

  member(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  up(): Member[] {
    return [...this.members.values()].filter((m) => m.status === 'up');
  }

  raftOf(m: Member): Raft | undefined {
    return m.node?.rawNodeForTesting.raftForTesting;
  }

  /** The live leader of the highest term, if any. */
  leader(): Member | undefined {
    let best: Member | undefined;
    let bestTerm = -1;
    for (const m of this.up()) {
      const r = this.raftOf(m);
      if (r !== undefined && r.state === StateType.Leader && r.term > bestTerm) {
        best = m;
        bestTerm = r.term;
      }
    }
    return best;
  }

  /**
   * The membership as of the most advanced live state machine (so: committed), with the
   * index it was applied at; undefined when no live node holds a configuration.
   */
  committedConf(): { conf: ConfState; applied: number } | undefined {
    let best: { conf: ConfState; applied: number } | undefined;
    for (const m of this.up()) {
      const node = m.node;
      if (node === undefined || node.configuration.voters.length === 0) continue;
      if (best === undefined || node.appliedIndex > best.applied)
        best = { conf: node.configuration, applied: node.appliedIndex };
    }
    return best;
  }

  startAll(): void {
    for (const m of this.members.values()) this.start(m.id);
  }

  /** Starts (or restarts after a crash) a node on its disk. */
  start(id: NodeId): void {
    const m = this.member(id);
    if (m.status !== 'down') return;
    m.incarnation++;
    m.power.fsyncsLeft = 0;
    const sched = new PausableScheduler(this.sched);
    const transport = new SimTransport(
      id,
      this.net,
      (fn) => sched.run(fn),
      (msg) => this.dropFilter?.(msg) === true,
    );
    const sm = new KvStateMachine();
    const rng = Prng.derive(this.o.seed, `raft/n${id}/${m.incarnation}`);
    const logger = this.#logger(id);
    let node: RaftNode;
    try {
      node = new RaftNode({
        id,
        dataDir: `/n${id}`,
        disk: m.power,
        transport,
        stateMachine: new CheckedStateMachine(sm, id, this),
        scheduler: sched,
        logger,
        ...(this.o.voters.includes(id) ? { bootstrap: this.#initial } : {}),
        tickMs: this.o.tickMs,
        snapshotThreshold: this.o.snapshotThreshold,
        trailingLogs: this.o.trailingLogs,
        proposalTimeoutMs: this.o.proposalTimeoutMs,
        readTimeoutMs: this.o.readTimeoutMs,
        walSegmentBytes: this.o.walSegmentBytes,
        raft: {
          electionTick: this.o.electionTick,
          heartbeatTick: 1,
          rand: (n) => rng.int(n),
          // Small limits so that messages split, windows fill and snapshots stream in chunks.
          maxSizePerMsg: this.o.maxSizePerMsg ?? 512,
          maxInflightMsgs: 8,
          snapshotChunkSize: 96,
          maxSnapshotInflightChunks: 2,
        },
      });
    } catch (e) {
      void transport.close();
      this.fail(
        new InvariantViolation(
          'restart',
          `node ${id} failed to start from its disk: ${e instanceof Error ? e.message : String(e)}`,
        ),
      );
      return;
    }
    m.node = node;
    m.sm = sm;
    m.sched = sched;
    m.status = 'up';
    m.observedApplied = -1;
    this.checker.forget(id);
    node.onLeaderChange((lead, state) =>
      this.trace.record(this.clock.now(), 'raft.lead', `n${id} ${state} leader=${lead}`),
    );
    this.trace.record(
      this.clock.now(),
      'node.start',
      `n${id} life ${m.incarnation} applied=${node.appliedIndex} last=${node.lastIndex}`,
    );
    node.start();
  }

  #logger(id: NodeId): Logger {
    const line = (level: string, obj: object, msg?: string): void =>
      this.trace.record(
        this.clock.now(),
        `log.${level}`,
        `n${id} ${msg ?? ''} ${JSON.stringify(obj)}`,
      );
    return {
      debug: () => undefined,
      info: () => undefined,
      warn: (obj, msg) => line('warn', obj, msg),
      error: (obj, msg) => {
        line('error', obj, msg);
        if (JSON.stringify(obj).includes(POWER_LOSS)) {
          // The injected power loss stopped the node: crash its disk now.
          this.clock.setTimeout(() => this.guard(() => this.onPowerLoss(id)), 0);
          return;
        }
        this.fail(
          new InvariantViolation('node failure', `node ${id}: ${msg ?? ''} ${JSON.stringify(obj)}`),
        );
      },
    };
  }

  /**
   * Crash: the process stops at once (pending requests fail with ERR_NODE_CLOSED, in-flight
   * mail to it is lost) and the disk loses what was not synced, per `opts`.
   */
  crash(id: NodeId, opts: { keepSomeUnsynced: boolean; tearLastWrite: boolean }): void {
    const m = this.member(id);
    if (m.status !== 'up' || m.node === undefined) return;
    this.trace.record(
      this.clock.now(),
      'node.crash',
      `n${id} keepSome=${opts.keepSomeUnsynced} tear=${opts.tearLastWrite}`,
    );
    const node = m.node;
    m.node = undefined;
    m.sm = undefined;
    m.status = 'down';
    void node.close();
    m.disk.crash(opts);
  }

  /** A member removed by a committed configuration stops for good (its id is never reused). */
  retire(id: NodeId): void {
    const m = this.member(id);
    if (m.status === 'retired') return;
    this.trace.record(this.clock.now(), 'node.retire', `n${id}`);
    const node = m.node;
    m.node = undefined;
    m.sm = undefined;
    m.status = 'retired';
    if (node !== undefined) void node.close();
  }

  /**
   * Steps the clock for `ms` of virtual time (or until `stop()` holds), checking the
   * invariants after every step. Throws the first violation.
   */
  async runFor(ms: number, stop?: () => boolean): Promise<boolean> {
    const end = this.clock.now() + ms;
    for (;;) {
      this.throwIfFailed();
      if (stop?.() === true) return true;
      const next = this.clock.nextAt();
      if (next === undefined || next > end) break;
      this.clock.step();
      this.steps++;
      await Promise.resolve();
      this.afterStep();
    }
    this.clock.runUntilTime(end);
    this.throwIfFailed();
    return stop?.() === true;
  }

  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** The per-step checks: election safety, leader completeness, log matching, commits. */
  afterStep(): void {
    try {
      for (const m of this.members.values()) {
        if (m.status !== 'up' || m.node === undefined) continue;
        const r = m.node.rawNodeForTesting.raftForTesting;
        this.checker.scan(m.id, r);
        if (r.state === StateType.Leader) this.checker.observeLeader(m.id, r);
        const applied = m.node.appliedIndex;
        if (applied !== m.observedApplied && m.sm !== undefined) {
          m.observedApplied = applied;
          this.checker.onState(m.id, applied, digest(m.sm), 'observed');
        }
      }
    } catch (e) {
      this.fail(e);
    }
  }
}
