import test from 'ava';
import { Prng } from '@trellis/testkit';
import { Packr } from 'msgpackr';
import {
  IGNORE_UNKNOWN_TYPE_FLAG,
  MessageType,
  StateErrorCode,
  StateStore,
  decodeCommand,
  encodeCommand,
  encodeRawCommand,
  type Command,
  TXN_KV_VERBS,
  MAX_RESTORE_BYTES,
} from '../src/index.js';
import { Harness, ok } from './helpers.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('the command envelope is plain msgpack [version, type, now, body] (hex fixture)', (t) => {
  const bytes = encodeCommand({
    type: MessageType.KVS,
    now: 5,
    body: { Op: 'delete', DirEnt: { Key: 'k' } },
  });
  // fixarray(4) 1 2 5 map{Op:"delete", DirEnt:{Key:"k", Flags:0, Value:nil, ModifyIndex:0}}
  t.is(
    hex(bytes),
    '9401020582a24f70a664656c657465a6446972456e7484a34b6579a16ba5466c61677300a556616c7565c0ab4d6f64696679496e64657800',
  );
  t.deepEqual(decodeCommand(bytes), {
    type: MessageType.KVS,
    now: 5,
    body: { Op: 'delete', DirEnt: { Key: 'k', Flags: 0, Value: null, ModifyIndex: 0 } },
  });
});

test('an unknown command type is refused loudly and changes nothing (Consul panics)', (t) => {
  const h = new Harness();
  ok(h.set('a', '1'));
  const before = h.store.snapshot();
  const r = h.store.apply(2, encodeRawCommand(42, 0, { anything: true }));
  t.false(r.ok);
  t.is(!r.ok && r.error.code, StateErrorCode.UNKNOWN_COMMAND);
  t.deepEqual(!r.ok && r.error.meta, { type: 42 });
  t.deepEqual(h.store.snapshot(), before);
});

test('an unknown type with the ignore-unknown flag (128) is skipped', (t) => {
  const h = new Harness();
  const r = h.store.apply(1, encodeRawCommand(IGNORE_UNKNOWN_TYPE_FLAG | 42, 0, { future: 1 }));
  t.deepEqual(r, { ok: true, value: null, ignored: true });
  t.is(h.store.lastIndex, 1);
});

test('other envelope versions and non-increasing indexes are refused', (t) => {
  const h = new Harness();
  ok(h.set('a', '1'));
  const cmd = encodeCommand({
    type: MessageType.KVS,
    now: 0,
    body: { Op: 'set', DirEnt: { Key: 'b' } },
  });
  const again = h.store.apply(1, cmd);
  t.is(!again.ok && again.error.code, StateErrorCode.INDEX_NOT_MONOTONIC);
  const v2 = Buffer.from(cmd);
  v2[1] = 2;
  const r = h.store.apply(2, v2);
  t.is(!r.ok && r.error.code, StateErrorCode.UNSUPPORTED_VERSION);
  t.is(h.store.kvGet('b').value, undefined);
});

test('bad field types are rejected with the field path', (t) => {
  const store = new StateStore();
  const cases: Array<[number, unknown, string]> = [
    [MessageType.Register, { Node: 7, Address: 'a' }, 'body.Node'],
    [MessageType.Register, { Node: 'n', Address: 'a', NodeMeta: { k: 1 } }, 'body.NodeMeta.k'],
    [
      MessageType.Register,
      { Node: 'n', Address: 'a', Service: { Service: 's', Port: -1 } },
      'body.Service.Port',
    ],
    [
      MessageType.Register,
      { Node: 'n', Address: 'a', Check: { CheckID: 'c', Status: 'bogus' } },
      'body.Check.Status',
    ],
    [
      MessageType.Register,
      { Node: 'n', Address: 'a', Check: { Node: 'other', CheckID: 'c' } },
      'body.Check.Node',
    ],
    [MessageType.KVS, { Op: 'set', DirEnt: { Key: 'k', Value: 'not bytes' } }, 'body.DirEnt.Value'],
    [MessageType.KVS, { Op: 'set', DirEnt: { Key: 'k', Flags: 1.5 } }, 'body.DirEnt.Flags'],
    [MessageType.KVS, { DirEnt: { Key: 'k' } }, 'body.Op'],
    [
      MessageType.Session,
      { Op: 'create', Session: { ID: 's', Node: 'n', Behavior: 'x' } },
      'body.Session.Behavior',
    ],
    [MessageType.Tombstone, { Op: 'reap', ReapIndex: 'x' }, 'body.ReapIndex'],
  ];
  for (const [type, body, field] of cases) {
    const r = store.apply(store.lastIndex + 1, encodeRawCommand(type, 0, body));
    t.deepEqual(!r.ok && r.error.meta, { field }, field);
  }
});

