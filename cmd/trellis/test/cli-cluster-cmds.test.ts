// join, force-leave, services register/deregister, catalog, event and maint, run as a user runs
// them (bin/trellis.js in its own process) against a fake Consul agent on loopback that
// records every request and answers with the canned JSON of Consul's API docs. Each test pins
// the request the command makes and Consul's output texts and exit codes (command/join,
// command/forceleave, command/services/*, command/catalog/*, command/event, command/maint).
import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from './helpers.js';
import { fakeConsul, trellis, type FakeConsul, type Route } from './fake-consul.js';

/** A fake agent for one test, closed when the test ends. */
async function agent(t: ExecutionContext, routes: readonly Route[] = []): Promise<FakeConsul> {
  const a = await fakeConsul(routes);
  t.teardown(() => a.close());
  return a;
}

/** A scratch directory for one test, removed when the test ends. */
async function scratch(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-cli-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const calls = (a: FakeConsul) =>
  a.requests.map((r) => `${r.method} ${r.path}${r.search ? `?${r.search}` : ''}`);

// ---------------------------------------------------------------------------------- join

test('join PUTs /v1/agent/join/<addr> for each address and counts the successes', async (t) => {
  const a = await agent(t);
  const r = await trellis(['join', a.flag, '10.0.0.2', '10.0.0.3:8301']);
  t.deepEqual(r, {
    code: 0,
    stdout: 'Successfully joined cluster by contacting 2 nodes.\n',
    stderr: '',
  });
  t.deepEqual(calls(a), ['PUT /v1/agent/join/10.0.0.2', 'PUT /v1/agent/join/10.0.0.3:8301']);

  const wan = await trellis(['join', a.flag, '-wan', '10.1.0.2']);
  t.is(wan.stdout, 'Successfully joined cluster by contacting 1 nodes.\n');
  t.is(calls(a)[2], 'PUT /v1/agent/join/10.1.0.2?wan=1');
});

test('join reports each failed address and succeeds while one address worked', async (t) => {
  const a = await agent(t, [
    ['PUT', /\/join\/10\.0\.0\.9$/, { status: 500, body: 'dial tcp 10.0.0.9:8301: i/o timeout' }],
  ]);
  const some = await trellis(['join', a.flag, '10.0.0.9', '10.0.0.2']);
  t.deepEqual(some, {
    code: 0,
    stdout: 'Successfully joined cluster by contacting 1 nodes.\n',
    stderr:
      "Error joining address '10.0.0.9': Unexpected response code: 500 " +
      '(dial tcp 10.0.0.9:8301: i/o timeout)\n',
  });
  const none = await trellis(['join', a.flag, '10.0.0.9']);
  t.is(none.code, 1);
  t.is(none.stdout, '');
  t.regex(none.stderr, /^Error joining address '10\.0\.0\.9': .*\nFailed to join any nodes\.\n$/);
});

test('join with no address prints Consul’s message and the help, and sends nothing', async (t) => {
  const a = await agent(t);
  const r = await trellis(['join', a.flag]);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^At least one address to join must be specified\.\n\nUsage: trellis join /);
  t.is(a.requests.length, 0);
});

// --------------------------------------------------------------------------- force-leave

test('force-leave PUTs /v1/agent/force-leave/<node> with -prune and -wan; silent on success', async (t) => {
  const a = await agent(t);
  t.deepEqual(await trellis(['force-leave', a.flag, 'node-7']), {
    code: 0,
    stdout: '',
    stderr: '',
  });
  t.is((await trellis(['force-leave', a.flag, '-prune', 'node-7'])).code, 0);
  t.is((await trellis(['force-leave', a.flag, '-prune', '-wan', 'node-7.dc2'])).code, 0);
  t.deepEqual(calls(a), [
    'PUT /v1/agent/force-leave/node-7',
    'PUT /v1/agent/force-leave/node-7?prune=1',
    'PUT /v1/agent/force-leave/node-7.dc2?prune=1&wan=1',
  ]);
});

