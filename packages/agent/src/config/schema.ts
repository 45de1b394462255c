/**
 * The agent's configuration, in Consul's vocabulary: the JSON keys of a Consul config file
 * (snake_case) map one-to-one onto {@link RuntimeConfig}'s fields after defaults, files and
 * flags are merged. Only keys Trellis implements are accepted; an unknown key is an error
 * naming the file and key (Consul does the same), never silently ignored.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface Ports {
  /** HTTP API (Consul default 8500); -1 disables. */
  http: number;
  /** HTTPS API (Consul default disabled, -1; 8501 when TLS is set up). */
  https: number;
  /** Proxy configuration stream (Consul's gRPC port, 8502). */
  grpc: number;
  /** DNS over UDP and TCP (8600). */
  dns: number;
  /** LAN gossip (8301). */
  serf_lan: number;
  /** WAN gossip (8302). */
  serf_wan: number;
  /** Server RPC and Raft (8300). */
  server: number;
  /** First port for sidecar public listeners (21000). */
  sidecar_min_port: number;
  sidecar_max_port: number;
}

export interface DnsConfig {
  allow_stale: boolean;
  /** Milliseconds. */
  max_stale: number;
  /** Milliseconds. */
  node_ttl: number;
  /** Service name (or `*` wildcard suffix) → TTL in milliseconds. */
  service_ttl: Record<string, number>;
  enable_truncate: boolean;
  only_passing: boolean;
  udp_answer_limit: number;
}

export interface RuntimeConfig {
  node_name: string;
  datacenter: string;
  /** Empty in dev mode: state lives in memory. */
  data_dir: string;
  server: boolean;
  bootstrap: boolean;
  bootstrap_expect: number;
  bind_addr: string;
  client_addr: string;
  advertise_addr: string;
  retry_join: string[];
  /** Milliseconds. */
  retry_interval: number;
  /** Base64 gossip key ("" = unencrypted). */
  encrypt: string;
  log_level: LogLevel;
  ports: Ports;
  ui_config: { enabled: boolean };
  connect: {
    enabled: boolean;
    /** Run a built-in proxy for every sidecar registered on this agent. */
    sidecar_supervise?: boolean;
    ca_config?: Record<string, string | number>;
  };
  dns_config: DnsConfig;
  domain: string;
  alt_domain: string;
  recursors: string[];
  acl: { enabled: boolean; default_policy: 'allow' | 'deny' };
  enable_script_checks: boolean;
  /** Service definitions from config files (`service` and `services`), as written. */
  services: unknown[];
  /** Check definitions from config files (`check` and `checks`), as written. */
  checks: unknown[];
  node_meta: Record<string, string>;
  leave_on_terminate: boolean;
  /** Milliseconds a failed node stays before it is reaped (Consul: 72h). */
  reconnect_timeout: number;
  /** Milliseconds between anti-entropy full syncs before cluster-size scaling (Consul: 1m). */
  ae_interval: number;
  /** Milliseconds a check's output-only change may wait before it is synced (Consul: 5m). */
  check_update_interval: number;
  raft_snapshot_threshold: number;
  raft_trailing_logs: number;
  /** Consul's autopilot block: how the leader manages the server set. */
  autopilot: AutopilotConfig;
  /** True for `-dev`: in-memory, single server, UI and Connect on. */
  dev_mode: boolean;
}

export interface AutopilotConfig {
  /** Remove failed servers from the Raft configuration (keeping a majority alive). */
  cleanup_dead_servers: boolean;
  /** Milliseconds a server must be healthy before it is promoted to voter or counted stable. */
  server_stabilization_time: number;
  /** Milliseconds without leader contact after which a server is unhealthy. */
  last_contact_threshold: number;
  /** Log entries a server may lag the leader by and still be healthy. */
  max_trailing_logs: number;
}

/** How each key is parsed from JSON. Nested objects list their own keys. */
export type FieldKind =
  | { kind: 'string'; pattern?: RegExp; hint?: string }
  | { kind: 'bool' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'port' }
  | { kind: 'duration' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'strings' }
  | { kind: 'stringMap' }
  | { kind: 'durationMap' }
  /** Service or check definitions: one object or a list of them, validated by the agent
   * (local/definition.ts) against Consul's rules; `into` names the list they join. */
  | { kind: 'definitions'; into: 'services' | 'checks' }
  | { kind: 'object'; fields: Readonly<Record<string, FieldKind>> };

