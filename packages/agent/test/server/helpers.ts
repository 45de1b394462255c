/**
 * In-process server clusters on loopback for the server tests: real RPC sockets, real UDP/TCP
 * gossip (the `local` preset), real Raft on files in a temporary directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, type Fragment } from '../../src/config/load.js';
import type { RuntimeConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { Server } from '../../src/server/server.js';

export { waitFor } from '../wait.js';

export class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'trellis-server-test-'));
  readonly servers = new Map<string, Server>();
  readonly logs: string[] = [];

  /** Builds a config for server `name` joining `seeds` (gossip ports). */
  config(name: string, extra: Record<string, unknown>, seeds: number[]): RuntimeConfig {
    // buildConfig validates its `flags` like a file's JSON, so the raw values go in.
    const flags = {
      node_name: name,
      datacenter: 'dc1',
      data_dir: join(this.dir, name),
      server: true,
      bind_addr: '127.0.0.1',
      client_addr: '127.0.0.1',
      retry_join: seeds.map((p) => `127.0.0.1:${p}`),
      retry_interval: '200ms',
      log_level: 'warn',
      ports: { http: -1, dns: -1, grpc: -1, server: 0, serf_lan: 0 },
      autopilot: { server_stabilization_time: '1s' },
      ...extra,
    } as Fragment;
    const config = buildConfig({ flags });
    return config;
  }

  async start(name: string, config: RuntimeConfig): Promise<Server> {
    const logger = createLogger({
      level: config.log_level,
      write: (line) => {
        this.logs.push(`${name} ${line}`);
      },
    });
    const s = await Server.start({ config, logger, version: 'test', gossipPreset: 'local' });
    this.servers.set(name, s);
    return s;
  }

  leader(): Server | undefined {
    for (const s of this.servers.values()) if (!s.closed && s.raft?.isLeader) return s;
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.servers.values()].map((s) => s.close()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
