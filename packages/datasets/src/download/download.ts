import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { writeFileAtomic } from '../atomic-file.js';
import {
  CATALOGUE,
  type CatalogueEntry,
  type CatalogueFile,
  catalogueEntry,
} from '../catalogue.js';
import { verifyDatasetFolder } from '../catalogue-folder.js';
import {
  ChecksumMismatchError,
  DatasetNotFoundError,
  DownloadError,
  InvalidArgumentError,
} from '../errors.js';
import { pathExists } from '../path-exists.js';
import { extractTarGz, extractZip } from './archives.js';
import { defaultCacheDir } from './cache-dir.js';

/** Progress of one file's download. */
export interface DownloadProgress {
  file: string;
  receivedBytes: number;
  totalBytes?: number;
}

/** Options of {@link download}. */
export interface DownloadOptions {
  /** Cache folder (default {@link defaultCacheDir}); the dataset goes into a sub-folder. */
  cacheDir?: string;
  /** Only the files serving these splits (default: all). */
  splits?: string[];
  /** Catalogue to look the name up in (default the built-in one; tests and mirrors pass their own). */
  catalogue?: readonly CatalogueEntry[];
  onProgress?: (p: DownloadProgress) => void;
  /**
   * After fetching, open every downloaded split and compare its image count with the catalogue
   * (default true): the check for files without a published checksum.
   */
  verify?: boolean;
  /** Reconnections per URL after a broken transfer, each resuming where it stopped (default 3). */
  retries?: number;
  /**
   * A transfer that receives nothing for this long counts as broken (and is retried):
   * {@link DEFAULT_STALL_TIMEOUT_MS} by default.
   */
  stallTimeoutMs?: number;
  /**
   * The most bytes a file of unknown size may have ({@link DEFAULT_MAX_DOWNLOAD_BYTES} by
   * default); a server that sends more, or announces more, is refused. Files whose size the
   * catalogue records may not exceed that size.
   */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** Default of {@link DownloadOptions.stallTimeoutMs}: 30 s without a byte. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
/** Default of {@link DownloadOptions.maxBytes}: 4 GiB, above every catalogue file. */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 4 * 2 ** 30;

/**
 * Downloads a catalogue dataset into `cacheDir/<name>/` and returns that folder.
 *
 * - Each file goes to `<file>.part` first and resumes with an HTTP Range request after a broken
 *   transfer (also across runs); mirrors are tried in order.
 * - A finished file is checked against the catalogue's size, sha256 and decompressed-content
 *   sha256 where known, and in any case for completeness by its format (a gzip stream must
 *   end, a zip must have its central directory, a MAT file's elements must fit), then renamed
 *   into place. A mismatch deletes it and throws {@link ChecksumMismatchError}: nothing
 *   unverified or truncated ever sits under the final name.
 * - A file of unknown size is capped ({@link DownloadOptions.maxBytes}); a transfer that
 *   stalls ({@link DownloadOptions.stallTimeoutMs}) is broken off and resumed.
 * - Archives are unpacked into the same folder (temporary folder + rename).
 * - Files already present are not fetched again, so calling it twice is cheap.
 * - A lock file keeps two processes from downloading the same file at once.
 */
export async function download(name: string, options: DownloadOptions = {}): Promise<string> {
  const entry = catalogueEntry(name, options.catalogue ?? CATALOGUE);
  if (entry.unavailable)
    throw new DatasetNotFoundError(`${entry.name} cannot be downloaded: ${entry.unavailable}`);
  const splits = options.splits;
  if (splits) {
    for (const s of splits) {
      if (!(s in entry.splits)) {
        throw new InvalidArgumentError(
          `${entry.name} has the splits ${Object.keys(entry.splits).join(', ')}, not '${s}'`,
        );
      }
    }
  }
  const folder = join(options.cacheDir ?? defaultCacheDir(), entry.cacheFolder ?? entry.name);
  await mkdir(folder, { recursive: true });
  for (const file of entry.files) {
    if (splits && !file.splits.some((s) => splits.includes(s))) continue;
    const dest = join(folder, file.name);
    if (!(await pathExists(dest)))
      await withLock(`${dest}.lock`, () => fetchFile(file, dest, options));
    if (file.extract) await unpack(file, dest, folder);
  }
  if (options.verify ?? true) {
    const wanted = splits ?? [...new Set(entry.files.flatMap((f) => f.splits))];
    await verifyDatasetFolder(entry, folder, wanted);
  }
  return folder;
}

async function unpack(file: CatalogueFile, archive: string, folder: string): Promise<void> {
  const marker = join(
    folder,
    `.${file.name}.extracted${file.members ? `-${file.members.join('+')}` : ''}`,
  );
  if (await pathExists(marker)) return;
  if (file.extract === 'tar.gz') await extractTarGz(archive, folder);
  else
    await extractZip(
      archive,
      folder,
      (n) => !file.members || file.members.some((m) => n.includes(m)),
    );
  await writeFileAtomic(marker, new Date().toISOString());
}

/** Runs `fn` holding an exclusive lock file; a lock left by a dead process is taken over. */
async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const h = await open(lockPath, 'wx');
      await h.writeFile(String(process.pid));
      await h.close();
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST' || attempt > 0) throw e;
      const pid = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DownloadError(
          `${lockPath}: process ${pid} is downloading this file; wait for it or delete the lock if it is stale`,
        );
      }
      await unlink(lockPath).catch(() => {});
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

