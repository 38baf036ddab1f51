/**
 * A mistake the user can fix (bad flag, missing file, incompatible checkpoint). The CLI prints
 * its message as one line and exits non-zero, without a stack trace.
 */
export class UsageError extends Error {
  readonly _tag = 'UsageError';
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Whether an error is one of hierglow's own, user-facing errors (from any package: they carry
 * a string `_tag`), so the CLI shows its message instead of a stack trace.
 */
export function isUserFacingError(e: unknown): e is Error & { _tag: string } {
  return e instanceof Error && typeof (e as { _tag?: unknown })._tag === 'string';
}

/** Node's own file errors (ENOENT, EACCES, ...) are user-facing too: they name the path. */
export function isFileSystemError(e: unknown): e is Error & { code: string; path: string } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && 'path' in e;
}

/**
 * Failures of the machine rather than of hierglow or the input: a full disk, a read-only file
 * system, missing permissions. Their exit codes follow sysexits.h: 74 (EX_IOERR) for a device
 * that failed or filled up, 73 (EX_CANTCREAT) for an output that may not be written.
 */
const STORAGE_FAILURES: Record<string, { words: string; exitCode: number }> = {
  ENOSPC: { words: 'no space left on the device', exitCode: 74 },
  EDQUOT: { words: 'disk quota exceeded', exitCode: 74 },
  EFBIG: { words: 'file too large for the file system', exitCode: 74 },
  EIO: { words: 'input/output error', exitCode: 74 },
  EROFS: { words: 'the file system is read-only', exitCode: 73 },
  EACCES: { words: 'permission denied', exitCode: 73 },
  EPERM: { words: 'operation not permitted', exitCode: 73 },
};

/**
 * The one-line message and exit code of a storage failure (see {@link STORAGE_FAILURES}), with
 * the path when the error carries one (hierglow's writers add it where Node does not, as for
 * ENOSPC from a write); null for other errors.
 */
export function storageFailure(e: unknown): { message: string; exitCode: number } | null {
  if (!(e instanceof Error)) return null;
  const { code, path } = e as NodeJS.ErrnoException;
  const failure = code ? STORAGE_FAILURES[code] : undefined;
  if (!failure) return null;
  const where = path ? `cannot write ${path}` : 'a write failed';
  return { message: `${where}: ${failure.words} (${code})`, exitCode: failure.exitCode };
}

/**
 * Sets the path a file error is about: the file the user asked for rather than a temporary
 * sibling, and at all for errors Node gives none (ENOSPC from `write`); returns the error.
 */
export function withPath(e: unknown, path: string): unknown {
  if (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string') {
    (e as NodeJS.ErrnoException).path = path;
  }
  return e;
}
