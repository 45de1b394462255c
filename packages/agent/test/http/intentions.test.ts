/**
 * The intentions API through a real in-process dev agent: the legacy ID-based API, the exact
 * API, listing in precedence order, match and check (default allow and deny), an L4/L7 story
 * checked through the API and /v1/agent/connect/authorize, concurrent writes to one
 * destination, and bad input.
 */
import test from 'ava';
import { authorize, intentionRules, type ServiceIntentionsEntry } from '@trellis/connect';
import { caReady, devAgent, waitFor, type DevAgent } from './dev-agent.js';

interface Intention {
  ID?: string;
  SourceName: string;
  DestinationName: string;
  SourceNS: string;
  DestinationNS: string;
  SourceType: string;
  Action?: string;
  Permissions?: unknown[];
  Description?: string;
  Meta?: Record<string, string>;
  Precedence: number;
  CreatedAt?: string;
  UpdatedAt?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function exactPut(a: DevAgent, source: string, destination: string, body: unknown) {
  const r = await a.req(
    'PUT',
    `/v1/connect/intentions/exact?source=${encodeURIComponent(source)}&destination=${encodeURIComponent(destination)}`,
    body,
  );
  if (r.status !== 200) throw new Error(`exact PUT ${source} => ${destination}: ${r.text}`);
  return r.json<boolean>();
}

const pair = (i: Intention) => `${i.SourceName} => ${i.DestinationName}`;

test('legacy API: create gives an ID; get, update and delete by ID; a duplicate is refused', async (t) => {
  const a = await devAgent(t);
  const created = await a.req('POST', '/v1/connect/intentions', {
    SourceName: 'web',
    DestinationName: 'db',
    Action: 'allow',
    Description: 'web reads the db',
    Meta: { owner: 'team-a' },
  });
  t.is(created.status, 200, created.text);
  const { ID } = created.json<{ ID: string }>();
  t.regex(ID, UUID);

  const got = await a.get<Intention>(`/v1/connect/intentions/${ID}`);
  t.like(got, {
    ID,
    SourceNS: 'default',
    SourceName: 'web',
    DestinationNS: 'default',
    DestinationName: 'db',
    SourceType: 'consul',
    Action: 'allow',
    Description: 'web reads the db',
    Meta: { owner: 'team-a' },
    Precedence: 9,
  });
  t.truthy(got.CreatedAt);
  t.is(got.UpdatedAt, got.CreatedAt);

  // One intention per source and destination.
  const dup = await a.req('POST', '/v1/connect/intentions', {
    SourceName: 'web',
    DestinationName: 'db',
    Action: 'deny',
  });
  t.is(dup.status, 400);
  t.regex(dup.text, /"web" more than once/);

  const upd = await a.req('PUT', `/v1/connect/intentions/${ID}`, {
    SourceName: 'web',
    DestinationName: 'db',
    Action: 'deny',
    Description: 'not any more',
  });
  t.is(upd.status, 200, upd.text);
  const after = await a.get<Intention>(`/v1/connect/intentions/${ID}`);
  t.is(after.Action, 'deny');
  t.is(after.Description, 'not any more');
  t.is(after.CreatedAt, got.CreatedAt);
  t.true(Date.parse(after.UpdatedAt!) >= Date.parse(got.UpdatedAt!));
  t.is(after.CreateIndex, got.CreateIndex);
  t.true(after.ModifyIndex > got.ModifyIndex);
  t.deepEqual(
    (await a.req('GET', '/v1/connect/intentions/check?source=web&destination=db')).json(),
    { Allowed: false },
  );

  const del = await a.req('DELETE', `/v1/connect/intentions/${ID}`);
  t.is(del.status, 200);
  const gone = await a.req('GET', `/v1/connect/intentions/${ID}`);
  t.is(gone.status, 404);
  t.is((await a.req('DELETE', `/v1/connect/intentions/${ID}`)).status, 404);
  t.is(
    (
      await a.req('PUT', `/v1/connect/intentions/${ID}`, {
        SourceName: 'web',
        DestinationName: 'db',
        Action: 'allow',
      })
    ).status,
    404,
  );
  t.is((await a.req('GET', '/v1/connect/intentions/not-an-id')).status, 404);
  t.deepEqual(await a.get('/v1/connect/intentions'), []);
});

test('exact API, the list in precedence order, match with wildcards, check with default allow', async (t) => {
  const a = await devAgent(t);
  t.true(await exactPut(a, 'web', 'db', { Action: 'allow' }));
  t.true(await exactPut(a, '*', 'db', { Action: 'deny' }));
  t.true(await exactPut(a, 'api', '*', { Action: 'allow' }));
  t.true(await exactPut(a, '*', '*', { Action: 'deny' }));
  t.true(await exactPut(a, 'web', 'cache', { Action: 'deny', Description: 'no cache for web' }));

  const got = await a.get<Intention>('/v1/connect/intentions/exact?source=web&destination=cache');
  t.like(got, { SourceName: 'web', DestinationName: 'cache', Action: 'deny', Precedence: 9 });
  t.is(got.Description, 'no cache for web');
  t.is(got.ID, undefined, 'the exact API makes no legacy IDs');

  // Precedence: exact => exact (9), * => exact (8), exact => * (6), * => * (5).
  const list = await a.get<Intention[]>('/v1/connect/intentions');
  t.deepEqual(
    list.map((i) => [pair(i), i.Precedence]),
    [
      ['web => cache', 9],
      ['web => db', 9],
      ['* => db', 8],
      ['api => *', 6],
      ['* => *', 5],
    ],
  );
  t.true(list.every((i) => i.SourceNS === 'default' && i.DestinationNS === 'default'));

  // Match by destination: what applies to db, most precise first.
  const byDest = await a.get<Record<string, Intention[]>>(
    '/v1/connect/intentions/match?by=destination&name=db',
  );
  t.deepEqual(Object.keys(byDest), ['db']);
  t.deepEqual(byDest.db!.map(pair), ['web => db', '* => db', 'api => *', '* => *']);
  // Match by source, two names at once.
  const bySource = await a.get<Record<string, Intention[]>>(
    '/v1/connect/intentions/match?by=source&name=api&name=web',
  );
  t.deepEqual(bySource.api!.map(pair), ['* => db', 'api => *', '* => *']);
  t.deepEqual(bySource.web!.map(pair), ['web => cache', 'web => db', '* => db', '* => *']);

  const check = async (source: string, destination: string) =>
    (
      await a.get<{ Allowed: boolean }>(
        `/v1/connect/intentions/check?source=${source}&destination=${destination}`,
      )
    ).Allowed;
  t.true(await check('web', 'db'));
  t.false(await check('billing', 'db'), '* => db');
  t.true(await check('api', 'cache'), 'api => *');
  t.false(await check('web', 'cache'));
  t.false(await check('billing', 'payments'), '* => *');

  // Update in place, then delete.
  t.true(await exactPut(a, 'web', 'db', { Action: 'deny' }));
  t.false(await check('web', 'db'));
  const del = await a.req('DELETE', '/v1/connect/intentions/exact?source=*&destination=*');
  t.is(del.status, 200);
  t.is((await a.req('GET', '/v1/connect/intentions/exact?source=*&destination=*')).status, 404);
  t.true(await check('billing', 'payments'), 'the default (allow) again');
  t.is((await a.get<Intention[]>('/v1/connect/intentions')).length, 4);
});

test('check with acl default_policy "deny"', async (t) => {
  const a = await devAgent(t, { configFiles: [{ acl: { default_policy: 'deny' } }] });
  const check = async (source: string, destination: string) =>
    (
      await a.get<{ Allowed: boolean }>(
        `/v1/connect/intentions/check?source=${source}&destination=${destination}`,
      )
    ).Allowed;
  t.false(await check('web', 'db'));
  t.true(await exactPut(a, 'web', 'db', { Action: 'allow' }));
  t.true(await check('web', 'db'));
  t.false(await check('api', 'db'));
  t.true(await exactPut(a, '*', 'db', { Action: 'allow' }));
  t.true(await check('api', 'db'));
  t.false(await check('api', 'cache'));
});

test('the story: web may call db (L4); productpage may only GET /reviews/* (L7 on http reviews); authorize denies it at L4', async (t) => {
  // Default deny, so that "only" holds: a request no permission matches falls to the ACL
  // default policy (Consul's documented behaviour), not to lower-precedence intentions.
  const a = await devAgent(t, { configFiles: [{ acl: { default_policy: 'deny' } }] });
  const { roots } = await caReady(a);
  t.true(await exactPut(a, 'web', 'db', { Action: 'allow' }));
  const l7 = {
    Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/reviews/', Methods: ['GET'] } }],
  };
  // reviews speaks tcp until said otherwise: no L7 intention for it.
  const refused = await a.req(
    'PUT',
    '/v1/connect/intentions/exact?source=productpage&destination=reviews',
    l7,
  );
  t.is(refused.status, 400);
  t.regex(refused.text, /incompatible with L7 intentions permissions/);
  const sd = await a.req('PUT', '/v1/config', {
    Kind: 'service-defaults',
    Name: 'reviews',
    Protocol: 'http',
  });
  t.is(sd.status, 200, sd.text);
  t.true(await exactPut(a, 'productpage', 'reviews', l7));

  const ixn = await a.get<Intention>(
    '/v1/connect/intentions/exact?source=productpage&destination=reviews',
  );
  t.is(ixn.Action, undefined);
  t.deepEqual(ixn.Permissions, l7.Permissions);

  // What a proxy for reviews would decide, from the entries as the API returns them.
  const entries = await a.get<ServiceIntentionsEntry[]>('/v1/config/service-intentions');
  const rules = intentionRules(entries);
  const decide = (
    source: string,
    destination: string,
    method?: string,
    path?: string,
    defaultAllow = false,
  ) =>
    authorize({
      destination,
      source,
      intentions: rules,
      defaultAllow,
      ...(method === undefined ? {} : { request: { method, path: path ?? '/', headers: {} } }),
    }).allowed;
  t.true(decide('productpage', 'reviews', 'GET', '/reviews/1'));
  t.false(decide('productpage', 'reviews', 'POST', '/reviews/1'));
  t.false(decide('productpage', 'reviews', 'GET', '/ratings/1'));
  t.false(decide('web', 'reviews', 'GET', '/reviews/1'));
  t.true(decide('web', 'db'));
  t.false(decide('productpage', 'db'));
  // Under default allow, an unmatched request falls to the default: allowed.
  t.true(decide('productpage', 'reviews', 'POST', '/reviews/1', true));

  // The agent's authorize endpoint is L4: an L7 intention cannot allow a bare connection.
  const authz = async (source: string, target: string) => {
    const r = await a.req('POST', '/v1/agent/connect/authorize', {
      Target: target,
      ClientCertURI: `spiffe://${roots.TrustDomain}/ns/default/dc/dc1/svc/${source}`,
    });
    t.is(r.status, 200, r.text);
    return r.json<{ Authorized: boolean; Reason: string }>();
  };
  const pp = await waitFor('the intentions to reach the agent', async () => {
    const d = await authz('productpage', 'reviews');
    return /L7/.test(d.Reason) ? d : undefined;
  });
  t.false(pp.Authorized);
  t.regex(pp.Reason, /^Matched L7 intention: default\/productpage => default\/reviews/);
  t.true((await authz('web', 'db')).Authorized);
  t.false((await authz('productpage', 'db')).Authorized);
  t.false((await authz('web', 'reviews')).Authorized);
  t.false(
    (
      await a.get<{ Allowed: boolean }>(
        '/v1/connect/intentions/check?source=productpage&destination=reviews',
      )
    ).Allowed,
  );
});

test('20 concurrent writes to one destination all land', async (t) => {
  const a = await devAgent(t);
  const sources = Array.from({ length: 20 }, (_, i) => `src-${i}`);
  // Warm up: the destination's entry exists, so every write below is an update of it.
  t.true(await exactPut(a, 'seed', 'db', { Action: 'allow' }));
  const puts = await Promise.all(
    sources.map((s, i) =>
      a.req('PUT', `/v1/connect/intentions/exact?source=${s}&destination=db`, {
        Action: i % 2 === 0 ? 'allow' : 'deny',
      }),
    ),
  );
  t.deepEqual(
    puts.map((r) => r.status),
    sources.map(() => 200),
    puts.find((r) => r.status !== 200)?.text,
  );
  const entry = await a.get<ServiceIntentionsEntry>('/v1/config/service-intentions/db');
  t.deepEqual(entry.Sources.map((s) => s.Name).sort(), [...sources, 'seed'].sort());
  for (const [i, s] of sources.entries()) {
    t.is(entry.Sources.find((x) => x.Name === s)?.Action, i % 2 === 0 ? 'allow' : 'deny');
  }

  // The legacy API too: 20 creates for another destination, then 10 deletes, at once.
  const created = await Promise.all(
    sources.map((s) =>
      a.req('POST', '/v1/connect/intentions', {
        SourceName: s,
        DestinationName: 'cache',
        Action: 'allow',
      }),
    ),
  );
  t.deepEqual(
    created.map((r) => r.status),
    sources.map(() => 200),
    created.find((r) => r.status !== 200)?.text,
  );
  const ids = created.map((r) => r.json<{ ID: string }>().ID);
  t.is(new Set(ids).size, 20);
  const deleted = await Promise.all(
    ids.slice(0, 10).map((id) => a.req('DELETE', `/v1/connect/intentions/${id}`)),
  );
  t.deepEqual(
    deleted.map((r) => r.status),
    ids.slice(0, 10).map(() => 200),
  );
  const left = (await a.get<Intention[]>('/v1/connect/intentions'))
    .filter((i) => i.DestinationName === 'cache')
    .map((i) => i.ID)
    .sort();
  t.deepEqual(left, ids.slice(10).sort());
});

test('bad input is refused with 400 and changes nothing', async (t) => {
  const a = await devAgent(t);
  t.true(await exactPut(a, 'web', 'db', { Action: 'allow' }));
  const before = (await a.req('GET', '/v1/connect/intentions')).text;
  const cases: Array<[string, string, string, unknown, RegExp]> = [
    [
      'create: bad action',
      'POST',
      '/v1/connect/intentions',
      { SourceName: 'a', DestinationName: 'b', Action: 'maybe' },
      /Action must be set to 'allow' or 'deny'/,
    ],
    [
      'create: no destination',
      'POST',
      '/v1/connect/intentions',
      { SourceName: 'a', Action: 'allow' },
      /DestinationName/,
    ],
    [
      'create: partial wildcard',
      'POST',
      '/v1/connect/intentions',
      { SourceName: 'we*', DestinationName: 'b', Action: 'allow' },
      /wildcard character '\*' cannot be used with partial values/,
    ],
    ['create: an array', 'POST', '/v1/connect/intentions', '[]', /expected a JSON object/],
    [
      'create: invalid JSON',
      'POST',
      '/v1/connect/intentions',
      '{"SourceName":',
      /Request decode failed/,
    ],
    [
      'exact: no destination',
      'PUT',
      '/v1/connect/intentions/exact?source=web',
      { Action: 'deny' },
      /'destination' not set/,
    ],
    [
      'exact: no source',
      'GET',
      '/v1/connect/intentions/exact?destination=db',
      undefined,
      /'source' not set/,
    ],
    [
      'exact: bad action',
      'PUT',
      '/v1/connect/intentions/exact?source=a&destination=b',
      { Action: 'nope' },
      /Action/,
    ],
    [
      'exact: L7 on tcp',
      'PUT',
      '/v1/connect/intentions/exact?source=a&destination=b',
      { Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] },
      /incompatible with L7/,
    ],
    ['match: no by', 'GET', '/v1/connect/intentions/match?name=db', undefined, /'by' not set/],
    [
      'match: bad by',
      'GET',
      '/v1/connect/intentions/match?by=sideways&name=db',
      undefined,
      /must be one of 'source' or 'destination'/,
    ],
    [
      'match: no name',
      'GET',
      '/v1/connect/intentions/match?by=source',
      undefined,
      /'name' not set/,
    ],
    [
      'check: no destination',
      'GET',
      '/v1/connect/intentions/check?source=web',
      undefined,
      /'destination' not set/,
    ],
    [
      'check: bad source-type',
      'GET',
      '/v1/connect/intentions/check?source=web&destination=db&source-type=k8s',
      undefined,
      /SourceType/,
    ],
  ];
  for (const [what, method, path, body, message] of cases) {
    const r = await a.req(method, path, body);
    t.is(r.status, 400, `${what}: ${r.status} ${r.text}`);
    t.regex(r.text, message, what);
  }
  t.is((await a.req('PATCH', '/v1/connect/intentions/exact?source=a&destination=b')).status, 405);
  t.is((await a.req('POST', '/v1/connect/intentions/check?source=a&destination=b')).status, 405);
  t.is((await a.req('GET', '/v1/connect/intentions')).text, before);
});
