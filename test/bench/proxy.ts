/**
 * Benchmark: the data plane, Trellis sidecars against Debian's haproxy, on the same machine in
 * the same run (issue: data-plane benchmark).
 *
 *     node test/dist/bench/proxy.js [--seconds 10] [--connections 32] [--rounds 3] [--quick]
 *         [--paths direct,haproxy-tcp,haproxy-http,trellis-l4,trellis-l7,rotation]
 *         [--rotations 4] [--haproxy-threads 1] [--profile DIR] [--baseline DIR]
 *
 * Every path is two hops, as in a mesh: client → local proxy → mTLS → remote proxy → app, all
 * on loopback. The app is one Node HTTP server in a process of its own answering a fixed
 * 100-byte body (proxy-app.ts), the same for every path. Certificates come from @trellis/ca:
 * a root and two leaves with SPIFFE URI SANs (web, the caller; api, the callee).
 *   1. direct: wrk → app, the baseline for added latency;
 *   2. haproxy tcp: two haproxy processes (`nbthread --haproxy-threads`, 1 by default: a Node
 *      sidecar runs its proxying on one thread too), the first plain on loopback connecting
 *      `ssl crt client.pem ca-file root.pem verify required` to the second, which terminates
 *      TLS (`ssl crt server.pem ca-file root.pem verify required`) and forwards plain;
 *   3. haproxy http: the same in `mode http` with `option http-keep-alive` and `http-reuse
 *      always`; the second also checks a path ACL and sets x-forwarded-client-cert from the
 *      client certificate's hash, the per-request work Trellis L7 does;
 *   4. Trellis L4: two sidecars, one process each (proxy-sidecar.ts: a `Proxy` applying a
 *      hand-built snapshot), protocol tcp, L4 intention allow;
 *   5. Trellis L7: the same with protocol http and an L7 intention (web may use path
 *      prefix /, default deny).
 * Every process is started first; then --rounds rounds run the paths one after the other
 * (interleaved, so that a slow spell of a shared machine does not fall on one path only),
 * each run after waiting (at most 10 s) for the machine to be quiet. Per path and round,
 * after a 1 s warm-up in the first round:
 *   - wrk `-c --connections -t 2 -d --seconds` (keep-alive): requests/s, the CPU of each
 *     process (utime+stime from /proc/<pid>/stat over the wall time; 100% = one core) with
 *     wrk's own and the rest of the machine's (other work, interrupts), and each proxy's CPU
 *     time per request — the figure least disturbed by other load;
 *   - wrk `-c 1 -t 1 --latency -d --seconds`: p50/p99 at low load (one request in flight), and
 *     the added latency, path minus direct.
 * The summary takes, per path, the least disturbed figures (other work only ever slows a run
 * down): the load run with the most requests/s, with its CPU figures, and the lowest -c 1
 * percentiles. Ratios are Trellis / haproxy requests/s, from those best runs and per round
 * (and the same per proxy CPU-second: from the CPU time per request). Sidecar memory: VmRSS after the load runs and after each
 * rotation run, and the peak (VmHWM).
 * Rotation: while wrk (-c --connections) runs against Trellis L7 for --seconds, both sidecars
 * get --rotations new snapshots on their stdin, evenly spaced (every 2 s by default):
 *   a. a new leaf each (same root);
 *   b. a new root cross-signed by the previous one (@trellis/ca crossSignRoot): the leaves are
 *      signed by the new root and carry the cross-signed certificate, rootPems are the previous
 *      and the new root.
 * Reported: wrk's non-2xx responses and socket errors (goal: zero), the versions both
 * sidecars acknowledged, and that the last leaves are the ones in use on both sides (the
 * public listener presents the last api leaf; the app sees the last web leaf's hash in
 * x-forwarded-client-cert). Rotating roots faster than a handshake completes under load
 * (two generations within one) fails those handshakes: a trust chain spans one step.
 * Goals: L4 / haproxy tcp ≥ 0.6, L7 / haproxy http ≥ 0.35, sidecar RSS ≤ 100 MB, zero errors
 * while rotating.
 *
 * Nothing is pinned. On the 2-core machine wrk, the app and both proxies of a path share the
 * two cores, so every figure is for the whole path on this machine, not a proxy's ceiling.
 * --quick: 3 s runs. --paths: a subset. --profile DIR: the sidecars run under
 * `node --cpu-prof` (profiles written to DIR) and the top self times of each are printed.
 * --baseline DIR: also measure sidecars running another build of @trellis/proxy (DIR is its
 * dist/src, e.g. a copy made before a change), as "trellis L4 (base)" and "trellis L7 (base)".
 * TRELLIS_BENCH_ERRORS=1: the sidecars log failures and non-2xx answers (proxy-sidecar.ts),
 * shown when a rotation run has errors.
 * Needs haproxy and wrk (Debian: `apt-get install -y haproxy wrk`); exits 1 without them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_LEAF_TTL_MS,
  createLeafKeyAndCsr,
  createSigner,
  crossSignRoot,
  generateRoot,
  spiffeIdForService,
  trustDomainFor,
  type GeneratedRoot,
  type Signer,
} from '@trellis/ca';
import {
  compileIntentions,
  precedence,
  type IntentionRule,
  type Protocol,
  type ProxySnapshot,
  type SnapshotTls,
} from '@trellis/connect';
import { allocatePorts, procStatusKiB } from '@trellis/testkit';
import { int } from './args.js';

const ALL_PATHS = [
  'direct',
  'haproxy-tcp',
  'haproxy-http',
  'trellis-l4',
  'trellis-l7',
  'rotation',
] as const;
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    paths: { type: 'string', default: ALL_PATHS.join(',') },
    'haproxy-threads': { type: 'string', default: '1' },
    profile: { type: 'string' },
    baseline: { type: 'string' },
    rotations: { type: 'string', default: '4' },
  },
});
const seconds = values.quick ? 3 : int('seconds', values.seconds, 1, 600);
const connections = int('connections', values.connections, 2, 10_000);
const rounds = int('rounds', values.rounds, 1, 100);
const rotations = int('rotations', values.rotations, 1, 10_000);
const selected = new Set(values.paths.split(',').map((x) => x.trim()));
for (const p of selected) {
  if (!(ALL_PATHS as readonly string[]).includes(p)) {
    console.error(`--paths: unknown path ${p} (known: ${ALL_PATHS.join(', ')})`);
    process.exit(2);
  }
}
const haproxyThreads = int('haproxy-threads', values['haproxy-threads'], 1, 64);
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
const baseline =
  values.baseline === undefined
    ? undefined
    : values.baseline.endsWith('.js')
      ? resolve(values.baseline)
      : join(resolve(values.baseline), 'index.js');

for (const [tool, args] of [
  ['haproxy', ['-v']],
  ['wrk', ['-v']],
] as const) {
  const r = spawnSync(tool, args, { stdio: 'ignore' });
  if (r.error !== undefined) {
    console.error(
      `${tool} is not installed (${r.error.message}). On Debian: apt-get install -y haproxy wrk`,
    );
    process.exit(1);
  }
}

const here = fileURLToPath(new URL('.', import.meta.url));
const APP_JS = join(here, 'proxy-app.js');
const SIDECAR_JS = join(here, 'proxy-sidecar.js');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

// ---------------------------------------------------------------- processes

/** A child process: stdout lines parsed as JSON messages, stderr kept for errors. */
class Child {
  readonly proc: ChildProcess;
  readonly messages: unknown[] = [];
  #stderr = '';
  #partial = '';
  readonly #exited: Promise<void>;

