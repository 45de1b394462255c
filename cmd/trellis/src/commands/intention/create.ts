/**
 * `trellis intention create [-allow|-deny] [-replace] [-meta k=v] SRC DST` and
 * `trellis intention create -file FILE...`, after Consul's command/intention/create with the
 * API Consul ≥ 1.9 recommends (api.IntentionUpsert, `PUT /v1/connect/intentions/exact`),
 * which works whatever wrote the destination's intentions before (Consul's CLI still uses the
 * legacy `POST`, which fails once a destination was edited as a config entry or in the UI).
 *
 * - Without -replace an existing intention for the pair is an error ("duplicate intention
 *   found: …"), looked up first with GET …/exact (the exact endpoint itself upserts, so an
 *   intention created by someone else between the lookup and the write is overwritten); with
 *   -replace it is overwritten, and no "Created:" line is printed for it, as Consul.
 * - Per-intention metadata (-meta, or Meta in a file) exists only in the legacy API, so such an
 *   intention is created with `POST /v1/connect/intentions`, and replaced with
 *   `PUT /v1/connect/intentions/:id` when the one it replaces has an ID — as Consul's CLI does.
 * - An intention file may carry L7 Permissions (Consul's CLI refuses them; the exact endpoint
 *   takes them); the agent checks the destination's protocol.
 */
import type { ApiClient } from '../../api/index.js';
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  bool,
  clientOrReport,
  keyValues,
  usage,
} from '../shared/http-flags.js';
import { InputError, readFileBounded, readStreamBounded, stdinOf } from '../shared/input.js';
import { fail, goQuote, out } from '../shared/output.js';
import { pathSegment } from '../shared/query.js';
import {
  decodeIntention,
  formatTarget,
  getExact,
  intentionString,
  parseTarget,
  type Intention,
} from './intention.js';

/** Largest intention file read (L7 permissions included, the agent takes 256 KiB). */
export const MAX_INTENTION_FILE_BYTES = 1024 * 1024;

