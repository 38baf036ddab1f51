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
  seconds: number;
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
    seconds: Number(result.seconds.toFixed(1)),
  };
}