async function fetchFile(
  file: CatalogueFile,
  dest: string,
  options: DownloadOptions,
): Promise<void> {
  const part = `${dest}.part`;
  const errors: string[] = [];
  let lastError: Error | undefined;
  for (const url of file.urls) {
    try {
      await transfer(url, part, file, options);
      await verify(file, part, url);
      await rename(part, dest);
      return;
    } catch (e) {
      if (options.signal?.aborted) throw e;
      lastError = e as Error;
      errors.push(`${url}: ${(e as Error).message}`);
      // A wrong file must not be resumed from another mirror.
      if (ChecksumMismatchError.isInstance(e)) await rm(part, { force: true });
    }
  }
  if (lastError && ChecksumMismatchError.isInstance(lastError)) throw lastError;
  throw new DownloadError(`${file.name}: every source failed:\n  ${errors.join('\n  ')}`, {
    cause: lastError,
  });
}

/** Fetches `url` into `part`, resuming from its current size; reconnects on broken transfers. */
async function transfer(
  url: string,
  part: string,
  file: CatalogueFile,
  options: DownloadOptions,
): Promise<void> {
  const retries = options.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    const have = (await stat(part).catch(() => null))?.size ?? 0;
    if (file.bytes !== undefined && have === file.bytes) return;
    const stall = new StallWatch(options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: have > 0 ? { Range: `bytes=${have}-` } : {},
        signal,
      });
    } catch (e) {
      stall.stop();
      if (attempt >= retries || options.signal?.aborted)
        throw new DownloadError(`cannot connect (${stall.describe(e)})`, { cause: e });
      await backoff(attempt);
      continue;
    }
    if (res.status === 416 && have > 0) {
      // Nothing past our end: the part is complete (verification decides whether it is right).
      stall.stop();
      await res.body?.cancel();
      return;
    }
    if (res.status !== 200 && res.status !== 206) {
      stall.stop();
      await res.body?.cancel();
      throw new DownloadError(`HTTP ${res.status} ${res.statusText}`);
    }
    let offset = 0;
    let total: number | undefined;
    if (res.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) {
        stall.stop();
        await res.body?.cancel();
        throw new DownloadError(
          `server answered the range request from ${have} with "${res.headers.get('content-range')}"`,
        );
      }
      offset = have;
      if (m[3] !== '*') total = Number(m[3]);
    } else {
      const len = res.headers.get('content-length');
      if (len !== null) total = Number(len);
    }
    if (total !== undefined && file.bytes !== undefined && total !== file.bytes) {
      stall.stop();
      await res.body?.cancel();
      throw new ChecksumMismatchError(
        `${file.name}: the server offers ${total} bytes but the catalogue expects ${file.bytes}`,
      );
    }
    const limit = file.bytes ?? options.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
    if (total !== undefined && total > limit) {
      stall.stop();
      await res.body?.cancel();
      throw new ChecksumMismatchError(
        `${file.name}: the server offers ${total} bytes, more than the limit of ${limit}`,
      );
    }
    const handle = await open(part, offset === 0 ? 'w' : 'r+');
    let position = offset;
    try {
      if (!res.body) throw new DownloadError('empty response body');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        stall.restart();
        if (position + chunk.length > limit) {
          throw new ChecksumMismatchError(
            `${file.name}: the server sent more than ${limit} bytes${total === undefined ? ' without announcing a size' : ''}; stopped`,
          );
        }
        await handle.write(chunk, 0, chunk.length, position);
        position += chunk.length;
        options.onProgress?.({
          file: file.name,
          receivedBytes: position,
          ...(total !== undefined ? { totalBytes: total } : {}),
        });
      }
    } catch (e) {
      stall.stop();
      await handle.close();
      if (ChecksumMismatchError.isInstance(e)) throw e;
      if (attempt >= retries || options.signal?.aborted) {
        throw new DownloadError(
          `transfer broke at byte ${position} (${stall.describe(e)}); run download again to resume`,
          { cause: e },
        );
      }
      await backoff(attempt);
      continue; // reconnect and resume from what reached the disk
    }
    stall.stop();
    await handle.sync();
    await handle.close();
    if (total !== undefined && position !== total) {
      if (attempt >= retries)
        throw new DownloadError(
          `transfer ended at byte ${position} of ${total}; run download again to resume`,
        );
      continue;
    }
    return;
  }
}

