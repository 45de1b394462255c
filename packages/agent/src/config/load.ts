/**
 * Building the agent's configuration as Consul does: defaults (dev or not), then config
 * files in order (each `-config-file`, then every `*.json` of each `-config-dir` in lexical
 * order), then command-line flags. Later sources override earlier ones for single values;
 * lists are appended (`retry_join` from two files joins both); maps merge key by key.
 *
 * Every problem is reported with its source (file name or "command line") and key, all at
 * once, in a {@link ConfigError}.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from './duration.js';
import { SCHEMA, NODE_NAME_RE, type FieldKind, type RuntimeConfig } from './schema.js';

/** Largest config file read (a config is a few KB; this bounds a mistaken path). */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? problems[0]!
        : `${problems.length} errors:\n${problems.map((p) => `  * ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/** A partial configuration as read from one source, values already typed. */
export type Fragment = Record<string, unknown>;

const HOUR = 3_600_000;

/** Consul's defaults; `dev` adds `-dev`'s (single in-memory server on loopback, UI, Connect). */
export function defaults(dev: boolean): RuntimeConfig {
  const host = hostname().split('.')[0] ?? 'node';
  return {
    node_name: NODE_NAME_RE.test(host) ? host : 'node',
    datacenter: 'dc1',
    data_dir: '',
    server: dev,
    bootstrap: dev,
    bootstrap_expect: 0,
    bind_addr: dev ? '127.0.0.1' : '0.0.0.0',
    client_addr: '127.0.0.1',
    advertise_addr: '',
    retry_join: [],
    retry_interval: 30_000,
    encrypt: '',
    log_level: dev ? 'debug' : 'info',
    ports: {
      http: 8500,
      https: -1,
      grpc: 8502,
      dns: 8600,
      serf_lan: 8301,
      serf_wan: 8302,
      server: 8300,
      sidecar_min_port: 21000,
      sidecar_max_port: 21255,
    },
    ui_config: { enabled: dev },
    connect: { enabled: true },
    dns_config: {
      allow_stale: true,
      // Consul's default max_stale: 87,600 h (ten years) — DNS answers from any server.
      max_stale: 87_600 * HOUR,
      node_ttl: 0,
      service_ttl: {},
      enable_truncate: false,
      only_passing: false,
      udp_answer_limit: 3,
    },
    domain: 'consul.',
    alt_domain: '',
    recursors: [],
    acl: { enabled: false, default_policy: 'allow' },
    enable_script_checks: false,
    services: [],
    checks: [],
    node_meta: {},
    leave_on_terminate: false,
    reconnect_timeout: 72 * HOUR,
    ae_interval: 60_000,
    check_update_interval: 5 * 60_000,
    raft_snapshot_threshold: 16384,
    raft_trailing_logs: 10240,
    // Consul's autopilot defaults.
    autopilot: {
      cleanup_dead_servers: true,
      server_stabilization_time: 10_000,
      last_contact_threshold: 200,
      max_trailing_logs: 250,
    },
    dev_mode: dev,
  };
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v;
}

