/**
 * The e2e harness: one real `trellis agent -dev` process, app processes (test/e2e/apps),
 * sidecars started with `trellis connect proxy`, CLI runs, all on loopback with ports that
 * were free a moment ago. Every process is a child of the test process, stopped by its PID
 * in {@link Mesh.close} (SIGTERM, SIGKILL after a grace period); the testkit also SIGKILLs
 * any left running when the test process exits. Every wait polls with a bound.
 *
 *     const mesh = new Mesh('webblog');
 *     test.before(() => mesh.start());
 *     test.after.always(() => mesh.close());
 *
 * Logs (one file per process) live in a temporary directory that close() removes, unless
 * TRELLIS_E2E_KEEP=1. Failed waits carry every process's log tail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, allocatePorts } from '@trellis/testkit';
import { eventually } from '../helpers/wait.js';

/** The CLI entry point (cmd/trellis/bin/trellis.js), from test/dist/e2e/. */
export const CLI = fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

/** The compiled apps (test/dist/e2e/apps/*.js). */
export const APPS = {
  kv: fileURLToPath(new URL('./apps/kv.js', import.meta.url)),
  web: fileURLToPath(new URL('./apps/web.js', import.meta.url)),
  bookinfo: fileURLToPath(new URL('./apps/bookinfo.js', import.meta.url)),
  loadgen: fileURLToPath(new URL('./apps/loadgen.js', import.meta.url)),
} as const;

/** Bound of one HTTP call to the agent or an app. */
const HTTP_TIMEOUT_MS = 10_000;
/** Bound of a short-lived process (a CLI command, a load generator run). */
const RUN_TIMEOUT_MS = 30_000;
/** Bound of waiting for a process to listen, for a leader, for the CA. */
const START_TIMEOUT_MS = 30_000;

