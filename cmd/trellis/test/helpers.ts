// Shared by the CLI's tests: an in-memory Io and a loopback port nobody listens on.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, buildConfig, createLogger } from '@trellis/agent';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { main } from '../src/index.js';

export interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with captured output and, optionally, stdin. */
export async function cli(argv: readonly string[], stdin?: string | Buffer): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: {
      write: (s: string | Uint8Array) =>
        (stdout += typeof s === 'string' ? s : Buffer.from(s).toString('utf8')),
    },
    stderr: { write: (s: string) => (stderr += s) },
    ...(stdin !== undefined ? { stdin: Readable.from([Buffer.from(stdin)]) } : {}),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** A loopback TCP port that was free a moment ago and has nothing listening on it. */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** An Io that keeps what a command writes. */
export function capture() {
  const out = { stdout: '', stderr: '' };
  const io = {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
  };
  return { out, io };
}

/** Polls `fn` every 20 ms until it gives something other than undefined/false (15 s at most). */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** True when something accepts TCP connections on the loopback port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * An in-process dev agent on loopback (ephemeral HTTP, server and proxy-stream ports), shut
 * down and its directory removed when the test ends; `grpc` is its proxy stream address.
 */
export async function inProcessAgent(t: {
  teardown(fn: () => Promise<void> | void): void;
}): Promise<{ agent: Agent; url: string; grpc: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-cli-agent-'));
  const agent = await Agent.start({
    config: buildConfig({
      flags: {
        node_name: 'dev1',
        datacenter: 'dc1',
        server: true,
        bootstrap: true,
        data_dir: join(dir, 'data'),
        bind_addr: '127.0.0.1',
        client_addr: '127.0.0.1',
        log_level: 'error',
        ports: { http: 0, dns: -1, grpc: 0, server: 0, serf_lan: 0 },
      },
    }),
    version: '0.0.0-test',
    logger: createLogger({ level: 'error', write: () => {} }),
    gossipPreset: 'local',
  });
  t.teardown(async () => {
    await agent.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    agent,
    url: agent.httpInfo?.url ?? '',
    grpc: `127.0.0.1:${agent.proxies?.address()?.port ?? 0}`,
  };
}