test('force-leave needs exactly one node name; an agent error is surfaced', async (t) => {
  const a = await agent(t, [
    ['PUT', /force-leave\/ghost$/, { status: 500, body: "agent: No node found with name 'ghost'" }],
  ]);
  for (const argv of [[], ['a', 'b']]) {
    const r = await trellis(['force-leave', a.flag, ...argv]);
    t.is(r.code, 1);
    t.regex(
      r.stderr,
      /^A single node name must be specified to force leave\.\n\nUsage: trellis force-leave/,
    );
  }
  t.is(a.requests.length, 0);
  t.deepEqual(await trellis(['force-leave', a.flag, 'ghost']), {
    code: 1,
    stdout: '',
    stderr:
      "Error force leaving: Unexpected response code: 500 (agent: No node found with name 'ghost')\n",
  });
});

// --------------------------------------------------------------------- services register

test('services register from flags sends one registration with only the fields given', async (t) => {
  const a = await agent(t);
  const r = await trellis([
    'services',
    'register',
    a.flag,
    '-name=web',
    '-id=web-1',
    '-address=10.0.0.5',
    '-port=8080',
    '-tag=v1',
    '-tag=primary',
    '-meta=team=payments',
    '-meta=tier=1',
    '-tagged-address=lan=10.0.0.5:8080',
    '-tagged-address=wan=[2001:db8::5]:443',
  ]);
  t.deepEqual(r, { code: 0, stdout: 'Registered service: web\n', stderr: '' });
  t.deepEqual(calls(a), ['PUT /v1/agent/service/register']);
  t.deepEqual(JSON.parse(a.requests[0]!.body), {
    ID: 'web-1',
    Name: 'web',
    Tags: ['v1', 'primary'],
    Port: 8080,
    Address: '10.0.0.5',
    TaggedAddresses: {
      lan: { Address: '10.0.0.5', Port: 8080 },
      wan: { Address: '2001:db8::5', Port: 443 },
    },
    Meta: { team: 'payments', tier: '1' },
  });

  await trellis(['services', 'register', a.flag, '-name=db']);
  t.deepEqual(JSON.parse(a.requests[1]!.body), { Name: 'db' }, 'unset fields are left out');
});

test('services register reads {"service": …} and {"services": […]} JSON files, keys in either case', async (t) => {
  const a = await agent(t);
  const dir = await scratch(t);
  const web = join(dir, 'web.json');
  await writeFile(
    web,
    JSON.stringify({
      service: {
        name: 'web',
        port: 80,
        tags: ['rails'],
        enable_tag_override: true,
        meta: { version: '2' },
        check: {
          id: 'web-http',
          http: 'http://localhost:80/health',
          interval: '10s',
          timeout: '1s',
        },
      },
    }),
  );
  const many = join(dir, 'many.json');
  await writeFile(
    many,
    JSON.stringify({
      services: [
        {
          ID: 'redis-1',
          Name: 'redis',
          Port: 6379,
          Checks: [{ TTL: '30s' }, { args: ['/bin/check'], interval: '1m' }],
        },
        {
          name: 'db',
          weights: { passing: 3, warning: 1 },
          tagged_addresses: { lan: { address: '10.0.0.9', port: 5432 } },
        },
      ],
    }),
  );
  const r = await trellis(['services', 'register', a.flag, web, many]);
  t.deepEqual(r, {
    code: 0,
    stdout: 'Registered service: web\nRegistered service: redis\nRegistered service: db\n',
    stderr: '',
  });
  t.deepEqual(
    a.requests.map((q) => JSON.parse(q.body) as unknown),
    [
      {
        Name: 'web',
        Port: 80,
        Tags: ['rails'],
        EnableTagOverride: true,
        Meta: { version: '2' },
        Check: {
          CheckID: 'web-http',
          HTTP: 'http://localhost:80/health',
          Interval: '10s',
          Timeout: '1s',
        },
      },
      {
        ID: 'redis-1',
        Name: 'redis',
        Port: 6379,
        Checks: [{ TTL: '30s' }, { ScriptArgs: ['/bin/check'], Interval: '1m' }],
      },
      {
        Name: 'db',
        Weights: { Passing: 3, Warning: 1 },
        TaggedAddresses: { lan: { Address: '10.0.0.9', Port: 5432 } },
      },
    ],
  );
});

