/**
 * Connect's control plane across real processes: 3 `trellis agent -server` and one client
 * agent on loopback. The CA is initialised once by the first leader and survives a leader
 * SIGKILL (same root, same trust domain, no second initialisation) and a restart of every
 * server (the root is in the Raft data dir); the client agent gets leaves signed by a server
 * over RPC that chain to the roots; config entries written through the client are read back
 * from the servers, and a write through a follower is checked against the leader's entries.
 */
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TrellisCluster, type TrellisAgent } from '@trellis/testkit';
import { eventually } from '../helpers/wait.js';

const CLI = fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));
const INIT_LOG = 'connect: initialised the built-in CA';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function http(
  method: string,
  url: string,
  body?: unknown,
  timeoutMs = 20_000,
): Promise<Answer> {
  const res = await fetch(url, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function getJson<T>(agent: TrellisAgent, path: string): Promise<T> {
  const a = await http('GET', agent.httpUrl + path);
  if (a.status !== 200) throw new Error(`${agent.name} GET ${path}: ${a.status} ${a.text}`);
  return JSON.parse(a.text) as T;
}

interface Roots {
  ActiveRootID: string;
  TrustDomain: string;
  Roots: { ID: string; RootCert: string; Active: boolean }[];
}

interface Leaf {
  SerialNumber: string;
  CertPEM: string;
  PrivateKeyPEM: string;
  ServiceURI: string;
}

/** How many times any server's log (all its runs) says it initialised the CA. */
function initialisations(servers: readonly TrellisAgent[]): number {
  let n = 0;
  for (const s of servers) n += readFileSync(s.logFile, 'utf8').split(INIT_LOG).length - 1;
  return n;
}

/** The roots as every running server's own replica has them, once they all agree. */
async function agreedRoots(servers: readonly TrellisAgent[]): Promise<Roots> {
  return eventually('every server to list the same active root', async () => {
    const all = await Promise.all(
      servers.filter((s) => s.running).map((s) => getJson<Roots>(s, '/v1/connect/ca/roots?stale')),
    );
    const first = all[0];
    if (first === undefined || first.ActiveRootID === '') return undefined;
    return all.every(
      (r) => r.ActiveRootID === first.ActiveRootID && r.TrustDomain === first.TrustDomain,
    )
      ? first
      : undefined;
  });
}

/** A leaf from `agent`'s cache, checked against the active root. */
async function checkedLeaf(
  t: { is(a: unknown, b: unknown, m?: string): void; true(v: boolean, m?: string): void },
  agent: TrellisAgent,
  service: string,
  roots: Roots,
): Promise<Leaf> {
  const leaf = await eventually(`a leaf for ${service} from ${agent.name}`, async () => {
    const r = await http(
      'GET',
      `${agent.httpUrl}/v1/agent/connect/ca/leaf/${service}`,
      undefined,
      40_000,
    );
    return r.status === 200 ? (JSON.parse(r.text) as Leaf) : undefined;
  });
  const uri = `spiffe://${roots.TrustDomain}/ns/default/dc/dc1/svc/${service}`;
  const cert = new X509Certificate(leaf.CertPEM);
  t.is(leaf.ServiceURI, uri);
  t.is(cert.subjectAltName, `URI:${uri}`);
  const root = roots.Roots.find((r) => r.Active)!;
  t.true(
    cert.verify(new X509Certificate(root.RootCert).publicKey),
    `${service} chains to the root`,
  );
  return leaf;
}

test.serial(
  'connect on a cluster: CA through failover and restarts, client leaves over RPC, config entries',
  async (t) => {
    t.timeout(120_000);
    const t0 = performance.now();
    const c = await TrellisCluster.start({
      cli: CLI,
      servers: 3,
      clients: 1,
      leaderTimeoutMs: 60_000,
    });
    t.teardown(() => c.close());
    const servers = c.agents.filter((a) => a.name.startsWith('s'));
    const c1 = c.agent('c1');

    // The first leader initialises the CA once; every replica has the same root.
    const roots = await agreedRoots(servers);
    t.regex(roots.TrustDomain, /^[0-9a-f-]{36}\.consul$/);
    t.is(roots.Roots.length, 1);
    t.is(initialisations(servers), 1);

    // The client agent: the servers' roots, and a leaf whose CSR a server signed over RPC.
    const c1Roots = await eventually('the client to see the roots', async () => {
      const r = await getJson<Roots>(c1, '/v1/agent/connect/ca/roots');
      return r.ActiveRootID === '' ? undefined : r;
    });
    t.is(c1Roots.ActiveRootID, roots.ActiveRootID);
    t.is(c1Roots.TrustDomain, roots.TrustDomain);
    const web = await checkedLeaf(t, c1, 'web', roots);
    const self = await getJson<{
      Config: { Server: boolean };
      Stats: { rpc: Record<string, string> };
    }>(c1, '/v1/agent/self');
    t.false(self.Config.Server);
    t.true(Number(self.Stats.rpc['calls.Client.ConnectSign'] ?? 0) >= 1, 'signed over RPC');

    // Config entries written through the client are the servers'.
    const sd = await http('PUT', `${c1.httpUrl}/v1/config`, {
      Kind: 'service-defaults',
      Name: 'reviews',
      Protocol: 'http',
    });
    t.is(sd.status, 200, sd.text);
    t.is(sd.text, 'true');
    const ixn = await http('PUT', `${c1.httpUrl}/v1/config`, {
      Kind: 'service-intentions',
      Name: 'reviews',
      Sources: [
        {
          Name: 'productpage',
          Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/reviews/' } }],
        },
      ],
    });
    t.is(ixn.status, 200, ixn.text);
    for (const s of servers) {
      const e = await getJson<{ Protocol: string }>(s, '/v1/config/service-defaults/reviews');
      t.is(e.Protocol, 'http', s.name);
      const list = await getJson<{ Name: string }[]>(s, '/v1/config/service-intentions');
      t.deepEqual(
        list.map((x) => x.Name),
        ['reviews'],
        s.name,
      );
    }
    // Written through the leader, then at once through a follower: the follower checks the L7
    // intention against the leader's entries, not against a replica that may lag behind.
    const { leader } = await c.waitForLeader();
    const follower = servers.find((s) => s !== leader)!;
    for (let i = 0; i < 5; i++) {
      const name = `ratings-${i}`;
      const w1 = await http('PUT', `${leader.httpUrl}/v1/config`, {
        Kind: 'service-defaults',
        Name: name,
        Protocol: 'http',
      });
      t.is(w1.status, 200, w1.text);
      const w2 = await http('PUT', `${follower.httpUrl}/v1/config`, {
        Kind: 'service-intentions',
        Name: name,
        Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }],
      });
      t.is(w2.status, 200, `${name} through ${follower.name}: ${w2.text}`);
    }

    // SIGKILL the leader: the next one keeps the CA as it is.
    const killed = c.kill(leader);
    await killed.exited;
    const { leader: next } = await c.waitForLeader({ timeoutMs: 30_000 });
    t.not(next.name, leader.name);
    const afterFailover = await agreedRoots(servers);
    t.is(afterFailover.ActiveRootID, roots.ActiveRootID);
    t.is(afterFailover.TrustDomain, roots.TrustDomain);
    t.is(afterFailover.Roots.length, 1);
    t.is(initialisations(servers), 1, 'no second initialisation');
    // Signing goes on: a new leaf on the client, and one on the new leader's own agent.
    await checkedLeaf(t, c1, 'api', roots);
    await checkedLeaf(t, next, 'billing', roots);
    // The client's cached leaf for web is still served as it was.
    t.is((await getJson<Leaf>(c1, '/v1/agent/connect/ca/leaf/web')).SerialNumber, web.SerialNumber);

    // Every server restarted (the killed one too) on its data dir: the same CA, still once.
    await Promise.all(servers.map((s) => s.stop()));
    for (const s of servers) s.start();
    await c.waitForLeader({ among: servers, timeoutMs: 60_000 });
    const afterRestart = await agreedRoots(servers);
    t.is(afterRestart.ActiveRootID, roots.ActiveRootID);
    t.is(afterRestart.TrustDomain, roots.TrustDomain);
    t.is(initialisations(servers), 1, 'no initialisation after the restart');
    for (const s of servers) {
      const e = await getJson<{ Protocol: string }>(s, '/v1/config/service-defaults/reviews');
      t.is(e.Protocol, 'http');
    }
    await checkedLeaf(t, c1, 'cache', roots);

    // The CSR rate limit, from the client: refusals are retried by the leaf cache, not by the
    // RPC layer as if the server had failed.
    const put = await http('PUT', `${c1.httpUrl}/v1/connect/ca/configuration`, {
      Config: { CSRMaxPerSecond: 1 },
    });
    t.is(put.status, 200, put.text);
    const failovers = async () =>
      Number(
        (await getJson<{ Stats: { rpc: Record<string, string> } }>(c1, '/v1/agent/self')).Stats.rpc
          .failovers,
      );
    const before = await failovers();
    const names = ['rl-0', 'rl-1', 'rl-2', 'rl-3'];
    await Promise.all(names.map((n) => checkedLeaf(t, c1, n, roots)));
    const stats = (
      await getJson<{ Stats: { connect: Record<string, string> } }>(c1, '/v1/agent/self')
    ).Stats.connect;
    t.is(await failovers(), before, 'a refusal is not a server failure');
    t.true(Number(stats.leaf_sign_failures) > 0, 'the leaf cache saw the refusals and retried');
    t.log(`cluster scenario in ${Math.round(performance.now() - t0)} ms`);
  },
);
