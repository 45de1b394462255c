/**
 * An agent process. A server agent is a Raft replica of the state store (server/server.ts);
 * a client agent is a gossip member that reaches the servers over RPC (client/client.ts).
 * Both own the node's services and checks (local/agent.ts: local state, check runners,
 * anti-entropy) and serve the HTTP API: a server answers from its replica, a client answers
 * the agent endpoints itself and forwards the rest to a server.
 */
import { DnsServer } from '@trellis/dns';
import type { PresetName } from '@trellis/gossip';
import { Client } from './client/client.js';
import { AgentConnect } from './connect/agent-connect.js';
import { ProxyStreams } from './connect/proxy-streams.js';
import { SidecarSupervisor } from './connect/supervise.js';
import type { RuntimeConfig } from './config/schema.js';
import type { AgentApi } from './http/backend.js';
import { startHttpApi } from './http/index.js';
import { LocalAgent } from './local/agent.js';
import {
  DefinitionError,
  parseCheckDefinition,
  parseServiceDefinition,
} from './local/definition.js';
import type { CheckDefinition, LocalService } from './local/types.js';
import type { AgentLogger } from './log.js';
import { Server } from './server/server.js';

export interface AgentOptions {
  readonly config: RuntimeConfig;
  readonly version: string;
  readonly logger: AgentLogger;
  /** Gossip timing preset (default 'lan'). */
  readonly gossipPreset?: PresetName;
  /** Anti-entropy timings (tests shorten them). */
  readonly syncIntervalMs?: number;
  readonly syncRetryMinMs?: number;
  readonly reapIntervalMs?: number;
}

export class AgentStartError extends Error {
  override readonly name = 'AgentStartError';
}

type Http = { url: string; port: number; close(): Promise<void> };

/** Parses the config file's service and check definitions (a bad one stops the start). */
function configDefinitions(
  cfg: RuntimeConfig,
  local: LocalAgent,
): {
  services: { service: LocalService; checks: CheckDefinition[] }[];
  checks: CheckDefinition[];
} {
  const services: { service: LocalService; checks: CheckDefinition[] }[] = [];
  const checks: CheckDefinition[] = [];
  const used = new Set<number>();
  cfg.services.forEach((raw, i) => {
    try {
      const p = parseServiceDefinition(raw, local.definitionContext(used, 'local'));
      services.push({ service: p.service, checks: p.checks });
      if (p.sidecar) {
        services.push({ service: p.sidecar.service, checks: p.sidecar.checks });
        used.add(p.sidecar.service.Port);
      }
    } catch (e) {
      if (e instanceof DefinitionError) {
        throw new AgentStartError(`services[${i}]: ${e.message}`);
      }
      throw e;
    }
  });
  const ids = new Set(services.map((s) => s.service.ID));
  cfg.checks.forEach((raw, i) => {
    try {
      checks.push(
        parseCheckDefinition(raw, {
          ...local.checkDefinitionContext('local'),
          serviceExists: (id) => ids.has(id) || local.service(id) !== undefined,
        }),
      );
    } catch (e) {
      if (e instanceof DefinitionError) throw new AgentStartError(`checks[${i}]: ${e.message}`);
      throw e;
    }
  });
  return { services, checks };
}

export class Agent {
  readonly #http: Http | null;
  readonly #log: AgentLogger;
  #fatal: Error | null = null;
  /** Resolves when the agent has stopped (shutdown, leave, or a fatal error). */
  readonly done: Promise<void>;

