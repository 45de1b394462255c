/**
 * `trellis intention delete SRC DST` (DELETE /v1/connect/intentions/exact) or
 * `trellis intention delete ID` (the legacy DELETE /v1/connect/intentions/:id), as Consul's
 * command/intention/delete. Deleting an intention that does not exist by name succeeds.
 */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, clientOrReport, usage } from '../shared/http-flags.js';
import { fail, out } from '../shared/output.js';
import { pathSegment } from '../shared/query.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const intentionDeleteCommand: Command = {
  name: 'delete',
  synopsis: 'Delete an intention.',
  help: () =>
    usage(
      `Usage: trellis intention delete [options] SRC DST
Usage: trellis intention delete [options] ID

  Delete an intention. This cannot be reversed. The intention can be looked
  up via an exact source/destination match or via the unique intention ID.

      $ trellis intention delete web db`,
      HTTP,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(HTTP, args);
    const client = clientOrReport(values, io);
    if (!client) return 1;
    try {
      if (rest.length === 1) {
        await client.request('DELETE', `/v1/connect/intentions/${pathSegment(rest[0]!)}`);
      } else if (rest.length === 2) {
        await client.request('DELETE', '/v1/connect/intentions/exact', {
          query: { source: rest[0]!, destination: rest[1]! },
        });
      } else {
        return fail(io, 'command requires exactly 1 or 2 arguments');
      }
    } catch (e) {
      return fail(io, `Error deleting the intention: ${(e as Error).message}`);
    }
    out(io, 'Intention deleted.');
    return 0;
  },
};
