import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  buildGeneralDataset,
  DEBDATA_ENV_VAR,
  DEFAULT_STALL_TIMEOUT_MS,
  DOMAIN_STYLES,
  download,
  fetchGeneralSources,
  findCatalogueEntry,
  parseDomainStyle,
  summarizeGeneralBuild,
} from '@hierglow/datasets';
import type { Command } from '../command.js';
import { EVALUATION_SPLIT, openDataRef, parseDataArg } from '../data/data-source.js';
import { booleanFlag, choiceFlag, numberFlag, stringFlag } from '../util/args.js';
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
  usage: 'hierglow data inspect NAME|PATH[@SPLIT] [--split NAME] [--ignore-labels] [--json]',
  options: {
    split: { type: 'string' },
    'ignore-labels': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  noBackend: true,
  help: [
    '  NAME|PATH[@SPLIT]         catalogue name or path (.hgds, IDX, CIFAR, SVHN .mat, image folder)',
    '  --split NAME              (default test, as score and evaluate; PATH@train picks the',
    '                            training split too)',
    '  --ignore-labels           read the images only (CIFAR-layout records with any label bytes)',
    '  --json                    machine-readable output',
  ],
  async run({ values, positionals }, io) {
    const arg = firstPositional(positionals, undefined, 'NAME|PATH', 'data inspect');
    const { source, split } = parseDataArg('', arg, stringFlag(values, 'split', EVALUATION_SPLIT));
    const ds = await openDataRef({
      flag: '',
      source,
      split,
      ignoreLabels: booleanFlag(values, 'ignore-labels'),
    });
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
  usage: 'hierglow data download NAME [--split NAME] [--cache-dir DIR] [--stall-timeout S]',
  options: {
    split: { type: 'string', multiple: true },
    'cache-dir': { type: 'string' },
    'stall-timeout': { type: 'string' },
  },
  noBackend: true,
  help: [
    '  NAME                      catalogue name (fashion-mnist, mnist, cifar10, svhn, ...)',
    '  --split NAME              only the files of this split (repeatable; default all)',
    '  --cache-dir DIR           default $HIERGLOW_DATA_DIR, else ~/.cache/hierglow/datasets',
    '  --stall-timeout S         seconds without a byte before a transfer is broken off and',
    '                            resumed (default 30)',
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
    const stallSeconds = numberFlag(values, 'stall-timeout', DEFAULT_STALL_TIMEOUT_MS / 1000, {
      min: 0.001,
    });
    const started = performance.now();
    let lastPrint = 0;
    const dir = await download(name, {
      ...(splits ? { splits } : {}),
      ...(cacheDir ? { cacheDir } : {}),
      stallTimeoutMs: stallSeconds * 1000,
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

/** `hierglow data build-general`: the general natural-image set from Debian's image packages. */
export const dataBuildGeneralCommand: Command = {
  name: 'data build-general',
  summary:
    'build the general natural-image set (Tiny Images substitute) from Debian image packages',
  usage:
    'hierglow data build-general --out DIR [--sources broad|photos] [--domain-weight W --domain-style S] [--train-count N] [--validation-count N] [--channels 1|3] [--seed S]',
  options: {
    out: { type: 'string' },
    sources: { type: 'string' },
    'domain-weight': { type: 'string' },
    'domain-style': { type: 'string' },
    'train-count': { type: 'string' },
    'validation-count': { type: 'string' },
    channels: { type: 'string' },
    seed: { type: 'string' },
    cache: { type: 'string' },
  },
  noBackend: true,
  help: [
    '  --out DIR                 writes DIR/train.hgds and DIR/validation.hgds (required)',
    '  --sources broad|photos    broad (default): every kind of image of data-sources.md §2 and',
    '                            §2b (photos, art, game art, object cut-outs, icons, textures,',
    '                            astronomy), kinds weighted equally, then packages, then groups;',
    '                            photos: the §2 photographs only, groups weighted equally',
    "  --domain-weight W         share of images rendered in the in-distribution's style",
    '                            (0 to 1, default 0; needs --domain-style and --sources broad)',
    `  --domain-style S          ${Object.keys(DOMAIN_STYLES).join(', ')}, or canvas=N,object=MIN-MAX,background=V,resize=N:`,
    '                            objects and soft-masked crops centred on a plain background',
    '                            of a canvas, then resized as the in-distribution data are',
    '  --train-count N           images in the training split (default 20000)',
    '  --validation-count N      images from held-out sources (default train-count / 10)',
    '  --channels 1|3            1 = grey (the Fashion-MNIST experiment), 3 = RGB (default 3)',
    '  --seed S                  (default 0)',
    `  --cache DIR               where the unpacked Debian packages are kept (default $${DEBDATA_ENV_VAR},`,
    '                            else ~/.cache/hierglow/debdata)',
    'Fetches the packages not yet in the cache (apt-get download + dpkg-deb -x; nothing is',
    'installed; apt-get update once if a download fails and we are root). Images of letters,',
    'digits, text, glyphs, fonts, math or money symbols are skipped by folder and file name.',
    'Whole source images (or sprite folders) are held out for validation. The recipe is in',
    'docs/general-distribution.md. Progress goes to stderr, a JSON summary (counts per kind and',
    'package) to stdout. Skipped when DIR already holds both files.',
  ],
  async run({ values }, io) {
    const out = stringFlag(values, 'out');
    if (!out)
      throw new UsageError(
        "data build-general needs --out DIR. See 'hierglow data build-general --help'.",
      );
    const set = choiceFlag(values, 'sources', ['broad', 'photos'] as const, 'broad');
    const trainCount = numberFlag(values, 'train-count', 20000, { min: 1, integer: true });
    const validationCount =
      values['validation-count'] === undefined
        ? undefined
        : numberFlag(values, 'validation-count', 0, { min: 0, integer: true });
    const channels = Number(choiceFlag(values, 'channels', ['1', '3'] as const, '3')) as 1 | 3;
    const seed = numberFlag(values, 'seed', 0, { integer: true });
    const domainWeight = numberFlag(values, 'domain-weight', 0, { min: 0, max: 1 });
    const styleSpec = stringFlag(values, 'domain-style');
    if (domainWeight > 0 && !styleSpec)
      throw new UsageError(
        '--domain-weight needs --domain-style (e.g. --domain-style fashion-mnist)',
      );
    if (domainWeight > 0 && set !== 'broad')
      throw new UsageError('--domain-weight needs --sources broad');
    let domain: ReturnType<typeof parseDomainStyle> | undefined;
    try {
      domain = styleSpec ? parseDomainStyle(styleSpec) : undefined;
    } catch (e) {
      throw new UsageError(`--domain-style: ${(e as Error).message}`);
    }
    if (existsSync(join(out, 'train.hgds')) && existsSync(join(out, 'validation.hgds'))) {
      io.err(`${out} already holds train.hgds and validation.hgds; delete them to rebuild`);
      return 0;
    }
    const cacheDir = stringFlag(values, 'cache');
    const photos = await fetchGeneralSources(set, {
      ...(cacheDir ? { cacheDir } : {}),
      signal: io.signal,
      onProgress: ({ package: pkg, stage }) => {
        if (stage === 'download') io.err(`fetching ${pkg}`);
        else if (stage === 'apt-update')
          io.err(`apt-get download ${pkg} failed; running apt-get update once`);
        else if (stage === 'fetched') io.err(`fetched ${pkg}`);
      },
    });
    for (const m of photos.missing) io.err(`warning: no image at ${m} (another package version?)`);
    const groups = new Set(photos.sources.map((s) => s.group)).size;
    io.err(
      `${photos.sources.length} images in ${groups} groups, ${photos.skippedAsText.length} skipped as text or symbols (${photos.cacheDir})`,
    );

    const started = performance.now();
    let lastPrint = 0;
    const result = await buildGeneralDataset({
      sources: photos.sources,
      outDir: resolve(out),
      trainCount,
      ...(validationCount === undefined ? {} : { validationCount }),
      channels,
      seed,
      ...(set === 'broad' ? { balance: 'kind' as const } : {}),
      ...(domainWeight > 0 ? { domainWeight, domain } : {}),
      onProgress: ({ split, done, total }) => {
        const now = performance.now();
        if (done !== total && now - lastPrint < 2000) return;
        lastPrint = now;
        io.err(
          `${split}: ${done}/${total} crops (${Math.round((100 * done) / total)}%) ${((now - started) / 1000).toFixed(1)} s`,
        );
      },
    });
    // Inside `reproduce`, stdout is for the results table: the summary goes to stderr.
    const summary = JSON.stringify(summarizeGeneralBuild(result), null, 2);
    if (values.quiet === true) io.err(summary);
    else io.out(summary);
    return 0;
  },
};
