/**
 * `connect.sidecar_supervise`: the agent runs a built-in proxy for each sidecar registered on
 * it — no separate proxy process — and stops it when the sidecar is deregistered.
 */
import test from 'ava';
import { connect } from 'node:net';
import { echoApp, tcpExchange, waitFor } from '@trellis/proxy/testing';
import { devAgent as startDevAgent } from '../http/dev-agent.js';
import { freePort, sidecar } from './dev-agent.js';

/** True when nothing listens on the port (the connection is refused). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

test('supervised sidecars carry web → db with no proxy process; deregistering stops them', async (t) => {
  const d = await startDevAgent(t, {
    extra: {
      ports: { http: 0, dns: -1, grpc: 0, server: 0, serf_lan: 0 },
      ae_interval: '1s',
      check_update_interval: '0s',
      connect: { sidecar_supervise: true },
    },
  });
  const app = await echoApp(t);
  const [dbPublic, webPublic, dbUpstream] = [await freePort(), await freePort(), await freePort()];
  t.is(
    (await d.req('PUT', '/v1/agent/service/register', sidecar('db', app.port, dbPublic))).status,
    200,
  );
  t.is(
    (
      await d.req(
        'PUT',
        '/v1/agent/service/register',
        sidecar('web', 1, webPublic, [{ DestinationName: 'db', LocalBindPort: dbUpstream }]),
      )
    ).status,
    200,
  );
  const sup = d.agent.sidecars;
  t.truthy(sup);
  await waitFor('two supervised sidecars', () => sup?.ids().length === 2);
  t.deepEqual(sup?.ids(), ['db-sidecar-proxy', 'web-sidecar-proxy']);
  // Default allow (no ACLs): traffic flows as soon as both proxies have their configuration.
  const echoed = await waitFor('an echo through the supervised sidecars', async () => {
    try {
      return (await tcpExchange(dbUpstream, 'ping', 2_000)) === 'ping';
    } catch {
      return false;
    }
  });
  t.true(echoed);

  t.is((await d.req('PUT', '/v1/agent/service/deregister/web-sidecar-proxy')).status, 200);
  await waitFor('web sidecar stopped', () => sup?.ids().join() === 'db-sidecar-proxy');
  await waitFor('its upstream listener closed', () => refused(dbUpstream));
  t.pass();
});
