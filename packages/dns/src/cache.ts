/**
 * The answer cache: answers of the domain kept pre-encoded, so that a repeated question is
 * answered without reading the store, building records or encoding them again.
 *
 * What is kept is not a finished packet but what a packet is made of: every record encoded
 * once (names are not compressed, so a record's bytes do not depend on where it lands) and,
 * for a service lookup, each healthy instance's records before the shuffle. Answering from
 * it ({@link renderCached}) redoes, per query, everything that varies between queries, with
 * the same rules and the same code the handler uses: the shuffle (the same draws of the
 * random source), the deduplication of instances, the UDP/TCP trimming (trim.ts), the TC
 * flag, the ID, RD and CD bits, the question as the client spelled it, the OPT record with
 * the client's payload size, and the SOA serial (the clock). So a cached answer is
 * byte-for-byte the answer the handler would build for the same query and random draws.
 *
 * Freshness: an entry records the store it read and a token of the store's state (the
 * highest index of the tables answers read: nodes, services, checks). Any write to them —
 * a registration, a health change — changes the token, and the entry is rebuilt by the next
 * query that asks for it: an answer never outlives a catalog change, as without the cache.
 * Entries that read nothing from the store (addr names, invalid names) stay valid.
 *
 * Keys: the question name exactly as spelled (answers echo the client's spelling, SRV
 * targets included) and the type. So a name asked in several spellings (a resolver's 0x20
 * case randomization) has an entry per spelling; one not asked again is the first evicted.
 *
 * Bounds: at most `maxEntries` entries (default 1024) and `maxBytes` bytes of encoded
 * records plus a fixed charge per record and entry (default 8 MiB); an answer larger than
 * an eighth of `maxBytes` is not kept. Beyond the bounds the least recently used go first,
 * by the second-chance approximation of LRU (a hit only marks its entry, so that reading the
 * cache does not reorder it).
 */
import { shuffle, assembleService, identityOrder, type ServiceParts } from './records.js';
import { trimTcpRecords, trimUdpRecords, type TrimMessage, type TrimRecord } from './trim.js';
import { MAX_TCP_MESSAGE_BYTES } from './constants.js';
import { HEADER_BYTES, RRType, type SimpleQuery } from './wire.js';

/** One record, encoded. */
export interface Segment extends TrimRecord {
  readonly bytes: Uint8Array;
  /** Offset of an SOA record's serial in `bytes` (written per answer), else -1. */
  readonly serialAt: number;
}

/** What an answer is made of: a fixed set of records, or a service's instances. */
export type CachedParts =
  | {
      readonly kind: 'fixed';
      readonly answer: readonly Segment[];
      readonly extra: readonly Segment[];
    }
  | ServiceParts<Segment>;

export interface CachedAnswer {
  /** Whether building it read the store (then it needs a read barrier and a fresh token). */
  readonly readsStore: boolean;
  /** The store it read, and its token then. */
  readonly store: object | undefined;
  readonly token: number;
  readonly rcode: number;
  /** The RA bit (recursors configured). */
  readonly ra: boolean;
  readonly parts: CachedParts;
  /** The authority section: the SOA of a negative answer, or nothing. */
  readonly authority: readonly Segment[];
  /** What the entry is charged against the byte bound. */
  readonly cost: number;
}

/** Per-query inputs of {@link renderCached} that are not in the query's bytes. */
export interface RenderOptions {
  readonly transport: 'udp' | 'tcp';
  readonly random: () => number;
  /** The SOA serial: the clock in seconds. */
  readonly serial: number;
  readonly udpAnswerLimit: number;
  readonly enableTruncate: boolean;
}

/** The OPT record of an answer: root owner, type OPT, the client's size, TTL and RDLENGTH 0. */
const OPT_BYTES = 11;

/**
 * The answer to `query` (parsed as `q`) from a cached entry: header and question from the
 * query, records shuffled, deduplicated and trimmed as the handler does. Undefined when the
 * answer would exceed a TCP message (the handler then answers SERVFAIL itself).
 */
