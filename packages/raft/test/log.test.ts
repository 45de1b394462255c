/** Unit tests: unstable tail bookkeeping and the RaftLog (append, conflicts, commit, apply). */
import test from 'ava';
import { RaftLog, Unstable } from '../src/log.js';
import { MemoryStorage } from '../src/storage.js';
import { EntryType, type Entry, type Snapshot } from '../src/types.js';
import { RaftError, RaftInvariantError } from '../src/errors.js';

const ent = (index: number, term: number, data = ''): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new TextEncoder().encode(data),
});
const ents = (from: number, terms: number[]): Entry[] => terms.map((t, i) => ent(from + i, t));
const ids = (es: readonly Entry[]): string => es.map((e) => `${e.term}/${e.index}`).join(' ');
const snap = (index: number, term: number): Snapshot => ({
  metadata: { index, term, confState: { voters: [1], learners: [] } },
  data: new Uint8Array(0),
});

test('unstable: append, truncate in the middle, replace all', (t) => {
  const u = new Unstable(5);
  u.truncateAndAppend(ents(5, [1, 1, 1]));
  t.is(ids(u.entries), '1/5 1/6 1/7');
  u.truncateAndAppend(ents(8, [1])); // contiguous
  t.is(u.maybeLastIndex(), 8);
  u.truncateAndAppend(ents(7, [2, 2])); // truncate at 7
  t.is(ids(u.entries), '1/5 1/6 2/7 2/8');
  u.truncateAndAppend(ents(4, [3])); // before offset: replace all
  t.is(u.offset, 4);
  t.is(ids(u.entries), '3/4');
});

test('unstable: in-progress entries are not handed out twice; truncation rewinds', (t) => {
  const u = new Unstable(5);
  u.truncateAndAppend(ents(5, [1, 1, 1]));
  t.is(ids(u.nextEntries()), '1/5 1/6 1/7');
  u.acceptInProgress();
  t.is(ids(u.nextEntries()), '');
  u.truncateAndAppend(ents(8, [1]));
  t.is(ids(u.nextEntries()), '1/8');
  u.acceptInProgress();
  u.truncateAndAppend(ents(6, [2])); // overwrites in-progress 6..8
  t.is(ids(u.nextEntries()), '2/6');
});

test('unstable: stableTo only when the term still matches', (t) => {
  const u = new Unstable(5);
  u.truncateAndAppend(ents(5, [1, 1, 1]));
  u.acceptInProgress();
  u.stableTo(6, 2); // wrong term: ignored
  t.is(u.offset, 5);
  u.stableTo(6, 1);
  t.is(u.offset, 7);
  t.is(ids(u.entries), '1/7');
  u.stableTo(9, 1); // beyond: ignored
  t.is(u.offset, 7);
});

test('unstable: snapshot restore, term lookup, stableSnapTo', (t) => {
  const u = new Unstable(5);
  u.restore(snap(10, 3));
  t.is(u.maybeFirstIndex(), 11);
  t.is(u.maybeLastIndex(), 10);
  t.is(u.maybeTerm(10), 3);
  t.is(u.maybeTerm(9), undefined);
  t.truthy(u.nextSnapshot());
  u.acceptInProgress();
  t.is(u.nextSnapshot(), undefined);
  u.stableSnapTo(10);
  t.is(u.snapshot, undefined);
});

function logWith(terms: number[]): RaftLog {
  const s = new MemoryStorage();
  s.append(ents(1, terms));
  return new RaftLog(s);
}

test('raftlog: maybeAppend accepts matching prefix, truncates conflicts, commits', (t) => {
  const l = logWith([1, 1, 2]);
  t.is(l.maybeAppend(3, 3, 3, []), undefined, 'term mismatch at prev');
  t.is(l.maybeAppend(5, 2, 3, []), undefined, 'prev beyond the log');
  const r = l.maybeAppend(2, 1, 4, ents(3, [3, 3]));
  t.deepEqual(r, { lastNewIndex: 4, conflictIndex: 3 });
  t.is(ids(l.allEntries()), '1/1 1/2 3/3 3/4');
  t.is(l.committed, 4);
  // Already present: nothing written, commit bounded by the last new index.
  const r2 = l.maybeAppend(1, 1, 10, ents(2, [1]));
  t.deepEqual(r2, { lastNewIndex: 2, conflictIndex: 0 });
  t.is(l.committed, 4);
});