test('services register reads a directory’s *.json in name order and skips other files with a warning', async (t) => {
  const a = await agent(t);
  const dir = await scratch(t);
  await mkdir(join(dir, 'nested'));
  await writeFile(join(dir, 'b.json'), '{"service": {"name": "second"}}');
  await writeFile(join(dir, 'a.json'), '{"service": {"name": "first"}, "datacenter": "dc1"}');
  await writeFile(join(dir, 'README'), 'not a definition');
  const r = await trellis(['services', 'register', a.flag, dir]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Registered service: first\nRegistered service: second\n');
  t.is(
    r.stderr,
    `skipping file ${join(dir, 'README')}, extension must be .hcl or .json, or config format must be set\n`,
  );
});

test('services register refuses bad definition files before registering anything', async (t) => {
  const a = await agent(t);
  const dir = await scratch(t);
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    return writeFile(p, text).then(() => p);
  };
  const good = await file('good.json', '{"service": {"name": "ok"}}');
  const cases: Array<[string, RegExp]> = [
    [
      join(dir, 'missing.json'),
      /^Error: config: Open failed on .*missing\.json\. open .*missing\.json: no such file or directory\n$/,
    ],
    [
      await file('bad.json', '{"service": {"name": "web",'),
      /^Error: failed to parse .*bad\.json: .*JSON/,
    ],
    [
      await file('web.hcl', 'service { name = "web" }'),
      /^Error: .*web\.hcl: HCL service definitions are not supported; write the same keys as JSON\n$/,
    ],
    [
      await file('web.txt', '{}'),
      /^Error: file .*web\.txt has unknown extension; must be \.hcl or \.json, or config format must be set\n$/,
    ],
    [
      await file('typo.json', '{"service": {"name": "web", "prot": 80}}'),
      /^Error: failed to parse .*typo\.json: invalid config key service\.prot\n$/,
    ],
    [
      await file('top.json', '{"servce": {"name": "web"}}'),
      /^Error: failed to parse .*top\.json: invalid config key servce\n$/,
    ],
    [
      await file('type.json', '{"services": [{"name": "web", "port": "80"}]}'),
      /^Error: failed to parse .*type\.json: services\[0\]\.port: expected an integer, got string "80"\n$/,
    ],
    [
      await file('dur.json', '{"service": {"name": "web", "check": {"ttl": "ten"}}}'),
      /^Error: failed to parse .*dur\.json: service\.check\.ttl: time: invalid duration "ten"\n$/,
    ],
    [
      await file('connect.json', '{"service": {"name": "web", "connect": []}}'),
      /^Error: failed to parse .*connect\.json: service\.connect: expected an object, got a list\n$/,
    ],
    [
      await file('noname.json', '{"service": {"port": 80}}'),
      /^Error: .*noname\.json: service: a service needs a "name"\n$/,
    ],
    [
      await file('list.json', '[]'),
      /^Error: failed to parse .*list\.json: the top level must be an object, got a list\n$/,
    ],
  ];
  for (const [path, stderr] of cases) {
    const r = await trellis(['services', 'register', a.flag, good, path]);
    t.is(r.code, 1, path);
    t.is(r.stdout, '', path);
    t.regex(r.stderr, stderr, path);
  }
  t.is(a.requests.length, 0, 'no service of a batch with a bad file is registered');
});

