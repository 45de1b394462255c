import test from 'ava';
import { MessageType, StateErrorCode, encodeRawCommand } from '../src/index.js';
import { Harness, ok, text } from './helpers.js';

test('set then get: CreateIndex kept, ModifyIndex = the write; get reports the KV tables index', (t) => {
  const h = new Harness();
  ok(h.set('a', '1', { Flags: 42 })); // 1
  ok(h.set('b', '1')); // 2
  ok(h.set('a', '2', { Flags: 42 })); // 3
  const r = h.store.kvGet('a');
  t.like(r.value, { Key: 'a', Flags: 42, LockIndex: 0, CreateIndex: 1, ModifyIndex: 3 });
  t.is(text(r.value?.Value), '2');
  t.false('Session' in (r.value ?? {}));
  // Consul's kvsGetTxn returns the table index, not the key's ModifyIndex.
  ok(h.set('c', '1')); // 4
  t.is(h.store.kvGet('a').index, 4);
  t.is(h.store.kvGet('missing').value, undefined);
});

test('an identical set is not a write (Consul DirEntry.Equal short-circuit)', (t) => {
  const h = new Harness();
  ok(h.set('a', 'x'));
  ok(h.set('a', 'x'));
  t.is(h.store.kvGet('a').value?.ModifyIndex, 1);
  t.is(h.store.maxIndex('kvs'), 1);
});

test('a null Value is stored as null', (t) => {
  const h = new Harness();
  ok(h.kv('set', { Key: 'empty' }));
  t.is(h.store.kvGet('empty').value?.Value, null);
});

test('list by prefix is ordered by key; the index is the highest ModifyIndex under the prefix', (t) => {
  const h = new Harness();
  ok(h.set('foo/b', '1')); // 1
  ok(h.set('foo/a', '1')); // 2
  ok(h.set('bar', '1')); // 3
  const r = h.store.kvList('foo/');
  t.deepEqual(
    r.value.map((e) => e.Key),
    ['foo/a', 'foo/b'],
  );
  t.is(r.index, 2);
  // Nothing and no tombstones under the prefix: the whole table's index (Consul).
  t.is(h.store.kvList('zzz').index, 3);
  t.is(h.store.kvList('').index, 3);
});

test('keys with a separator are cut after the first separator past the prefix and de-duplicated', (t) => {
  const h = new Harness();
  for (const k of ['foo/bar/1', 'foo/bar/2', 'foo/baz', 'foo/qux/deep/x', 'foo/', 'fox']) {
    ok(h.set(k, 'v'));
  }
  t.deepEqual(h.store.kvKeys('foo/', '/').value, ['foo/', 'foo/bar/', 'foo/baz', 'foo/qux/']);
  t.deepEqual(h.store.kvKeys('fo', '/').value, ['foo/', 'fox']);
  t.deepEqual(h.store.kvKeys('foo/', '').value, [
    'foo/',
    'foo/bar/1',
    'foo/bar/2',
    'foo/baz',
    'foo/qux/deep/x',
  ]);
});

test('delete leaves a tombstone so a prefix list index never goes backwards', (t) => {
  const h = new Harness();
  ok(h.set('app/a', '1')); // 1
  ok(h.set('other', '1')); // 2
  ok(h.set('app/b', '1')); // 3
  t.is(h.store.kvList('app/').index, 3);
  ok(h.kv('delete', { Key: 'app/b' })); // 4
  t.is(h.store.kvList('app/').index, 4);
  t.is(h.store.kvKeys('app/').index, 4);
  t.deepEqual(h.store.tombstones(), [{ Key: 'app/b', Index: 4 }]);
  ok(h.kv('delete-tree', { Key: 'app/' })); // 5
  t.is(h.store.kvList('app/').index, 5);
  t.deepEqual(h.store.kvList('app/').value, []);
  // Deleting a missing key changes nothing.
  ok(h.kv('delete', { Key: 'nope' })); // 6
  t.is(h.store.maxIndex('kvs', 'tombstones'), 5);
});

test('tombstone reap removes tombstones at or below the index, never lowering the tables index', (t) => {
  const h = new Harness();
  ok(h.set('a/1', 'x')); // 1
  ok(h.kv('delete', { Key: 'a/1' })); // 2
  ok(h.set('b', 'x')); // 3
  ok(h.kv('delete', { Key: 'b' })); // 4
  ok(h.reap(2)); // 5
  t.deepEqual(h.store.tombstones(), [{ Key: 'b', Index: 4 }]);
  // The prefix lost its tombstone: it falls back to the tables index, which is ≥ before.
  t.true(h.store.kvList('a/').index >= 2);
  t.is(h.store.kvList('a/').index, 4);
});

test('CAS with index 0 writes only if absent; otherwise only if ModifyIndex matches', (t) => {
  const h = new Harness();
  t.is(ok(h.kv('cas', { Key: 'k', Value: Buffer.from('1'), ModifyIndex: 0 })), true); // 1
  t.is(ok(h.kv('cas', { Key: 'k', Value: Buffer.from('2'), ModifyIndex: 0 })), false); // 2
  t.is(ok(h.kv('cas', { Key: 'k', Value: Buffer.from('3'), ModifyIndex: 7 })), false); // 3
  t.is(ok(h.kv('cas', { Key: 'k', Value: Buffer.from('4'), ModifyIndex: 1 })), true); // 4
  t.is(text(h.store.kvGet('k').value?.Value), '4');
  t.is(ok(h.kv('cas', { Key: 'absent', Value: null, ModifyIndex: 3 })), false);
  t.is(ok(h.kv('delete-cas', { Key: 'k', ModifyIndex: 1 })), false);
  t.is(ok(h.kv('delete-cas', { Key: 'k', ModifyIndex: 4 })), true);
  t.is(h.store.kvGet('k').value, undefined);
  // Consul's kvsDeleteCASTxn treats an absent key as deleted.
  t.is(ok(h.kv('delete-cas', { Key: 'k', ModifyIndex: 99 })), true);
});

