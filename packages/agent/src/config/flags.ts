/**
 * The `trellis agent` command-line flags, named as Consul's, and how each maps onto a config
 * key. The CLI parses argv with these specs; {@link flagsToBuildInput} turns the parsed values
 * into the last config source (so flags override files, as in Consul).
 */
import type { BuildInput, Fragment } from './load.js';

export interface AgentFlagSpec {
  readonly name: string;
  readonly kind: 'string' | 'int' | 'bool' | 'list';
  readonly usage: string;
  /** Dotted config key the flag sets; absent for flags handled specially. */
  readonly key?: string;
}

export const AGENT_FLAGS: readonly AgentFlagSpec[] = [
  {
    name: 'dev',
    kind: 'bool',
    usage: 'Development mode: an in-memory server with UI, DNS and Connect on loopback.',
  },
  { name: 'config-file', kind: 'list', usage: 'A JSON config file to load. May be repeated.' },
  {
    name: 'config-dir',
    kind: 'list',
    usage: 'A directory of *.json config files, read in lexical order. May be repeated.',
  },
  {
    name: 'server',
    kind: 'bool',
    usage: 'Run in server mode (Raft replica of the catalog).',
    key: 'server',
  },
  {
    name: 'bootstrap',
    kind: 'bool',
    usage: 'Bootstrap a single server without waiting for peers.',
    key: 'bootstrap',
  },
  {
    name: 'bootstrap-expect',
    kind: 'int',
    usage: 'Servers to wait for before bootstrapping the cluster.',
    key: 'bootstrap_expect',
  },
  {
    name: 'node',
    kind: 'string',
    usage: 'Name of this node (default: the host name).',
    key: 'node_name',
  },
  {
    name: 'datacenter',
    kind: 'string',
    usage: 'Datacenter of the agent (default dc1).',
    key: 'datacenter',
  },
  { name: 'data-dir', kind: 'string', usage: 'Directory for durable state.', key: 'data_dir' },
  {
    name: 'bind',
    kind: 'string',
    usage: 'Address to bind cluster traffic (gossip, RPC) to.',
    key: 'bind_addr',
  },
  {
    name: 'client',
    kind: 'string',
    usage: 'Address to bind client interfaces (HTTP, DNS) to.',
    key: 'client_addr',
  },
  {
    name: 'advertise',
    kind: 'string',
    usage: 'Address to advertise to other nodes.',
    key: 'advertise_addr',
  },
  {
    name: 'retry-join',
    kind: 'list',
    usage: 'Address of an agent to join, retried until it works. May be repeated.',
    key: 'retry_join',
  },
  {
    name: 'join',
    kind: 'list',
    usage: 'Address of an agent to join at start-up (treated like -retry-join). May be repeated.',
    key: 'retry_join',
  },
  {
    name: 'retry-interval',
    kind: 'string',
    usage: 'Time between join attempts (default 30s).',
    key: 'retry_interval',
  },
  {
    name: 'encrypt',
    kind: 'string',
    usage: 'Gossip encryption key (base64, from `trellis keygen`).',
    key: 'encrypt',
  },
  {
    name: 'log-level',
    kind: 'string',
    usage: 'trace, debug, info, warn or error.',
    key: 'log_level',
  },
  { name: 'ui', kind: 'bool', usage: 'Serve the web UI at /ui/.', key: 'ui_config.enabled' },
  { name: 'domain', kind: 'string', usage: 'DNS domain (default consul.).', key: 'domain' },
  { name: 'alt-domain', kind: 'string', usage: 'An alternate DNS domain.', key: 'alt_domain' },
  {
    name: 'recursor',
    kind: 'list',
    usage: 'Upstream DNS server for names outside the domain. May be repeated.',
    key: 'recursors',
  },
  {
    name: 'node-meta',
    kind: 'list',
    usage: 'Node metadata as key:value. May be repeated.',
    key: 'node_meta',
  },
  {
    name: 'enable-script-checks',
    kind: 'bool',
    usage: 'Allow checks that run scripts (Args).',
    key: 'enable_script_checks',
  },
  { name: 'http-port', kind: 'int', usage: 'HTTP API port (default 8500).', key: 'ports.http' },
  {
    name: 'https-port',
    kind: 'int',
    usage: 'HTTPS API port (default disabled).',
    key: 'ports.https',
  },
  {
    name: 'grpc-port',
    kind: 'int',
    usage: 'Proxy configuration stream port (default 8502).',
    key: 'ports.grpc',
  },
  {
    name: 'sidecar-supervise',
    kind: 'bool',
    usage: 'Run a built-in proxy for every sidecar service registered on this agent.',
    key: 'connect.sidecar_supervise',
  },
  { name: 'dns-port', kind: 'int', usage: 'DNS port (default 8600).', key: 'ports.dns' },
  {
    name: 'serf-lan-port',
    kind: 'int',
    usage: 'LAN gossip port (default 8301).',
    key: 'ports.serf_lan',
  },
  {
    name: 'serf-wan-port',
    kind: 'int',
    usage: 'WAN gossip port (default 8302).',
    key: 'ports.serf_wan',
  },
  {
    name: 'server-port',
    kind: 'int',
    usage: 'Server RPC and Raft port (default 8300).',
    key: 'ports.server',
  },
];

export class FlagValueError extends Error {
  readonly code = 'ERR_FLAG';
}

/** Turns parsed flag values (name → value) into the config builder's input. */
export function flagsToBuildInput(values: ReadonlyMap<string, unknown>): BuildInput {
  const frag: Fragment = {};
  for (const spec of AGENT_FLAGS) {
    if (!values.has(spec.name) || spec.key === undefined) continue;
    let v = values.get(spec.name);
    if (spec.name === 'node-meta') {
      const meta: Record<string, string> = {};
      for (const kv of v as string[]) {
        const i = kv.indexOf(':');
        if (i <= 0)
          throw new FlagValueError(`invalid value "${kv}" for flag -node-meta: expected key:value`);
        meta[kv.slice(0, i)] = kv.slice(i + 1);
      }
      v = meta;
    }
    setPath(frag, spec.key, v);
  }
  const list = (n: string) => (values.get(n) as string[] | undefined) ?? [];
  return {
    dev: values.get('dev') === true,
    configFiles: list('config-file'),
    configDirs: list('config-dir'),
    flags: frag,
  };
}

function setPath(obj: Fragment, dotted: string, v: unknown): void {
  const parts = dotted.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Fragment;
  const last = parts[parts.length - 1]!;
  const prev = cur[last];
  // -join and -retry-join both feed retry_join: keep both lists.
  cur[last] =
    Array.isArray(prev) && Array.isArray(v) ? [...(prev as unknown[]), ...(v as unknown[])] : v;
}
