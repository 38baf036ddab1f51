import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built binary, run exactly as a user runs it. */
export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'bin.js');

/** What a finished CLI process left. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `node [...nodeArgs] dist/bin.js ...args` (with extra environment variables); `done`
 * resolves when it exits.
 */
export function startCli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    cwd,
    env: { ...process.env, HIERGLOW_DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Runs the CLI to completion; `env` adds to (or overrides) this process's environment. */
export function runCli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<CliResult> {
  return startCli(args, cwd, env, nodeArgs).done;
}

/** Node arguments and environment that make the disk look full under `dir` (see full-disk.mjs). */
export function fullDiskUnder(dir: string): { env: Record<string, string>; nodeArgs: string[] } {
  return {
    env: { HIERGLOW_TEST_FULL_DISK_UNDER: dir },
    nodeArgs: ['--import', join(dirname(fileURLToPath(import.meta.url)), 'full-disk.mjs')],
  };
}
