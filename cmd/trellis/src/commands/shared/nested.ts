/**
 * A command that only groups subcommands (`kv`, `operator`, `operator raft`, `snapshot`),
 * dispatching as Consul's mitchellh/cli does: no or an unknown subcommand prints the group's
 * help and its subcommand list on stdout and exits 1; `-h` after a subcommand prints that
 * subcommand's help and exits 0; a flag error prints the message and the subcommand's help
 * on stderr and exits 1.
 */
import type { Command, Io } from '../../command.js';
import { FlagError } from '../../flags.js';

export interface NestedSpec {
  readonly name: string;
  readonly synopsis: string;
  /** The group's usage paragraph (`Usage: trellis kv <subcommand> [options] [args]` …). */
  readonly text: string;
  readonly subcommands: readonly Command[];
}

const HELP = new Set(['-h', '-help', '--help']);

/** Groups made here; a group inside a group handles `-h` for its own subcommands. */
const groups = new WeakSet<Command>();

export function nestedCommand(spec: NestedSpec): Command {
  const help = (): string => {
    const subs = [...spec.subcommands].sort((a, b) => (a.name < b.name ? -1 : 1));
    const w = Math.max(...subs.map((s) => s.name.length));
    return (
      spec.text.trim() +
      '\n\nSubcommands:\n' +
      subs.map((s) => `    ${s.name.padEnd(w)}    ${s.synopsis}`).join('\n') +
      '\n'
    );
  };
  const group: Command = {
    name: spec.name,
    synopsis: spec.synopsis,
    help,
    async run(args: readonly string[], io: Io): Promise<number> {
      const [first, ...rest] = args;
      const sub = spec.subcommands.find((c) => c.name === first);
      if (!sub) {
        io.stdout.write(help());
        return 1;
      }
      const end = rest.indexOf('--');
      const flagPart = end < 0 ? rest : rest.slice(0, end);
      if (!groups.has(sub) && flagPart.some((a) => HELP.has(a))) {
        io.stdout.write(sub.help());
        return 0;
      }
      try {
        return await sub.run(rest, io);
      } catch (e) {
        if (e instanceof FlagError) {
          io.stderr.write(`${e.message}\n\n${sub.help()}`);
          return 1;
        }
        throw e;
      }
    },
  };
  groups.add(group);
  return group;
}
