/**
 * Config entries through the HTTP API of a real in-process dev agent: every kind written and
 * read back as Consul's JSON, listing, check-and-set writes and deletes, the cross-entry
 * protocol checks (L7 intentions and ingress listeners need an HTTP-like protocol; a write or
 * a delete that would take it away is refused), hostile bodies, and blocking reads.
 */
import test from 'ava';
import { devAgent, tracked, type DevAgent } from './dev-agent.js';

type Entry = Record<string, unknown> & { CreateIndex: number; ModifyIndex: number };

const KINDS = ['service-defaults', 'proxy-defaults', 'service-intentions', 'ingress-gateway'];

async function put(a: DevAgent, body: unknown, query = ''): Promise<boolean> {
  const r = await a.req('PUT', `/v1/config${query}`, body);
  if (r.status !== 200) throw new Error(`PUT /v1/config${query}: ${r.status} ${r.text}`);
  return r.json<boolean>();
}

/** Every kind's list, as text: to show that a refused write stored nothing. */
async function everything(a: DevAgent): Promise<string[]> {
  return Promise.all(KINDS.map(async (k) => (await a.req('GET', `/v1/config/${k}`)).text));
}

function withoutIndexes(e: Entry): Record<string, unknown> {
  const { CreateIndex: _c, ModifyIndex: _m, ...rest } = e;
  return rest;
}

test('every kind is written and read back as Consul JSON', async (t) => {
  const a = await devAgent(t);
  t.true(
    await put(a, {
      Kind: 'service-defaults',
      Name: 'web',
      Protocol: 'HTTP',
      MaxInboundConnections: 100,
      Meta: { team: 'frontend' },
    }),
  );
  t.true(
    await put(a, {
      Kind: 'proxy-defaults',
      Name: 'global',
      Config: { protocol: 'tcp', local_connect_timeout_ms: 1000, nested: { list: [1, 'two'] } },
    }),
  );
  t.true(
    await put(a, {
      Kind: 'service-intentions',
      Name: 'web',
      Sources: [
        { Name: '*', Action: 'deny' },
        { Name: 'api', Action: 'allow', Description: 'the API may call web' },
        {
          Name: 'admin',
          Permissions: [
            {
              Action: 'allow',
              HTTP: { PathPrefix: '/admin/', Methods: ['GET', 'POST'] },
            },
          ],
        },
      ],
    }),
  );
  t.true(
    await put(a, {
      Kind: 'ingress-gateway',
      Name: 'edge',
      Listeners: [
        { Port: 8080, Protocol: 'http', Services: [{ Name: 'web', Hosts: ['web.example'] }] },
      ],
    }),
  );

  const sd = await a.get<Entry>('/v1/config/service-defaults/web');
  t.deepEqual(withoutIndexes(sd), {
    Kind: 'service-defaults',
    Name: 'web',
    Protocol: 'http',
    MaxInboundConnections: 100,
    TransparentProxy: {},
    MeshGateway: {},
    Expose: {},
    Meta: { team: 'frontend' },
  });
  t.true(sd.CreateIndex > 0);
  t.is(sd.ModifyIndex, sd.CreateIndex);

  const pd = await a.get<Entry>('/v1/config/proxy-defaults/global');
  t.deepEqual(withoutIndexes(pd), {
    Kind: 'proxy-defaults',
    Name: 'global',
    Config: { protocol: 'tcp', local_connect_timeout_ms: 1000, nested: { list: [1, 'two'] } },
    TransparentProxy: {},
    MeshGateway: {},
    Expose: {},
  });

  // Sources come back in precedence order (exact names before the wildcard), with their
  // computed precedence and type.
  const si = await a.get<Entry>('/v1/config/service-intentions/web');
  t.deepEqual(withoutIndexes(si), {
    Kind: 'service-intentions',
    Name: 'web',
    Sources: [
      {
        Name: 'api',
        Action: 'allow',
        Description: 'the API may call web',
        Precedence: 9,
        Type: 'consul',
      },
      {
        Name: 'admin',
        Permissions: [
          { Action: 'allow', HTTP: { PathPrefix: '/admin/', Methods: ['GET', 'POST'] } },
        ],
        Precedence: 9,
        Type: 'consul',
      },
      { Name: '*', Action: 'deny', Precedence: 8, Type: 'consul' },
    ],
  });

  const ig = await a.get<Entry>('/v1/config/ingress-gateway/edge');
  t.deepEqual(withoutIndexes(ig), {
    Kind: 'ingress-gateway',
    Name: 'edge',
    TLS: { Enabled: false },
    Listeners: [
      { Port: 8080, Protocol: 'http', Services: [{ Name: 'web', Hosts: ['web.example'] }] },
    ],
  });

  // Names are case-insensitive, as Consul's index is.
  t.deepEqual(await a.get<Entry>('/v1/config/service-defaults/WEB'), sd);
  // An update replaces the entry, keeps CreateIndex and moves ModifyIndex; writing the same
  // entry again changes nothing. (http2 would not do: the ingress listener for web is http.)
  const update = {
    Kind: 'service-defaults',
    Name: 'web',
    Protocol: 'http',
    MaxInboundConnections: 5,
  };
  t.true(await put(a, update));
  const sd2 = await a.get<Entry>('/v1/config/service-defaults/web');
  t.is(sd2.MaxInboundConnections, 5);
  t.is(sd2.Meta, undefined);
  t.is(sd2.CreateIndex, sd.CreateIndex);
  t.true(sd2.ModifyIndex > sd.ModifyIndex);
  t.true(await put(a, update));
  t.is((await a.get<Entry>('/v1/config/service-defaults/web')).ModifyIndex, sd2.ModifyIndex);
  const http2 = await a.req('PUT', '/v1/config', { ...update, Protocol: 'http2' });
  t.is(http2.status, 400);
  t.regex(http2.text, /does not match defined listener protocol "http"/);
});

