/**
 * The gossip simulation scenarios. Each is a function of (seed, trace, options) that builds
 * a cluster in a {@link GossipSim}, injects faults drawn from the seed, checks its
 * properties (throwing a {@link Violation}) and returns its measurements.
 */
import { Prng, type SeedContext } from '@trellis/testkit';
import { MessageType, encodeMessage, retransmitLimit, type Timing } from '../../src/index.js';
import {
  FailureMonitor,
  Violation,
  convergenceGaps,
  detectionBound,
  median,
  timingOf,
} from './checks.js';
import { GossipSim, probeOnly, type SimOptions } from './harness.js';

export type Metrics = Record<string, number | string>;

export interface ScenarioResult {
  readonly scenario: string;
  readonly seed: number;
  readonly members: number;
  readonly metrics: Metrics;
  /** SHA-256 of the run's trace. */
  readonly hash: string;
  /** Virtual time simulated, ms. */
  readonly simulatedMs: number;
}

export interface ScenarioOptions {
  /** Cluster size (scale: the number of members). */
  readonly members?: number;
  /** UDP loss probability. */
  readonly loss?: number;
  /** Length of the fault phase (partition / slow scenarios), ms. */
  readonly durationMs?: number;
  /** Scale: members each one knows (a random partial view); ≥ members − 1 = full view. */
  readonly view?: number;
  /**
   * Tolerate stale declarations (slow, refutation): a member that missed a refutation
   * declaring the refuted member dead at its old incarnation. Default false (a violation).
   */
  readonly allowStale?: boolean;
  /** Trace every packet (default true; the scale scenario defaults to false). */
  readonly traceNetwork?: boolean;
}

