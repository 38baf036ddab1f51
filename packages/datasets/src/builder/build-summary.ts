import type { GeneralDatasetResult } from './general-builder.js';

/** The short report of a {@link buildGeneralDataset} run (what `hierglow data build-general` prints). */
export interface GeneralBuildSummary {
  train: string;
  validation: string;
  trainCount: number;
  validationCount: number;
  /** Photos used (not skipped), and how they were split. */
  photos: number;
  trainPhotos: number;
  validationPhotos: number;
  /** Photos shorter than the output size. */
  skipped: string[];
  /** Images rendered in the in-distribution's style, per split. */
  domain: { train: number; validation: number };
  /** Source images and crops drawn from them, per kind and per package. */
  kinds: Record<string, SourceCount>;
  packages: Record<string, SourceCount>;
  seconds: number;
}

/** Source images (not skipped) and the crops drawn from them. */
export interface SourceCount {
  images: number;
  crops: number;
}

/** Counts the photos of a build per split; seconds rounded to 0.1. */
export function summarizeGeneralBuild(result: GeneralDatasetResult): GeneralBuildSummary {
  const used = result.photos.filter((p) => p.split !== 'skipped');
  return {
    train: result.train,
    validation: result.validation,
    trainCount: result.trainCount,
    validationCount: result.validationCount,
    photos: used.length,
    trainPhotos: used.filter((p) => p.split === 'train').length,
    validationPhotos: used.filter((p) => p.split === 'validation').length,
    skipped: result.photos.filter((p) => p.split === 'skipped').map((p) => p.path),
    domain: result.domainCounts,
    kinds: countBy(used, (p) => p.kind),
    packages: countBy(used, (p) => p.package || '(files)'),
    seconds: Number(result.seconds.toFixed(1)),
  };
}

function countBy(
  photos: GeneralDatasetResult['photos'],
  key: (p: GeneralDatasetResult['photos'][number]) => string,
): Record<string, SourceCount> {
  const out: Record<string, SourceCount> = {};
  for (const p of [...photos].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))) {
    const c = out[key(p)] ?? { images: 0, crops: 0 };
    c.images++;
    c.crops += p.crops;
    out[key(p)] = c;
  }
  return out;
}
