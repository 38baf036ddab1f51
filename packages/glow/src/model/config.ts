import { ConfigError } from '@hierglow/flow-layers';

/** How the second half of a coupling's input is transformed (spec 3.3c). */
export type CouplingKind = 'affine' | 'additive';
/** The channel mixing of each flow step (spec 3.3b, 7.2). */
export type PermutationKind = 'lu' | 'fixed' | 'shuffle' | 'reverse';
/**
 * The per-scale prior on the factored-out latents: the paper's (spec 3.5), the original Glow's
 * learned split prior, or the paper's supervised variant (spec 6.4: the per-dimension prior
 * ActNorms with one diagonal Gaussian per class and scale on top).
 */
export type PriorKind = 'per-dimension' | 'conditional' | 'class-conditional';

/**
 * The multi-scale Glow of spec 3 (all fields resolved; see {@link resolveModelConfig} for the
 * defaults). Images are NHWC `[batch, height, width, channels]`.
 */
export type GlowConfig = {
  kind: 'glow';
  height: number;
  width: number;
  channels: number;
  /** L: number of scales; every scale starts with a 2x2 squeeze. */
  levels: number;
  /** K: flow steps per scale. */
  stepsPerLevel: number;
  /** Width of the coupling networks' hidden layers. */
  hidden: number;
  coupling: CouplingKind;
  permutation: PermutationKind;
  prior: PriorKind;
  /**
   * Number of classes of the class-conditional head (spec 6.4); present exactly when `prior` is
   * `'class-conditional'`, and at least 2.
   */
  numClasses?: number;
  /** Seed of every random initialisation (1x1 convs, shuffles, coupling-net weights). */
  seed: number;
};

/** The local-patch Glow of spec 7.1: one scale applied to non-overlapping patches. */
export type PatchGlowConfig = {
  kind: 'patch-glow';
  height: number;
  width: number;
  channels: number;
  /** Side of the square, non-overlapping patches (8 in the paper); must divide height and width. */
  patchSize: number;
  /** K: flow steps of the single scale. */
  steps: number;
  hidden: number;
  coupling: CouplingKind;
  permutation: PermutationKind;
  seed: number;
};

/** The fully-connected Glow of spec 7.2: the multi-scale graph with dense steps. */
export type DenseGlowConfig = {
  kind: 'dense-glow';
  height: number;
  width: number;
  channels: number;
  levels: number;
  stepsPerLevel: number;
  hidden: number;
  coupling: CouplingKind;
  /** 'fixed' (default, spec 7.2: a fixed random orthogonal matrix) or 'lu'. */
  permutation: 'fixed' | 'lu';
  seed: number;
};

/** Any model config, told apart by `kind`. */
export type ModelConfig = GlowConfig | PatchGlowConfig | DenseGlowConfig;

type ImageShapeFields = 'height' | 'width' | 'channels';

/** A {@link GlowConfig} as a user writes it: the image shape is required, the rest has defaults. */
export type GlowConfigInput = Partial<GlowConfig> & Pick<GlowConfig, ImageShapeFields>;
/** A {@link PatchGlowConfig} as a user writes it. */
export type PatchGlowConfigInput = Partial<PatchGlowConfig> &
  Pick<PatchGlowConfig, ImageShapeFields>;
/** A {@link DenseGlowConfig} as a user writes it. */
export type DenseGlowConfigInput = Partial<DenseGlowConfig> &
  Pick<DenseGlowConfig, ImageShapeFields>;

/** Any model config as a user writes it: `kind` and the image shape are required. */
export type ModelConfigInput =
  | (GlowConfigInput & { kind: 'glow' })
  | (PatchGlowConfigInput & { kind: 'patch-glow' })
  | (DenseGlowConfigInput & { kind: 'dense-glow' });

/** The seed every run of the reference code uses (spec 6.1); the default model seed. */
export const DEFAULT_SEED = 20200610;

/** The paper's defaults per model kind (spec 3, 7.1, 7.2). */
export const MODEL_DEFAULTS = {
  glow: {
    levels: 3,
    stepsPerLevel: 32,
    hidden: 512,
    coupling: 'affine',
    permutation: 'lu',
    prior: 'per-dimension',
    seed: DEFAULT_SEED,
  },
  'patch-glow': {
    patchSize: 8,
    steps: 32,
    hidden: 512,
    coupling: 'affine',
    permutation: 'lu',
    seed: DEFAULT_SEED,
  },
  'dense-glow': {
    levels: 3,
    stepsPerLevel: 8,
    hidden: 512,
    coupling: 'affine',
    permutation: 'fixed',
    seed: DEFAULT_SEED,
  },
} as const;

