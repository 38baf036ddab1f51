import { existsSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { ImageDataset, TransformOptions } from '@hierglow/datasets';
import { type DataRef, type ImageShape, openDataRef, transformFor } from '../data/data-source.js';
import { type LoadedModel, loadModelFlag } from '../model/checkpoint-ref.js';
import { choiceFlag, numberFlag, type OptionSpec, stringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';

/** Flags shared by `score` and `evaluate`. */
export const SCORING_OPTIONS = {
  model: { type: 'string' },
  general: { type: 'string' },
  noise: { type: 'string' },
  'batch-size': { type: 'string' },
  limit: { type: 'string' },
} as const satisfies OptionSpec;

/** Input values at evaluation (spec 2.1): bin centres by default, as the reference's final evaluation. */
export const EVAL_NOISE = ['bin-centre', 'uniform', 'none'] as const;

/** The models of a scoring command, checked to take the same images. */
export interface ScoringModels {
  model: LoadedModel;
  general?: LoadedModel;
  shape: ImageShape;
  dispose(): void;
}

/** Loads `--model` and, when given, `--general`; errors name the flag. */
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
  const generalPath = stringFlag(values, 'general');
  let general: LoadedModel | undefined;
  if (generalPath) {
    try {
      general = await loadModelFlag('general', generalPath);
    } catch (e) {
      model.model.dispose();
      throw e;
    }
    const a = model.model.inputShape.join('x');
    const b = general.model.inputShape.join('x');
    if (a !== b) {
      model.model.dispose();
      general.model.dispose();
      throw new UsageError(
        `--general: ${general.dir} takes ${b} images but --model ${model.dir} takes ${a}; the ratio needs models of the same input`,
        1,
      );
    }
  }
  const [height, width, channels] = model.model.inputShape as [number, number, number];
  const result: ScoringModels = {
    model,
    shape: { height, width, channels },
    dispose: () => {
      model.model.dispose();
      general?.model.dispose();
    },
  };
  if (general) result.general = general;
  return result;
}

/** A dataset to score, with the name it has in tables and file names. */
export interface NamedDataRef extends DataRef {
  name: string;
}

/**
 * Parses `[NAME=]SOURCE[@SPLIT]` (e.g. `fashion-mnist@test`, `digits=ood/digits.hgds`): the
 * name defaults to the catalogue name or the file name without extension. A path that exists
 * is taken whole, even when it contains '=' or '@'.
 */
export function parseDataArg(flag: string, arg: string, defaultSplit: string): NamedDataRef {
  let name: string | undefined;
  let rest = arg;
  const eq = rest.indexOf('=');
  // A path that exists is a path, '=' and '@' in it included (also after a NAME=).
  if (eq > 0 && !existsSync(arg)) {
    name = rest.slice(0, eq);
    rest = rest.slice(eq + 1);
  }
  let split = defaultSplit;
  const at = rest.lastIndexOf('@');
  if (at > 0 && !existsSync(rest)) {
    split = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  if (!rest) throw new UsageError(`--${flag} '${arg}' names no dataset; use [NAME=]SOURCE[@SPLIT]`);
  if (name !== undefined && !/^[\w.-]+$/.test(name)) {
    throw new UsageError(`--${flag} '${arg}': the name must use letters, digits, '.', '_' or '-'`);
  }
  const base = basename(rest.replace(/[/\\]+$/, ''));
  const derived = base.slice(0, base.length - extname(base).length) || base;
  return { flag, source: rest, split, name: name ?? derived };
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
