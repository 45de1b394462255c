/** `trellis intention list`: every intention in Consul's table (command/intention/list). */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  clientOrReport,
  staleQuery,
  usage,
} from '../shared/http-flags.js';
import { columnize, fail, out } from '../shared/output.js';
import { decodeIntention, type Intention } from './intention.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export function intentionsTable(ixns: readonly Intention[]): string {
  return columnize([
    ['ID', 'Source', 'Action', 'Destination', 'Precedence'],
    ...ixns.map((i) => [i.ID, i.SourceName, i.Action, i.DestinationName, String(i.Precedence)]),
  ]);
}

export const intentionListCommand: Command = {
  name: 'list',
  synopsis: 'List intentions.',
  help: () =>
    usage(
      `Usage: trellis intention list

  List all intentions. Exits 2 when there are none.`,
      HTTP,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(HTTP, args);
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    const client = clientOrReport(values, io);
    if (!client) return 1;
    let ixns: Intention[];
    try {
      const { value } = await client.json<unknown>('GET', '/v1/connect/intentions', {
        query: staleQuery(values),
      });
      if (value !== undefined && value !== null && !Array.isArray(value)) {
        throw new Error('unexpected response: not a list of intentions');
      }
      ixns = (value ?? []).map(decodeIntention);
    } catch (e) {
      return fail(io, `Failed to retrieve the intentions list: ${(e as Error).message}`);
    }
    if (ixns.length === 0) {
      fail(io, 'There are no intentions.');
      return 2;
    }
    out(io, intentionsTable(ixns));
    return 0;
  },
};
