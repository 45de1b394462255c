/**
 * `trellis config write [-cas -modify-index=N] <file.json | ->`: PUT /v1/config with the
 * entry read from a file or stdin (Consul's command/config/write). The agent decodes and
 * validates the entry, checking it against the others (an L7 intention needs an HTTP-like
 * destination, for one).
 */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import { parseBool } from '../kv/put.js';
import { CLIENT_FLAGS, SERVER_FLAGS, bool, int, usage } from '../shared/http-flags.js';
import { fail, out } from '../shared/output.js';
import { loadEntrySource, parseConfigEntry, type ConfigEntryInput } from './entry.js';
import { CAS_FLAGS, configClient } from './shared.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const configWriteCommand: Command = {
  name: 'write',
  synopsis: 'Create or update a centralized config entry',
  help: () =>
    usage(
      `Usage: trellis config write [options] <configuration>

  Request a config entry to be created or updated. The configuration
  argument is either a file path or '-' to indicate that the config
  should be read from stdin. The data must be JSON (HCL is not supported).

  Example (from file):

    $ trellis config write web.service.json

  Example (from stdin):

    $ trellis config write -`,
      HTTP,
      CAS_FLAGS,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...CAS_FLAGS], args);
    if (rest.length !== 1) {
      return fail(
        io,
        'Must provide exactly one positional argument to specify the config entry to write',
      );
    }
    let text: string;
    let source: string;
    try {
      ({ text, source } = await loadEntrySource(rest[0]!, io));
    } catch (e) {
      return fail(io, `Failed to load data: ${(e as Error).message}`);
    }
    let entry: ConfigEntryInput;
    try {
      entry = parseConfigEntry(text, source);
    } catch (e) {
      return fail(io, `Failed to decode config entry input: ${(e as Error).message}`);
    }
    const client = configClient(values, io);
    if (!client) return 1;
    const id = `${entry.kind}/${entry.name}`;
    let written: boolean;
    try {
      const res = await client.request('PUT', '/v1/config', {
        query: bool(values, 'cas') ? { cas: int(values, 'modify-index') ?? 0 } : {},
        body: JSON.stringify(entry.body),
      });
      written = parseBool(res.body);
    } catch (e) {
      return fail(io, `Error writing config entry ${id}: ${(e as Error).message}`);
    }
    if (!written) return fail(io, `Config entry not updated: ${id}`);
    out(io, `Config entry written: ${id}`);
    return 0;
  },
};
