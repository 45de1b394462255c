/** `trellis catalog datacenters`: every known datacenter, one a line (GET /v1/catalog/datacenters). */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, clientOrReport, usage } from '../shared/http-flags.js';
import { fail, out } from '../shared/output.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const catalogDatacentersCommand: Command = {
  name: 'datacenters',
  synopsis: 'Lists all known datacenters',
  help: () =>
    usage(
      `Usage: trellis catalog datacenters [options]

  Lists every datacenter this agent's servers know of, nearest first: they are
  ordered by the estimated median round-trip time from the servers of this
  datacenter to the servers of each other one.

      $ trellis catalog datacenters`,
      HTTP,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(HTTP, args);
    if (rest.length > 0) return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    const client = clientOrReport(values, io);
    if (!client) return 1;
    let dcs: string[];
    try {
      const { value } = await client.json<unknown>('GET', '/v1/catalog/datacenters');
      const list = value ?? [];
      if (!Array.isArray(list) || !list.every((d) => typeof d === 'string')) {
        throw new Error('unexpected response: not a list of datacenter names');
      }
      dcs = list;
    } catch (e) {
      return fail(io, `Error listing datacenters: ${(e as Error).message}`);
    }
    for (const dc of dcs) out(io, dc);
    return 0;
  },
};
