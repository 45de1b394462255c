/**
 * Callers waiting for the next occurrence of something (a user event, say), each until its
 * own signal ends the wait. Every waiter is removed when it settles, however it settles, so
 * abandoned waits leave nothing behind.
 */
export class Waiters {
  readonly #wakers = new Set<() => void>();

  /** Resolves every current waiter with true. */
  wake(): void {
    for (const fn of [...this.#wakers]) fn();
  }

  /** Resolves true at the next {@link wake}, false if `signal` aborts first (or has). */
  wait(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (woken: boolean): void => {
        this.#wakers.delete(onWake);
        signal.removeEventListener('abort', onAbort);
        resolve(woken);
      };
      const onWake = (): void => done(true);
      const onAbort = (): void => done(false);
      this.#wakers.add(onWake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Waiters currently parked. */
  get size(): number {
    return this.#wakers.size;
  }
}
