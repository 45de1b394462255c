/**
 * Service definition files for `services register` / `services deregister`, read as Consul's
 * command/services reads them (config.Load over the files, then each ServiceDefinition turned
 * into an api.AgentServiceRegistration):
 *
 * - a file holds agent configuration; its `service` (one object) and `services` (a list) are
 *   the definitions, `services` first; any other key must be a valid agent config key;
 * - keys are matched like Consul's decoder: case-insensitively, `snake_case` or `CamelCase`
 *   (`enable_tag_override` = `EnableTagOverride`), and an unknown key is an error;
 * - a directory contributes its `*.json` files in name order, other files are skipped with a
 *   warning; a file must end in `.json` (or `.hcl`, which is refused: Trellis reads JSON only).
 *
 * The result uses the HTTP API's field names (Name, Tags, Check.Interval…), the body of
 * PUT /v1/agent/service/register. `connect` (sidecar_service…) and `proxy` blocks are sent as
 * written: the agent validates them with Consul's rules and names any mistake.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_CONFIG_FILE_BYTES, parseDuration, validateFragment } from '@trellis/agent';
import { goFsError, readFileBounded } from '../shared/input.js';

/** A service check as the HTTP API takes it (api.AgentServiceCheck field names). */
export type ServiceCheck = Readonly<Record<string, unknown>>;

/** PUT /v1/agent/service/register's body (api.AgentServiceRegistration); unset fields left out. */
export interface ServiceRegistration {
  readonly Kind?: string;
  readonly ID?: string;
  readonly Name?: string;
  readonly Tags?: readonly string[];
  readonly Port?: number;
  readonly Address?: string;
  readonly SocketPath?: string;
  readonly TaggedAddresses?: Readonly<Record<string, { Address: string; Port: number }>>;
  readonly EnableTagOverride?: boolean;
  readonly Meta?: Readonly<Record<string, string>>;
  readonly Weights?: { readonly Passing: number; readonly Warning: number };
  readonly Check?: ServiceCheck;
  readonly Checks?: readonly ServiceCheck[];
}

/** One definition and where it came from (`web.json: services[1]`), for messages. */
export interface LoadedService {
  readonly source: string;
  readonly registration: ServiceRegistration;
}

