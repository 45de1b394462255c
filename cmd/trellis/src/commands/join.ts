/**
 * `trellis join`: asks the agent to join a cluster through one or more existing members
 * (PUT /v1/agent/join/<address> for each), as Consul's command/join does: every address is
 * tried, each failure is reported, and the command fails only when none succeeded.
 */
import type { Command, Io } from '../command.js';
import { parseFlags, type FlagSpec } from '../flags.js';
import { CLIENT_FLAGS, bool, clientOrReport, usage } from './shared/http-flags.js';
import { fail, out } from './shared/output.js';
import { pathSegment } from './shared/query.js';

const flags: FlagSpec[] = [
  {
    name: 'wan',
    kind: 'bool',
    usage: 'Joins a server to another server in the WAN pool.',
  },
];

export const joinCommand: Command = {
  name: 'join',
  synopsis: 'Tell Trellis agent to join cluster',
  help: () =>
    usage(
      `Usage: trellis join [options] address ...

  Tells a running Trellis agent (started with "trellis agent") to join a cluster
  through at least one of its existing members.`,
      CLIENT_FLAGS,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: addrs } = parseFlags([...CLIENT_FLAGS, ...flags], args);
    if (addrs.length === 0) {
      fail(io, 'At least one address to join must be specified.');
      fail(io, '');
      return fail(io, joinCommand.help());
    }
    const client = clientOrReport(values, io);
    if (!client) return 1;
    const wan = bool(values, 'wan');
    let joined = 0;
    for (const addr of addrs) {
      try {
        await client.request('PUT', `/v1/agent/join/${pathSegment(addr)}`, {
          query: wan ? { wan: '1' } : {},
        });
        joined++;
      } catch (e) {
        fail(io, `Error joining address '${addr}': ${(e as Error).message}`);
      }
    }
    if (joined === 0) return fail(io, 'Failed to join any nodes.');
    out(io, `Successfully joined cluster by contacting ${joined} nodes.`);
    return 0;
  },
};
