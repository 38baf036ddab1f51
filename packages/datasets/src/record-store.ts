import { type FileHandle, open } from 'node:fs/promises';
import { CorruptDatasetError, DatasetNotFoundError, InvalidArgumentError } from './errors.js';

/** Byte storage that records are read from: a file (positional reads) or memory. */
export interface RecordStore {
  /** The file the bytes belong to, for messages. */
  readonly path: string;
  /** Total bytes available. */
  readonly size: number;
  /** Copies `length` bytes from `position` into `target` at `targetOffset`. */
  read(position: number, length: number, target: Uint8Array, targetOffset: number): Promise<void>;
  close(): Promise<void>;
}

/** A {@link RecordStore} over bytes already in memory (e.g. a gunzipped IDX file). */
export class MemoryRecordStore implements RecordStore {
  readonly size: number;
  constructor(
    readonly path: string,
    private readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }
  async read(position: number, length: number, target: Uint8Array, targetOffset: number) {
    if (position < 0 || position + length > this.size) {
      throw new CorruptDatasetError(
        `${this.path}: read of ${length} bytes at ${position} runs past the end (${this.size} bytes); the data is truncated`,
      );
    }
    target.set(this.bytes.subarray(position, position + length), targetOffset);
  }
  async close() {}
}

/**
 * A {@link RecordStore} over an open file. Reads go through the libuv thread pool, so they
 * overlap with work on the main thread (that is what prefetching relies on).
 */
export class FileRecordStore implements RecordStore {
  private closed = false;
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /** Opens `path` read-only. Throws {@link DatasetNotFoundError} when it does not exist. */
  static async open(path: string): Promise<FileRecordStore> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      throw fileOpenError(path, e);
    }
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      throw new InvalidArgumentError(`${path} is not a regular file; pass the dataset file itself`);
    }
    return new FileRecordStore(path, handle, stat.size);
  }

  async read(position: number, length: number, target: Uint8Array, targetOffset: number) {
    if (this.closed) {
      throw new InvalidArgumentError(`${this.path}: the dataset was closed; open it again to read`);
    }
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(
        target,
        targetOffset + done,
        length - done,
        position + done,
      );
      if (bytesRead === 0) {
        throw new CorruptDatasetError(
          `${this.path}: file ended after ${position + done} bytes but ${position + length} were expected; it is truncated (re-download or rebuild it)`,
        );
      }
      done += bytesRead;
    }
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** Translates an fs error from opening `path` into this package's error kinds. */
export function fileOpenError(path: string, e: unknown): Error {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') {
    return new DatasetNotFoundError(
      `${path} does not exist; check the path or download the dataset first`,
      { cause: e },
    );
  }
  if (code === 'EISDIR') {
    return new InvalidArgumentError(`${path} is a directory where a file was expected`, {
      cause: e,
    });
  }
  return new InvalidArgumentError(`${path} cannot be opened (${code ?? String(e)})`, { cause: e });
}
