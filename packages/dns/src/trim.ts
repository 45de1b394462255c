/**
 * Fitting an answer to its transport: Consul's trimUDPResponse / trimTCPResponse (agent/dns.go),
 * rule for rule. Both cut answer records from the end (the answer was shuffled first), keep
 * in the additional section only the records the remaining SRV targets need (syncExtra),
 * and report whether anything was cut; the caller sets TC when `enable_truncate` is on.
 *
 * One deliberate difference: the OPT record is kept apart (Message.edns) and so survives a
 * trim. Consul keeps it among the extra records, where syncExtra drops it whenever an
 * EDNS answer had to be cut.
 */
import {
  DEFAULT_MAX_UDP_SIZE,
  MAX_TCP_RESPONSE_SIZE,
  MAX_UDP_ANSWER_LIMIT,
  MAX_UDP_DATAGRAM_SIZE,
  TCP_MAX_ANSWERS,
  TCP_MAX_SRV_ANSWERS,
} from './constants.js';
import { RRType, messageLength, type Message, type ResourceRecord } from './wire.js';

/** The first additional record per lower-cased owner name (Consul's indexRRs). */
function indexRecords(rrs: readonly ResourceRecord[]): Map<string, ResourceRecord> {
  const index = new Map<string, ResourceRecord>();
  for (const rr of rrs) {
    const key = rr.name.toLowerCase();
    if (!index.has(key)) index.set(key, rr);
  }
  return index;
}

/**
 * Consul's syncExtra: the additional section becomes the records for the SRV targets still
 * in the answer, following CNAMEs, each name once. Non-SRV answers keep no additional data.
 */
function syncExtra(index: ReadonlyMap<string, ResourceRecord>, m: Message): void {
  const extra: ResourceRecord[] = [];
  const resolved = new Set<string>();
  for (const rr of m.answer) {
    if (rr.data.kind !== 'srv') continue;
    let target = rr.data.target.toLowerCase();
    while (!resolved.has(target)) {
      resolved.add(target);
      const found = index.get(target);
      if (found === undefined) break;
      extra.push(found);
      if (found.data.kind !== 'name' || found.type !== RRType.CNAME) break;
      target = found.data.target.toLowerCase();
    }
  }
  m.additional = extra;
}

/**
 * Consul's dnsBinaryTruncate: how many of `answers` fit in `maxSize` (stopping early when
 * within 10 bytes of it). Leaves `m.answer` (and the extras) at the last size tried.
 */
function binaryTruncate(
  m: Message,
  answers: readonly ResourceRecord[],
  maxSize: number,
  index: ReadonlyMap<string, ResourceRecord> | undefined,
): number {
  let start = 0;
  let end = answers.length + 1;
  while (end - start > 1) {
    const median = start + Math.floor((end - start) / 2);
    m.answer = answers.slice(0, median);
    if (index !== undefined) syncExtra(index, m);
    const len = messageLength(m);
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
 * Consul's trimUDPResponse. `ednsSize` is the client's advertised payload size (undefined
 * without EDNS). Sizes are measured uncompressed, as the answer is sent (dns-packet does
 * not compress names); Consul measures compressed except after the answer-count cut of a
 * 512-byte reply, so near a size limit we may keep fewer records than Consul.
 * Returns true when answer records were cut.
 */
export function trimUdp(m: Message, ednsSize: number | undefined, udpAnswerLimit: number): boolean {
  const numAnswers = m.answer.length;
  const index = m.additional.length > 0 ? indexRecords(m.additional) : undefined;
  let maxSize = DEFAULT_MAX_UDP_SIZE;
  if (ednsSize !== undefined && ednsSize > maxSize) maxSize = ednsSize;
  if (maxSize > MAX_UDP_DATAGRAM_SIZE) maxSize = MAX_UDP_DATAGRAM_SIZE;

  const maxAnswers = Math.min(MAX_UDP_ANSWER_LIMIT, udpAnswerLimit);
  if (maxSize === DEFAULT_MAX_UDP_SIZE && numAnswers > maxAnswers) {
    m.answer = m.answer.slice(0, maxAnswers);
    if (index !== undefined) syncExtra(index, m);
  }
  // 8 bytes of UDP header; a single record too large is sent anyway.
  while (m.answer.length > 1 && messageLength(m) > maxSize - 8) {
    m.authority = [];
    const answers = m.answer;
    if (messageLength(m) - maxSize > 100) {
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
 * Consul's trimTCPResponse: at most 4096 answers (1024 for SRV), then cut until the message
 * fits 65523 bytes. Returns true only when the size loop cut something (the count cut alone
 * does not count, as in Consul).
 */
export function trimTcp(m: Message, qtype: number): boolean {
  const index = m.additional.length > 0 ? indexRecords(m.additional) : undefined;
  const truncateAt = qtype === RRType.SRV ? TCP_MAX_SRV_ANSWERS : TCP_MAX_ANSWERS;
  if (m.answer.length > truncateAt) m.answer = m.answer.slice(0, truncateAt);
  let truncated = false;
  while (m.answer.length > 1 && messageLength(m) > MAX_TCP_RESPONSE_SIZE) {
    truncated = true;
    m.authority = [];
    const answers = m.answer;
    if (messageLength(m) - MAX_TCP_RESPONSE_SIZE > 100) {
      const best = binaryTruncate(m, answers, MAX_TCP_RESPONSE_SIZE, index);
      m.answer = answers.slice(0, best);
    } else {
      m.answer = answers.slice(0, answers.length - 1);
    }
    if (index !== undefined) syncExtra(index, m);
  }
  return truncated;
}
