/**
 * Where blocking reads wait between a query and the change that answers it.
 *
 * Costs that matter with thousands parked on one server (every client of a key, each on its own
 * connection):
 * - A parked read holds one timer (its `?wait=` deadline), one `abort` listener on the client's
 *   signal and its watch set; all three are released the moment it ends, however it ends.
 *   `AbortSignal.any([AbortSignal.timeout(ms), client])` is not used: in Node 20 the composite
 *   holds its sources only weakly, so a full GC while parked collects the timeout signal, whose
 *   timer is then cleared and the read is no longer bounded by its wait; and the timer of one
 *   that did end stays armed until the GC finds it.
 * - One commit can wake all of them at once. Resuming them in the microtask burst that follows
 *   the commit would hold the event loop for the whole burst (no socket read or close, no Raft
 *   heartbeat) and keep every answer's garbage alive until its end. Woken reads are resumed in
 *   turns instead: at most `wakeBatch` per event-loop turn (setImmediate), in the order they woke.
 */
import type { WatchSet } from '@trellis/state';
import { BLOCKING_WAKE_BATCH } from './constants.js';

/** How a parked read ended. */
export type ParkOutcome = 'changed' | 'timeout' | 'gone';

export interface ParkingStats {
  /** Reads parked now: each holds a timer, a listener and a watch set. */
  readonly parked: number;
  /** Reads woken by a change and waiting for their turn to resume. */
  readonly waking: number;
}

const cancelWatch = (ws: WatchSet): void => ws.cancel();

export class Parking {
  readonly #wakeBatch: number;
  #parked = 0;
  /** Resumers of woken reads, FIFO from #head; drained by #drain, one batch per turn. */
  #woken: Array<(() => void) | undefined> = [];
  #head = 0;
  #scheduled = false;

  /** `wakeBatch`: reads resumed per event-loop turn (a positive integer). */
  constructor(wakeBatch: number = BLOCKING_WAKE_BATCH) {
    if (!Number.isSafeInteger(wakeBatch) || wakeBatch < 1) {
      throw new RangeError('wakeBatch must be a positive integer');
    }
    this.#wakeBatch = wakeBatch;
  }

  stats(): ParkingStats {
    return { parked: this.#parked, waking: this.#woken.length - this.#head };
  }

  /**
   * Parks on `ws` (already filled by a query) until it fires ('changed', resolved on the read's
   * turn), `deadline` (a `performance.now()` time) passes ('timeout') or `client` aborts
   * ('gone'). When this resolves the set has fired or is cancelled, the timer is cleared and the
   * listener removed.
   */
  async wait(ws: WatchSet, deadline: number, client: AbortSignal): Promise<ParkOutcome> {
    const ms = Math.ceil(deadline - performance.now());
    if (ms <= 0 || client.aborted) {
      ws.cancel();
      return client.aborted ? 'gone' : 'timeout';
    }
    // Unref'd, as AbortSignal.timeout's: a parked read alone does not keep the process up.
    const timer = setTimeout(cancelWatch, ms, ws).unref();
    this.#parked++;
    let fired: boolean;
    try {
      fired = await ws.wait(client);
    } finally {
      clearTimeout(timer);
      this.#parked--;
    }
    if (client.aborted) return 'gone';
    if (!fired) return 'timeout';
    await new Promise<void>((resolve) => this.#enqueue(resolve));
    return client.aborted ? 'gone' : 'changed';
  }

  #enqueue(resume: () => void): void {
    this.#woken.push(resume);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  /** Resumes one batch; the reads' continuations run in the microtasks right after this. */
  readonly #drain = (): void => {
    const end = Math.min(this.#head + this.#wakeBatch, this.#woken.length);
    while (this.#head < end) {
      const resume = this.#woken[this.#head]!;
      this.#woken[this.#head++] = undefined;
      resume();
    }
    if (this.#head < this.#woken.length) {
      setImmediate(this.#drain);
      return;
    }
    this.#woken = [];
    this.#head = 0;
    this.#scheduled = false;
  };
}