const flags: FlagSpec[] = [
  { name: 'allow', kind: 'bool', usage: 'Create an intention that allows when matched.' },
  { name: 'deny', kind: 'bool', usage: 'Create an intention that denies when matched.' },
  { name: 'file', kind: 'bool', usage: 'Read intention data from one or more files.' },
  { name: 'replace', kind: 'bool', usage: 'Replace matching intentions.' },
  {
    name: 'meta',
    kind: 'list',
    usage:
      'Metadata to set on the intention, formatted as key=value. This flag may be specified ' +
      'multiple times to set multiple meta fields.',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

function blankIntention(): Intention {
  return decodeIntention({});
}

/** The intention of `SRC DST` and the flags (Consul's ixnsFromArgs). Throws Error. */
function fromArgs(args: readonly string[], action: string, meta: Map<string, string>): Intention {
  if (args.length !== 2) throw new Error('Must specify two arguments: source and destination');
  let src, dst;
  try {
    src = parseTarget(args[0]!);
  } catch (e) {
    throw new Error(`Invalid intention source: ${(e as Error).message}`);
  }
  try {
    dst = parseTarget(args[1]!);
  } catch (e) {
    throw new Error(`Invalid intention destination: ${(e as Error).message}`);
  }
  return {
    ...blankIntention(),
    SourcePartition: src.partition,
    SourceNS: src.ns,
    SourceName: src.name,
    DestinationPartition: dst.partition,
    DestinationNS: dst.ns,
    DestinationName: dst.name,
    SourceType: 'consul',
    Action: action,
    Meta: Object.fromEntries(meta),
  };
}

/** One intention per file (`-` once for stdin), decoded as api.Intention. Throws Error. */
async function fromFiles(paths: readonly string[], io: Io): Promise<Intention[]> {
  if (paths.filter((p) => p === '-').length > 1) {
    throw new Error('"-" (stdin) may be given only once');
  }
  const result: Intention[] = [];
  for (const path of paths) {
    let data: Buffer;
    try {
      data =
        path === '-'
          ? await readStreamBounded(stdinOf(io), MAX_INTENTION_FILE_BYTES)
          : await readFileBounded(path, MAX_INTENTION_FILE_BYTES);
    } catch (e) {
      if (e instanceof InputError) throw new Error(e.message);
      throw e;
    }
    const name = path === '-' ? 'stdin' : path;
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString('utf8'));
    } catch (e) {
      throw new Error(`${name} is not valid JSON: ${(e as Error).message}`);
    }
    try {
      result.push(decodeIntention(raw));
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
  }
  return result;
}

/** The request body: the intention's fields that are set (what api.Intention sends). */
function body(ixn: Intention): string {
  const b: Record<string, unknown> = {};
  for (const k of [
    'Description',
    'SourcePartition',
    'SourceNS',
    'SourceName',
    'DestinationPartition',
    'DestinationNS',
    'DestinationName',
    'SourceType',
    'Action',
  ] as const) {
    if (ixn[k] !== '') b[k] = ixn[k];
  }
  if (ixn.Permissions.length > 0) b['Permissions'] = ixn.Permissions;
  if (Object.keys(ixn.Meta).length > 0) b['Meta'] = ixn.Meta;
  return JSON.stringify(b);
}

/** The exact endpoint's `source`/`destination`: api's maybePrefixNamespaceAndPartition. */
function exactName(partition: string, ns: string, name: string): string {
  if (partition === '' && ns === '') return name;
  if (partition === '') return `${ns}/${name}`;
  return `${partition}/${ns === '' ? 'default' : ns}/${name}`;
}

function exactQuery(ixn: Intention): { source: string; destination: string } {
  return {
    source: exactName(ixn.SourcePartition, ixn.SourceNS, ixn.SourceName),
    destination: exactName(ixn.DestinationPartition, ixn.DestinationNS, ixn.DestinationName),
  };
}

/**
 * Writes one intention; returns whether it was newly created (Consul prints "Created:" only
 * then). Throws Error with Consul's messages.
 */
async function write(client: ApiClient, ixn: Intention, replace: boolean): Promise<boolean> {
  const q = exactQuery(ixn);
  const src = formatTarget(ixn.SourceNS, ixn.SourceName);
  const dst = formatTarget(ixn.DestinationNS, ixn.DestinationName);
  const legacy = Object.keys(ixn.Meta).length > 0;
  let existing: Intention | undefined;
  try {
    existing = await getExact(client, q.source, q.destination);
  } catch (e) {
    const why = (e as Error).message;
    throw new Error(
      replace
        ? `Error looking up intention for replacement with source ${goQuote(src)} and ` +
            `destination ${goQuote(dst)}: ${why}`
        : `Error creating intention ${goQuote(intentionString(ixn))}: ${why}`,
    );
  }
  if (existing !== undefined && !replace) {
    throw new Error(
      `Error creating intention ${goQuote(intentionString(ixn))}: duplicate intention found: ` +
        intentionString(existing),
    );
  }
  if (existing !== undefined) {
    try {
      if (legacy && existing.ID !== '') {
        await client.request('PUT', `/v1/connect/intentions/${pathSegment(existing.ID)}`, {
          body: body(ixn),
        });
      } else {
        await client.request('PUT', '/v1/connect/intentions/exact', {
          query: q,
          body: body(ixn),
        });
      }
    } catch (e) {
      throw new Error(
        `Error replacing intention with source ${goQuote(src)} and destination ` +
          `${goQuote(dst)}: ${(e as Error).message}`,
      );
    }
    return false;
  }
  try {
    if (legacy) {
      await client.request('POST', '/v1/connect/intentions', { body: body(ixn) });
    } else {
      await client.request('PUT', '/v1/connect/intentions/exact', { query: q, body: body(ixn) });
    }
  } catch (e) {
    throw new Error(
      `Error creating intention ${goQuote(intentionString(ixn))}: ${(e as Error).message}`,
    );
  }
  return true;
}

export const intentionCreateCommand: Command = {
  name: 'create',
  synopsis: 'Create intentions for service connections.',
  help: () =>
    usage(
      `Usage: trellis intention create [options] SRC DST
Usage: trellis intention create [options] -file FILE...

  Create one or more intentions. The data can be specified as a single
  source and destination pair or via a set of JSON files when the "-file"
  flag is specified.

      $ trellis intention create web db

  To consume data from a set of files:

      $ trellis intention create -file one.json two.json

  When specifying the "-file" flag, "-" may be used once to read from stdin:

      $ echo "{ ... }" | trellis intention create -file -

  An "allow" intention is created by default (allowlist). To create a
  "deny" intention, the "-deny" flag should be specified.

  If a conflicting intention is found, creation will fail. To replace any
  conflicting intentions, specify the "-replace" flag. This will replace any
  conflicting intentions with the intention specified in this command.
  Metadata and any other fields of the previous intention will not be
  preserved.

  Additional flags and more advanced use cases are detailed below.`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    const meta = keyValues(values, 'meta');
    const deny = bool(values, 'deny');
    const allow = bool(values, 'allow') || !deny;
    if (allow && deny) return fail(io, 'Only one of -allow or -deny may be specified.');
    let ixns: Intention[];
    try {
      ixns = bool(values, 'file')
        ? await fromFiles(rest, io)
        : [fromArgs(rest, allow ? 'allow' : 'deny', meta)];
    } catch (e) {
      return fail(io, `Error: ${(e as Error).message}`);
    }
    const client = clientOrReport(values, io);
    if (!client) return 1;
    const replace = bool(values, 'replace');
    for (const ixn of ixns) {
      let created: boolean;
      try {
        created = await write(client, ixn, replace);
      } catch (e) {
        return fail(io, (e as Error).message);
      }
      if (created) out(io, `Created: ${intentionString(ixn)}`);
    }
    return 0;
  },
};