test('services register: argument and flag errors, and the agent’s refusal, in Consul’s words', async (t) => {
  const a = await agent(t, [
    ['PUT', /register$/, { status: 400, body: 'Invalid Service Meta: Key name too long' }],
  ]);
  const cases: Array<[string[], RegExp]> = [
    [[], /^Service registration requires at least one argument or flags\.\n$/],
    [['-id=web'], /^Service registration requires at least one argument or flags\.\n$/],
    [['-name=web', 'web.json'], /^Service registration requires arguments or -id, not both\.\n$/],
    [
      ['-name=web', '-meta=novalue'],
      /^invalid value "novalue" for flag -meta: Missing "=" value in argument: novalue\n\nUsage: trellis services register/,
    ],
    [
      ['-name=web', '-tagged-address=lan=10.0.0.1'],
      /^Invalid Tagged Address: address 10\.0\.0\.1: missing port in address\n$/,
    ],
    [
      ['-name=web', '-tagged-address=lan=10.0.0.1:http'],
      /^Invalid Tagged Address: strconv\.Atoi: parsing "http": invalid syntax\n$/,
    ],
    [['-name=web', '-port=http'], /^invalid value "http" for flag -port: parse error\n/],
    [
      ['-name=web', '-bogus'],
      /^flag provided but not defined: -bogus\n\nUsage: trellis services register/,
    ],
  ];
  for (const [argv, stderr] of cases) {
    const r = await trellis(['services', 'register', a.flag, ...argv]);
    t.is(r.code, 1, argv.join(' '));
    t.regex(r.stderr, stderr, argv.join(' '));
  }
  t.is(a.requests.length, 0);
  t.deepEqual(await trellis(['services', 'register', a.flag, '-name=web']), {
    code: 1,
    stdout: '',
    stderr:
      'Error registering service "web": Unexpected response code: 400 (Invalid Service Meta: Key name too long)\n',
  });
});

// ------------------------------------------------------------------- services deregister

test('services deregister by -id, or by the IDs (else names) in definition files', async (t) => {
  const a = await agent(t);
  const dir = await scratch(t);
  const defs = join(dir, 'defs.json');
  await writeFile(defs, '{"services": [{"id": "redis-1", "name": "redis"}, {"name": "web"}]}');
  t.deepEqual(await trellis(['services', 'deregister', a.flag, '-id=web-1']), {
    code: 0,
    stdout: 'Deregistered service: web-1\n',
    stderr: '',
  });
  const r = await trellis(['services', 'deregister', a.flag, defs]);
  t.is(r.stdout, 'Deregistered service: redis-1\nDeregistered service: web\n');
  t.deepEqual(calls(a), [
    'PUT /v1/agent/service/deregister/web-1',
    'PUT /v1/agent/service/deregister/redis-1',
    'PUT /v1/agent/service/deregister/web',
  ]);
});

test('services deregister: argument errors and an unknown ID', async (t) => {
  const a = await agent(t, [
    [
      'PUT',
      /deregister\/nope$/,
      {
        status: 404,
        body: 'Unknown service ID "nope". Ensure that the service ID is passed, not the service name.',
      },
    ],
  ]);
  const none = await trellis(['services', 'deregister', a.flag]);
  t.deepEqual(none, {
    code: 1,
    stdout: '',
    stderr: 'Service deregistration requires at least one argument or -id.\n',
  });
  const both = await trellis(['services', 'deregister', a.flag, '-id=x', 'x.json']);
  t.is(both.stderr, 'Service deregistration requires arguments or -id, not both.\n');
  const missing = await trellis(['services', 'deregister', a.flag, '/nonexistent/x.json']);
  t.is(missing.code, 1);
  t.is(
    missing.stderr,
    'Error: config: Open failed on /nonexistent/x.json. open /nonexistent/x.json: no such file or directory\n',
  );
  t.is(a.requests.length, 0);
  t.deepEqual(await trellis(['services', 'deregister', a.flag, '-id=nope']), {
    code: 1,
    stdout: '',
    stderr:
      'Error deregistering service "nope": Unexpected response code: 404 (Unknown service ID "nope". ' +
      'Ensure that the service ID is passed, not the service name.)\n',
  });
});

// ------------------------------------------------------------------------------- catalog

test('catalog datacenters prints one name a line; arguments are refused', async (t) => {
  const a = await agent(t);
  t.deepEqual(await trellis(['catalog', 'datacenters', a.flag]), {
    code: 0,
    stdout: 'dc1\ndc2\ndc3\n',
    stderr: '',
  });
  t.deepEqual(calls(a), ['GET /v1/catalog/datacenters']);
  t.deepEqual(await trellis(['catalog', 'datacenters', a.flag, 'dc1']), {
    code: 1,
    stdout: '',
    stderr: 'Too many arguments (expected 0, got 1)\n',
  });
});

