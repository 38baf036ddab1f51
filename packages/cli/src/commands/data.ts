import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { download, findCatalogueEntry } from '@hierglow/datasets';
import type { Command } from '../command.js';
import { openDataRef } from '../data/data-source.js';
import { choiceFlag, numberFlag, stringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';
import { formatDuration } from '../util/progress.js';

function firstPositional(
  positionals: string[],
  flagValue: string | undefined,
  what: string,
  command: string,
): string {
  const v = flagValue ?? positionals[0];
  if (!v) throw new UsageError(`${command} needs ${what}. See 'hierglow ${command} --help'.`);
  return v;
}

/** `hierglow data inspect`: format, count, shape and label counts of a dataset. */
export const dataInspectCommand: Command = {
  name: 'data inspect',
  summary: 'print the format, image count, shape, label counts and pixel statistics of a dataset',
  usage: 'hierglow data inspect NAME|PATH [--split NAME] [--json]',
  options: { split: { type: 'string' }, json: { type: 'boolean' } },
  noBackend: true,
  help: [
    '  NAME|PATH                 catalogue name or path (.hgds, IDX, CIFAR, SVHN .mat, image folder)',
    '  --split NAME              (default train)',
    '  --json                    machine-readable output',
  ],
  async run({ values, positionals }, io) {
    const source = firstPositional(positionals, undefined, 'NAME|PATH', 'data inspect');
    const split = stringFlag(values, 'split', 'train');
    const ds = await openDataRef({ flag: '', source, split });
    try {
      const labelCounts: Record<string, number> = {};
      if (ds.labels) {
        for (const l of ds.labels) {
          const key = ds.classNames?.[l] !== undefined ? `${l} ${ds.classNames[l]}` : String(l);
          labelCounts[key] = (labelCounts[key] ?? 0) + 1;
        }
      }
      // Pixel statistics over up to 10 000 images (enough to characterise a set, fast on any).
      const n = Math.min(ds.count, 10_000);
      let sum = 0;
      let min = 255;
      let max = 0;
      for (let s = 0; s < n; s += 1000) {
        const b = await ds.slice(s, Math.min(n, s + 1000));
        for (const v of b.pixels) {
          sum += v;
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
      const info = {
        description: ds.description,
        format: ds.provenance.format,
        sources:
          ds.provenance.sources.length > 5
            ? [...ds.provenance.sources.slice(0, 5), `... (${ds.provenance.sources.length} in all)`]
            : ds.provenance.sources,
        count: ds.count,
        shape: [ds.height, ds.width, ds.channels],
        numClasses: ds.numClasses ?? null,
        labelCounts: ds.labels ? labelCounts : null,
        pixels: {
          imagesSampled: n,
          mean: sum / (n * ds.height * ds.width * ds.channels),
          min,
          max,
        },
      };
      if (values.json) {
        io.out(JSON.stringify(info, null, 2));
        return 0;
      }
      io.out(`dataset   ${info.description}`);
      io.out(`format    ${info.format}`);
      io.out(`sources   ${info.sources.join(', ') || '(none recorded)'}`);
      io.out(`images    ${info.count}`);
      io.out(
        `shape     ${ds.height}x${ds.width}x${ds.channels} (height x width x channels, uint8 NHWC)`,
      );
      io.out(
        `pixels    mean ${info.pixels.mean.toFixed(2)}, min ${min}, max ${max} (first ${n} images)`,
      );
      if (ds.labels) {
        io.out(`labels    ${ds.numClasses ?? Object.keys(labelCounts).length} classes`);
        const entries = Object.entries(labelCounts).sort(
          (a, b) => Number.parseInt(a[0], 10) - Number.parseInt(b[0], 10),
        );
        for (const [k, c] of entries.slice(0, 50)) io.out(`  ${k.padEnd(24)} ${c}`);
        if (entries.length > 50) io.out(`  ... ${entries.length - 50} more classes`);
      } else {
        io.out('labels    none');
      }
      return 0;
    } finally {
      await ds.close();
    }
  },
};

/** `hierglow data download`: fetch a catalogue dataset into the cache folder. */
export const dataDownloadCommand: Command = {
  name: 'data download',
  summary: 'download a catalogue dataset (resumable, verified) into the cache folder',
  usage: 'hierglow data download NAME [--split NAME] [--cache-dir DIR]',
  options: { split: { type: 'string', multiple: true }, 'cache-dir': { type: 'string' } },
  noBackend: true,
  help: [
    '  NAME                      catalogue name (fashion-mnist, mnist, cifar10, svhn, ...)',
    '  --split NAME              only the files of this split (repeatable; default all)',
    '  --cache-dir DIR           default $HIERGLOW_DATA_DIR, else ~/.cache/hierglow/datasets',
    "Fashion-MNIST is also found in Debian's dataset-fashion-mnist package without a download.",
  ],
  async run({ values, positionals }, io) {
    const name = firstPositional(positionals, undefined, 'a catalogue NAME', 'data download');
    if (!findCatalogueEntry(name)) {
      throw new UsageError(
        `data download: '${name}' is not in the catalogue (see 'hierglow data download --help')`,
        1,
      );
    }
    const splits =
      values.split === undefined ? undefined : ([] as string[]).concat(values.split as string[]);
    const cacheDir = stringFlag(values, 'cache-dir');
    const started = performance.now();
    let lastPrint = 0;
    const dir = await download(name, {
      ...(splits ? { splits } : {}),
      ...(cacheDir ? { cacheDir } : {}),
      signal: io.signal,
      onProgress: (p) => {
        const now = performance.now();
        if (now - lastPrint < 2000) return;
        lastPrint = now;
        const total = p.totalBytes ? ` of ${(p.totalBytes / 1e6).toFixed(1)} MB` : '';
        io.err(`${p.file}: ${(p.receivedBytes / 1e6).toFixed(1)} MB${total}`);
      },
    });
    io.err(`downloaded ${name} in ${formatDuration((performance.now() - started) / 1000)}`);
    io.out(dir);
    return 0;
  },
};

/** The repository's general-dataset script (present in a checkout of the hierglow monorepo). */
function buildGeneralScript(): string | null {
  const require = createRequire(import.meta.url);
  let datasetsDir: string;
  try {
    datasetsDir = dirname(require.resolve('@hierglow/datasets/package.json'));
  } catch {
    return null;
  }
  const script = resolve(datasetsDir, '..', '..', 'scripts', 'build-general-dataset.sh');
  return existsSync(script) ? script : null;
}

/** `hierglow data build-general`: the general natural-image set from Debian's photo packages. */
export const dataBuildGeneralCommand: Command = {
  name: 'data build-general',
  summary:
    'build the general natural-image set (Tiny Images substitute) from Debian photo packages',
  usage:
    'hierglow data build-general --out DIR [--train-count N] [--validation-count N] [--channels 1|3] [--seed S]',
  options: {
    out: { type: 'string' },
    'train-count': { type: 'string' },
    'validation-count': { type: 'string' },
    channels: { type: 'string' },
    seed: { type: 'string' },
    cache: { type: 'string' },
  },
  noBackend: true,
  help: [
    '  --out DIR                 writes DIR/train.hgds and DIR/validation.hgds (required)',
    '  --train-count N           crops in the training split (default 20000)',
    '  --validation-count N      crops from held-out photos (default train-count / 10)',
    '  --channels 1|3            1 = grey (the Fashion-MNIST experiment), 3 = RGB (default 3)',
    '  --seed S                  (default 0)',
    '  --cache DIR               where the unpacked Debian packages are kept',
    'Runs scripts/build-general-dataset.sh: apt-get download + dpkg-deb -x of the packages of',
    'data-sources.md §2 (nothing is installed), multi-scale random crops of every photo, whole',
    'photos held out for validation. Skipped when DIR/train.hgds already exists.',
  ],
  async run({ values }, io) {
    const out = stringFlag(values, 'out');
    if (!out)
      throw new UsageError(
        "data build-general needs --out DIR. See 'hierglow data build-general --help'.",
      );
    if (existsSync(join(out, 'train.hgds')) && existsSync(join(out, 'validation.hgds'))) {
      io.err(`${out} already holds train.hgds and validation.hgds; delete them to rebuild`);
      return 0;
    }
    const script = buildGeneralScript();
    if (!script) {
      throw new UsageError(
        'data build-general needs scripts/build-general-dataset.sh of the hierglow repository (run it from a checkout)',
        1,
      );
    }
    const args = ['--out', resolve(out)];
    for (const flag of ['train-count', 'validation-count', 'seed', 'cache'] as const) {
      const v = stringFlag(values, flag);
      if (v !== undefined) args.push(`--${flag}`, v);
    }
    if (values['train-count'] !== undefined)
      numberFlag(values, 'train-count', 0, { min: 1, integer: true });
    args.push('--channels', choiceFlag(values, 'channels', ['1', '3'] as const, '3'));
    // Inside `reproduce`, stdout is for the results table: the script's summary goes to stderr.
    return runScript(script, args, io.signal, { stdoutToStderr: values.quiet === true });
  },
};

/** Runs a script with inherited output; exits with its code (Ctrl-C stops it). */
export function runScript(
  script: string,
  args: string[],
  signal: AbortSignal,
  { stdoutToStderr = false } = {},
): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script, ...args], {
      stdio: ['ignore', stdoutToStderr ? 2 : 'inherit', 'inherit'],
    });
    const stop = () => child.kill('SIGINT');
    signal.addEventListener('abort', stop, { once: true });
    child.on('error', reject);
    child.on('close', (code) => {
      signal.removeEventListener('abort', stop);
      resolvePromise(code ?? 1);
    });
  });
}