/** Checks one source's raw JSON value against the schema; returns typed values. */
export function validateFragment(raw: unknown, source: string, problems: string[]): Fragment {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${source}: the top level must be an object, got ${describe(raw)}`);
    return {};
  }
  return walk(raw as Record<string, unknown>, SCHEMA, '', source, problems);
}

function walk(
  obj: Record<string, unknown>,
  fields: Readonly<Record<string, FieldKind>>,
  prefix: string,
  source: string,
  problems: string[],
): Fragment {
  const out: Fragment = {};
  for (const [key, value] of Object.entries(obj)) {
    const path = prefix + key;
    const spec = fields[key];
    if (!spec) {
      problems.push(`${source}: invalid config key ${path}`);
      continue;
    }
    const bad = (want: string) =>
      problems.push(
        `${source}: ${path}: expected ${want}, got ${describe(value)} ${JSON.stringify(value)}`,
      );
    switch (spec.kind) {
      case 'string':
        if (typeof value !== 'string') bad('a string');
        else if (spec.pattern && !spec.pattern.test(value))
          problems.push(
            `${source}: ${path}: invalid value ${JSON.stringify(value)} (${spec.hint ?? spec.pattern.source})`,
          );
        else out[key] = value;
        break;
      case 'bool':
        if (typeof value !== 'boolean') bad('true or false');
        else out[key] = value;
        break;
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value)) bad('an integer');
        else if (value < spec.min || value > spec.max)
          problems.push(`${source}: ${path}: ${value} is out of range ${spec.min}..${spec.max}`);
        else out[key] = value;
        break;
      case 'port':
        if (typeof value !== 'number' || !Number.isInteger(value)) bad('a port number');
        else if (value !== -1 && (value < 0 || value > 65535))
          problems.push(`${source}: ${path}: ${value} is not a port (0–65535, or -1 to disable)`);
        else out[key] = value;
        break;
      case 'duration': {
        const ms = durationValue(value);
        if (ms === undefined) bad('a duration such as "30s" or "72h"');
        else out[key] = ms;
        break;
      }
      case 'enum':
        if (typeof value !== 'string' || !spec.values.includes(value))
          bad(`one of ${spec.values.join(', ')}`);
        else out[key] = value === 'err' ? 'error' : value;
        break;
      case 'strings':
        if (!Array.isArray(value) || !value.every((x) => typeof x === 'string'))
          bad('a list of strings');
        else out[key] = [...value];
        break;
      case 'stringMap':
        if (
          value === null ||
          typeof value !== 'object' ||
          Array.isArray(value) ||
          !Object.values(value).every((x) => typeof x === 'string')
        )
          bad('an object of strings');
        else out[key] = { ...(value as Record<string, string>) };
        break;
      case 'durationMap': {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          bad('an object of durations');
          break;
        }
        const m: Record<string, number> = {};
        for (const [k, v] of Object.entries(value)) {
          const ms = durationValue(v);
          if (ms === undefined)
            problems.push(
              `${source}: ${path}.${k}: expected a duration such as "30s", got ${JSON.stringify(v)}`,
            );
          else m[k] = ms;
        }
        out[key] = m;
        break;
      }
      case 'definitions': {
        const list: unknown[] = Array.isArray(value) ? (value as unknown[]) : [value];
        if (!list.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) {
          bad('a definition object or a list of them');
          break;
        }
        const prev = (out[spec.into] as unknown[] | undefined) ?? [];
        out[spec.into] = [...prev, ...list];
        break;
      }
      case 'object':
        if (value === null || typeof value !== 'object' || Array.isArray(value)) bad('an object');
        else
          out[key] = walk(
            value as Record<string, unknown>,
            spec.fields,
            `${path}.`,
            source,
            problems,
          );
        break;
    }
  }
  return out;
}

function durationValue(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    return parseDuration(v);
  } catch {
    return undefined;
  }
}

/** Merges `frag` over `base`: scalars replace, lists append, objects and maps merge. */
export function merge<T extends object>(base: T, frag: Fragment): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(frag)) {
    const cur = out[k];
    if (Array.isArray(cur) && Array.isArray(v))
      out[k] = [...(cur as unknown[]), ...(v as unknown[])];
    else if (
      cur &&
      typeof cur === 'object' &&
      !Array.isArray(cur) &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v)
    ) {
      out[k] = merge(cur, v as Fragment);
    } else out[k] = v;
  }
  return out as T;
}

/** Reads and validates one JSON config file. */
export function readConfigFile(path: string, problems: string[]): Fragment {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) {
      problems.push(`${path}: not a file`);
      return {};
    }
    if (st.size > MAX_CONFIG_FILE_BYTES) {
      problems.push(
        `${path}: ${st.size} bytes is over the ${MAX_CONFIG_FILE_BYTES}-byte limit for a config file`,
      );
      return {};
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    problems.push(
      `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
    return {};
  }
  if (path.endsWith('.hcl')) {
    problems.push(
      `${path}: HCL config files are not supported; write the same keys as JSON (see README)`,
    );
    return {};
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    problems.push(`${path}: invalid JSON: ${(e as Error).message}`);
    return {};
  }
  return validateFragment(raw, path, problems);
}

