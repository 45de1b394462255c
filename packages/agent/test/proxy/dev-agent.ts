/**
 * A real in-process dev agent (server, bootstrap, loopback, ephemeral ports) for end-to-end
 * tests, and small helpers around its HTTP API.
 */
import type { ExecutionContext } from 'ava';
import { createServer as createNetServer } from 'node:net';
import { listening } from '@trellis/proxy/testing';
import { devAgent as startDevAgent, req } from '../http/dev-agent.js';

export { req };

/** A dev agent with its proxy stream on an ephemeral port; `grpc` is that stream's address. */
export async function devAgent(t: ExecutionContext) {
  const d = await startDevAgent(t, {
    extra: {
      ports: { http: 0, dns: -1, grpc: 0, server: 0, serf_lan: 0 },
      ae_interval: '1s',
      check_update_interval: '0s',
    },
  });
  const port = d.agent.proxies?.address()?.port ?? 0;
  return { agent: d.agent, url: d.url, grpc: `127.0.0.1:${port}` };
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
