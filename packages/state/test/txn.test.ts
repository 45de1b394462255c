import test from 'ava';
import {
  MAX_TXN_OPS,
  MessageType,
  StateErrorCode,
  encodeRawCommand,
  type TxnKVVerb,
  type TxnOp,
  type DirEntryInput,
} from '../src/index.js';
import { Harness, ok, text } from './helpers.js';

const op = (Verb: TxnKVVerb, DirEnt: DirEntryInput): TxnOp => ({ KV: { Verb, DirEnt } });
const v = (s: string): Buffer => Buffer.from(s);

test('a successful transaction applies every op at one index; results blank values except get', (t) => {
  const h = new Harness();
  ok(h.set('existing', 'e')); // 1
  const res = h.txn([
    op('set', { Key: 'a', Value: v('1') }),
    op('cas', { Key: 'b', Value: v('2'), ModifyIndex: 0 }),
    op('get', { Key: 'existing' }),
    op('check-index', { Key: 'existing', ModifyIndex: 1 }),
    op('check-not-exists', { Key: 'nope' }),
    op('delete', { Key: 'existing' }),
  ]); // 2
  t.deepEqual(res.Errors, []);
  t.deepEqual(
    res.Results.map((r) => [r.KV.Key, text(r.KV.Value) ?? null, r.KV.ModifyIndex]),
    [
      ['a', null, 2],
      ['b', null, 2],
      ['existing', 'e', 1],
      ['existing', null, 1],
    ],
  );
  t.is(h.store.kvGet('existing').value, undefined);
  t.is(h.store.maxIndex('kvs'), 2);
});

test('any failing op aborts the whole transaction; every failure is reported as { OpIndex, What }', (t) => {
  const h = new Harness();
  ok(h.set('k', 'v')); // 1
  const before = h.store.snapshot();
  // Ops run in order on the transaction's view: op 2 deletes k, so op 4's CAS-if-absent succeeds.
  const res = h.txn([
    op('set', { Key: 'new', Value: v('x') }),
    op('check-index', { Key: 'k', ModifyIndex: 9 }),
    op('delete', { Key: 'k' }),
    op('get', { Key: 'absent' }),
    op('cas', { Key: 'k', ModifyIndex: 0 }),
    op('check-session', { Key: 'k', Session: 's' }),
    op('check-not-exists', { Key: 'k' }),
    op('delete-cas', { Key: 'k', ModifyIndex: 5 }),
    op('unlock', { Key: 'k', Session: 's' }),
    op('lock', { Key: 'k', Session: 'nope' }),
  ]);
  t.deepEqual(res.Results, []);
  // Consul's exact messages (state/txn.go, state/kvs.go).
  t.deepEqual(res.Errors, [
    { OpIndex: 1, What: 'failed index check for key "k", current modify index 1 != 9' },
    { OpIndex: 3, What: 'key "absent" doesn\'t exist' },
    { OpIndex: 5, What: 'failed session check for key "k", current session "" != "s"' },
    { OpIndex: 6, What: 'key "k" exists' },
    { OpIndex: 7, What: 'failed to delete key "k", index is stale' },
    {
      OpIndex: 8,
      What: 'failed to unlock key "k", lock isn\'t held, or is held by another session',
    },
    { OpIndex: 9, What: 'invalid session "nope"' },
  ]);
  const stale = h.txn([op('cas', { Key: 'k', ModifyIndex: 0 })]);
  t.deepEqual(stale.Errors, [{ OpIndex: 0, What: 'failed to set key "k", index is stale' }]);
  // Nothing was applied: same rows, same table indexes, no tombstone.
  t.is(h.store.kvGet('new').value, undefined);
  t.like(h.store.kvGet('k').value, { ModifyIndex: 1 });
  t.is(h.store.maxIndex('kvs', 'tombstones'), 1);
  t.deepEqual(h.store.tombstones(), []);
  // Snapshots differ only in the last-applied index.
  const after = h.store.snapshot();
  t.is(after.length, before.length);
});

test('later ops see earlier ops of the same transaction', (t) => {
  const h = new Harness();
  h.node('n1'); // 1
  ok(h.createSession({ ID: 's', Node: 'n1' })); // 2
  const res = h.txn([
    op('set', { Key: 'a', Value: v('1') }),
    op('check-index', { Key: 'a', ModifyIndex: 3 }),
    op('lock', { Key: 'a', Session: 's' }),
    op('check-session', { Key: 'a', Session: 's' }),
    op('get-tree', { Key: '' }),
    op('delete-tree', { Key: 'a' }),
    op('check-not-exists', { Key: 'a' }),
  ]);
  t.deepEqual(res.Errors, []);
  t.deepEqual(
    res.Results.map((r) => [r.KV.Key, r.KV.LockIndex, r.KV.Session ?? '']),
    [
      ['a', 0, ''],
      ['a', 0, ''],
      ['a', 1, 's'],
      ['a', 1, 's'],
      ['a', 1, 's'],
    ],
  );
  t.deepEqual(h.store.tombstones(), [{ Key: 'a', Index: 3 }]);
});

test(`at most ${MAX_TXN_OPS} operations (Consul's maxTxnOps)`, (t) => {
  const h = new Harness();
  const ops = Array.from({ length: MAX_TXN_OPS }, (_, i) =>
    op('set', { Key: `k${i}`, Value: v('x') }),
  );
  t.is(h.txn(ops).Errors.length, 0);
  const tooMany = [...ops, op('set', { Key: 'one-more' })];
  t.throws(() => h.txn(tooMany), { code: StateErrorCode.TXN_TOO_LARGE });
  const r = h.store.apply(++h.index, encodeRawCommand(MessageType.Txn, 0, { Ops: tooMany }));
  t.is(!r.ok && r.error.code, StateErrorCode.TXN_TOO_LARGE);
  t.is(!r.ok && r.error.message, 'Transaction contains too many operations (65 > 64)');
  t.is(h.store.kvGet('one-more').value, undefined);
});

test('an unknown verb is rejected by validation', (t) => {
  const h = new Harness();
  const r = h.store.apply(
    1,
    encodeRawCommand(MessageType.Txn, 0, {
      Ops: [{ KV: { Verb: 'frobnicate', DirEnt: { Key: 'a' } } }],
    }),
  );
  t.is(!r.ok && r.error.code, StateErrorCode.INVALID_COMMAND);
  t.deepEqual(!r.ok && r.error.meta, { field: 'body.Ops[0].KV.Verb' });
});