export type Scenario = (ctx: SeedContext, options?: ScenarioOptions) => ScenarioResult;

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i}`);

function mkSim(ctx: SeedContext, opts: Omit<SimOptions, 'seed' | 'trace'>): GossipSim {
  return new GossipSim({ seed: ctx.seed, trace: ctx.trace, ...opts });
}

/**
 * Starts `members` cores at time 0; each but n0 joins through n0 at a random instant of
 * the first 2 s. Throws unless the cluster converges within 60 s.
 */
function formCluster(sim: GossipSim, members: number): string[] {
  const all = names(members);
  const rng = Prng.derive(sim.seed, 'form');
  for (const n of all) sim.add(n);
  for (const n of all.slice(1)) sim.clock.at(rng.int(2_000), () => sim.join(n, ['n0']));
  if (!sim.runUntilPolled(() => convergenceGaps(sim, 1).length === 0, 60_000, 250)) {
    throw new Violation(`cluster did not form in 60 s: ${convergenceGaps(sim).join('; ')}`);
  }
  return all;
}

function result(
  scenario: string,
  ctx: SeedContext,
  sim: GossipSim,
  members: number,
  metrics: Metrics,
): ScenarioResult {
  return {
    scenario,
    seed: ctx.seed,
    members,
    metrics,
    hash: ctx.trace.hash(),
    simulatedMs: sim.clock.now(),
  };
}

function requireConverged(sim: GossipSim, limitMs: number, what: string): number {
  const start = sim.clock.now();
  if (!sim.runUntilPolled(() => convergenceGaps(sim, 1).length === 0, limitMs, 250)) {
    throw new Violation(
      `${what}: not converged ${limitMs} ms later: ${convergenceGaps(sim).join('; ')}`,
    );
  }
  return sim.clock.now() - start;
}

/**
 * Throws on any false failure; with `allowStale`, stale declarations (the declarer missed
 * the member's refutation: see {@link FailureMonitor.stale}) are tolerated (and measured).
 */
function noFalseFailures(mon: FailureMonitor, what: string, allowStale = false): void {
  const bad = allowStale
    ? mon.falseFailures.filter((e) => !mon.stale.includes(e))
    : mon.falseFailures;
  if (bad.length > 0) {
    throw new Violation(`${what}: ${bad.length} false failure(s): ${mon.describe(bad)}`);
  }
}

// =======================================================================================
// (1) Loss and partitions: converge after healing.

/**
 * `members` (50) under `loss` (20 %) UDP loss; after the cluster forms, `durationMs` (90 s)
 * of random faults one after another (a random split into two sides, one isolated member,
 * or a one-way cut), each lasting 2–12 s with 1–6 s of calm between; then everything
 * heals. Checks: the cluster forms; no false failure outside the fault window (from the
 * first fault to the last heal + the longest suspicion timeout; inside it, members cut off
 * are rightly declared dead by the other side) nor, past one final-check window, after the
 * last heal (an accusation made while cut off must not mature into a death once the accused
 * is reachable again); after
 * the last heal every live member sees every other alive within 120 s.
 */
export const partitions: Scenario = (ctx, o = {}) => {
  const members = o.members ?? 50;
  const loss = o.loss ?? 0.2;
  const duration = o.durationMs ?? 90_000;
  const sim = mkSim(ctx, { udpLoss: loss, traceNetwork: o.traceNetwork ?? true });
  const mon = new FailureMonitor(sim);
  const all = formCluster(sim, members);
  const formedAt = sim.clock.now();
  noFalseFailures(mon, `forming under ${loss * 100}% loss`);
  sim.run(5_000);
  noFalseFailures(mon, `steady state under ${loss * 100}% loss`);

  const rng = Prng.derive(ctx.seed, 'faults');
  const faultStart = sim.clock.now();
  const end = faultStart + duration;
  let faults = 0;
  while (sim.clock.now() < end) {
    const kind = rng.int(3);
    const shuffled = rng.shuffle([...all]);
    let heal: () => void;
    if (kind === 0) {
      const k = 1 + rng.int(Math.floor(members / 2));
      const h = sim.net.partition(shuffled.slice(0, k), shuffled.slice(k));
      heal = () => h.heal();
    } else if (kind === 1) {
      const h = sim.net.isolate(shuffled[0]!);
      heal = () => h.heal();
    } else {
      const k = 1 + rng.int(Math.floor(members / 2));
      const h = sim.net.partitionOneWay(shuffled.slice(0, k), shuffled.slice(k));
      heal = () => h.heal();
    }
    faults++;
    sim.run(2_000 + rng.int(10_000));
    heal();
    sim.run(1_000 + rng.int(5_000));
  }
  sim.net.heal();
  const healedAt = sim.clock.now();
  const t = timingOf();
  const window = healedAt + detectionBound(t, members).suspicionMax;
  const converge = requireConverged(sim, 120_000, 'after the last heal');
  sim.run(5_000);
  const gaps = convergenceGaps(sim);
  if (gaps.length > 0) throw new Violation(`did not stay converged: ${gaps.join('; ')}`);
  const outside = mon.falseFailures.filter((e) => e.at < faultStart || e.at > window);
  // Inside the window but after the last heal: accusations made by a member while it was
  // cut off (its suspect broadcasts spent on a dead network) maturing into deaths.
  const afterHeal = mon.falseFailures.filter((e) => e.at > healedAt).length;
  if (outside.length > 0) {
    throw new Violation(`false failures outside the fault window: ${mon.describe(outside)}`);
  }
  // Since the final check (a suspicion becomes a death only if the member does not answer
  // one last direct + indirect probe during the last check window of its timeout), an
  // accusation made while cut off is re-checked against the healed network before it
  // matures: nobody is declared dead once a whole check window has passed since the last
  // heal (memberlist's protocol did, up to the longest suspicion timeout later: seed 24 at
  // 50 members). A check that ran, even partly, before the heal may rightly fail. The
  // window is one probe interval, scaled by the declarer's Lifeguard multiplier: at most
  // probeInterval × awarenessMaxMultiplier.
  const checkWindowMax = t.probeInterval * t.awarenessMaxMultiplier;
  const lateDeaths = mon.falseFailures.filter((e) => e.at > healedAt + checkWindowMax);
  if (lateDeaths.length > 0) {
    throw new Violation(
      `false failures more than ${checkWindowMax} ms after the last heal: ${mon.describe(lateDeaths)}`,
    );
  }
  const net = sim.net.stats();
  return result('partitions', ctx, sim, members, {
    loss,
    faults,
    formedMs: formedAt,
    convergedAfterHealMs: converge,
    failuresDuringFaults: mon.falseFailures.length - afterHeal,
    failuresAfterHeal: afterHeal,
    staleDeclarations: mon.stale.length,
    udpSent: net.sent,
    udpLost: net.dropped['random-drop'],
  });
};

// =======================================================================================
// (2) Crash: declared dead within the bound; a graceful leave is seen as left.

/**
 * After the cluster forms (and 5 s), one random member crashes and, 1 s later, another
 * leaves gracefully. Checks: every survivor marks the crashed member failed within
 * {@link detectionBound}; every survivor sees the leaver as left and none declares it
 * failed; no other member is declared failed; the cluster converges.
 */
export const crash: Scenario = (ctx, o = {}) => {
  const members = o.members ?? 50;
  const loss = o.loss ?? 0;
  const sim = mkSim(ctx, { udpLoss: loss, traceNetwork: o.traceNetwork ?? true });
  const mon = new FailureMonitor(sim);
  const all = formCluster(sim, members);
  sim.run(5_000);
  const rng = Prng.derive(ctx.seed, 'faults');
  const [victim, leaver] = rng.shuffle(all.slice(1));
  if (victim === undefined || leaver === undefined) throw new Error('need ≥ 3 members');
  const t = timingOf();
  const bound = detectionBound(t, members);
  const detected = new Map<string, number>();
  sim.listeners.push((e) => {
    if (e.kind === 'fail' && e.member.name === victim && !detected.has(e.observer)) {
      detected.set(e.observer, e.at);
    }
    if (e.kind === 'fail' && e.member.name === leaver) {
      throw new Violation(`${e.observer} declared ${leaver} failed; it left gracefully`);
    }
  });
  const crashedAt = sim.clock.now();
  mon.crash(victim);
  const timeline = new DetectionTimeline(
    sim,
    victim,
    all.filter((n) => n !== victim && n !== leaver),
  );
  sim.runUntil(() => {
    timeline.observe();
    return false;
  }, 1_000);
  sim.leave(leaver);
  const survivors = () => all.filter((n) => n !== victim && n !== leaver);
  const ok = sim.runUntil(() => {
    timeline.observe();
    return survivors().every((n) => detected.has(n));
  }, bound.bound + 1_000);
  const late = survivors().filter(
    (n) => !detected.has(n) || detected.get(n)! - crashedAt > bound.bound,
  );
  if (!ok || late.length > 0) {
    throw new Violation(
      `${late.length} survivor(s) did not mark ${victim} failed within ${bound.formula}: ` +
        late.slice(0, 5).join(', '),
    );
  }
  if (!sim.node(leaver).leaveComplete) throw new Violation(`${leaver}: leave never completed`);
  const converge = requireConverged(sim, 30_000, 'after the crash and the leave');
  for (const n of survivors()) {
    const s = sim.node(n).core.member(leaver)?.status;
    if (s !== undefined && s !== 'left') throw new Violation(`${n} sees ${leaver} ${s}`);
  }
  noFalseFailures(mon, 'crash');
  const times = [...detected.values()].map((x) => x - crashedAt);
  return result('crash', ctx, sim, members, {
    loss,
    boundMs: bound.bound,
    firstDetectMs: Math.min(...times),
    medianDetectMs: median(times),
    allDetectMs: Math.max(...times),
    ...timeline.metrics(crashedAt),
    suspicionMinMs: bound.suspicionMin,
    convergeMs: converge,
  });
};

/**
 * Where a crash's detection time goes, observed from the cores after every simulation
 * event: the first suspicion (a failed probe), every survivor suspecting (or having
 * declared) the victim, and, at the first accuser, each Lifeguard confirmation and the
 * deadline it reached.
 */
class DetectionTimeline {
  readonly #sim: GossipSim;
  readonly #victim: string;
  readonly #observers: readonly string[];
  #firstSuspect: number | undefined;
  #accuser: string | undefined;
  #allSuspect: number | undefined;
  readonly #confirmedAt: number[] = [];
  #deadline: number | undefined;
  #accuserStart: number | undefined;

  constructor(sim: GossipSim, victim: string, observers: readonly string[]) {
    this.#sim = sim;
    this.#victim = victim;
    this.#observers = observers;
  }

  observe(): void {
    const now = this.#sim.clock.now();
    if (this.#allSuspect === undefined) {
      let all = true;
      for (const o of this.#observers) {
        const n = this.#sim.node(o);
        if (n.status !== 'running' || n.leaving) continue;
        const s = n.core.member(this.#victim)?.status;
        const accused = s === 'suspect' || s === 'dead';
        if (accused && this.#firstSuspect === undefined) {
          this.#firstSuspect = now;
          this.#accuser = o;
          this.#accuserStart = now;
        }
        if (!accused) all = false;
      }
      if (all) this.#allSuspect = now;
    }
    if (this.#accuser === undefined) return;
    const s = this.#sim.node(this.#accuser).core.suspicionOf(this.#victim);
    if (s === undefined) return;
    while (this.#confirmedAt.length < s.confirmations) this.#confirmedAt.push(now);
    this.#deadline = s.deadline;
  }

  metrics(crashedAt: number): Record<string, number> {
    const rel = (x: number | undefined): number => (x === undefined ? NaN : x - crashedAt);
    return {
      firstSuspectMs: rel(this.#firstSuspect),
      allSuspectMs: rel(this.#allSuspect),
      confirm1Ms: rel(this.#confirmedAt[0]),
      confirm2Ms: rel(this.#confirmedAt[1]),
      accuserTimeoutMs:
        this.#deadline === undefined || this.#accuserStart === undefined
          ? NaN
          : this.#deadline - this.#accuserStart,
    };
  }
}

// =======================================================================================
// (3) A slow member (CPU-starved, SIGSTOP-like pauses) is never declared dead.

/**
 * One random member is paused (nothing it receives or schedules runs) every 20 s ± 2 s for
 * 1–4 s (the first pause 3 s: beyond the probe interval, so it is suspected), for
 * `durationMs` (120 s), under `loss` UDP loss (0). Checks: nobody is ever declared failed
 * (zero false failures), the slow member was suspected and refuted, its Lifeguard health
 * score rose (its own probe timeouts scaled up), and the cluster converges at the end.
 */
export const slow: Scenario = (ctx, o = {}) => {
  const members = o.members ?? 50;
  const loss = o.loss ?? 0;
  const duration = o.durationMs ?? 120_000;
  const sim = mkSim(ctx, { udpLoss: loss, traceNetwork: o.traceNetwork ?? true });
  const mon = new FailureMonitor(sim);
  const all = formCluster(sim, members);
  sim.run(5_000);
  const rng = Prng.derive(ctx.seed, 'faults');
  const slowName = rng.pick(all.slice(1));
  const node = sim.node(slowName);
  const startInc = node.core.localMember().incarnation;
  const end = sim.clock.now() + duration;
  let pauses = 0;
  let pausedMs = 0;
  let longest = 0;
  let first = true;
  while (sim.clock.now() < end) {
    sim.run(18_000 + rng.int(4_000));
    const d = first ? 3_000 : 1_000 + rng.int(3_001);
    first = false;
    sim.pause(slowName, d);
    pauses++;
    pausedMs += d;
    longest = Math.max(longest, d);
  }
  sim.run(5_000);
  const converge = requireConverged(sim, 30_000, 'after the last pause');
  noFalseFailures(mon, `slow member ${slowName}`, o.allowStale);
  const suspected = sim.suspectsSent.get(slowName) ?? 0;
  const refutations = node.core.localMember().incarnation - startInc;
  if (suspected === 0 || refutations === 0) {
    throw new Violation(
      `${slowName} was never suspected and refuted (suspect messages ${suspected}, refutations ${refutations}): the scenario did not exercise Lifeguard`,
    );
  }
  if (node.maxHealth === 0) {
    throw new Violation(`${slowName}'s health score never rose: Lifeguard awareness inactive`);
  }
  // Others accused by the slow member when it resumed (its probes timed out while stopped).
  let othersSuspected = 0;
  for (const [k, v] of sim.suspectsSent) if (k !== slowName) othersSuspected += v;
  return result('slow', ctx, sim, members, {
    slow: slowName,
    pauses,
    pausedMs,
    longestPauseMs: longest,
    suspectMsgsAboutSlow: suspected,
    refutations,
    maxHealthScore: node.maxHealth,
    suspectMsgsAboutOthers: othersSuspected,
    falseFailures: mon.falseFailures.length,
    staleDeclarations: mon.stale.length,
    convergeMs: converge,
  });
};