test('lists are per kind and ordered by name; a missing entry is 404; an unknown kind is 400', async (t) => {
  const a = await devAgent(t);
  for (const name of ['db', 'cache', 'web', 'api']) {
    t.true(await put(a, { Kind: 'service-defaults', Name: name }));
  }
  t.true(
    await put(a, {
      Kind: 'service-intentions',
      Name: 'db',
      Sources: [{ Name: 'web', Action: 'allow' }],
    }),
  );
  const list = await a.req('GET', '/v1/config/service-defaults');
  t.is(list.status, 200);
  t.true(Number(list.headers.get('x-consul-index')) > 0);
  const names = list.json<Entry[]>().map((e) => [e.Kind, e.Name]);
  t.deepEqual(names, [
    ['service-defaults', 'api'],
    ['service-defaults', 'cache'],
    ['service-defaults', 'db'],
    ['service-defaults', 'web'],
  ]);
  t.deepEqual(
    (await a.get<Entry[]>('/v1/config/service-intentions')).map((e) => e.Name),
    ['db'],
  );
  t.deepEqual(await a.get<Entry[]>('/v1/config/ingress-gateway'), []);

  const missing = await a.req('GET', '/v1/config/service-defaults/nope');
  t.is(missing.status, 404);
  t.is(missing.text, 'Config entry not found for "service-defaults" / "nope"');
  t.true(Number(missing.headers.get('x-consul-index')) > 0);

  for (const path of ['/v1/config/widgets', '/v1/config/widgets/x']) {
    const r = await a.req('GET', path);
    t.is(r.status, 400, path);
    t.regex(r.text, /invalid config entry kind: widgets/);
  }
  t.is((await a.req('DELETE', '/v1/config/widgets/x')).status, 400);
  const unsupported = await a.req('PUT', '/v1/config', { Kind: 'service-router', Name: 'web' });
  t.is(unsupported.status, 400);
  t.regex(unsupported.text, /"service-router" is not supported/);
  t.is((await a.req('GET', '/v1/config/')).status, 400);
  t.is((await a.req('GET', '/v1/config/service-defaults/a/b')).status, 400);
  t.is((await a.req('DELETE', '/v1/config/service-defaults')).status, 400);
  t.is((await a.req('GET', '/v1/config')).status, 405);
  t.is((await a.req('POST', '/v1/config/service-defaults/web')).status, 405);
});

