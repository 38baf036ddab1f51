import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { withPath } from './errors.js';

/**
 * Writes a file atomically: the bytes go to a temporary sibling, are flushed to disk, and the
 * sibling is renamed over `path`. A process killed at any point leaves either the old file or
 * the new one, never a truncated mix (what `--resume` and the reports rely on). Temporary
 * siblings that killed processes left behind are removed first.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeFilesAtomic([{ path, data }]);
}

/**
 * Writes several files all-or-nothing (as far as a file system allows): every file goes to a
 * flushed temporary sibling first, and only when all of them are written are they renamed into
 * place, in the order given (put the file that marks completion last). A failure while
 * writing (a full disk) removes the temporaries and leaves every destination as it was.
 * Errors carry the path they are about.
 */
export async function writeFilesAtomic(
  files: ReadonlyArray<{ path: string; data: string | Uint8Array }>,
): Promise<void> {
  const temps: string[] = [];
  try {
    for (const { path, data } of files) {
      const dir = dirname(path);
      await mkdir(dir, { recursive: true }).catch((e) => {
        throw withPath(e, dir);
      });
      await removeOrphanedTemps(path);
      const temp = join(
        dir,
        `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
      );
      temps.push(temp);
      const handle = await open(temp, 'w').catch((e) => {
        throw withPath(e, path);
      });
      try {
        await handle.writeFile(data);
        await handle.sync();
      } catch (e) {
        throw withPath(e, path);
      } finally {
        await handle.close();
      }
    }
    for (const [i, { path }] of files.entries()) {
      await rename(temps[i]!, path).catch((e) => {
        throw withPath(e, path);
      });
    }
    temps.length = 0;
  } finally {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
  }
}

/** {@link writeFileAtomic} of `value` as pretty-printed JSON with a final newline. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Deletes `.NAME.tmp-PID-*` siblings of `path` whose process is gone (killed mid-write). */
async function removeOrphanedTemps(path: string): Promise<void> {
  const name = basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^\\.${name}\\.tmp-(\\d+)-[0-9a-f]+$`);
  for (const entry of await readdir(dirname(path))) {
    const pid = pattern.exec(entry)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) {
      await rm(join(dirname(path), entry), { force: true });
    }
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