/** The files a `-config-dir` contributes: its `*.json` (and `*.hcl`, to reject clearly), sorted. */
export function configDirFiles(dir: string, problems: string[]): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.json') || n.endsWith('.hcl'))
      .sort()
      .map((n) => join(dir, n));
  } catch (e) {
    problems.push(
      `${dir}: cannot read config directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
    return [];
  }
}

export interface BuildInput {
  dev?: boolean;
  configFiles?: readonly string[];
  configDirs?: readonly string[];
  /** Typed values from the command line (see flags.ts), applied last. */
  flags?: Fragment;
}

/** Builds and checks the runtime configuration. Throws ConfigError listing every problem. */
export function buildConfig(input: BuildInput): RuntimeConfig {
  const problems: string[] = [];
  let cfg = defaults(input.dev ?? false);
  let leaveSet = false;
  const apply = (frag: Fragment): void => {
    if ('leave_on_terminate' in frag) leaveSet = true;
    cfg = merge(cfg, frag);
  };
  for (const f of input.configFiles ?? []) apply(readConfigFile(f, problems));
  for (const d of input.configDirs ?? []) {
    for (const f of configDirFiles(d, problems)) apply(readConfigFile(f, problems));
  }
  if (input.flags) apply(validateFragment(input.flags, 'command line', problems));
  // Consul's default: client agents leave the cluster on SIGTERM, servers do not.
  if (!leaveSet) cfg.leave_on_terminate = !cfg.server;
  problems.push(...crossCheck(cfg));
  if (problems.length > 0) throw new ConfigError(problems);
  // Consul accepts the domain with or without the root dot and always answers with it.
  if (!cfg.domain.endsWith('.')) cfg.domain += '.';
  if (cfg.alt_domain !== '' && !cfg.alt_domain.endsWith('.')) cfg.alt_domain += '.';
  return cfg;
}

/** Rules that involve several keys (Consul's wording where it has one). */
function crossCheck(c: RuntimeConfig): string[] {
  const p: string[] = [];
  if (c.bootstrap && c.bootstrap_expect > 0)
    p.push("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive");
  if (c.bootstrap_expect > 0 && !c.server)
    p.push("'bootstrap_expect > 0' requires 'server = true'");
  if (c.bootstrap && !c.server) p.push("'bootstrap = true' requires 'server = true'");
  if (!c.dev_mode && c.data_dir === '')
    p.push('data_dir cannot be empty (set -data-dir, or use -dev for an in-memory agent)');
  if (c.encrypt !== '') {
    const key = Buffer.from(c.encrypt, 'base64');
    // Gossip encryption is AES-256-GCM only; Consul also accepts 16- and 24-byte keys.
    if (key.toString('base64') !== c.encrypt || key.length !== 32) {
      p.push(
        'encrypt: the gossip key must be base64 of 32 bytes (generate one with `trellis keygen`)',
      );
    }
  }
  if (c.ae_interval < 1_000) p.push('ae_interval must be at least 1s');
  if (c.reconnect_timeout < 1_000) p.push('reconnect_timeout must be at least 1s');
  if (c.ports.sidecar_min_port > c.ports.sidecar_max_port)
    p.push('ports.sidecar_min_port must not exceed ports.sidecar_max_port');
  const used = new Map<number, string>();
  for (const [name, port] of Object.entries(c.ports) as Array<[string, number]>) {
    if (port <= 0 || name.startsWith('sidecar_')) continue;
    const other = used.get(port);
    if (other) p.push(`ports.${name} and ports.${other} are both ${port}`);
    used.set(port, name);
  }
  return p;
}
