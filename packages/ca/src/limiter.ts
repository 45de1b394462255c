/**
 * The CSR signing limiter (Consul's connectSignRateLimiter, agent/consul/leader_connect_ca.go),
 * without clocks or timers: the caller passes the time.
 *
 * As in Consul, one of two modes applies:
 * - `maxPerSecond` > 0 (`csr_max_per_second`, default 50): a token bucket with a burst of 1
 *   — a hard rate. Consul waits up to {@link CSR_LIMIT_WAIT_MS} for a token before
 *   refusing; {@link SigningLimiter.msUntilAvailable} tells the caller how long that would be.
 * - `maxPerSecond` = 0 and `maxConcurrent` > 0 (`csr_max_concurrent`): at most that many
 *   signings in flight. `maxConcurrent` is ignored while a rate is set.
 * Both 0: unlimited.
 *
 * Call `release()` once for every successful `tryAcquire()`, when the signing finishes.
 * A refusal becomes {@link ERR_RATE_LIMITED} at the HTTP layer.
 */
import { CaError } from './errors.js';

/** Consul's structs.ErrRateLimited text (agent/structs/errors.go), returned with HTTP 429. */
export const ERR_RATE_LIMITED = 'Rate limit reached, try again later';
/** How long Consul lets a CSR wait for a token or a slot before refusing it (csrLimitWait). */
export const CSR_LIMIT_WAIT_MS = 500;
/** Consul's default `csr_max_per_second`. */
export const DEFAULT_CSR_MAX_PER_SECOND = 50;

export interface SigningLimiterOptions {
  /** Signings per second; 0 = no rate limit. Default 50. */
  maxPerSecond?: number;
  /** Signings in flight when `maxPerSecond` is 0; 0 = no limit. Default 0. */
  maxConcurrent?: number;
  /** Bucket size for the rate limit. Default 1 (Consul's hard limit). */
  burst?: number;
}

/** Slack for floating-point refill arithmetic. */
const EPSILON = 1e-9;

export type LimiterMode = 'rate' | 'concurrency' | 'unlimited';

export class SigningLimiter {
  private maxPerSecond = DEFAULT_CSR_MAX_PER_SECOND;
  private maxConcurrent = 0;
  private burst = 1;
  private tokens = 1;
  private last: number | undefined;
  private active = 0;

  constructor(opts: SigningLimiterOptions = {}) {
    this.reconfigure(opts);
  }

  /** Changes the limits (a CA config update). A changed rate starts with a full bucket. */
  reconfigure(opts: SigningLimiterOptions): void {
    const rate = opts.maxPerSecond ?? DEFAULT_CSR_MAX_PER_SECOND;
    const concurrent = opts.maxConcurrent ?? 0;
    const burst = opts.burst ?? 1;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) {
      throw new CaError(
        'bad-config',
        `csr_max_per_second must be a number ≥ 0, got ${String(rate)}`,
      );
    }
    if (!Number.isSafeInteger(concurrent) || concurrent < 0) {
      throw new CaError(
        'bad-config',
        `csr_max_concurrent must be an integer ≥ 0, got ${String(concurrent)}`,
      );
    }
    if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1) {
      throw new CaError('bad-config', `burst must be a number ≥ 1, got ${String(burst)}`);
    }
    if (rate !== this.maxPerSecond || burst !== this.burst) {
      this.tokens = burst;
      this.last = undefined;
    }
    this.maxPerSecond = rate;
    this.maxConcurrent = concurrent;
    this.burst = burst;
  }

  get mode(): LimiterMode {
    if (this.maxPerSecond > 0) return 'rate';
    if (this.maxConcurrent > 0) return 'concurrency';
    return 'unlimited';
  }

  /** Signings acquired and not yet released. */
  get inFlight(): number {
    return this.active;
  }

  private refill(nowMs: number): void {
    if (this.last === undefined || nowMs < this.last) {
      // First use, or the clock went backwards: start counting from here.
      this.last = nowMs;
      return;
    }
    this.tokens = Math.min(
      this.burst,
      this.tokens + ((nowMs - this.last) * this.maxPerSecond) / 1000,
    );
    this.last = nowMs;
  }

  /** Takes a token (or a slot) if one is free at `nowMs`. */
  tryAcquire(nowMs: number): boolean {
    switch (this.mode) {
      case 'rate':
        this.refill(nowMs);
        if (this.tokens < 1 - EPSILON) return false;
        this.tokens = Math.max(0, this.tokens - 1);
        break;
      case 'concurrency':
        if (this.active >= this.maxConcurrent) return false;
        break;
      case 'unlimited':
        break;
    }
    this.active++;
    return true;
  }

  /** Ends a signing begun with a successful tryAcquire. */
  release(): void {
    if (this.active > 0) this.active--;
  }

  /**
   * Milliseconds until `tryAcquire` can succeed: 0 if it can now; in concurrency mode with
   * every slot taken, Infinity (it depends on a release, not on time).
   */
  msUntilAvailable(nowMs: number): number {
    switch (this.mode) {
      case 'rate': {
        this.refill(nowMs);
        if (this.tokens >= 1 - EPSILON) return 0;
        return Math.ceil(((1 - this.tokens) * 1000) / this.maxPerSecond - EPSILON);
      }
      case 'concurrency':
        return this.active < this.maxConcurrent ? 0 : Infinity;
      case 'unlimited':
        return 0;
    }
  }
}
