// A real dev agent (`trellis agent -dev`) on loopback for the CLI's end-to-end tests, and a
// runner for the `trellis` executable pointed at it. One agent per test file: start it in
// test.before, stop it (by its PID) in test.after.always. Every wait is bounded.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

const bin = new URL('../../bin/trellis.js', import.meta.url).pathname;
/** How long the dev agent may take to elect itself. */
const READY_TIMEOUT_MS = 60_000;
/** Per CLI invocation. */
const RUN_TIMEOUT_MS = 30_000;

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin (then closed). */
  readonly stdin?: string;
  /** Working directory (tls commands write their files there). */
  readonly cwd?: string;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

/** The environment without any agent address or token a developer's shell may carry. */
function cleanEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(CONSUL|TRELLIS)_HTTP_/.test(k)) delete env[k];
  }
  return env;
}

/** Runs `trellis <args>` as a separate process, as a user runs it. */
export function trellis(args: readonly string[], opts: RunOptions = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      {
        env: { ...cleanEnv(), ...opts.env },
        timeout: RUN_TIMEOUT_MS,
        encoding: 'utf8',
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(opts.stdin ?? '');
  });
}

/** A loopback port free on both TCP and UDP (gossip uses both), released before returning. */
export async function freePort(): Promise<number> {
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

export interface DevAgent {
  /** `127.0.0.1:<http port>`. */
  readonly addr: string;
  /** `-http-addr=127.0.0.1:<http port>`, for in-process runs (helpers' `cli`). */
  readonly flag: string;
  /** Runs `trellis <args>` with TRELLIS_HTTP_ADDR set to this agent. */
  run(args: readonly string[], opts?: RunOptions): Promise<Run>;
  /** The last lines the agent logged (for failure messages). */
  log(): string;
  /** SIGTERM by PID, SIGKILL after 10 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

async function leaderKnown(addr: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${addr}/v1/status/leader`, {
      signal: AbortSignal.timeout(2_000),
    });
    if (res.status !== 200) return false;
    const leader: unknown = await res.json();
    return typeof leader === 'string' && leader !== '';
  } catch {
    return false;
  }
}

/**
 * Starts `trellis agent -dev` on free loopback ports (DNS and gRPC off) and waits for it to
 * elect itself and for its Connect CA to be initialised.
 */
export async function startDevAgent(node = 'cli-e2e'): Promise<DevAgent> {
  const httpPort = await freePort();
  const serverPort = await freePort();
  const serfPort = await freePort();
  const addr = `127.0.0.1:${httpPort}`;
  const child: ChildProcess = spawn(
    process.execPath,
    [
      bin,
      'agent',
      '-dev',
      `-node=${node}`,
      `-http-port=${httpPort}`,
      `-server-port=${serverPort}`,
      `-serf-lan-port=${serfPort}`,
      '-dns-port=-1',
      '-grpc-port=-1',
    ],
    { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const keep = (b: Buffer) => {
    log = (log + b.toString('utf8')).slice(-20_000); // bounded diagnostics
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(timer);
  };

  const ready = async (): Promise<boolean> => {
    if (!(await leaderKnown(addr))) return false;
    try {
      const res = await fetch(`http://${addr}/v1/connect/ca/roots`, {
        signal: AbortSignal.timeout(2_000),
      });
      const roots = (await res.json()) as { Roots?: unknown[] } | null;
      return res.status === 200 && (roots?.Roots?.length ?? 0) > 0;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let delay = 25;
  while (!(await ready())) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `the dev agent exited (${String(child.exitCode ?? child.signalCode)}):\n${log}`,
      );
    }
    if (Date.now() >= deadline) {
      await stop();
      throw new Error(`the dev agent was not ready within ${READY_TIMEOUT_MS} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
  return {
    addr,
    flag: `-http-addr=${addr}`,
    run: (args, opts = {}) =>
      trellis(args, { ...opts, env: { TRELLIS_HTTP_ADDR: addr, ...opts.env } }),
    log: () => log,
    stop,
  };
}