/**
 * Aborts a transfer that receives nothing for `ms`: started with the request, restarted with
 * every chunk. Its `describe` says 'stalled' for the abort it caused.
 */
class StallWatch {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  constructor(private readonly ms: number) {
    this.restart();
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  restart(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(), this.ms);
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
  describe(e: unknown): string {
    return this.controller.signal.aborted
      ? `no data for ${this.ms / 1000} s, stalled`
      : describe(e);
  }
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
}

function describe(e: unknown): string {
  const err = e as { message?: string; cause?: { message?: string; code?: string } };
  return [err.message, err.cause?.code ?? err.cause?.message].filter(Boolean).join(': ');
}

async function sha256Of(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(stream, hash);
  return hash.digest('hex');
}

async function verify(file: CatalogueFile, part: string, url: string): Promise<void> {
  const size = (await stat(part)).size;
  const incomplete = await incompleteFormat(file.name, part, size);
  if (incomplete) {
    throw new ChecksumMismatchError(
      `${file.name} from ${url}: ${incomplete}, so the transfer was cut short; the file was deleted`,
    );
  }
  if (file.bytes !== undefined && size !== file.bytes) {
    throw new ChecksumMismatchError(
      `${file.name} from ${url}: ${size} bytes, expected ${file.bytes}; the file was deleted`,
    );
  }
  if (file.sha256) {
    const got = await sha256Of(createReadStream(part));
    if (got !== file.sha256) {
      throw new ChecksumMismatchError(
        `${file.name} from ${url}: sha256 ${got}, expected ${file.sha256}; the file was deleted`,
      );
    }
  }
  if (file.contentSha256) {
    let got: string;
    try {
      got = await sha256Of(createReadStream(part).pipe(createGunzip()));
    } catch (e) {
      throw new ChecksumMismatchError(
        `${file.name} from ${url}: not valid gzip data (${(e as Error).message}); the file was deleted`,
      );
    }
    if (got !== file.contentSha256) {
      throw new ChecksumMismatchError(
        `${file.name} from ${url}: decompressed sha256 ${got}, expected ${file.contentSha256}; the file was deleted`,
      );
    }
  }
}

/**
 * Why a downloaded file is incomplete by its own format, or null when it is whole (or of a
 * format without such a check): what catches a body cut short when the catalogue knows no
 * size or checksum and the server announced no length.
 */
async function incompleteFormat(name: string, path: string, size: number): Promise<string | null> {
  if (size === 0) return 'it is empty';
  if (/\.(gz|tgz)$/.test(name)) {
    try {
      await pipeline(
        createReadStream(path),
        createGunzip(),
        new Writable({ write: (_c, _e, cb) => cb() }),
      );
    } catch (e) {
      return `its gzip stream does not end properly (${(e as Error).message})`;
    }
    return null;
  }
  if (name.endsWith('.zip')) {
    // The end-of-central-directory record sits in the last 22 + 65535 bytes.
    const tail = Buffer.alloc(Math.min(size, 22 + 0xffff));
    const h = await open(path, 'r');
    try {
      await h.read(tail, 0, tail.length, size - tail.length);
    } finally {
      await h.close();
    }
    return tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06])) < 0
      ? 'it has no zip end-of-central-directory record'
      : null;
  }
  if (name.endsWith('.mat')) return matV5Incomplete(path, size);
  return null;
}

