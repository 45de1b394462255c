// Argument handling of the API commands: what each refuses before it talks to an agent, the
// nested command lists, and the client's address rules and transport errors, with Consul's
// messages and exit codes.
import test from 'ava';
import { resolveAgentUrl, ApiClient, isApiError } from '../src/api/index.js';
import { kvCommand } from '../src/commands/kv/index.js';
import { operatorCommand } from '../src/commands/operator/index.js';
import { cli, closedPort } from './helpers.js';

test('-http-addr, then TRELLIS_HTTP_ADDR, then CONSUL_HTTP_ADDR, then 127.0.0.1:8500', (t) => {
  t.is(resolveAgentUrl(undefined, {}), 'http://127.0.0.1:8500');
  t.is(resolveAgentUrl(undefined, { CONSUL_HTTP_ADDR: '10.0.0.1:8500' }), 'http://10.0.0.1:8500');
  t.is(
    resolveAgentUrl(undefined, { TRELLIS_HTTP_ADDR: 'a:1', CONSUL_HTTP_ADDR: 'b:2' }),
    'http://a:1',
  );
  t.is(resolveAgentUrl('c:3', { TRELLIS_HTTP_ADDR: 'a:1' }), 'http://c:3');
  t.is(resolveAgentUrl('https://agent.local:8501/', {}), 'https://agent.local:8501');
  t.is(resolveAgentUrl('http://[::1]:8500', {}), 'http://[::1]:8500');
  t.is(resolveAgentUrl('10.0.0.1:8501', { CONSUL_HTTP_SSL: 'true' }), 'https://10.0.0.1:8501');
  t.throws(() => resolveAgentUrl('ftp://x:1', {}), { message: 'Unknown protocol scheme: ftp' });
  t.throws(() => resolveAgentUrl('http://x:1/path', {}), { message: /invalid HTTP address/ });
  t.throws(() => resolveAgentUrl('x:notaport', {}), { message: /invalid HTTP address/ });
});

test('the client names the request and the socket error the way Go’s client does', async (t) => {
  const port = await closedPort();
  const c = new ApiClient({ baseUrl: `http://127.0.0.1:${port}`, datacenter: 'dc2' });
  t.is(c.url('/v1/kv/a', { stale: '', recurse: '' }).search, '?dc=dc2&recurse=&stale=');
  const e = await t.throwsAsync(c.request('GET', '/v1/kv/a'));
  t.true(isApiError(e, 'ERR_API_CONNECT'));
  t.is(
    e?.message,
    `Get "http://127.0.0.1:${port}/v1/kv/a?dc=dc2": dial tcp 127.0.0.1:${port}: connect: connection refused`,
  );
});

test('each command’s argument errors, before any request (Consul’s messages, exit 1)', async (t) => {
  const port = await closedPort();
  const a = `-http-addr=127.0.0.1:${port}`;
  const cases: Array<[string[], RegExp]> = [
    [['kv', 'get', a], /^Error! Missing KEY argument\n$/],
    [['kv', 'get', a, 'x', 'y'], /^Too many arguments \(expected 1, got 2\)\n$/],
    [['kv', 'put', a], /^Error! Missing KEY argument\n$/],
    [['kv', 'put', a, 'k', 'v', 'w'], /^Error! Too many arguments \(expected 1 or 2, got 3\)\n$/],
    [
      ['kv', 'put', a, '-acquire', 'k'],
      /^Error! Missing -session \(required with -acquire and -release\)\n$/,
    ],
    [
      ['kv', 'put', a, '-base64', 'k', 'not base64!'],
      /^Error! Cannot base 64 decode data: illegal base64 data/,
    ],
    [
      ['kv', 'put', a, 'k', '@/nonexistent/file'],
      /^Error! Failed to read file: open \/nonexistent\/file: no such file or directory\n$/,
    ],
    [['kv', 'delete', a], /^Error! Missing KEY argument\n$/],
    [
      ['kv', 'delete', a, '-cas', 'k'],
      /^Cannot delete a key that does not exist\. Provide a -modify-index greater than than 0\.\n$/,
    ],
    [['kv', 'delete', a, '-modify-index=3', 'k'], /^Cannot specify -modify-index without -cas!\n$/],
    [
      ['kv', 'delete', a, '-recurse', '-cas', '-modify-index=3', 'k'],
      /^Cannot specify both -cas and -recurse!\n$/,
    ],
    [['kv', 'export', a, 'a', 'b'], /^Too many arguments \(expected 1, got 2\)\n$/],
    [['kv', 'import', a], /^Error! Missing DATA argument\n$/],
    [['kv', 'import', a, ''], /^Error! Empty DATA argument\n$/],
    [['snapshot', 'save', a], /^Missing FILE argument\n$/],
    [['snapshot', 'save', a, 'x', 'y'], /^Too many arguments \(expected 1 or 3, got 2\)\n$/],
    [['snapshot', 'restore', a], /^Missing FILE argument\n$/],
    [
      ['snapshot', 'restore', a, '/nonexistent.snap'],
      /^Error opening snapshot file: open \/nonexistent\.snap: no such file or directory\n$/,
    ],
    [
      ['operator', 'raft', 'remove-peer', a],
      /^Error removing peer: an address or id is required for the peer to remove\n$/,
    ],
    [
      ['operator', 'raft', 'remove-peer', a, '-id=x', '-address=y'],
      /^Error removing peer: cannot give both an address and id\n$/,
    ],
    [['members', a, '-status=('], /^Failed to compile status regexp: /],
    [
      ['members', '-http-addr=gopher://x:1'],
      /^Error connecting to Consul agent: Unknown protocol scheme: gopher\n$/,
    ],
  ];
  for (const [argv, stderr] of cases) {
    const r = await cli(argv);
    t.is(r.code, 1, argv.join(' '));
    t.regex(r.stderr, stderr, argv.join(' '));
    t.is(r.stdout, '', argv.join(' '));
  }
  const leave = await cli(['leave', a, 'now']);
  t.is(leave.code, 1);
  t.is(leave.stderr, 'Error found unexpected args: [now]\n');
  t.regex(leave.stdout, /^Usage: trellis leave/);
});

