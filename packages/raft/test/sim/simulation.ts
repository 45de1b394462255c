/**
 * One simulated run of a Raft cluster, from a seed: a fault phase, then a heal phase.
 *
 * Faults (drawn from the seed, one every ~50–250 virtual ms during `faultMs`):
 * - partition: a random split into two sides, both ways; one-way: a random one-way cut;
 * - isolate-leader: the leader cut off (half the time with readers pinned to it — lease and
 *   ReadIndex — and a writer following the new leader, to catch stale reads);
 * - flaky-link: a link pair with heavy loss, duplication and reordering; clog: a slow node;
 * - crash / crash-leader: the process stops, its disk loses unsynced writes (some kept,
 *   maybe a torn last write); it restarts later on the same disk;
 * - power-loss: the node dies at one of its next fsyncs, in the middle of a Ready (its
 *   writes unsynced, its messages unsent), then crashes and restarts as above;
 * - transfer: leadership transfer to a random voter;
 * - membership: add a spare as learner → promote it → remove a voter (maybe the leader);
 *   removed nodes stop for good.
 * Throughout: background loss/duplication/reordering from the seed; snapshots (small
 * thresholds), chunked snapshot installs, WAL segment rolls, small messages and windows.
 *
 * Checked: the per-step safety invariants (./checker.ts); liveness after the heal (a leader
 * is elected and a new proposal commits within {@link livenessBoundMs}); convergence (every
 * live node applies the same state); no acknowledged write lost; final reads of every key on
 * every node; no request left unsettled by a running driver; and linearizability of the
 * whole client history.
 */
import {
  checkLinearizability,
  Prng,
  Trace,
  type FaultHandle,
  type LinkConfig,
} from '@trellis/testkit';
import { ConfChangeType, type NodeId } from '../../src/types.js';
import { RaftError } from '../../src/errors.js';
import { encodeCommand } from '../kv-sm.js';
import { InvariantViolation } from './checker.js';
import { ClientPool } from './clients.js';
import { SimCluster, digest, type ClusterOptions, type Member } from './cluster.js';
import { nodeName } from './transport.js';

export type FaultKind =
  | 'partition'
  | 'one-way'
  | 'isolate-leader'
  | 'flaky-link'
  | 'clog'
  | 'crash'
  | 'crash-leader'
  | 'power-loss'
  | 'pause'
  | 'transfer'
  | 'membership';

export const ALL_FAULTS: readonly FaultKind[] = [
  'partition',
  'one-way',
  'isolate-leader',
  'flaky-link',
  'clog',
  'crash',
  'crash-leader',
  'power-loss',
  'pause',
  'transfer',
  'membership',
];

const FAULT_WEIGHTS: Readonly<Record<FaultKind, number>> = {
  partition: 3,
  'one-way': 2,
  'isolate-leader': 2,
  'flaky-link': 2,
  clog: 1,
  crash: 3,
  'crash-leader': 2,
  'power-loss': 2,
  pause: 2,
  transfer: 2,
  membership: 3,
};

export interface SimConfig {
  readonly seed: number;
  /** 3 or 5 voters (default: from the seed). */
  readonly voters?: number;
  /** Empty nodes that membership changes add (default 2). */
  readonly spares?: number;
  readonly clients?: number;
  readonly keys?: number;
  /** Length of the fault phase, virtual ms (default 3000). */
  readonly faultMs?: number;
  /** Mean gap between faults, virtual ms (default 150). */
  readonly faultGapMs?: number;
  readonly faults?: readonly FaultKind[];
  readonly trace?: Trace;
  /** Payload bytes per App message (default 512). */
  readonly maxSizePerMsg?: number;
  /**
   * A scripted scenario instead of (or on top of) random faults: called once the cluster
   * has started; it may schedule its own actions on the clock.
   */
  readonly script?: (sim: Simulation) => void;
}

export interface SimResult {
  readonly seed: number;
  readonly voters: number;
  readonly virtualMs: number;
  readonly steps: number;
  readonly operations: number;
  readonly acked: number;
  readonly committed: number;
  readonly leaders: number;
  readonly crashes: number;
  readonly powerLosses: number;
  readonly snapshotsInstalled: number;
  readonly confChanges: number;
  /** Virtual ms from the heal to the first commit of a new proposal. */
  readonly recoveryMs: number;
  readonly traceHash: string;
  readonly checkerMs: number;
}

