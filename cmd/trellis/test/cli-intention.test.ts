// `trellis intention create|get|list|match|check|delete` against a real dev agent on
// loopback: each command as a user runs it (its own process, the agent's address from
// TRELLIS_HTTP_ADDR), further cases in-process through main() with -http-addr. Consul's
// output, messages and exit codes (check: 0 allowed, 1 denied, 2 error; list: 2 when empty),
// legacy IDs and metadata, L7 permissions and the agent's refusal of an L7 intention for a
// TCP destination.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevAgent, type DevAgent, type Run, type RunOptions } from './dev-agent.js';
import { cli, closedPort } from './helpers.js';

let agent: DevAgent | undefined;
let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trellis-cli-intention-'));
  agent = await startDevAgent();
});

test.after.always(async () => {
  await agent?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `trellis <args>` in its own process, against the agent. */
function trellis(args: readonly string[], opts?: RunOptions): Promise<Run> {
  return agent!.run(args, opts);
}

/** `trellis intention <sub> -http-addr=… <rest>` in-process. */
function local(sub: string, rest: readonly string[], stdin?: string) {
  return cli(['intention', sub, agent!.flag, ...rest], stdin);
}

async function file(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const ok = (stdout: string): Run => ({ code: 0, stdout, stderr: '' });
const err = (stderr: string, code = 1): Run => ({ code, stdout: '', stderr });

test.serial('list with no intentions says so and exits 2', async (t) => {
  t.deepEqual(await trellis(['intention', 'list']), err('There are no intentions.\n', 2));
});

test.serial('create, check, get, match, list, replace and delete an intention', async (t) => {
  t.deepEqual(
    await trellis(['intention', 'create', 'web', 'db']),
    ok('Created: web => db (allow)\n'),
  );
  t.deepEqual(await trellis(['intention', 'check', 'web', 'db']), ok('Allowed\n'));

  t.deepEqual(
    await local('create', ['-deny', 'web', 'db']),
    err(
      'Error creating intention "web => db (deny)": duplicate intention found: web => db (allow)\n',
    ),
  );
  // -replace overwrites it; Consul prints no "Created:" line for a replacement.
  t.deepEqual(await local('create', ['-deny', '-replace', 'web', 'db']), ok(''));
  t.deepEqual(await local('check', ['web', 'db']), { code: 1, stdout: 'Denied\n', stderr: '' });
  t.deepEqual(await local('create', ['-deny', '*', 'db']), ok('Created: * => db (deny)\n'));

  t.deepEqual(
    await trellis(['intention', 'get', 'web', 'db']),
    ok(
      'Source:       web\n' +
        'Destination:  db\n' +
        'Action:       deny\n' +
        'Created At:   Monday, 01-Jan-01 00:00:00 UTC\n',
    ),
  );
  t.deepEqual(
    await trellis(['intention', 'match', 'db']),
    ok('web => db (deny)\n* => db (deny)\n'),
    'in evaluation order',
  );
  t.deepEqual(
    await local('match', ['-source', 'web']),
    ok('web => db (deny)\n* => db (deny)\n'),
    'a wildcard source matches too',
  );
  t.deepEqual(await local('match', ['-destination', 'nothing']), ok(''));
  const list = await trellis(['intention', 'list']);
  t.is(list.code, 0, list.stderr);
  t.deepEqual(
    list.stdout.split('\n').map((l) => l.trim().split(/ {2,}/)),
    [
      ['ID', 'Source', 'Action', 'Destination', 'Precedence'],
      ['web', 'deny', 'db', '9'],
      ['*', 'deny', 'db', '8'],
      [''],
    ],
  );

  t.deepEqual(await trellis(['intention', 'delete', 'web', 'db']), ok('Intention deleted.\n'));
  t.deepEqual(await local('delete', ['*', 'db']), ok('Intention deleted.\n'));
  t.deepEqual(
    await local('get', ['web', 'db']),
    err('Intention not found with source "web" and destination "db"\n'),
  );
  t.deepEqual(await local('check', ['web', 'db']), ok('Allowed\n'), 'default allow');
});

test.serial(
  '-meta creates a legacy intention with an ID; get and delete take the ID',
  async (t) => {
    t.deepEqual(
      await local('create', ['-meta', 'team=payments', '-meta=tier=1', 'billing', 'ledger']),
      ok('Created: billing => ledger (allow)\n'),
    );
    const byName = await local('get', ['billing', 'ledger']);
    t.is(byName.code, 0, byName.stderr);
    const id = /^ID: +([0-9a-f-]{36})$/m.exec(byName.stdout)?.[1];
    t.truthy(id, byName.stdout);
    t.regex(
      byName.stdout,
      new RegExp(
        '^Source: +billing\nDestination: +ledger\nAction: +allow\nID: +[0-9a-f-]{36}\n' +
          'Meta\\[team\\]: +payments\nMeta\\[tier\\]: +1\n' +
          'Created At: +[A-Z][a-z]+day, \\d\\d-[A-Z][a-z]{2}-\\d\\d \\d\\d:\\d\\d:\\d\\d \\S+\n$',
      ),
    );
    t.deepEqual(await local('get', [id!]), byName, 'the same by ID');
    t.regex(
      (await local('list', [])).stdout,
      new RegExp(`\\n${id!} +billing +allow +ledger +9\\n`),
    );
    t.deepEqual(await local('delete', [id!]), ok('Intention deleted.\n'));
    t.deepEqual(await local('get', [id!]), err(`Intention not found with ID "${id!}"\n`));
    const gone = await local('delete', [id!]);
    t.is(gone.code, 1);
    t.regex(gone.stderr, /^Error deleting the intention: Unexpected response code: 404 \(.+\)\n$/);
  },
);

test.serial('L7 permissions: from a file for an HTTP service; refused for a TCP one', async (t) => {
  t.is(
    (
      await cli(
        ['config', 'write', agent!.flag, '-'],
        '{"Kind": "service-defaults", "Name": "orders", "Protocol": "http"}',
      )
    ).code,
    0,
  );
  const permissions = [{ Action: 'allow', HTTP: { PathPrefix: '/orders' } }];
  const l7 = await file('l7.json', {
    SourceName: 'shop',
    DestinationName: 'orders',
    Permissions: permissions,
  });
  t.deepEqual(
    await trellis(['intention', 'create', '-file', l7]),
    ok('Created: shop => orders (1 permission)\n'),
  );
  t.deepEqual(
    await local('get', ['shop', 'orders']),
    ok(
      'Source:       shop\n' +
        'Destination:  orders\n' +
        'Created At:   Monday, 01-Jan-01 00:00:00 UTC\n' +
        'Permissions:\n' +
        JSON.stringify(permissions, null, 2) +
        '\n',
    ),
  );
  t.deepEqual(await local('match', ['orders']), ok('shop => orders (1 permission)\n'));
  t.deepEqual(
    await local('check', ['shop', 'orders']),
    { code: 1, stdout: 'Denied\n', stderr: '' },
    'an L4 check treats an L7 intention as a denial (Consul)',
  );

  // "ledger" has no service-defaults: its protocol is tcp.
  const tcp = await file('tcp.json', {
    SourceName: 'shop',
    DestinationName: 'ledger',
    Permissions: permissions,
  });
  const incompatible =
    '(service "ledger" has protocol "tcp", which is incompatible with L7 intentions permissions)\n';
  t.deepEqual(
    await local('create', ['-file', tcp]),
    err(
      'Error creating intention "shop => ledger (1 permission)": Unexpected response code: 400 ' +
        incompatible,
    ),
  );
  const entry = {
    Kind: 'service-intentions',
    Name: 'ledger',
    Sources: [{ Name: 'shop', Permissions: permissions }],
  };
  t.deepEqual(
    await cli(['config', 'write', agent!.flag, '-'], JSON.stringify(entry)),
    err(
      'Error writing config entry service-intentions/ledger: Unexpected response code: 400 ' +
        incompatible,
    ),
  );
  // And a protocol change that would strand the L7 intention is refused too.
  const downgrade = await cli(
    ['config', 'write', agent!.flag, '-'],
    '{"Kind": "service-defaults", "Name": "orders", "Protocol": "tcp"}',
  );
  t.is(downgrade.code, 1);
  t.regex(
    downgrade.stderr,
    /^Error writing config entry service-defaults\/orders: Unexpected response code: 400 \(.*L7.*\)\n$/,
  );

  // Several files at once, one from stdin.
  const a = await file('a.json', { SourceName: 'a', DestinationName: 'multi', Action: 'allow' });
  t.deepEqual(
    await local(
      'create',
      ['-file', a, '-'],
      '{"sourcename": "b", "DestinationName": "multi", "Action": "deny"}',
    ),
    ok('Created: a => multi (allow)\nCreated: b => multi (deny)\n'),
  );
});

test.serial('bad input: Consul’s messages and exit codes, nothing written', async (t) => {
  t.deepEqual(
    await local('create', ['only-one']),
    err('Error: Must specify two arguments: source and destination\n'),
  );
  t.deepEqual(
    await local('create', ['-allow', '-deny', 'x', 'y']),
    err('Only one of -allow or -deny may be specified.\n'),
  );
  t.deepEqual(
    await local('create', ['a/b/c/d', 'y']),
    err("Error: Invalid intention source: input can contain at most two '/'\n"),
  );
  const missing = join(dir, 'missing.json');
  t.deepEqual(
    await local('create', ['-file', missing]),
    err(`Error: open ${missing}: no such file or directory\n`),
  );
  const broken = await file('broken.json', '{"SourceName": ');
  t.regex(
    (await local('create', ['-file', broken])).stderr,
    new RegExp(`^Error: ${broken} is not valid JSON: `),
  );
  const typed = await file('typed.json', { SourceName: 1, DestinationName: 'y' });
  t.deepEqual(
    await local('create', ['-file', typed]),
    err(`Error: ${typed}: cannot unmarshal number into field SourceName of type string\n`),
  );
  const meta = await local('create', ['-meta', 'novalue', 'x', 'y']);
  t.is(meta.code, 1);
  t.regex(
    meta.stderr,
    /^invalid value "novalue" for flag -meta: Missing "=" value in argument: novalue\n\nUsage: trellis intention create/,
  );
  const flag = await trellis(['intention', 'create', '-bogus', 'x', 'y']);
  t.is(flag.code, 1);
  t.regex(flag.stderr, /^flag provided but not defined: -bogus\n/);
  const ns = await local('create', ['team/x', 'y']);
  t.is(ns.code, 1);
  t.regex(
    ns.stderr,
    /^Error creating intention "team\/x => y \(allow\)": .*Namespaces is a Consul Enterprise feature/,
  );

  t.deepEqual(
    await local('check', ['x']),
    err('Error: command requires exactly two arguments: src and dst\n', 2),
  );
  const checkFlag = await trellis(['intention', 'check', '-bogus', 'x', 'y']);
  t.is(checkFlag.code, 2);
  t.regex(
    checkFlag.stderr,
    /^flag provided but not defined: -bogus\n\nUsage: trellis intention check/,
  );
  const port = await closedPort();
  const down = await cli(['intention', 'check', `-http-addr=127.0.0.1:${port}`, 'x', 'y']);
  t.is(down.code, 2);
  t.regex(
    down.stderr,
    /^Error checking the connection: Get ".*": dial tcp .*: connect: connection refused\n$/,
  );

  t.deepEqual(
    await local('match', []),
    err('Error: command requires exactly one argument: src or dst\n'),
  );
  t.deepEqual(
    await local('match', ['-source', '-destination', 'x']),
    err('Error: only one of -source or -destination may be specified\n'),
  );
  t.is((await local('match', ['-bogus', 'x'])).code, 2, 'Consul’s exit code');
  t.deepEqual(
    await local('get', ['a', 'b', 'c']),
    err('command requires exactly 1 or 2 arguments\n'),
  );
  t.deepEqual(await local('delete', []), err('command requires exactly 1 or 2 arguments\n'));
  const all = (await local('list', [])).stdout;
  t.notRegex(all, /only-one|\bx\b|team/, 'none of the refused intentions exists');

  const group = await cli(['intention']);
  t.is(group.code, 1);
  t.regex(group.stdout, /^Usage: trellis intention <subcommand>/);
  t.regex(
    group.stdout,
    /Subcommands:\n {4}check {4}.+\n {4}create {3}.+\n {4}delete {3}.+\n {4}get {6}.+\n {4}list {5}.+\n {4}match {4}.+\n$/,
  );
});