function withSessions(): Harness {
  const h = new Harness();
  h.node('n1');
  ok(h.createSession({ ID: 's1', Node: 'n1', NodeChecks: ['serfHealth'] }));
  ok(h.createSession({ ID: 's2', Node: 'n1' }));
  return h;
}

test('lock: LockIndex increments on each new acquisition, Session is set; re-acquire by the holder keeps it', (t) => {
  const h = withSessions();
  t.is(ok(h.kv('lock', { Key: 'l', Value: Buffer.from('a'), Session: 's1' })), true);
  t.like(h.store.kvGet('l').value, { Session: 's1', LockIndex: 1 });
  t.is(ok(h.kv('lock', { Key: 'l', Value: Buffer.from('b'), Session: 's1' })), true);
  t.like(h.store.kvGet('l').value, { Session: 's1', LockIndex: 1 });
  t.is(text(h.store.kvGet('l').value?.Value), 'b');
  // Held by another session: refused, nothing written.
  const idx = h.store.kvGet('l').value?.ModifyIndex;
  t.is(ok(h.kv('lock', { Key: 'l', Session: 's2' })), false);
  t.is(h.store.kvGet('l').value?.ModifyIndex, idx);
  // Release only by the holder.
  t.is(ok(h.kv('unlock', { Key: 'l', Session: 's2' })), false);
  t.is(ok(h.kv('unlock', { Key: 'l', Value: Buffer.from('c'), Session: 's1' })), true);
  const e = h.store.kvGet('l').value;
  t.false('Session' in (e ?? {}));
  t.is(e?.LockIndex, 1);
  t.is(text(e?.Value), 'c');
  t.is(ok(h.kv('lock', { Key: 'l', Session: 's2' })), true);
  t.like(h.store.kvGet('l').value, { Session: 's2', LockIndex: 2 });
});

test('a plain set on a locked key keeps the lock (kvsSetTxn with updateSession=false)', (t) => {
  const h = withSessions();
  ok(h.kv('lock', { Key: 'l', Session: 's1' }));
  ok(h.set('l', 'overwrite', { Session: 's2' }));
  t.like(h.store.kvGet('l').value, { Session: 's1', LockIndex: 1 });
});

test('lock without a session or with an unknown session is an error; unlock of a missing key is false', (t) => {
  const h = withSessions();
  const r1 = h.kv('lock', { Key: 'l' });
  t.is(!r1.ok && r1.error.code, StateErrorCode.MISSING_SESSION);
  t.is(!r1.ok && r1.error.message, 'missing session');
  const r2 = h.kv('lock', { Key: 'l', Session: 'nope' });
  t.is(!r2.ok && r2.error.code, StateErrorCode.INVALID_SESSION);
  t.is(!r2.ok && r2.error.message, 'invalid session "nope"');
  t.is(ok(h.kv('unlock', { Key: 'missing', Session: 's1' })), false);
});

test('lock-delay: after an invalidated session releases a key, acquires inside the window are refused by the FSM', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(h.createSession({ ID: 's1', Node: 'n1', LockDelay: 15_000_000_000 }));
  ok(h.createSession({ ID: 's2', Node: 'n1' }));
  ok(h.kv('lock', { Key: 'leader', Session: 's1' }));
  const released = h.now;
  ok(h.destroySession('s1'));
  t.is(h.store.lockDelay('leader'), released + 15_000);
  t.false('Session' in (h.store.kvGet('leader').value ?? {}));
  h.now = released + 14_999;
  t.is(ok(h.kv('lock', { Key: 'leader', Session: 's2' })), false);
  h.now = released + 15_000;
  t.is(ok(h.kv('lock', { Key: 'leader', Session: 's2' })), true);
  // Capped at Consul's MaxLockDelay (60 s).
  ok(h.createSession({ ID: 's3', Node: 'n1', LockDelay: 3_600_000_000_000 }));
  ok(h.kv('lock', { Key: 'other', Session: 's3' }));
  ok(h.destroySession('s3'));
  t.is(h.store.lockDelay('other'), h.now + 60_000);
});

test('keys are validated: empty key on set is rejected, delete-tree on "" deletes everything', (t) => {
  const h = new Harness();
  // encodeCommand refuses to build it; raw bytes from the log are refused by the FSM.
  t.throws(() => h.kv('set', { Key: '' }), { code: StateErrorCode.INVALID_COMMAND });
  const r = h.store.apply(
    ++h.index,
    encodeRawCommand(MessageType.KVS, 0, { Op: 'set', DirEnt: { Key: '' } }),
  );
  t.is(!r.ok && r.error.code, StateErrorCode.INVALID_COMMAND);
  ok(h.set('a', '1'));
  ok(h.set('b/c', '1'));
  ok(h.kv('delete-tree', { Key: '' }));
  t.deepEqual(h.store.kvList('').value, []);
});
