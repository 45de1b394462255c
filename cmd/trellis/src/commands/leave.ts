/** `trellis leave`: asks the agent to leave the cluster gracefully and stop (PUT /v1/agent/leave). */
import type { Command, Io } from '../command.js';
import { parseFlags } from '../flags.js';
import { CLIENT_FLAGS, clientFromFlags, usage } from './shared/http-flags.js';
import { AGENT_NOUN, fail, goList, out } from './shared/output.js';

/** A leave waits for gossip to spread it and leadership to move: allow more than a read. */
const LEAVE_TIMEOUT_MS = 2 * 60_000;

export const leaveCommand: Command = {
  name: 'leave',
  synopsis: 'Gracefully leaves the Trellis cluster and shuts down',
  help: () =>
    usage(
      'Usage: trellis leave [options]\n\n  Causes the agent to gracefully leave the Trellis cluster and shutdown.',
      CLIENT_FLAGS,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(CLIENT_FLAGS, args);
    if (rest.length > 0) {
      fail(io, `Error found unexpected args: ${goList(rest)}`);
      out(io, leaveCommand.help());
      return 1;
    }
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    try {
      await client.request('PUT', '/v1/agent/leave', { timeoutMs: LEAVE_TIMEOUT_MS });
    } catch (e) {
      return fail(io, `Error leaving: ${(e as Error).message}`);
    }
    out(io, 'Graceful leave complete');
    return 0;
  },
};