const TICK_MS = 20;
const ELECTION_TICK = 10;
/** One election timeout (its upper end: the randomized timeout is in [e, 2e) ticks). */
export const ELECTION_TIMEOUT_MS = 2 * ELECTION_TICK * TICK_MS;
/**
 * Liveness bound: after every fault heals (partitions removed, links clean, crashed nodes
 * restarted), a leader is elected and a new proposal commits within 10 election timeouts.
 */
export const livenessBoundMs = 10 * ELECTION_TIMEOUT_MS;
const PROPOSAL_TIMEOUT_MS = 1500;
const READ_TIMEOUT_MS = 800;

export class Simulation {
  readonly cluster: SimCluster;
  readonly clients: ClientPool;
  readonly rng: Prng;
  readonly cfg: SimConfig;
  readonly voterCount: number;
  readonly #faults: FaultHandle[] = [];
  readonly #links: Array<[string, string]> = [];
  crashes = 0;
  /** Crashes by an injected power loss in the middle of a Ready (before its fsync). */
  powerLosses = 0;
  confChanges = 0;
  healing = false;
  #confSeenAt = -1;
  #pinned = 0;

  constructor(cfg: SimConfig) {
    this.cfg = cfg;
    const seed = cfg.seed;
    this.rng = Prng.derive(seed, 'faults');
    const shape = Prng.derive(seed, 'shape');
    this.voterCount = cfg.voters ?? (shape.chance(0.5) ? 3 : 5);
    const spares = cfg.spares ?? 2;
    const voters = Array.from({ length: this.voterCount }, (_, i) => i + 1);
    const spareIds = Array.from({ length: spares }, (_, i) => this.voterCount + i + 1);
    // The run's background link quality: a little loss, duplication and reordering.
    const link: Partial<LinkConfig> = {
      delay: { kind: 'uniform', minMs: 1, maxMs: 1 + shape.intBetween(2, 12) },
      dropRate: shape.chance(0.5) ? shape.floatBetween(0, 0.05) : 0,
      duplicateRate: shape.chance(0.5) ? shape.floatBetween(0, 0.05) : 0,
      reorderRate: shape.floatBetween(0, 0.1),
      reorderMaxExtraMs: 30,
    };
    const o: ClusterOptions = {
      seed,
      trace: cfg.trace ?? new Trace({ keep: 80 }),
      voters,
      spares: spareIds,
      tickMs: TICK_MS,
      electionTick: ELECTION_TICK,
      snapshotThreshold: shape.intBetween(20, 60),
      trailingLogs: shape.intBetween(2, 15),
      walSegmentBytes: 1024 * shape.intBetween(1, 4),
      proposalTimeoutMs: PROPOSAL_TIMEOUT_MS,
      readTimeoutMs: READ_TIMEOUT_MS,
      link,
      ...(cfg.maxSizePerMsg === undefined ? {} : { maxSizePerMsg: cfg.maxSizePerMsg }),
    };
    this.cluster = new SimCluster(o);
    this.cluster.onPowerLoss = (id) => {
      this.powerLosses++;
      this.crash(id, this.rng.intBetween(50, 1000), {
        keepSomeUnsynced: this.rng.chance(0.5),
        tearLastWrite: true,
      });
    };
    const keys = Array.from({ length: cfg.keys ?? 3 }, (_, i) => `k${i}`);
    this.clients = new ClientPool(
      this.cluster,
      Prng.derive(seed, 'clients'),
      { keys, putRate: 0.35, casRate: 0.2, leaseReadRate: 0.2, thinkMs: 20, deadlineMs: 300 },
      cfg.clients ?? 4,
    );
  }

  get trace(): Trace {
    return this.cluster.trace;
  }

