/**
 * A real in-process dev agent (server, bootstrap, loopback, ephemeral ports) for end-to-end
 * tests, and small helpers around its HTTP API.
 */
import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, buildConfig, createLogger } from '@trellis/agent';
import { listening, waitFor } from './helpers.js';

export async function req(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as unknown };
}

export async function devAgent(t: ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-proxy-e2e-'));
  const config = buildConfig({
    flags: {
      node_name: 'dev1',
      datacenter: 'dc1',
      server: true,
      bootstrap: true,
      data_dir: join(dir, 'data'),
      bind_addr: '127.0.0.1',
      client_addr: '127.0.0.1',
      log_level: 'error',
      ports: { http: 0, dns: -1, grpc: 0, server: 0, serf_lan: 0 },
      ae_interval: '1s',
      check_update_interval: '0s',
    },
  });
  const agent = await Agent.start({
    config,
    version: '0.0.0-test',
    logger: createLogger({ level: 'error', write: () => {} }),
    gossipPreset: 'local',
  });
  t.teardown(async () => {
    await agent.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = agent.httpInfo?.url ?? '';
  await waitFor(
    'a leader',
    async () => (await req(url, 'GET', '/v1/status/leader')).text.length > 2,
  );
  const port = agent.proxies?.address()?.port ?? 0;
  return { agent, url, grpc: `127.0.0.1:${port}` };
}

/** A port free a moment ago (the agent needs fixed ports in registrations). */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  const port = await listening(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A service registration with a sidecar whose public listener binds 127.0.0.1:publicPort. */
export function sidecar(
  name: string,
  appPort: number,
  publicPort: number,
  upstreams: Array<{ DestinationName: string; LocalBindPort: number }> = [],
) {
  return {
    Name: name,
    Port: appPort,
    Connect: {
      SidecarService: {
        Port: publicPort,
        Proxy: { Config: { bind_address: '127.0.0.1' }, Upstreams: upstreams },
        // Healthy from the start (the default TCP check would take its first interval).
        Checks: [{ Name: 'up', TTL: '1h', Status: 'passing' }],
      },
    },
  };
}

export interface StreamStatusJson {
  Streams: Array<{
    Version: number;
    AckedVersion: number;
    LastNack: { Version: number; Error: string } | null;
  }>;
}