test('catalog nodes: Consul’s table, the ID cut at its first dash; -detailed adds addresses and meta', async (t) => {
  const a = await agent(t);
  t.deepEqual(await trellis(['catalog', 'nodes', a.flag]), {
    code: 0,
    stdout:
      'Node    ID        Address     DC\n' +
      'baz     40e4a748  10.1.10.11  dc1\n' +
      'foobar  8f246b77  10.1.10.12  dc2\n',
    stderr: '',
  });
  const detailed = await trellis(['catalog', 'nodes', a.flag, '-detailed']);
  t.is(
    detailed.stdout,
    'Node    ID                                    Address     DC   TaggedAddresses                 Meta\n' +
      'baz     40e4a748-2192-161a-0510-9bf59fe950b5  10.1.10.11  dc1  lan=10.1.10.11, wan=10.1.10.11  instance_type=t2.medium\n' +
      'foobar  8f246b77-f3e1-ff88-5b48-8ec93abf3e05  10.1.10.12  dc2  lan=10.1.10.11, wan=10.1.10.12  instance_type=t2.large, rack=r1\n',
  );
  t.deepEqual(calls(a), ['GET /v1/catalog/nodes', 'GET /v1/catalog/nodes']);
});

test('catalog nodes -service lists the service’s nodes; -near, -node-meta (repeated) and -filter become the query', async (t) => {
  const a = await agent(t);
  const dir = await scratch(t);
  const svc = await trellis(['catalog', 'nodes', a.flag, '-service=web']);
  t.is(
    svc.stdout,
    'Node    ID        Address        DC\n' + 'foobar  40e4a748  192.168.10.10  dc1\n',
  );
  await trellis([
    'catalog',
    'nodes',
    a.flag,
    '-near=_agent',
    '-node-meta=rack=r1',
    '-node-meta=env=prod',
    '-filter=Meta.rack == "r1"',
    '-stale',
  ]);
  const q = a.requests[1]!;
  t.is(q.path, '/v1/catalog/nodes');
  t.deepEqual(q.query, {
    filter: ['Meta.rack == "r1"'],
    near: ['_agent'],
    'node-meta': ['rack:r1', 'env:prod'],
    stale: [''],
  });
  t.regex(q.search, /^filter=.*&near=_agent&node-meta=rack%3Ar1&node-meta=env%3Aprod&stale=$/);

  const filterFile = join(dir, 'filter.txt');
  await writeFile(filterFile, 'Node == "baz"');
  await trellis(['catalog', 'nodes', a.flag, '-service=web', `-filter=@${filterFile}`]);
  t.is(a.requests[2]!.path, '/v1/catalog/service/web');
  t.deepEqual(a.requests[2]!.query['filter'], ['Node == "baz"']);
  await trellis(['catalog', 'nodes', a.flag, '-filter=-'], 'Address != ""');
  t.deepEqual(a.requests[3]!.query['filter'], ['Address != ""'], '-filter=- reads stdin');
});

test('catalog nodes: no match is a note on stderr and exit 0; errors are Consul’s', async (t) => {
  const a = await agent(t, [
    ['GET', /^\/v1\/catalog\/nodes$/, { status: 500, body: 'No cluster leader' }],
  ]);
  t.deepEqual(await trellis(['catalog', 'nodes', a.flag, '-service=nothing']), {
    code: 0,
    stdout: '',
    stderr: 'No nodes match the given query - try expanding your search.\n',
  });
  t.deepEqual(await trellis(['catalog', 'nodes', a.flag]), {
    code: 1,
    stdout: '',
    stderr: 'Error listing nodes: Unexpected response code: 500 (No cluster leader)\n',
  });
  const cases: Array<[string[], RegExp]> = [
    [['extra'], /^Too many arguments \(expected 0, got 1\)\n$/],
    [
      ['-node-meta=rack'],
      /^invalid value "rack" for flag -node-meta: Missing "=" value in argument: rack\n\nUsage: trellis catalog nodes/,
    ],
    [
      ['-filter=@/nonexistent/f'],
      /^Could not process filter argument: Failed to read file: open \/nonexistent\/f: no such file or directory\n$/,
    ],
  ];
  for (const [argv, stderr] of cases) {
    const r = await trellis(['catalog', 'nodes', a.flag, ...argv]);
    t.is(r.code, 1, argv.join(' '));
    t.regex(r.stderr, stderr, argv.join(' '));
  }
  t.is(a.requests.length, 2);
});

