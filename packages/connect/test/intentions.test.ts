// Intentions: precedence, ordering, matching, and the legacy/exact write conversions.
import { createHash } from 'node:crypto';
import test from 'ava';
import {
  ConnectError,
  decodeConfigEntry,
  decodeIntentionBody,
  deleteIntentionExact,
  findIntentionById,
  findIntentionExact,
  intentionString,
  intentionsOf,
  legacyCreateIntention,
  legacyDeleteIntention,
  legacyUpdateIntention,
  listIntentions,
  matchIntentions,
  precedence,
  sortIntentions,
  upsertIntentionExact,
  type Intention,
  type ServiceIntentionsEntry,
  type StoredIntentions,
} from '../src/index.js';

test("precedence: Consul's documented table", (t) => {
  // [source ns, source name, destination ns, destination name, precedence]
  const table: Array<[string, string, string, string, number]> = [
    ['default', 'web', 'default', 'db', 9],
    ['default', '*', 'default', 'db', 8],
    ['*', '*', 'default', 'db', 7],
    ['default', 'web', 'default', '*', 6],
    ['default', '*', 'default', '*', 5],
    ['*', '*', 'default', '*', 4],
    ['default', 'web', '*', '*', 3],
    ['default', '*', '*', '*', 2],
    ['*', '*', '*', '*', 1],
  ];
  for (const [sns, s, dns, d, want] of table) {
    t.is(precedence(s, d, { source: sns, destination: dns }), want, `${sns}/${s} => ${dns}/${d}`);
  }
  // Without namespaces (Trellis): 9, 8, 6, 5.
  t.deepEqual(
    [
      ['web', 'db'],
      ['*', 'db'],
      ['web', '*'],
      ['*', '*'],
    ].map(([s, d]) => precedence(s as string, d as string)),
    [9, 8, 6, 5],
  );
});

const ix = (SourceName: string, DestinationName: string, Precedence: number) => ({
  SourceName,
  DestinationName,
  Precedence,
});

test('sortIntentions: precedence descending, then names (Go byte order)', (t) => {
  const sorted = sortIntentions([
    ix('*', '*', 5),
    ix('web', 'db', 9),
    ix('api', 'db', 9),
    ix('web', '*', 6),
    ix('*', 'db', 8),
    ix('api', 'cache', 9),
    ix('Zed', 'db', 9),
    ix('é', 'db', 9),
  ]);
  t.deepEqual(
    sorted.map((i) => `${i.SourceName}->${i.DestinationName}`),
    ['Zed->db', 'api->cache', 'api->db', 'web->db', 'é->db', '*->db', 'web->*', '*->*'],
  );
});

function stored(body: unknown, createIndex = 10, modifyIndex = 12): StoredIntentions {
  return { entry: decodeConfigEntry(body) as ServiceIntentionsEntry, createIndex, modifyIndex };
}

const all = [
  stored({
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [
      { Name: 'web', Action: 'allow' },
      { Name: '*', Action: 'deny' },
    ],
    Meta: { team: 'data' },
  }),
  stored({
    Kind: 'service-intentions',
    Name: '*',
    Sources: [
      { Name: 'web', Action: 'deny' },
      { Name: '*', Action: 'allow' },
    ],
  }),
  stored({ Kind: 'service-intentions', Name: 'api', Sources: [{ Name: 'web', Action: 'allow' }] }),
];

const pairs = (list: readonly Intention[]): string[] =>
  list.map((i) => `${i.SourceName}->${i.DestinationName}:${i.Precedence}`);

test('the intention view of a config entry (no ID, the entry Meta, Consul key order)', (t) => {
  const [first] = intentionsOf(all[0] as StoredIntentions);
  t.deepEqual(first, {
    SourceNS: 'default',
    SourceName: 'web',
    DestinationNS: 'default',
    DestinationName: 'db',
    SourceType: 'consul',
    Action: 'allow',
    Meta: { team: 'data' },
    Precedence: 9,
    CreateIndex: 10,
    ModifyIndex: 12,
  });
  t.deepEqual(Object.keys(first ?? {}), [
    'SourceNS',
    'SourceName',
    'DestinationNS',
    'DestinationName',
    'SourceType',
    'Action',
    'Meta',
    'Precedence',
    'CreateIndex',
    'ModifyIndex',
  ]);
  t.deepEqual(pairs(listIntentions(all)), [
    'web->api:9',
    'web->db:9',
    '*->db:8',
    'web->*:6',
    '*->*:5',
  ]);
});

