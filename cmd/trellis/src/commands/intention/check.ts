/**
 * `trellis intention check SRC DST`: whether a connection would be allowed. Prints "Allowed"
 * (exit 0) or "Denied" (exit 1); any error exits 2, as Consul's command/intention/check, so a
 * script can tell a denial from a failure.
 */
import type { Command, Io } from '../../command.js';
import { FlagError, parseFlags } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  clientFromFlags,
  staleQuery,
  usage,
} from '../shared/http-flags.js';
import { AGENT_NOUN, fail, out } from '../shared/output.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

/** Exit codes of `intention check`. */
export const CHECK_ALLOWED = 0;
export const CHECK_DENIED = 1;
export const CHECK_ERROR = 2;

function help(): string {
  return usage(
    `Usage: trellis intention check [options] SRC DST

  Check whether a connection between SRC and DST would be allowed by
  Connect given the current configuration. Prints "Allowed" and exits 0,
  or prints "Denied" and exits 1; exits 2 on an error.

      $ trellis intention check web db`,
    HTTP,
  );
}

export const intentionCheckCommand: Command = {
  name: 'check',
  synopsis: 'Check whether a connection between two services is allowed.',
  help,
  async run(args: readonly string[], io: Io): Promise<number> {
    let parsed;
    try {
      parsed = parseFlags(HTTP, args);
    } catch (e) {
      if (!(e instanceof FlagError)) throw e;
      io.stderr.write(`${e.message}\n\n${help()}`);
      return CHECK_ERROR;
    }
    const { values, args: rest } = parsed;
    if (rest.length !== 2) {
      fail(io, 'Error: command requires exactly two arguments: src and dst');
      return CHECK_ERROR;
    }
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
      return CHECK_ERROR;
    }
    let allowed: unknown;
    try {
      const { value } = await client.json<{ Allowed?: unknown }>(
        'GET',
        '/v1/connect/intentions/check',
        { query: { ...staleQuery(values), source: rest[0]!, destination: rest[1]! } },
      );
      allowed = value?.Allowed;
      if (typeof allowed !== 'boolean') throw new Error('unexpected response: no Allowed');
    } catch (e) {
      fail(io, `Error checking the connection: ${(e as Error).message}`);
      return CHECK_ERROR;
    }
    out(io, allowed ? 'Allowed' : 'Denied');
    return allowed ? CHECK_ALLOWED : CHECK_DENIED;
  },
};
