import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DatasetError } from '../errors.js';
import { buildGeneralDataset, type PhotoSource } from './general-builder.js';

/**
 * Command-line runner of {@link buildGeneralDataset}, used by scripts/build-general-dataset.sh:
 *
 *   node dist/builder/build-general-main.js --manifest photos.tsv --out DIR --train-count N
 *     [--validation-count N] [--validation-fraction F] [--channels 1|3] [--size 32] [--seed S]
 *
 * The manifest has one photo per line, `path` or `group<TAB>path`; '#' starts a comment.
 * Progress goes to stderr; a JSON summary goes to stdout.
 */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      manifest: { type: 'string' },
      out: { type: 'string' },
      'train-count': { type: 'string' },
      'validation-count': { type: 'string' },
      'validation-fraction': { type: 'string' },
      channels: { type: 'string', default: '3' },
      size: { type: 'string', default: '32' },
      seed: { type: 'string', default: '0' },
    },
  });
  if (!values.manifest || !values.out || !values['train-count']) {
    process.stderr.write(
      'usage: build-general-main --manifest FILE --out DIR --train-count N [options]\n',
    );
    return 2;
  }
  const sources: PhotoSource[] = [];
  for (const line of (await readFile(values.manifest, 'utf8')).split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [a, b] = t.split('\t');
    sources.push(b ? { group: a!, path: b } : { path: a! });
  }
  let last = 0;
  const start = performance.now();
  const result = await buildGeneralDataset({
    sources,
    outDir: values.out,
    trainCount: Number(values['train-count']),
    ...(values['validation-count'] ? { validationCount: Number(values['validation-count']) } : {}),
    ...(values['validation-fraction']
      ? { validationFraction: Number(values['validation-fraction']) }
      : {}),
    channels: Number(values.channels) as 1 | 3,
    size: Number(values.size),
    seed: Number(values.seed),
    onProgress: ({ split, done, total }) => {
      const now = performance.now();
      if (done === total || now - last > 2000) {
        last = now;
        const secs = ((now - start) / 1000).toFixed(1);
        process.stderr.write(
          `${split}: ${done}/${total} crops (${Math.round((100 * done) / total)}%) ${secs} s\n`,
        );
      }
    },
  });
  const used = result.photos.filter((p) => p.split !== 'skipped');
  process.stdout.write(
    `${JSON.stringify(
      {
        train: result.train,
        validation: result.validation,
        trainCount: result.trainCount,
        validationCount: result.validationCount,
        photos: used.length,
        trainPhotos: used.filter((p) => p.split === 'train').length,
        validationPhotos: used.filter((p) => p.split === 'validation').length,
        skipped: result.photos.filter((p) => p.split === 'skipped').map((p) => p.path),
        seconds: Number(result.seconds.toFixed(1)),
      },
      null,
      2,
    )}\n`,
  );
  return 0;
}

// Run when executed directly (not when imported, e.g. by the tests).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${DatasetError.isInstance(e) ? e.message : (e as Error).stack}\n`);
      process.exit(1);
    },
  );
}
