/**
 * Entry point of the `trellis` command: dispatches to a subcommand. Exit codes follow
 * Consul's CLI: 0 success, 1 an error (usage errors included), 127 no or unknown command.
 */
import type { Command, Io } from './command.js';
import { FlagError } from './flags.js';

/**
 * The command table. Each command's module is loaded only when it runs (`import()`), so a
 * CLI call does not pay for loading the agent, the proxy and the CA: `trellis kv get` starts
 * in a fraction of the time `trellis agent` needs.
 */
export interface CommandEntry {
  readonly name: string;
  /** One line for the command list (the module's own synopsis, checked by a test). */
  readonly synopsis: string;
  load(): Promise<Command>;
}

export const commands: readonly CommandEntry[] = [
  {
    name: 'agent',
    synopsis: 'Runs a Trellis agent',
    load: async () => (await import('./commands/agent.js')).agentCommand,
  },
  {
    name: 'catalog',
    synopsis: 'Interact with the catalog',
    load: async () => (await import('./commands/catalog/index.js')).catalogCommand,
  },
  {
    name: 'config',
    synopsis: 'Interact with centralized config entries',
    load: async () => (await import('./commands/config/index.js')).configCommand,
  },
  {
    name: 'connect',
    synopsis: 'Interact with Connect',
    load: async () => (await import('./commands/connect/index.js')).connectCommand,
  },
  {
    name: 'event',
    synopsis: 'Fire a new event',
    load: async () => (await import('./commands/event.js')).eventCommand,
  },
  {
    name: 'force-leave',
    synopsis: 'Forces a member of the cluster to enter the "left" state',
    load: async () => (await import('./commands/force-leave.js')).forceLeaveCommand,
  },
  {
    name: 'intention',
    synopsis: 'Interact with Connect service intentions',
    load: async () => (await import('./commands/intention/index.js')).intentionCommand,
  },
  {
    name: 'join',
    synopsis: 'Tell Trellis agent to join cluster',
    load: async () => (await import('./commands/join.js')).joinCommand,
  },
  {
    name: 'keygen',
    synopsis: 'Generates a new encryption key',
    load: async () => (await import('./commands/keygen.js')).keygenCommand,
  },
  {
    name: 'kv',
    synopsis: 'Interact with the key-value store',
    load: async () => (await import('./commands/kv/index.js')).kvCommand,
  },
  {
    name: 'leave',
    synopsis: 'Gracefully leaves the Trellis cluster and shuts down',
    load: async () => (await import('./commands/leave.js')).leaveCommand,
  },
  {
    name: 'maint',
    synopsis: 'Controls node or service maintenance mode',
    load: async () => (await import('./commands/maint.js')).maintCommand,
  },
  {
    name: 'members',
    synopsis: 'Lists the members of a Trellis cluster',
    load: async () => (await import('./commands/members.js')).membersCommand,
  },
  {
    name: 'operator',
    synopsis: 'Provides cluster-level tools for Trellis operators',
    load: async () => (await import('./commands/operator/index.js')).operatorCommand,
  },
  {
    name: 'services',
    synopsis: 'Interact with services',
    load: async () => (await import('./commands/services/index.js')).servicesCommand,
  },
  {
    name: 'snapshot',
    synopsis: 'Saves and restores snapshots of Trellis server state',
    load: async () => (await import('./commands/snapshot/index.js')).snapshotCommand,
  },
  {
    name: 'tls',
    synopsis: 'Builtin helpers for creating CAs and certificates',
    load: async () => (await import('./commands/tls/index.js')).tlsCommand,
  },
  {
    name: 'version',
    synopsis: 'Prints the Trellis version',
    load: async () => (await import('./commands/version.js')).versionCommand,
  },
];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: trellis [--version] [--help] <command> [<args>]',
    '',
    'Available commands are:',
    ...commands.map((c) => `    ${c.name.padEnd(width)}    ${c.synopsis}`),
    '',
  ].join('\n');
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '-help' || name === '--help') {
    io.stderr.write(usage());
    return name === undefined ? 127 : 0;
  }
  const entry = commands.find(
    (c) =>
      c.name === (name === '-v' || name === '-version' || name === '--version' ? 'version' : name),
  );
  if (!entry) {
    io.stderr.write(`Unknown command: "${name}"\n\n${usage()}`);
    return 127;
  }
  const cmd = await entry.load();
  if (entry.name === 'version' && name !== 'version') return cmd.run([], io);
  // Like Go's flag package, -h counts only among the flags before the first argument, so
  // `kv put -h` reaches kv (which shows put's help) and `kv put k -h` stores "-h".
  const firstArg = rest.findIndex((a) => !a.startsWith('-') || a === '-' || a === '--');
  const leading = firstArg < 0 ? rest : rest.slice(0, firstArg);
  if (leading.some((a) => a === '-h' || a === '-help' || a === '--help')) {
    io.stdout.write(cmd.help());
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof FlagError) {
      io.stderr.write(`${e.message}\n\n${cmd.help()}`);
      return 1;
    }
    io.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