test('check-and-set: ?cas=0 creates only; a stale index loses; delete with ?cas; plain delete answers {}', async (t) => {
  const a = await devAgent(t);
  const entry = { Kind: 'service-defaults', Name: 'web', Protocol: 'http' };
  t.true(await put(a, entry, '?cas=0'));
  t.false(await put(a, { ...entry, Protocol: 'grpc' }, '?cas=0'), 'exists already');
  const first = await a.get<Entry>('/v1/config/service-defaults/web');
  t.is(first.Protocol, 'http');

  t.false(await put(a, { ...entry, Protocol: 'grpc' }, `?cas=${first.ModifyIndex + 1000}`));
  t.false(await put(a, { ...entry, Protocol: 'grpc' }, `?cas=${first.ModifyIndex - 1}`));
  t.is((await a.get<Entry>('/v1/config/service-defaults/web')).Protocol, 'http');
  t.true(await put(a, { ...entry, Protocol: 'grpc' }, `?cas=${first.ModifyIndex}`));
  const second = await a.get<Entry>('/v1/config/service-defaults/web');
  t.is(second.Protocol, 'grpc');
  // The index it was read at is now stale.
  t.false(await put(a, { ...entry, Protocol: 'http2' }, `?cas=${first.ModifyIndex}`));
  t.is((await a.req('PUT', '/v1/config?cas=abc', entry)).status, 400);
  t.is((await a.req('PUT', '/v1/config?cas=-1', entry)).status, 400);

  const delStale = await a.req(
    'DELETE',
    `/v1/config/service-defaults/web?cas=${first.ModifyIndex}`,
  );
  t.is(delStale.status, 200);
  t.is(delStale.json(), false);
  t.is((await a.req('GET', '/v1/config/service-defaults/web')).status, 200);
  const del = await a.req('DELETE', `/v1/config/service-defaults/web?cas=${second.ModifyIndex}`);
  t.is(del.json(), true);
  t.is((await a.req('GET', '/v1/config/service-defaults/web')).status, 404);

  t.true(await put(a, { Kind: 'service-defaults', Name: 'api' }));
  const plain = await a.req('DELETE', '/v1/config/service-defaults/api');
  t.is(plain.status, 200);
  t.deepEqual(plain.json(), {});
  t.is((await a.req('GET', '/v1/config/service-defaults/api')).status, 404);
  // Deleting what is not there is not an error.
  t.deepEqual((await a.req('DELETE', '/v1/config/service-defaults/api')).json(), {});
});

test('L7 intentions need an HTTP-like destination; protocol writes and deletes that would break them are refused', async (t) => {
  const a = await devAgent(t);
  const l7 = {
    Kind: 'service-intentions',
    Name: 'reviews',
    Sources: [
      {
        Name: 'productpage',
        Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/reviews/', Methods: ['GET'] } }],
      },
    ],
  };
  const tcp = await a.req('PUT', '/v1/config', l7);
  t.is(tcp.status, 400);
  t.is(
    tcp.text,
    'service "reviews" has protocol "tcp", which is incompatible with L7 intentions permissions',
  );
  t.is((await a.req('GET', '/v1/config/service-intentions/reviews')).status, 404);

  t.true(await put(a, { Kind: 'service-defaults', Name: 'reviews', Protocol: 'http' }));
  t.true(await put(a, l7));

  // The intention depends on that protocol now: neither back to tcp, nor away.
  const back = await a.req('PUT', '/v1/config', {
    Kind: 'service-defaults',
    Name: 'reviews',
    Protocol: 'tcp',
  });
  t.is(back.status, 400);
  t.regex(back.text, /incompatible with L7 intentions permissions/);
  const gone = await a.req('DELETE', '/v1/config/service-defaults/reviews');
  t.is(gone.status, 400, gone.text);
  t.regex(gone.text, /service "reviews" has protocol "tcp".*L7 intentions/);
  const goneCas = await a.req('DELETE', '/v1/config/service-defaults/reviews?cas=1');
  t.is(goneCas.status, 400, goneCas.text);
  t.is((await a.get<Entry>('/v1/config/service-defaults/reviews')).Protocol, 'http');

  // With proxy-defaults saying http, the service's own entry may go; then proxy-defaults may
  // not go nor turn tcp.
  t.true(await put(a, { Kind: 'proxy-defaults', Name: 'global', Config: { protocol: 'http' } }));
  t.deepEqual((await a.req('DELETE', '/v1/config/service-defaults/reviews')).json(), {});
  const pdTcp = await a.req('PUT', '/v1/config', {
    Kind: 'proxy-defaults',
    Name: 'global',
    Config: { protocol: 'tcp' },
  });
  t.is(pdTcp.status, 400);
  const pdGone = await a.req('DELETE', '/v1/config/proxy-defaults/global');
  t.is(pdGone.status, 400, pdGone.text);
  t.truthy(await a.get<Entry>('/v1/config/proxy-defaults/global'));
  // Once the L7 intention is gone, nothing depends on the protocol.
  t.deepEqual((await a.req('DELETE', '/v1/config/service-intentions/reviews')).json(), {});
  t.deepEqual((await a.req('DELETE', '/v1/config/proxy-defaults/global')).json(), {});

  // Ingress listeners: an http listener needs http services.
  const ig = {
    Kind: 'ingress-gateway',
    Name: 'edge',
    Listeners: [{ Port: 8080, Protocol: 'http', Services: [{ Name: 'db' }] }],
  };
  const igTcp = await a.req('PUT', '/v1/config', ig);
  t.is(igTcp.status, 400);
  t.regex(igTcp.text, /service "db" has protocol "tcp"/);
  t.true(await put(a, { Kind: 'service-defaults', Name: 'db', Protocol: 'http' }));
  t.true(await put(a, ig));
});

