/**
 * Benchmark: DNS service lookups, Trellis against Debian's `unbound` (issue: DNS interface).
 *
 *     node test/dist/bench/dns.js [--instances 20] [--seconds 10] [--rate 10000] [--rounds 3]
 *                                 [--cli PATH]
 *
 * 1. A Trellis dev agent (server, in memory) with `--instances` healthy instances of `web`,
 *    one node each (10.0.0.1, 10.0.0.2, …), registered through /v1/catalog/register.
 * 2. unbound answering the same names (web.service.consul A and SRV, the nodes' A records)
 *    from `local-data`, on loopback, one thread.
 * 3. For each server and each type (A, SRV), `dnsperf` (Debian) over UDP:
 *    - as fast as it goes for `--seconds` (default 10 clients, 100 outstanding): queries/s;
 *    - at `--rate` queries/s for `--seconds` with per-query output (-v): p50/p99 latency and
 *      lost queries.
 *    Each is run `--rounds` times, Trellis and unbound alternately (which goes first
 *    alternates too), and the medians are reported: on a shared 2-core machine one 10 s
 *    sample of each, taken one after the other, is at the mercy of whatever else runs then
 *    (we saw the same server's rate vary by 2× between samples).
 * 4. Freshness: an instance's check turns critical (then passing again, alternately); the
 *    time until Trellis's DNS answer drops (or has again) its address, polled every 10 ms
 *    with an EDNS query (4096 bytes) so that every healthy instance is in each answer —
 *    without EDNS an answer holds 3 random instances, and the time until a returning
 *    instance showed up measured the shuffle rather than the catalog.
 * Ratios are Trellis / unbound.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TrellisCluster, allocatePorts, startUnbound, type RunningUnbound } from '@trellis/testkit';
import { int } from './args.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    cli: { type: 'string' },
  },
});

const instances = int('instances', values.instances, 1, 250);
const seconds = int('seconds', values.seconds, 1, 600);
const rate = int('rate', values.rate, 100, 1_000_000);
const rounds = int('rounds', values.rounds, 1, 20);
const cli =
  values.cli ?? fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 512 * 1024 * 1024 }, (err, out, errOut) =>
      err ? reject(new Error(`${cmd}: ${err.message}\n${errOut}`)) : resolve(out),
    );
  });
}

interface PerfResult {
  qps: number;
  lost: number;
  sent: number;
  p50: number;
  p99: number;
}

/** Runs dnsperf against port with a one-name, one-type data file. */
async function perf(
  port: number,
  type: string,
  dir: string,
  rateLimit?: number,
): Promise<PerfResult> {
  const data = join(dir, `q-${type}.txt`);
  writeFileSync(data, `web.service.consul ${type}\n`);
  const args = [
    '-s',
    '127.0.0.1',
    '-p',
    String(port),
    '-d',
    data,
    '-l',
    String(seconds),
    '-c',
    '10',
    '-t',
    '2',
  ];
  if (rateLimit !== undefined) args.push('-Q', String(rateLimit), '-v');
  const out = await run('dnsperf', args, (seconds + 30) * 1000);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 'NaN');
  const lat: number[] = [];
  if (rateLimit !== undefined) {
    // Verbose lines: "> NOERROR web.service.consul A 0.000123"
    for (const m of out.matchAll(/^> \S+ \S+ \S+ (\d+\.\d+)$/gm)) lat.push(Number(m[1]) * 1000);
    lat.sort((a, b) => a - b);
  }
  const pct = (p: number) =>
    lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    p50: pct(50),
    p99: pct(99),
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** `rounds` runs of each, alternating (and alternating which goes first). */
async function alternate(
  trellis: () => Promise<PerfResult>,
  unbound: () => Promise<PerfResult>,
): Promise<{ t: PerfResult[]; u: PerfResult[] }> {
  const t: PerfResult[] = [];
  const u: PerfResult[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      t.push(await trellis());
      u.push(await unbound());
    } else {
      u.push(await unbound());
      t.push(await trellis());
    }
  }
  return { t, u };
}

/** Medians over rounds, and the lost/sent totals. */
function summary(rs: readonly PerfResult[]): PerfResult {
  return {
    qps: median(rs.map((r) => r.qps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    lost: rs.reduce((n, r) => n + r.lost, 0),
    sent: rs.reduce((n, r) => n + r.sent, 0),
  };
}

const each = (rs: readonly PerfResult[], f: (r: PerfResult) => string): string =>
  rs.length === 1 ? '' : ` [${rs.map(f).join(' ')}]`;

function dnsQuery(port: number, name: string, edns = false): Promise<Buffer | null> {
  // A minimal A query (RFC 1035 §4.1): ID, RD, one question; with `edns` an OPT record
  // (RFC 6891) advertising 4096 bytes.
  const labels = name.split('.').filter((l) => l !== '');
  const q = Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns ? 1 : 0]),
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0, 0, 1, 0, 1]),
    edns ? Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]) : Buffer.alloc(0),
  ]);
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(null);
    }, 1000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(q, port, '127.0.0.1');
  });
}