test('catalog services: names sorted; -tags in tabwriter columns; -node gathers that node’s instances', async (t) => {
  const a = await agent(t);
  t.deepEqual(await trellis(['catalog', 'services', a.flag]), {
    code: 0,
    stdout: 'consul\npostgresql\nredis\n',
    stderr: '',
  });
  t.is(
    (await trellis(['catalog', 'services', a.flag, '-tags'])).stdout,
    'consul          \npostgresql      primary,secondary\nredis\n',
  );
  t.is(
    (await trellis(['catalog', 'services', a.flag, '-node=foobar', '-tags'])).stdout,
    'consul      \nredis       primary,v1,v1\n',
  );
  await trellis(['catalog', 'services', a.flag, '-node-meta=rack=r1', '-filter=ServiceName != ""']);
  t.deepEqual(calls(a).slice(0, 3), [
    'GET /v1/catalog/services',
    'GET /v1/catalog/services',
    'GET /v1/catalog/node/foobar',
  ]);
  t.deepEqual(a.requests[3]!.query, { filter: ['ServiceName != ""'], 'node-meta': ['rack:r1'] });
});

test('catalog services: an unknown node matches nothing (exit 0); errors name the query', async (t) => {
  const a = await agent(t, [
    ['GET', /^\/v1\/catalog\/services$/, { status: 403, body: 'Permission denied' }],
  ]);
  t.deepEqual(await trellis(['catalog', 'services', a.flag, '-node=ghost']), {
    code: 0,
    stdout: '',
    stderr: 'No services match the given query - try expanding your search.\n',
  });
  t.deepEqual(await trellis(['catalog', 'services', a.flag]), {
    code: 1,
    stdout: '',
    stderr: 'Error listing services: Unexpected response code: 403 (Permission denied)\n',
  });
  t.deepEqual(await trellis(['catalog', 'services', a.flag, 'x', 'y']), {
    code: 1,
    stdout: '',
    stderr: 'Too many arguments (expected 0, got 2)\n',
  });
});

test('catalog with no or an unknown subcommand lists its subcommands and exits 1', async (t) => {
  for (const argv of [['catalog'], ['catalog', 'frob'], ['services']]) {
    const r = await trellis(argv);
    t.is(r.code, 1);
    t.regex(r.stdout, /\n\nSubcommands:\n/);
  }
  t.regex((await trellis(['catalog'])).stdout, / {4}datacenters {4}Lists all known datacenters\n/);
  t.regex(
    (await trellis(['services'])).stdout,
    / {4}deregister {4}Deregister services with the local agent\n {4}register {6}Register/,
  );
});

// --------------------------------------------------------------------------------- event

test('event asks the agent’s name, then fires the event with its filters and payload', async (t) => {
  const a = await agent(t);
  const r = await trellis([
    'event',
    a.flag,
    '-name=deploy',
    '-node=^web-.*',
    '-service=redis',
    '-tag=(?i)PRIMARY',
    '1609030400',
  ]);
  t.deepEqual(r, {
    code: 0,
    stdout: 'Event ID: b54fe110-7af5-cafc-d1fb-afc8ba432b1c\n',
    stderr: '',
  });
  t.deepEqual(
    a.requests.map((q) => `${q.method} ${q.path}`),
    ['GET /v1/agent/self', 'PUT /v1/event/fire/deploy'],
  );
  const fire = a.requests[1]!;
  t.deepEqual(fire.query, { node: ['^web-.*'], service: ['redis'], tag: ['(?i)PRIMARY'] });
  t.is(fire.body, '1609030400');

  await trellis(['event', a.flag, '-name=restart']);
  t.deepEqual(calls(a).slice(2), ['GET /v1/agent/self', 'PUT /v1/event/fire/restart']);
  t.is(a.requests[3]!.body, '', 'no payload, no body');
});

