import test from 'ava';
import {
  MessageType,
  StateErrorCode,
  StateStore,
  encodeRawCommand,
  type CARootInput,
  type ConfigEntryRequest,
  type ConnectCARequest,
} from '../src/index.js';
import { Harness, ok } from './helpers.js';

function entry(h: Harness, body: ConfigEntryRequest): unknown {
  return ok(h.send({ type: MessageType.ConfigEntry, now: h.now, body }));
}

function ca(h: Harness, body: ConnectCARequest): unknown {
  return ok(h.send({ type: MessageType.ConnectCA, now: h.now, body }));
}

const sd = (name: string, protocol: string) => ({
  Kind: 'service-defaults',
  Name: name,
  Entry: { Kind: 'service-defaults', Name: name, Protocol: protocol },
});

function root(id: string, active: boolean): CARootInput {
  return {
    ID: id,
    Name: 'Trellis CA Root Cert',
    SerialNumber: 1,
    SigningKeyID: id,
    ExternalTrustDomain: 'c0ffee.consul',
    NotBefore: '2026-01-01T00:00:00Z',
    NotAfter: '2036-01-01T00:00:00Z',
    RootCert: `-----BEGIN CERTIFICATE-----\n${id}\n-----END CERTIFICATE-----\n`,
    IntermediateCerts: [],
    SigningKey: 'secret',
    Active: active,
    RotatedOutAt: '',
    PrivateKeyType: 'ec',
    PrivateKeyBits: 256,
  };
}

test('config entries: upsert keeps CreateIndex, an identical upsert is not a write, delete bumps', (t) => {
  const h = new Harness();
  t.is(entry(h, { Op: 'upsert', ...sd('web', 'http') }), true); // 1
  t.is(entry(h, { Op: 'upsert', ...sd('db', 'tcp') }), true); // 2
  t.is(entry(h, { Op: 'upsert', ...sd('web', 'grpc') }), true); // 3
  t.like(h.store.configEntry('service-defaults', 'web').value, {
    CreateIndex: 1,
    ModifyIndex: 3,
    Entry: { Protocol: 'grpc' },
  });
  t.is(entry(h, { Op: 'upsert', ...sd('web', 'grpc') }), true); // 4: no change
  t.is(h.store.maxIndex('configEntries'), 3);
  // Names are case-insensitive keys; lists are by kind.
  t.is(h.store.configEntry('service-defaults', 'WEB').value?.Name, 'web');
  t.deepEqual(
    h.store.configEntries('service-defaults').value.map((e) => e.Name),
    ['db', 'web'],
  );
  t.deepEqual(h.store.configEntries('proxy-defaults').value, []);
  t.is(entry(h, { Op: 'delete', Kind: 'service-defaults', Name: 'db' }), true); // 5
  t.is(h.store.configEntry('service-defaults', 'db').value, undefined);
  t.is(h.store.maxIndex('configEntries'), 5);
});

test('config entries: CAS upsert and delete follow Consul (0 = create only)', (t) => {
  const h = new Harness();
  t.is(entry(h, { Op: 'upsert-cas', Index: 0, ...sd('web', 'http') }), true); // 1
  t.is(entry(h, { Op: 'upsert-cas', Index: 0, ...sd('web', 'tcp') }), false); // 2
  t.is(entry(h, { Op: 'upsert-cas', Index: 1, ...sd('web', 'tcp') }), true); // 3
  t.is(entry(h, { Op: 'delete-cas', Index: 1, Kind: 'service-defaults', Name: 'web' }), false);
  t.is(h.store.configEntry('service-defaults', 'web').value?.Entry.Protocol, 'tcp');
  t.is(entry(h, { Op: 'delete-cas', Index: 3, Kind: 'service-defaults', Name: 'web' }), true);
  t.is(h.store.configEntry('service-defaults', 'web').value, undefined);
});

test('config entries: a watch on one entry fires for it and not for another', (t) => {
  const h = new Harness();
  entry(h, { Op: 'upsert', ...sd('web', 'http') });
  const ws = h.store.watchSet();
  h.store.configEntry('service-defaults', 'web', ws);
  entry(h, { Op: 'upsert', ...sd('db', 'http') });
  t.false(ws.fired);
  entry(h, { Op: 'upsert', ...sd('web', 'tcp') });
  t.true(ws.fired);
});

