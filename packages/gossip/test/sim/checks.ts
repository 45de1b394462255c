/**
 * What the simulation checks, and the bounds it checks against (from the config formulas).
 */
import {
  PRESETS,
  retransmitLimit,
  suspicionTimeout,
  type PresetName,
  type Timing,
} from '../../src/index.js';
import type { GossipSim, MemberEventRecord } from './harness.js';

/** A violated property: the message says which, where and when. */
export class Violation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Violation';
  }
}

export function timingOf(preset: PresetName = 'lan', overrides: Partial<Timing> = {}): Timing {
  return { ...PRESETS[preset], ...overrides };
}

/**
 * Probe rounds allowed before some live member starts probing the crashed one. Every member
 * probes each other member once per pass of its shuffled round-robin list, so with N − 1
 * probers at independent phases P(nobody probed it within w intervals) ≈ e^−w: w = 10 makes a
 * miss a 5·10⁻⁵ event per run; one more interval covers the failed probe itself.
 */
export const FIRST_PROBE_ROUNDS = 10;

export interface DetectionBound {
  /** The bound, ms. */
  readonly bound: number;
  readonly suspicionMin: number;
  readonly suspicionMax: number;
  readonly probing: number;
  readonly dissemination: number;
  /** The formula with its numbers. */
  readonly formula: string;
}

/**
 * Every survivor marks a crashed member failed within
 *
 *   bound = probeInterval × (FIRST_PROBE_ROUNDS + 1)                 time to a failed probe
 *         + suspicionMaxTimeoutMult × suspicionMult × max(1, log10 N) × probeInterval
 *                                                                  Lifeguard's longest
 *                                                                  suspicion (no confirmation)
 *         + retransmitLimit(retransmitMult, N) × gossipInterval      dissemination of the
 *                                                                  dead message
 *
 * (awareness at 0: the scenario's network does not degrade the probers' health). The final
 * check before a death (core.ts `Check`) runs during the last probe interval of the
 * suspicion and ends at its deadline: it adds nothing to the bound.
 */
export function detectionBound(t: Timing, n: number): DetectionBound {
  const suspicionMin = suspicionTimeout(t.suspicionMult, n, t.probeInterval);
  const suspicionMax = t.suspicionMaxTimeoutMult * suspicionMin;
  const probing = t.probeInterval * (FIRST_PROBE_ROUNDS + 1);
  const dissemination = retransmitLimit(t.retransmitMult, n) * t.gossipInterval;
  const bound = probing + suspicionMax + dissemination;
  const formula =
    `${t.probeInterval}×(${FIRST_PROBE_ROUNDS}+1) + ${t.suspicionMaxTimeoutMult}×${suspicionMin} + ` +
    `${retransmitLimit(t.retransmitMult, n)}×${t.gossipInterval} = ${bound} ms`;
  return { bound, suspicionMin, suspicionMax, probing, dissemination, formula };
}

/**
 * Convergence: every live member sees every other live member alive, every crashed member
 * dead (or already reaped) and every member that left as left (or reaped). Returns the first
 * few disagreements (empty = converged).
 */
export function convergenceGaps(sim: GossipSim, max = 5): string[] {
  const gaps: string[] = [];
  const live = sim.liveNames();
  for (const o of live) {
    const core = sim.node(o).core;
    for (const n of sim.nodes.values()) {
      if (n.name === o) continue;
      const seen = core.member(n.name)?.status;
      let want: string[];
      if (sim.isLive(n.name)) want = ['alive'];
      else if (n.status === 'crashed') want = ['dead', 'absent'];
      else want = ['left', 'absent'];
      const s = seen ?? 'absent';
      if (!want.includes(s)) {
        gaps.push(`${o} sees ${n.name} ${s} (want ${want.join('|')})`);
        if (gaps.length >= max) return gaps;
      }
    }
  }
  return gaps;
}

/**
 * False failures: a member declared dead ('fail') by someone while it had neither crashed
 * nor left (judged at the event's time: the harness records crashes before they happen
 * and leaves when they start).
 */
export class FailureMonitor {
  readonly falseFailures: MemberEventRecord[] = [];
  /**
   * The subset declared at an incarnation the member had already refuted (its own
   * incarnation was higher at that instant): the declarer missed the refutation.
   */
  readonly stale: MemberEventRecord[] = [];
  /** The member's own incarnation when each false failure was declared. */
  readonly #actual = new Map<MemberEventRecord, number>();
  readonly #sim: GossipSim;

  constructor(sim: GossipSim) {
    this.#sim = sim;
    sim.listeners.push((e) => {
      if (e.kind !== 'fail') return;
      const n = sim.nodes.get(e.member.name);
      if (n === undefined) return;
      if (n.status === 'crashed' || n.status === 'stopped') return;
      if (n.leaving) return;
      this.falseFailures.push(e);
      const actual = n.core.localMember().incarnation;
      this.#actual.set(e, actual);
      if (e.member.incarnation < actual) this.stale.push(e);
    });
  }

  crash(name: string): void {
    this.#sim.crash(name);
  }

  describe(list: readonly MemberEventRecord[] = this.falseFailures, max = 5): string {
    return list
      .slice(0, max)
      .map((e) => {
        const now = this.#actual.get(e);
        const why = this.stale.includes(e)
          ? `stale: at incarnation ${e.member.incarnation}, already refuted with ${now}; ${e.observer} missed the refutation`
          : `at its current incarnation ${e.member.incarnation}: it could not refute in time`;
        return `${e.at.toFixed(0)} ms: ${e.observer} declared ${e.member.name} failed (${why})`;
      })
      .join('; ');
  }
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
}