test('event validation: a name, compilable filters, -tag only with -service, at most one payload', async (t) => {
  const a = await agent(t, [
    [
      'PUT',
      /^\/v1\/event\/fire\//,
      { status: 500, body: 'rpc error making call: No cluster leader' },
    ],
  ]);
  const cases: Array<[string[], RegExp]> = [
    [[], /^Event name must be specified\n\nUsage: trellis event/],
    [['-name=x', '-node=('], /^Failed to compile node filter regexp: .*\n$/],
    [['-name=x', '-service=[a'], /^Failed to compile service filter regexp: /],
    [['-name=x', '-service=a', '-tag=*'], /^Failed to compile tag filter regexp: /],
    [['-name=x', '-tag=v1'], /^Cannot provide tag filter without service filter\.\n$/],
    [['-name=x', 'one', 'two'], /^Too many command line arguments\.\n\nUsage: trellis event/],
  ];
  for (const [argv, stderr] of cases) {
    const r = await trellis(['event', a.flag, ...argv]);
    t.is(r.code, 1, argv.join(' '));
    t.is(r.stdout, '', argv.join(' '));
    t.regex(r.stderr, stderr, argv.join(' '));
  }
  t.is(a.requests.length, 0);
  t.deepEqual(await trellis(['event', a.flag, '-name=x']), {
    code: 1,
    stdout: '',
    stderr:
      'Error firing event: Unexpected response code: 500 (rpc error making call: No cluster leader)\n',
  });
});

// --------------------------------------------------------------------------------- maint

test('maint with no flags lists node and service maintenance from the agent’s checks', async (t) => {
  const a = await agent(t);
  t.deepEqual(await trellis(['maint', a.flag]), {
    code: 0,
    stdout:
      'Node:\n  Name:   foobar\n  Reason: kernel upgrade\n\n' +
      'Service:\n  ID:     redis\n' +
      '  Reason: Maintenance mode is enabled for this service, but no reason was provided. This is a default message.\n\n',
    stderr: '',
  });
  t.deepEqual(calls(a), ['GET /v1/agent/self', 'GET /v1/agent/checks']);

  const quiet = await agent(t, [['GET', /^\/v1\/agent\/checks$/, { body: {} }]]);
  t.deepEqual(await trellis(['maint', quiet.flag]), { code: 0, stdout: '', stderr: '' });
});

test('maint -enable/-disable for the node and for a service: Consul’s requests and messages', async (t) => {
  const a = await agent(t);
  t.deepEqual(await trellis(['maint', a.flag, '-enable', '-reason=kernel upgrade']), {
    code: 0,
    stdout: 'Node maintenance is now enabled\n',
    stderr: '',
  });
  t.is((await trellis(['maint', a.flag, '-enable'])).code, 0);
  t.is((await trellis(['maint', a.flag, '-disable'])).stdout, 'Node maintenance is now disabled\n');
  t.is(
    (await trellis(['maint', a.flag, '-enable', '-service=redis', '-reason=resize'])).stdout,
    'Service maintenance is now enabled for "redis"\n',
  );
  t.is(
    (await trellis(['maint', a.flag, '-disable', '-service=redis'])).stdout,
    'Service maintenance is now disabled for "redis"\n',
  );
  t.deepEqual(calls(a), [
    'PUT /v1/agent/maintenance?enable=true&reason=kernel%20upgrade',
    'PUT /v1/agent/maintenance?enable=true&reason=',
    'PUT /v1/agent/maintenance?enable=false',
    'PUT /v1/agent/service/maintenance/redis?enable=true&reason=resize',
    'PUT /v1/agent/service/maintenance/redis?enable=false',
  ]);
});

test('maint: conflicting flags are refused before any request; agent errors are Consul’s', async (t) => {
  const a = await agent(t, [
    ['PUT', /maintenance\/nope$/, { status: 404, body: 'Unknown service ID "nope"' }],
  ]);
  const cases: Array<[string[], string]> = [
    [['-enable', '-disable'], 'Only one of -enable or -disable may be provided\n'],
    [['-reason=x'], 'Reason may only be provided with -enable\n'],
    [['-disable', '-reason=x'], 'Reason may only be provided with -enable\n'],
    [['-service=redis'], 'Service requires either -enable or -disable\n'],
    [['enable'], 'Too many arguments (expected 0, got 1)\n'],
  ];
  for (const [argv, stderr] of cases) {
    t.deepEqual(
      await trellis(['maint', a.flag, ...argv]),
      { code: 1, stdout: '', stderr },
      argv.join(' '),
    );
  }
  t.is(a.requests.length, 0);
  t.deepEqual(await trellis(['maint', a.flag, '-enable', '-service=nope']), {
    code: 1,
    stdout: '',
    stderr:
      'Error enabling service maintenance: Unexpected response code: 404 (Unknown service ID "nope")\n',
  });
});

