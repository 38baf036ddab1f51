import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * A file written under a temporary name in the destination folder and renamed into place only
 * once complete, so a crash or kill never leaves a half-written file under the final name.
 */
export class AtomicFile {
  private constructor(
    readonly path: string,
    readonly tempPath: string,
    readonly handle: FileHandle,
  ) {}

  /** Creates the temporary file next to `path` (same folder, so the rename is atomic). */
  static async create(path: string): Promise<AtomicFile> {
    const tempPath = join(
      dirname(path),
      `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    const handle = await open(tempPath, 'wx+');
    return new AtomicFile(path, tempPath, handle);
  }

  /** Flushes to disk, closes and renames over `path`. */
  async commit(): Promise<void> {
    await this.handle.sync();
    await this.handle.close();
    await rename(this.tempPath, this.path);
  }

  /** Closes and deletes the temporary file; `path` is untouched. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
    await unlink(this.tempPath).catch(() => {});
  }
}

/** Writes `data` to `path` atomically (temp file + rename). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const f = await AtomicFile.create(path);
  try {
    await f.handle.writeFile(data);
    await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
}
