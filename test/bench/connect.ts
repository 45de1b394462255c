/**
 * Benchmark: the Connect control plane (issue: Connect control plane).
 *
 *     node test/dist/bench/connect.js [--proxies 1000] [--rounds 5] [--leaves 2000] [--cli PATH]
 *
 * 1. Leaf signing on one server:
 *    - the CA alone (@trellis/ca, in this process, 8 in flight): leaves/s;
 *    - end to end on a dev agent: `GET /v1/agent/connect/ca/leaf/<svc>` for distinct services
 *      (the agent makes a key and CSR, the server checks and signs it), 16 in flight, with
 *      CSRMaxPerSecond set to 0 (unlimited): leaves/s.
 * 2. `--proxies` sidecars registered on the agent, each with one upstream, and one proxy
 *    configuration stream per sidecar (port 8502 protocol, 10 streams per connection):
 *    - agent memory per connected proxy (RSS after the streams minus before, over the count);
 *    - for `--rounds` intention writes (`PUT /v1/config`, service-intentions on `*`): the time
 *      from the write until each stream holds a snapshot version carrying it, p50/p99/max.
 * There is no peer for these figures in the same run (Consul is not packaged for Debian);
 * they are reported as absolute numbers.
 */
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createLeafKeyAndCsr,
  createSigner,
  generateRoot,
  spiffeIdForService,
  trustDomainFor,
} from '@trellis/ca';
import { PROXY_CONFIG_METHOD, decodeProxyStreamDown } from '@trellis/connect';
import { RPC_PATH, RpcClient, type RpcStream } from '@trellis/rpc';
import { TrellisCluster, allocatePorts } from '@trellis/testkit';
import { int } from './args.js';