// ------------------------------------------------------------------------- shared flags

test('-token is sent as X-Consul-Token and -datacenter as ?dc= by the new commands', async (t) => {
  const a = await agent(t);
  await trellis(['catalog', 'nodes', a.flag, '-token=s3cr3t', '-datacenter=dc2']);
  await trellis(['services', 'register', a.flag, '-token=s3cr3t', '-name=web']);
  await trellis(['join', a.flag, '-token=s3cr3t', '10.0.0.2']);
  t.deepEqual(
    a.requests.map((q) => [q.path, q.token, q.query['dc']?.[0]]),
    [
      ['/v1/catalog/nodes', 's3cr3t', 'dc2'],
      ['/v1/agent/service/register', 's3cr3t', undefined],
      ['/v1/agent/join/10.0.0.2', 's3cr3t', undefined],
    ],
  );
});

test('an agent that does not answer: each command names its request, exit 1', async (t) => {
  const port = await closedPort();
  const a = `-http-addr=127.0.0.1:${port}`;
  const cases: Array<[string[], string]> = [
    [['force-leave', a, 'n1'], 'Error force leaving: Put "'],
    [['services', 'register', a, '-name=web'], 'Error registering service "web": Put "'],
    [['services', 'deregister', a, '-id=web'], 'Error deregistering service "web": Put "'],
    [['catalog', 'datacenters', a], 'Error listing datacenters: Get "'],
    [['catalog', 'nodes', a], 'Error listing nodes: Get "'],
    [['catalog', 'nodes', a, '-service=web'], 'Error listing nodes for service: Get "'],
    [['catalog', 'services', a], 'Error listing services: Get "'],
    [['catalog', 'services', a, '-node=n1'], 'Error listing services for node: Get "'],
    [['event', a, '-name=deploy'], 'Error querying Consul agent: Get "'],
    [['maint', a], 'Error querying Consul agent: Get "'],
    [['maint', a, '-enable'], 'Error enabling node maintenance: Put "'],
    [['maint', a, '-disable', '-service=redis'], 'Error disabling service maintenance: Put "'],
  ];
  const runs = await Promise.all(cases.map(([argv]) => trellis(argv)));
  cases.forEach(([argv, prefix], i) => {
    const r = runs[i]!;
    t.is(r.code, 1, argv.join(' '));
    t.is(r.stdout, '', argv.join(' '));
    t.true(r.stderr.startsWith(prefix), `${argv.join(' ')}: ${r.stderr}`);
    t.regex(
      r.stderr,
      new RegExp(`dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused\\n$`),
    );
  });
  const join = await trellis(['join', a, '10.0.0.2']);
  t.deepEqual(join, {
    code: 1,
    stdout: '',
    stderr:
      `Error joining address '10.0.0.2': Put "http://127.0.0.1:${port}/v1/agent/join/10.0.0.2": ` +
      `dial tcp 127.0.0.1:${port}: connect: connection refused\nFailed to join any nodes.\n`,
  });
});

test('a bad -http-addr is reported as Consul reports it, before any request', async (t) => {
  const bad = '-http-addr=gopher://x:1';
  for (const argv of [
    ['join', bad, '10.0.0.2'],
    ['catalog', 'nodes', bad],
    ['maint', bad],
    ['event', bad, '-name=x'],
    ['services', 'register', bad, '-name=web'],
  ]) {
    const r = await trellis(argv);
    t.deepEqual(
      r,
      {
        code: 1,
        stdout: '',
        stderr: 'Error connecting to Consul agent: Unknown protocol scheme: gopher\n',
      },
      argv.join(' '),
    );
  }
});
