/**
 * `trellis config list -kind K`: the names of every entry of a kind, one a line (Consul's
 * command/config/list).
 */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, staleQuery, str, usage } from '../shared/http-flags.js';
import { fail, goQuote, out } from '../shared/output.js';
import { configClient, configPath } from './shared.js';

const flags: FlagSpec[] = [
  { name: 'kind', kind: 'string', usage: 'The kind of configurations to list.' },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

/** The Name of each entry in a /v1/config/<kind> answer. */
export function entryNames(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error('unexpected response: not a list of config entries');
  return v.map((e: unknown) => {
    const name = (e as { Name?: unknown } | null)?.Name;
    return typeof name === 'string' ? name : '';
  });
}

export const configListCommand: Command = {
  name: 'list',
  synopsis: 'List centralized config entries of a given kind',
  help: () =>
    usage(
      `Usage: trellis config list [options] -kind <config kind>

  Lists all of the config entries for a given kind. The -kind parameter
  is required.

  Example:

    $ trellis config list -kind service-defaults`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    const kind = str(values, 'kind') ?? '';
    if (kind === '') return fail(io, 'Must specify the -kind parameter');
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    const client = configClient(values, io);
    if (!client) return 1;
    let names: string[];
    try {
      const { value } = await client.json<unknown>('GET', configPath(kind), {
        query: staleQuery(values),
      });
      names = entryNames(value);
    } catch (e) {
      return fail(
        io,
        `Error listing config entries for kind ${goQuote(kind)}: ${(e as Error).message}`,
      );
    }
    for (const n of names) out(io, n);
    return 0;
  },
};
