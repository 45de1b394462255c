/**
 * The multi-process launcher without the real agent: port allocation, process handling
 * (log capture, SIGKILL, SIGSTOP/SIGCONT, restart, SIGTERM escalation) on a trivial
 * `node -e` HTTP child, and the cluster logic (command line, leader agreement, faults,
 * clean-up) on a fake agent that elects the live server with the lowest server port once a
 * quorum of its peers has started. The real 3-server cluster is in cluster-real.test.ts.
 */
import test from 'ava';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  ClusterError,
  ManagedProcess,
  TrellisCluster,
  allocatePorts,
  httpGet,
  type ExitInfo,
} from '../src/index.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `f` until it resolves without throwing; throws the last error after `ms`. */
async function eventually<T>(f: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = performance.now() + ms;
  let last: unknown;
  for (let i = 0; i < 10_000 && performance.now() < deadline; i++) {
    try {
      return await f();
    } catch (e) {
      last = e;
      await sleep(20);
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

function scratch(t: { teardown(f: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-cluster-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An HTTP server on argv[1] answering `pong <pid>`; logs to stdout and stderr. */
const PONG = `
const http = require('node:http');
const port = Number(process.argv[1]);
http.createServer((q, s) => s.end('pong ' + process.pid)).listen(port, '127.0.0.1', () => {
  console.log('listening on ' + port);
  console.error('a line on stderr');
});
if (process.argv[2] === 'ignore-term') process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
`;

function pong(dir: string, port: number, mode = ''): ManagedProcess {
  return new ManagedProcess({
    name: 'pong',
    command: process.execPath,
    args: ['-e', PONG, String(port), ...(mode ? [mode] : [])],
    logFile: join(dir, 'pong.log'),
  });
}

test('allocatePorts gives distinct ports that are free on both TCP and UDP, never the same twice', async (t) => {
  const a = await allocatePorts(6);
  const b = await allocatePorts(6);
  t.is(new Set([...a, ...b]).size, 12);
  for (const port of a) {
    await new Promise<void>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
    await new Promise<void>((resolve, reject) => {
      const u = createSocket('udp4');
      u.once('error', reject);
      u.bind(port, '127.0.0.1', () => u.close(() => resolve()));
    });
  }
  t.deepEqual(await allocatePorts(0), []);
  await t.throwsAsync(() => allocatePorts(-1), { instanceOf: RangeError });
});

test('a managed process logs stdout and stderr to its file, pauses, resumes, dies by SIGKILL and restarts with the same arguments', async (t) => {
  const dir = scratch(t);
  const [port] = await allocatePorts(1);
  const p = pong(dir, port!);
  t.teardown(() => p.stop(500));
  p.start();
  const pid1 = p.pid;
  t.truthy(pid1);
  t.true(p.running);
  t.is((await eventually(() => httpGet(`http://127.0.0.1:${port}/`))).body, `pong ${pid1}`);
  await eventually(() => {
    const log = readFileSync(p.logFile, 'utf8');
    if (!log.includes('a line on stderr')) throw new Error('stderr line not logged yet');
    return Promise.resolve();
  });
  const log = readFileSync(p.logFile, 'utf8');
  t.regex(log, /^=== pong: start 1 at /);
  t.true(log.includes(`listening on ${port}`));

  p.pause();
  t.true(p.paused);
  t.false(p.running);
  await t.throwsAsync(() => httpGet(`http://127.0.0.1:${port}/`, 300), { message: /timeout/ });
  p.resume();
  t.true(p.running);
  t.is((await httpGet(`http://127.0.0.1:${port}/`)).body, `pong ${pid1}`);

  const killed = p.kill();
  const exit: ExitInfo = await killed.exited;
  t.is(exit.signal, 'SIGKILL');
  t.false(p.alive);
  t.is(p.pid, undefined);
  t.deepEqual(p.lastExit, exit);
  t.throws(() => p.kill(), { message: /not running/ });

  await p.restart();
  t.is(p.starts, 2);
  t.not(p.pid, pid1);
  t.is((await eventually(() => httpGet(`http://127.0.0.1:${port}/`))).body, `pong ${p.pid}`);
  t.is(readFileSync(p.logFile, 'utf8').match(/^=== pong: start \d/gm)?.length, 2);
  t.throws(() => p.start(), { message: /already running/ });

  const stopped = await p.stop();
  t.is(stopped?.signal, 'SIGTERM');
  t.is(await p.stop(), null);
});

test('stop escalates to SIGKILL when SIGTERM is ignored, and continues a paused process first', async (t) => {
  const dir = scratch(t);
  const [port] = await allocatePorts(1);
  const p = pong(dir, port!, 'ignore-term');
  t.teardown(() => p.stop(100));
  p.start();
  await eventually(() => httpGet(`http://127.0.0.1:${port}/`));
  p.pause();
  const t0 = performance.now();
  const exit = await p.stop(300);
  t.is(exit?.signal, 'SIGKILL');
  t.true(performance.now() - t0 >= 250);
  t.true(readFileSync(p.logFile, 'utf8').includes('ignoring SIGTERM'));
});

test('a command that cannot be spawned throws and leaves nothing running', (t) => {
  const dir = scratch(t);
  const p = new ManagedProcess({
    name: 'nothing',
    command: join(dir, 'no-such-binary'),
    args: [],
    logFile: join(dir, 'x.log'),
  });
  t.throws(() => p.start(), { message: /cannot spawn/ });
  t.false(p.alive);
});

/**
 * A stand-in for `trellis agent`: serves GET /v1/status/leader on -http-port. It records
 * its PID and server port in its data dir; the leader is the live one with the lowest
 * server port among the cluster's agents, once a quorum of -bootstrap-expect is alive.
 * FAKE_MODE=split answers its own address (no agreement); FAKE_MODE=exit exits at once.
 */
const FAKE_AGENT = `
import { createServer } from 'node:http';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
const flags = {};
for (const a of process.argv.slice(2)) {
  const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(a);
  if (m) (flags[m[1]] ??= []).push(m[2] ?? true);
}
const one = (k) => flags[k]?.at(-1);
const mode = process.env.FAKE_MODE ?? '';
if (mode === 'exit') { console.error('fake: exiting as told'); process.exit(3); }
const server = Number(one('server-port'));
const dev = one('dev') === true;
const dataDir = one('data-dir');
let root = null;
if (!dev) {
  root = dirname(dirname(dataDir));
  writeFileSync(join(dataDir, 'fake.json'), JSON.stringify({ pid: process.pid, server }));
  appendFileSync(join(dataDir, 'starts'), 'x');
}
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
function leader() {
  if (dev || mode === 'split') return '127.0.0.1:' + server;
  const up = [];
  for (const n of readdirSync(root)) {
    try { up.push(JSON.parse(readFileSync(join(root, n, 'data', 'fake.json'), 'utf8'))); } catch {}
  }
  const live = up.filter((c) => alive(c.pid)).map((c) => c.server).sort((a, b) => a - b);
  const quorum = Math.floor(Number(one('bootstrap-expect')) / 2) + 1;
  return live.length >= quorum ? '127.0.0.1:' + live[0] : '';
}
createServer((req, res) => {
  if (req.url === '/v1/status/leader') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(leader()));
  } else { res.statusCode = 404; res.end(); }
}).listen(Number(one('http-port')), '127.0.0.1', () => console.log('fake agent ' + one('node') + ' up'));
process.on('SIGTERM', () => { console.log('fake: SIGTERM'); process.exit(0); });
`;

function fakeCli(t: { teardown(f: () => void): void }): string {
  const dir = scratch(t);
  const cli = join(dir, 'fake-trellis.mjs');
  writeFileSync(cli, FAKE_AGENT);
  return cli;
}

test('a cluster starts N agents with Consul’s command line and agrees on the leader; kill, pause, restart and close', async (t) => {
  const cli = fakeCli(t);
  const cluster = await TrellisCluster.start({ cli, leaderTimeoutMs: 10_000 });
  t.teardown(() => cluster.close(500));
  t.is(cluster.agents.length, 3);
  const [s1, s2, s3] = cluster.agents;
  const args = s1!.spec.args;
  t.deepEqual(args.slice(0, 4), [cli, 'agent', '-server', '-bootstrap-expect=3']);
  for (const f of [
    '-node=s1',
    '-datacenter=dc1',
    `-data-dir=${s1!.dataDir}`,
    '-bind=127.0.0.1',
    '-client=127.0.0.1',
    `-http-port=${s1!.ports.http}`,
    `-server-port=${s1!.ports.server}`,
    `-serf-lan-port=${s1!.ports.serfLan}`,
    '-dns-port=-1',
    '-grpc-port=-1',
    `-retry-join=127.0.0.1:${s2!.ports.serfLan}`,
    `-retry-join=127.0.0.1:${s3!.ports.serfLan}`,
  ]) {
    t.true(args.includes(f), f);
  }
  t.false(args.includes(`-retry-join=127.0.0.1:${s1!.ports.serfLan}`));
  const ports = cluster.agents.flatMap((a) => [a.ports.http, a.ports.server, a.ports.serfLan]);
  t.is(new Set(ports).size, 9);

  const [low, mid, high] = [...cluster.agents].sort((a, b) => a.ports.server - b.ports.server);
  if (!low || !mid || !high) return t.fail('three agents expected');
  const byServer = [low, mid, high] as const;
  const first = await cluster.waitForLeader({ timeoutMs: 5000 });
  t.is(first.leader, byServer[0]);
  t.is(first.address, byServer[0].serverAddr);
  t.is(cluster.agentByServerAddr(first.address), byServer[0]);

  // A paused follower cannot answer; the wait asks only running agents.
  cluster.pause(byServer[2]);
  t.is((await cluster.waitForLeader({ timeoutMs: 5000 })).leader, byServer[0]);
  // Asked explicitly, a paused agent makes the wait time out with what each one said.
  const err = await t.throwsAsync(
    () => cluster.waitForLeader({ timeoutMs: 400, among: cluster.agents }),
    { instanceOf: ClusterError },
  );
  t.is(err?.code, 'ERR_CLUSTER_NO_LEADER');
  t.regex(err?.message ?? '', new RegExp(`${byServer[2].name}=null`));
  cluster.resume(byServer[2]);

  const killed = cluster.kill(first.leader);
  t.is((await killed.exited).signal, 'SIGKILL');
  const second = await cluster.waitForLeader({ timeoutMs: 5000 });
  t.is(second.leader, byServer[1]);

  await cluster.restart(first.leader);
  const third = await cluster.waitForLeader({ timeoutMs: 5000, among: cluster.agents });
  t.is(readFileSync(join(first.leader.dataDir, 'starts'), 'utf8'), 'xx');
  t.is(third.leader, byServer[0]);
  t.regex(first.leader.logTail(), /fake agent s\d up\n=== s\d: start 2 at .*\nfake agent s\d up/);
  t.true(first.leader.rssBytes()! > 1 << 20);

  const dir = cluster.dir;
  const pids = cluster.agents.map((a) => a.pid!);
  await cluster.close(2000);
  t.false(existsSync(dir));
  t.true(cluster.agents.every((a) => !a.alive));
  for (const pid of pids) t.throws(() => process.kill(pid, 0));
  await cluster.close(); // idempotent
});

test('a dev agent gets -dev, no data dir and no joins', async (t) => {
  const cli = fakeCli(t);
  const cluster = await TrellisCluster.start({ cli, dev: true, leaderTimeoutMs: 10_000 });
  t.teardown(() => cluster.close(500));
  const [dev] = cluster.agents;
  if (!dev) return t.fail('one agent expected');
  t.is(cluster.agents.length, 1);
  t.is(dev.name, 'dev');
  t.true(dev.spec.args.includes('-dev'));
  t.false(dev.spec.args.some((a) => a.startsWith('-data-dir') || a.startsWith('-retry-join')));
  t.false(dev.spec.args.includes('-server'));
  t.is((await cluster.waitForLeader()).leader, dev);
});

test('without agreement the start fails in bounded time with every log, and cleans up', async (t) => {
  const cli = fakeCli(t);
  const t0 = performance.now();
  const err = await t.throwsAsync(
    () =>
      TrellisCluster.start({
        cli,
        leaderTimeoutMs: 1000,
        env: { ...process.env, FAKE_MODE: 'split' },
      }),
    { instanceOf: ClusterError },
  );
  t.true(performance.now() - t0 < 10_000);
  t.is(err?.code, 'ERR_CLUSTER_NO_LEADER');
  t.regex(err?.message ?? '', /--- s1 .*\n=== s1: start 1/);
  const dir = /log (\S+)\/s1\/agent\.log/.exec(err?.message ?? '')?.[1];
  t.truthy(dir);
  t.false(existsSync(dir!));
});

test('an agent that exits makes the start fail at once with its exit status', async (t) => {
  const cli = fakeCli(t);
  const t0 = performance.now();
  const err = await t.throwsAsync(
    () =>
      TrellisCluster.start({
        cli,
        leaderTimeoutMs: 20_000,
        env: { ...process.env, FAKE_MODE: 'exit' },
      }),
    { instanceOf: ClusterError },
  );
  t.true(performance.now() - t0 < 10_000);
  t.is(err?.code, 'ERR_CLUSTER_EXITED');
  t.regex(err?.message ?? '', /exited \(code 3\)/);
  t.regex(err?.message ?? '', /fake: exiting as told/);
});
