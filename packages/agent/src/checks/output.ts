/**
 * Bounding check output, the three ways Consul does it:
 *
 * - TTL updates (CheckTTL.SetStatus): the first OutputMaxSize bytes, then
 *   ` ... (captured N of M bytes)` — {@link truncateOutput}.
 * - Script output (CheckMonitor, via a circular buffer): the last OutputMaxSize bytes, preceded
 *   by `Captured N of M bytes\n...\n` when anything was dropped — {@link OutputTail}.
 * - HTTP bodies: at most OutputMaxSize bytes of the body, no note — {@link utf8Prefix}.
 *
 * Sizes are bytes of UTF-8. Cuts never split a character (Consul's do; a split character would
 * reach the catalog as U+FFFD).
 */
import { DEFAULT_OUTPUT_MAX } from './constants.js';

export { DEFAULT_OUTPUT_MAX };

/** The definition's OutputMaxSize, or the default when it is not a positive number (Consul). */
export function outputMax(configured: number): number {
  return Number.isFinite(configured) && configured >= 1
    ? Math.floor(configured)
    : DEFAULT_OUTPUT_MAX;
}

/** The longest prefix of `buf` of at most `max` bytes that does not end inside a character. */
export function utf8Prefix(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let end = Math.max(0, max);
  // buf[end] is the first byte left out; while it continues a character, that character
  // started inside the prefix and must go too (at most 3 continuation bytes in UTF-8).
  for (let i = 0; i < 3 && end > 0 && (buf[end]! & 0xc0) === 0x80; i++) end--;
  return buf.subarray(0, end);
}

/**
 * Consul's TTL truncation: output longer than `max` bytes keeps its first bytes and gains
 * ` ... (captured <kept> of <total> bytes)`.
 */
export function truncateOutput(s: string, max: number): string {
  const limit = outputMax(max);
  const total = Buffer.byteLength(s);
  if (total <= limit) return s;
  const head = utf8Prefix(Buffer.from(s), limit);
  return `${head.toString()} ... (captured ${head.length} of ${total} bytes)`;
}

/**
 * A circular buffer keeping the last `size` bytes written (Consul's circbuf for script output).
 * Memory is bounded by `size` whatever is written.
 */
export class OutputTail {
  readonly #buf: Buffer;
  #pos = 0;
  #full = false;
  #total = 0;

  constructor(readonly size: number) {
    this.#buf = Buffer.alloc(outputMax(size));
  }

  /** Bytes written so far (kept or not). */
  get total(): number {
    return this.#total;
  }

  write(chunk: Buffer): void {
    this.#total += chunk.length;
    const cap = this.#buf.length;
    if (chunk.length >= cap) {
      chunk.copy(this.#buf, 0, chunk.length - cap);
      this.#pos = 0;
      this.#full = true;
      return;
    }
    const first = Math.min(chunk.length, cap - this.#pos);
    chunk.copy(this.#buf, this.#pos, 0, first);
    if (first < chunk.length) {
      chunk.copy(this.#buf, 0, first);
      this.#pos = chunk.length - first;
      this.#full = true;
    } else {
      this.#pos += first;
      if (this.#pos === cap) {
        this.#pos = 0;
        this.#full = true;
      }
    }
  }

  /** The kept bytes, oldest first. */
  bytes(): Buffer {
    if (!this.#full) return this.#buf.subarray(0, this.#pos);
    return Buffer.concat([this.#buf.subarray(this.#pos), this.#buf.subarray(0, this.#pos)]);
  }

  /** The kept output as text, with Consul's `Captured N of M bytes\n...\n` note when cut. */
  text(): string {
    let kept = this.bytes();
    if (this.#total <= kept.length) return kept.toString();
    // The oldest kept byte may be the middle of a character: drop its continuation bytes.
    let start = 0;
    while (start < 3 && start < kept.length && (kept[start]! & 0xc0) === 0x80) start++;
    kept = kept.subarray(start);
    return `Captured ${kept.length} of ${this.#total} bytes\n...\n${kept.toString()}`;
  }
}

export { formatGoDuration } from '../http/duration.js';