/** Definition files could not be read; `problems` holds one message per mistake found. */
export class DefinitionError extends Error {
  override readonly name = 'DefinitionError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

type Kind =
  | { readonly t: 'string' }
  | { readonly t: 'bool' }
  | { readonly t: 'int'; readonly min: number; readonly max: number }
  | { readonly t: 'duration' }
  | { readonly t: 'enum'; readonly values: readonly string[] }
  | { readonly t: 'strings' }
  | { readonly t: 'stringMap' }
  | { readonly t: 'headers' }
  | { readonly t: 'object'; readonly fields: Fields }
  | { readonly t: 'objectMap'; readonly fields: Fields }
  | { readonly t: 'objectList'; readonly fields: Fields }
  /** An object passed to the agent as written; the agent validates it (Connect, Proxy). */
  | { readonly t: 'raw' };

interface Field {
  /** The HTTP API's name for the field. */
  readonly api: string;
  readonly kind: Kind;
}

/** Normalized key (lower case, no underscores) → field. */
type Fields = Readonly<Record<string, Field>>;

const STRING: Kind = { t: 'string' };
const BOOL: Kind = { t: 'bool' };
const COUNT: Kind = { t: 'int', min: 0, max: Number.MAX_SAFE_INTEGER };
const PORT: Kind = { t: 'int', min: 0, max: 65535 };
const DURATION: Kind = { t: 'duration' };

/** A check of a service definition (Consul's CheckType). */
const CHECK_FIELDS: Fields = {
  id: { api: 'CheckID', kind: STRING },
  checkid: { api: 'CheckID', kind: STRING },
  name: { api: 'Name', kind: STRING },
  notes: { api: 'Notes', kind: STRING },
  status: { api: 'Status', kind: { t: 'enum', values: ['passing', 'warning', 'critical'] } },
  args: { api: 'ScriptArgs', kind: { t: 'strings' } },
  scriptargs: { api: 'ScriptArgs', kind: { t: 'strings' } },
  interval: { api: 'Interval', kind: DURATION },
  timeout: { api: 'Timeout', kind: DURATION },
  ttl: { api: 'TTL', kind: DURATION },
  deregistercriticalserviceafter: { api: 'DeregisterCriticalServiceAfter', kind: DURATION },
  http: { api: 'HTTP', kind: STRING },
  header: { api: 'Header', kind: { t: 'headers' } },
  method: { api: 'Method', kind: STRING },
  body: { api: 'Body', kind: STRING },
  disableredirects: { api: 'DisableRedirects', kind: BOOL },
  tlsservername: { api: 'TLSServerName', kind: STRING },
  tlsskipverify: { api: 'TLSSkipVerify', kind: BOOL },
  tcp: { api: 'TCP', kind: STRING },
  tcpusetls: { api: 'TCPUseTLS', kind: BOOL },
  udp: { api: 'UDP', kind: STRING },
  grpc: { api: 'GRPC', kind: STRING },
  grpcusetls: { api: 'GRPCUseTLS', kind: BOOL },
  h2ping: { api: 'H2PING', kind: STRING },
  h2pingusetls: { api: 'H2PingUseTLS', kind: BOOL },
  aliasnode: { api: 'AliasNode', kind: STRING },
  aliasservice: { api: 'AliasService', kind: STRING },
  dockercontainerid: { api: 'DockerContainerID', kind: STRING },
  shell: { api: 'Shell', kind: STRING },
  successbeforepassing: { api: 'SuccessBeforePassing', kind: COUNT },
  failuresbeforewarning: { api: 'FailuresBeforeWarning', kind: COUNT },
  failuresbeforecritical: { api: 'FailuresBeforeCritical', kind: COUNT },
  outputmaxsize: { api: 'OutputMaxSize', kind: COUNT },
};

const SERVICE_FIELDS: Fields = {
  kind: { api: 'Kind', kind: STRING },
  connect: { api: 'Connect', kind: { t: 'raw' } },
  proxy: { api: 'Proxy', kind: { t: 'raw' } },
  id: { api: 'ID', kind: STRING },
  name: { api: 'Name', kind: STRING },
  tags: { api: 'Tags', kind: { t: 'strings' } },
  port: { api: 'Port', kind: PORT },
  address: { api: 'Address', kind: STRING },
  socketpath: { api: 'SocketPath', kind: STRING },
  taggedaddresses: {
    api: 'TaggedAddresses',
    kind: {
      t: 'objectMap',
      fields: {
        address: { api: 'Address', kind: STRING },
        port: { api: 'Port', kind: PORT },
      },
    },
  },
  enabletagoverride: { api: 'EnableTagOverride', kind: BOOL },
  meta: { api: 'Meta', kind: { t: 'stringMap' } },
  weights: {
    api: 'Weights',
    kind: {
      t: 'object',
      fields: {
        passing: { api: 'Passing', kind: COUNT },
        warning: { api: 'Warning', kind: COUNT },
      },
    },
  },
  check: { api: 'Check', kind: { t: 'object', fields: CHECK_FIELDS } },
  checks: { api: 'Checks', kind: { t: 'objectList', fields: CHECK_FIELDS } },
};

/** Service definition keys Consul knows that Trellis does not handle yet. */
const UNSUPPORTED_SERVICE_KEYS = new Set(['token', 'locality', 'namespace', 'partition']);

const normalize = (key: string): string => key.toLowerCase().replace(/_/g, '');

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes one value; problems are pushed with the key path, and undefined is returned. */
function decodeValue(v: unknown, kind: Kind, path: string, problems: string[]): unknown {
  const bad = (want: string): undefined => {
    problems.push(`${path}: expected ${want}, got ${describe(v)}`);
    return undefined;
  };
  switch (kind.t) {
    case 'string':
      return typeof v === 'string' ? v : bad('a string');
    case 'bool':
      return typeof v === 'boolean' ? v : bad('true or false');
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) return bad('an integer');
      if (v < kind.min || v > kind.max) {
        problems.push(`${path}: ${v} is out of range ${kind.min}..${kind.max}`);
        return undefined;
      }
      return v;
    case 'duration':
      if (typeof v !== 'string') return bad('a duration such as "10s"');
      try {
        parseDuration(v);
      } catch (e) {
        problems.push(`${path}: ${(e as Error).message}`);
        return undefined;
      }
      return v;
    case 'enum':
      return typeof v === 'string' && kind.values.includes(v)
        ? v
        : bad(`one of ${kind.values.join(', ')}`);
    case 'strings':
      return Array.isArray(v) && v.every((x) => typeof x === 'string')
        ? [...v]
        : bad('a list of strings');
    case 'stringMap':
      return isObject(v) && Object.values(v).every((x) => typeof x === 'string')
        ? { ...(v as Record<string, string>) }
        : bad('an object of strings');
    case 'headers':
      return isObject(v) &&
        Object.values(v).every((x) => Array.isArray(x) && x.every((y) => typeof y === 'string'))
        ? { ...v }
        : bad('an object of string lists');
    case 'object':
      return isObject(v) ? decodeObject(v, kind.fields, path, problems) : bad('an object');
    case 'raw':
      return isObject(v) ? v : bad('an object');
    case 'objectMap': {
      if (!isObject(v)) return bad('an object');
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const item = decodeValue(x, { t: 'object', fields: kind.fields }, `${path}.${k}`, problems);
        if (item !== undefined) out[k] = item;
      }
      return out;
    }
    case 'objectList': {
      if (!Array.isArray(v)) return bad('a list');
      return v.map((x, i) =>
        decodeValue(x, { t: 'object', fields: kind.fields }, `${path}[${i}]`, problems),
      );
    }
  }
}