const port: FieldKind = { kind: 'port' };

/** Consul's node names: letters, digits, dashes, underscores and dots, 1–63 characters. */
export const NODE_NAME_RE = /^[A-Za-z0-9_.-]{1,63}$/;
/** Datacenter names: lower-case letters, digits, dashes and underscores (Consul lower-cases them). */
export const DATACENTER_RE = /^[a-z0-9_-]{1,63}$/;

export const SCHEMA: Readonly<Record<string, FieldKind>> = {
  node_name: {
    kind: 'string',
    pattern: NODE_NAME_RE,
    hint: 'letters, digits, "-", "_" and ".", at most 63',
  },
  datacenter: {
    kind: 'string',
    pattern: DATACENTER_RE,
    hint: 'lower-case letters, digits, "-" and "_"',
  },
  data_dir: { kind: 'string' },
  server: { kind: 'bool' },
  bootstrap: { kind: 'bool' },
  bootstrap_expect: { kind: 'int', min: 0, max: 9 },
  bind_addr: { kind: 'string' },
  client_addr: { kind: 'string' },
  advertise_addr: { kind: 'string' },
  retry_join: { kind: 'strings' },
  retry_interval: { kind: 'duration' },
  encrypt: { kind: 'string' },
  log_level: { kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'err'] },
  ports: {
    kind: 'object',
    fields: {
      http: port,
      https: port,
      grpc: port,
      dns: port,
      serf_lan: port,
      serf_wan: port,
      server: port,
      sidecar_min_port: port,
      sidecar_max_port: port,
    },
  },
  ui_config: { kind: 'object', fields: { enabled: { kind: 'bool' } } },
  connect: {
    kind: 'object',
    fields: {
      enabled: { kind: 'bool' },
      sidecar_supervise: { kind: 'bool' },
      // The built-in CA's settings for a new cluster (Consul's connect.ca_config); the
      // strings are checked by connect/ca-config.ts when the leader initialises the CA.
      ca_config: {
        kind: 'object',
        fields: {
          leaf_cert_ttl: { kind: 'string' },
          root_cert_ttl: { kind: 'string' },
          intermediate_cert_ttl: { kind: 'string' },
          rotation_period: { kind: 'string' },
          private_key_type: { kind: 'enum', values: ['ec', 'rsa'] },
          private_key_bits: { kind: 'int', min: 256, max: 4096 },
          csr_max_per_second: { kind: 'int', min: 0, max: 1_000_000 },
          csr_max_concurrent: { kind: 'int', min: 0, max: 1_000_000 },
          private_key: { kind: 'string' },
          root_cert: { kind: 'string' },
        },
      },
    },
  },
  autopilot: {
    kind: 'object',
    fields: {
      cleanup_dead_servers: { kind: 'bool' },
      server_stabilization_time: { kind: 'duration' },
      last_contact_threshold: { kind: 'duration' },
      max_trailing_logs: { kind: 'int', min: 0, max: 1_000_000_000 },
    },
  },
  dns_config: {
    kind: 'object',
    fields: {
      allow_stale: { kind: 'bool' },
      max_stale: { kind: 'duration' },
      node_ttl: { kind: 'duration' },
      service_ttl: { kind: 'durationMap' },
      enable_truncate: { kind: 'bool' },
      only_passing: { kind: 'bool' },
      udp_answer_limit: { kind: 'int', min: 1, max: 1000 },
    },
  },
  domain: { kind: 'string' },
  alt_domain: { kind: 'string' },
  recursors: { kind: 'strings' },
  acl: {
    kind: 'object',
    fields: {
      enabled: { kind: 'bool' },
      default_policy: { kind: 'enum', values: ['allow', 'deny'] },
    },
  },
  enable_script_checks: { kind: 'bool' },
  service: { kind: 'definitions', into: 'services' },
  services: { kind: 'definitions', into: 'services' },
  check: { kind: 'definitions', into: 'checks' },
  checks: { kind: 'definitions', into: 'checks' },
  node_meta: { kind: 'stringMap' },
  leave_on_terminate: { kind: 'bool' },
  reconnect_timeout: { kind: 'duration' },
  ae_interval: { kind: 'duration' },
  check_update_interval: { kind: 'duration' },
  raft_snapshot_threshold: { kind: 'int', min: 1, max: 1_000_000_000 },
  raft_trailing_logs: { kind: 'int', min: 0, max: 1_000_000_000 },
};