  constructor(
    readonly label: string,
    cmd: string,
    args: readonly string[],
    env: Readonly<Record<string, string>> = {},
  ) {
    this.proc = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.proc.stdout?.on('data', (c: Buffer) => {
      const text = this.#partial + c.toString();
      const lines = text.split('\n');
      this.#partial = lines.pop() ?? '';
      for (const l of lines) {
        try {
          this.messages.push(JSON.parse(l));
        } catch {
          this.messages.push(l);
        }
      }
    });
    this.proc.stderr?.on('data', (c: Buffer) => {
      if (this.#stderr.length < 64 * 1024) this.#stderr += c.toString();
    });
    this.proc.once('error', (e) => (this.#stderr += String(e)));
    this.#exited = new Promise((r) => this.proc.once('exit', () => r()));
  }

  get pid(): number {
    const pid = this.proc.pid;
    if (pid === undefined) throw new Error(`${this.label}: not started\n${this.#stderr}`);
    return pid;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  stderr(): string {
    return this.#stderr;
  }

  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  /** Waits for a message matching `fn`; throws if the process exits first. */
  async message<T>(what: string, fn: (m: unknown) => T | undefined, timeoutMs = 20_000) {
    return until(
      `${this.label}: ${what}`,
      () => {
        for (const m of this.messages) {
          const v = fn(m);
          if (v !== undefined) return v;
        }
        if (!this.running) throw new Error(`${this.label} exited\n${this.#stderr}`);
        return undefined;
      },
      timeoutMs,
    );
  }

  /** SIGTERM by PID, SIGKILL after 10 s; resolves once it has exited. */
  async stop(): Promise<void> {
    if (this.running) this.proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.running) this.proc.kill('SIGKILL');
    }, 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

const children = new Set<Child>();
function start(
  label: string,
  cmd: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Child {
  const c = new Child(label, cmd, args, env);
  children.add(c);
  return c;
}
async function stopAll(list: readonly Child[]): Promise<void> {
  await Promise.all(list.map((c) => c.stop()));
  for (const c of list) children.delete(c);
}

async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One GET on a fresh connection: status and body, or an error text. */
function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, timeout: 3000 }, (r) => {
      let body = '';
      r.on('data', (c: Buffer) => (body += c.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', rej);
    req.end();
  });
}

/** Waits until the whole path answers 200 with the app's 100-byte body. */
async function pathReady(name: string, port: number, procs: readonly Child[]): Promise<void> {
  let last = '';
  try {
    await until(
      `${name} to answer through the whole path`,
      async () => {
        for (const p of procs) {
          if (!p.running) throw new Error(`${p.label} exited:\n${p.stderr()}`);
        }
        try {
          const r = await get(port);
          last = `${r.status} ${r.body.length} bytes`;
          return r.status === 200 && r.body.length === 100;
        } catch (e) {
          last = (e as Error).message;
          return false;
        }
      },
      20_000,
    );
  } catch (e) {
    throw new Error(
      `${(e as Error).message} (last: ${last})\n${procs.map((p) => `${p.label}: ${p.stderr()}`).join('\n')}`,
    );
  }
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** The machine's busy and total CPU time (all CPUs), from /proc/stat. */
function machineSeconds(): { busy: number; total: number } {
  const f = (/^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '')
    .split(/\s+/)
    .map(Number);
  // user nice system idle iowait irq softirq steal (guest time is inside user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - (f[3] ?? 0) - (f[4] ?? 0)) / CLK_TCK, total: total / CLK_TCK };
}

/**
 * Waits (at most 10 s) until the machine is quiet — under 15% of one core busy over a second
 * while this benchmark idles — so that other work on a shared machine falls less on a run.
 * Returns that last busy figure.
 */
async function quiet(): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const a = machineSeconds();
    await new Promise((r) => setTimeout(r, 1000));
    const b = machineSeconds();
    const busy = ((b.busy - a.busy) / (b.total - a.total)) * availableParallelism() * 100;
    if (busy < 15 || Date.now() > deadline) return busy;
  }
}

// ---------------------------------------------------------------- wrk

interface WrkResult {
  rps: number;
  requests: number;
  /** Latency percentiles in ms. */
  p50: number;
  p99: number;
  non2xx: number;
  socketErrors: number;
  socketErrorText: string;
  /** wrk's own CPU (100 = a core), from /proc polled every 100 ms. */
  cpu: number;
}

function ms(v: string, unit: string): number {
  const n = Number(v);
  if (unit === 'us') return n / 1000;
  if (unit === 'ms') return n;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return NaN;
}

function wrk(port: number, c: number, threads: number, secs: number): Promise<WrkResult> {
  const args = [
    '-c',
    String(c),
    '-t',
    String(threads),
    '-d',
    `${secs}s`,
    '--latency',
    `http://127.0.0.1:${port}/`,
  ];
  return new Promise((res, rej) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const t0 = performance.now();
    let cpu = NaN;
    const poll = setInterval(() => {
      try {
        if (p.pid !== undefined)
          cpu = (cpuSeconds(p.pid) / ((performance.now() - t0) / 1000)) * 100;
      } catch {
        // exited between two polls
      }
    }, 100);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', rej);
    p.once('exit', (code) => {
      clearInterval(poll);
      if (code !== 0) {
        rej(new Error(`wrk ${args.join(' ')} exited ${code}:\n${out}`));
        return;
      }
      const lat = (pct: string): number => {
        const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
        return m ? ms(m[1] ?? '', m[2] ?? '') : NaN;
      };
      const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const errs = se ? se.slice(1).map(Number) : [0, 0, 0, 0];
      res({
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
        requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
        p50: lat('50'),
        p99: lat('99'),
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
        socketErrors: errs.reduce((a, b) => a + (b ?? 0), 0),
        socketErrorText: se?.[0] ?? 'no socket errors',
        cpu,
      });
    });
  });
}

// ---------------------------------------------------------------- certificates and snapshots

const CLUSTER_ID = '11111111-2222-3333-4444-555555555555';
const TRUST_DOMAIN = trustDomainFor(CLUSTER_ID);
const DC = 'dc1';
const spiffe = (service: string): string =>
  spiffeIdForService({ trustDomain: TRUST_DOMAIN, datacenter: DC, service });

interface CaGen {
  readonly root: GeneratedRoot;
  readonly signer: Signer;
  /** Trusted roots of this generation (the previous and this one after a rotation). */
  readonly rootPems: readonly string[];
}

async function newCa(previous?: CaGen): Promise<CaGen> {
  const root = await generateRoot({
    trustDomain: TRUST_DOMAIN,
    clusterId: CLUSTER_ID,
    now: new Date(),
  });
  if (previous === undefined) {
    const signer = await createSigner({ certPem: root.certPem, keyPem: root.keyPem });
    return { root, signer, rootPems: [root.certPem] };
  }
  const cross = await crossSignRoot({
    newRootCertPem: root.certPem,
    oldRootCertPem: previous.root.certPem,
    oldKeyPem: previous.root.keyPem,
    now: new Date(),
  });
  const signer = await createSigner({
    certPem: root.certPem,
    keyPem: root.keyPem,
    intermediatesPem: [cross],
  });
  return { root, signer, rootPems: [previous.root.certPem, root.certPem] };
}

async function leaf(ca: CaGen, service: string): Promise<SnapshotTls> {
  const { keyPem, csrPem } = await createLeafKeyAndCsr({ uri: spiffe(service) });
  const signed = await ca.signer.signLeaf(csrPem, {
    trustDomain: TRUST_DOMAIN,
    datacenter: DC,
    ttlMs: DEFAULT_LEAF_TTL_MS,
    now: new Date(),
  });
  return {
    certPem: signed.certPem,
    keyPem,
    serialNumber: signed.serialNumber,
    validBefore: signed.validBefore,
    activeRootId: ca.root.info.id,
    rootPems: ca.rootPems,
  };
}

function rule(source: string, destination: string, l7: boolean): IntentionRule {
  return {
    SourceName: source,
    DestinationName: destination,
    ...(l7
      ? { Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }
      : { Action: 'allow' }),
    Precedence: precedence(source, destination),
  };
}

interface MeshPorts {
  /** web's upstream listener (where wrk connects). */
  readonly upstream: number;
  /** api's public listener. */
  readonly public: number;
  readonly app: number;
}

/** web's sidecar: one upstream (api) at api's public listener. */
function webSnapshot(tls: SnapshotTls, protocol: Protocol, ports: MeshPorts): ProxySnapshot {
  return {
    kind: 'connect-proxy',
    proxyId: 'web-sidecar-proxy',
    service: 'web',
    datacenter: DC,
    spiffeId: spiffe('web'),
    tls,
    publicListener: null,
    upstreams: [
      {
        id: 'api',
        destinationName: 'api',
        datacenter: DC,
        bindAddress: '127.0.0.1',
        bindPort: ports.upstream,
        protocol,
        connectTimeoutMs: 5000,
        expectedSpiffeIds: [spiffe('api')],
        endpoints: [
          {
            address: '127.0.0.1',
            port: ports.public,
            node: 'n1',
            serviceId: 'api-sidecar-proxy',
            weight: 1,
          },
        ],
      },
    ],
    gatewayListeners: [],
    warnings: [],
  };
}

/** api's sidecar: the public listener in front of the app; web allowed (L4 or L7). */
function apiSnapshot(tls: SnapshotTls, protocol: Protocol, ports: MeshPorts): ProxySnapshot {
  const l7 = protocol === 'http';
  return {
    kind: 'connect-proxy',
    proxyId: 'api-sidecar-proxy',
    service: 'api',
    datacenter: DC,
    spiffeId: spiffe('api'),
    tls,
    publicListener: {
      bindAddress: '127.0.0.1',
      bindPort: ports.public,
      localApp: { address: '127.0.0.1', port: ports.app },
      protocol,
      maxInboundConnections: 0,
      localConnectTimeoutMs: 5000,
      localRequestTimeoutMs: 0,
      tls,
      authz: compileIntentions('api', [rule('web', 'api', l7)], false),
    },
    upstreams: [],
    gatewayListeners: [],
    warnings: [],
  };
}

// ---------------------------------------------------------------- haproxy

function haproxyConfigs(
  mode: 'tcp' | 'http',
  dir: string,
  ports: { front: number; back: number; app: number },
): [string, string] {
  const http = mode === 'http';
  const head = [
    'global',
    `  nbthread ${haproxyThreads}`,
    '  maxconn 4096',
    'defaults',
    `  mode ${mode}`,
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    ...(http
      ? ['  option http-keep-alive', '  http-reuse always', '  timeout http-keep-alive 120s']
      : []),
  ];
  const front = [
    ...head,
    'frontend local',
    `  bind 127.0.0.1:${ports.front}`,
    '  default_backend remote',
    'backend remote',
    `  server api 127.0.0.1:${ports.back} ssl crt ${join(dir, 'client.pem')} ca-file ${join(dir, 'root.pem')} verify required`,
    '',
  ];
  const back = [
    ...head,
    'frontend public',
    `  bind 127.0.0.1:${ports.back} ssl crt ${join(dir, 'server.pem')} ca-file ${join(dir, 'root.pem')} verify required`,
    ...(http
      ? [
          '  http-request deny deny_status 403 unless { path_beg / }',
          `  http-request set-header x-forwarded-client-cert "By=${spiffe('api')};Hash=%[ssl_c_der,sha2(256),hex]"`,
        ]
      : []),
    '  default_backend app',
    'backend app',
    `  server app 127.0.0.1:${ports.app}`,
    '',
  ];
  return [front.join('\n'), back.join('\n')];
}

// ---------------------------------------------------------------- measuring a path

/** A process's CPU in a load run: % of one core, and CPU time per request (µs). */
interface Cpu {
  readonly label: string;
  readonly pct: number;
  readonly usPerRequest: number;
}

interface Path {
  readonly name: string;
  readonly port: number;
  /** The processes whose CPU is reported (the proxies, then the app). */
  readonly procs: readonly Child[];
  readonly load: Array<{ wrk: WrkResult; cpu: Cpu[] }>;
  readonly low: WrkResult[];
}

const fmt = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

/** One round of a path: the load run (with CPU%), then the run at -c 1. */
async function measure(path: Path, round: number): Promise<void> {
  const { port, procs } = path;
  if (round === 0) await wrk(port, connections, 2, 1); // warm-up: JIT, pools, TLS sessions
  const idle = await quiet();
  const before = procs.map((p) => cpuSeconds(p.pid));
  const m0 = machineSeconds();
  const t0 = performance.now();
  const load = await wrk(port, connections, 2, seconds);
  const wall = (performance.now() - t0) / 1000;
  const m1 = machineSeconds();
  const cpu = procs.map((p, i) => {
    const used = cpuSeconds(p.pid) - (before[i] ?? 0);
    return { label: p.label, pct: (used / wall) * 100, usPerRequest: (used / load.requests) * 1e6 };
  });
  cpu.push({ label: 'wrk', pct: load.cpu, usPerRequest: NaN });
  // Everything else the machine did meanwhile (other work on a shared machine, softirqs).
  const others = ((m1.busy - m0.busy) / wall) * 100 - cpu.reduce((a, c) => a + c.pct, 0);
  cpu.push({ label: 'rest', pct: others, usPerRequest: NaN });
  await quiet();
  const low = await wrk(port, 1, 1, seconds);
  path.load.push({ wrk: load, cpu });
  path.low.push(low);
  const errs = load.non2xx + load.socketErrors + low.non2xx + low.socketErrors;
  console.log(
    `  ${round + 1}/${rounds} ${path.name.padEnd(13)} ${fmt(load.rps).padStart(6)} req/s (p50 ${fmt(load.p50, 2)} ms, p99 ${fmt(load.p99, 2)} ms)` +
      ` | -c 1: ${fmt(low.rps).padStart(5)} req/s, p50 ${fmt(low.p50, 3)} ms, p99 ${fmt(low.p99, 3)} ms` +
      ` | CPU ${cpu.map((c) => `${c.label} ${fmt(c.pct)}%`).join(', ')}` +
      (idle >= 15 ? ` | machine not quiet before the run (${fmt(idle)}% busy)` : '') +
      (errs > 0 ? ` | ERRORS: non-2xx ${load.non2xx + low.non2xx}, ${load.socketErrorText}` : ''),
  );
}

/**
 * The least disturbed figures over the rounds — other work on the machine only ever slows a
 * run down: the load run with the most requests/s (its CPU figures with it), and the lowest
 * -c 1 percentiles.
 */
function summary(path: Path) {
  const best = [...path.load].sort((a, b) => b.wrk.rps - a.wrk.rps)[0];
  const proxies = path.procs.filter((p) => p.label !== 'app').map((p) => p.label);
  const cpu = best?.cpu ?? [];
  return {
    rps: best?.wrk.rps ?? NaN,
    cpu,
    /** CPU µs per request of each proxy process and of the app. */
    us: [...proxies, 'app'].map((label) => ({
      label,
      us: cpu.find((c) => c.label === label)?.usPerRequest ?? NaN,
    })),
    /** Both proxies' CPU µs per request. */
    proxyUs: cpu.filter((c) => proxies.includes(c.label)).reduce((a, c) => a + c.usPerRequest, 0),
    p50: Math.min(...path.low.map((l) => l.p50)),
    p99: Math.min(...path.low.map((l) => l.p99)),
    errors: path.load.reduce((n, l) => n + l.wrk.non2xx + l.wrk.socketErrors, 0),
  };
}

function rss(c: Child): string {
  const mib = (b: number | undefined): string => (b === undefined ? 'n/a' : fmt(b / 2 ** 20, 1));
  return `${c.label} ${mib(procStatusKiB(c.pid, 'VmRSS'))} MiB (peak ${mib(procStatusKiB(c.pid, 'VmHWM'))} MiB)`;
}

// ---------------------------------------------------------------- profiles

/** Profiled sidecars of this run: pid → label. */
const profiled = new Map<number, string>();

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Top self times of each .cpuprofile in `dir` (V8's format: nodes with hit counts). */
function printProfiles(dir: string): void {
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(f)?.[1]);
    const label = profiled.get(pid);
    if (label === undefined) continue;
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      nodes: ProfileNode[];
      samples: number[];
    };
    const self = new Map<string, number>();
    let total = 0;
    for (const n of p.nodes) {
      const hits = n.hitCount ?? 0;
      const cf = n.callFrame;
      if (cf.functionName === '(idle)') continue;
      total += hits;
      const where =
        cf.url === ''
          ? ''
          : ` ${cf.url.replace(/^.*\/(node_modules|packages)\//, '$1/')}:${cf.lineNumber + 1}`;
      const key = `${cf.functionName || '(anonymous)'}${where}`;
      self.set(key, (self.get(key) ?? 0) + hits);
    }
    console.log(`\nprofile of ${label} (${f}): top self time, of ${total} samples not idle`);
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
      console.log(`  ${fmt((v / total) * 100, 1).padStart(5)}%  ${k}`);
    }
  }
}

