import { closeSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

/** Exit code of an output that cannot be created or written (sysexits.h EX_CANTCREAT). */
export const CANNOT_CREATE_EXIT_CODE = 73;

/**
 * Creates `dir` and its missing parents one level at a time. Node's `mkdirSync(..., { recursive:
 * true })` spins forever where a parent exists but refuses new entries without saying why
 * (under /proc); here each level fails once, with the folder and the reason.
 */
export function makeFolder(flag: string, dir: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  let existing = target;
  for (;;) {
    const kind = kindOf(existing);
    if (kind === 'dir') break;
    if (kind === 'other') {
      throw new UsageError(
        `${flagPrefix(flag)}${existing} is a file, so the folder ${target} cannot be created there`,
        CANNOT_CREATE_EXIT_CODE,
      );
    }
    missing.unshift(existing);
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && kindOf(folder) === 'dir') continue;
      throw new UsageError(
        `${flagPrefix(flag)}cannot create the folder ${folder} (${reasonOf(code)})`,
        CANNOT_CREATE_EXIT_CODE,
      );
    }
  }
}

/**
 * Makes sure an output folder exists and accepts files, before any long work: creates it (see
 * {@link makeFolder}), then writes and removes a small probe file, so a read-only file system,
 * missing permissions or a full disk are reported now, naming the flag and the folder, rather
 * than after hours of training or scoring.
 */
export function prepareOutputFolder(flag: string, dir: string): void {
  makeFolder(flag, dir);
  const probe = join(resolve(dir), `.hierglow-write-test-${process.pid}`);
  let fd: number | null = null;
  try {
    fd = openSync(probe, 'w');
    writeSync(fd, 'hierglow checks that this folder accepts files\n');
  } catch (e) {
    throw new UsageError(
      `${flagPrefix(flag)}cannot write into ${resolve(dir)} (${reasonOf((e as NodeJS.ErrnoException).code)})`,
      CANNOT_CREATE_EXIT_CODE,
    );
  } finally {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(probe);
    } catch {
      // The probe was never created.
    }
  }
}

function kindOf(path: string): 'dir' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'other';
  } catch {
    return 'missing';
  }
}

function flagPrefix(flag: string): string {
  return flag ? `--${flag}: ` : '';
}

/** Why a file operation failed, in words, with the code. */
export function reasonOf(code: string | undefined): string {
  const words: Record<string, string> = {
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'the file system is read-only',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOENT: 'the file system does not allow new entries there',
    ENOTDIR: 'a part of the path is a file',
    EIO: 'input/output error',
  };
  return code ? `${words[code] ?? 'failed'}, ${code}` : 'failed';
}
