/**
 * Fitting an answer to its transport: Consul's trimUDPResponse / trimTCPResponse (agent/dns.go),
 * rule for rule. Both cut answer records from the end (the answer was shuffled first), keep
 * in the additional section only the records the remaining SRV targets need (syncExtra),
 * and report whether anything was cut; the caller sets TC when `enable_truncate` is on.
 *
 * One deliberate difference: the OPT record is kept apart (Message.edns) and so survives a
 * trim. Consul keeps it among the extra records, where syncExtra drops it whenever an
 * EDNS answer had to be cut.
 *
 * The rules run on {@link TrimRecord}s — a record's encoded size and the names syncExtra
 * follows — so that the same code trims a Message being answered (trimUdp / trimTcp) and an
 * answer assembled from the answer cache's pre-encoded records (trimUdpRecords /
 * trimTcpRecords). Names are not compressed, so a message's size is the sum of its parts.
 */
import {
  DEFAULT_MAX_UDP_SIZE,
  MAX_TCP_RESPONSE_SIZE,
  MAX_UDP_ANSWER_LIMIT,
  MAX_UDP_DATAGRAM_SIZE,
  TCP_MAX_ANSWERS,
  TCP_MAX_SRV_ANSWERS,
} from './constants.js';
import {
  RRType,
  WireError,
  fixedLength,
  recordLength,
  type Message,
  type ResourceRecord,
} from './wire.js';

/** What trimming needs to know of a record. */
export interface TrimRecord {
  /** Its encoded size in bytes (may throw WireError: read only when a message is measured). */
  readonly size: number;
  /** Its owner name, lower-cased. */
  readonly owner: string;
  /** An SRV record's target, lower-cased; else undefined. */
  readonly srvTarget: string | undefined;
  /** A CNAME record's target, lower-cased; else undefined. */
  readonly cnameTarget: string | undefined;
}

/** A message being trimmed: its record sections, and the size of everything else. */
export interface TrimMessage<R extends TrimRecord> {
  /** The sections are replaced, never changed in place. */
  answer: readonly R[];
  authority: readonly R[];
  additional: readonly R[];
  /** Header, question and OPT bytes (may throw WireError: read when the message is measured). */
  fixedLength(): number;
  /** 1 when an OPT record will follow the additional section (it counts towards ARCOUNT). */
  readonly optCount: number;
}

/** The message's encoded size (miekg's Msg.Len, uncompressed). Throws WireError. */
function lengthOf<R extends TrimRecord>(m: TrimMessage<R>): number {
  const counts = Math.max(m.answer.length, m.authority.length, m.additional.length + m.optCount);
  if (counts > 0xffff) throw new WireError(-1, `a section of ${counts} entries`);
  let n = m.fixedLength();
  for (const rr of m.answer) n += rr.size;
  for (const rr of m.authority) n += rr.size;
  for (const rr of m.additional) n += rr.size;
  return n;
}

/**
 * The first additional record per lower-cased owner name (Consul's indexRRs). A few records
 * are searched in order rather than indexed: an answer trimmed to a handful of SRV records
 * looks up a handful of names, cheaper than building a map per answer.
 */
class ExtraIndex<R extends TrimRecord> {
  static readonly SCAN = 32;
  readonly #rrs: readonly R[];
  #map: Map<string, R> | undefined;

  constructor(rrs: readonly R[]) {
    this.#rrs = rrs;
  }

