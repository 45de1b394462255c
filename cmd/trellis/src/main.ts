/**
 * Entry point of the `trellis` command: dispatches to a subcommand. Exit codes follow
 * Consul's CLI: 0 success, 1 an error (usage errors included), 127 no or unknown command.
 */
import type { Command, Io } from './command.js';
import { agentCommand } from './commands/agent.js';
import { catalogCommand } from './commands/catalog/index.js';
import { configCommand } from './commands/config/index.js';
import { connectCommand } from './commands/connect/index.js';
import { eventCommand } from './commands/event.js';
import { forceLeaveCommand } from './commands/force-leave.js';
import { intentionCommand } from './commands/intention/index.js';
import { joinCommand } from './commands/join.js';
import { keygenCommand } from './commands/keygen.js';
import { kvCommand } from './commands/kv/index.js';
import { leaveCommand } from './commands/leave.js';
import { maintCommand } from './commands/maint.js';
import { membersCommand } from './commands/members.js';
import { operatorCommand } from './commands/operator/index.js';
import { servicesCommand } from './commands/services/index.js';
import { snapshotCommand } from './commands/snapshot/index.js';
import { tlsCommand } from './commands/tls/index.js';
import { versionCommand } from './commands/version.js';
import { FlagError } from './flags.js';

export const commands: readonly Command[] = [
  agentCommand,
  catalogCommand,
  configCommand,
  connectCommand,
  eventCommand,
  forceLeaveCommand,
  intentionCommand,
  joinCommand,
  keygenCommand,
  kvCommand,
  leaveCommand,
  maintCommand,
  membersCommand,
  operatorCommand,
  servicesCommand,
  snapshotCommand,
  tlsCommand,
  versionCommand,
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
  if (name === '-v' || name === '-version' || name === '--version')
    return versionCommand.run([], io);
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    io.stderr.write(`Unknown command: "${name}"\n\n${usage()}`);
    return 127;
  }
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
