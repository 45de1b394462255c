/**
 * Unit tests of the RawNode contract: ready/advance, restart from storage, errors, and the
 * purity rule (no I/O, clock or randomness in src/).
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  bootstrapEntry,
  ConfChangeType,
  EntryType,
  MemoryStorage,
  MessageType,
  NotLeaderError,
  RaftError,
  RawNode,
  StateType,
  msg,
  type Ready,
} from '../src/index.js';

const enc = new TextEncoder();

function bootstrapped(voters: number[]): MemoryStorage {
  const s = new MemoryStorage();
  s.append([bootstrapEntry({ voters, learners: [] })]);
  s.setHardState({ term: 1, vote: 0, commit: 1 });
  return s;
}

/** Persists a Ready into storage (the driver's step 2). */
function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState !== undefined) s.setHardState(rd.hardState);
}

function singleNodeLeader(): { node: RawNode; storage: MemoryStorage } {
  const storage = bootstrapped([1]);
  const node = new RawNode({ id: 1, storage, applied: 1 });
  node.campaign();
  const rd = node.ready();
  persist(storage, rd);
  node.advance();
  return { node, storage };
}

test('single voter: campaigns straight to leader; its no-op commits only after advance', (t) => {
  const storage = bootstrapped([1]);
  const node = new RawNode({ id: 1, storage, applied: 1 });
  node.campaign();
  t.true(node.isLeader);
  const rd = node.ready();
  t.is(rd.softState?.state, StateType.Leader);
  t.deepEqual(rd.hardState, { term: 2, vote: 1, commit: 1 });
  t.is(rd.entries.length, 1);
  t.is(rd.committedEntries.length, 0, 'not durable yet, so not counted');
  t.true(rd.mustSync);
  persist(storage, rd);
  node.advance();
  t.true(node.hasReady());
  const rd2 = node.ready();
  t.deepEqual(
    rd2.committedEntries.map((e) => e.index),
    [2],
  );
  t.is(rd2.hardState?.commit, 2);
  t.false(rd2.mustSync, 'only commit moved');
  node.advance();
  t.false(node.hasReady());
});

test('one Ready at a time; steps between ready() and advance() are allowed', (t) => {
  const { node, storage } = singleNodeLeader();
  node.propose(enc.encode('a'));
  const rd = node.ready();
  t.deepEqual(
    rd.committedEntries.map((e) => e.index),
    [2],
    'the no-op, counted at the previous advance()',
  );
  t.false(node.hasReady());
  t.throws(() => node.ready(), { instanceOf: RaftError, message: /ERR_READY_OUTSTANDING/ });
  // While the first batch is being persisted, more proposals arrive.
  const ref = node.propose(enc.encode('b'));
  t.deepEqual(ref, { index: 4, term: 2 });
  persist(storage, rd);
  node.advance();
  const rd2 = node.ready();
  t.deepEqual(
    rd2.entries.map((e) => e.index),
    [4],
    'only the new entry',
  );
  t.deepEqual(
    rd2.committedEntries.map((e) => e.index),
    [3],
  );
  persist(storage, rd2);
  node.advance();
  const rd3 = node.ready();
  t.deepEqual(
    rd3.committedEntries.map((e) => e.index),
    [4],
  );
  node.advance();
  t.throws(() => node.advance(), { message: /ERR_INVARIANT/ });
});

test('propose on a follower: NotLeaderError with the leader hint', (t) => {
  const storage = bootstrapped([1, 2, 3]);
  const node = new RawNode({ id: 2, storage, applied: 1 });
  node.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 2, commit: 1, round: 1 }));
  const err = t.throws(() => node.propose(enc.encode('x')), { instanceOf: NotLeaderError });
  t.is(err?.code, 'ERR_NOT_LEADER');
  t.is(err?.leaderHint, 1);
  t.is(node.leader, 1);
  const rd = node.ready();
  t.is(rd.messages[0]?.type, MessageType.HeartbeatResp);
  t.is(rd.messages[0]?.round, 1);
  t.deepEqual(rd.hardState, { term: 2, vote: 0, commit: 1 });
});

test('uncommitted size limit drops proposals', (t) => {
  const storage = bootstrapped([1, 2, 3]);
  const node = new RawNode({ id: 1, storage, applied: 1, maxUncommittedEntriesSize: 8 });
  node.campaign();
  // Pretend the election happened: win votes from 2 and 3 (pre-vote, then vote).
  node.step(msg({ type: MessageType.PreVoteResp, from: 2, to: 1, term: 2 }));
  node.step(msg({ type: MessageType.VoteResp, from: 2, to: 1, term: 2 }));
  t.true(node.isLeader);
  node.propose(enc.encode('12345'));
  node.propose(enc.encode('678'));
  t.throws(() => node.propose(enc.encode('9')), { message: /ERR_PROPOSAL_DROPPED/ });
});

test('restart: configuration is recovered from Config entries after the snapshot', (t) => {
  const { node, storage } = singleNodeLeader();
  node.ready();
  node.advance();
  node.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 7 });
  const rd = node.ready();
  persist(storage, rd);
  node.advance();
  t.deepEqual(node.config, { voters: [1], learners: [7] });
  const again = new RawNode({ id: 1, storage, applied: 1 });
  t.deepEqual(again.config, { voters: [1], learners: [7] });
  t.is(again.status().hardState.term, 2);
  t.is(again.status().softState.state, StateType.Follower);
});

test('learner progress is exposed for promotion policy', (t) => {
  const { node, storage } = singleNodeLeader();
  node.ready();
  node.advance();
  node.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 2 });
  const rd = node.ready();
  const app = rd.messages.find((m) => m.to === 2 && m.type === MessageType.App);
  t.truthy(app, 'the learner gets replication');
  persist(storage, rd);
  node.advance();
  t.deepEqual(node.learnerProgress(2), { match: 0, lastIndex: 3 });
  t.is(node.learnerProgress(1), undefined);
  const rd2 = node.ready();
  t.is(rd2.committedEntries.at(-1)?.type, EntryType.Config, 'the learner does not count');
});

test('a message for another node is a broken invariant', (t) => {
  const node = new RawNode({ id: 1, storage: bootstrapped([1]) });
  t.throws(() => node.step(msg({ type: MessageType.App, from: 2, to: 3, term: 1 })), {
    message: /ERR_INVARIANT/,
  });
});

test('the core performs no I/O and reads no clock or randomness', (t) => {
  const dir = new URL('../../src/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  t.true(files.length > 5);
  for (const f of files) {
    const text = readFileSync(fileURLToPath(new URL(f, dir)), 'utf8');
    for (const banned of [
      'Math.random',
      'Date.now',
      'new Date',
      'performance.now',
      'setTimeout',
      'setInterval',
      "from 'node:",
      'process.',
    ]) {
      t.false(text.includes(banned), `${f} uses ${banned}`);
    }
  }
});
