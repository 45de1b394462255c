/**
 * How timeouts and limits scale with the cluster size N: memberlist's util.go formulas,
 * ported exactly (including its integer truncations) so that its tables of numbers hold.
 */

/**
 * memberlist's suspicionTimeout: SuspicionMult × max(1, log10(max(1, N))) × ProbeInterval.
 * The node scale is truncated to thousandths as memberlist does (it multiplies by 1000 and
 * converts to an integer Duration): N = 50, mult 3, 1 s → 3 × 1.698 s = 5.094 s.
 * This is the *minimum* suspicion timeout; the maximum is SuspicionMaxTimeoutMult × this.
 */
export function suspicionTimeout(suspicionMult: number, n: number, intervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return (suspicionMult * Math.trunc(nodeScale * 1000) * intervalMs) / 1000;
}

/**
 * memberlist's retransmitLimit: RetransmitMult × ceil(log10(N + 1)). How many times one
 * broadcast is piggybacked before it leaves the queue (N = 10, mult 4 → 8).
 */
export function retransmitLimit(retransmitMult: number, n: number): number {
  const nodeScale = Math.ceil(Math.log10(n + 1));
  return retransmitMult * nodeScale;
}

/** memberlist's pushPullScaleThreshold: clusters up to this size sync at the base interval. */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

/**
 * memberlist's pushPullScale: above 32 nodes the push-pull interval grows by one base
 * interval each time N doubles (33–64 → ×2, 65–128 → ×3, …), so that the total TCP
 * state-sync load stays roughly flat as the cluster grows.
 */
export function pushPullScale(intervalMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return multiplier * intervalMs;
}