test('random bytes never throw and never change the store (seeded)', (t) => {
  const h = new Harness();
  seedStore(h);
  const before = contents(h.store);
  const rng = new Prng('random-bytes');
  const codes = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    // Half the inputs start like an envelope, so decoding gets past the first checks.
    const head = rng.chance(0.5) ? [0x94, 0x01, rng.int(10)] : [];
    const bytes = Buffer.from([
      ...head,
      ...Array.from({ length: rng.int(64) }, () => rng.int(256)),
    ]);
    const r = h.store.apply(h.store.lastIndex + 1, bytes);
    if (r.ok) t.true(r.ignored, 'only an ignorable type could decode');
    else codes.add(r.error.code);
  }
  t.deepEqual(contents(h.store), before);
  t.true(codes.has(StateErrorCode.MALFORMED_COMMAND));
});

test('mutated valid commands never throw; a refused one leaves the store unchanged', (t) => {
  const rng = new Prng('mutations');
  const h = new Harness();
  seedStore(h);
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const cmd = randomCommand(rng, h.now);
    const bytes = Buffer.from(encodeCommand(cmd));
    for (let m = 1 + rng.int(3); m > 0; m--) bytes[rng.int(bytes.length)] = rng.int(256);
    const before = h.store.snapshot();
    const lastIndex = h.store.lastIndex;
    const r = h.store.apply(lastIndex + 1, bytes);
    if (!r.ok) {
      refused++;
      t.is(h.store.lastIndex, lastIndex);
      if (Buffer.compare(Buffer.from(h.store.snapshot()), Buffer.from(before)) !== 0) {
        t.fail(`store changed by refused command ${r.error.code}`);
        return;
      }
    }
  }
  t.true(refused > 100);
});

test('snapshot → restore round-trips to an identical store and identical answers', (t) => {
  const h = new Harness();
  seedStore(h);
  const snap = h.store.snapshot();
  const other = new StateStore();
  other.restore(snap);
  t.deepEqual(other.snapshot(), snap);
  t.deepEqual(other.checkServiceNodes('web'), h.store.checkServiceNodes('web'));
  t.deepEqual(other.kvList(''), h.store.kvList(''));
  t.deepEqual(other.sessions(), h.store.sessions());
  t.deepEqual(other.serviceNodes('web').index, h.store.serviceNodes('web').index);
  t.is(other.lastIndex, h.store.lastIndex);
});

test('restore refuses bad snapshots and leaves the store unchanged', (t) => {
  const h = new Harness();
  seedStore(h);
  const before = h.store.snapshot();
  for (const bad of [
    Buffer.from([0xc1]),
    encodeRawCommand(0, 0, {}),
    Buffer.from(before).subarray(0, before.length - 3),
  ]) {
    t.throws(() => h.store.restore(bad), { code: StateErrorCode.SNAPSHOT_INVALID });
  }
  t.deepEqual(h.store.snapshot(), before);
});

