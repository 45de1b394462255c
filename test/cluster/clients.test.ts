/**
 * Client agents as a user runs them: 3 `trellis agent -server` and 3 `trellis agent
 * -retry-join=…` processes on loopback. Services are registered on the clients through the
 * agent API; their checks run against real sockets; failures are real signals (SIGKILL,
 * SIGTERM) to real processes; restarts reuse the data dirs.
 */
import test from 'ava';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrellisCluster, type TrellisAgent } from '@trellis/testkit';
import { eventually } from '../helpers/wait.js';

const CLI = fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function http(
  method: string,
  url: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<Answer> {
  const res = await fetch(url, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function getJson<T>(url: string): Promise<T> {
  const a = await http('GET', url);
  if (a.status !== 200) throw new Error(`GET ${url}: ${a.status} ${a.text}`);
  return JSON.parse(a.text) as T;
}

interface HealthEntry {
  Node: { Node: string };
  Service: { ID: string; Service: string };
  Checks: { CheckID: string; Status: string; Output: string }[];
}

interface CatalogCheck {
  Node: string;
  CheckID: string;
  Status: string;
}

/** A backend whose health answer the test sets (200 or 500). */
async function backend(): Promise<{ server: Server; port: number; setHealthy(v: boolean): void }> {
  let healthy = true;
  const server = createServer((req, res) => {
    res.statusCode = healthy ? 200 : 500;
    res.end(healthy ? 'ok' : 'boom');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { server, port, setHealthy: (v) => (healthy = v) };
}

/** Short anti-entropy and reap timings so the test sees them within seconds. */
function agentConfig(dir: string, name: string): string {
  const path = join(dir, `${name}-extra.json`);
  writeFileSync(
    path,
    JSON.stringify({ ae_interval: '2s', reconnect_timeout: '15s', check_update_interval: '1s' }),
  );
  return path;
}

test.serial(
  'client agents: registration, checks, failure, leave, anti-entropy, restart and failover',
  async (t) => {
    t.timeout(300_000);
    const be = await backend();
    t.teardown(() => new Promise<void>((r) => be.server.close(() => r())));
    const cfgDir = mkdtempSync(join(tmpdir(), 'trellis-clients-'));
    t.teardown(() => rmSync(cfgDir, { recursive: true, force: true }));
    const c = await TrellisCluster.start({
      cli: CLI,
      servers: 3,
      clients: 4,
      leaderTimeoutMs: 60_000,
      extraArgs: ({ name }) => [`-config-file=${agentConfig(cfgDir, name)}`],
    });
    t.teardown(() => c.close());
    const servers = c.agents.filter((a) => a.name.startsWith('s'));
    const clients = c.agents.filter((a) => a.name.startsWith('c'));
    const s1 = servers[0]!;
    const [c1, c2, c3, c4] = clients as [TrellisAgent, TrellisAgent, TrellisAgent, TrellisAgent];

    // Every client is a node in the catalog with a passing serfHealth check.
    await eventually('clients registered with serfHealth', async () => {
      const checks = await getJson<CatalogCheck[]>(`${s1.httpUrl}/v1/health/state/any`);
      const ok = clients.every((cl) =>
        checks.some(
          (k) => k.Node === cl.name && k.CheckID === 'serfHealth' && k.Status === 'passing',
        ),
      );
      return ok ? true : undefined;
    });
    // c1's own view of the pool converges by gossip, not when the leader has seen everyone.
    const members = await eventually('c1 sees all 7 members', async () => {
      const m = await getJson<{ Name: string; Tags: Record<string, string>; Status: number }[]>(
        `${c1.httpUrl}/v1/agent/members`,
      );
      return m.length === 7 ? m : undefined;
    });
    t.is(members.length, 7);
    t.is(members.find((m) => m.Name === 'c1')?.Tags.role, 'node');

    // Register "web" on c1–c3 with an HTTP check on the shared backend.
    for (const cl of [c1, c2, c3]) {
      const r = await http('PUT', `${cl.httpUrl}/v1/agent/service/register`, {
        Name: 'web',
        ID: `web-${cl.name}`,
        Port: be.port,
        Tags: ['v1'],
        Check: { HTTP: `http://127.0.0.1:${be.port}/health`, Interval: '1s', Timeout: '1s' },
      });
      t.is(r.status, 200, r.text);
    }
    const passing = async (n: number): Promise<HealthEntry[] | undefined> => {
      const list = await getJson<HealthEntry[]>(`${s1.httpUrl}/v1/health/service/web?passing`);
      return list.length === n ? list : undefined;
    };
    const up = await eventually('3 passing web instances', () => passing(3));
    t.deepEqual(up.map((e) => e.Node.Node).sort(), ['c1', 'c2', 'c3']);
    // Reads through a client are forwarded to a server and answered the same way.
    const viaClient = await http('GET', `${c2.httpUrl}/v1/health/service/web?passing`);
    t.is(viaClient.status, 200);
    t.truthy(viaClient.headers.get('x-consul-index'));
    t.is((JSON.parse(viaClient.text) as unknown[]).length, 3);
    // Writes through a client (KV) land in the replicated store.
    t.is((await http('PUT', `${c3.httpUrl}/v1/kv/from-client`, 'hello')).text.trim(), 'true');
    t.is((await http('GET', `${s1.httpUrl}/v1/kv/from-client?raw`)).text, 'hello');
    // A session created through a client belongs to the client's node, as on Consul.
    const sess = JSON.parse((await http('PUT', `${c3.httpUrl}/v1/session/create`, {})).text) as {
      ID: string;
    };
    const info = await getJson<{ Node: string }[]>(`${s1.httpUrl}/v1/session/info/${sess.ID}`);
    t.is(info[0]?.Node, 'c3');

    // The backend fails: every instance turns critical; ?passing returns none.
    be.setHealthy(false);
    await eventually('web critical everywhere', () => passing(0));
    const crit = await getJson<HealthEntry[]>(`${s1.httpUrl}/v1/health/service/web`);
    for (const e of crit) {
      const chk = e.Checks.find((k) => k.CheckID === `service:${e.Service.ID}`);
      t.is(chk?.Status, 'critical');
      t.regex(chk?.Output ?? '', /500/);
    }
    // Local health of a service on its agent: 503 while critical.
    t.is((await http('GET', `${c1.httpUrl}/v1/agent/health/service/id/web-c1`)).status, 503);
    be.setHealthy(true);
    await eventually('web passing again', () => passing(3));
    t.is((await http('GET', `${c1.httpUrl}/v1/agent/health/service/name/web`)).status, 200);

    // Anti-entropy: a service deleted behind the agent's back comes back; one registered for
    // the node by someone else is removed.
    t.is(
      (
        await http('PUT', `${s1.httpUrl}/v1/catalog/deregister`, {
          Node: 'c2',
          ServiceID: 'web-c2',
        })
      ).status,
      200,
    );
    t.is(
      (
        await http('PUT', `${s1.httpUrl}/v1/catalog/register`, {
          Node: 'c2',
          Address: '127.0.0.1',
          Service: { ID: 'intruder', Service: 'intruder', Port: 1 },
        })
      ).status,
      200,
    );
    await eventually('anti-entropy repaired c2', async () => {
      const n = await getJson<{ Services: Record<string, unknown> } | null>(
        `${s1.httpUrl}/v1/catalog/node/c2`,
      );
      const ids = Object.keys(n?.Services ?? {});
      return ids.includes('web-c2') && !ids.includes('intruder') ? true : undefined;
    });

    // The server c1 sends its RPCs to dies: c1 fails over to another one.
    type Self = { Stats: { rpc: Record<string, string> } };
    const rpc1 = (await getJson<Self>(`${c1.httpUrl}/v1/agent/self`)).Stats.rpc;
    const first = c.agent(rpc1.servers?.split(',')[0] ?? '');
    c.kill(first);
    await c.waitForLeader({ among: c.agents.filter((a) => a !== first), timeoutMs: 30_000 });
    t.is((await http('GET', `${c1.httpUrl}/v1/kv/from-client?raw`)).text, 'hello');
    const rpc2 = (await getJson<Self>(`${c1.httpUrl}/v1/agent/self`)).Stats.rpc;
    t.true(Number(rpc2.failovers) > Number(rpc1.failovers), JSON.stringify(rpc2));
    t.not(rpc2.servers?.split(',')[0], first.name);
    await c.restart(first);
    await c.waitForLeader({ timeoutMs: 60_000 });

    // A failover: kill the leader; nothing registered is lost, and changes keep flowing.
    const { leader } = await c.waitForLeader();
    const before = await getJson<CatalogCheck[]>(`${c1.httpUrl}/v1/health/state/any`);
    c.kill(leader);
    const rest = c.agents.filter((a) => a !== leader);
    await c.waitForLeader({ among: rest, timeoutMs: 30_000 });
    const after = await eventually('health readable after failover', async () =>
      getJson<CatalogCheck[]>(`${c1.httpUrl}/v1/health/state/any`),
    );
    for (const k of before) {
      t.true(
        after.some((x) => x.Node === k.Node && x.CheckID === k.CheckID),
        `${k.Node}/${k.CheckID} survived the failover`,
      );
    }
    be.setHealthy(false);
    await eventually('a check change after failover reaches the catalog', async () => {
      const list = await getJson<HealthEntry[]>(`${c1.httpUrl}/v1/health/service/web?passing`);
      return list.length === 0 ? true : undefined;
    });
    be.setHealthy(true);
    await c.restart(leader);
    await c.waitForLeader({ timeoutMs: 60_000 });
    await eventually('web passing after the old leader is back', async () => {
      const list = await getJson<HealthEntry[]>(`${c1.httpUrl}/v1/health/service/web?passing`);
      return list.length === 3 ? true : undefined;
    });

    // A restarted client comes back with its services (persisted in its data dir).
    await c1.stop();
    await c.restart(c1);
    await eventually('c1 agent answers again', async () => {
      const s = await getJson<Record<string, { Service: string }>>(
        `${c1.httpUrl}/v1/agent/services`,
      );
      return s['web-c1']?.Service === 'web' ? true : undefined;
    });
    await eventually('web-c1 passing after restart', async () => {
      const list = await getJson<HealthEntry[]>(`${s1.httpUrl}/v1/health/service/web?passing`);
      return list.some((e) => e.Service.ID === 'web-c1') ? true : undefined;
    });

    // SIGKILL of a client: its serfHealth turns critical within the gossip bound.
    const killed = c.kill(c3);
    await killed.exited;
    const t0 = performance.now();
    await eventually(
      'c3 serfHealth critical',
      async () => {
        const checks = await getJson<CatalogCheck[]>(`${s1.httpUrl}/v1/health/node/c3`);
        return checks.find((k) => k.CheckID === 'serfHealth')?.Status === 'critical'
          ? true
          : undefined;
      },
      60_000,
    );
    t.log(`c3 serfHealth critical ${Math.round(performance.now() - t0)} ms after SIGKILL`);
    const webAfterKill = await getJson<HealthEntry[]>(
      `${s1.httpUrl}/v1/health/service/web?passing`,
    );
    t.false(
      webAfterKill.some((e) => e.Node.Node === 'c3'),
      'a failed node’s services are not passing',
    );

    // force-leave of the failed client (once c1 sees it failed): the leader deregisters it.
    await eventually('c1 sees c3 failed', async () => {
      const m = await getJson<{ Name: string; Status: number }[]>(`${c1.httpUrl}/v1/agent/members`);
      return m.find((x) => x.Name === 'c3')?.Status === 4 ? true : undefined;
    });
    t.is((await http('PUT', `${c1.httpUrl}/v1/agent/force-leave/c3`)).status, 200);
    await eventually('c3 deregistered after force-leave', async () => {
      const n = await http('GET', `${s1.httpUrl}/v1/catalog/node/c3`);
      return n.text.trim() === 'null' ? true : undefined;
    });

    // A client that stays failed is reaped after reconnect_timeout (15 s here).
    const killedAt = performance.now();
    await c.kill(c4).exited;
    await eventually('c4 serfHealth critical', async () => {
      const checks = await getJson<CatalogCheck[]>(`${s1.httpUrl}/v1/health/node/c4`);
      return checks.find((k) => k.CheckID === 'serfHealth')?.Status === 'critical'
        ? true
        : undefined;
    });
    await eventually(
      'c4 reaped',
      async () => {
        const n = await http('GET', `${s1.httpUrl}/v1/catalog/node/c4`);
        return n.text.trim() === 'null' ? true : undefined;
      },
      90_000,
    );
    const reapedAfter = performance.now() - killedAt;
    t.log(`c4 reaped ${Math.round(reapedAfter)} ms after SIGKILL`);
    t.true(reapedAfter >= 15_000, 'not before reconnect_timeout');

    // Graceful leave (SIGTERM: clients leave by default): the node is deregistered.
    await c2.stop();
    await eventually('c2 deregistered after leaving', async () => {
      const n = await http('GET', `${s1.httpUrl}/v1/catalog/node/c2`);
      return n.text.trim() === 'null' ? true : undefined;
    });
    const left = await getJson<{ Name: string; Status: number }[]>(
      `${s1.httpUrl}/v1/agent/members`,
    );
    t.is(left.find((m) => m.Name === 'c2')?.Status, 3, 'c2 is "left" in gossip');
  },
);