test('matchIntentions by destination and by source, with wildcards', (t) => {
  const byDest = matchIntentions(all, { by: 'destination', names: ['db', 'API', 'nothing'] });
  t.deepEqual(pairs(byDest['db'] ?? []), ['web->db:9', '*->db:8', 'web->*:6', '*->*:5']);
  t.deepEqual(pairs(byDest['API'] ?? []), ['web->api:9', 'web->*:6', '*->*:5']);
  t.deepEqual(pairs(byDest['nothing'] ?? []), ['web->*:6', '*->*:5']);
  const bySource = matchIntentions(all, { by: 'source', names: ['web', '*', 'other'] });
  t.deepEqual(pairs(bySource['web'] ?? []), [
    'web->api:9',
    'web->db:9',
    '*->db:8',
    'web->*:6',
    '*->*:5',
  ]);
  t.deepEqual(pairs(bySource['*'] ?? []), ['*->db:8', '*->*:5'], '* matches only wildcards');
  t.deepEqual(pairs(bySource['other'] ?? []), ['*->db:8', '*->*:5']);
  const weird = matchIntentions(all, { by: 'source', names: ['__proto__'] });
  t.true(Object.hasOwn(weird, '__proto__'));
});

test('intentionString follows Consul', (t) => {
  t.is(
    intentionString({ SourceName: 'web', DestinationName: 'db', Precedence: 9, Action: 'allow' }),
    'default/web => default/db (Precedence: 9, Action: ALLOW)',
  );
  t.is(
    intentionString({
      ID: 'abc',
      SourceName: '*',
      DestinationName: 'db',
      Precedence: 8,
      Permissions: [{ Action: 'deny', HTTP: { PathExact: '/' } }],
    }),
    'default/* => default/db (ID: abc, Precedence: 8, Permissions: 1)',
  );
});

const T1 = '2024-05-01T10:00:00.000Z';
const T2 = '2024-05-02T11:30:00.5Z';
const ID1 = '8f3c1a52-5b7e-4c1d-9a2b-0e6f7d8c9b01';
const ID2 = '8f3c1a52-5b7e-4c1d-9a2b-0e6f7d8c9b02';

function legacyHash(fields: string[], prec: number, meta: Record<string, string>): string {
  const p = Buffer.alloc(8);
  p.writeBigUInt64LE(BigInt(prec));
  const parts = [...fields.map((f) => Buffer.from(f)), p];
  for (const k of Object.keys(meta).sort()) parts.push(Buffer.from(k), Buffer.from(meta[k] ?? ''));
  return createHash('sha256').update(Buffer.concat(parts)).digest('base64');
}

test('legacy API round trip: create, create, update, delete, delete', (t) => {
  const c1 = legacyCreateIntention(
    undefined,
    {
      SourceName: 'web',
      DestinationName: 'db',
      Action: 'allow',
      Description: 'web reads db',
      Meta: { owner: 'ops' },
      CreatedAt: 'ignored',
      Precedence: 1,
    },
    { id: ID1, now: T1 },
  );
  t.deepEqual(c1.entry, {
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [
      {
        Name: 'web',
        Action: 'allow',
        Precedence: 9,
        LegacyID: ID1,
        Type: 'consul',
        Description: 'web reads db',
        LegacyMeta: { owner: 'ops' },
        LegacyCreateTime: T1,
        LegacyUpdateTime: T1,
      },
    ],
  });
  const view = intentionsOf({ entry: c1.entry, createIndex: 20, modifyIndex: 20 })[0];
  t.deepEqual(view, {
    CreatedAt: T1,
    UpdatedAt: T1,
    ID: ID1,
    Description: 'web reads db',
    SourceNS: 'default',
    SourceName: 'web',
    DestinationNS: 'default',
    DestinationName: 'db',
    SourceType: 'consul',
    Action: 'allow',
    Meta: { owner: 'ops' },
    Precedence: 9,
    Hash: legacyHash(
      [ID1, 'web reads db', 'default', 'web', 'default', 'db', 'consul', 'allow'],
      9,
      { owner: 'ops' },
    ),
    CreateIndex: 20,
    ModifyIndex: 20,
  });
  // The stored entry re-validates in legacy form.
  t.deepEqual(decodeConfigEntry(c1.entry, { legacy: true }), c1.entry);

  const c2 = legacyCreateIntention(
    c1.entry,
    { SourceName: '*', DestinationName: 'db', Action: 'deny' },
    { id: ID2, now: T1 },
  );
  t.deepEqual(
    c2.entry.Sources.map((s) => [s.Name, s.LegacyID, s.Precedence]),
    [
      ['web', ID1, 9],
      ['*', ID2, 8],
    ],
  );
  t.throws(
    () =>
      legacyCreateIntention(
        c2.entry,
        { SourceName: 'web', DestinationName: 'db', Action: 'deny' },
        { id: 'x', now: T1 },
      ),
    { message: 'Sources[2] defines "web" more than once' },
  );

  const u = legacyUpdateIntention(
    [c2.entry],
    ID1,
    {
      SourceName: 'web',
      DestinationName: 'db',
      Action: 'deny',
    },
    { now: T2 },
  );
  const updated = findIntentionById([{ entry: u.entry, createIndex: 20, modifyIndex: 30 }], ID1);
  t.is(updated?.Action, 'deny');
  t.is(updated?.CreatedAt, T1, 'the creation time is kept');
  t.is(updated?.UpdatedAt, T2);
  t.is(updated?.Description, undefined);
  t.is(updated?.Meta, undefined, 'an empty Meta is omitted');

  const d1 = legacyDeleteIntention([u.entry], ID2);
  t.is(d1.op, 'upsert');
  if (d1.op !== 'upsert') return;
  t.deepEqual(
    d1.entry.Sources.map((s) => s.Name),
    ['web'],
  );
  t.deepEqual(legacyDeleteIntention([d1.entry], ID1), { op: 'delete', name: 'db' });
});

