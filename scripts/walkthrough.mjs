#!/usr/bin/env node
// `npm run walkthrough`: the webblog seed on your machine, loopback only. Starts a dev agent,
// `mongodb` (a TCP key-value stand-in) and `web` (an HTTP app that keeps its posts in
// mongodb through its sidecar's local upstream port), registers both with sidecars, starts
// the sidecars with `trellis connect proxy`, then shows what a user does: allow web → mongodb,
// curl the app, deny, curl again, allow again. Everything stays up for you to try until
// Ctrl-C, which stops every process by its PID.
//
// Usage: node scripts/walkthrough.mjs [--no-wait] [--keep-logs]
//   --no-wait    stop everything after the demo instead of waiting for Ctrl-C
//   --keep-logs  keep the directory with every process's log
//
// Needs the build (`npm run walkthrough` runs scripts/setup.mjs first): the apps are
// test/dist/e2e/apps/*.js, the CLI cmd/trellis/bin/trellis.js.
/* global fetch, AbortSignal */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, allocatePorts } from '../packages/testkit/dist/src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(root, 'cmd', 'trellis', 'bin', 'trellis.js');
const APPS = join(root, 'test', 'dist', 'e2e', 'apps');
const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  console.log('Usage: node scripts/walkthrough.mjs [--no-wait] [--keep-logs]');
  process.exit(0);
}
const noWait = args.includes('--no-wait');
const keepLogs = args.includes('--keep-logs');
for (const f of [CLI, join(APPS, 'web.js'), join(APPS, 'kv.js')]) {
  if (!existsSync(f)) {
    console.error(`walkthrough: ${relative(root, f)} is missing; run \`npm run build\` first`);
    process.exit(1);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'trellis-walkthrough-'));
/** Every long-running process, in start order. */
const procs = [];
/** What the CLI commands read (TRELLIS_HTTP_ADDR, TRELLIS_GRPC_ADDR), set once the ports are. */
const cliEnv = {};

function start(name, command, argv, env = {}) {
  const p = new ManagedProcess({
    name,
    command,
    args: argv,
    logFile: join(dir, `${name}.log`),
    env: { ...process.env, ...env },
  });
  procs.push(p);
  p.start();
  return p;
}

let stopping = null;
/** Stops every process by its PID (apps and sidecars first, the agent last). */
function stopAll() {
  stopping ??= (async () => {
    const [agent, ...rest] = procs;
    await Promise.all(rest.map((p) => p.stop(3000)));
    await agent?.stop(5000);
    if (keepLogs) console.log(`\nLogs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  })();
  return stopping;
}

/** Polls `fn` every 100 ms until it returns something other than undefined (bounded). */
async function until(what, fn, ms = 30_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function http(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { connection: 'close' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text() };
}

/** Runs the CLI to completion and prints it like a shell session. */
function trellis(shown, argv) {
  console.log(`    $ trellis ${shown}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...cliEnv },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (out += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (out.trim() !== '') console.log(indent(out));
      if (code === 0) resolve();
      else reject(new Error(`trellis ${shown} exited with ${code}`));
    });
  });
}

