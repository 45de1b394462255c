/** Unit tests: MemoryStorage and config/membership helpers. */
import test from 'ava';
import { MemoryStorage, limitSize } from '../src/storage.js';
import {
  applyConfChange,
  bootstrapEntry,
  decodeConfigEntry,
  encodeConfigEntry,
} from '../src/membership.js';
import { resolveConfig } from '../src/config.js';
import { ConfChangeType, EntryType, type Entry } from '../src/types.js';

const ent = (index: number, term: number, n = 0): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array(n),
});

test('memory storage: append, truncate, read, compact, snapshot', (t) => {
  const s = new MemoryStorage();
  t.is(s.firstIndex(), 1);
  t.is(s.lastIndex(), 0);
  s.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
  s.append([ent(3, 2), ent(4, 2)]); // truncates the old 3
  t.deepEqual(
    s.entries(1, 5, Infinity).map((e) => e.term),
    [1, 1, 2, 2],
  );
  t.throws(() => s.append([ent(9, 2)]), { message: /ERR_INVARIANT/ });
  t.throws(() => s.entries(1, 9, Infinity), { message: /ERR_UNAVAILABLE/ });
  const snap = s.createSnapshot(3, { voters: [1, 2], learners: [] }, new Uint8Array([7]));
  t.is(snap.metadata.term, 2);
  s.compact(2);
  t.is(s.firstIndex(), 3);
  t.is(s.term(2), 1);
  t.throws(() => s.term(1), { message: /ERR_COMPACTED/ });
  t.throws(() => s.entries(2, 4, Infinity), { message: /ERR_COMPACTED/ });
  t.throws(() => s.createSnapshot(2, { voters: [1], learners: [] }, new Uint8Array(0)), {
    message: /ERR_SNAPSHOT_OUT_OF_DATE/,
  });
  s.append([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2), ent(5, 2)]); // compacted part skipped
  t.is(s.lastIndex(), 5);
  t.deepEqual(s.initialState().confState.voters, [1, 2]);
});

test('memory storage: applySnapshot replaces the log', (t) => {
  const s = new MemoryStorage();
  s.append([ent(1, 1), ent(2, 1)]);
  s.applySnapshot({
    metadata: { index: 10, term: 3, confState: { voters: [1], learners: [2] } },
    data: new Uint8Array(0),
  });
  t.is(s.firstIndex(), 11);
  t.is(s.lastIndex(), 10);
  t.is(s.term(10), 3);
  t.deepEqual(s.initialState().confState.learners, [2]);
});

test('limitSize keeps at least one entry', (t) => {
  const es = [ent(1, 1, 5), ent(2, 1, 5), ent(3, 1, 5)];
  t.is(limitSize(es, 0).length, 1);
  t.is(limitSize(es, 10).length, 2);
  t.is(limitSize(es, 100).length, 3);
});

test('membership: single-server changes and their validation', (t) => {
  const c = { voters: [1, 2, 3], learners: [] };
  t.deepEqual(applyConfChange(c, { type: ConfChangeType.AddLearner, nodeId: 4 }), {
    voters: [1, 2, 3],
    learners: [4],
  });
  const withLearner = { voters: [1, 2, 3], learners: [4] };
  t.deepEqual(applyConfChange(withLearner, { type: ConfChangeType.AddVoter, nodeId: 4 }), {
    voters: [1, 2, 3, 4],
    learners: [],
  });
  t.deepEqual(applyConfChange(c, { type: ConfChangeType.AddLearner, nodeId: 3 }), {
    voters: [1, 2],
    learners: [3],
  });
  t.deepEqual(applyConfChange(c, { type: ConfChangeType.RemoveNode, nodeId: 2 }), {
    voters: [1, 3],
    learners: [],
  });
  t.throws(() => applyConfChange(c, { type: ConfChangeType.AddVoter, nodeId: 2 }), {
    message: /ERR_INVALID_CONF_CHANGE/,
  });
  t.throws(() => applyConfChange(c, { type: ConfChangeType.RemoveNode, nodeId: 9 }), {
    message: /ERR_INVALID_CONF_CHANGE/,
  });
  t.throws(
    () =>
      applyConfChange(
        { voters: [1], learners: [] },
        { type: ConfChangeType.RemoveNode, nodeId: 1 },
      ),
    { message: /no voter/ },
  );
});

test('membership: config entries round-trip', (t) => {
  const data = encodeConfigEntry({
    conf: { voters: [3, 1], learners: [5] },
    change: { type: ConfChangeType.AddLearner, nodeId: 5 },
  });
  t.deepEqual(decodeConfigEntry(data), {
    conf: { voters: [1, 3], learners: [5] },
    change: { type: ConfChangeType.AddLearner, nodeId: 5 },
  });
  const b = bootstrapEntry({ voters: [2, 1], learners: [] });
  t.is(b.index, 1);
  t.is(b.type, EntryType.Config);
  t.deepEqual(decodeConfigEntry(b.data), { conf: { voters: [1, 2], learners: [] } });
});

test('config: validation and defaults', (t) => {
  const storage = new MemoryStorage();
  const c = resolveConfig({ id: 1, storage });
  t.is(c.electionTick, 10);
  t.is(c.heartbeatTick, 1);
  t.is(c.leaseTicks, 5);
  t.true(c.preVote && c.checkQuorum);
  const r = c.rand(10);
  t.true(Number.isInteger(r) && r >= 0 && r < 10);
  t.throws(() => resolveConfig({ id: 0, storage }), { message: /ERR_INVALID_CONFIG/ });
  t.throws(() => resolveConfig({ id: 1, storage, heartbeatTick: 10 }), {
    message: /heartbeatTick/,
  });
  t.throws(() => resolveConfig({ id: 1, storage, leaseTicks: 10 }), { message: /leaseTicks/ });
  t.notThrows(() => resolveConfig({ id: 1, storage, leaseTicks: 9 }));
});
