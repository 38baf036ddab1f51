/**
 * Error classes of @hierglow/datasets, one per kind of user mistake. Each carries a `_tag` so
 * `isInstance` works even when two copies of the package are installed (`instanceof` would not).
 * Messages name the file (or dataset) at fault, what is wrong with it, and what to do.
 */
export class DatasetError extends Error {
  readonly _tag: string = 'DatasetError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  /** True for any error thrown by this package, whatever its kind. */
  static isInstance(e: unknown): e is DatasetError {
    return (
      typeof e === 'object' &&
      e !== null &&
      typeof (e as { _tag?: unknown })._tag === 'string' &&
      DATASET_ERROR_TAGS.has((e as { _tag: string })._tag)
    );
  }
}

const DATASET_ERROR_TAGS = new Set<string>(['DatasetError']);

function tagged<T extends string>(tag: T) {
  DATASET_ERROR_TAGS.add(tag);
  return class extends DatasetError {
    override readonly _tag: string = tag;
    static override isInstance(e: unknown): e is DatasetError {
      return typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === tag;
    }
  };
}

/**
 * A dataset file exists but its content is wrong: bad magic number, impossible header, a size
 * that does not match the header, a truncated body, or labels out of range.
 */
export class CorruptDatasetError extends tagged('CorruptDatasetError') {}

/** A dataset path does not exist, or a catalogue name is unknown or not present locally. */
export class DatasetNotFoundError extends tagged('DatasetNotFoundError') {}

/** A path exists but no reader recognises its format. */
export class UnknownFormatError extends tagged('UnknownFormatError') {}

/** An option or argument is out of range or inconsistent (bad index, batch size, split, seed...). */
export class InvalidArgumentError extends tagged('InvalidArgumentError') {}

/** A downloaded file has the wrong size or sha256; it was not put into the cache. */
export class ChecksumMismatchError extends tagged('ChecksumMismatchError') {}

/** A download failed (HTTP status, connection error) after all mirrors were tried. */
export class DownloadError extends tagged('DownloadError') {}

/** A program an operation needs (e.g. `apt-get`, `dpkg-deb`) is not installed or not on PATH. */
export class MissingToolError extends tagged('MissingToolError') {}