  get(owner: string): R | undefined {
    if (this.#rrs.length <= ExtraIndex.SCAN) {
      for (const rr of this.#rrs) if (rr.owner === owner) return rr;
      return undefined;
    }
    if (this.#map === undefined) {
      this.#map = new Map();
      for (const rr of this.#rrs) if (!this.#map.has(rr.owner)) this.#map.set(rr.owner, rr);
    }
    return this.#map.get(owner);
  }
}

/**
 * Consul's syncExtra: the additional section becomes the records for the SRV targets still
 * in the answer, following CNAMEs, each name once. Non-SRV answers keep no additional data.
 */
function syncExtra<R extends TrimRecord>(index: ExtraIndex<R>, m: TrimMessage<R>): void {
  const extra: R[] = [];
  const resolved = new Set<string>();
  for (const rr of m.answer) {
    let target = rr.srvTarget;
    if (target === undefined) continue;
    while (!resolved.has(target)) {
      resolved.add(target);
      const found = index.get(target);
      if (found === undefined) break;
      extra.push(found);
      if (found.cnameTarget === undefined) break;
      target = found.cnameTarget;
    }
  }
  m.additional = extra;
}

/**
 * Consul's dnsBinaryTruncate: how many of `answers` fit in `maxSize` (stopping early when
 * within 10 bytes of it). Leaves `m.answer` (and the extras) at the last size tried.
 */
function binaryTruncate<R extends TrimRecord>(
  m: TrimMessage<R>,
  answers: readonly R[],
  maxSize: number,
  index: ExtraIndex<R> | undefined,
): number {
  let start = 0;
  let end = answers.length + 1;
  while (end - start > 1) {
    const median = start + Math.floor((end - start) / 2);
    m.answer = answers.slice(0, median);
    if (index !== undefined) syncExtra(index, m);
    const len = lengthOf(m);
    if (len <= maxSize) {
      if (maxSize - len < 10) return median;
      start = median;
    } else {
      end = median;
    }
  }
  return start;
}

/**
 * Consul's trimUDPResponse over {@link TrimRecord}s. `ednsSize` is the client's advertised
 * payload size (undefined without EDNS). Sizes are measured uncompressed, as the answer is
 * sent (dns-packet does not compress names); Consul measures compressed except after the
 * answer-count cut of a 512-byte reply, so near a size limit we may keep fewer records than
 * Consul. Returns true when answer records were cut.
 */
export function trimUdpRecords<R extends TrimRecord>(
  m: TrimMessage<R>,
  ednsSize: number | undefined,
  udpAnswerLimit: number,
): boolean {
  const numAnswers = m.answer.length;
  const index = m.additional.length > 0 ? new ExtraIndex(m.additional) : undefined;
  let maxSize = DEFAULT_MAX_UDP_SIZE;
  if (ednsSize !== undefined && ednsSize > maxSize) maxSize = ednsSize;
  if (maxSize > MAX_UDP_DATAGRAM_SIZE) maxSize = MAX_UDP_DATAGRAM_SIZE;

  const maxAnswers = Math.min(MAX_UDP_ANSWER_LIMIT, udpAnswerLimit);
  if (maxSize === DEFAULT_MAX_UDP_SIZE && numAnswers > maxAnswers) {
    m.answer = m.answer.slice(0, maxAnswers);
    if (index !== undefined) syncExtra(index, m);
  }
  // 8 bytes of UDP header; a single record too large is sent anyway.
  while (m.answer.length > 1 && lengthOf(m) > maxSize - 8) {
    m.authority = [];
    const answers = m.answer;
    if (lengthOf(m) - maxSize > 100) {
      const best = binaryTruncate(m, answers, maxSize, index);
      m.answer = answers.slice(0, best);
    } else {
      m.answer = answers.slice(0, answers.length - 1);
    }
    if (index !== undefined) syncExtra(index, m);
  }
  return m.answer.length < numAnswers;
}

/**
 * Consul's trimTCPResponse over {@link TrimRecord}s: at most 4096 answers (1024 for SRV),
 * then cut until the message fits 65523 bytes. Returns true only when the size loop cut
 * something (the count cut alone does not count, as in Consul).
 */
export function trimTcpRecords<R extends TrimRecord>(m: TrimMessage<R>, qtype: number): boolean {
  const index = m.additional.length > 0 ? new ExtraIndex(m.additional) : undefined;
  const truncateAt = qtype === RRType.SRV ? TCP_MAX_SRV_ANSWERS : TCP_MAX_ANSWERS;
  if (m.answer.length > truncateAt) m.answer = m.answer.slice(0, truncateAt);
  let truncated = false;
  while (m.answer.length > 1 && lengthOf(m) > MAX_TCP_RESPONSE_SIZE) {
    truncated = true;
    m.authority = [];
    const answers = m.answer;
    if (lengthOf(m) - MAX_TCP_RESPONSE_SIZE > 100) {
      const best = binaryTruncate(m, answers, MAX_TCP_RESPONSE_SIZE, index);
      m.answer = answers.slice(0, best);
    } else {
      m.answer = answers.slice(0, answers.length - 1);
    }
    if (index !== undefined) syncExtra(index, m);
  }
  return truncated;
}

/** The names of `rr` that the trimming rules follow (all of TrimRecord but the size). */
export function trimNames(rr: ResourceRecord): Omit<TrimRecord, 'size'> {
  const d = rr.data;
  return {
    owner: rr.name.toLowerCase(),
    srvTarget: d.kind === 'srv' ? d.target.toLowerCase() : undefined,
    cnameTarget: d.kind === 'name' && rr.type === RRType.CNAME ? d.target.toLowerCase() : undefined,
  };
}

/** A ResourceRecord seen by the trimming rules; its size is measured once, when first needed. */
class Sized implements TrimRecord {
  readonly owner: string;
  readonly srvTarget: string | undefined;
  readonly cnameTarget: string | undefined;
  #size = -1;

  constructor(readonly rr: ResourceRecord) {
    ({
      owner: this.owner,
      srvTarget: this.srvTarget,
      cnameTarget: this.cnameTarget,
    } = trimNames(rr));
  }

  get size(): number {
    if (this.#size < 0) this.#size = recordLength(this.rr);
    return this.#size;
  }
}

/** Runs `trim` on `m`'s records and writes the surviving sections back into `m`. */
function onMessage(m: Message, trim: (t: TrimMessage<Sized>) => boolean): boolean {
  let fixed = -1;
  const wrap = (rrs: readonly ResourceRecord[]): Sized[] => rrs.map((rr) => new Sized(rr));
  const t: TrimMessage<Sized> = {
    answer: wrap(m.answer),
    authority: wrap(m.authority),
    additional: wrap(m.additional),
    fixedLength: () => (fixed < 0 ? (fixed = fixedLength(m)) : fixed),
    optCount: m.edns === undefined ? 0 : 1,
  };
  const cut = trim(t);
  const unwrap = (rrs: readonly Sized[]): ResourceRecord[] => rrs.map((s) => s.rr);
  m.answer = unwrap(t.answer);
  m.authority = unwrap(t.authority);
  m.additional = unwrap(t.additional);
  return cut;
}

/** {@link trimUdpRecords} on a Message (its sections are replaced by what survives). */
export function trimUdp(m: Message, ednsSize: number | undefined, udpAnswerLimit: number): boolean {
  return onMessage(m, (t) => trimUdpRecords(t, ednsSize, udpAnswerLimit));
}

/** {@link trimTcpRecords} on a Message (its sections are replaced by what survives). */
export function trimTcp(m: Message, qtype: number): boolean {
  return onMessage(m, (t) => trimTcpRecords(t, qtype));
}
