/** Unit tests: flow-control window, per-follower progress states, quorum arithmetic. */
import test from 'ava';
import { Inflights, Progress, majority, quorumValue, voteResult } from '../src/progress.js';
import { RaftInvariantError } from '../src/errors.js';

test('inflights: full by count', (t) => {
  const w = new Inflights(3, 0);
  w.add(1, 100);
  w.add(2, 100);
  t.false(w.full());
  w.add(3, 100);
  t.true(w.full());
  t.throws(() => w.add(4, 1), { instanceOf: RaftInvariantError });
  w.freeLE(2);
  t.is(w.count, 1);
  t.is(w.bytes, 100);
  t.false(w.full());
});

test('inflights: full by bytes, at or above the budget', (t) => {
  const w = new Inflights(100, 10);
  w.add(1, 4);
  w.add(2, 4);
  t.false(w.full());
  w.add(3, 4); // 12 ≥ 10
  t.true(w.full());
  w.freeLE(1);
  t.is(w.bytes, 8);
  t.false(w.full());
});

test('inflights: freeLE frees in order and ignores stale acks; reset empties', (t) => {
  const w = new Inflights(1000, 0);
  for (let i = 1; i <= 200; i++) w.add(i * 2, 1);
  w.freeLE(3); // frees 2 only
  t.is(w.count, 199);
  w.freeLE(1); // stale
  t.is(w.count, 199);
  w.freeLE(300); // frees up to 300 (150 messages)
  t.is(w.count, 50);
  t.is(w.bytes, 50);
  w.add(402, 5);
  t.is(w.count, 51);
  t.throws(() => w.add(10, 1), { instanceOf: RaftInvariantError }); // out of order
  w.reset();
  t.is(w.count, 0);
  t.is(w.bytes, 0);
});

const pr = (next = 5): Progress => new Progress(next, 2, 0, false);

test('progress: probe sends one message then pauses until a reply', (t) => {
  const p = pr();
  t.is(p.state, 'Probe');
  t.false(p.isPaused());
  p.sentEntries(3, 30);
  t.true(p.isPaused());
  t.is(p.next, 5); // probe does not advance next optimistically
  t.true(p.maybeUpdate(4));
  t.false(p.isPaused());
  t.is(p.match, 4);
  t.is(p.next, 5);
  t.false(p.maybeUpdate(3), 'stale ack');
});

test('progress: replicate pipelines optimistically within the window', (t) => {
  const p = pr();
  p.maybeUpdate(4);
  p.becomeReplicate();
  t.is(p.next, 5);
  p.sentEntries(2, 10); // 5..6
  t.is(p.next, 7);
  p.sentEntries(1, 10); // 7
  t.is(p.next, 8);
  t.true(p.isPaused(), 'window of 2 is full');
  p.maybeUpdate(6);
  p.inflights.freeLE(6);
  t.false(p.isPaused());
  p.sentEntries(0, 0); // empty App: no window slot
  t.is(p.inflights.count, 1);
});

test('progress: maybeDecrTo in probe uses the hint, ignores stale rejections', (t) => {
  const p = pr(10);
  p.match = 2;
  t.false(p.maybeDecrTo(5, 3), 'not the last probe (next-1 = 9)');
  t.true(p.maybeDecrTo(9, 4));
  t.is(p.next, 5); // min(rejected, hint+1)
  t.true(p.maybeDecrTo(4, 0));
  t.is(p.next, 3, 'never below match+1');
});

test('progress: maybeDecrTo in replicate falls back to match+1', (t) => {
  const p = pr(10);
  p.match = 6;
  p.becomeReplicate();
  p.sentEntries(3, 3);
  t.false(p.maybeDecrTo(5, 0), 'rejection at or below match is stale');
  t.true(p.maybeDecrTo(8, 0));
  t.is(p.next, 7);
});

test('progress: snapshot state pauses; probe afterwards starts past the snapshot', (t) => {
  const p = pr(3);
  p.becomeSnapshot({
    index: 20,
    term: 2,
    data: new Uint8Array(4),
    confState: { voters: [1], learners: [] },
    acked: 0,
    sent: 0,
    finished: false,
    ackedAtLastHeartbeat: -1,
  });
  t.true(p.isPaused());
  t.is(p.pendingSnapshot, 20);
  p.becomeProbe();
  t.is(p.next, 21);
  t.is(p.pendingSnapshot, 0);
  t.is(p.snap, undefined);
});

test('quorum: majority sizes', (t) => {
  t.deepEqual([1, 2, 3, 4, 5, 6, 7].map(majority), [1, 2, 2, 3, 3, 4, 4]);
});

test('quorum: committed index is the majority-th largest match', (t) => {
  t.is(quorumValue([5]), 5);
  t.is(quorumValue([5, 3]), 3);
  t.is(quorumValue([5, 3, 1]), 3);
  t.is(quorumValue([1, 5, 3, 4]), 3);
  t.is(quorumValue([9, 9, 1, 1, 1]), 1);
  t.is(quorumValue([9, 9, 9, 1, 1]), 9);
  t.is(quorumValue([]), Number.POSITIVE_INFINITY);
});

test('quorum: vote results', (t) => {
  const v = (entries: [number, boolean][]): Map<number, boolean> => new Map(entries);
  t.is(voteResult([1, 2, 3], v([[1, true]])), 'Pending');
  t.is(
    voteResult(
      [1, 2, 3],
      v([
        [1, true],
        [2, true],
      ]),
    ),
    'Won',
  );
  t.is(
    voteResult(
      [1, 2, 3],
      v([
        [1, true],
        [2, false],
      ]),
    ),
    'Pending',
  );
  t.is(
    voteResult(
      [1, 2, 3],
      v([
        [1, true],
        [2, false],
        [3, false],
      ]),
    ),
    'Lost',
  );
  t.is(
    voteResult(
      [1, 2, 3, 4],
      v([
        [1, true],
        [2, true],
        [3, false],
        [4, false],
      ]),
    ),
    'Lost',
  );
  t.is(voteResult([1], v([[1, true]])), 'Won');
  t.is(
    voteResult(
      [1, 2],
      v([
        [9, true],
        [1, true],
      ]),
    ),
    'Pending',
    'non-voters do not count',
  );
  t.is(voteResult([], v([])), 'Won');
});
