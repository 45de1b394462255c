import test from 'ava';
import { StateErrorCode } from '../src/index.js';
import { Harness, ok } from './helpers.js';

test('create validates the node exists (ErrMissingNode) and records defaults', (t) => {
  const h = new Harness();
  const r = h.createSession({ ID: 's1', Node: 'ghost' });
  t.is(!r.ok && r.error.code, StateErrorCode.MISSING_NODE);
  h.node('n1');
  t.is(ok(h.createSession({ ID: 's1', Node: 'n1', Name: 'lock', TTL: '30s' })), 's1'); // index 3
  t.like(h.store.session('s1').value, {
    ID: 's1',
    Name: 'lock',
    Node: 'n1',
    Behavior: 'release',
    TTL: '30s',
    LockDelay: 0,
    CreateIndex: 3,
    ModifyIndex: 3,
  });
  const dup = h.createSession({ ID: 's1', Node: 'n1' });
  t.is(!dup.ok && dup.error.code, StateErrorCode.SESSION_EXISTS);
});

test('create requires every named check to exist and not be critical (validateSessionChecksTxn)', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(
    h.register({
      Node: 'n1',
      Address: 'a',
      SkipNodeUpdate: true,
      Check: { CheckID: 'bad', Status: 'critical' },
    }),
  );
  ok(
    h.register({
      Node: 'n1',
      Address: 'a',
      SkipNodeUpdate: true,
      Service: { Service: 'web' },
      Check: { CheckID: 'wc', ServiceID: 'web', Status: 'passing' },
    }),
  );
  const missing = h.createSession({ ID: 's', Node: 'n1', NodeChecks: ['nope'] });
  t.is(!missing.ok && missing.error.message, "Missing check 'nope' registration");
  const critical = h.createSession({ ID: 's', Node: 'n1', Checks: ['bad'] });
  t.is(!critical.ok && critical.error.code, StateErrorCode.CHECK_CRITICAL);
  t.is(!critical.ok && critical.error.message, "Check 'bad' is in critical state");
  ok(
    h.createSession({
      ID: 's',
      Node: 'n1',
      NodeChecks: ['serfHealth'],
      ServiceChecks: [{ ID: 'wc', Namespace: '' }],
    }),
  );
});

test('list, by node and info', (t) => {
  const h = new Harness();
  h.node('n1');
  h.node('n2', '10.0.0.2');
  ok(h.createSession({ ID: 'b', Node: 'n1' }));
  ok(h.createSession({ ID: 'a', Node: 'n2' }));
  t.deepEqual(
    h.store.sessions().value.map((s) => s.ID),
    ['a', 'b'],
  );
  t.deepEqual(
    h.store.nodeSessions('N1').value.map((s) => s.ID),
    ['b'],
  );
  t.is(h.store.sessions().index, 4);
});

test('destroy with Behavior release unlocks held keys; with delete removes them (tombstoned)', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(h.createSession({ ID: 'rel', Node: 'n1' }));
  ok(h.createSession({ ID: 'del', Node: 'n1', Behavior: 'delete' }));
  ok(h.kv('lock', { Key: 'r', Value: Buffer.from('x'), Session: 'rel' }));
  ok(h.kv('lock', { Key: 'd', Value: Buffer.from('x'), Session: 'del' }));
  ok(h.destroySession('rel'));
  ok(h.destroySession('del'));
  t.like(h.store.kvGet('r').value, { LockIndex: 1, ModifyIndex: 6 });
  t.false('Session' in (h.store.kvGet('r').value ?? {}));
  t.is(h.store.kvGet('d').value, undefined);
  t.deepEqual(h.store.tombstones(), [{ Key: 'd', Index: 7 }]);
  t.deepEqual(h.store.sessions().value, []);
  // Destroying an absent session is a no-op.
  ok(h.destroySession('rel'));
});

test('a check going critical invalidates the sessions that depend on it and releases their locks', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(
    h.createSession({ ID: 's1', Node: 'n1', NodeChecks: ['serfHealth'], LockDelay: 1_000_000_000 }),
  );
  ok(h.createSession({ ID: 'free', Node: 'n1' }));
  ok(h.kv('lock', { Key: 'leader', Session: 's1' }));
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      SkipNodeUpdate: true,
      Check: { CheckID: 'serfHealth', Status: 'warning' },
    }),
  );
  t.not(h.store.session('s1').value, undefined);
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      SkipNodeUpdate: true,
      Check: { CheckID: 'serfHealth', Status: 'critical' },
    }),
  );
  t.is(h.store.session('s1').value, undefined);
  t.not(h.store.session('free').value, undefined);
  t.false('Session' in (h.store.kvGet('leader').value ?? {}));
  t.is(h.store.lockDelay('leader'), h.now + 1000);
});

test('deleting a check, a service (and its checks) or a node invalidates dependent sessions', (t) => {
  const h = new Harness();
  h.node('n1');
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: { Service: 'web' },
      Check: { CheckID: 'wc', ServiceID: 'web', Status: 'passing' },
    }),
  );
  ok(h.register({ Node: 'n1', Address: '10.0.0.1', Check: { CheckID: 'mem', Status: 'passing' } }));
  ok(h.createSession({ ID: 'on-mem', Node: 'n1', NodeChecks: ['mem'] }));
  ok(h.createSession({ ID: 'on-web', Node: 'n1', ServiceChecks: [{ ID: 'wc', Namespace: '' }] }));
  ok(h.createSession({ ID: 'on-node', Node: 'n1', Checks: [] }));
  ok(h.deregister({ Node: 'n1', CheckID: 'mem' }));
  t.is(h.store.session('on-mem').value, undefined);
  ok(h.deregister({ Node: 'n1', ServiceID: 'web' }));
  t.is(h.store.session('on-web').value, undefined);
  t.not(h.store.session('on-node').value, undefined);
  ok(h.deregister({ Node: 'n1' }));
  t.deepEqual(h.store.sessions().value, []);
});
