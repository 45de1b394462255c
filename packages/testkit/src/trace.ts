/**
 * A run's trace: every delivered message, fault and notable event as one line. Lines feed
 * a running SHA-256, so two runs with the same seed can be compared by hash alone, while
 * only the most recent lines are kept in memory for the failure report.
 */
import { createHash, type Hash } from 'node:crypto';

export interface TraceOptions {
  /** How many recent lines to keep for {@link Trace.tail}; 0 keeps none. Default 200. */
  keep?: number;
  /** Also write each line to this sink (e.g. `console.log` when replaying a seed). */
  sink?: (line: string) => void;
}

export class Trace {
  readonly #hash: Hash = createHash('sha256');
  readonly #keep: number;
  readonly #ring: string[] = [];
  readonly #sink: ((line: string) => void) | undefined;
  #count = 0;

  constructor(options: TraceOptions = {}) {
    this.#keep = options.keep ?? 200;
    this.#sink = options.sink;
  }

  /**
   * Records one event. `timeMs` is virtual time; it is printed with microsecond precision
   * so that the hash does not depend on floating-point formatting beyond that.
   */
  record(timeMs: number, kind: string, detail = ''): void {
    const line = `${timeMs.toFixed(3)} ${kind}${detail === '' ? '' : ' ' + detail}`;
    this.#hash.update(line);
    this.#hash.update('\n');
    this.#count++;
    if (this.#keep > 0) {
      if (this.#ring.length === this.#keep) this.#ring.shift();
      this.#ring.push(line);
    }
    this.#sink?.(line);
  }

  /** Number of lines recorded. */
  get length(): number {
    return this.#count;
  }

  /** Hex SHA-256 of every line so far (the trace can keep growing afterwards). */
  hash(): string {
    return this.#hash.copy().digest('hex');
  }

  /** The most recent lines, oldest first (at most `keep`). */
  tail(n = this.#keep): string[] {
    return this.#ring.slice(Math.max(0, this.#ring.length - n));
  }
}
