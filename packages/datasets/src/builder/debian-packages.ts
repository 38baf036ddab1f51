import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EnvironmentVariables } from '../download/cache-dir.js';
import { CorruptDatasetError, DownloadError, MissingToolError } from '../errors.js';

/**
 * Fetches Debian packages into a cache folder without installing them: `apt-get download` into a
 * temporary folder, `dpkg-deb -x` beside it, then a rename into `<cacheDir>/<package>`. The
 * marker file is written before the rename, so a package folder under its final name is always
 * complete, and an interrupted fetch leaves at most a `.fetch-*` folder, never a half package.
 */

/** File inside an unpacked package folder that says the unpack finished. */
export const UNPACKED_MARKER = '.unpacked';

/** Options of {@link fetchDebianPackages}. */
export interface DebianFetchOptions {
  /** Where unpacked packages are kept, one folder per package (created if missing). */
  cacheDir: string;
  /**
   * Run `apt-get update` once when a download fails, then retry (default: when running as root,
   * because apt-get update needs root; without it a fresh container has no package lists).
   */
  aptUpdate?: boolean;
  /** Environment (PATH) of apt-get and dpkg-deb; default `process.env`. */
  env?: EnvironmentVariables;
  /** Stops the running apt-get or dpkg-deb; the temporary folder is removed. */
  signal?: AbortSignal;
  onProgress?: (event: DebianFetchEvent) => void;
}

/** One step of {@link fetchDebianPackages}. */
export interface DebianFetchEvent {
  package: string;
  /** `cached`: already unpacked, nothing fetched; `apt-update`: the download failed, updating. */
  stage: 'cached' | 'download' | 'apt-update' | 'unpack' | 'fetched';
}

/** Fetches each package unless already unpacked; returns the unpacked folders, in order. */
export async function fetchDebianPackages(
  names: readonly string[],
  options: DebianFetchOptions,
): Promise<string[]> {
  await mkdir(options.cacheDir, { recursive: true });
  const state = {
    mayUpdate: options.aptUpdate ?? process.getuid?.() === 0,
    updated: false,
  };
  const roots: string[] = [];
  for (const name of names) roots.push(await fetchOne(name, options, state));
  return roots;
}

/** True when `<cacheDir>/<name>` is a finished unpack (its marker exists). */
export async function isUnpacked(cacheDir: string, name: string): Promise<boolean> {
  try {
    return (await stat(join(cacheDir, name, UNPACKED_MARKER))).isFile();
  } catch {
    return false;
  }
}

async function fetchOne(
  name: string,
  options: DebianFetchOptions,
  state: { mayUpdate: boolean; updated: boolean },
): Promise<string> {
  const { cacheDir } = options;
  const final = join(cacheDir, name);
  const emit = (stage: DebianFetchEvent['stage']) => options.onProgress?.({ package: name, stage });
  if (await isUnpacked(cacheDir, name)) {
    emit('cached');
    return final;
  }
  // Inside the cache folder, so that the final rename stays on one file system.
  const tmp = await mkdtemp(join(cacheDir, `.fetch-${name}-`));
  const tool = (cmd: string, args: string[]) =>
    runTool(cmd, args, { cwd: tmp, env: options.env, signal: options.signal, cacheDir });
  try {
    emit('download');
    let got = await tool('apt-get', ['download', name]);
    if (got.code !== 0 && state.mayUpdate && !state.updated) {
      state.updated = true;
      emit('apt-update');
      const update = await tool('apt-get', ['update']);
      if (update.code !== 0) {
        throw new DownloadError(
          `apt-get update failed (exit ${update.code}) after apt-get download ${name} failed: ${tail(update.output)}`,
        );
      }
      got = await tool('apt-get', ['download', name]);
    }
    if (got.code !== 0) {
      throw new DownloadError(
        `apt-get download ${name} failed (exit ${got.code}): ${tail(got.output)}. ` +
          `Check that apt knows the package (apt-cache policy ${name})` +
          (state.updated ? '.' : '; as root, run apt-get update first.'),
      );
    }
    const debs = (await readdir(tmp)).filter((f) => f.endsWith('.deb'));
    if (debs.length !== 1) {
      throw new DownloadError(
        `apt-get download ${name} left ${debs.length} .deb files instead of 1 (${debs.join(', ') || 'none'})`,
      );
    }
    emit('unpack');
    const root = join(tmp, 'root');
    const unpacked = await tool('dpkg-deb', ['-x', join(tmp, debs[0]!), root]);
    if (unpacked.code !== 0) {
      throw new CorruptDatasetError(
        `dpkg-deb -x cannot unpack ${debs[0]} (package ${name}, exit ${unpacked.code}): ${tail(unpacked.output)}. ` +
          `Nothing was put into ${cacheDir}; run again to download it afresh.`,
      );
    }
    await writeFile(join(root, UNPACKED_MARKER), '');
    // A folder without the marker under the final name is not ours to keep (a copy left by hand).
    await rm(final, { recursive: true, force: true });
    try {
      await rename(root, final);
    } catch (e) {
      // Another process finished the same package between our rm and rename: use its copy.
      if (!(await isUnpacked(cacheDir, name))) throw e;
    }
    emit('fetched');
    return final;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The last lines of a tool's output, on one line, for an error message. */
function tail(output: string): string {
  const lines = output.trim().split('\n').slice(-3).join(' | ');
  return lines || '(no output)';
}

/** Runs a program to completion; its stdout and stderr are kept (the last 4 kB) for messages. */
function runTool(
  cmd: string,
  args: string[],
  opts: {
    cwd: string;
    env: EnvironmentVariables | undefined;
    signal?: AbortSignal;
    cacheDir: string;
  },
): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4096);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') return reject(e);
      reject(
        new MissingToolError(
          `${cmd} was not found on PATH: fetching the Debian photo packages needs apt-get and ` +
            'dpkg-deb (a Debian or Ubuntu system). Elsewhere, copy the unpacked cache folder ' +
            `from such a machine to ${opts.cacheDir} (one folder per package, with its ${UNPACKED_MARKER} file).`,
          { cause: e },
        ),
      );
    });
    child.on('close', (code) => resolvePromise({ code: code ?? 1, output }));
  });
}
