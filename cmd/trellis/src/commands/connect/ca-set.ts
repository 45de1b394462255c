/**
 * `trellis connect ca set-config -config-file=<json>`: reads a CA configuration as Consul's
 * api.CAConfig decodes it, sets ForceWithoutCrossSigning from the flag and PUTs it to
 * /v1/connect/ca/configuration (command/connect/ca/set).
 */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  bool,
  clientFromFlags,
  str,
  usage,
} from '../shared/http-flags.js';
import { readFileBounded } from '../shared/input.js';
import { fail, out } from '../shared/output.js';
import { decodeCaConfig, type CaConfig } from './ca-config.js';

/** Largest CA configuration file read (a root certificate and key are a few KiB). */
export const MAX_CA_CONFIG_BYTES = 1024 * 1024;

const flags: FlagSpec[] = [
  { name: 'config-file', kind: 'string', usage: 'The path to the config file to use.' },
  {
    name: 'force-without-cross-signing',
    kind: 'bool',
    usage:
      'Indicates that the CA reconfiguration should go ahead even if the current CA is ' +
      'unable to cross sign certificates. This risks temporary connection failures during ' +
      'the rollout as new leafs will be rejected by proxies that have not yet observed the ' +
      "new root cert but is the only option if a CA that doesn't support cross signing " +
      'needs to be reconfigured or migrated away from.',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const caSetConfigCommand: Command = {
  name: 'set-config',
  synopsis: 'Modify the current Connect CA configuration',
  help: () =>
    usage(
      `Usage: trellis connect ca set-config [options]

  Modifies the current Connect Certificate Authority (CA) configuration.

      $ trellis connect ca set-config -config-file=ca.json

  The file holds the configuration as JSON, in the shape get-config prints:

      {
        "Provider": "consul",
        "Config": {
          "LeafCertTTL": "72h",
          "PrivateKeyType": "ec",
          "PrivateKeyBits": 256
        }
      }`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error initializing client: ${(e as Error).message}`);
    }
    const file = str(values, 'config-file') ?? '';
    if (file === '') return fail(io, 'The -config-file flag is required');
    let data: Buffer;
    try {
      data = await readFileBounded(file, MAX_CA_CONFIG_BYTES);
    } catch (e) {
      return fail(io, `Error reading config file: ${(e as Error).message}`);
    }
    let config: CaConfig;
    try {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString('utf8'));
      } catch (e) {
        throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
      }
      config = decodeCaConfig(parsed);
    } catch (e) {
      return fail(io, `Error parsing config file: ${(e as Error).message}`);
    }
    config.ForceWithoutCrossSigning = bool(values, 'force-without-cross-signing');
    try {
      await client.request('PUT', '/v1/connect/ca/configuration', {
        body: JSON.stringify(config),
      });
    } catch (e) {
      return fail(io, `Error setting CA configuration: ${(e as Error).message}`);
    }
    out(io, 'Configuration updated!');
    return 0;
  },
};