test('legacy API errors follow Consul', (t) => {
  const c = legacyCreateIntention(
    undefined,
    { SourceName: 'web', DestinationName: 'db', Action: 'allow' },
    { id: ID1, now: T1 },
  );
  const cases: Array<[() => unknown, string, ConnectError['code']]> = [
    [
      () =>
        legacyCreateIntention(
          undefined,
          { ID: 'x', SourceName: 'a', DestinationName: 'b', Action: 'allow' },
          { id: ID2, now: T1 },
        ),
      'ID must be empty when creating a new intention',
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () =>
        legacyCreateIntention(
          undefined,
          { DestinationName: 'b', Action: 'allow' },
          { id: ID2, now: T1 },
        ),
      'SourceName must be set',
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () =>
        legacyCreateIntention(
          undefined,
          { SourceName: 'a', DestinationName: 'b', Action: 'permit' },
          { id: ID2, now: T1 },
        ),
      "Action must be set to 'allow' or 'deny'",
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () =>
        legacyCreateIntention(
          undefined,
          {
            SourceName: 'a',
            DestinationName: 'b',
            Action: 'allow',
            Permissions: [{ Action: 'allow', HTTP: { PathExact: '/' } }],
          },
          { id: ID2, now: T1 },
        ),
      'Permissions must not be set when using the legacy APIs',
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () =>
        legacyCreateIntention(
          undefined,
          { SourceName: 'a*', DestinationName: 'b', Action: 'allow' },
          { id: ID2, now: T1 },
        ),
      "SourceName: wildcard character '*' cannot be used with partial values",
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () =>
        legacyCreateIntention(
          undefined,
          { SourceNS: 'team', SourceName: 'a', DestinationName: 'b', Action: 'allow' },
          { id: ID2, now: T1 },
        ),
      'Invalid source namespace "team": Namespaces is a Consul Enterprise feature',
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () =>
        legacyCreateIntention(
          undefined,
          { SourceName: 'a', DestinationName: 'b', Action: 'allow', SourceType: 'external' },
          { id: ID2, now: T1 },
        ),
      "SourceType must be set to 'consul'",
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () => legacyUpdateIntention([c.entry], 'nope', {}, { now: T2 }),
      "Cannot modify non-existent intention: 'nope'",
      'CONNECT_INTENTION_NOT_FOUND',
    ],
    [
      () =>
        legacyUpdateIntention(
          [c.entry],
          ID1,
          { SourceName: 'web', DestinationName: 'other', Action: 'allow' },
          { now: T2 },
        ),
      'Cannot modify Destination partition/namespace/name for an intention once it exists.',
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () => legacyDeleteIntention([c.entry], 'nope'),
      "Cannot delete non-existent intention: 'nope'",
      'CONNECT_INTENTION_NOT_FOUND',
    ],
    [
      () => decodeIntentionBody({ SourcePeer: 'p' }),
      'SourcePeer field is not supported on this endpoint. Use config entries instead',
      'CONNECT_INVALID_INTENTION',
    ],
    [
      () => decodeIntentionBody({ SourceName: 5 }),
      'SourceName: must be a string',
      'CONNECT_INVALID_INTENTION',
    ],
  ];
  for (const [fn, message, code] of cases) {
    const err = t.throws(fn, { instanceOf: ConnectError });
    t.is(err?.message, message);
    t.is(err?.code, code);
  }
});