test('flag errors inside a nested command print the subcommand’s help', async (t) => {
  const r = await cli(['kv', 'get', '-bogus']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^flag provided but not defined: -bogus\n\nUsage: trellis kv get/);
  const m = await cli(['kv', 'put', '-flags=-1', 'k']);
  t.is(m.code, 1);
  t.regex(m.stderr, /invalid value "-1" for flag -flags/);
});

test('nested commands with no or an unknown subcommand list their subcommands and exit 1', async (t) => {
  for (const argv of [['kv'], ['kv', 'frob'], ['operator'], ['operator', 'raft'], ['snapshot']]) {
    const r = await cli(argv);
    t.is(r.code, 1, argv.join(' '));
    t.regex(r.stdout, /\n\nSubcommands:\n {4}\S/, argv.join(' '));
  }
  const kv = await cli(['kv']);
  t.regex(kv.stdout, /Subcommands:\n {4}delete {4}Removes data from the KV store\n {4}export {4}/);
  const raft = await cli(['operator', 'raft']);
  t.regex(raft.stdout, / {4}list-peers {9}Display the current Raft peer configuration\n/);
});

test('-h after a subcommand prints that subcommand’s help and exits 0', async (t) => {
  let stdout = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true } };
  t.is(await kvCommand.run(['put', '-h'], io), 0);
  t.regex(stdout, /^Usage: trellis kv put \[options\] KEY \[DATA\]/);
  t.regex(
    stdout,
    /HTTP API Options:[\s\S]*-http-addr=<string>[\s\S]*Command Options:[\s\S]*-modify-index=<int>/,
  );
  stdout = '';
  t.is(await operatorCommand.run(['raft', 'list-peers', '--help'], io), 0);
  t.regex(stdout, /^Usage: trellis operator raft list-peers/);
});

test('connection refused is reported with each command’s prefix and exit 1', async (t) => {
  const port = await closedPort();
  const a = `-http-addr=http://127.0.0.1:${port}`;
  const cases: Array<[string[], string]> = [
    [['members', a], 'Error retrieving members: Get "'],
    [['leave', a], 'Error leaving: Put "'],
    [['kv', 'get', a, 'k'], 'Error querying Consul agent: Get "'],
    [['kv', 'put', a, 'k', 'v'], 'Error! Failed writing data: Put "'],
    [['kv', 'put', a, '-cas', '-modify-index=4', 'k', 'v'], 'Error! Did not write to k: Put "'],
    [['kv', 'delete', a, 'k'], 'Error deleting key k: Delete "'],
    [['kv', 'export', a], 'Error querying Consul agent: Get "'],
    [
      ['operator', 'raft', 'list-peers', a],
      'Error getting peers: Failed to retrieve raft configuration: Get "',
    ],
    [
      ['operator', 'raft', 'transfer-leader', a],
      'Error transfering leadership: Failed to transfer leadership Post "',
    ],
    [['snapshot', 'save', a, '/tmp/never-written.snap'], 'Error saving snapshot: Get "'],
  ];
  for (const [argv, prefix] of cases) {
    const r = await cli(argv);
    t.is(r.code, 1, argv.join(' '));
    t.true(r.stderr.startsWith(prefix), `${argv.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /connect: connection refused\n$/, argv.join(' '));
  }
});
