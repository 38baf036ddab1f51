import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file atomically: the bytes go to a temporary sibling, are flushed to disk, and the
 * sibling is renamed over `path`. A process killed at any point leaves either the old file or
 * the new one, never a truncated mix (what `--resume` and the reports rely on). Temporary
 * siblings that killed processes left behind are removed first.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  await removeOrphanedTemps(path);
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await rm(temp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
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