test('the legacy API may not edit an entry written as a config entry', (t) => {
  const entry = decodeConfigEntry({
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [{ Name: 'web', Action: 'allow' }],
  }) as ServiceIntentionsEntry;
  const err = t.throws(
    () =>
      legacyCreateIntention(
        entry,
        { SourceName: 'api', DestinationName: 'db', Action: 'allow' },
        { id: ID1, now: T1 },
      ),
    { instanceOf: ConnectError },
  );
  t.is(
    err?.message,
    'cannot use legacy intention API to edit intentions with a destination of "db" after editing them via a service-intentions config entry',
  );
  t.is(err?.code, 'CONNECT_LEGACY_INTENTION_CONFLICT');
});

test('exact upsert and delete (PUT/DELETE /v1/connect/intentions/exact)', (t) => {
  const legacy = legacyCreateIntention(
    undefined,
    { SourceName: 'web', DestinationName: 'db', Action: 'allow' },
    { id: ID1, now: T1 },
  ).entry;
  // An exact write turns the whole entry into a config-entry-style one: LegacyIDs are dropped.
  const up = upsertIntentionExact(legacy, 'api', 'db', {
    ID: 'ignored',
    SourceName: 'ignored',
    Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/v1', Methods: ['get'] } }],
    Description: 'api v1',
  });
  t.deepEqual(up.entry, {
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [
      { Name: 'web', Action: 'allow', Precedence: 9, Type: 'consul' },
      {
        Name: 'api',
        Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/v1', Methods: ['GET'] } }],
        Precedence: 9,
        Type: 'consul',
        Description: 'api v1',
      },
    ],
  });
  const s = [{ entry: up.entry, createIndex: 1, modifyIndex: 2 }];
  t.is(findIntentionExact(s, 'api', 'DB')?.Description, 'api v1');
  t.is(findIntentionExact(s, 'web', 'db')?.ID, undefined);
  t.is(findIntentionById(s, ID1), undefined);

  // Replace in place.
  const again = upsertIntentionExact(up.entry, 'web', 'db', { Action: 'deny' });
  t.deepEqual(
    again.entry.Sources.map((x) => [x.Name, x.Action ?? 'L7']),
    [
      ['web', 'deny'],
      ['api', 'L7'],
    ],
  );
  // New entry; Meta is refused unless it repeats the entry's.
  t.throws(
    () => upsertIntentionExact(undefined, 'web', 'cache', { Action: 'allow', Meta: { a: 'b' } }),
    {
      message: 'Meta must not be specified',
    },
  );
  const withMeta = decodeConfigEntry({
    Kind: 'service-intentions',
    Name: 'cache',
    Sources: [{ Name: 'web', Action: 'allow' }],
    Meta: { a: 'b' },
  }) as ServiceIntentionsEntry;
  t.deepEqual(
    upsertIntentionExact(withMeta, 'api', 'cache', { Action: 'allow', Meta: { a: 'b' } }).entry
      .Meta,
    { a: 'b' },
  );
  t.throws(
    () => upsertIntentionExact(withMeta, 'api', 'cache', { Action: 'allow', Meta: { a: 'c' } }),
    {
      message: 'Meta must not be specified, or should be unchanged during an update.',
    },
  );
  t.throws(() => upsertIntentionExact(undefined, 'web', 'cache', { Action: 'maybe' }), {
    message: "Sources[0].Action must be set to 'allow' or 'deny'",
  });
  t.throws(() => upsertIntentionExact(undefined, '', 'cache', {}), {
    message: "required query parameter 'source' not set",
  });

  t.deepEqual(deleteIntentionExact(undefined, 'web', 'db'), { op: 'none' });
  t.deepEqual(deleteIntentionExact(up.entry, 'nobody', 'db'), { op: 'none' });
  const d = deleteIntentionExact(up.entry, 'web', 'db');
  t.is(d.op, 'upsert');
  if (d.op === 'upsert')
    t.deepEqual(
      d.entry.Sources.map((x) => x.Name),
      ['api'],
    );
  const single = upsertIntentionExact(undefined, 'web', 'cache', { Action: 'allow' }).entry;
  t.deepEqual(deleteIntentionExact(single, 'web', 'cache'), { op: 'delete', name: 'cache' });
});
