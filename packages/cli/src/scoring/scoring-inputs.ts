import type { ImageDataset, TransformOptions } from '@hierglow/datasets';
import {
  type DataRef,
  type ImageShape,
  type NamedDataRef,
  openDataRef,
  transformFor,
} from '../data/data-source.js';
import { type LoadedModel, loadModelFlag } from '../model/checkpoint-ref.js';
import { booleanFlag, choiceFlag, numberFlag, type OptionSpec, stringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';

/** Flags shared by `score` and `evaluate`. */
export const SCORING_OPTIONS = {
  model: { type: 'string' },
  general: { type: 'string' },
  background: { type: 'string' },
  noise: { type: 'string' },
  'batch-size': { type: 'string' },
  limit: { type: 'string' },
  'ignore-labels': { type: 'boolean' },
} as const satisfies OptionSpec;

/** Input values at evaluation (spec 2.1): bin centres by default, as the reference's final evaluation. */
export const EVAL_NOISE = ['bin-centre', 'uniform', 'none'] as const;

/** The models of a scoring command, checked to take the same images. */
export interface ScoringModels {
  model: LoadedModel;
  general?: LoadedModel;
  /** Ren et al.'s background model (trained on perturbed in-distribution images). */
  background?: LoadedModel;
  shape: ImageShape;
  dispose(): void;
}

/**
 * Loads `--model` and, when given, `--general` and `--background` (each a denominator of a
 * likelihood ratio, so it must take the same images); errors name the flag.
 */
export async function loadScoringModels(
  values: Record<string, unknown>,
  command: string,
): Promise<ScoringModels> {
  const modelPath = stringFlag(values, 'model');
  if (!modelPath) {
    throw new UsageError(
      `${command} needs --model CKPT_DIR (a checkpoint or a run folder). See 'hierglow ${command} --help'.`,
    );
  }
  const model = await loadModelFlag('model', modelPath);
  const loaded: LoadedModel[] = [model];
  const disposeAll = () => {
    for (const m of loaded) m.model.dispose();
  };
  const loadDenominator = async (flag: 'general' | 'background') => {
    const path = stringFlag(values, flag);
    if (!path) return undefined;
    let other: LoadedModel;
    try {
      other = await loadModelFlag(flag, path);
    } catch (e) {
      disposeAll();
      throw e;
    }
    loaded.push(other);
    const a = model.model.inputShape.join('x');
    const b = other.model.inputShape.join('x');
    if (a !== b) {
      disposeAll();
      throw new UsageError(
        `--${flag}: ${other.dir} takes ${b} images but --model ${model.dir} takes ${a}; the ratio needs models of the same input`,
        1,
      );
    }
    return other;
  };
  const general = await loadDenominator('general');
  const background = await loadDenominator('background');
  const [height, width, channels] = model.model.inputShape as [number, number, number];
  const result: ScoringModels = {
    model,
    shape: { height, width, channels },
    dispose: disposeAll,
  };
  if (general) result.general = general;
  if (background) result.background = background;
  return result;
}

/** Makes dataset names unique by suffixing repeats with the split or a counter. */
export function uniqueNames(refs: NamedDataRef[]): void {
  const seen = new Set<string>();
  for (const r of refs) {
    let name = r.name;
    if (seen.has(name)) name = `${r.name}@${r.split}`;
    for (let k = 2; seen.has(name); k++) name = `${r.name}-${k}`;
    r.name = name;
    seen.add(name);
  }
}

/** `--limit` and `--ignore-labels` of the scoring commands onto the datasets they name. */
export function applyDataFlags(values: Record<string, unknown>, refs: DataRef[]): void {
  const limit = limitOf(values);
  const ignoreLabels = booleanFlag(values, 'ignore-labels');
  for (const r of refs) {
    if (limit !== undefined) r.limit = limit;
    if (ignoreLabels) r.ignoreLabels = true;
  }
}

/** The limit flag (images per dataset), if given. */
export function limitOf(values: Record<string, unknown>): number | undefined {
  return values.limit === undefined
    ? undefined
    : numberFlag(values, 'limit', 0, { min: 1, integer: true });
}

/** Opens a dataset to score and the evaluation transform that fits the model. */
export async function openForScoring(
  ref: DataRef,
  shape: ImageShape,
  noise: TransformOptions['noise'],
): Promise<{ ds: ImageDataset; transform: TransformOptions }> {
  const ds = await openDataRef(ref);
  try {
    return { ds, transform: transformFor(ds, shape, ref.flag, { augment: 'none', noise }) };
  } catch (e) {
    await ds.close();
    throw e;
  }
}

/** `--noise` and `--batch-size` of the scoring commands. */
export function scoringSettings(values: Record<string, unknown>) {
  return {
    noise: choiceFlag(values, 'noise', EVAL_NOISE, 'bin-centre'),
    batchSize: numberFlag(values, 'batch-size', 256, { min: 1, integer: true }),
  };
}
