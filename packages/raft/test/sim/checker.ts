/**
 * Raft's safety properties, checked by the simulator against every node at every step
 * (Raft paper Figure 3), over the whole run (crashes and restarts included):
 *
 * - Election Safety: at most one leader per term, over all time.
 * - Log Matching: two logs holding an entry with the same index and term hold the same
 *   entry there and are identical before it. Checked by induction: every (index, term)
 *   seen in any log must always carry the same payload and the same predecessor term.
 * - Leader Completeness: a node seen leading a term for the first time holds every entry
 *   committed so far (entries below its snapshot are covered by it).
 * - State Machine Safety: every node applies the same entry at an index, and has the same
 *   state-machine contents after a given index (snapshots restored included).
 * - No acknowledged write lost: a proposal acknowledged at (index, term) is the committed
 *   entry at that index (checked when acknowledged and again at the end).
 *
 * A violation throws {@link InvariantViolation}; the harness stops the run at once.
 */
import { EntryType, type Entry, type NodeId } from '../../src/types.js';
import type { Raft } from '../../src/raft.js';

export class InvariantViolation extends Error {
  constructor(
    readonly property: string,
    message: string,
  ) {
    super(`${property}: ${message}`);
    this.name = 'InvariantViolation';
  }
}

const hashCache = new WeakMap<Uint8Array, number>();

/** FNV-1a of a payload (cached per buffer). */
export function payloadHash(data: Uint8Array): number {
  const c = hashCache.get(data);
  if (c !== undefined) return c;
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  hashCache.set(data, h);
  return h;
}

interface EntryId {
  readonly term: number;
  readonly type: EntryType;
  readonly hash: number;
}

interface CommittedEntry extends EntryId {
  /**
   * The term in which it was seen committed first: the current term of the first node seen
   * holding it at or below its commit index (the committing leader's term, or later).
   */
  readonly commitTerm: number;
}

function sameEntry(a: EntryId, b: EntryId): boolean {
  return a.term === b.term && a.type === b.type && a.hash === b.hash;
}

function describeId(i: number, e: EntryId): string {
  return `${i}@t${e.term}${e.type === EntryType.Config ? ' config' : ''} #${e.hash.toString(16)}`;
}

export class SafetyChecker {
  /** Election Safety: term → leader. */
  readonly leaders = new Map<number, NodeId>();
  /** Committed entries seen in any node's log at or below its commit index. */
  readonly committed = new Map<number, CommittedEntry>();
  maxCommitted = 0;
  /** Log Matching: "index/term" → payload hash and predecessor term. */
  readonly #logIds = new Map<string, { readonly hash: number; prevTerm: number }>();
  /** State Machine Safety: applied index → state-machine digest. */
  readonly #stateAt = new Map<number, string>();
  /** Acknowledged proposals: index → term. */
  readonly acked = new Map<number, number>();
  /** Progress of the incremental scans, per node incarnation (key: node id). */
  readonly #scannedCommit = new Map<NodeId, number>();
  readonly #scannedLog = new Map<NodeId, { last: number; lastTerm: number }>();
  checks = 0;

  /** A node restarted (or was replaced): rescan its log from scratch. */
  forget(id: NodeId): void {
    this.#scannedCommit.delete(id);
    this.#scannedLog.delete(id);
  }

  /** Election Safety and Leader Completeness for a node currently leading. */
  observeLeader(id: NodeId, r: Raft): void {
    const prev = this.leaders.get(r.term);
    if (prev === id) return;
    if (prev !== undefined) {
      throw new InvariantViolation(
        'election safety',
        `term ${r.term} has two leaders: ${prev} and ${id}`,
      );
    }
    this.leaders.set(r.term, id);
    // Leader completeness: the new leader holds every entry committed in an earlier term
    // (a leader of an older term can be elected late — e.g. it stalled with its votes
    // queued — and need not hold what later terms committed).
    const last = r.log.lastIndex();
    const snapIndex = r.log.firstIndex() - 1;
    for (let i = snapIndex; i <= this.maxCommitted; i++) {
      const c = this.committed.get(i);
      if (c === undefined || c.commitTerm >= r.term) continue;
      const t = i > last ? 0 : r.log.termOrZero(i);
      if (t !== c.term) {
        throw new InvariantViolation(
          'leader completeness',
          `node ${id} leads term ${r.term} but holds term ${t} at index ${i}, ` +
            `where ${describeId(i, c)} is committed (its log: snapshot ${snapIndex}, last ${last})`,
        );
      }
    }
  }

