/**
 * Debian's `unbound` as a peer for DNS tests and benchmarks: a resolver on a loopback port,
 * in the foreground, that forwards zones to our DNS server and/or answers `local-data`, run
 * from a temporary directory and stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface UnboundOptions {
  /** UDP/TCP port on 127.0.0.1. */
  readonly port: number;
  /** Zone ("consul.") → the 127.0.0.1 port to forward it to. */
  readonly forward?: Readonly<Record<string, number>>;
  /** `local-zone` lines' values, e.g. `"consul." static` or `"10.in-addr.arpa." nodefault`. */
  readonly localZones?: readonly string[];
  /** `local-data` records, e.g. `web.service.consul. 0 IN A 10.0.0.1`. */
  readonly localData?: readonly string[];
  /** Worker threads (default unbound's). */
  readonly threads?: number;
}

export interface RunningUnbound {
  readonly port: number;
  /** What unbound wrote to stderr so far (for failure messages). */
  stderr(): string;
  /** SIGTERM by PID, wait for the exit, remove the directory. Idempotent. */
  stop(): Promise<void>;
}

export function unboundConfig(o: UnboundOptions, dir: string): string {
  return [
    'server:',
    '  interface: 127.0.0.1',
    `  port: ${o.port}`,
    ...(o.threads === undefined ? [] : [`  num-threads: ${o.threads}`]),
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    '  pidfile: ""',
    '  use-syslog: no',
    '  do-not-query-localhost: no',
    '  module-config: "iterator"',
    '  access-control: 127.0.0.0/8 allow',
    '  qname-minimisation: no',
    ...(o.localZones ?? []).map((z) => `  local-zone: ${z}`),
    ...(o.localData ?? []).map((d) => `  local-data: "${d}"`),
    ...Object.entries(o.forward ?? {}).flatMap(([zone, port]) => [
      'forward-zone:',
      `  name: "${zone}"`,
      `  forward-addr: 127.0.0.1@${port}`,
    ]),
    '',
  ].join('\n');
}

/** Starts unbound (it may take a moment before it answers: poll it). */
export function startUnbound(o: UnboundOptions): RunningUnbound {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-unbound-'));
  const conf = join(dir, 'unbound.conf');
  writeFileSync(conf, unboundConfig(o, dir));
  const child: ChildProcess = spawn('unbound', ['-d', '-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    if (err.length < 64 * 1024) err += c.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('error', (e) => (err += String(e)));
  let stopped: Promise<void> | null = null;
  return {
    port: o.port,
    stderr: () => err,
    stop: () =>
      (stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          child.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