// ---------------------------------------------------------------- run

const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-proxy-'));
let exitCode = 0;
const onSignal = (): void => {
  void stopAll([...children]).finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

try {
  console.log(
    `data plane: ${rounds} round(s) of ${seconds} s runs per path, interleaved; wrk -c ${connections} -t 2 (load) ` +
      `and -c 1 -t 1 (latency); haproxy nbthread ${haproxyThreads}; nothing pinned; ${availableParallelism()} CPUs`,
  );
  const ca0 = await newCa();
  const webTls = await leaf(ca0, 'web');
  const apiTls = await leaf(ca0, 'api');
  writeFileSync(join(dir, 'root.pem'), ca0.root.certPem);
  writeFileSync(join(dir, 'client.pem'), webTls.certPem + webTls.keyPem);
  writeFileSync(join(dir, 'server.pem'), apiTls.certPem + apiTls.keyPem);

  // Every path is set up first; the runs of the paths then alternate, round after round, so
  // that a slow spell of the machine does not fall on one path only.
  const app = start('app', process.execPath, [APP_JS]);
  const appPort = await app.message('port', (m) => (m as { port?: number }).port);
  const paths: Path[] = [];
  const newPath = (name: string, port: number, procs: Child[]): Path => {
    const p: Path = { name, port, procs, load: [], low: [] };
    paths.push(p);
    return p;
  };
  if (selected.has('direct')) newPath('direct', appPort, [app]);

  for (const mode of ['tcp', 'http'] as const) {
    if (!selected.has(`haproxy-${mode}`)) continue;
    const [front, back] = (await allocatePorts(2)) as [number, number];
    const [cfgFront, cfgBack] = haproxyConfigs(mode, dir, { front, back, app: appPort });
    writeFileSync(join(dir, `${mode}-front.cfg`), cfgFront);
    writeFileSync(join(dir, `${mode}-back.cfg`), cfgBack);
    const hb = start('haproxy-remote', 'haproxy', ['-db', '-f', join(dir, `${mode}-back.cfg`)]);
    const hf = start('haproxy-local', 'haproxy', ['-db', '-f', join(dir, `${mode}-front.cfg`)]);
    newPath(`haproxy ${mode}`, front, [hf, hb, app]);
  }

  const sidecarArgs = (file: string): string[] => [
    ...(profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    SIDECAR_JS,
    file,
  ];
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const meshes = new Map<string, { web: Child; api: Child; ports: MeshPorts }>();
  const variants: Array<{ suffix: string; module: string | undefined }> = [
    { suffix: '', module: undefined },
    ...(baseline !== undefined ? [{ suffix: ' (base)', module: baseline }] : []),
  ];
  for (const protocol of ['tcp', 'http'] as const) {
    const l = protocol === 'tcp' ? 'L4' : 'L7';
    const measured = selected.has(`trellis-${l.toLowerCase()}`);
    if (!measured && !(l === 'L7' && selected.has('rotation'))) continue;
    for (const v of variants) {
      if (v.module !== undefined && !measured) continue;
      const name = `trellis ${l}${v.suffix}`;
      const [upstream, pub] = (await allocatePorts(2)) as [number, number];
      const ports: MeshPorts = { upstream, public: pub, app: appPort };
      const tag = `${protocol}${v.module === undefined ? '' : '-base'}`;
      const files = [`web-${tag}.json`, `api-${tag}.json`].map((f) => join(dir, f)) as [
        string,
        string,
      ];
      writeFileSync(files[0], JSON.stringify(webSnapshot(webTls, protocol, ports)));
      writeFileSync(files[1], JSON.stringify(apiSnapshot(apiTls, protocol, ports)));
      const env = v.module === undefined ? {} : { TRELLIS_BENCH_PROXY: v.module };
      const label = `trellis-${l}${v.module === undefined ? '' : '-base'}`;
      const api = start(`${label}-remote`, process.execPath, sidecarArgs(files[1]), env);
      const web = start(`${label}-local`, process.execPath, sidecarArgs(files[0]), env);
      for (const c of [api, web]) {
        profiled.set(c.pid, c.label);
        await c.message('ready', (m) => (m as { ready?: number }).ready);
      }
      meshes.set(name, { web, api, ports });
      if (measured) newPath(name, upstream, [web, api, app]);
    }
  }
  for (const p of paths) await pathReady(p.name, p.port, p.procs);

  for (let round = 0; round < rounds; round++) {
    for (const p of paths) await measure(p, round);
  }
  const memory: string[] = [];
  let rssPeak = 0;
  const noteRss = (when: string, cs = [...meshes.values()].flatMap((m) => [m.web, m.api])) => {
    for (const c of cs) rssPeak = Math.max(rssPeak, procStatusKiB(c.pid, 'VmHWM') ?? 0);
    if (cs.length > 0) memory.push(`${when}: ${cs.map(rss).join(', ')}`);
  };
  noteRss('after the load runs');

  // Rotation, against Trellis L7 under load.
  const rotation: string[] = [];
  let rotationErrors = 0;
  const m = meshes.get('trellis L7');
  if (selected.has('rotation') && m !== undefined) {
    // The material is made before wrk starts, so signing costs nothing during the run.
    const steps = rotations;
    const intervalMs = (seconds * 1000) / (steps + 1);
    let version = 1;
    let ca = ca0;
    let lastWeb = webTls;
    let lastApi = apiTls;
    for (const kind of ['new leaf', 'new root (cross-signed)'] as const) {
      const plan: Array<{ web: SnapshotTls; api: SnapshotTls }> = [];
      for (let i = 0; i < steps; i++) {
        if (kind !== 'new leaf') ca = await newCa(ca);
        plan.push({ web: await leaf(ca, 'web'), api: await leaf(ca, 'api') });
      }
      const firstVersion = version + 1;
      await quiet();
      const timers = plan.map((p, i) =>
        setTimeout(
          () => {
            m.web.send(JSON.stringify(webSnapshot(p.web, 'http', m.ports)));
            m.api.send(JSON.stringify(apiSnapshot(p.api, 'http', m.ports)));
          },
          intervalMs * (i + 1),
        ),
      );
      const r = await wrk(m.ports.upstream, connections, 2, seconds);
      for (const t of timers) clearTimeout(t);
      version += steps;
      await Promise.all(
        [m.web, m.api].map((c) =>
          c.message(`ack of version ${version}`, (msg) => {
            const x = msg as { applied?: number; nack?: number; error?: string };
            if (x.nack !== undefined && x.nack >= firstVersion)
              throw new Error(`${c.label}: version ${x.nack} refused: ${x.error}`);
            return x.applied === version ? true : undefined;
          }),
        ),
      );
      lastWeb = plan.at(-1)?.web ?? lastWeb;
      lastApi = plan.at(-1)?.api ?? lastApi;
      // The last leaves are the ones in use: api's public listener presents the last api
      // leaf, and the app sees the hash of the last web leaf in x-forwarded-client-cert.
      const web = lastWeb;
      const presented = await new Promise<string>((res, rej) => {
        const sock = tlsConnect({
          host: '127.0.0.1',
          port: m.ports.public,
          cert: web.certPem,
          key: web.keyPem,
          ca: [...web.rootPems],
          checkServerIdentity: () => undefined,
        });
        sock.once('secureConnect', () => {
          res(sock.getPeerCertificate().serialNumber);
          sock.destroy();
        });
        sock.once('error', rej);
      });
      const norm = (x: string): string => x.replace(/:/g, '').toUpperCase().replace(/^0+/, '');
      const apiOk = norm(presented) === norm(lastApi.serialNumber);
      const xfcc = (await get(m.ports.upstream, '/xfcc')).body;
      const webDer = new X509Certificate(web.certPem).raw;
      const webOk = xfcc.includes(`Hash=${createHash('sha256').update(webDer).digest('hex')}`);
      rotationErrors += r.non2xx + r.socketErrors + (apiOk && webOk ? 0 : 1);
      if (r.non2xx + r.socketErrors > 0) {
        for (const c of [m.web, m.api]) {
          const text = c.stderr().trim();
          if (text !== '') console.log(`    ${c.label} stderr:\n${text.replace(/^/gm, '      ')}`);
        }
      }
      const line =
        `rotation, ${kind} every ${fmt(intervalMs / 1000, 2)} s under wrk -c ${connections}: ` +
        `${fmt(r.rps)} req/s, ${r.requests} requests, non-2xx ${r.non2xx}, ${r.socketErrorText}; ` +
        `versions ${firstVersion}–${version} acked by both sidecars; ` +
        `last leaves in use: api ${apiOk ? 'yes' : 'NO'}, web ${webOk ? 'yes' : 'NO'}`;
      rotation.push(line);
      console.log(`  ${line}`);
      noteRss(`after the rotations to a ${kind}`, [m.web, m.api]);
    }
  }

  // ------------------------------------------------------------ summary
  console.log(`\nbest of ${rounds} round(s):`);
  console.log(
    `${'path'.padEnd(13)} ${'req/s'.padStart(7)}   ${'-c 1 p50'.padStart(9)} ${'p99'.padStart(9)}   ` +
      `${'added p50'.padStart(9)} ${'added p99'.padStart(9)}   CPU% in that load run (100 = a core)`,
  );
  const sums = new Map(paths.map((p) => [p.name, summary(p)]));
  const direct = sums.get('direct');
  for (const [name, r] of sums) {
    const added = (v: number, d: number | undefined): string =>
      name === 'direct' ? '—' : d === undefined ? 'n/a' : `${fmt(v - d, 3)} ms`;
    console.log(
      `${name.padEnd(13)} ${fmt(r.rps).padStart(7)}   ${`${fmt(r.p50, 3)} ms`.padStart(9)} ${`${fmt(r.p99, 3)} ms`.padStart(9)}   ` +
        `${added(r.p50, direct?.p50).padStart(9)} ${added(r.p99, direct?.p99).padStart(9)}   ` +
        r.cpu.map((c) => `${c.label} ${fmt(c.pct)}`).join(', ') +
        (r.errors > 0 ? `  (${r.errors} errors)` : ''),
    );
  }
  console.log('CPU time per request in that load run (µs):');
  for (const [name, r] of sums) {
    console.log(
      `  ${name.padEnd(13)} ${r.us.map((u) => `${u.label} ${fmt(u.us, 1)}`).join(', ')}` +
        (name === 'direct' ? '' : `; both proxies ${fmt(r.proxyUs, 1)}`),
    );
  }
  const goal = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const ratio = (a: string, b: string, want?: number): void => {
    const x = sums.get(a);
    const y = sums.get(b);
    if (x === undefined || y === undefined) return;
    const per = paths
      .find((p) => p.name === a)
      ?.load.map((l, i) =>
        fmt(l.wrk.rps / (paths.find((q) => q.name === b)?.load[i]?.wrk.rps ?? NaN), 2),
      );
    const g = want === undefined ? '' : `goal ≥ ${want}: ${goal(x.rps / y.rps >= want)}; `;
    console.log(
      `${a} / ${b}: ${fmt(x.rps / y.rps, 2)} req/s (${g}per round ${per?.join(', ')}); ` +
        `per proxy CPU-second ${fmt(y.proxyUs / x.proxyUs, 2)}`,
    );
  };
  ratio('trellis L4', 'haproxy tcp', 0.6);
  ratio('trellis L7', 'haproxy http', 0.35);
  ratio('trellis L4', 'trellis L4 (base)');
  ratio('trellis L7', 'trellis L7 (base)');
  for (const l of memory) console.log(`sidecar memory ${l}`);
  if (rssPeak > 0) {
    console.log(
      `sidecar peak RSS ${fmt(rssPeak / 2 ** 20, 1)} MiB = ${fmt(rssPeak / 1e6, 1)} MB (goal ≤ 100 MB: ${goal(rssPeak <= 100e6)})`,
    );
  }
  if (rotation.length > 0) {
    console.log(`rotation errors: ${rotationErrors} (goal 0: ${goal(rotationErrors === 0)})`);
  }

  await stopAll([...children]);
  if (profileDir !== undefined) printProfiles(profileDir);
} catch (e) {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  exitCode = 1;
} finally {
  await stopAll([...children]);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
