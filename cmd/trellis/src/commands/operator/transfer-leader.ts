/** `trellis operator raft transfer-leader`: hands leadership to another voter. */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, clientFromFlags, str, usage } from '../shared/http-flags.js';
import { fail, out } from '../shared/output.js';

const flags: FlagSpec[] = [
  { name: 'id', kind: 'string', usage: 'The ID of the node to transfer leadership to.' },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

/** A transfer waits for the target to catch up and win an election. */
const TRANSFER_TIMEOUT_MS = 2 * 60_000;

export const transferLeaderCommand: Command = {
  name: 'transfer-leader',
  synopsis: 'Transfer raft leadership to another node',
  help: () =>
    usage(
      `Usage: trellis operator raft transfer-leader [options]

  Transfer raft leadership to another node: the one given with -id, or the most
  up-to-date voter.`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values } = parseFlags([...HTTP, ...flags], args);
    const id = str(values, 'id') ?? '';
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error initializing client: ${(e as Error).message}`);
    }
    let success: unknown;
    try {
      const { value } = await client.json<{ Success?: unknown }>(
        'POST',
        '/v1/operator/raft/transfer-leader',
        { query: id !== '' ? { id } : {}, timeoutMs: TRANSFER_TIMEOUT_MS },
      );
      success = value?.Success;
    } catch (e) {
      return fail(
        io,
        `Error transfering leadership: Failed to transfer leadership ${(e as Error).message}`,
      );
    }
    if (success !== true) {
      return fail(io, 'Error transfering leadership: Failed to transfer leadership');
    }
    out(io, 'Success');
    return 0;
  },
};