test('property: the same random commands give byte-identical snapshots; restore mid-way then continuing is the same', (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const rng = new Prng(seed);
    const cmds: Command[] = [];
    let now = 1_700_000_000_000;
    for (let i = 0; i < 300; i++) {
      now += rng.int(5000);
      cmds.push(randomCommand(rng, now));
    }
    const a = new StateStore();
    const b = new StateStore();
    const c = new StateStore();
    const cut = 1 + rng.int(cmds.length - 1);
    let okCount = 0;
    let rolledBack = 0;
    cmds.forEach((cmd, i) => {
      const bytes = encodeCommand(cmd);
      const before = contents(a);
      const ra = a.apply(i + 1, bytes);
      const rb = b.apply(i + 1, bytes);
      t.deepEqual(ra, rb);
      if (ra.ok) okCount++;
      // Refused commands and failed transactions change nothing but (for the latter) lastIndex.
      const failedTxn = ra.ok && ra.value !== null && typeof ra.value === 'object';
      if (!ra.ok || (failedTxn && ra.value.Errors.length > 0)) {
        rolledBack++;
        t.deepEqual(contents(a), before, `seed ${seed} command ${i + 1}`);
      }
      if (i + 1 === cut) c.restore(a.snapshot());
      if (i + 1 > cut) t.deepEqual(c.apply(i + 1, bytes), ra);
    });
    t.true(rolledBack > 10, `seed ${seed}: only ${rolledBack} refusals`);
    const sa = a.snapshot();
    t.deepEqual(b.snapshot(), sa, `seed ${seed}`);
    t.deepEqual(c.snapshot(), sa, `seed ${seed} (restored at ${cut})`);
    t.true(okCount > 100, `seed ${seed}: only ${okCount} commands succeeded`);
  }
});

/** A snapshot's contents without its last-applied index. */
function contents(store: StateStore): unknown[] {
  const all = packr.unpack(store.snapshot()) as unknown[];
  return [...all.slice(0, 2), ...all.slice(3)];
}

function seedStore(h: Harness): void {
  h.node('n1');
  h.node('n2', '10.0.0.2');
  ok(
    h.register({
      Node: 'n1',
      Address: '10.0.0.1',
      Service: { Service: 'web', Tags: ['a'], Port: 80, Meta: { v: '1' } },
      Check: {
        CheckID: 'web',
        ServiceID: 'web',
        Status: 'passing',
        Definition: { HTTP: 'http://x' },
      },
    }),
  );
  ok(h.createSession({ ID: 's1', Node: 'n1', NodeChecks: ['serfHealth'] }));
  ok(h.kv('lock', { Key: 'locks/leader', Value: Buffer.from('n1'), Session: 's1' }));
  ok(h.set('cfg/a', '1'));
  ok(h.set('cfg/b', '2'));
  ok(h.kv('delete', { Key: 'cfg/b' }));
}

const NODES = ['n1', 'n2', 'N3'];
const SERVICES = ['web', 'db', 'api'];
const KEYS = ['a', 'a/b', 'a/c', 'b', 'b/x/y', 'c'];
const SESSIONS = ['s1', 's2', 's3'];
const VERBS = TXN_KV_VERBS;

