/** `trellis kv export`: a prefix's entries as Consul's import/export JSON on stdout. */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  clientFromFlags,
  staleQuery,
  usage,
} from '../shared/http-flags.js';
import { AGENT_NOUN, fail, out } from '../shared/output.js';
import { formatExport } from './impexp.js';
import { kvPath, parsePairs, stripLeadingSlash } from './pair.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const kvExportCommand: Command = {
  name: 'export',
  synopsis: 'Exports a tree from the KV store as JSON',
  help: () =>
    usage(
      `Usage: trellis kv export [KEY_OR_PREFIX]

  Retrieves key-value pairs for the given prefix from the key-value store, and
  writes a JSON representation to stdout. This can be used with the command
  "trellis kv import" to move entire trees between clusters.

      $ trellis kv export vault`,
      HTTP,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(HTTP, args);
    if (rest.length > 1) return fail(io, `Too many arguments (expected 1, got ${rest.length})`);
    const prefix = stripLeadingSlash(rest[0] ?? '');
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    let pairs;
    try {
      const res = await client.json<unknown>('GET', kvPath(prefix), {
        query: { recurse: '', ...staleQuery(values) },
        allowStatus: [404],
      });
      pairs = parsePairs(res.value ?? []);
    } catch (e) {
      return fail(io, `Error querying ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    out(io, formatExport(pairs));
    return 0;
  },
};
