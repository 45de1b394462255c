/**
 * `trellis force-leave`: marks a member "left" (PUT /v1/agent/force-leave/<node>), as Consul's
 * command/forceleave does: exactly one node name, `-prune` to drop it from the member list at
 * once, `-wan` for the WAN pool only, and no output on success.
 */
import type { Command, Io } from '../command.js';
import { parseFlags, type FlagSpec } from '../flags.js';
import { CLIENT_FLAGS, bool, clientOrReport, usage } from './shared/http-flags.js';
import { fail } from './shared/output.js';
import { pathSegment } from './shared/query.js';

const flags: FlagSpec[] = [
  { name: 'prune', kind: 'bool', usage: 'Remove agent completely from list of members' },
  { name: 'wan', kind: 'bool', usage: 'Exclusively leave the agent from the WAN serf pool.' },
];

export const forceLeaveCommand: Command = {
  name: 'force-leave',
  synopsis: 'Forces a member of the cluster to enter the "left" state',
  help: () =>
    usage(
      `Usage: trellis force-leave [options] name

  Forces a member of a Trellis cluster into the "left" state. A member that is in
  fact still alive rejoins the cluster on its own. The command is meant for
  "failed" nodes that will never come back: without it, the cluster keeps trying
  to reconnect to them for a while before reaping them.`,
      CLIENT_FLAGS,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: nodes } = parseFlags([...CLIENT_FLAGS, ...flags], args);
    if (nodes.length !== 1) {
      fail(io, 'A single node name must be specified to force leave.');
      fail(io, '');
      return fail(io, forceLeaveCommand.help());
    }
    const client = clientOrReport(values, io);
    if (!client) return 1;
    try {
      await client.request('PUT', `/v1/agent/force-leave/${pathSegment(nodes[0]!)}`, {
        query: {
          ...(bool(values, 'prune') ? { prune: '1' } : {}),
          ...(bool(values, 'wan') ? { wan: '1' } : {}),
        },
      });
    } catch (e) {
      return fail(io, `Error force leaving: ${(e as Error).message}`);
    }
    return 0;
  },
};
