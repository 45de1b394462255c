import { PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN } from '@trellis/gossip';
import { PROTOCOL_VERSIONS } from '@trellis/rpc';
import type { Command, Io } from '../command.js';
import { FlagError, formatFlags, parseFlags, type FlagSpec } from '../flags.js';
import { VERSION } from '../version-info.js';

const flags: FlagSpec[] = [
  {
    name: 'format',
    kind: 'string',
    usage: 'Output format of version information. Format must be one of "pretty" or "json".',
    default: 'pretty',
  },
];

export const versionCommand: Command = {
  name: 'version',
  synopsis: 'Prints the Trellis version',
  help: () =>
    `Usage: trellis version [options]\n\n  Prints the version of this Trellis build and the protocol versions it speaks.\n\nCommand Options:\n\n${formatFlags(flags)}\n`,
  run(args: readonly string[], io: Io): Promise<number> {
    const { values } = parseFlags(flags, args);
    const format = (values.get('format') as string | undefined) ?? 'pretty';
    const rpc = PROTOCOL_VERSIONS;
    if (format === 'json') {
      // Consul's `version -format=json` fields, plus the protocol ranges.
      const out = {
        Version: VERSION,
        Revision: '',
        Prerelease: 'dev',
        FIPS: '',
        BuildDate: '',
        Messages: '',
        Protocols: {
          RPC: { Min: Math.min(...rpc), Max: Math.max(...rpc) },
          Gossip: { Min: PROTOCOL_VERSION_MIN, Max: PROTOCOL_VERSION_MAX },
        },
      };
      io.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return Promise.resolve(0);
    }
    if (format !== 'pretty') throw new FlagError(`Invalid format: ${format}`);
    io.stdout.write(
      `Trellis v${VERSION}-dev\n` +
        `RPC protocol ${Math.min(...rpc)} to ${Math.max(...rpc)}, ` +
        `gossip protocol ${PROTOCOL_VERSION_MIN} to ${PROTOCOL_VERSION_MAX}\n`,
    );
    return Promise.resolve(0);
  },
};
