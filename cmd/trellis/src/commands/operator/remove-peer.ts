/** `trellis operator raft remove-peer`: drops a server from the Raft configuration. */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, clientFromFlags, str, usage } from '../shared/http-flags.js';
import { fail, goQuote, out } from '../shared/output.js';

const flags: FlagSpec[] = [
  { name: 'address', kind: 'string', usage: 'The address to remove from the Raft configuration.' },
  { name: 'id', kind: 'string', usage: 'The ID to remove from the Raft configuration.' },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const removePeerCommand: Command = {
  name: 'remove-peer',
  synopsis: 'Remove a server from the Raft configuration',
  help: () =>
    usage(
      `Usage: trellis operator raft remove-peer [options]

  Remove the server with given -address or -id from the Raft configuration.

  There are rare cases where a peer may be left behind in the Raft quorum even
  though the server is no longer present and known to the cluster. This command
  can be used to remove the failed server so that it no longer affects the Raft
  quorum. If the server still shows in the output of the "trellis members"
  command, it is preferable to clean up by running "trellis force-leave" instead.`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values } = parseFlags([...HTTP, ...flags], args);
    const address = str(values, 'address') ?? '';
    const id = str(values, 'id') ?? '';
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error initializing client: ${(e as Error).message}`);
    }
    if (address === '' && id === '') {
      return fail(io, 'Error removing peer: an address or id is required for the peer to remove');
    }
    if (address !== '' && id !== '') {
      return fail(io, 'Error removing peer: cannot give both an address and id');
    }
    try {
      await client.request('DELETE', '/v1/operator/raft/peer', {
        query: address !== '' ? { address } : { id },
      });
    } catch (e) {
      return fail(io, `Error removing peer: ${(e as Error).message}`);
    }
    out(
      io,
      address !== ''
        ? `Removed peer with address ${goQuote(address)}`
        : `Removed peer with id ${goQuote(id)}`,
    );
    return 0;
  },
};
