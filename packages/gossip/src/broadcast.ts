/**
 * The transmit-limited broadcast queue (memberlist's TransmitLimitedQueue): membership
 * changes and user events wait here to be piggybacked on probes and gossip packets.
 *
 * - Each broadcast is sent at most retransmitLimit(RetransmitMult, N) times, then dropped.
 * - Least-sent first: packing walks the queue by transmit count ascending; within one
 *   tier, larger messages first, then newer first (memberlist's limitedBroadcast.Less).
 * - A named broadcast (membership news about member X) invalidates queued broadcasts with
 *   the same name: only the newest news about X is worth sending.
 * - The queue is bounded: beyond maxQueueDepth, the most-transmitted (oldest-tier)
 *   broadcasts are dropped first.
 */
import { retransmitLimit } from './scale.js';

export interface BroadcastInput {
  /** Membership news about a member: invalidates older news with the same name. */
  readonly name?: string;
  /** The encoded message. */
  readonly msg: Uint8Array;
  /** Called once, when the broadcast leaves the queue (sent enough, invalidated, pruned). */
  readonly finished?: () => void;
}

interface Item {
  readonly id: number;
  readonly name: string | undefined;
  readonly msg: Uint8Array;
  readonly finished: (() => void) | undefined;
  transmits: number;
}

/** memberlist's ordering: fewer transmits first, then longer first, then newer first. */
function less(a: Item, b: Item): number {
  if (a.transmits !== b.transmits) return a.transmits - b.transmits;
  if (a.msg.length !== b.msg.length) return b.msg.length - a.msg.length;
  return b.id - a.id;
}

export class BroadcastQueue {
  readonly #retransmitMult: number;
  readonly #numNodes: () => number;
  readonly #maxDepth: number;
  #items: Item[] = [];
  #nextId = 1;

  constructor(retransmitMult: number, numNodes: () => number, maxDepth = Infinity) {
    this.#retransmitMult = retransmitMult;
    this.#numNodes = numNodes;
    this.#maxDepth = maxDepth;
  }

  get length(): number {
    return this.#items.length;
  }

  /** The current per-broadcast transmit limit. */
  transmitLimit(): number {
    return retransmitLimit(this.#retransmitMult, this.#numNodes());
  }

  /** Queues a broadcast, invalidating older ones of the same name, pruning beyond depth. */
  queue(b: BroadcastInput): void {
    if (b.name !== undefined) {
      const kept: Item[] = [];
      for (const it of this.#items) {
        if (it.name === b.name) it.finished?.();
        else kept.push(it);
      }
      this.#items = kept;
    }
    this.#items.push({
      id: this.#nextId++,
      name: b.name,
      msg: b.msg,
      finished: b.finished,
      transmits: 0,
    });
    if (this.#items.length > this.#maxDepth) this.prune(this.#maxDepth);
  }

  /** Keeps at most `maxRetain` broadcasts, dropping the most-transmitted (then oldest). */
  prune(maxRetain: number): void {
    if (this.#items.length <= maxRetain) return;
    this.#items.sort(less);
    const dropped = this.#items.splice(maxRetain);
    for (const it of dropped) it.finished?.();
  }

  /**
   * Takes broadcasts to fill `limit` bytes, each costing `overhead` + its length, least-sent
   * first (within a tier, the largest that still fits). Every returned broadcast has its
   * transmit count incremented; those reaching the limit leave the queue. At most
   * `maxCount` broadcasts are taken (a compound packet holds 255 parts).
   */
  getBroadcasts(overhead: number, limit: number, maxCount = Infinity): Uint8Array[] {
    if (this.#items.length === 0) return [];
    const transmitLimit = this.transmitLimit();
    this.#items.sort(less);
    const out: Uint8Array[] = [];
    const keep: Item[] = [];
    let used = 0;
    for (const it of this.#items) {
      const free = limit - used - overhead;
      if (out.length < maxCount && free > 0 && it.msg.length <= free) {
        used += overhead + it.msg.length;
        out.push(it.msg);
        it.transmits++;
        if (it.transmits >= transmitLimit) {
          it.finished?.();
          continue;
        }
      }
      keep.push(it);
    }
    this.#items = keep;
    return out;
  }

  /** Drops everything (calling finished hooks). */
  reset(): void {
    const items = this.#items;
    this.#items = [];
    for (const it of items) it.finished?.();
  }

  /** For tests and diagnostics: (name, transmits, size) in send order. */
  snapshot(): { name: string | undefined; transmits: number; size: number }[] {
    return [...this.#items]
      .sort(less)
      .map((it) => ({ name: it.name, transmits: it.transmits, size: it.msg.length }));
  }
}
