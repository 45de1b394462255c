/**
 * DNS as operators use it: `dig` against the DNS port of a client agent and of a server in a
 * 3-server cluster, and a Debian `unbound` forwarding `consul.` to the client agent.
 * Instances are registered through the client's agent API; a failing check drops an
 * instance from the answers.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TrellisCluster, allocatePorts, startUnbound } from '@trellis/testkit';
import { peerTest, probe } from '@trellis/testkit/peers';
import { eventually } from '../helpers/wait.js';

const CLI = fileURLToPath(new URL('../../../cmd/trellis/bin/trellis.js', import.meta.url));
const dig = { name: 'dig (dnsutils)', missing: probe('dig', ['-v']) };
const unboundMissing = probe('unbound', ['-V']);

function runDig(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'dig',
      ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=2', ...args],
      { timeout: 20_000 },
      (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout)),
    );
  });
}

const short = async (port: number, ...args: string[]): Promise<string[]> =>
  (await runDig(port, '+short', ...args))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .sort();

async function put(url: string, body?: unknown): Promise<void> {
  const res = await fetch(url, {
    method: 'PUT',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  if (res.status !== 200) throw new Error(`PUT ${url}: ${res.status} ${await res.text()}`);
}

peerTest(
  'dig and unbound resolve services and nodes through a client agent and a server',
  dig,
  async (t) => {
    t.timeout(180_000);
    const dnsPorts = await allocatePorts(4);
    const c = await TrellisCluster.start({
      cli: CLI,
      servers: 3,
      clients: 1,
      leaderTimeoutMs: 60_000,
      extraArgs: ({ index }) => [`-dns-port=${dnsPorts[index]!}`],
    });
    t.teardown(() => c.close());
    const client = c.agent('c1');
    const clientDns = dnsPorts[3]!;
    const serverDns = dnsPorts[0]!;
    for (const [i, tags] of [
      [1, ['v2']],
      [2, []],
      [3, []],
    ] as const) {
      await put(`${client.httpUrl}/v1/agent/service/register`, {
        Name: 'web',
        ID: `web${i}`,
        Port: 8080 + i,
        Tags: tags,
        Check: { CheckID: `ttl-web${i}`, TTL: '10m', Status: 'passing' },
      });
    }
    const srv = (port: number, name = 'web.service.consul') =>
      eventually(`3 SRV answers for ${name}`, async () => {
        const lines = await short(port, name, 'SRV');
        return lines.length === 3 ? lines : undefined;
      });
    const viaClient = await srv(clientDns);
    t.deepEqual(
      viaClient.map((l) => l.split(' ').slice(2).join(' ')),
      ['8081 c1.node.dc1.consul.', '8082 c1.node.dc1.consul.', '8083 c1.node.dc1.consul.'],
    );
    t.deepEqual(await srv(serverDns), viaClient, 'a server answers the same');
    t.deepEqual(await short(clientDns, 'web.service.dc1.consul', 'A'), ['127.0.0.1']);
    t.deepEqual(
      (await short(clientDns, 'v2.web.service.consul', 'SRV')).map((l) => l.split(' ')[2]),
      ['8081'],
    );
    t.deepEqual(
      (await short(clientDns, '_web._v2.service.consul', 'SRV')).map((l) => l.split(' ')[2]),
      ['8081'],
    );
    t.deepEqual(await short(clientDns, 'c1.node.consul', 'A'), ['127.0.0.1']);
    const nx = await runDig(clientDns, 'nosuch.service.consul', 'A');
    t.regex(nx, /status: NXDOMAIN/);
    t.regex(nx, /AUTHORITY: 1/, 'NXDOMAIN carries the SOA');
    t.regex(await runDig(clientDns, 'web.service.dc9.consul', 'A'), /status: NXDOMAIN/);
    t.regex(await runDig(clientDns, 'example.org', 'A'), /status: REFUSED/, 'no recursors');

    // A failing check drops the instance from DNS.
    await put(`${client.httpUrl}/v1/agent/check/fail/ttl-web2`);
    await eventually('web2 gone from DNS', async () => {
      const lines = await short(clientDns, 'web.service.consul', 'SRV');
      return lines.length === 2 && !lines.some((l) => l.includes(' 8082 ')) ? true : undefined;
    });

    // Debian's unbound forwarding consul. to the client agent.
    if (unboundMissing !== null) {
      if (process.env['TRELLIS_REQUIRE_PEERS'] === '1')
        t.fail(`unbound missing: ${unboundMissing}`);
      else t.log(`unbound part skipped: ${unboundMissing}`);
      return;
    }
    const [ubPort] = await allocatePorts(1);
    const ub = startUnbound({ port: ubPort!, forward: { 'consul.': clientDns } });
    t.teardown(() => ub.stop());
    const viaUnbound = await eventually('unbound answers web.service.consul', async () => {
      const lines = await short(ubPort!, 'web.service.consul', 'SRV');
      return lines.length === 2 ? lines : undefined;
    });
    t.deepEqual(
      viaUnbound.map((l) => l.split(' ')[2]),
      ['8081', '8083'],
    );
  },
);