  private constructor(
    readonly server: Server | null,
    readonly client: Client | null,
    readonly local: LocalAgent,
    readonly connect: AgentConnect | null,
    readonly proxies: ProxyStreams | null,
    readonly sidecars: SidecarSupervisor | null,
    http: Http | null,
    readonly dns: DnsServer | null,
    log: AgentLogger,
  ) {
    this.#http = http;
    this.#log = log;
    const stopped = server ? server.stopped : (client as Client).stopped;
    this.done = stopped.then(async () => {
      await sidecars?.close();
      await proxies?.close();
      connect?.close();
      local.stop();
      await Promise.all([this.#http?.close(), dns?.close()]);
    });
  }

  static async start(o: AgentOptions): Promise<Agent> {
    const cfg = o.config;
    let fatal: Error | null = null;
    let localRef: LocalAgent | null = null;
    const localServices = (): LocalService[] => localRef?.services() ?? [];
    let server: Server | null = null;
    let client: Client | null = null;
    if (cfg.server) {
      server = await Server.start({
        config: cfg,
        logger: o.logger,
        version: o.version,
        localServices,
        ...(o.gossipPreset === undefined ? {} : { gossipPreset: o.gossipPreset }),
        onFatal: (e) => {
          fatal = e;
        },
      });
    } else {
      client = await Client.start({
        config: cfg,
        logger: o.logger,
        version: o.version,
        localServices,
        ...(o.gossipPreset === undefined ? {} : { gossipPreset: o.gossipPreset }),
      });
    }
    const role = (server ?? client) as Server | Client;
    const address = server ? server.advertiseAddress : (client as Client).address;
    const local = new LocalAgent({
      identity: {
        node: cfg.node_name,
        id: role.nodeId,
        address,
        datacenter: cfg.datacenter,
        taggedAddresses: {
          lan: address,
          lan_ipv4: address,
          wan: address,
          wan_ipv4: address,
        },
        meta: { ...cfg.node_meta, 'consul-network-segment': '' },
      },
      dataDir: cfg.data_dir,
      catalog: server ? server.localCatalog() : (client as Client).catalog(),
      logger: o.logger.child({ name: 'agent.local' }),
      clusterSize: () => role.clusterSize(),
      enableScriptChecks: cfg.enable_script_checks,
      sidecarPorts: { min: cfg.ports.sidecar_min_port, max: cfg.ports.sidecar_max_port },
      syncIntervalMs: o.syncIntervalMs ?? cfg.ae_interval,
      checkUpdateIntervalMs: cfg.check_update_interval,
      ...(o.syncRetryMinMs === undefined ? {} : { syncRetryMinMs: o.syncRetryMinMs }),
      ...(o.reapIntervalMs === undefined ? {} : { reapIntervalMs: o.reapIntervalMs }),
    });
    localRef = local;
    const connect = cfg.connect.enabled
      ? new AgentConnect({
          datacenter: cfg.datacenter,
          nodeName: cfg.node_name,
          defaultAllow: cfg.acl.default_policy !== 'deny',
          logger: o.logger.child({ name: 'agent.connect' }),
          get: server
            ? (url) => server.httpGet(url)
            : (url, signal) =>
                (client as Client).forward(
                  { method: 'GET', url, headers: {}, body: new Uint8Array() },
                  signal,
                ),
          sign: server
            ? (csr) => server.ca.sign(csr)
            : (csr, signal) => (client as Client).connectSign(csr, signal),
        })
      : undefined;
    let http: Http | null = null;
    let dns: DnsServer | null = null;
    let sidecars: SidecarSupervisor | null = null;
    const identity = local.identity;
    const proxies =
      connect === undefined
        ? undefined
        : new ProxyStreams({
            connect,
            local,
            logger: o.logger.child({ name: 'agent.connect.proxy' }),
            node: () => ({
              ID: identity.id,
              Node: identity.node,
              Address: identity.address,
              Datacenter: identity.datacenter,
              TaggedAddresses: identity.taggedAddresses,
              Meta: identity.meta,
              CreateIndex: 0,
              ModifyIndex: 0,
            }),
          });
    try {
      local.start(configDefinitions(cfg, local));
      const api: AgentApi = {
        nodeName: cfg.node_name,
        datacenter: cfg.datacenter,
        isServer: cfg.server,
        local,
        ...(connect ? { connect } : {}),
        ...(proxies ? { proxies } : {}),
        members: () => role.members(),
        self: () => {
          const info = role.self();
          const checks = local.checks();
          return {
            ...info,
            Stats: {
              ...info.Stats,
              ...(connect ? { connect: connect.stats() } : {}),
              agent: {
                check_monitors: String(checks.filter((c) => c.def.kind === 'script').length),
                check_ttls: String(checks.filter((c) => c.def.kind === 'ttl').length),
                checks: String(checks.length),
                services: String(local.services().length),
              },
            },
          };
        },
        leave: async () => {
          local.stop();
          await role.leave();
        },
        join: (addrs) => role.join(addrs),
        forceLeave: (node) => Promise.resolve(role.forceLeave(node)),
        fireEvent: (r) => role.fireEvent(r),
        events: () => role.events(),
        waitEvent: (s) => role.waitEvent(s),
      };
      if (cfg.ports.http >= 0) {
        http = await startHttpApi(server, {
          host: cfg.client_addr,
          port: cfg.ports.http,
          logger: o.logger.child({ name: 'agent.http' }),
          agent: api,
          aclDefaultPolicy: cfg.acl.default_policy,
          ...(client ? { forward: client.forward.bind(client) } : {}),
        });
      }
      if (proxies !== undefined && cfg.ports.grpc >= 0) {
        const at = await proxies.listen(cfg.client_addr, cfg.ports.grpc);
        if (cfg.connect.sidecar_supervise === true) {
          const host = at.host === '0.0.0.0' || at.host === '::' ? '127.0.0.1' : at.host;
          sidecars = new SidecarSupervisor({
            local,
            agentAddr: `${host.includes(':') ? `[${host}]` : host}:${at.port}`,
            logger: o.logger.child({ name: 'agent.connect.supervise' }),
          });
        }
      }
      if (cfg.ports.dns >= 0) {
        dns = await DnsServer.listen({
          handler: server ? server.dnsHandler() : (client as Client).dnsAnswerer(),
          host: cfg.client_addr,
          port: cfg.ports.dns,
          logger: o.logger.child({ name: 'agent.dns' }),
        });
      }
    } catch (e) {
      await sidecars?.close();
      await proxies?.close();
      connect?.close();
      local.stop();
      await http?.close();
      await role.close();
      throw e;
    }
    const agent = new Agent(
      server,
      client,
      local,
      connect ?? null,
      proxies ?? null,
      sidecars,
      http,
      dns,
      o.logger,
    );
    void role.stopped.then(() => {
      agent.#fatal = fatal;
    });
    return agent;
  }

  get httpInfo(): Http | null {
    return this.#http;
  }

  /** The error that stopped the agent, if it stopped itself. */
  get fatalError(): Error | null {
    return this.#fatal;
  }

  /** Stops without leaving the cluster (Consul's default for servers on SIGINT/SIGTERM). */
  async shutdown(): Promise<void> {
    this.#log.info({}, 'agent: shutting down');
    await this.sidecars?.close();
    await this.proxies?.close();
    this.connect?.close();
    this.local.stop();
    await Promise.all([this.#http?.close(), this.dns?.close()]);
    await (this.server ?? this.client)?.close();
    await this.done;
  }

  /** Leaves the cluster gracefully, then stops. */
  async leave(): Promise<void> {
    await this.sidecars?.close();
    await this.proxies?.close();
    this.connect?.close();
    this.local.stop();
    await (this.server ?? this.client)?.leave();
    await this.done;
  }
}