  /**
   * Scans what changed in a node's log since the last scan: new committed entries (checked
   * against every other node's) and new (index, term) pairs (checked for log matching).
   */
  scan(id: NodeId, r: Raft): void {
    this.checks++;
    const log = r.log;
    const first = log.firstIndex();
    const committed = log.committed;
    // Committed prefix.
    const from = Math.max(this.#scannedCommit.get(id) ?? 0, first - 1) + 1;
    if (committed >= from) {
      const ents = log.slice(from, committed + 1, Number.POSITIVE_INFINITY);
      for (const e of ents) this.#commit(id, e, r.term);
      this.#scannedCommit.set(id, committed);
    }
    // Log matching over the whole tail that changed: rescan from the first index whose
    // term differs from what we saw last time (a truncation), else from the old end.
    const last = log.lastIndex();
    const seen = this.#scannedLog.get(id);
    let lo = first;
    if (seen !== undefined && seen.last >= first && seen.last <= last) {
      lo = log.termOrZero(seen.last) === seen.lastTerm ? seen.last + 1 : first;
    }
    if (lo <= last) {
      let prevTerm = log.termOrZero(lo - 1);
      for (const e of log.slice(lo, last + 1, Number.POSITIVE_INFINITY)) {
        const key = `${e.index}/${e.term}`;
        const h = payloadHash(e.data);
        const known = this.#logIds.get(key);
        if (known === undefined) this.#logIds.set(key, { hash: h, prevTerm });
        else if (known.prevTerm === 0 && prevTerm !== 0 && known.hash === h) {
          known.prevTerm = prevTerm; // first seen right after a snapshot: now we know
        } else if (
          known.hash !== h ||
          (known.prevTerm !== prevTerm && prevTerm !== 0 && e.index > 1)
        ) {
          throw new InvariantViolation(
            'log matching',
            `node ${id} holds entry ${key} (payload #${h.toString(16)}, previous term ` +
              `${prevTerm}) but another log held ${key} with payload #${known.hash.toString(16)}, ` +
              `previous term ${known.prevTerm}`,
          );
        }
        prevTerm = e.term;
      }
    }
    this.#scannedLog.set(id, { last, lastTerm: log.termOrZero(last) });
  }

  #commit(id: NodeId, e: Entry, observerTerm: number): void {
    const ident: EntryId = { term: e.term, type: e.type, hash: payloadHash(e.data) };
    const known = this.committed.get(e.index);
    if (known === undefined) {
      this.committed.set(e.index, { ...ident, commitTerm: observerTerm });
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      const ack = this.acked.get(e.index);
      if (ack !== undefined && ack !== e.term) this.#lostAck(e.index, ack, ident);
    } else if (!sameEntry(known, ident)) {
      throw new InvariantViolation(
        'state machine safety',
        `node ${id} committed ${describeId(e.index, ident)} where ${describeId(e.index, known)} ` +
          'was committed',
      );
    }
  }

  /** A node (in `term` now) applied an entry to its state machine. */
  onApply(id: NodeId, e: Entry, term: number): void {
    this.#commit(id, e, term);
  }

  /** State Machine Safety: a node's state after `index` (applied, or restored from a snapshot). */
  onState(id: NodeId, index: number, digest: string, how: string): void {
    const known = this.#stateAt.get(index);
    if (known === undefined) this.#stateAt.set(index, digest);
    else if (known !== digest) {
      throw new InvariantViolation(
        'state machine safety',
        `node ${id} has state ${digest} after index ${index} (${how}), another node had ${known}`,
      );
    }
  }

  /** A proposal was acknowledged to a client. */
  onAck(index: number, term: number): void {
    this.acked.set(index, term);
    const c = this.committed.get(index);
    if (c !== undefined && c.term !== term) this.#lostAck(index, term, c);
  }

  #lostAck(index: number, term: number, c: EntryId): never {
    throw new InvariantViolation(
      'acknowledged write lost',
      `a proposal acknowledged at ${index}@t${term} was replaced by committed ${describeId(index, c)}`,
    );
  }

  /** End of run: every acknowledged write is a committed entry (seen by the scans). */
  checkAcked(): void {
    for (const [index, term] of this.acked) {
      const c = this.committed.get(index);
      if (c === undefined) {
        throw new InvariantViolation(
          'acknowledged write lost',
          `a proposal acknowledged at ${index}@t${term} is not among the committed entries`,
        );
      }
      if (c.term !== term) this.#lostAck(index, term, c);
    }
  }

  /** The digest recorded for a state-machine index, if any. */
  stateAt(index: number): string | undefined {
    return this.#stateAt.get(index);
  }
}