test('hostile bodies are refused with 400 and store nothing', async (t) => {
  const a = await devAgent(t);
  t.true(await put(a, { Kind: 'service-defaults', Name: 'web', Protocol: 'http' }));
  const before = await everything(a);
  const sources = Array.from({ length: 1001 }, (_, i) => ({ Name: `s${i}`, Action: 'allow' }));
  const bodies: Array<[string, unknown, RegExp]> = [
    ['an array', '[{"Kind":"service-defaults","Name":"x"}]', /expected a JSON object/],
    ['null', 'null', /expected a JSON object/],
    ['a string', '"service-defaults"', /expected a JSON object/],
    ['invalid JSON', '{"Kind":', /Request decode failed/],
    ['no Kind', { Name: 'x' }, /does not contain a kind/],
    [
      'Kind an array',
      { Kind: ['service-defaults'], Name: 'x' },
      /Kind value in payload is not a string/,
    ],
    [
      'Kind twice',
      { kind: 'service-defaults', Kind: 'service-defaults', Name: 'x' },
      /duplicate key/,
    ],
    ['Name a number', { Kind: 'service-defaults', Name: 5 }, /Name: must be a string/],
    ['no Name', { Kind: 'service-defaults' }, /Name is required/],
    ['a slash in Name', { Kind: 'service-defaults', Name: 'a/b' }, /Name: must not contain/],
    ['unknown protocol', { Kind: 'service-defaults', Name: 'x', Protocol: 'http3' }, /Protocol/],
    [
      'a number as a string',
      { Kind: 'service-defaults', Name: 'x', MaxInboundConnections: '10' },
      /must be a number/,
    ],
    [
      'nested junk in Meta',
      { Kind: 'service-defaults', Name: 'x', Meta: { a: { b: 'c' } } },
      /Meta\.a/,
    ],
    [
      'nested junk under an unknown key',
      { Kind: 'service-defaults', Name: 'x', Bogus: { deep: [[[1]]] } },
      /invalid config key "Bogus"/,
    ],
    [
      '__proto__ at the top',
      '{"Kind":"service-defaults","Name":"x","__proto__":{"Protocol":"http"}}',
      /"__proto__"/,
    ],
    [
      '__proto__ in Meta',
      '{"Kind":"service-defaults","Name":"x","Meta":{"__proto__":"y"}}',
      /"__proto__" is not allowed/,
    ],
    [
      '__proto__ in proxy Config',
      '{"Kind":"proxy-defaults","Name":"global","Config":{"__proto__":{"polluted":1}}}',
      /"__proto__" is not allowed/,
    ],
    ['proxy Config an array', { Kind: 'proxy-defaults', Name: 'global', Config: [1, 2] }, /Config/],
    ['proxy-defaults not global', { Kind: 'proxy-defaults', Name: 'other' }, /only "global"/],
    [
      'too many Meta keys',
      {
        Kind: 'service-defaults',
        Name: 'x',
        Meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
      },
      /Meta exceeds maximum element count 64/,
    ],
    [
      '1001 sources',
      { Kind: 'service-intentions', Name: 'db', Sources: sources },
      /more than 1000/,
    ],
    [
      'a source twice',
      {
        Kind: 'service-intentions',
        Name: 'db',
        Sources: [
          { Name: 'web', Action: 'allow' },
          { Name: 'web', Action: 'deny' },
        ],
      },
      /defines "web" more than once/,
    ],
    [
      'an invalid PathRegex',
      {
        Kind: 'service-intentions',
        Name: 'web',
        Sources: [{ Name: 'a', Permissions: [{ Action: 'allow', HTTP: { PathRegex: '([a-z' } }] }],
      },
      /PathRegex: invalid regular expression/,
    ],
    [
      'a PathPrefix without a slash',
      {
        Kind: 'service-intentions',
        Name: 'web',
        Sources: [{ Name: 'a', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: 'x' } }] }],
      },
      /doesn't start with '\/'/,
    ],
    [
      'an unknown method',
      {
        Kind: 'service-intentions',
        Name: 'web',
        Sources: [{ Name: 'a', Permissions: [{ Action: 'allow', HTTP: { Methods: ['FETCH'] } }] }],
      },
      /invalid method "FETCH"/,
    ],
    [
      'Action and Permissions',
      {
        Kind: 'service-intentions',
        Name: 'web',
        Sources: [
          {
            Name: 'a',
            Action: 'allow',
            Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }],
          },
        ],
      },
      /Action must be omitted/,
    ],
    [
      'a listener port out of range',
      {
        Kind: 'ingress-gateway',
        Name: 'edge',
        Listeners: [{ Port: 70000, Protocol: 'tcp', Services: [{ Name: 'web' }] }],
      },
      /Port: must be between 1 and 65535/,
    ],
  ];
  for (const [what, body, message] of bodies) {
    const r = await a.req('PUT', '/v1/config', body);
    t.is(r.status, 400, `${what}: ${r.text}`);
    t.regex(r.text, message, what);
  }
  const huge = await a.req('PUT', '/v1/config', {
    Kind: 'service-defaults',
    Name: 'x',
    Meta: { a: 'x'.repeat(600 * 1024) },
  });
  t.is(huge.status, 413);
  t.deepEqual(await everything(a), before);
  t.false(Object.prototype.hasOwnProperty.call({}, 'polluted'));
  t.is((Object.prototype as Record<string, unknown>).polluted, undefined);
});

