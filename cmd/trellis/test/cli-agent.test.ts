// End to end against a real dev agent (`trellis agent -dev`) on loopback: every API command
// of the CLI run as a user runs it, through bin/trellis.js, checked for Consul's output and
// exit codes. The agent is started once, stopped by its PID, and every wait is bounded.
import test from 'ava';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../../bin/trellis.js', import.meta.url).pathname;
const NODE = 'cli-e2e';
/** How long the dev agent may take to elect itself. */
const READY_TIMEOUT_MS = 60_000;
/** Per CLI invocation. */
const RUN_TIMEOUT_MS = 30_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A loopback port free on both TCP and UDP (gossip uses both), released before returning. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as { port: number }).port;
    const udp = createSocket('udp4');
    const udpOk = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (udpOk) await new Promise<void>((resolve) => udp.close(() => resolve()));
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    if (udpOk) return port;
  }
  throw new Error('no loopback port free on both TCP and UDP after 20 tries');
}

let agent: ChildProcess | undefined;
let agentLog = '';
let httpPort = 0;
let dir = '';
const env = { ...process.env };
delete env['CONSUL_HTTP_ADDR'];
delete env['TRELLIS_HTTP_ADDR'];
delete env['CONSUL_HTTP_TOKEN'];
delete env['TRELLIS_HTTP_TOKEN'];

function trellis(args: readonly string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      {
        env: { ...env, TRELLIS_HTTP_ADDR: `127.0.0.1:${httpPort}` },
        timeout: RUN_TIMEOUT_MS,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

async function leaderKnown(): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/v1/status/leader`, {
      signal: AbortSignal.timeout(2_000),
    });
    if (res.status !== 200) return false;
    const leader: unknown = await res.json();
    return typeof leader === 'string' && leader !== '';
  } catch {
    return false;
  }
}

async function waitFor(
  what: string,
  cond: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (let i = 0; i < 1_000; i++) {
    if (await cond()) return;
    if (agent?.exitCode !== null && agent?.exitCode !== undefined) {
      throw new Error(
        `agent exited with ${agent.exitCode} while waiting for ${what}:\n${agentLog}`,
      );
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${agentLog}`);
}

