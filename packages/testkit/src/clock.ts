/**
 * Time, injected. Production code takes a {@link Clock}; tests and the simulator hand it a
 * {@link VirtualClock}, whose time moves only when the test says so.
 */

export interface TimerHandle {
  readonly id: number;
}

/** The narrow clock interface that cores' drivers consume. Times are milliseconds. */
export interface Clock {
  /** Monotonic milliseconds (never goes backwards; unrelated to the wall clock). */
  now(): number;
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

interface Timer extends TimerHandle {
  readonly at: number;
  /** Tie-breaker: timers due at the same instant fire in the order they were scheduled. */
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** A min-heap of timers ordered by (at, seq). */
class TimerHeap {
  readonly #items: Timer[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): Timer | undefined {
    return this.#items[0];
  }

  push(t: Timer): void {
    const a = this.#items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): Timer | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(x: Timer, y: Timer): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

/**
 * A virtual clock with timers. Events due at the same instant run in the order they were
 * scheduled, so a run is a pure function of its inputs. Callbacks may schedule and cancel
 * timers; a timer scheduled with delay 0 from a callback runs after the current one.
 */
export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  #live = 0;
  readonly #heap = new TimerHeap();

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
      throw new RangeError(`setTimeout: delay must be a finite number ≥ 0, got ${delayMs}`);
    }
    return this.at(this.#now + delayMs, fn);
  }

  /** Schedules fn at an absolute time (not before now). */
  at(timeMs: number, fn: () => void): TimerHandle {
    const t: Timer = {
      id: ++this.#seq,
      seq: this.#seq,
      at: Math.max(timeMs, this.#now),
      fn,
      cancelled: false,
    };
    this.#heap.push(t);
    this.#live++;
    return t;
  }

  clearTimeout(handle: TimerHandle): void {
    const t = handle as Timer;
    if (!t.cancelled) {
      t.cancelled = true;
      this.#live--;
    }
  }

  /** Number of timers scheduled and not yet fired or cancelled. */
  get pending(): number {
    return this.#live;
  }

  /** Time of the next live timer, or undefined when none is pending. */
  nextAt(): number | undefined {
    this.#dropCancelled();
    return this.#heap.peek()?.at;
  }

  /** Jumps to the next live timer and runs it. Returns false when none is pending. */
  step(): boolean {
    this.#dropCancelled();
    const t = this.#heap.pop();
    if (t === undefined) return false;
    this.#fire(t);
    return true;
  }

  /** Runs every timer due within the next `ms` milliseconds, then sets now to now + ms. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance: ms must be ≥ 0, got ${ms}`);
    this.runUntilTime(this.#now + ms);
  }

  /** Runs every timer due at or before `timeMs`, then sets now to timeMs. */
  runUntilTime(timeMs: number): void {
    for (;;) {
      this.#dropCancelled();
      const t = this.#heap.peek();
      if (t === undefined || t.at > timeMs) break;
      this.#heap.pop();
      this.#fire(t);
    }
    if (timeMs > this.#now) this.#now = timeMs;
  }

  /**
   * Steps timers until `done()` holds (checked before each step) or `limitMs` of virtual
   * time has passed. Returns whether the condition was met: the condition-waiting
   * counterpart of a fixed sleep.
   */
  runUntil(done: () => boolean, limitMs: number): boolean {
    const deadline = this.#now + limitMs;
    for (;;) {
      if (done()) return true;
      const next = this.nextAt();
      if (next === undefined || next > deadline) {
        this.#now = Math.max(this.#now, deadline);
        return done();
      }
      this.step();
    }
  }

  #fire(t: Timer): void {
    this.#live--;
    t.cancelled = true;
    this.#now = t.at;
    t.fn();
  }

  #dropCancelled(): void {
    while (this.#heap.size > 0 && this.#heap.peek()!.cancelled) this.#heap.pop();
  }
}