/** A random valid-shaped command over a small universe, so commands interact. */
function randomCommand(rng: Prng, now: number): Command {
  const node = rng.pick(NODES);
  const key = rng.pick(KEYS);
  const session = rng.pick(SESSIONS);
  const status = rng.pick(['passing', 'warning', 'critical'] as const);
  switch (rng.int(9)) {
    case 0:
    case 1: {
      const svc = rng.pick(SERVICES);
      const withService = rng.chance(0.6);
      return {
        type: MessageType.Register,
        now,
        body: {
          Node: node,
          Address: `10.0.0.${rng.int(3)}`,
          NodeMeta: rng.chance(0.3) ? { z: 'last', a: 'first' } : {},
          SkipNodeUpdate: rng.chance(0.2),
          ...(withService
            ? {
                Service: {
                  ID: `${svc}-${rng.int(2)}`,
                  Service: svc,
                  Tags: rng.chance(0.5) ? ['x'] : [],
                  Port: rng.int(3),
                },
              }
            : {}),
          Checks: rng.chance(0.7)
            ? [{ CheckID: rng.pick(['serfHealth', 'mem']), Status: status }]
            : [],
        },
      };
    }
    case 2: {
      const r = rng.int(3);
      return {
        type: MessageType.Deregister,
        now,
        body:
          r === 0
            ? { Node: node }
            : r === 1
              ? { Node: node, ServiceID: `${rng.pick(SERVICES)}-${rng.int(2)}` }
              : { Node: node, CheckID: rng.pick(['serfHealth', 'mem']) },
      };
    }
    case 3:
    case 4: {
      const op = rng.pick([
        'set',
        'delete',
        'delete-cas',
        'delete-tree',
        'cas',
        'lock',
        'unlock',
      ] as const);
      return {
        type: MessageType.KVS,
        now,
        body: {
          Op: op,
          DirEnt: {
            Key: key,
            Value: Buffer.from([rng.int(3)]),
            Flags: rng.int(2),
            ModifyIndex: rng.int(20),
            ...(op === 'lock' || op === 'unlock' ? { Session: session } : {}),
          },
        },
      };
    }
    case 5:
      return rng.chance(0.6)
        ? {
            type: MessageType.Session,
            now,
            body: {
              Op: 'create',
              Session: {
                ID: session,
                Node: node,
                NodeChecks: rng.chance(0.5) ? ['serfHealth'] : [],
                Behavior: rng.pick(['release', 'delete'] as const),
                LockDelay: rng.int(3) * 1_000_000_000,
              },
            },
          }
        : { type: MessageType.Session, now, body: { Op: 'destroy', Session: { ID: session } } };
    case 6:
      return { type: MessageType.Tombstone, now, body: { Op: 'reap', ReapIndex: rng.int(300) } };
    default:
      return {
        type: MessageType.Txn,
        now,
        body: {
          Ops: Array.from({ length: 1 + rng.int(4) }, () => ({
            KV: {
              Verb: rng.pick(VERBS),
              DirEnt: {
                Key: rng.pick(KEYS),
                Value: Buffer.from([rng.int(3)]),
                ModifyIndex: rng.int(20),
                Session: rng.pick(SESSIONS),
              },
            },
          })),
        },
      };
  }
}

test('the Restore command replaces the state at its index; indexes never go back; watches fire', async (t) => {
  const src = new Harness();
  ok(src.set('kept', 'v1'));
  const saved = src.store.snapshot();
  const h = new Harness();
  for (let i = 0; i < 5; i++) ok(h.set(`gone${i}`, 'x'));
  const ws = h.store.watchSet();
  h.store.kvGet('kept', ws);
  const woke = ws.wait();
  const r = h.store.apply(
    6,
    encodeCommand({ type: MessageType.Restore, now: 0, body: { Snapshot: saved } }),
  );
  t.deepEqual(r, { ok: true, value: true });
  t.true(await woke);
  t.is(Buffer.from(h.store.kvGet('kept').value?.Value ?? []).toString(), 'v1');
  t.is(h.store.kvGet('gone0').value, undefined);
  t.is(h.store.kvGet('kept').index, 6);
  t.is(h.store.maxIndex('kvs'), 6);
  // The next command continues from the restore's index.
  t.true(
    h.store.apply(
      7,
      encodeCommand({
        type: MessageType.KVS,
        now: 0,
        body: { Op: 'set', DirEnt: { Key: 'n', Value: Buffer.from('1') } },
      }),
    ).ok,
  );
});

test('a Restore of bad bytes is refused and changes nothing; oversized snapshots are refused at encode', (t) => {
  const h = new Harness();
  ok(h.set('a', '1'));
  const before = h.store.snapshot();
  const r = h.store.apply(
    2,
    encodeCommand({ type: MessageType.Restore, now: 0, body: { Snapshot: Buffer.from('junk') } }),
  );
  t.false(r.ok);
  t.is(!r.ok && r.error.code, StateErrorCode.SNAPSHOT_INVALID);
  t.deepEqual(h.store.snapshot(), before);
  t.throws(
    () =>
      encodeCommand({
        type: MessageType.Restore,
        now: 0,
        body: { Snapshot: new Uint8Array(MAX_RESTORE_BYTES + 1) },
      }),
    { message: /at most/ },
  );
});