const { values } = parseArgs({
  options: {
    proxies: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    leaves: { type: 'string', default: '2000' },
    cli: { type: 'string' },
  },
});
const proxies = int('proxies', values.proxies, 1, 8000);
const rounds = int('rounds', values.rounds, 1, 100);
const leaves = int('leaves', values.leaves, 10, 100_000);
const cli =
  values.cli ?? fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function pool<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function until<T>(
  what: string,
  fn: () => T | undefined | false,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// ---------------------------------------------------------------- 1a. the CA alone

{
  const clusterId = '11111111-2222-3333-4444-555555555555';
  const trustDomain = trustDomainFor(clusterId);
  const root = await generateRoot({ trustDomain, clusterId, now: new Date() });
  const signer = await createSigner({ certPem: root.certPem, keyPem: root.keyPem });
  const csrs: string[] = [];
  for (let i = 0; i < 64; i++) {
    const uri = spiffeIdForService({ trustDomain, datacenter: 'dc1', service: `svc${i}` });
    csrs.push((await createLeafKeyAndCsr({ uri })).csrPem);
  }
  const t0 = performance.now();
  await pool(leaves, 8, (i) =>
    signer.signLeaf(csrs[i % csrs.length]!, {
      trustDomain,
      datacenter: 'dc1',
      ttlMs: 72 * 3_600_000,
      now: new Date(),
    }),
  );
  const s = (performance.now() - t0) / 1000;
  console.log(`leaf signing, CA only (EC P-256, 8 in flight): ${(leaves / s).toFixed(0)} leaves/s`);
}

// ---------------------------------------------------------------- the agent

const [grpcPort] = (await allocatePorts(1)) as [number];
const cluster = await TrellisCluster.start({
  cli,
  dev: true,
  extraArgs: () => [`-grpc-port=${grpcPort}`, '-log-level=warn'],
});
const clients: RpcClient[] = [];
try {
  const agent = cluster.agents[0]!;
  const api = async (method: string, path: string, body?: unknown): Promise<string> => {
    const res = await fetch(agent.httpUrl + path, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text;
  };
  for (let i = 0; i < 200; i++) {
    const roots = JSON.parse(await api('GET', '/v1/connect/ca/roots')) as { ActiveRootID: string };
    if (roots.ActiveRootID !== '') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await api('PUT', '/v1/connect/ca/configuration', {
    Provider: 'consul',
    Config: { CSRMaxPerSecond: 0, LeafCertTTL: '72h' },
  });

  // ------------------------------------------------------------ 1b. end to end
  const n = Math.min(leaves, 1000);
  const t0 = performance.now();
  await pool(n, 16, async (i) => {
    const leaf = JSON.parse(await api('GET', `/v1/agent/connect/ca/leaf/bench${i}`)) as {
      CertPEM: string;
    };
    if (i === 0) new X509Certificate(leaf.CertPEM); // a real certificate
  });
  const s = (performance.now() - t0) / 1000;
  console.log(
    `leaf issuance, agent endpoint end to end (key + CSR + sign, 16 in flight): ${(n / s).toFixed(0)} leaves/s`,
  );

  // ------------------------------------------------------------ 2. proxy streams
  await api('PUT', '/v1/config', { Kind: 'service-defaults', Name: 'db', Protocol: 'tcp' });
  await pool(proxies, 16, (i) =>
    api('PUT', '/v1/agent/service/register', {
      Name: `app${i}`,
      Port: 20000 + i,
      Connect: {
        SidecarService: {
          Port: 30000 + i,
          Checks: [{ Name: 'ttl', TTL: '1h' }],
          Proxy: { Upstreams: [{ DestinationName: 'db', LocalBindPort: 40000 + (i % 20000) }] },
        },
      },
    }),
  );
  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = agent.rssBytes() ?? 0;

  interface StreamState {
    version: number;
    marker: string;
  }
  const states: StreamState[] = [];
  const perConn = 10;
  const streams: RpcStream[] = [];
  for (let c = 0; c * perConn < proxies; c++) {
    const client = new RpcClient({
      url: `ws://127.0.0.1:${grpcPort}${RPC_PATH}`,
      nodeName: `p${c}`,
    });
    clients.push(client);
    const conn = await client.connection({ timeoutMs: 10_000 });
    for (let k = 0; k < perConn && c * perConn + k < proxies; k++) {
      const i = c * perConn + k;
      const st: StreamState = { version: 0, marker: '' };
      states.push(st);
      const stream = conn.openStream(PROXY_CONFIG_METHOD, { proxyId: `app${i}-sidecar-proxy` });
      streams.push(stream);
      void (async () => {
        try {
          for await (const m of stream) {
            const d = decodeProxyStreamDown(m);
            if (d.type !== 'snapshot') throw new Error(`stream ${i}: ${JSON.stringify(d)}`);
            st.version = d.version;
            st.marker = JSON.stringify(d.snapshot.publicListener?.authz ?? null);
            await stream.send({ type: 'ack', version: d.version });
          }
        } catch {
          // closed at the end
        }
      })();
    }
  }
  await until(
    'every stream has its first snapshot',
    () => states.every((s) => s.version > 0),
    120_000,
  );
  await new Promise((r) => setTimeout(r, 1000));
  const rssAfter = agent.rssBytes() ?? 0;
  console.log(
    `proxy streams: ${proxies} connected; agent RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB, ` +
      `${((rssAfter - rssBefore) / 1024 / proxies).toFixed(1)} KiB per proxy`,
  );

  const all: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const marker = `bench-${r}`;
    const arrived = new Array<number>(proxies).fill(NaN);
    const t = performance.now();
    await api('PUT', '/v1/config', {
      Kind: 'service-intentions',
      Name: '*',
      Sources: [{ Name: marker, Action: 'deny' }],
    });
    await until(
      `round ${r}: every stream has the intention`,
      () => {
        const now = performance.now();
        let done = true;
        states.forEach((s, i) => {
          if (Number.isNaN(arrived[i])) {
            if (s.marker.includes(marker)) arrived[i] = now - t;
            else done = false;
          }
        });
        return done;
      },
      60_000,
    );
    const sorted = [...arrived].sort((a, b) => a - b);
    all.push(...sorted);
    console.log(
      `  round ${r + 1}: intention write → all ${proxies} streams: p50 ${pct(sorted, 50).toFixed(0)} ms, ` +
        `p99 ${pct(sorted, 99).toFixed(0)} ms, max ${sorted.at(-1)?.toFixed(0)} ms`,
    );
  }
  all.sort((a, b) => a - b);
  console.log(
    `intention write → ${proxies} proxy streams over ${rounds} rounds: p50 ${pct(all, 50).toFixed(0)} ms, ` +
      `p99 ${pct(all, 99).toFixed(0)} ms, max ${all.at(-1)?.toFixed(0)} ms`,
  );
  for (const s of streams) s.cancel();
} finally {
  await Promise.all(clients.map((c) => c.close()));
  await cluster.close();
}