test('a blocking GET on a kind or an entry wakes on a write to it', async (t) => {
  const a = await devAgent(t);
  t.true(await put(a, { Kind: 'service-defaults', Name: 'web' }));
  const list = await a.req('GET', '/v1/config/service-defaults');
  const index = Number(list.headers.get('x-consul-index'));
  t.true(index > 0);
  const kindWait = tracked(a.req('GET', `/v1/config/service-defaults?index=${index}&wait=30s`));
  const entryWait = tracked(
    a.req('GET', `/v1/config/service-defaults/web?index=${index}&wait=30s`),
  );
  // Parked while other requests come and go, including a write of another kind.
  t.true(
    await put(a, {
      Kind: 'service-intentions',
      Name: 'db',
      Sources: [{ Name: 'web', Action: 'allow' }],
    }),
  );
  for (let i = 0; i < 3; i++) await a.req('GET', '/v1/config/service-intentions');
  t.false(kindWait.settled(), 'woke on a write of another kind');
  t.false(entryWait.settled());

  t.true(await put(a, { Kind: 'service-defaults', Name: 'web', Protocol: 'http' }));
  const k = await kindWait.promise;
  t.is(k.status, 200);
  t.true(Number(k.headers.get('x-consul-index')) > index);
  t.is(k.json<Entry[]>()[0]!.Protocol, 'http');
  const e = await entryWait.promise;
  t.is(e.json<Entry>().Protocol, 'http');

  // A wait with nothing new ends with the same answer after `wait`.
  const now = Number(k.headers.get('x-consul-index'));
  const t0 = performance.now();
  const idle = await a.req('GET', `/v1/config/service-defaults?index=${now}&wait=300ms`);
  t.true(performance.now() - t0 >= 290);
  t.is(Number(idle.headers.get('x-consul-index')), now);
});