export interface Answer {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Upstream {
  readonly DestinationName: string;
  readonly LocalBindPort: number;
}

export interface SidecarRegistration {
  /** The service name (and ID). */
  readonly name: string;
  /** Where the app listens. */
  readonly port: number;
  /** The sidecar service's registered Port: what other sidecars dial. */
  readonly sidecarPort: number;
  readonly upstreams?: readonly Upstream[];
  /** Extra Proxy.Config (bind_address is always 127.0.0.1). */
  readonly config?: Readonly<Record<string, unknown>>;
}

/** One HTTP request with a bound; a fresh connection each time (no pooled keep-alive). */
export async function http(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(url, {
    method,
    headers: { connection: 'close', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class Mesh {
  readonly name: string;
  readonly #config: Readonly<Record<string, unknown>> | undefined;
  #dir = '';
  #agent: ManagedProcess | undefined;
  #ports = { http: 0, grpc: 0, serfLan: 0, server: 0 };
  /** Long-running processes in start order. */
  readonly #procs: ManagedProcess[] = [];
  /** Short-lived processes still running. */
  readonly #short = new Set<ChildProcess>();
  #closed = false;

  /** `config`: the agent's JSON config file (`-config-file`), if any. */
  constructor(name: string, config?: Readonly<Record<string, unknown>>) {
    this.name = name;
    this.#config = config;
  }

  /** http://127.0.0.1:<agent HTTP port> */
  get url(): string {
    return `http://127.0.0.1:${this.#ports.http}`;
  }

  /** 127.0.0.1:<agent proxy stream port> */
  get grpcAddr(): string {
    return `127.0.0.1:${this.#ports.grpc}`;
  }

  /** The run's directory (logs, config files), created on first use. */
  get dir(): string {
    if (this.#dir === '') this.#dir = mkdtempSync(join(tmpdir(), `trellis-e2e-${this.name}-`));
    return this.#dir;
  }

  /**
   * Starts the dev agent and waits for its leader and the CA's active root. Apps may be
   * started meanwhile (they do not need the agent).
   */
  async start(): Promise<void> {
    const [httpPort, grpc, serfLan, server] = await allocatePorts(4);
    this.#ports = { http: httpPort!, grpc: grpc!, serfLan: serfLan!, server: server! };
    const args = [
      CLI,
      'agent',
      '-dev',
      '-node=e2e',
      '-log-level=info',
      `-http-port=${httpPort}`,
      '-dns-port=-1',
      `-grpc-port=${grpc}`,
      `-serf-lan-port=${serfLan}`,
      `-server-port=${server}`,
    ];
    if (this.#config !== undefined) {
      args.push(`-config-file=${this.writeJson('agent.json', this.#config)}`);
    }
    this.#agent = this.#spawn('agent', process.execPath, args);
    await this.eventually(
      'a leader',
      async () => {
        const r = await http_('GET', `${this.url}/v1/status/leader`);
        return r.status === 200 && r.text.length > 2 ? true : undefined;
      },
      START_TIMEOUT_MS,
    );
    await this.eventually(
      'the CA',
      async () => {
        const r = await http_('GET', `${this.url}/v1/connect/ca/roots`);
        const roots = JSON.parse(r.text) as { ActiveRootID?: string };
        return r.status === 200 && (roots.ActiveRootID ?? '') !== '' ? true : undefined;
      },
      START_TIMEOUT_MS,
    );
  }

  /** `n` loopback ports free a moment ago (never handed out twice by this process). */
  freePorts(n: number): Promise<number[]> {
    return allocatePorts(n);
  }

  /** A request to the agent's HTTP API. */
  api(method: string, path: string, body?: unknown): Promise<Answer> {
    return http(method, this.url + path, body);
  }

  /** A request to the agent that must answer 200; returns the body. */
  async apiOk(method: string, path: string, body?: unknown): Promise<string> {
    const r = await this.api(method, path, body);
    if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r.text;
  }

  /** `PUT /v1/config` (a config entry); throws unless the agent answers `true`. */
  async writeConfig(entry: Readonly<Record<string, unknown>>): Promise<void> {
    const text = await this.apiOk('PUT', '/v1/config', entry);
    if (text.trim() !== 'true') throw new Error(`PUT /v1/config: ${text}`);
  }

  /**
   * Registers a service with a sidecar (`Connect.SidecarService`), as the seeds' injector
   * does: the sidecar binds loopback, is healthy from the start (a passing TTL check instead
   * of the default TCP check, whose first run may take its 10 s interval).
   */
  async registerWithSidecar(r: SidecarRegistration): Promise<void> {
    await this.apiOk('PUT', '/v1/agent/service/register', {
      Name: r.name,
      Port: r.port,
      Connect: {
        SidecarService: {
          Port: r.sidecarPort,
          Proxy: {
            Config: { bind_address: '127.0.0.1', ...(r.config ?? {}) },
            Upstreams: r.upstreams ?? [],
          },
          Checks: [{ Name: 'sidecar up', TTL: '1h', Status: 'passing' }],
        },
      },
    });
  }

  /** Writes `value` as JSON into the run's directory (for `trellis config write`); the path. */
  writeJson(name: string, value: unknown): string {
    const file = join(this.dir, name);
    writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
    return file;
  }

  /** The configuration version the agent last pushed to a proxy (0 before its stream). */
  async proxyVersion(proxyId: string): Promise<number> {
    const r = await this.apiOk('GET', `/v1/agent/connect/proxy/${proxyId}`);
    return (JSON.parse(r) as { Streams: { Version: number }[] }).Streams[0]?.Version ?? 0;
  }

  /** Waits until the proxy ACKed a version newer than `after` (and nothing newer is pending). */
  async waitApplied(proxyId: string, after: number): Promise<number> {
    return this.eventually(`${proxyId} to apply a version after ${after}`, async () => {
      const r = await this.apiOk('GET', `/v1/agent/connect/proxy/${proxyId}`);
      const s = (JSON.parse(r) as { Streams: { Version: number; AckedVersion: number }[] })
        .Streams[0];
      return s !== undefined && s.Version > after && s.AckedVersion === s.Version
        ? s.Version
        : undefined;
    });
  }

  /** Starts a Node script (an app) and waits until it accepts connections on `port`. */
  async startApp(
    name: string,
    script: string,
    port: number,
    env: Readonly<Record<string, string>>,
  ): Promise<ManagedProcess> {
    const p = this.#spawn(name, process.execPath, [script], {
      ...process.env,
      ...env,
      PORT: String(port),
    });
    await this.eventually(
      `${name} listening on ${port}`,
      async () => {
        if (!p.alive) throw new Error(`${name} exited: ${p.logTail(5)}`);
        return (await accepts(port)) ? true : undefined;
      },
      START_TIMEOUT_MS,
    );
    return p;
  }

  /**
   * `trellis connect proxy -sidecar-for=<serviceId>` against this agent; resolves once the
   * agent saw the sidecar ACK a configuration.
   */
  async startSidecar(serviceId: string): Promise<ManagedProcess> {
    const p = this.#spawn(`${serviceId}-sidecar`, process.execPath, [
      CLI,
      'connect',
      'proxy',
      `-sidecar-for=${serviceId}`,
      `-grpc-addr=${this.grpcAddr}`,
      `-http-addr=${this.url}`,
      '-log-level=info',
    ]);
    const proxyId = `${serviceId}-sidecar-proxy`;
    await this.eventually(
      `${proxyId} to ACK a configuration`,
      async () => {
        if (!p.alive) throw new Error(`${proxyId} exited: ${p.logTail(5)}`);
        const r = await http_('GET', `${this.url}/v1/agent/connect/proxy/${proxyId}`);
        const s = (JSON.parse(r.text) as { Streams?: { Version: number; AckedVersion: number }[] })
          .Streams?.[0];
        return s !== undefined && s.Version > 0 && s.AckedVersion === s.Version ? true : undefined;
      },
      START_TIMEOUT_MS,
    );
    return p;
  }

  /** Runs `trellis <command…> -http-addr=<agent> <args…>` to completion. */
  cli(command: readonly string[], args: readonly string[]): Promise<Ran> {
    return this.run(process.execPath, [CLI, ...command, `-http-addr=${this.url}`, ...args]);
  }

  /** Runs a command to completion (SIGKILLed by PID after {@link RUN_TIMEOUT_MS}). */
  run(command: string, args: readonly string[], stdin?: string): Promise<Ran> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      this.#short.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.stdin.end(stdin ?? '');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, RUN_TIMEOUT_MS);
      child.once('error', (e) => {
        clearTimeout(timer);
        this.#short.delete(child);
        reject(e);
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        this.#short.delete(child);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** {@link eventually} whose timeout error carries every process's log tail. */
  async eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
    try {
      return await eventually(what, fn, ms);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.describe()}`);
    }
  }

  /** Every process's state and log tail. */
  describe(lines = 15): string {
    return this.#procs
      .map(
        (p) =>
          `--- ${p.name} (${p.alive ? `pid ${p.pid}` : `exited ${JSON.stringify(p.lastExit)}`})\n` +
          p.logTail(lines),
      )
      .join('\n');
  }

  /**
   * Stops every process by PID: apps and sidecars first (concurrently), the agent last;
   * removes the directory unless TRELLIS_E2E_KEEP=1. Idempotent.
   */
  async close(): Promise<void> {
    for (const c of this.#short) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    const others = this.#procs.filter((p) => p !== this.#agent);
    await Promise.all(others.map((p) => p.stop(3000)));
    await this.#agent?.stop(5000);
    if (this.#closed) return;
    this.#closed = true;
    if (this.#dir !== '' && process.env['TRELLIS_E2E_KEEP'] !== '1') {
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }

  #spawn(name: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv) {
    const p = new ManagedProcess({
      name,
      command,
      args,
      logFile: join(this.dir, `${name}.log`),
      ...(env !== undefined ? { env } : {}),
    });
    this.#procs.push(p);
    p.start();
    return p;
  }
}

/** {@link http} that answers network errors with status 0 (for polls). */
async function http_(method: string, url: string): Promise<Answer> {
  try {
    return await http(method, url);
  } catch (e) {
    return { status: 0, text: String(e), headers: new Headers() };
  }
}
