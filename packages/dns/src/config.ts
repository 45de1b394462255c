/**
 * Consul's dns_config, checked once at construction and turned into what the handler reads
 * per query. Durations are milliseconds here; DNS TTLs are whole seconds, rounded down as
 * Consul's `uint32(ttl / time.Second)` does.
 */
import {
  DEFAULT_MAX_STALE_MS,
  DEFAULT_RECURSOR_PORT,
  DEFAULT_UDP_ANSWER_LIMIT,
} from './constants.js';
import { DnsError, DnsErrorCode } from './errors.js';
import { formatIp, parseIp } from './ip.js';

/** Consul's dns_config keys (durations in milliseconds). */
export interface DnsConfigInput {
  readonly allow_stale: boolean;
  /** How stale (ms since the replica last heard from the leader) a stale read may be. */
  readonly max_stale: number;
  /** TTL (ms) of node answers (and addr, NS glue). */
  readonly node_ttl: number;
  /** Service name, or prefix ending in '*', → TTL (ms). Exact names win, then the longest prefix. */
  readonly service_ttl: Readonly<Record<string, number>>;
  /** Set TC when an answer was trimmed to fit. */
  readonly enable_truncate: boolean;
  /** Drop instances with warning checks too (critical ones are always dropped). */
  readonly only_passing: boolean;
  /** Answers in a UDP reply limited to 512 bytes (capped at 8). */
  readonly udp_answer_limit: number;
  /**
   * Consul's enable_additional_node_meta_txt: node meta as TXT records in the additional
   * section of node A/AAAA and service SRV answers. Default true, as Consul.
   */
  readonly node_meta_txt?: boolean;
}

/** Consul's defaults. */
export const DEFAULT_DNS_CONFIG: DnsConfigInput = {
  allow_stale: true,
  max_stale: DEFAULT_MAX_STALE_MS,
  node_ttl: 0,
  service_ttl: {},
  enable_truncate: false,
  only_passing: false,
  udp_answer_limit: DEFAULT_UDP_ANSWER_LIMIT,
  node_meta_txt: true,
};

export interface DnsConfig {
  readonly allowStale: boolean;
  readonly maxStaleMs: number;
  readonly nodeTtlS: number;
  /** Exact service names → TTL seconds. */
  readonly serviceTtlExact: ReadonlyMap<string, number>;
  /** Prefixes (the key without its '*') → TTL seconds, longest first. */
  readonly serviceTtlPrefixes: ReadonlyArray<readonly [string, number]>;
  readonly enableTruncate: boolean;
  readonly onlyPassing: boolean;
  readonly udpAnswerLimit: number;
  readonly nodeMetaTxt: boolean;
}

function bad(detail: string): DnsError {
  return new DnsError(DnsErrorCode.InvalidOption, detail);
}

function duration(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw bad(`${name} must be a non-negative number of milliseconds, got ${String(v)}`);
  }
  return v;
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

/** Validates `input`; throws DNS_INVALID_OPTION. */
export function resolveDnsConfig(input: DnsConfigInput): DnsConfig {
  for (const k of ['allow_stale', 'enable_truncate', 'only_passing'] as const) {
    if (typeof input[k] !== 'boolean') throw bad(`${k} must be a boolean`);
  }
  if (input.node_meta_txt !== undefined && typeof input.node_meta_txt !== 'boolean') {
    throw bad('node_meta_txt must be a boolean');
  }
  const limit = input.udp_answer_limit;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw bad(`udp_answer_limit must be a non-negative integer, got ${String(limit)}`);
  }
  const exact = new Map<string, number>();
  const prefixes: Array<[string, number]> = [];
  if (typeof input.service_ttl !== 'object' || input.service_ttl === null) {
    throw bad('service_ttl must be an object');
  }
  for (const [key, ms] of Object.entries(input.service_ttl)) {
    const s = seconds(duration(`service_ttl[${JSON.stringify(key)}]`, ms));
    if (key.endsWith('*')) prefixes.push([key.slice(0, -1), s]);
    else exact.set(key, s);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  return {
    allowStale: input.allow_stale,
    maxStaleMs: duration('max_stale', input.max_stale),
    nodeTtlS: seconds(duration('node_ttl', input.node_ttl)),
    serviceTtlExact: exact,
    serviceTtlPrefixes: prefixes,
    enableTruncate: input.enable_truncate,
    onlyPassing: input.only_passing,
    udpAnswerLimit: limit,
    nodeMetaTxt: input.node_meta_txt ?? true,
  };
}

/**
 * Consul's GetTTLForService: an exact name, else the longest matching prefix ("*" alone
 * matches every service), else 0. Names compare as given (the query's name is lower case).
 */
export function ttlForService(cfg: DnsConfig, service: string): number {
  const exact = cfg.serviceTtlExact.get(service);
  if (exact !== undefined) return exact;
  for (const [prefix, s] of cfg.serviceTtlPrefixes) if (service.startsWith(prefix)) return s;
  return 0;
}

export interface RecursorAddress {
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/**
 * A recursor as Consul's recursorAddr accepts it, limited to IP literals: "ip", "ip:port",
 * "[v6]:port" or a bare IPv6 address; port 53 when none is given. Throws DNS_INVALID_OPTION.
 */
export function parseRecursor(text: string): RecursorAddress {
  let host = text;
  let port = DEFAULT_RECURSOR_PORT;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4port = /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1]!;
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (v4port !== null) {
    host = v4port[1]!;
    port = Number(v4port[2]);
  }
  const ip = parseIp(host);
  if (ip === null) throw bad(`recursor ${JSON.stringify(text)} is not an IP address [with port]`);
  if (port < 1 || port > 65535) throw bad(`recursor ${JSON.stringify(text)} has a bad port`);
  const canonical = formatIp(ip);
  return { host: canonical, port, family: canonical.includes(':') ? 6 : 4 };
}