// =======================================================================================
// (4) Refutation.

/**
 * (a) A random member stops hearing anyone (inbound cut) until someone suspects it, then
 * is reconnected: it must hear the accusation, refute with a higher incarnation, and never
 * be declared dead. (b) A forged suspicion about another member (at its current
 * incarnation) is fed to a third member: the accused refutes likewise. Checks: both
 * refuted (incarnation rose, every member sees them alive at ≥ that incarnation), zero
 * false failures (stale declarations included unless `allowStale`), convergence.
 */
export const refutation: Scenario = (ctx, o = {}) => {
  const members = o.members ?? 50;
  const loss = o.loss ?? 0;
  const sim = mkSim(ctx, { udpLoss: loss, traceNetwork: o.traceNetwork ?? true });
  const mon = new FailureMonitor(sim);
  const all = formCluster(sim, members);
  sim.run(5_000);
  const rng = Prng.derive(ctx.seed, 'faults');
  const [x, y, z] = rng.shuffle(all.slice(1));
  if (x === undefined || y === undefined || z === undefined) throw new Error('need ≥ 4 members');

  // (a) Natural suspicion.
  const xInc = sim.node(x).core.localMember().incarnation;
  // Inbound-only cut: x hears nobody (so it is suspected and cannot answer), but what it
  // sends still arrives, so its own accusations of others (its probes fail too) reach
  // them and they refute. (With a full isolation x's accusations would be spent on the
  // void and never refuted: certain stale declarations ~Lifeguard's max timeout later.)
  const isolation = sim.net.partitionOneWay(
    all.filter((n) => n !== x),
    [x],
  );
  const isolatedAt = sim.clock.now();
  if (!sim.runUntil(() => (sim.suspectsSent.get(x) ?? 0) > 0, 30_000)) {
    throw new Violation(`${x} isolated 30 s and never suspected`);
  }
  const suspectedAfter = sim.clock.now() - isolatedAt;
  isolation.heal();
  const refutedA = () => sim.node(x).core.localMember().incarnation > xInc;
  if (!sim.runUntil(refutedA, 10_000)) throw new Violation(`${x} did not refute in 10 s`);
  const refuteMsA = sim.clock.now() - isolatedAt - suspectedAfter;

  // (b) A forged accusation fed to a third member.
  sim.run(10_000);
  const yInc = sim.node(y).core.localMember().incarnation;
  sim.call(z, (core, now) =>
    core.handlePacket(all[0]!, encodeSuspect(y, core.member(y)?.incarnation ?? yInc, all[0]!), now),
  );
  if (sim.node(z).core.member(y)?.status !== 'suspect') {
    throw new Violation(`${z} did not take the forged suspicion of ${y}`);
  }
  const forgedAt = sim.clock.now();
  if (!sim.runUntil(() => sim.node(y).core.localMember().incarnation > yInc, 10_000)) {
    throw new Violation(`${y} did not refute the forged suspicion in 10 s`);
  }
  const refuteMsB = sim.clock.now() - forgedAt;
  // A member that misses a refutation (x, cut off while the members it suspected refuted;
  // or, rarely, one that the retransmit-limited alive broadcast never reached) keeps its
  // suspicion, and at Lifeguard's max timeout declares the member dead at the incarnation
  // it had already refuted; nobody else accepts that (older incarnation), and the next
  // push-pull (every pushPullScale(30 s, N)) brings the declarer the newer alive. That is
  // memberlist's protocol too (retransmit-limited gossip, no acknowledgement). Such stale
  // declarations are violations unless `allowStale`; convergence waits for the push-pull.
  const convergeStart = sim.clock.now();
  requireConverged(sim, 150_000, 'after the refutations');
  // A member that missed both the accusation and the refutation (retransmit-limited
  // gossip) sees the member alive at its old incarnation: converged, but it learns the
  // refutation only at its next push-pull. Wait for that too (within the same limit).
  const pending = (): string[] => {
    const gaps: string[] = [];
    for (const who of [x, y]) {
      const inc = sim.node(who).core.localMember().incarnation;
      for (const n of sim.liveNames()) {
        const m = sim.node(n).core.member(who);
        if (n !== who && (m === undefined || m.incarnation < inc)) {
          gaps.push(`${n} did not learn ${who}'s refutation (incarnation ${inc})`);
        }
      }
    }
    return gaps;
  };
  const left = Math.max(0, convergeStart + 150_000 - sim.clock.now());
  if (!sim.runUntilPolled(() => pending().length === 0, left, 250)) {
    throw new Violation(pending().slice(0, 5).join('; '));
  }
  const converge = sim.clock.now() - convergeStart;
  noFalseFailures(mon, 'refutation', o.allowStale);
  return result('refutation', ctx, sim, members, {
    staleDeclarations: mon.stale.length,
    isolatedUntilSuspectedMs: suspectedAfter,
    naturalRefuteMs: refuteMsA,
    forgedRefuteMs: refuteMsB,
    incarnationX: sim.node(x).core.localMember().incarnation,
    incarnationY: sim.node(y).core.localMember().incarnation,
    convergeMs: converge,
  });
};

