/**
 * An agent process: the server (Raft replica, RPC, gossip) and the HTTP API in front of it.
 * Client agents (gossip, local services and checks, forwarding to servers) are not built
 * yet; `Agent.start` refuses a non-server configuration with a message saying so.
 */
import type { PresetName } from '@trellis/gossip';
import type { RuntimeConfig } from './config/schema.js';
import { startHttpApi } from './http/index.js';
import type { AgentLogger } from './log.js';
import { Server } from './server/server.js';

export interface AgentOptions {
  readonly config: RuntimeConfig;
  readonly version: string;
  readonly logger: AgentLogger;
  /** Gossip timing preset (default 'lan'). */
  readonly gossipPreset?: PresetName;
}

export class AgentStartError extends Error {
  override readonly name = 'AgentStartError';
}

export class Agent {
  readonly #http: { url: string; port: number; close(): Promise<void> } | null;
  readonly #log: AgentLogger;
  #fatal: Error | null = null;
  /** Resolves when the agent has stopped (shutdown, leave, or a fatal error). */
  readonly done: Promise<void>;

  private constructor(
    readonly server: Server,
    http: { url: string; port: number; close(): Promise<void> } | null,
    log: AgentLogger,
  ) {
    this.#http = http;
    this.#log = log;
    this.done = server.stopped.then(() => this.#http?.close());
  }

  static async start(o: AgentOptions): Promise<Agent> {
    const cfg = o.config;
    if (!cfg.server) {
      throw new AgentStartError(
        'client agents are not built yet: run a server (-server, with -bootstrap-expect or -bootstrap) or -dev',
      );
    }
    let fatal: Error | null = null;
    const server = await Server.start({
      config: cfg,
      logger: o.logger,
      version: o.version,
      ...(o.gossipPreset === undefined ? {} : { gossipPreset: o.gossipPreset }),
      onFatal: (e) => {
        fatal = e;
      },
    });
    let http: Agent['httpInfo'] = null;
    try {
      if (cfg.ports.http >= 0) {
        http = await startHttpApi(server, {
          host: cfg.client_addr,
          port: cfg.ports.http,
          logger: o.logger.child({ name: 'agent.http' }),
        });
      }
    } catch (e) {
      await server.close();
      throw e;
    }
    const agent = new Agent(server, http, o.logger);
    void server.stopped.then(() => {
      agent.#fatal = fatal;
    });
    return agent;
  }

  get httpInfo(): { url: string; port: number; close(): Promise<void> } | null {
    return this.#http;
  }

  /** The error that stopped the agent, if it stopped itself. */
  get fatalError(): Error | null {
    return this.#fatal;
  }

  /** Stops without leaving the cluster (Consul's default for servers on SIGINT/SIGTERM). */
  async shutdown(): Promise<void> {
    this.#log.info({}, 'agent: shutting down');
    await this.#http?.close();
    await this.server.close();
    await this.done;
  }

  /** Leaves the cluster gracefully, then stops. */
  async leave(): Promise<void> {
    await this.server.leave();
    await this.done;
  }
}
