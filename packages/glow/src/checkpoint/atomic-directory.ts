import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { sha256 } from './sha256.js';

/** A file to write: its name inside the directory and a function producing its bytes. */
export interface DirectoryFile {
  name: string;
  /** Called once, when the file is written; files are produced one at a time to bound memory. */
  bytes: () => Promise<Uint8Array> | Uint8Array;
}

/** Size and SHA-256 of a written file, as recorded in a checkpoint's `config.json`. */
export interface FileDigest {
  bytes: number;
  sha256: string;
}

/**
 * The points a save passes, in order. A process killed between two of them leaves the state
 * that point describes; the checkpoint tests snapshot the file system at each one.
 */
export type SaveStage =
  | 'temp-created'
  | `wrote ${string}`
  | 'temp-synced'
  | 'old-moved-aside'
  | 'renamed'
  | 'old-removed';

/** Sibling names used while saving `dir`: `.NAME.tmp-PID-RAND` and `.NAME.old-PID-RAND`. */
export function siblingPattern(dir: string): RegExp {
  const name = basename(resolve(dir)).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${name}\\.(tmp|old)-(\\d+)-[0-9a-f]+$`);
}

/**
 * Writes a directory atomically: every file goes into a fresh temporary sibling directory,
 * is flushed to disk, and only then does the temporary directory take the final name (the
 * previous directory, if any, is first renamed aside and removed after). A process killed at
 * any point leaves either the previous directory or the new one complete under `dir`, except
 * between the two renames, where `dir` is briefly absent and the previous version sits under
 * `.NAME.old-*` (the loader says so). Leftovers of crashed saves by dead processes are removed
 * on the next save.
 *
 * `writeFile` receives each file's bytes; `digests` returns their sizes and SHA-256s so a final
 * file (the manifest) can record them. `onStage` is for tests.
 */
export async function writeDirectoryAtomically(
  dir: string,
  files: (digests: () => Record<string, FileDigest>) => DirectoryFile[],
  onStage: (stage: SaveStage) => void | Promise<void> = () => {},
): Promise<void> {
  const target = resolve(dir);
  try {
    await writeDirectory(target, files, onStage);
  } catch (e) {
    // Name the directory asked for, not the temporary sibling, and give errors that come
    // without a path (ENOSPC from a write) one, so a full disk is reported as such.
    const err = e as NodeJS.ErrnoException;
    const sibling = join(dirname(target), `.${basename(target)}.`);
    if (typeof err.code === 'string' && (!err.path || err.path.startsWith(sibling))) {
      err.path = target;
    }
    throw e;
  }
}

async function writeDirectory(
  target: string,
  files: (digests: () => Record<string, FileDigest>) => DirectoryFile[],
  onStage: (stage: SaveStage) => void | Promise<void>,
): Promise<void> {
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  await removeStaleSiblings(target);
  const tag = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const temp = join(parent, `.${basename(target)}.tmp-${tag}`);
  await mkdir(temp);
  let committed = false;
  try {
    await onStage('temp-created');
    const digests: Record<string, FileDigest> = {};
    for (const file of files(() => ({ ...digests }))) {
      const bytes = await file.bytes();
      await writeAndSync(join(temp, file.name), bytes);
      digests[file.name] = { bytes: bytes.length, sha256: sha256(bytes) };
      await onStage(`wrote ${file.name}`);
    }
    await syncDirectory(temp);
    await onStage('temp-synced');
    let old: string | null = null;
    if (await exists(target)) {
      old = join(parent, `.${basename(target)}.old-${tag}`);
      await rename(target, old);
      await onStage('old-moved-aside');
    }
    await rename(temp, target);
    committed = true;
    await syncDirectory(parent);
    await onStage('renamed');
    if (old) await rm(old, { recursive: true, force: true });
    await onStage('old-removed');
  } finally {
    if (!committed) await rm(temp, { recursive: true, force: true });
  }
}

async function writeAndSync(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a directory so the renames and new entries in it survive a power loss. */
async function syncDirectory(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | null = null;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
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

/**
 * Removes temporary and set-aside siblings left by crashed saves of `target`, when the process
 * that made them is gone. A set-aside previous version is kept while `target` itself is missing:
 * it is then the only complete checkpoint.
 */
async function removeStaleSiblings(target: string): Promise<void> {
  const pattern = siblingPattern(target);
  const targetExists = await exists(target);
  for (const entry of await readdir(dirname(target))) {
    const match = pattern.exec(entry);
    if (!match || processAlive(Number(match[2]))) continue;
    if (match[1] === 'old' && !targetExists) continue;
    await rm(join(dirname(target), entry), { recursive: true, force: true });
  }
}

/**
 * Settles what a killed save of `dir` left, before a run resumes from it. When a save was killed
 * between its two renames, `dir` is missing and a dead process left the previous version under
 * `.NAME.old-*`: the newest such copy is renamed back to `dir` and its former path returned.
 * Otherwise returns null. Then the siblings dead savers left are removed (a set-aside copy only
 * once `dir` exists), so a run killed after its last checkpoint's rename does not keep the
 * previous checkpoint beside its output forever (no later save would have cleared it).
 */
export async function recoverInterruptedSave(dir: string): Promise<string | null> {
  const target = resolve(dir);
  let restoredFrom: string | null = null;
  if (!(await exists(target))) {
    const pattern = siblingPattern(target);
    const { old } = await interruptedSaveLeftovers(target);
    const orphan = old.find((path) => !processAlive(Number(pattern.exec(basename(path))![2])));
    if (orphan) {
      await rename(orphan, target);
      await syncDirectory(dirname(target));
      restoredFrom = orphan;
    }
  }
  if (await exists(dirname(target))) await removeStaleSiblings(target);
  return restoredFrom;
}

/**
 * Environment variable for the crash test (`scripts/crash-test.mjs`): when set to a number of
 * milliseconds, every save announces each {@link SaveStage} on stderr and pauses that long
 * there, so a SIGKILL sent on the announcement lands inside that phase of the write.
 */
export const CRASH_TEST_PAUSE_ENV = 'HIERGLOW_CRASH_TEST_SAVE_PAUSE_MS';

/**
 * The stage hook {@link CRASH_TEST_PAUSE_ENV} asks for, or undefined when it is not set. Lines
 * read `hierglow-crash-test: save <dir> <label> <stage>`, written synchronously so they reach
 * the reader before the pause starts.
 */
export function crashTestStageHook(
  dir: string,
  label: string,
): ((stage: SaveStage) => Promise<void>) | undefined {
  const value = process.env[CRASH_TEST_PAUSE_ENV];
  if (value === undefined || value === '') return undefined;
  const pauseMs = Number(value);
  if (!(pauseMs >= 0)) throw new TypeError(`${CRASH_TEST_PAUSE_ENV} must be a number of ms`);
  const name = basename(resolve(dir));
  return async (stage) => {
    writeSync(2, `hierglow-crash-test: save ${name} ${label} ${stage.replace(/ /g, ':')}\n`);
    await new Promise((r) => setTimeout(r, pauseMs));
  };
}

/** Leftovers of interrupted saves of `dir` (for error messages): full paths, newest first. */
export async function interruptedSaveLeftovers(
  dir: string,
): Promise<{ old: string[]; temp: string[] }> {
  const target = resolve(dir);
  const pattern = siblingPattern(target);
  const old: Array<[string, number]> = [];
  const temp: Array<[string, number]> = [];
  let entries: string[] = [];
  try {
    entries = await readdir(dirname(target));
  } catch {
    return { old: [], temp: [] };
  }
  for (const entry of entries) {
    const match = pattern.exec(entry);
    if (!match) continue;
    const path = join(dirname(target), entry);
    const mtime = (await stat(path)).mtimeMs;
    (match[1] === 'old' ? old : temp).push([path, mtime]);
  }
  const newestFirst = (xs: Array<[string, number]>) =>
    xs.sort((a, b) => b[1] - a[1]).map(([p]) => p);
  return { old: newestFirst(old), temp: newestFirst(temp) };
}