async function stopAgent(): Promise<void> {
  const child = agent;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid!, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

test.before(async () => {
  const probe = spawnSync(process.execPath, [bin, 'agent', '-h'], {
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
  });
  if (probe.status !== 0) {
    throw new Error(
      `\`trellis agent -h\` exits ${String(probe.status)}: the agent command is not available ` +
        `in this build, so the CLI cannot be tested end to end.\n${probe.stderr}`,
    );
  }
  dir = await mkdtemp(join(tmpdir(), 'trellis-cli-e2e-'));
  httpPort = await freePort();
  const serverPort = await freePort();
  const serfPort = await freePort();
  agent = spawn(
    process.execPath,
    [
      bin,
      'agent',
      '-dev',
      `-node=${NODE}`,
      `-http-port=${httpPort}`,
      `-server-port=${serverPort}`,
      `-serf-lan-port=${serfPort}`,
      '-dns-port=-1',
      '-grpc-port=-1',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (b: Buffer) => {
    agentLog = (agentLog + b.toString('utf8')).slice(-20_000); // bounded diagnostics
  };
  agent.stdout?.on('data', keep);
  agent.stderr?.on('data', keep);
  await waitFor('a Raft leader', leaderKnown, READY_TIMEOUT_MS);
});

test.after.always(async () => {
  await stopAgent();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial('members lists the dev agent as an alive server in Consul’s table', async (t) => {
  const r = await trellis(['members']);
  t.is(r.code, 0, r.stderr);
  const [header, row, ...more] = r.stdout.trimEnd().split('\n');
  t.deepEqual(header!.split(/ {2,}/), [
    'Node',
    'Address',
    'Status',
    'Type',
    'Build',
    'Protocol',
    'DC',
    'Partition',
    'Segment',
  ]);
  t.is(more.length, 0);
  const cells = row!.split(/ {2,}/);
  t.is(cells[0], NODE);
  t.regex(cells[1]!, /^127\.0\.0\.1:\d+$/);
  t.deepEqual(cells.slice(2, 4), ['alive', 'server']);
  t.is(cells[6], 'dc1');
  t.deepEqual(cells.slice(7), ['default', '<all>']);

  const detailed = await trellis(['members', '-detailed']);
  t.is(detailed.code, 0);
  t.regex(detailed.stdout, /^Node +Address +Status +Tags\n/);
  t.regex(detailed.stdout, /role=consul/);
  t.is((await trellis(['members', '-status=failed'])).code, 2, 'no member matches: exit 2');
  t.is((await trellis(['members', '--status', 'alive'])).code, 0);
});

test.serial('kv put/get/delete with values from arguments, stdin and files', async (t) => {
  const put = await trellis(['kv', 'put', 'app/name', 'trellis']);
  t.is(put.code, 0, put.stderr);
  t.is(put.stdout, 'Success! Data written to: app/name\n');
  t.deepEqual(await trellis(['kv', 'get', 'app/name']), {
    code: 0,
    stdout: 'trellis\n',
    stderr: '',
  });
  t.is(
    (await trellis(['kv', 'get', '/app/name'])).stdout,
    'trellis\n',
    'one leading slash is stripped',
  );

  t.is((await trellis(['kv', 'put', 'app/stdin', '-'], 'from stdin')).code, 0);
  t.is((await trellis(['kv', 'get', 'app/stdin'])).stdout, 'from stdin\n');
  const file = join(dir, 'value.txt');
  await writeFile(file, 'from a file');
  t.is((await trellis(['kv', 'put', '-flags=42', 'app/file', `@${file}`])).code, 0);
  t.is((await trellis(['kv', 'get', 'app/file'])).stdout, 'from a file\n');
  t.is(
    (await trellis(['kv', 'put', '-base64', 'app/b64', Buffer.from('decoded').toString('base64')]))
      .code,
    0,
  );
  t.is((await trellis(['kv', 'get', 'app/b64'])).stdout, 'decoded\n');
  t.is((await trellis(['kv', 'get', '-base64', 'app/b64'])).stdout, 'ZGVjb2RlZA==\n');

  const detailed = await trellis(['kv', 'get', '-detailed', 'app/file']);
  t.is(detailed.code, 0);
  t.regex(
    detailed.stdout,
    /^CreateIndex {6}\d+\nFlags {12}42\nKey {14}app\/file\nLockIndex {8}0\nModifyIndex {6}\d+\nSession {10}-\nValue {12}from a file\n$/,
  );

  const recurse = await trellis(['kv', 'get', '-recurse', 'app/']);
  t.is(
    recurse.stdout,
    'app/b64:decoded\napp/file:from a file\napp/name:trellis\napp/stdin:from stdin\n',
  );
  t.is(
    (await trellis(['kv', 'get', '-keys', 'app/'])).stdout,
    'app/b64\napp/file\napp/name\napp/stdin\n',
  );
  t.is(
    (await trellis(['kv', 'get', '-keys', '-stale'])).stdout,
    'app/\n',
    '-keys with the "/" separator',
  );
  t.is((await trellis(['kv', 'get', '-keys', '-recurse', 'app/n'])).stdout, 'app/name\n');

  const missing = await trellis(['kv', 'get', 'app/nope']);
  t.deepEqual(missing, { code: 1, stdout: '', stderr: 'Error! No key exists at: app/nope\n' });

  const del = await trellis(['kv', 'delete', 'app/stdin']);
  t.deepEqual(del, { code: 0, stdout: 'Success! Deleted key: app/stdin\n', stderr: '' });
  t.is((await trellis(['kv', 'get', 'app/stdin'])).code, 1);
  t.is((await trellis(['kv', 'get', '-datacenter=dc1', 'app/name'])).stdout, 'trellis\n');
  const otherDc = await trellis(['kv', 'get', '-datacenter=nowhere', 'app/name']);
  t.is(otherDc.code, 1);
  t.regex(otherDc.stderr, /^Error querying Consul agent: Unexpected response code: \d+ \(.+\)\n$/);
});

test.serial(
  'check-and-set writes and deletes: Consul’s success and CAS-failure messages',
  async (t) => {
    t.is((await trellis(['kv', 'put', 'cas/k', 'v1'])).code, 0);
    const index = /ModifyIndex\s+(\d+)/.exec(
      (await trellis(['kv', 'get', '-detailed', 'cas/k'])).stdout,
    )?.[1];
    t.truthy(index);
    const stale = Number(index) - 1;
    t.deepEqual(await trellis(['kv', 'put', '-cas', `-modify-index=${stale}`, 'cas/k', 'v2']), {
      code: 1,
      stdout: '',
      stderr: 'Error! Did not write to cas/k: CAS failed\n',
    });
    t.deepEqual(await trellis(['kv', 'put', '-cas', '-modify-index=0', 'cas/k', 'v2']), {
      code: 1,
      stdout: '',
      stderr: 'Error! Did not write to cas/k: CAS performed with index=0 and key already exists.\n',
    });
    const ok = await trellis(['kv', 'put', '-cas', `-modify-index=${index!}`, 'cas/k', 'v2']);
    t.is(ok.stdout, 'Success! Data written to: cas/k\n');
    t.is((await trellis(['kv', 'get', 'cas/k'])).stdout, 'v2\n');
    t.deepEqual(await trellis(['kv', 'delete', '-cas', `-modify-index=${index!}`, 'cas/k']), {
      code: 1,
      stdout: '',
      stderr: 'Error! Did not delete key cas/k: CAS failed\n',
    });
    const now = /ModifyIndex\s+(\d+)/.exec(
      (await trellis(['kv', 'get', '-detailed', 'cas/k'])).stdout,
    )?.[1];
    const del = await trellis(['kv', 'delete', '-cas', `-modify-index=${now!}`, 'cas/k']);
    t.is(del.stdout, 'Success! Deleted key: cas/k\n');
  },
);

test.serial(
  'export → delete -recurse → import restores the tree; import -prefix relocates it',
  async (t) => {
    await trellis(['kv', 'put', 'tree/a', 'alpha']);
    await trellis(['kv', 'put', '-flags=7', 'tree/b/c', 'gamma']);
    await trellis(['kv', 'put', 'tree/empty']);
    const exp = await trellis(['kv', 'export', 'tree/']);
    t.is(exp.code, 0, exp.stderr);
    t.deepEqual(JSON.parse(exp.stdout), [
      { key: 'tree/a', flags: 0, value: Buffer.from('alpha').toString('base64') },
      { key: 'tree/b/c', flags: 7, value: Buffer.from('gamma').toString('base64') },
      { key: 'tree/empty', flags: 0, value: '' },
    ]);
    t.true(exp.stdout.startsWith('[\n\t{\n\t\t"key": "tree/a",\n'), 'Go’s tab-indented layout');
    const file = join(dir, 'tree.json');
    await writeFile(file, exp.stdout);

    t.deepEqual(await trellis(['kv', 'delete', '-recurse', 'tree/']), {
      code: 0,
      stdout: 'Success! Deleted keys with prefix: tree/\n',
      stderr: '',
    });
    t.is((await trellis(['kv', 'get', '-recurse', 'tree/'])).stdout, '');

    const imp = await trellis(['kv', 'import', `@${file}`]);
    t.is(imp.code, 0, imp.stderr);
    t.is(imp.stdout, 'Imported: tree/a\nImported: tree/b/c\nImported: tree/empty\n');
    t.is((await trellis(['kv', 'export', 'tree/'])).stdout, exp.stdout, 'round trip is exact');

    const moved = await trellis(['kv', 'import', '-prefix=copy', '-'], exp.stdout);
    t.is(moved.code, 0, moved.stderr);
    t.is((await trellis(['kv', 'get', 'copy/tree/b/c'])).stdout, 'gamma\n');

    const bad = await trellis([
      'kv',
      'import',
      '[{"key":"bad/a","value":"YQ=="},{"key":"bad/b","value":"***"}]',
    ]);
    t.is(bad.code, 1);
    t.regex(
      bad.stderr,
      /^Error base 64 decoding value for key bad\/b: illegal base64 data at input byte 0\n$/,
    );
    t.is((await trellis(['kv', 'get', '-recurse', 'bad/'])).stdout, '', 'nothing written');
  },
);

test.serial('operator raft list-peers shows the dev agent as the leader voter', async (t) => {
  const r = await trellis(['operator', 'raft', 'list-peers']);
  t.is(r.code, 0, r.stderr);
  const [header, row, ...more] = r.stdout.trimEnd().split('\n');
  t.deepEqual(header!.split(/ {2,}/), [
    'Node',
    'ID',
    'Address',
    'State',
    'Voter',
    'RaftProtocol',
    'Commit Index',
    'Trails Leader By',
  ]);
  t.is(more.length, 0);
  const cells = row!.split(/ {2,}/);
  t.is(cells[0], NODE);
  t.regex(cells[2]!, /^127\.0\.0\.1:\d+$/);
  t.deepEqual([cells[3], cells[4], cells[7]], ['leader', 'true', '-']);
  t.is((await trellis(['operator', 'raft', 'list-peers', '-stale'])).code, 0);

  const remove = await trellis(['operator', 'raft', 'remove-peer', '-id=no-such-server']);
  t.is(remove.code, 1);
  t.regex(remove.stderr, /^Error removing peer: Unexpected response code: \d+ \(.+\)\n$/);
  // A lone server has nobody to hand leadership to: Consul's error wording, exit 1.
  const transfer = await trellis(['operator', 'raft', 'transfer-leader']);
  t.is(transfer.code, 1);
  t.regex(transfer.stderr, /^Error transfering leadership: Failed to transfer leadership/);
});

test.serial('snapshot save → change → restore brings the saved state back', async (t) => {
  t.is((await trellis(['kv', 'put', 'snap/key', 'before'])).code, 0);
  const file = join(dir, 'backup.snap');
  const save = await trellis(['snapshot', 'save', file]);
  t.is(save.code, 0, save.stderr);
  t.regex(save.stdout, /^Saved and verified snapshot to index [1-9]\d*\n$/);
  t.true(existsSync(file));
  t.false(existsSync(`${file}.unverified`));
  t.true((await readFile(file)).length > 0);

  t.is((await trellis(['kv', 'put', 'snap/key', 'after'])).code, 0);
  t.is((await trellis(['kv', 'put', 'snap/new', 'x'])).code, 0);
  t.is((await trellis(['kv', 'get', 'snap/key'])).stdout, 'after\n');

  const restore = await trellis(['snapshot', 'restore', file]);
  t.deepEqual(restore, { code: 0, stdout: 'Restored snapshot\n', stderr: '' });
  t.is((await trellis(['kv', 'get', 'snap/key'])).stdout, 'before\n');
  t.is((await trellis(['kv', 'get', 'snap/new'])).code, 1, 'a key written after the save is gone');

  const garbage = join(dir, 'garbage.snap');
  await writeFile(garbage, 'not a snapshot');
  const bad = await trellis(['snapshot', 'restore', garbage]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /^Error restoring snapshot: Unexpected response code: \d+ \(.+\)\n$/);
  t.is(
    (await trellis(['kv', 'get', 'snap/key'])).stdout,
    'before\n',
    'a bad archive changes nothing',
  );
});

test.serial('leave: "Graceful leave complete" and the agent exits', async (t) => {
  const r = await trellis(['leave']);
  t.deepEqual(r, { code: 0, stdout: 'Graceful leave complete\n', stderr: '' });
  const child = agent!;
  await waitFor(
    'the agent to exit after leave',
    () => Promise.resolve(child.exitCode !== null || child.signalCode !== null),
    30_000,
  );
  t.is(child.exitCode, 0);
  const after = await trellis(['members']);
  t.is(after.code, 1);
  t.regex(
    after.stderr,
    /^Error retrieving members: Get ".*": dial tcp .*: connect: connection refused\n$/,
  );
});
