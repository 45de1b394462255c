/**
 * `trellis config delete -kind K -name N [-cas -modify-index=N]` (or `-filename F`):
 * DELETE /v1/config/K/N, as Consul's command/config/delete.
 */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { parseBool } from '../kv/put.js';
import { CLIENT_FLAGS, SERVER_FLAGS, bool, int, str, usage } from '../shared/http-flags.js';
import { fail, out } from '../shared/output.js';
import { loadEntrySource, parseConfigEntry } from './entry.js';
import { CAS_FLAGS, configClient, configPath } from './shared.js';

const flags: FlagSpec[] = [
  {
    name: 'filename',
    kind: 'string',
    usage: 'The filename of the config entry to delete (JSON, or - for stdin).',
  },
  { name: 'kind', kind: 'string', usage: 'The kind of configuration to delete.' },
  { name: 'name', kind: 'string', usage: 'The name of configuration to delete.' },
  ...CAS_FLAGS,
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

/** Consul's validateArgs: the message of the first problem, or undefined. */
function argsProblem(
  filename: string,
  kind: string,
  name: string,
  cas: boolean,
  modifyIndex: number,
): string | undefined {
  const count = [filename, kind, name].filter((v) => v !== '').length;
  if (count >= 3) return "filename can't be used with kind or name";
  if (count === 0) return 'Must specify the -kind or -filename parameter';
  if (filename !== '') {
    if (count === 2) return "filename can't be used with kind or name";
  } else {
    if (kind === '') return 'Must specify the -kind parameter';
    if (name === '') return 'Must specify the -name parameter';
  }
  if (cas && modifyIndex === 0) return 'Must specify a -modify-index greater than 0 with -cas';
  if (modifyIndex !== 0 && !cas) return 'Cannot specify -modify-index without -cas';
  return undefined;
}

export const configDeleteCommand: Command = {
  name: 'delete',
  synopsis: 'Delete a centralized config entry',
  help: () =>
    usage(
      `Usage: trellis config delete [options] ([-kind <config kind> -name <config name>] | [-filename FILENAME])

  Deletes the configuration entry specified by the kind and name.

  Example:

    $ trellis config delete -kind service-defaults -name web
    $ trellis config delete -filename service-defaults-web.json`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    const filename = str(values, 'filename') ?? '';
    let kind = str(values, 'kind') ?? '';
    let name = str(values, 'name') ?? '';
    const cas = bool(values, 'cas');
    const modifyIndex = int(values, 'modify-index') ?? 0;
    const problem = argsProblem(filename, kind, name, cas, modifyIndex);
    if (problem !== undefined) return fail(io, problem);
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    if (filename !== '') {
      let loaded;
      try {
        loaded = await loadEntrySource(filename, io);
      } catch (e) {
        return fail(io, `Failed to load data: ${(e as Error).message}`);
      }
      try {
        ({ kind, name } = parseConfigEntry(loaded.text, loaded.source));
      } catch (e) {
        return fail(io, `Failed to decode config entry input: ${(e as Error).message}`);
      }
    }
    const client = configClient(values, io);
    if (!client) return 1;
    const id = `${kind}/${name}`;
    let deleted: boolean;
    try {
      const res = await client.request('DELETE', configPath(kind, name), {
        query: cas ? { cas: modifyIndex } : {},
      });
      deleted = cas ? parseBool(res.body) : true;
    } catch (e) {
      return fail(io, `Error deleting config entry ${id}: ${(e as Error).message}`);
    }
    if (!deleted) return fail(io, `Config entry not deleted: ${id}`);
    out(io, `Config entry deleted: ${id}`);
    return 0;
  },
};
