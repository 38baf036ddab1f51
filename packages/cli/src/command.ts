import type { OptionSpec } from './util/args.js';

/** Where a command writes: stdout for results, stderr for progress and diagnostics. */
export interface CommandIO {
  out(line: string): void;
  err(line: string): void;
  /** Aborted on Ctrl-C: long commands save a resumable checkpoint and stop. */
  signal: AbortSignal;
}

/** One `hierglow <name>` subcommand. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec;
  /** Lines describing the options for `--help`; without them the bare flag list is shown. */
  help?: string[];
  /** True for commands that run no tensor code (no backend is loaded for them). */
  noBackend?: boolean;
  /** Parsed flag values (config file merged) and positionals; returns the exit code. */
  run(
    args: { values: Record<string, unknown>; positionals: string[] },
    io: CommandIO,
  ): Promise<number>;
}
