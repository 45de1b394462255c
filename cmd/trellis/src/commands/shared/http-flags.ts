/**
 * The HTTP flags every API command shares, as Consul's command/flags/http.go groups them:
 * client flags (where the agent is, which token) and server flags (which datacenter, may a
 * follower answer). Values come from the command line, then the environment.
 */
import { readFileSync } from 'node:fs';
import type { Io } from '../../command.js';
import {
  type ApiClient,
  HTTP_TOKEN_ENV,
  HTTP_TOKEN_FILE_ENV,
  MAX_TOKEN_FILE_BYTES,
  resolveAgentUrl,
  type Env,
} from '../../api/index.js';
import { FlagError, formatFlags, type FlagSpec, type FlagValue } from '../../flags.js';
import { AGENT_NOUN, fail } from './output.js';
import { ListQueryClient } from './query.js';

export const CLIENT_FLAGS: readonly FlagSpec[] = [
  {
    name: 'http-addr',
    kind: 'string',
    usage:
      'The address and port of the agent\'s HTTP API: "host:port", "http://host:port" or ' +
      '"https://host:port". Can also be set with TRELLIS_HTTP_ADDR or CONSUL_HTTP_ADDR.',
    default: 'http://127.0.0.1:8500',
  },
  {
    name: 'token',
    kind: 'string',
    usage:
      'ACL token to use in the request. Can also be set with TRELLIS_HTTP_TOKEN or ' +
      'CONSUL_HTTP_TOKEN. If unspecified, the agent uses its own default token.',
  },
  {
    name: 'token-file',
    kind: 'string',
    usage:
      'File containing the ACL token, used when -token is not given. Can also be set with ' +
      'TRELLIS_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN_FILE.',
  },
];

export const DATACENTER_FLAG: FlagSpec = {
  name: 'datacenter',
  kind: 'string',
  usage:
    'Name of the datacenter to query. If unspecified, this will default to the datacenter ' +
    'of the queried agent.',
};

export const STALE_FLAG: FlagSpec = {
  name: 'stale',
  kind: 'bool',
  usage:
    'Permit any server (non-leader) to respond to this request. This allows for lower ' +
    'latency and higher throughput, but can result in stale data. This option has no effect ' +
    'on non-read operations. The default value is false.',
};

export const SERVER_FLAGS: readonly FlagSpec[] = [DATACENTER_FLAG, STALE_FLAG];

type Values = ReadonlyMap<string, FlagValue>;

export function str(values: Values, name: string): string | undefined {
  const v = values.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function bool(values: Values, name: string): boolean {
  return values.get(name) === true;
}

export function int(values: Values, name: string): number | undefined {
  const v = values.get(name);
  return typeof v === 'number' ? v : undefined;
}

function envFirst(env: Env, names: readonly string[]): string | undefined {
  for (const n of names) if (env[n] !== undefined && env[n] !== '') return env[n];
  return undefined;
}

function readToken(file: string): string {
  const data = readFileSync(file);
  if (data.length > MAX_TOKEN_FILE_BYTES) {
    throw new Error(`token file ${file} is larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
  }
  return data.toString('utf8').trim();
}

/**
 * The client the flags describe (a ListQueryClient, so a query may repeat a parameter). Throws
 * ApiError (ERR_API_ADDRESS) for a bad address and an Error for an unreadable token file;
 * callers report both as "Error connecting to agent".
 */
export function clientFromFlags(values: Values, env: Env = process.env): ApiClient {
  const baseUrl = resolveAgentUrl(str(values, 'http-addr'), env);
  let token = str(values, 'token');
  const tokenFile = str(values, 'token-file');
  if (!token && tokenFile) token = readToken(tokenFile);
  if (!token) token = envFirst(env, HTTP_TOKEN_ENV);
  if (!token) {
    const f = envFirst(env, HTTP_TOKEN_FILE_ENV);
    if (f) token = readToken(f);
  }
  const dc = str(values, 'datacenter');
  return new ListQueryClient({
    baseUrl,
    ...(token ? { token } : {}),
    ...(dc ? { datacenter: dc } : {}),
  });
}

/**
 * clientFromFlags for a command's run: a bad address or token file is reported on stderr as
 * Consul's commands do ("Error connecting to Consul agent: …") and yields undefined (exit 1).
 */
export function clientOrReport(values: Values, io: Io): ApiClient | undefined {
  try {
    return clientFromFlags(values);
  } catch (e) {
    fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * A repeatable `key=value` flag (Consul's FlagMapValue: -meta, -node-meta, -tagged-address)
 * as an ordered map; a later value for the same key replaces the earlier one. A value without
 * `=` is a flag error in Go's words, so it is reported with the command's help.
 */
export function keyValues(values: Values, name: string): Map<string, string> {
  const out = new Map<string, string>();
  const raw = values.get(name);
  for (const item of Array.isArray(raw) ? raw : []) {
    const eq = item.indexOf('=');
    if (eq < 0) {
      throw new FlagError(
        `invalid value "${item}" for flag -${name}: Missing "=" value in argument: ${item}`,
      );
    }
    out.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return out;
}

/** A repeatable flag's values in order ([] when absent). */
export function list(values: Values, name: string): string[] {
  const v = values.get(name);
  return Array.isArray(v) ? [...v] : [];
}

/** `?stale` when -stale is set (Consul sends the bare parameter). */
export function staleQuery(values: Values): { stale?: string } {
  return bool(values, 'stale') ? { stale: '' } : {};
}

/**
 * Help text in Consul's layout: the usage paragraph, then the HTTP API options, then the
 * command's own options.
 */
export function usage(
  text: string,
  httpFlags: readonly FlagSpec[],
  commandFlags: readonly FlagSpec[] = [],
): string {
  let out = text.trim() + '\n';
  if (httpFlags.length > 0) out += `\nHTTP API Options:\n\n${formatFlags(httpFlags)}\n`;
  if (commandFlags.length > 0) out += `\nCommand Options:\n\n${formatFlags(commandFlags)}\n`;
  return out;
}