test('config entries: bad bodies are refused and change nothing', (t) => {
  const h = new Harness();
  const bad = (body: unknown): string => {
    const r = h.store.apply(++h.index, encodeRawCommand(MessageType.ConfigEntry, h.now, body));
    t.false(r.ok);
    return r.ok ? '' : `${r.error.code}: ${r.error.message}`;
  };
  t.regex(bad({ Op: 'upsert', Kind: '', Name: 'x', Entry: {} }), /body\.Kind/);
  t.regex(bad({ Op: 'upsert', Kind: 'k', Name: 'x' }), /body\.Entry/);
  t.regex(
    bad({ Op: 'upsert', Kind: 'k', Name: 'x', Entry: { Kind: 'k', Name: 'y' } }),
    /must match/,
  );
  t.regex(bad({ Op: 'explode', Kind: 'k', Name: 'x' }), /body\.Op/);
  const huge = { Kind: 'k', Name: 'x', Blob: 'x'.repeat(60_000), More: [] as string[] };
  for (let i = 0; i < 10; i++) huge.More.push('y'.repeat(60_000));
  t.regex(bad({ Op: 'upsert', Kind: 'k', Name: 'x', Entry: huge }), /larger than/);
  t.is(
    bad({ Op: 'upsert', Kind: 'k', Name: 'x', Entry: [] }).split(':')[0],
    StateErrorCode.INVALID_COMMAND,
  );
  t.deepEqual(h.store.configEntries().value, []);
});

test('CA: roots replace the table, config is one row, CAS on both', (t) => {
  const h = new Harness();
  const config = {
    ClusterID: 'c0ffee',
    Provider: 'consul',
    Config: { LeafCertTTL: '72h' },
    ForceWithoutCrossSigning: false,
  };
  t.is(ca(h, { Op: 'set-roots-and-config', Roots: [root('a', true)], Config: config }), true); // 1
  t.deepEqual(
    h.store.caRoots().value.map((r) => [r.ID, r.Active, r.CreateIndex]),
    [['a', true, 1]],
  );
  t.is(h.store.caConfig().value?.ClusterID, 'c0ffee');
  // Rotation: a new active root, the old one kept inactive (CAS on the roots index).
  t.is(ca(h, { Op: 'set-roots', Index: 99, Roots: [root('b', true)] }), false); // 2
  t.is(ca(h, { Op: 'set-roots', Index: 1, Roots: [root('b', true), root('a', false)] }), true); // 3
  t.deepEqual(
    h.store.caRoots().value.map((r) => [r.ID, r.Active, r.CreateIndex, r.ModifyIndex]),
    [
      ['b', true, 3, 3],
      ['a', false, 1, 3],
    ],
  );
  // Pruning the old root.
  t.is(ca(h, { Op: 'set-roots', Roots: [root('b', true)] }), true); // 4
  t.deepEqual(
    h.store.caRoots().value.map((r) => r.ID),
    ['b'],
  );
  // Config CAS on its ModifyIndex; a second initialisation (CAS 0) loses.
  t.is(
    ca(h, { Op: 'set-roots-and-config', Index: 0, Roots: [root('z', true)], Config: config }),
    false,
  );
  t.is(ca(h, { Op: 'set-config', Index: 3, Config: config }), false);
  t.is(
    ca(h, { Op: 'set-config', Index: 1, Config: { ...config, Config: { LeafCertTTL: '1h' } } }),
    true,
  );
  t.is(h.store.caConfig().value?.Config.LeafCertTTL, '1h');
});

test('CA: two active roots or duplicate IDs are refused', (t) => {
  const h = new Harness();
  const r = h.store.apply(
    1,
    encodeRawCommand(MessageType.ConnectCA, h.now, {
      Op: 'set-roots',
      Roots: [root('a', true), root('b', true)],
    }),
  );
  t.false(r.ok);
  const d = h.store.apply(
    1,
    encodeRawCommand(MessageType.ConnectCA, h.now, {
      Op: 'set-roots',
      Roots: [root('a', true), root('a', false)],
    }),
  );
  t.false(d.ok);
  t.deepEqual(h.store.caRoots().value, []);
});

test('snapshot and restore carry config entries, roots (with their keys) and the CA config', (t) => {
  const h = new Harness();
  entry(h, { Op: 'upsert', ...sd('web', 'http') });
  ca(h, {
    Op: 'set-roots-and-config',
    Index: 0,
    Roots: [root('a', true)],
    Config: {
      ClusterID: 'c0ffee',
      Provider: 'consul',
      Config: {},
      ForceWithoutCrossSigning: false,
    },
  });
  const copy = new StateStore();
  copy.restore(h.store.snapshot());
  t.deepEqual(copy.configEntries().value, h.store.configEntries().value);
  t.deepEqual(copy.caRoots().value, h.store.caRoots().value);
  t.is(copy.caRoots().value[0]?.SigningKey, 'secret');
  t.deepEqual(copy.caConfig().value, h.store.caConfig().value);
  t.is(copy.maxIndex('caRoots'), 2);
});