/** A MAT v5 file is whole when its data elements, after the 128-byte header, end at its end. */
async function matV5Incomplete(path: string, size: number): Promise<string | null> {
  if (size < 128) return `it has ${size} bytes, less than a MAT file header`;
  const h = await open(path, 'r');
  try {
    const tag = Buffer.alloc(8);
    let at = 128;
    const littleEndian = await h
      .read(tag, 0, 4, 124)
      .then(() => tag.toString('latin1', 2, 4) === 'IM');
    while (at < size) {
      if (at + 8 > size) return `it ends inside a MAT element tag at byte ${at}`;
      await h.read(tag, 0, 8, at);
      const type = littleEndian ? tag.readUInt32LE(0) : tag.readUInt32BE(0);
      // Small-element format: the size is in the tag's upper half and the data fits in it.
      const small = type >>> 16 !== 0;
      const bytes = small ? 0 : littleEndian ? tag.readUInt32LE(4) : tag.readUInt32BE(4);
      // Elements are padded to 8 bytes, except compressed ones (miCOMPRESSED, 15).
      const next = at + 8 + (type === 15 ? bytes : Math.ceil(bytes / 8) * 8);
      if (next > size && !(next - size < 8 && at + 8 + bytes === size)) {
        return `its MAT element at byte ${at} needs ${bytes} bytes but the file ends first`;
      }
      at = next;
    }
    return null;
  } finally {
    await h.close();
  }
}

/**
 * Checks the installed copy of a catalogue dataset (e.g. Debian's Fashion-MNIST) against the
 * recorded sha256 of every file; throws {@link ChecksumMismatchError} naming the first bad file.
 */
export async function verifyLocalCopy(
  name: string,
  catalogue: readonly CatalogueEntry[] = CATALOGUE,
): Promise<string> {
  const entry = catalogueEntry(name, catalogue);
  for (const copy of entry.systemCopies ?? []) {
    if (!(await pathExists(copy.dir))) continue;
    for (const [fileName, expected] of Object.entries(copy.sha256)) {
      const path = join(copy.dir, fileName);
      const got = await sha256Of(createReadStream(path));
      if (got !== expected) {
        throw new ChecksumMismatchError(
          `${path}: sha256 ${got}, expected ${expected}; reinstall ${copy.package}`,
        );
      }
    }
    return copy.dir;
  }
  throw new DatasetNotFoundError(
    `${entry.name} has no installed copy${entry.systemCopies?.length ? ` (install ${entry.systemCopies.map((c) => c.package).join(' or ')})` : ''}`,
  );
}