/**
 * Upper bounds of the config fields, checked before anything is allocated, so a slip such as
 * `stepsPerLevel: 1e6` or `hidden: 1e9` (in a config file or a checkpoint's `config.json`) fails
 * at once with the field's name instead of building for minutes or dying in a typed-array
 * allocation. They sit far above the paper's models (32x32x3 images, L = 3, K = 32, 512 hidden).
 */
export const MODEL_CONFIG_LIMITS = Object.freeze({
  height: 1024,
  width: 1024,
  channels: 16,
  levels: 10,
  stepsPerLevel: 256,
  steps: 256,
  hidden: 4096,
  patchSize: 1024,
  numClasses: 100_000,
  /** Flow steps in all: levels × stepsPerLevel (or the patch model's steps). */
  totalSteps: 1024,
  /**
   * Weights of the coupling networks' hidden-to-hidden layers in all (total steps × hidden²):
   * 2^28 float32 values are 1 GiB, before gradients and optimizer state.
   */
  hiddenWeights: 2 ** 28,
});

const MODEL_KINDS = Object.keys(MODEL_DEFAULTS) as ModelConfig['kind'][];
const COUPLINGS: readonly CouplingKind[] = ['affine', 'additive'];
const PERMUTATIONS: readonly PermutationKind[] = ['lu', 'fixed', 'shuffle', 'reverse'];
const PRIORS: readonly PriorKind[] = ['per-dimension', 'conditional', 'class-conditional'];
/** Config fields of a kind that have no default (so they are not in {@link MODEL_DEFAULTS}). */
const OPTIONAL_FIELDS: Partial<Record<ModelConfig['kind'], readonly string[]>> = {
  glow: ['numClasses'],
};

/**
 * Fills in the defaults of a model config and checks every field, so a typo or an impossible
 * shape fails here with a message that says what to change, not deep inside a tensor op.
 *
 * @param source names where the config came from in error messages (a file, 'createModel', ...)
 * @example
 * resolveModelConfig({ kind: 'glow', height: 32, width: 32, channels: 1, stepsPerLevel: 8 });
 */
export function resolveModelConfig(input: ModelConfigInput, source = 'model config'): ModelConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(
      `${source}: expected an object with a 'kind' field, got ${JSON.stringify(input)}`,
    );
  }
  const kind = (input as { kind?: unknown }).kind;
  if (!MODEL_KINDS.includes(kind as ModelConfig['kind'])) {
    throw new ConfigError(
      `${source}: 'kind' must be one of ${MODEL_KINDS.map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(kind)}`,
    );
  }
  const check = new FieldChecker(
    source,
    kind as string,
    input as unknown as Record<string, unknown>,
  );
  const defaults = MODEL_DEFAULTS[kind as ModelConfig['kind']] as Record<string, unknown>;
  check.onlyKnownFields([
    'kind',
    'height',
    'width',
    'channels',
    ...Object.keys(defaults),
    ...(OPTIONAL_FIELDS[kind as ModelConfig['kind']] ?? []),
  ]);
  const merged = { ...defaults, ...definedFields(input as unknown as Record<string, unknown>) };
  const field = new FieldChecker(source, kind as string, merged);
  const height = field.boundedInteger('height');
  const width = field.boundedInteger('width');
  const channels = field.boundedInteger('channels');
  const hidden = field.boundedInteger('hidden');
  const coupling = field.oneOf('coupling', COUPLINGS);
  const seed = field.integer('seed');

  if (kind === 'patch-glow') {
    const patchSize = field.boundedInteger('patchSize');
    if (patchSize % 2 !== 0 || height % patchSize !== 0 || width % patchSize !== 0) {
      throw new ConfigError(
        `${source}: 'patchSize' must be even and divide height and width, got patchSize ${patchSize} ` +
          `for ${height}x${width} images (the paper uses 8 on 32x32)`,
      );
    }
    return {
      kind,
      height,
      width,
      channels,
      patchSize,
      steps: checkModelSize(source, field.boundedInteger('steps'), hidden),
      hidden,
      coupling,
      permutation: field.oneOf('permutation', PERMUTATIONS),
      seed,
    };
  }

  const levels = field.boundedInteger('levels');
  const stepsPerLevel = field.boundedInteger('stepsPerLevel');
  checkModelSize(source, levels * stepsPerLevel, hidden);
  const factor = 2 ** levels;
  if (height % factor !== 0 || width % factor !== 0) {
    throw new ConfigError(
      `${source}: ${levels} levels squeeze the image by 2 per level, so height and width must be ` +
        `multiples of ${factor}, got ${height}x${width}; use fewer levels or resize the images ` +
        `(28x28 data is resized to 32x32 by the data layer)`,
    );
  }
  if (kind === 'dense-glow') {
    return {
      kind,
      height,
      width,
      channels,
      levels,
      stepsPerLevel,
      hidden,
      coupling,
      permutation: field.oneOf('permutation', ['fixed', 'lu'] as const),
      seed,
    };
  }
  const prior = field.oneOf('prior', PRIORS);
  const glow: GlowConfig = {
    kind: 'glow',
    height,
    width,
    channels,
    levels,
    stepsPerLevel,
    hidden,
    coupling,
    permutation: field.oneOf('permutation', PERMUTATIONS),
    prior,
    seed,
  };
  if (prior === 'class-conditional') {
    if (merged.numClasses === undefined) {
      throw new ConfigError(
        `${source}: prior 'class-conditional' needs 'numClasses' (the number of labels, e.g. 10 for Fashion-MNIST)`,
      );
    }
    const numClasses = field.boundedInteger('numClasses');
    if (numClasses < 2) {
      throw new ConfigError(
        `${source}: 'numClasses' must be at least 2 for a class-conditional prior, got ${numClasses}`,
      );
    }
    glow.numClasses = numClasses;
  } else if (merged.numClasses !== undefined) {
    throw new ConfigError(
      `${source}: 'numClasses' only applies to prior 'class-conditional', but prior is '${prior}'`,
    );
  }
  return glow;
}