test('raftlog: a conflict at or below commit is a broken invariant', (t) => {
  const l = logWith([1, 1, 1]);
  l.commitTo(2);
  t.throws(() => l.maybeAppend(1, 1, 3, ents(2, [2])), { instanceOf: RaftInvariantError });
});

test('raftlog: findConflictByTerm (fast backtracking)', (t) => {
  const l = logWith([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
  t.deepEqual(l.findConflictByTerm(10, 3), { index: 3, term: 1 });
  t.deepEqual(l.findConflictByTerm(10, 6), { index: 10, term: 6 });
  t.deepEqual(l.findConflictByTerm(7, 4), { index: 5, term: 4 });
  t.deepEqual(l.findConflictByTerm(3, 0), { index: 0, term: 0 });
});

test('raftlog: isUpToDate (§5.4.1)', (t) => {
  const l = logWith([1, 2, 2]);
  t.true(l.isUpToDate(3, 2));
  t.true(l.isUpToDate(1, 3));
  t.false(l.isUpToDate(2, 2));
  t.false(l.isUpToDate(9, 1));
});

test('raftlog: commit only forward, bounded by last index; §5.4.2 maybeCommit', (t) => {
  const l = logWith([1, 2, 3]);
  l.commitTo(2);
  l.commitTo(1);
  t.is(l.committed, 2);
  t.throws(() => l.commitTo(9), { instanceOf: RaftInvariantError });
  t.false(l.maybeCommit(3, 2), 'entry 3 is of term 3, not the current term 2');
  t.true(l.maybeCommit(3, 3));
  t.is(l.committed, 3);
});

test('raftlog: committed entries are handed out once, applied on acknowledgement', (t) => {
  const l = logWith([1, 1, 1, 1]);
  l.commitTo(3);
  t.is(ids(l.nextCommittedEnts()), '1/1 1/2 1/3');
  l.applying = 3;
  t.false(l.hasNextCommittedEnts());
  l.commitTo(4);
  t.is(ids(l.nextCommittedEnts()), '1/4');
  l.appliedTo(3);
  t.is(l.applied, 3);
  t.throws(() => l.appliedTo(2), { instanceOf: RaftInvariantError });
});

test('raftlog: slices span storage and the unstable tail, with a byte limit', (t) => {
  const l = logWith([1, 1]);
  l.append([ent(3, 2, 'aaaa'), ent(4, 2, 'bbbb'), ent(5, 2, 'cccc')]);
  t.is(ids(l.slice(1, 6, Infinity)), '1/1 1/2 2/3 2/4 2/5');
  t.is(ids(l.slice(2, 6, 8)), '1/2 2/3 2/4');
  t.is(ids(l.entries(4, 0)), '2/4', 'at least one entry');
  t.is(ids(l.entries(6, 100)), '');
  t.is(l.term(5), 2);
  t.throws(() => l.term(6), { instanceOf: RaftError, message: /ERR_UNAVAILABLE/ });
  t.is(l.termOrZero(6), 0);
});

test('raftlog: compacted indexes throw ERR_COMPACTED', (t) => {
  const s = new MemoryStorage();
  s.append(ents(1, [1, 1, 1, 1]));
  s.createSnapshot(3, { voters: [1], learners: [] }, new Uint8Array(0));
  s.compact(3);
  const l = new RaftLog(s);
  t.is(l.firstIndex(), 4);
  t.is(l.term(3), 1, 'the snapshot index still has a term');
  t.throws(() => l.term(2), { message: /ERR_COMPACTED/ });
  t.throws(() => l.slice(2, 4, Infinity), { message: /ERR_COMPACTED/ });
  t.is(l.committed, 3, 'a snapshot is committed by definition');
});

test('raftlog: restore from a snapshot', (t) => {
  const l = logWith([1, 1]);
  l.restore(snap(10, 4));
  t.is(l.committed, 10);
  t.is(l.firstIndex(), 11);
  t.is(l.lastIndex(), 10);
  t.is(l.lastTerm(), 4);
  t.false(l.hasNextCommittedEnts(), 'nothing to apply until the snapshot is');
});
