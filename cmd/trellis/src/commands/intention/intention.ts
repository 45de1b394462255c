/**
 * Intentions as the CLI reads and shows them: Consul's api.Intention (the fields the commands
 * use), its String() (`web => db (allow)`), target parsing and the lookup by ID or by
 * source and destination that `get` shares (command/intention/helpers.go).
 */
import { isApiError, type ApiClient, type Query } from '../../api/index.js';
import { goField, isJsonObject, jsonTypeName, wrongType } from '../shared/go-decode.js';
import { goQuote } from '../shared/output.js';
import { pathSegment } from '../shared/query.js';

export interface Intention {
  ID: string;
  Description: string;
  SourceNS: string;
  SourceName: string;
  DestinationNS: string;
  DestinationName: string;
  SourcePartition: string;
  DestinationPartition: string;
  SourceType: string;
  Action: string;
  /** L7 permissions, kept as the agent sent them. */
  Permissions: unknown[];
  Meta: Record<string, string>;
  Precedence: number;
  /** RFC 3339; '' when the intention has none (written as a config entry). */
  CreatedAt: string;
}

const STRING_FIELDS = [
  'ID',
  'Description',
  'SourceNS',
  'SourceName',
  'DestinationNS',
  'DestinationName',
  'SourcePartition',
  'DestinationPartition',
  'SourceType',
  'Action',
  'CreatedAt',
] as const;

/**
 * Decodes an intention as Go's json.Unmarshal fills api.Intention: fields matched in any
 * case, unknown ones ignored, a wrong type an error. Used for the agent's answers and for
 * `intention create -file`.
 */
export function decodeIntention(v: unknown): Intention {
  if (!isJsonObject(v)) {
    throw new Error(`cannot unmarshal ${jsonTypeName(v)} into an intention (an object)`);
  }
  const ixn: Intention = {
    ID: '',
    Description: '',
    SourceNS: '',
    SourceName: '',
    DestinationNS: '',
    DestinationName: '',
    SourcePartition: '',
    DestinationPartition: '',
    SourceType: '',
    Action: '',
    Permissions: [],
    Meta: {},
    Precedence: 0,
    CreatedAt: '',
  };
  for (const f of STRING_FIELDS) {
    const raw = goField(v, f);
    if (raw === undefined || raw === null) continue;
    if (typeof raw !== 'string') throw wrongType(raw, f, 'string');
    ixn[f] = raw;
  }
  const perms = goField(v, 'Permissions');
  if (perms !== undefined && perms !== null) {
    if (!Array.isArray(perms)) throw wrongType(perms, 'Permissions', '[]*IntentionPermission');
    ixn.Permissions = perms;
  }
  const meta = goField(v, 'Meta');
  if (meta !== undefined && meta !== null) {
    if (!isJsonObject(meta)) throw wrongType(meta, 'Meta', 'map[string]string');
    for (const [k, x] of Object.entries(meta)) {
      if (typeof x !== 'string') throw wrongType(x, 'Meta', 'map[string]string');
      ixn.Meta[k] = x;
    }
  }
  const precedence = goField(v, 'Precedence');
  if (precedence !== undefined && precedence !== null) {
    if (typeof precedence !== 'number' || !Number.isSafeInteger(precedence)) {
      throw wrongType(precedence, 'Precedence', 'int');
    }
    ixn.Precedence = precedence;
  }
  return ixn;
}

/** api.Intention.partString: `ns/name`, the default namespace left out. */
function partString(ns: string, name: string): string {
  return ns !== '' && ns !== 'default' ? `${ns}/${name}` : name;
}

/** api.Intention.SourceString. */
export function sourceString(i: Intention): string {
  return partString(i.SourceNS, i.SourceName);
}

/** api.Intention.DestinationString. */
export function destinationString(i: Intention): string {
  return partString(i.DestinationNS, i.DestinationName);
}

/** api.Intention.String: `web => db (allow)`, or the number of L7 permissions. */
export function intentionString(i: Intention): string {
  const n = i.Permissions.length;
  const detail = n === 0 ? i.Action : n === 1 ? '1 permission' : `${n} permissions`;
  return `${sourceString(i)} => ${destinationString(i)} (${detail})`;
}

/** command/intention's FormatSource / FormatDestination: `ns/name` whenever a namespace is set. */
export function formatTarget(ns: string, name: string): string {
  return ns === '' ? name : `${ns}/${name}`;
}

/**
 * Consul's ParseIntentionTarget: `name`, `namespace/name` or `partition/namespace/name`.
 * Throws "input can contain at most two '/'".
 */
export function parseTarget(input: string): { name: string; ns: string; partition: string } {
  const parts = input.split('/');
  switch (parts.length) {
    case 1:
      return { name: parts[0]!, ns: '', partition: '' };
    case 2:
      return { name: parts[1]!, ns: parts[0]!, partition: '' };
    case 3:
      return { name: parts[2]!, ns: parts[1]!, partition: parts[0]! };
    default:
      throw new Error("input can contain at most two '/'");
  }
}

/**
 * The intention with these names (GET /v1/connect/intentions/exact), or undefined when there
 * is none (404). Other failures reject with Consul's client wording for this call,
 * "Unexpected response 400: …".
 */
export async function getExact(
  client: ApiClient,
  source: string,
  destination: string,
  query: Query = {},
): Promise<Intention | undefined> {
  return getOne(client, '/v1/connect/intentions/exact', { ...query, source, destination });
}

/** The intention with this (legacy) ID, or undefined when there is none. */
export async function getById(
  client: ApiClient,
  id: string,
  query: Query = {},
): Promise<Intention | undefined> {
  return getOne(client, `/v1/connect/intentions/${pathSegment(id)}`, query);
}

async function getOne(
  client: ApiClient,
  path: string,
  query: Query,
): Promise<Intention | undefined> {
  let res;
  try {
    res = await client.json<unknown>('GET', path, { query, allowStatus: [404] });
  } catch (e) {
    // api.IntentionGet/IntentionGetExact read the body themselves: "Unexpected response N: …".
    if (isApiError(e, 'ERR_API_STATUS')) {
      throw new Error(`Unexpected response ${e.meta.status ?? 0}: ${e.meta.body ?? ''}`);
    }
    throw e;
  }
  if (res.status === 404) return undefined;
  return decodeIntention(res.value);
}

/**
 * command/intention.GetFromArgs: one argument is an ID, two are source and destination.
 * Throws Error with Consul's messages.
 */
export async function getFromArgs(
  client: ApiClient,
  args: readonly string[],
  query: Query = {},
): Promise<Intention> {
  if (args.length === 1) {
    const id = args[0]!;
    let ixn;
    try {
      ixn = await getById(client, id, query);
    } catch (e) {
      throw new Error(`Error reading the intention: ${(e as Error).message}`);
    }
    if (ixn === undefined) throw new Error(`Intention not found with ID ${goQuote(id)}`);
    return ixn;
  }
  if (args.length === 2) {
    const [source, destination] = args as [string, string];
    let ixn;
    try {
      ixn = await getExact(client, source, destination, query);
    } catch (e) {
      throw new Error(`Error reading the intention: ${(e as Error).message}`);
    }
    if (ixn === undefined) {
      throw new Error(
        `Intention not found with source ${goQuote(source)} and destination ` +
          goQuote(destination),
      );
    }
    return ixn;
  }
  throw new Error('command requires exactly 1 or 2 arguments');
}
