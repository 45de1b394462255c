/**
 * `trellis agent`: runs a server agent (or `-dev`: an in-memory single server) in the
 * foreground, as `consul agent` does. It prints Consul's start banner, logs to stdout, and on
 * SIGINT/SIGTERM shuts down (without leaving the cluster, Consul's default for servers, unless
 * `leave_on_terminate` is set); a second signal exits at once.
 */
import {
  AGENT_FLAGS,
  Agent,
  AgentStartError,
  ConfigError,
  FlagValueError,
  buildConfig,
  createLogger,
  flagsToBuildInput,
  type RuntimeConfig,
} from '@trellis/agent';
import type { Command, Io } from '../command.js';
import { FlagError, formatFlags, parseFlags, type FlagSpec } from '../flags.js';
import { VERSION } from '../version-info.js';

const SPECS: readonly FlagSpec[] = [
  ...AGENT_FLAGS.map((f) => ({ name: f.name, kind: f.kind, usage: f.usage })),
  { name: 'log-json', kind: 'bool', usage: 'Log in JSON lines instead of the readable format.' },
];

function banner(cfg: RuntimeConfig, agent: Agent): string {
  const role = agent.server ?? agent.client;
  const http = agent.httpInfo;
  const host = agent.server ? agent.server.advertiseAddress : (agent.client?.address ?? '');
  const lan = (role?.gossipAddress ?? '').split(':').pop() ?? '';
  const rows: Array<[string, string]> = [
    ['Version', `'${VERSION}'`],
    ['Node ID', `'${role?.nodeId ?? ''}'`],
    ['Node name', `'${cfg.node_name}'`],
    ['Datacenter', `'${cfg.datacenter}' (Segment: '${cfg.server ? '<all>' : ''}')`],
    ['Server', `${String(cfg.server)} (Bootstrap: ${String(cfg.bootstrap)})`],
    [
      'Client Addr',
      `[${cfg.client_addr}] (HTTP: ${http ? http.port : -1}, HTTPS: -1, gRPC: ${agent.proxies?.address()?.port ?? -1}, DNS: ${agent.dns ? agent.dns.udpPort : -1})`,
    ],
    ['Cluster Addr', `${host} (LAN: ${lan}, WAN: -1)`],
    ['Gossip Encryption', String(cfg.encrypt !== '')],
    ['Data Dir', cfg.data_dir === '' ? '(in memory)' : cfg.data_dir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    cfg.dev_mode
      ? '==> Starting Trellis agent in -dev mode (state is in memory only)...'
      : '==> Starting Trellis agent...',
    '           Trellis agent running!',
    ...rows.map(([k, v]) => `${k.padStart(width + 11)}: ${v}`),
    '',
    '==> Log data will now stream in as it occurs:',
    '',
  ].join('\n');
}

export const agentCommand: Command = {
  name: 'agent',
  synopsis: 'Runs a Trellis agent',
  help: () =>
    [
      'Usage: trellis agent [options]',
      '',
      '  Starts a Trellis agent and runs until an interrupt is received. Servers form a Raft',
      '  cluster (-bootstrap-expect=N, or -bootstrap for one); -dev runs one in-memory server',
      '  with the HTTP API on 127.0.0.1:8500.',
      '',
      formatFlags(SPECS),
      '',
    ].join('\n'),
  async run(args: readonly string[], io: Io): Promise<number> {
    const parsed = parseFlags(SPECS, args);
    if (parsed.args.length > 0) {
      throw new FlagError(`unexpected arguments: ${parsed.args.join(' ')}`);
    }
    let cfg: RuntimeConfig;
    try {
      cfg = buildConfig(flagsToBuildInput(parsed.values));
    } catch (e) {
      if (e instanceof ConfigError || e instanceof FlagValueError) {
        io.stderr.write(`==> ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    if (!cfg.dev_mode && cfg.server && cfg.data_dir === '') {
      io.stderr.write('==> data_dir cannot be empty: give -data-dir (or use -dev)\n');
      return 1;
    }
    const logger = createLogger({
      level: cfg.log_level,
      json: parsed.values.get('log-json') === true,
      write: (line) => io.stdout.write(line),
    });
    let agent: Agent;
    try {
      agent = await Agent.start({ config: cfg, version: VERSION, logger });
    } catch (e) {
      if (e instanceof AgentStartError) {
        io.stderr.write(`==> ${e.message}\n`);
        return 1;
      }
      io.stderr.write(`==> Error starting agent: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    io.stdout.write(banner(cfg, agent));
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        io.stderr.write(`==> Caught second signal ${sig}. Exiting\n`);
        process.exit(1);
      }
      io.stdout.write(`==> Caught signal: ${sig}\n`);
      void (cfg.leave_on_terminate ? agent.leave() : agent.shutdown());
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await agent.done;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (agent.fatalError) {
      io.stderr.write(`==> Agent stopped on an error: ${agent.fatalError.message}\n`);
      return 1;
    }
    io.stdout.write('==> Trellis agent stopped\n');
    return 0;
  },
};
