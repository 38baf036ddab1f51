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
