/**
 * `trellis intention match [-source|-destination] NAME`: the intentions that apply to a
 * source or destination, in evaluation order (command/intention/match).
 */
import type { Command, Io } from '../../command.js';
import { FlagError, parseFlags, type FlagSpec } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  bool,
  clientOrReport,
  staleQuery,
  usage,
} from '../shared/http-flags.js';
import { fail, out } from '../shared/output.js';
import { decodeIntention, intentionString } from './intention.js';

const flags: FlagSpec[] = [
  { name: 'source', kind: 'bool', usage: 'Match intentions with the given source.' },
  { name: 'destination', kind: 'bool', usage: 'Match intentions with the given destination.' },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

function help(): string {
  return usage(
    `Usage: trellis intention match [options] SRC|DST

  Show the list of intentions that would be enforced for a given source
  or destination. The intentions are listed in the order they would be
  evaluated.

      $ trellis intention match db
      $ trellis intention match -source web`,
    HTTP,
    flags,
  );
}

export const intentionMatchCommand: Command = {
  name: 'match',
  synopsis: 'Show intentions that match a source or destination.',
  help,
  async run(args: readonly string[], io: Io): Promise<number> {
    let parsed;
    try {
      parsed = parseFlags([...HTTP, ...flags], args);
    } catch (e) {
      if (!(e instanceof FlagError)) throw e;
      // Consul's match exits 2 on a flag error (and 1 on every other error).
      io.stderr.write(`${e.message}\n\n${help()}`);
      return 2;
    }
    const { values, args: rest } = parsed;
    if (rest.length !== 1) {
      return fail(io, 'Error: command requires exactly one argument: src or dst');
    }
    const source = bool(values, 'source');
    if (source && bool(values, 'destination')) {
      return fail(io, 'Error: only one of -source or -destination may be specified');
    }
    const name = rest[0]!;
    const client = clientOrReport(values, io);
    if (!client) return 1;
    let lines: string[];
    try {
      const { value } = await client.json<unknown>('GET', '/v1/connect/intentions/match', {
        query: { ...staleQuery(values), by: source ? 'source' : 'destination', name },
      });
      const list = (value as Record<string, unknown> | undefined)?.[name] ?? [];
      if (!Array.isArray(list)) throw new Error('unexpected response: not a list of intentions');
      lines = list.map((v) => intentionString(decodeIntention(v)));
    } catch (e) {
      return fail(io, `Error matching the connection: ${(e as Error).message}`);
    }
    for (const l of lines) out(io, l);
    return 0;
  },
};
