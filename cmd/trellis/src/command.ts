/** The shape of a CLI command and the streams it writes to (injected, for tests). */
export interface Io {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly synopsis: string;
  /** Full help text (`trellis <name> -h`). */
  help(): string;
  /** Runs with the arguments after the command name; returns the exit code. */
  run(args: readonly string[], io: Io): Promise<number>;
}
