/**
 * The core's read view of durable state (etcd's `Storage`), and an in-memory implementation
 * for tests and the simulator.
 *
 * The core only *reads* storage, synchronously; the driver *writes* it while handling a
 * Ready (append entries, set hard state, apply snapshot) and compacts it. A durable
 * implementation keeps an in-memory index (and ideally a cache of recent entries) so these
 * calls stay synchronous.
 */
import {
  errCompacted,
  errSnapOutOfDate,
  errUnavailable,
  invariant,
  RaftInvariantError,
} from './errors.js';
import {
  EMPTY_CONF_STATE,
  EMPTY_HARD_STATE,
  EntryType,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from './types.js';

export interface InitialState {
  readonly hardState: HardState;
  /** Membership as of the storage's snapshot (the core replays Config entries after it). */
  readonly confState: ConfState;
}

export interface Storage {
  /** The persisted hard state and the snapshot's membership, read once at start-up. */
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), at most `maxBytes` of payload but always at least one entry.
   * Throws ERR_COMPACTED if lo ≤ the snapshot index, ERR_UNAVAILABLE if hi > lastIndex + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * Term of entry i, for i in [firstIndex - 1, lastIndex] (firstIndex - 1 is the snapshot's
   * index). Throws ERR_COMPACTED below that, ERR_UNAVAILABLE above lastIndex.
   */
  term(i: number): number;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot index when the log is empty). */
  lastIndex(): number;
  /**
   * The most recent snapshot (to send to a lagging follower). May throw
   * ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE while one is being made; the core retries later.
   */
  snapshot(): Snapshot;
}

/** Payload size of an entry: what flow-control and message-size limits count. */
export function entryPayloadSize(e: Entry): number {
  return e.data.length;
}

/** The longest prefix of `ents` whose payload fits `maxBytes`, but at least one entry. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entryPayloadSize(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entryPayloadSize(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/**
 * In-memory Storage. `ents[0]` is a dummy entry carrying the snapshot's (index, term), as in
 * etcd's MemoryStorage.
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot;
  #ents: Entry[];

  /** An empty log whose snapshot at index 0 holds `confState` (default: no members). */
  constructor(confState: ConfState = EMPTY_CONF_STATE) {
    this.#snapshot = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array(0) };
    this.#ents = [{ index: 0, term: 0, type: EntryType.Normal, data: new Uint8Array(0) }];
  }

  initialState(): InitialState {
    return { hardState: this.#hardState, confState: this.#snapshot.metadata.confState };
  }

  get hardState(): HardState {
    return this.#hardState;
  }

  setHardState(hs: HardState): void {
    this.#hardState = hs;
  }

  #offset(): number {
    return this.#ents[0]!.index;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#offset();
    if (lo <= offset) throw errCompacted();
    if (hi > this.lastIndex() + 1) throw errUnavailable();
    if (lo >= hi) return [];
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(i: number): number {
    const offset = this.#offset();
    if (i < offset) throw errCompacted();
    const e = this.#ents[i - offset];
    if (e === undefined) throw errUnavailable();
    return e.term;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces all contents with a snapshot received from the leader (Ready.snapshot). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index < this.#snapshot.metadata.index) throw errSnapOutOfDate();
    this.#snapshot = snap;
    this.#ents = [
      {
        index: snap.metadata.index,
        term: snap.metadata.term,
        type: EntryType.Normal,
        data: new Uint8Array(0),
      },
    ];
  }

  /**
   * Records a snapshot of the state machine at applied index `i` (≤ lastIndex) with its
   * membership; entries are kept until {@link compact}.
   */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.#snapshot.metadata.index) throw errSnapOutOfDate();
    if (i > this.lastIndex()) {
      throw new RaftInvariantError(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    }
    this.#snapshot = { metadata: { index: i, term: this.term(i), confState }, data };
    return this.#snapshot;
  }

  /** Discards entries up to and including `compactIndex` (which must be ≤ the snapshot's
   * index when a follower may later need them: keep trailing entries by passing less). */
  compact(compactIndex: number): void {
    const offset = this.#offset();
    if (compactIndex <= offset) throw errCompacted();
    invariant(
      compactIndex <= this.lastIndex(),
      () => `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`,
    );
    const i = compactIndex - offset;
    const head = this.#ents[i]!;
    this.#ents = [
      { index: head.index, term: head.term, type: EntryType.Normal, data: new Uint8Array(0) },
      ...this.#ents.slice(i + 1),
    ];
  }

  /** Appends entries (Ready.entries), truncating any conflicting suffix first. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all already compacted
    const ents = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const offset = ents[0]!.index - this.#offset();
    invariant(
      offset <= this.#ents.length,
      () => `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0]!.index}]`,
    );
    this.#ents = [...this.#ents.slice(0, offset), ...ents];
  }
}
