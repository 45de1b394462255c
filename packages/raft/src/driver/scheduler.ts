/**
 * Time and deferral for the driver, injected: production uses the process's monotonic
 * clock and timers; the simulator uses the test kit's VirtualClock, so the very same driver
 * code runs under deterministic simulation.
 */
export interface Scheduler {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Runs `fn` after the current task, before timers (setImmediate in production). */
  defer(fn: () => void): void;
}

export const systemScheduler: Scheduler = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  defer: (fn) => setImmediate(fn),
};

/** Adapts a clock with timers (e.g. the test kit's VirtualClock) to a Scheduler. */
export function schedulerFromClock(clock: {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: never): void;
}): Scheduler {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h as never),
    defer: (fn) => clock.setTimeout(fn, 0),
  };
}