const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-dns-'));
const [dnsPort, ubPort] = (await allocatePorts(2)) as [number, number];
const cluster = await TrellisCluster.start({
  cli,
  dev: true,
  extraArgs: () => [`-dns-port=${dnsPort}`, '-log-level=warn'],
});
let ub: RunningUnbound | null = null;
try {
  const agent = cluster.agents[0]!;
  const local: string[] = [];
  for (let i = 1; i <= instances; i++) {
    const ip = `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const res = await fetch(`${agent.httpUrl}/v1/catalog/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Node: `n${i}`,
        Address: ip,
        Service: { ID: `web${i}`, Service: 'web', Port: 8000 + i },
        Check: { CheckID: `web${i}`, ServiceID: `web${i}`, Name: 'web', Status: 'passing' },
      }),
    });
    if (res.status !== 200) throw new Error(`register: ${res.status}`);
    local.push(`web.service.consul. 0 IN A ${ip}`);
    local.push(`web.service.consul. 0 IN SRV 1 1 ${8000 + i} n${i}.node.dc1.consul.`);
    local.push(`n${i}.node.dc1.consul. 0 IN A ${ip}`);
  }
  ub = startUnbound({
    port: ubPort,
    threads: 1,
    localZones: ['"consul." static'],
    localData: local,
  });
  let ready = false;
  for (let i = 0; i < 100 && !ready; i++) {
    ready =
      (await dnsQuery(ubPort, 'web.service.consul')) !== null &&
      (await dnsQuery(dnsPort, 'web.service.consul')) !== null;
  }
  if (!ready) throw new Error(`a DNS server did not answer; unbound: ${ub.stderr()}`);

  console.log(
    `web.service.consul with ${instances} healthy instances; dnsperf over UDP, ${seconds} s each, ` +
      `medians of ${rounds} alternating rounds`,
  );
  const qps = (r: PerfResult): string => r.qps.toFixed(0);
  const p99 = (r: PerfResult): string => r.p99.toFixed(3);
  for (const type of ['A', 'SRV']) {
    const max = await alternate(
      () => perf(dnsPort, type, dir),
      () => perf(ubPort, type, dir),
    );
    const [tMax, uMax] = [summary(max.t), summary(max.u)];
    console.log(
      `${type.padEnd(3)} max: Trellis ${qps(tMax)} q/s${each(max.t, qps)}, unbound ${qps(uMax)} q/s${each(max.u, qps)} ` +
        `(ratio ${(tMax.qps / uMax.qps).toFixed(2)}; lost ${tMax.lost}/${tMax.sent} and ${uMax.lost}/${uMax.sent})`,
    );
    const at = await alternate(
      () => perf(dnsPort, type, dir, rate),
      () => perf(ubPort, type, dir, rate),
    );
    const [tRate, uRate] = [summary(at.t), summary(at.u)];
    console.log(
      `${type.padEnd(3)} at ${rate} q/s: Trellis p50 ${tRate.p50.toFixed(3)} ms p99 ${p99(tRate)} ms${each(at.t, p99)} ` +
        `(lost ${tRate.lost}/${tRate.sent}); unbound p50 ${uRate.p50.toFixed(3)} ms p99 ${p99(uRate)} ms${each(at.u, p99)} ` +
        `(lost ${uRate.lost}/${uRate.sent})`,
    );
  }

  // Freshness: web1 turns critical; how long until DNS stops returning its address?
  const flips: number[] = [];
  for (let round = 0; round < 5; round++) {
    const status = round % 2 === 0 ? 'critical' : 'passing';
    const t0 = performance.now();
    await fetch(`${agent.httpUrl}/v1/catalog/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Node: 'n1',
        Address: '10.0.0.2',
        SkipNodeUpdate: true,
        Check: { CheckID: 'web1', ServiceID: 'web1', Name: 'web', Status: status },
      }),
    });
    for (let i = 0; i < 500; i++) {
      const m = await dnsQuery(dnsPort, 'web.service.consul', true);
      // n1's A record: type A, class IN, TTL 0, RDLENGTH 4, 10.0.0.2.
      const has =
        m !== null && m.includes(Buffer.from([0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, 2]));
      if (has === (status === 'passing')) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    flips.push(performance.now() - t0);
  }
  console.log(
    `health change → DNS answer changed: ${flips.map((f) => f.toFixed(1)).join(', ')} ms`,
  );
} finally {
  await ub?.stop();
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}