function decodeObject(
  obj: Record<string, unknown>,
  fields: Fields,
  path: string,
  problems: string[],
  unsupported: ReadonlySet<string> = new Set(),
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(obj)) {
    const norm = normalize(key);
    const keyPath = `${path}.${key}`;
    const field = fields[norm];
    if (!field) {
      problems.push(
        unsupported.has(norm)
          ? `${keyPath}: not supported by Trellis yet`
          : `invalid config key ${keyPath}`,
      );
      continue;
    }
    const other = seen.get(field.api);
    if (other !== undefined) {
      problems.push(`${keyPath}: given twice (also as ${other})`);
      continue;
    }
    seen.set(field.api, key);
    const v = decodeValue(value, field.kind, keyPath, problems);
    if (v !== undefined) out[field.api] = v;
  }
  return out;
}

/**
 * The definitions in one JSON document. `source` names it in messages; every mistake found
 * is pushed to `problems` (prefixed `failed to parse <source>:` as Consul's loader words it).
 */
export function parseDefinitionDocument(
  text: string,
  source: string,
  problems: string[],
): LoadedService[] {
  const found: string[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    problems.push(`failed to parse ${source}: ${(e as Error).message}`);
    return [];
  }
  if (!isObject(raw)) {
    problems.push(
      `failed to parse ${source}: the top level must be an object, got ${describe(raw)}`,
    );
    return [];
  }
  const listed: Array<[string, unknown]> = [];
  let single: [string, unknown] | undefined;
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const norm = normalize(key);
    if (norm === 'services') {
      if (!Array.isArray(value)) {
        found.push(`${key}: expected a list, got ${describe(value)}`);
        continue;
      }
      value.forEach((v, i) => listed.push([`${key}[${i}]`, v]));
    } else if (norm === 'service') {
      single = [key, value];
    } else {
      rest[key] = value;
    }
  }
  const agentProblems: string[] = [];
  validateFragment(rest, source, agentProblems);
  // The agent's validator words its problems "<source>: …"; keep one prefix for all.
  for (const p of agentProblems)
    found.push(p.startsWith(`${source}: `) ? p.slice(source.length + 2) : p);

  const out: LoadedService[] = [];
  for (const [path, v] of single ? [...listed, single] : listed) {
    if (!isObject(v)) {
      found.push(`${path}: expected an object, got ${describe(v)}`);
      continue;
    }
    const registration = decodeObject(v, SERVICE_FIELDS, path, found, UNSUPPORTED_SERVICE_KEYS);
    out.push({ source: `${source}: ${path}`, registration });
  }
  for (const p of found) problems.push(`failed to parse ${source}: ${p}`);
  return out;
}

async function readDefinitionFile(path: string, problems: string[]): Promise<LoadedService[]> {
  if (path.endsWith('.hcl')) {
    problems.push(
      `${path}: HCL service definitions are not supported; write the same keys as JSON`,
    );
    return [];
  }
  let text: string;
  try {
    text = (await readFileBounded(path, MAX_CONFIG_FILE_BYTES)).toString('utf8');
  } catch (e) {
    problems.push(`config: failed to read ${path}: ${(e as Error).message}`);
    return [];
  }
  return parseDefinitionDocument(text, path, problems);
}

/**
 * Reads every file or directory in `paths`, in order. Throws DefinitionError listing every
 * problem (nothing is registered when one file is wrong); `warn` receives Consul's warning
 * for a directory entry that is skipped.
 */
export async function servicesFromFiles(
  paths: readonly string[],
  warn: (message: string) => void,
): Promise<LoadedService[]> {
  const problems: string[] = [];
  const out: LoadedService[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (e) {
      problems.push(`config: Open failed on ${path}. ${goFsError('open', path, e)}`);
      continue;
    }
    if (!isDir) {
      if (!path.endsWith('.json') && !path.endsWith('.hcl')) {
        problems.push(
          `file ${path} has unknown extension; must be .hcl or .json, or config format must be set`,
        );
        continue;
      }
      out.push(...(await readDefinitionFile(path, problems)));
      continue;
    }
    let names: string[];
    try {
      names = (await readdir(path)).sort();
    } catch (e) {
      problems.push(`config: Readdir failed on ${path}. ${goFsError('readdir', path, e)}`);
      continue;
    }
    for (const name of names) {
      const file = join(path, name);
      try {
        if ((await stat(file)).isDirectory()) continue; // not recursive, as Consul
      } catch (e) {
        problems.push(`config: Open failed on ${file}. ${goFsError('open', file, e)}`);
        continue;
      }
      if (!name.endsWith('.json') && !name.endsWith('.hcl')) {
        warn(
          `skipping file ${file}, extension must be .hcl or .json, or config format must be set`,
        );
        continue;
      }
      out.push(...(await readDefinitionFile(file, problems)));
    }
  }
  if (problems.length > 0) throw new DefinitionError(problems);
  return out;
}
