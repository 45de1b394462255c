/**
 * Lifeguard's Local Health Awareness (memberlist's awareness.go): a score in
 * [0, max − 1] that rises when this node shows signs of being the unhealthy one (missed
 * nacks from indirect probes, failed probes without nack support, having to refute
 * suspicion about itself) and falls with every successful probe. Probe interval and probe
 * timeout are multiplied by score + 1, so a struggling node slows its own failure
 * detection instead of accusing healthy peers.
 */
export class Awareness {
  readonly #max: number;
  #score = 0;

  /** `max` is AwarenessMaxMultiplier: the largest multiplier (score + 1) reachable. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Adds `delta` to the score, clamped to [0, max − 1]. Returns the new score. */
  applyDelta(delta: number): number {
    const s = this.#score + delta;
    this.#score = s < 0 ? 0 : s > this.#max - 1 ? this.#max - 1 : s;
    return this.#score;
  }

  /** The current health score (0 = healthy). */
  get score(): number {
    return this.#score;
  }

  /** Scales a timeout or interval by score + 1. */
  scaleTimeout(ms: number): number {
    return ms * (this.#score + 1);
  }
}