export function renderCached(
  c: CachedAnswer,
  query: Uint8Array,
  q: SimpleQuery,
  o: RenderOptions,
): Uint8Array | undefined {
  let answer: readonly Segment[];
  let extra: readonly Segment[];
  const parts = c.parts;
  if (parts.kind === 'fixed') {
    answer = parts.answer;
    extra = parts.extra;
  } else {
    const order = shuffle(identityOrder(parts.instances.length), o.random);
    ({ answer, extra } = assembleService(parts, order));
  }
  const opt = q.udpSize === undefined ? 0 : 1;
  const fixed = q.questionEnd + opt * OPT_BYTES;
  const m: TrimMessage<Segment> = {
    answer,
    authority: c.authority,
    additional: extra,
    fixedLength: () => fixed,
    optCount: opt,
  };
  const cut =
    o.transport === 'udp'
      ? trimUdpRecords(m, q.udpSize, o.udpAnswerLimit)
      : trimTcpRecords(m, q.qtype);
  let size = fixed;
  for (const s of m.answer) size += s.size;
  for (const s of m.authority) size += s.size;
  for (const s of m.additional) size += s.size;
  if (o.transport === 'tcp' && size > MAX_TCP_MESSAGE_BYTES) return undefined;

  const out = Buffer.allocUnsafe(size);
  // Header (miekg's SetReply + the handler's flags): the query's ID, QR, opcode QUERY, AA,
  // TC when cut and enable_truncate is on, the query's RD and CD, RA, the rcode.
  out[0] = query[0]!;
  out[1] = query[1]!;
  out[2] = 0x80 | 0x04 | (cut && o.enableTruncate ? 0x02 : 0) | (query[2]! & 0x01);
  out[3] = (c.ra ? 0x80 : 0) | (query[3]! & 0x10) | (c.rcode & 0x0f);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(m.answer.length, 6);
  out.writeUInt16BE(m.authority.length, 8);
  out.writeUInt16BE(m.additional.length + opt, 10);
  // The question as the client sent it (its spelling, type and class).
  out.set(query.subarray(HEADER_BYTES, q.questionEnd), HEADER_BYTES);
  let off = q.questionEnd;
  for (const section of [m.answer, m.authority, m.additional]) {
    for (const s of section) {
      out.set(s.bytes, off);
      if (s.serialAt >= 0) out.writeUInt32BE(o.serial >>> 0, off + s.serialAt);
      off += s.bytes.length;
    }
  }
  if (q.udpSize !== undefined) {
    // Consul's setEDNS: the client's payload size, version 0, no flags, no options.
    out[off] = 0;
    out.writeUInt16BE(RRType.OPT, off + 1);
    out.writeUInt16BE(q.udpSize, off + 3);
    out.fill(0, off + 5, off + OPT_BYTES);
  }
  // A Buffer (a Uint8Array), which dgram sends as it is.
  return out;
}

export interface AnswerCacheOptions {
  /** Entries kept (0 turns the cache off). Default 1024. */
  readonly maxEntries?: number;
  /** Bytes kept, see {@link CachedAnswer.cost}. Default 8 MiB. */
  readonly maxBytes?: number;
}

export const DEFAULT_CACHE_ENTRIES = 1024;
export const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;
/** Bookkeeping charged per record and per entry on top of the encoded bytes. */
export const SEGMENT_OVERHEAD = 96;
export const ENTRY_OVERHEAD = 256;

interface Slot {
  readonly answer: CachedAnswer;
  /** Used since it was last passed over by eviction. */
  used: boolean;
}

/** Cached answers by key, bounded by count and bytes, evicting the least recently used. */
export class AnswerCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** In insertion order: eviction looks at the oldest first. */
  readonly #entries = new Map<string, Slot>();
  #bytes = 0;
  /** Counters since creation. */
  readonly stats = { hits: 0, misses: 0, stale: 0, evicted: 0, tooLarge: 0 };

  constructor(o: AnswerCacheOptions = {}) {
    this.maxEntries = o.maxEntries ?? DEFAULT_CACHE_ENTRIES;
    this.maxBytes = o.maxBytes ?? DEFAULT_CACHE_BYTES;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The entry for `key`, marked as used; or undefined. */
  get(key: string): CachedAnswer | undefined {
    const slot = this.#entries.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.answer;
  }

  /** The entry for `key` without marking it used. */
  peek(key: string): CachedAnswer | undefined {
    return this.#entries.get(key)?.answer;
  }

  /** Stores (or replaces) `key`, evicting the least recently used beyond the bounds. */
  set(key: string, c: CachedAnswer): void {
    this.delete(key);
    if (this.maxEntries === 0 || c.cost > this.maxBytes / 8) {
      this.stats.tooLarge++;
      return;
    }
    // Inserted as used, so that it outlives older entries not used since their last pass.
    this.#entries.set(key, { answer: c, used: true });
    this.#bytes += c.cost;
    while (this.#entries.size > this.maxEntries || this.#bytes > this.maxBytes) {
      const [oldest, slot] = this.#entries.entries().next().value as [string, Slot];
      this.#entries.delete(oldest);
      if (slot.used) {
        // Second chance: to the back of the queue, unmarked.
        slot.used = false;
        this.#entries.set(oldest, slot);
        continue;
      }
      this.#bytes -= slot.answer.cost;
      this.stats.evicted++;
    }
  }

  delete(key: string): void {
    const old = this.#entries.get(key);
    if (old === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= old.answer.cost;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

/** What an entry made of these parts and authority records costs (see the bounds above). */
export function costOf(parts: CachedParts, authority: readonly Segment[]): number {
  let cost = ENTRY_OVERHEAD;
  const add = (ss: readonly Segment[]): void => {
    for (const s of ss) cost += s.bytes.length + SEGMENT_OVERHEAD;
  };
  add(authority);
  if (parts.kind === 'fixed') {
    add(parts.answer);
    add(parts.extra);
  } else {
    for (const i of parts.instances) {
      cost += SEGMENT_OVERHEAD;
      add(i.answer);
      add(i.extra);
    }
  }
  return cost;
}
