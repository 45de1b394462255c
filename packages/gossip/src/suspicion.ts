/**
 * Lifeguard's dynamic suspicion timeout (memberlist's suspicion.go), as a pure object: the
 * owner asks for {@link Suspicion.deadline} and compares it with `now` on every tick.
 *
 * A suspicion starts with the maximum timeout when k ≥ 1 independent confirmations are
 * expected (the minimum otherwise). Each new confirmation, from a member not heard from
 * before, pulls the deadline in:
 *
 *     timeout(n) = max(min, max − (log(n + 1) / log(k + 1)) × (max − min))
 *
 * truncated to whole milliseconds as memberlist does, so with k confirmations the timeout
 * reaches min. Confirmations beyond k are ignored (and not re-gossiped).
 */
export class Suspicion {
  /** Confirmations expected; 0 means "use min right away". */
  readonly k: number;
  readonly min: number;
  readonly max: number;
  /** When the suspicion started (ms). */
  readonly start: number;
  /**
   * The final check (see GossipCore): 'none' until it starts (one check window before the
   * deadline), 'running' while the last direct + indirect probe is out, 'failed' once it
   * got no answer (only then may the deadline declare the member dead). A passed check
   * ends the suspicion instead.
   */
  check: 'none' | 'running' | 'failed' = 'none';
  /** When the final check failed (death is declared at max(deadline, this)). */
  checkFailedAt = 0;
  /** Independent confirmations received so far (the first accuser excluded). */
  #n = 0;
  readonly #confirmations = new Set<string>();

  constructor(from: string, k: number, min: number, max: number, start: number) {
    this.k = k;
    this.min = min;
    this.max = max;
    this.start = start;
    this.#confirmations.add(from);
  }

  get confirmations(): number {
    return this.#n;
  }

  /**
   * Registers a confirmation from `from`. Returns true when it was new and counted (the
   * caller then re-gossips the suspect message), false when a duplicate or beyond k.
   */
  confirm(from: string): boolean {
    if (this.#n >= this.k) return false;
    if (this.#confirmations.has(from)) return false;
    this.#confirmations.add(from);
    this.#n++;
    return true;
  }

  /** Total timeout for the current number of confirmations. */
  timeout(): number {
    if (this.k < 1) return this.min;
    return suspicionTimeoutAfter(this.#n, this.k, this.min, this.max);
  }

  /** Absolute time at which the suspected member is declared dead. */
  deadline(): number {
    return this.start + this.timeout();
  }

  /** memberlist's remainingSuspicionTime for an elapsed time (may be negative). */
  remaining(now: number): number {
    return this.deadline() - now;
  }
}

/**
 * memberlist's remainingSuspicionTime without the elapsed part: the total timeout after n
 * confirmations out of k expected, floored to whole milliseconds, never below min.
 */
export function suspicionTimeoutAfter(n: number, k: number, min: number, max: number): number {
  const frac = Math.log(n + 1) / Math.log(k + 1);
  const raw = max - frac * (max - min);
  const timeout = Math.floor(raw);
  return timeout < min ? min : timeout;
}
