/**
 * `trellis connect ca get-config`: GET /v1/connect/ca/configuration, printed as Consul's
 * command/connect/ca/get prints it (json.MarshalIndent with a tab).
 */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  clientFromFlags,
  staleQuery,
  usage,
} from '../shared/http-flags.js';
import { fail, goJsonIndent, out } from '../shared/output.js';
import { caConfigForOutput, decodeCaConfig } from './ca-config.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const caGetConfigCommand: Command = {
  name: 'get-config',
  synopsis: 'Display the current Connect Certificate Authority (CA) configuration',
  help: () =>
    usage(
      `Usage: trellis connect ca get-config [options]

  Displays the current Connect Certificate Authority (CA) configuration.`,
      HTTP,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(HTTP, args);
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error initializing client: ${(e as Error).message}`);
    }
    let config;
    try {
      const { value } = await client.json<unknown>('GET', '/v1/connect/ca/configuration', {
        query: staleQuery(values),
      });
      config = decodeCaConfig(value);
    } catch (e) {
      return fail(io, `Error querying CA configuration: ${(e as Error).message}`);
    }
    out(io, goJsonIndent(caConfigForOutput(config), '\t'));
    return 0;
  },
};
