import { randomBytes } from 'node:crypto';
import type { Command, Io } from '../command.js';
import { FlagError } from '../flags.js';

/** Size of a gossip encryption key: AES-256, as `consul keygen` makes. */
export const GOSSIP_KEY_BYTES = 32;

export const keygenCommand: Command = {
  name: 'keygen',
  synopsis: 'Generates a new encryption key',
  help: () =>
    "Usage: trellis keygen\n\n  Generates a new 32-byte key for gossip encryption (the agent's `encrypt` option),\n  printed in base64 like `consul keygen`.\n",
  run(args: readonly string[], io: Io): Promise<number> {
    if (args.length > 0) throw new FlagError(`keygen takes no arguments, got: ${args.join(' ')}`);
    io.stdout.write(randomBytes(GOSSIP_KEY_BYTES).toString('base64') + '\n');
    return Promise.resolve(0);
  },
};