/**
 * {@link resolveModelConfig} for a model class that builds one kind: a config naming another
 * kind is an error rather than silently rebuilt as this one.
 */
export function resolveConfigOfKind<K extends ModelConfig['kind']>(
  kind: K,
  input: { kind?: string },
  source: string,
): Extract<ModelConfig, { kind: K }> {
  if (input?.kind !== undefined && input.kind !== kind) {
    throw new ConfigError(
      `${source}: 'kind' is '${input.kind}' but this class builds '${kind}' models; ` +
        'use createModel(config) to build a model of any kind',
    );
  }
  return resolveModelConfig({ ...input, kind } as ModelConfigInput, source) as Extract<
    ModelConfig,
    { kind: K }
  >;
}

/** Input dimensionality D = height · width · channels of a config. */
export function configNumDims(config: Pick<ModelConfig, 'height' | 'width' | 'channels'>): number {
  return config.height * config.width * config.channels;
}

/** Checks the totals of {@link MODEL_CONFIG_LIMITS}; returns `totalSteps` for chaining. */
function checkModelSize(source: string, totalSteps: number, hidden: number): number {
  const limits = MODEL_CONFIG_LIMITS;
  if (totalSteps > limits.totalSteps) {
    throw new ConfigError(
      `${source}: ${totalSteps} flow steps in all is more than the limit of ${limits.totalSteps}; the paper uses 3 levels of 32`,
    );
  }
  const weights = totalSteps * hidden * hidden;
  if (weights > limits.hiddenWeights) {
    throw new ConfigError(
      `${source}: ${totalSteps} flow steps with 'hidden' ${hidden} need ${weights.toExponential(2)} hidden-layer weights, ` +
        `more than the limit of ${limits.hiddenWeights} (1 GiB); use fewer steps or a smaller 'hidden'`,
    );
  }
  return totalSteps;
}

function definedFields(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

/** Field checks whose errors all name the config source, the model kind and the field. */
class FieldChecker {
  constructor(
    private readonly source: string,
    private readonly kind: string,
    private readonly obj: Record<string, unknown>,
  ) {}

  onlyKnownFields(known: readonly string[]): void {
    const unknown = Object.keys(this.obj).filter((k) => !known.includes(k));
    if (unknown.length > 0) {
      throw new ConfigError(
        `${this.source}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} ` +
          `for kind '${this.kind}'; known fields: ${known.join(', ')}`,
      );
    }
  }

  integer(name: string): number {
    const v = this.obj[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new ConfigError(
        `${this.source}: '${name}' must be an integer, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  }

  positiveInteger(name: string): number {
    const v = this.integer(name);
    if (v < 1) throw new ConfigError(`${this.source}: '${name}' must be at least 1, got ${v}`);
    return v;
  }

  /** A positive integer at most its {@link MODEL_CONFIG_LIMITS} entry. */
  boundedInteger(name: keyof typeof MODEL_CONFIG_LIMITS): number {
    const v = this.positiveInteger(name);
    const max = MODEL_CONFIG_LIMITS[name];
    if (v > max) {
      throw new ConfigError(
        `${this.source}: '${name}' is ${v}, more than the limit of ${max} for kind '${this.kind}'`,
      );
    }
    return v;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T {
    const v = this.obj[name];
    if (!allowed.includes(v as T)) {
      throw new ConfigError(
        `${this.source}: '${name}' must be one of ${allowed.map((a) => `'${a}'`).join(', ')} for kind ` +
          `'${this.kind}', got ${JSON.stringify(v)}`,
      );
    }
    return v as T;
  }
}