  #note(kind: string, detail: string): void {
    this.trace.record(this.cluster.clock.now(), kind, detail);
  }

  /** Nodes that can still take part (not removed for good). */
  #participants(): Member[] {
    return [...this.cluster.members.values()].filter((m) => m.status !== 'retired');
  }

  #later(ms: number, fn: () => void): void {
    this.cluster.clock.setTimeout(() => this.cluster.guard(fn), ms);
  }

  // ---------------------------------------------------------------- faults

  inject(kind: FaultKind): void {
    const c = this.cluster;
    const rng = this.rng;
    const names = this.#participants().map((m) => nodeName(m.id));
    switch (kind) {
      case 'partition': {
        const shuffled = rng.shuffle([...names]);
        const cut = 1 + rng.int(shuffled.length - 1);
        this.#fault(c.net.partition(shuffled.slice(0, cut), shuffled.slice(cut)), 100, 1000);
        return;
      }
      case 'one-way': {
        const shuffled = rng.shuffle([...names]);
        const cut = 1 + rng.int(shuffled.length - 1);
        this.#fault(c.net.partitionOneWay(shuffled.slice(0, cut), shuffled.slice(cut)), 100, 800);
        return;
      }
      case 'isolate-leader': {
        const l = c.leader();
        const target = l !== undefined ? nodeName(l.id) : rng.pick(names);
        const until = this.#fault(c.net.isolate(target), 100, 1200);
        if (l !== undefined && rng.chance(0.5)) {
          // Readers stay on the isolated leader while a writer follows the new one: any
          // read it serves from a stale lease or an unconfirmed read index is caught.
          const pool = this.clients;
          const p = 100 + 3 * this.#pinned++;
          pool.spawnPinned(p, { node: () => l.id, kind: 'lease', gapMs: 4, untilMs: until });
          pool.spawnPinned(p + 1, {
            node: () => l.id,
            kind: 'read-index',
            gapMs: 6,
            untilMs: until,
          });
          pool.spawnPinned(p + 2, {
            node: () => c.leader()?.id,
            kind: 'put',
            gapMs: 3,
            untilMs: until,
          });
        }
        return;
      }
      case 'flaky-link': {
        const a = rng.pick(names);
        const b = rng.pick(names.filter((n) => n !== a));
        const cfg = {
          dropRate: rng.floatBetween(0.1, 0.6),
          duplicateRate: rng.floatBetween(0, 0.3),
          reorderRate: rng.floatBetween(0, 0.5),
        };
        c.net.setLink(a, b, cfg);
        c.net.setLink(b, a, cfg);
        this.#links.push([a, b], [b, a]);
        this.#later(rng.intBetween(200, 1500), () => {
          c.net.resetLink(a, b);
          c.net.resetLink(b, a);
        });
        return;
      }
      case 'clog': {
        const n = rng.pick(names);
        this.#fault(c.net.clog(n, { kind: 'uniform', minMs: 5, maxMs: 80 }), 200, 1000);
        return;
      }
      case 'crash':
      case 'crash-leader': {
        const up = c.up();
        if (up.length === 0) return;
        const l = kind === 'crash-leader' ? c.leader() : undefined;
        const victim = l ?? rng.pick(up);
        this.crash(victim.id, rng.intBetween(50, 1500));
        return;
      }
      case 'power-loss': {
        // The node loses power at one of its next fsyncs: mid-Ready, writes unsynced.
        const up = c.up();
        if (up.length === 0) return;
        const victim = rng.chance(0.5) ? (c.leader() ?? rng.pick(up)) : rng.pick(up);
        victim.power.fsyncsLeft = 1 + rng.int(3);
        this.#note('fault.power-loss', `n${victim.id} at fsync +${victim.power.fsyncsLeft}`);
        return;
      }
      case 'pause': {
        // A process stall (GC, VM): timers, mail and requests wait; time moves on.
        const up = c.up();
        if (up.length === 0) return;
        const victim = rng.chance(0.5) ? (c.leader() ?? rng.pick(up)) : rng.pick(up);
        const sched = victim.sched;
        if (sched === undefined || sched.paused) return;
        const ms = rng.intBetween(50, 1200);
        this.#note('fault.pause', `n${victim.id} for ${ms} ms`);
        sched.pause();
        this.#later(ms, () => {
          if (victim.sched === sched) {
            this.#note('fault.resume', `n${victim.id}`);
            sched.resume();
          }
        });
        return;
      }
      case 'transfer': {
        const l = c.leader();
        if (l?.node === undefined) return;
        const voters = l.node.rawNodeForTesting.config.voters.filter((v) => v !== l.id);
        if (voters.length === 0) return;
        const to = rng.pick(voters);
        this.#note('fault.transfer', `n${l.id} -> n${to}`);
        try {
          l.node.transferLeadership(to);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
        return;
      }
      case 'membership':
        this.#membershipStep();
        return;
    }
  }

  /** Crashes a node (random loss of unsynced writes, maybe a torn write); restarts it later. */
  crash(
    id: NodeId,
    downMs: number,
    opts = { keepSomeUnsynced: this.rng.chance(0.5), tearLastWrite: this.rng.chance(0.5) },
  ): void {
    const m = this.cluster.member(id);
    if (m.status !== 'up') return;
    this.crashes++;
    this.cluster.crash(id, opts);
    this.#later(downMs, () => {
      if (m.status === 'down') this.cluster.start(id);
    });
  }

  /** Keeps a fault for a random time; returns when it heals. */
  #fault(h: FaultHandle, minMs: number, maxMs: number): number {
    this.#faults.push(h);
    const ms = this.rng.intBetween(minMs, maxMs);
    this.#later(ms, () => h.heal());
    return this.cluster.clock.now() + ms;
  }

  /**
   * One step of the membership plan, decided from the leader's current configuration: add
   * an unused spare as a learner; promote a learner; remove a voter (possibly the leader)
   * while there are more voters than at the start.
   */
  #membershipStep(): void {
    const c = this.cluster;
    const l = c.leader();
    if (l?.node === undefined) return;
    const conf = l.node.rawNodeForTesting.config;
    let change: { type: ConfChangeType; nodeId: NodeId } | undefined;
    const learner = conf.learners[0];
    if (learner !== undefined) change = { type: ConfChangeType.AddVoter, nodeId: learner };
    else if (conf.voters.length > this.voterCount) {
      change = { type: ConfChangeType.RemoveNode, nodeId: this.rng.pick(conf.voters) };
    } else {
      const spare = [...c.members.values()].find(
        (m) => !m.everMember && m.status !== 'retired' && !conf.voters.includes(m.id),
      );
      if (spare !== undefined) change = { type: ConfChangeType.AddLearner, nodeId: spare.id };
    }
    if (change === undefined) return;
    const what = `${ConfChangeType[change.type]} n${change.nodeId} via n${l.id}`;
    this.#note('fault.conf', what);
    void l.node.proposeConfChange(change).then(
      (r) => {
        this.confChanges++;
        this.#note('fault.conf.ok', `${what} at ${r.index}@t${r.term}`);
      },
      (e: unknown) => {
        this.#note('fault.conf.fail', `${what} ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  }

  /** Retires nodes removed by a committed configuration; marks newly committed members. */
  #watchMembership(): void {
    const latest = this.cluster.committedConf();
    // Only ever act on newer configurations: a lagging node's older one must not retire a
    // member added since.
    if (latest === undefined || latest.applied < this.#confSeenAt) return;
    this.#confSeenAt = latest.applied;
    const conf = latest.conf;
    for (const m of this.cluster.members.values()) {
      const inConf = conf.voters.includes(m.id) || conf.learners.includes(m.id);
      if (inConf) m.everMember = true;
      else if (m.everMember && m.status !== 'retired') this.cluster.retire(m.id);
    }
  }

  #chaos(until: number): void {
    const kinds = this.cfg.faults ?? ALL_FAULTS;
    if (kinds.length === 0) return;
    const gap = this.cfg.faultGapMs ?? 150;
    const total = kinds.reduce((s, k) => s + FAULT_WEIGHTS[k], 0);
    const tick = (): void => {
      if (this.healing || this.cluster.clock.now() >= until) return;
      let roll = this.rng.int(total);
      let kind = kinds[0]!;
      for (const k of kinds) {
        roll -= FAULT_WEIGHTS[k];
        if (roll < 0) {
          kind = k;
          break;
        }
      }
      this.#note('fault', kind);
      this.inject(kind);
      this.#later(this.rng.intBetween(Math.round(gap / 3), Math.round((gap * 5) / 3)), tick);
    };
    this.#later(this.rng.intBetween(100, 400), tick);
  }

  /** Ends every fault: network healed, links clean, crashed nodes restarted. */
  heal(): void {
    this.healing = true;
    const c = this.cluster;
    this.#note('heal', 'all faults');
    c.net.heal();
    for (const [a, b] of this.#links) c.net.resetLink(a, b);
    c.net.setDefaults({ dropRate: 0, duplicateRate: 0 });
    for (const m of c.members.values()) {
      m.power.fsyncsLeft = 0;
      if (m.sched?.paused === true) m.sched.resume();
    }
    for (const m of c.members.values()) if (m.status === 'down') c.start(m.id);
  }

  // ---------------------------------------------------------------- the run

  async run(): Promise<SimResult> {
    const c = this.cluster;
    const faultMs = this.cfg.faultMs ?? 3000;
    c.startAll();
    this.clients.start();
    const watch = (): void => {
      this.#watchMembership();
      this.#later(20, watch);
    };
    this.#later(20, watch);
    this.cfg.script?.(this);
    this.#chaos(faultMs);
    await c.runFor(faultMs);

    // Heal, then liveness: a leader and a fresh commit within the bound.
    this.heal();
    const healAt = c.clock.now();
    let committedAt = -1;
    let probing = false;
    const probe = (): void => {
      if (committedAt >= 0) return;
      const l = c.leader();
      if (!probing && l?.node !== undefined) {
        probing = true;
        const node = l.node;
        void node
          .propose(encodeCommand({ op: 'put', key: 'live', value: String(c.clock.now()) }))
          .then(
            (r) => {
              c.checker.onAck(r.index, r.term);
              committedAt = c.clock.now();
              this.#note('liveness', `commit at ${r.index}@t${r.term} via n${node.id}`);
            },
            () => {
              probing = false;
            },
          );
      }
      this.#later(20, probe);
    };
    probe();
    const live = await c.runFor(livenessBoundMs, () => committedAt >= 0);
    if (!live) {
      throw new InvariantViolation(
        'liveness',
        `no leader committed a new proposal within ${livenessBoundMs} ms of the heal ` +
          `(leader: ${c.leader()?.id ?? 'none'}; ${this.#describeNodes()})`,
      );
    }
    const recoveryMs = committedAt - healAt;

    // Quiesce: no new client operations; let pending ones settle.
    this.clients.active = false;
    await c.runFor(PROPOSAL_TIMEOUT_MS + 200, () => this.clients.pending() === 0);
    this.clients.checkNoHungRequests(PROPOSAL_TIMEOUT_MS + TICK_MS * 4);

    // Convergence: every live member applies the leader's commit index; same state everywhere.
    // (Spares never added stay empty and out of it.)
    const members = (): Member[] => {
      const conf = c.leader()?.node?.rawNodeForTesting.config;
      if (conf === undefined) return [];
      return c.up().filter((m) => conf.voters.includes(m.id) || conf.learners.includes(m.id));
    };
    const converged = await c.runFor(livenessBoundMs, () => {
      const l = c.leader();
      if (l?.node === undefined) return false;
      const commit = l.node.status().hardState.commit;
      return members().every((m) => (m.node?.appliedIndex ?? -1) >= commit);
    });
    if (!converged) {
      throw new InvariantViolation(
        'liveness',
        `live nodes did not catch up with the leader within ${livenessBoundMs} ms: ${this.#describeNodes()}`,
      );
    }
    const finalMembers = members();
    const states = new Map<string, string[]>();
    for (const m of finalMembers) {
      if (m.sm === undefined) continue;
      const d = `${m.node?.appliedIndex}:${digest(m.sm)}`;
      const list = states.get(d) ?? [];
      list.push(`n${m.id}`);
      states.set(d, list);
    }
    const indexes = new Set([...states.keys()].map((k) => k.split(':')[0]));
    if (indexes.size === 1 && states.size > 1) {
      throw new InvariantViolation(
        'state machine safety',
        `nodes at the same applied index differ: ${[...states].map(([d, n]) => `${n.join(',')} → ${d}`).join('; ')}`,
      );
    }

    // Final reads of every key on every live node (ReadIndex), part of the history. A read
    // is dropped when leadership changes under it (the driver then times it out): like a
    // client, retry; each must succeed within the liveness bound.
    let finalPending = 0;
    let process = 1000;
    const readDeadline = c.clock.now() + livenessBoundMs;
    const finalRead = (m: Member, key: string): void => {
      const node = m.node;
      const sm = m.sm;
      if (m.status === 'retired') {
        finalPending--; // removed by a membership change that committed just now
        return;
      }
      if (node === undefined || sm === undefined) {
        c.fail(new InvariantViolation('liveness', `n${m.id} stopped during the final reads`));
        return;
      }
      const h = this.clients.history.invoke(++process, { f: 'get', key });
      void node.readBarrier().then(
        () => {
          finalPending--;
          h.ok(sm.get(key));
        },
        (e: unknown) => {
          h.fail();
          const why = e instanceof Error ? e.message : String(e);
          this.#note('final.retry', `get ${key} on n${node.id}: ${why}`);
          if (c.clock.now() < readDeadline) {
            this.#later(TICK_MS, () => finalRead(m, key));
          } else {
            c.fail(
              new InvariantViolation(
                'liveness',
                `final read of ${key} on n${node.id} did not succeed within ${livenessBoundMs} ms ` +
                  `of the convergence: ${why}`,
              ),
            );
          }
        },
      );
    };
    for (const m of finalMembers) {
      for (const key of this.clients.o.keys) {
        finalPending++;
        finalRead(m, key);
      }
    }
    await c.runFor(livenessBoundMs + READ_TIMEOUT_MS + 200, () => finalPending === 0);
    if (finalPending > 0) {
      throw new InvariantViolation('liveness', `${finalPending} final reads never completed`);
    }

    // No acknowledged write lost; every live node applied every acknowledged write.
    c.checker.checkAcked();
    const maxAcked = Math.max(0, ...c.checker.acked.keys());
    for (const m of finalMembers) {
      if ((m.node?.appliedIndex ?? 0) < maxAcked) {
        throw new InvariantViolation(
          'acknowledged write lost',
          `n${m.id} applied only up to ${m.node?.appliedIndex} but ${maxAcked} was acknowledged`,
        );
      }
    }

    const t0 = performance.now();
    const lin = checkLinearizability(this.clients.history.events, { timeoutMs: 30_000 });
    const checkerMs = performance.now() - t0;
    if (!lin.ok) {
      throw new InvariantViolation(
        'linearizability',
        lin.outcome === 'violation' ? lin.explanation : `checker gave up: ${lin.explanation}`,
      );
    }

    return {
      seed: this.cfg.seed,
      voters: this.voterCount,
      virtualMs: c.clock.now(),
      steps: c.steps,
      operations: this.clients.history.events.filter((e) => e.kind === 'invoke').length,
      acked: c.checker.acked.size,
      committed: c.checker.maxCommitted,
      leaders: c.checker.leaders.size,
      crashes: this.crashes,
      powerLosses: this.powerLosses,
      snapshotsInstalled: c.restores,
      confChanges: this.confChanges,
      recoveryMs,
      traceHash: this.trace.hash(),
      checkerMs,
    };
  }

  #describeNodes(): string {
    return [...this.cluster.members.values()]
      .map((m) =>
        m.node === undefined ? `n${m.id} ${m.status}` : m.node.rawNodeForTesting.describe(),
      )
      .join(' | ');
  }
}

/**
 * Runs one seed; rejects with the first violation. Stack traces are off meanwhile: the
 * driver's expected refusals (lease unavailable, not leader) are errors, and capturing their
 * stacks was a tenth of the run time. Violations carry their whole story in the message.
 */
export async function simulate(cfg: SimConfig): Promise<SimResult> {
  // Runs may interleave (ava runs a file's tests concurrently): the first one in saves the
  // limit, the last one out restores it.
  if (running++ === 0) {
    savedStackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
  }
  try {
    return await new Simulation(cfg).run();
  } finally {
    if (--running === 0) Error.stackTraceLimit = savedStackTraceLimit;
  }
}

let running = 0;
let savedStackTraceLimit = Error.stackTraceLimit;