function indent(text) {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

async function curlPage(webUrl) {
  console.log(`    $ curl ${webUrl}/`);
  const r = await http('GET', `${webUrl}/`);
  console.log(indent(r.text));
  return r;
}

async function main() {
  const [httpPort, grpcPort, serfPort, serverPort] = await allocatePorts(4);
  const [kvPort, webPort, mongoSidecar, webSidecar, dbLocal] = await allocatePorts(5);
  const agentUrl = `http://127.0.0.1:${httpPort}`;
  const webUrl = `http://127.0.0.1:${webPort}`;
  cliEnv.TRELLIS_HTTP_ADDR = agentUrl;
  cliEnv.TRELLIS_GRPC_ADDR = `127.0.0.1:${grpcPort}`;
  const exports = `export TRELLIS_HTTP_ADDR=${agentUrl} TRELLIS_GRPC_ADDR=127.0.0.1:${grpcPort}`;
  const alias = `alias trellis='node ${CLI}'`;

  console.log('==> Trellis walkthrough: the webblog seed on Connect (loopback only)\n');
  console.log(`[1] A dev agent: HTTP API ${agentUrl}, proxy stream 127.0.0.1:${grpcPort}`);
  const agent = start('agent', process.execPath, [
    CLI,
    'agent',
    '-dev',
    '-node=walkthrough',
    '-log-level=info',
    `-http-port=${httpPort}`,
    '-dns-port=-1',
    `-grpc-port=${grpcPort}`,
    `-serf-lan-port=${serfPort}`,
    `-server-port=${serverPort}`,
  ]);
  await until('the agent to elect itself', async () => {
    if (!agent.alive) throw new Error(`the agent exited:\n${agent.logTail(10)}`);
    const r = await http('GET', `${agentUrl}/v1/connect/ca/roots`);
    return r.status === 200 && JSON.parse(r.text).ActiveRootID ? true : undefined;
  });
  console.log('    The CLI commands below find it through the environment:');
  console.log(`    $ ${alias}`);
  console.log(`    $ ${exports}`);

  console.log(`\n[2] The apps: mongodb on 127.0.0.1:${kvPort} (a key-value stand-in), web on`);
  console.log(`    ${webUrl} with DB_SERVER=127.0.0.1 DB_PORT=${dbLocal} — its sidecar's`);
  console.log('    mongodb upstream, as in the seed’s .env (27017 there).');
  const kv = start('mongodb', process.execPath, [join(APPS, 'kv.js')], { PORT: String(kvPort) });
  const web = start('web', process.execPath, [join(APPS, 'web.js')], {
    PORT: String(webPort),
    DB_SERVER: '127.0.0.1',
    DB_PORT: String(dbLocal),
  });
  for (const p of [kv, web]) {
    await until(`${p.name} to listen`, async () => {
      if (!p.alive) throw new Error(`${p.name} exited:\n${p.logTail(10)}`);
      return p.logTail(5).includes('listening on') ? true : undefined;
    });
  }

  console.log('\n[3] Register both with sidecars (the seed’s connect-inject annotations):');
  const sidecar = (port, upstreams = []) => ({
    Port: port,
    Proxy: { Config: { bind_address: '127.0.0.1' }, Upstreams: upstreams },
    Checks: [{ Name: 'sidecar up', TTL: '1h', Status: 'passing' }],
  });
  const regs = [
    { Name: 'mongodb', Port: kvPort, Connect: { SidecarService: sidecar(mongoSidecar) } },
    {
      Name: 'web',
      Port: webPort,
      Connect: {
        SidecarService: sidecar(webSidecar, [
          { DestinationName: 'mongodb', LocalBindPort: dbLocal },
        ]),
      },
    },
  ];
  for (const reg of regs) {
    console.log(
      `    $ curl -X PUT ${agentUrl}/v1/agent/service/register -d '${JSON.stringify(reg)}'`,
    );
    const r = await http('PUT', `${agentUrl}/v1/agent/service/register`, reg);
    if (r.status !== 200) throw new Error(`register ${reg.Name}: ${r.status} ${r.text}`);
  }

  console.log('\n[4] Start the sidecars:');
  for (const id of ['mongodb', 'web']) {
    const argv = ['connect', 'proxy', `-sidecar-for=${id}`];
    console.log(`    $ trellis ${argv.join(' ')} &`);
    const p = start(`${id}-sidecar`, process.execPath, [CLI, ...argv], cliEnv);
    await until(`${id}'s sidecar to be configured`, async () => {
      if (!p.alive) throw new Error(`${p.name} exited:\n${p.logTail(10)}`);
      const r = await http('GET', `${agentUrl}/v1/agent/connect/proxy/${id}-sidecar-proxy`);
      const s = JSON.parse(r.text).Streams?.[0];
      return s && s.Version > 0 && s.AckedVersion === s.Version ? true : undefined;
    });
  }

  console.log('\n[5] Allow web → mongodb (the seed does it explicitly), then use the app:');
  await trellis('intention create -allow web mongodb', [
    'intention',
    'create',
    '-allow',
    'web',
    'mongodb',
  ]);
  const post = 'Hello from the Trellis mesh';
  console.log(`    $ curl -X POST --data '${post}' ${webUrl}/posts`);
  const saved = await until('the post saved through the mesh', async () => {
    const r = await http('POST', `${webUrl}/posts`, post);
    return r.status === 201 ? r : undefined;
  });
  console.log(indent(saved.text));
  await curlPage(webUrl);

  console.log('\n[6] Deny it: the app’s next database call is refused by mongodb’s sidecar:');
  await trellis('intention create -deny -replace web mongodb', [
    'intention',
    'create',
    '-deny',
    '-replace',
    'web',
    'mongodb',
  ]);
  await until('the deny in force', async () => {
    const r = await http('GET', `${webUrl}/`);
    return r.status === 502 ? r : undefined;
  });
  await curlPage(webUrl);

  console.log('\n[7] Allow it again:');
  await trellis('intention create -allow -replace web mongodb', [
    'intention',
    'create',
    '-allow',
    '-replace',
    'web',
    'mongodb',
  ]);
  await until('the allow in force', async () => {
    const r = await http('GET', `${webUrl}/`);
    return r.status === 200 ? r : undefined;
  });
  await curlPage(webUrl);

  if (noWait) return;
  console.log(`
==> Everything is running. Try it yourself:

    ${alias}
    ${exports}
    curl ${webUrl}/
    curl -X POST --data 'my post' ${webUrl}/posts
    trellis intention create -deny -replace web mongodb
    trellis intention create -allow -replace web mongodb
    trellis intention list
    curl ${agentUrl}/v1/agent/connect/proxy/web-sidecar-proxy

    Logs: ${dir}

==> Press Ctrl-C to stop everything.`);
  // Runs until Ctrl-C (which stops everything and exits), or until a process dies.
  const gone = await Promise.race(procs.map((p) => p.exited.then(() => p)));
  if (stopping === null) {
    throw new Error(`${gone.name} exited (${JSON.stringify(gone.lastExit)})`);
  }
  await stopping;
}

let signals = 0;
const onSignal = (sig) => {
  signals++;
  if (signals > 1) {
    // A second Ctrl-C: SIGKILL every process still alive, by PID, and leave.
    for (const p of procs) p.killSync();
    process.exit(130);
  }
  console.log(`\n==> Caught ${sig}: stopping every process...`);
  void stopAll().then(() => process.exit(0));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  await main();
  await stopAll();
  console.log('\n==> Done; every process stopped.');
} catch (e) {
  console.error(`\nwalkthrough: ${e.message}`);
  for (const p of procs) console.error(`--- ${p.name}\n${p.logTail(10)}`);
  await stopAll();
  process.exitCode = 1;
}
