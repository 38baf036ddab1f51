import { selectBackend } from '@hierglow/backend-wasm';
import type { Command, CommandIO } from './command.js';
import { backendsCommand } from './commands/backends.js';
import { compareCommand } from './commands/compare.js';
import {
  dataBuildGeneralCommand,
  dataDownloadCommand,
  dataInspectCommand,
} from './commands/data.js';
import {
  dataBuildOodCommand,
  dataSplitClassesCommand,
  dataSubsetCommand,
} from './commands/data-ood.js';
import { demoCommand } from './commands/demo.js';
import { evaluateCommand } from './commands/evaluate.js';
import { reproduceFashionCommand } from './commands/reproduce.js';
import { sampleCommand } from './commands/sample.js';
import { scoreCommand } from './commands/score.js';
import { serveCommand } from './commands/serve.js';
import { finetuneCommand, trainCommand } from './commands/train.js';
import { workerCommand } from './commands/worker.js';
import { parseCommandArgs } from './util/args.js';
import { isFileSystemError, isUserFacingError, storageFailure, UsageError } from './util/errors.js';
import { VERSION } from './version.js';

export { VERSION };

const COMMANDS: Command[] = [
  demoCommand,
  serveCommand,
  trainCommand,
  finetuneCommand,
  scoreCommand,
  evaluateCommand,
  workerCommand,
  sampleCommand,
  dataInspectCommand,
  dataDownloadCommand,
  dataBuildGeneralCommand,
  dataBuildOodCommand,
  dataSplitClassesCommand,
  dataSubsetCommand,
  reproduceFashionCommand,
  compareCommand,
  backendsCommand,
];

function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'hierglow: Glow normalizing flows for likelihood-based image anomaly detection',
    '',
    'Usage: hierglow <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --backend wasm|cpu|node|gpu, --config FILE (JSON or YAML) and --help.',
  ].join('\n');
}

/** Help of a group of two-word commands (`hierglow data --help`). */
function groupHelp(group: string, commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `Usage: hierglow ${group} <command> [options]`,
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run 'hierglow ${group} <command> --help' for the options of one.`,
  ].join('\n');
}

function commandHelp(c: Command): string {
  const flags = Object.entries(c.options).map(
    ([k, v]) => `  --${k}${v.type === 'string' ? ' VALUE' : ''}`,
  );
  return [
    `Usage: ${c.usage}`,
    '',
    c.summary,
    '',
    'Options:',
    ...(c.help ?? flags),
    '',
    'Common:',
    '  --backend NAME            wasm (default) | cpu | node | gpu',
    '  --config FILE             JSON or YAML with flag names as keys; flags override it',
    '  --help',
  ].join('\n');
}

/** Runs the CLI with `argv` (without `node` and the script); returns the exit code. */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(helpText());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.out(VERSION);
    return 0;
  }
  // Two-word commands ('data inspect') are looked up first.
  const sub =
    rest[0] !== undefined ? COMMANDS.find((c) => c.name === `${name} ${rest[0]}`) : undefined;
  const command = sub ?? COMMANDS.find((c) => c.name === name);
  const commandArgs = sub ? rest.slice(1) : rest;
  try {
    if (!command) {
      const group = COMMANDS.filter((c) => c.name.startsWith(`${name} `));
      if (group.length > 0 && (rest[0] === '--help' || rest[0] === '-h')) {
        io.out(groupHelp(name, group));
        return 0;
      }
      if (group.length > 0) {
        throw new UsageError(
          `'hierglow ${name}' needs one of: ${group.map((c) => c.name.slice(name.length + 1)).join(', ')}${rest[0] ? ` (got '${rest[0]}')` : ''}`,
        );
      }
      throw new UsageError(`unknown command '${name}'. Run 'hierglow --help' for the list.`);
    }
    const args = parseCommandArgs(command.name, commandArgs, command.options);
    if (args.values.help) {
      io.out(commandHelp(command));
      return 0;
    }
    if (!command.noBackend) await selectBackend(args.values.backend as string | undefined);
    return await command.run(args, io);
  } catch (e) {
    const storage = storageFailure(e);
    if (storage) {
      io.err(`hierglow: ${storage.message}`);
      return storage.exitCode;
    }
    if (isUserFacingError(e) || isFileSystemError(e)) {
      io.err(`hierglow: ${(e as Error).message}`);
      return e instanceof UsageError ? e.exitCode : 1;
    }
    if (process.env.HIERGLOW_DEBUG) throw e;
    io.err(`hierglow: internal error: ${(e as Error)?.message ?? String(e)}`);
    io.err(
      'This is a bug in hierglow. Re-run with HIERGLOW_DEBUG=1 for the stack trace and report it.',
    );
    return 70;
  }
}