function encodeSuspect(node: string, incarnation: number, from: string): Uint8Array {
  return encodeMessage({ type: MessageType.Suspect, incarnation, node, from });
}

// =======================================================================================
// (5) Scale: rounds to full dissemination.

/** Default partial-view size of the scale runs (memory: ~285 bytes per member record). */
export const SCALE_VIEW = 128;

/**
 * `members` (1,000) cores, each knowing a random partial view of `view` (128) others (the
 * full table, N × N records, does not fit in memory at 10,000: ~285 B each), installed out
 * of band. Push-pull is off (only gossip is measured); RetransmitMult is scaled so that the
 * retransmit limit is the one of the full cluster size (4 × ⌈log10(N + 1)⌉); the queue depth
 * is 4 so the install-time broadcasts are pruned, and a warm-up that carries only probe
 * traffic drains the rest. Then one member changes its tags (a new incarnation, like a
 * join's alive message) and we count gossip intervals until every member knows it.
 * Checks: the warm-up leaves every queue empty, every member learns the update within 60 s,
 * nobody is suspected or declared failed.
 */
export const scale: Scenario = (ctx, o = {}) => {
  const members = o.members ?? 1_000;
  const view = Math.min(o.view ?? SCALE_VIEW, members - 1);
  const wall0 = performance.now();
  const base = timingOf();
  const fullLimit = retransmitLimit(base.retransmitMult, members);
  const viewLimit = retransmitLimit(base.retransmitMult, view + 1);
  const timing: Partial<Timing> = {
    pushPullInterval: 0,
    maxQueueDepth: 4,
    retransmitMult: (base.retransmitMult * fullLimit) / viewLimit,
  };
  const sim = mkSim(ctx, { timing, traceNetwork: o.traceNetwork ?? false });
  const mon = new FailureMonitor(sim);
  const all = names(members);
  sim.traceJoins = false;
  for (const n of all) sim.add(n);
  const vrng = Prng.derive(ctx.seed, 'views');
  const pool = [...all];
  for (let i = 0; i < members; i++) {
    let v: string[];
    if (view >= members - 1) {
      v = all.filter((_, j) => j !== i);
    } else {
      // A uniform sample of `view` others: partial Fisher–Yates over the pool.
      v = [];
      const self = all[i]!;
      for (let k = 0; v.length < view; k++) {
        const j = k + vrng.int(members - k);
        const tmp = pool[k]!;
        pool[k] = pool[j]!;
        pool[j] = tmp;
        if (pool[k] !== self) v.push(pool[k]!);
      }
    }
    sim.installView(all[i]!, v);
  }
  const installedMs = performance.now() - wall0;
  sim.traceJoins = true;
  // Warm-up: drain what the install queued without spreading it.
  sim.udpFilter = probeOnly;
  if (
    !sim.runUntilPolled(
      () => all.every((n) => sim.node(n).core.pendingBroadcasts() === 0),
      20_000,
      200,
    )
  ) {
    throw new Violation('warm-up: broadcast queues did not drain in 20 s');
  }
  sim.udpFilter = undefined;
  sim.run(1_000);
  if (sim.suspectsSent.size > 0 || mon.falseFailures.length > 0) {
    throw new Violation(
      `warm-up: suspicions about ${[...sim.suspectsSent.keys()].slice(0, 5).join(', ')}`,
    );
  }
  const rng = Prng.derive(ctx.seed, 'faults');
  const x = rng.pick(all);
  const t0 = sim.clock.now();
  const learned = new Map<string, number>();
  sim.listeners.push((e) => {
    if (
      e.member.name === x &&
      e.observer !== x &&
      (e.kind === 'update' || e.kind === 'join') &&
      e.member.tags['v'] === '2' &&
      !learned.has(e.observer)
    ) {
      learned.set(e.observer, e.at);
    }
  });
  const udp0 = sim.udpSent;
  const wall1 = performance.now();
  sim.call(x, (core, now) => core.setTags({ v: '2' }, now));
  const ok = sim.runUntil(() => learned.size === members - 1, 60_000);
  const simMs = performance.now() - wall1;
  if (!ok) {
    throw new Violation(`update of ${x} reached ${learned.size} of ${members - 1} in 60 s`);
  }
  if (sim.suspectsSent.size > 0 || mon.falseFailures.length > 0) {
    throw new Violation(
      `suspicions during dissemination: ${[...sim.suspectsSent.keys()].join(', ')}`,
    );
  }
  const g = base.gossipInterval;
  const times = [...learned.values()].map((t) => t - t0).sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
  const last = times[times.length - 1]!;
  return result('scale', ctx, sim, members, {
    view: view >= members - 1 ? 'full' : view,
    retransmitLimit: fullLimit,
    rounds: Math.ceil(last / g),
    rounds50: Math.ceil(at(0.5) / g),
    rounds99: Math.ceil(at(0.99) / g),
    disseminationMs: Math.round(last),
    udpPackets: sim.udpSent - udp0,
    installWallMs: Math.round(installedMs),
    measureWallMs: Math.round(simMs),
    totalWallMs: Math.round(performance.now() - wall0),
  });
};

/** (2b) The crash scenario under 20 % UDP loss (the bound is the same formula). */
export const crashLossy: Scenario = (ctx, o = {}) => ({
  ...crash(ctx, { loss: 0.2, ...o }),
  scenario: 'crash-lossy',
});

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  partitions,
  crash,
  'crash-lossy': crashLossy,
  slow,
  refutation,
  scale,
};
