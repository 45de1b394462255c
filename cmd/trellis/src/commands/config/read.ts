/**
 * `trellis config read -kind K -name N`: GET /v1/config/K/N, printed as JSON indented with
 * four spaces (Consul's command/config/read).
 */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, staleQuery, str, usage } from '../shared/http-flags.js';
import { fail, goJsonIndent, out } from '../shared/output.js';
import { configClient, configPath } from './shared.js';

const flags: FlagSpec[] = [
  { name: 'kind', kind: 'string', usage: 'The kind of configuration to read.' },
  { name: 'name', kind: 'string', usage: 'The name of configuration to read.' },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const configReadCommand: Command = {
  name: 'read',
  synopsis: 'Read a centralized config entry',
  help: () =>
    usage(
      `Usage: trellis config read [options] -kind <config kind> -name <config name>

  Reads the config entry specified by the given kind and name and outputs its
  JSON representation.

  Example:

    $ trellis config read -kind proxy-defaults -name global`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    const kind = str(values, 'kind') ?? '';
    const name = str(values, 'name') ?? '';
    if (kind === '') return fail(io, 'Must specify the -kind parameter');
    if (name === '') return fail(io, 'Must specify the -name parameter');
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    const client = configClient(values, io);
    if (!client) return 1;
    let entry: unknown;
    try {
      ({ value: entry } = await client.json<unknown>('GET', configPath(kind, name), {
        query: staleQuery(values),
      }));
    } catch (e) {
      return fail(io, `Error reading config entry ${kind}/${name}: ${(e as Error).message}`);
    }
    out(io, goJsonIndent(entry ?? null, '    '));
    return 0;
  },
};
