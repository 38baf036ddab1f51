import {
  ActNorm,
  AdditiveCoupling,
  AffineCoupling,
  type Bijector,
  ConvCouplingNet,
  type CouplingNet,
  DenseCouplingNet,
  InvConv1x1,
  Invert,
  Reverse,
  Shuffle,
  Squeeze,
} from '@hierglow/flow-layers';
import { createRng } from '@hierglow/random';
import type { CouplingKind, PermutationKind, PriorKind } from './config.js';
import { FlattenNchw } from './flatten-nchw.js';
import { sizeOf } from './layout.js';
import { ConditionalPrior, LearnedTopPrior, PerDimensionPrior, type ScalePrior } from './prior.js';
import type { NamedLayer, ScaleLevel } from './scale-stack.js';

/** Draws the seeds of a model's random layers in construction order from the model seed. */
export class SeedSequence {
  private readonly rng;
  constructor(seed: number) {
    this.rng = createRng(seed);
  }
  next(): number {
    return this.rng.int(2 ** 31 - 1);
  }
}

/** What every flow step needs to know besides its size. */
export interface StepOptions {
  hidden: number;
  coupling: CouplingKind;
  permutation: PermutationKind;
}

/**
 * One flow step (spec 3.3) on a last axis of `size` (channels of NHWC images for the conv
 * steps, features of vectors for the dense steps): ActNorm → permutation → coupling. ActNorm is
 * per channel for images and per dimension for vectors (spec 7.2), which is the same rule:
 * parameters over the last axis.
 */
export function flowStepLayers(
  index: number,
  size: number,
  options: StepOptions & { dense: boolean },
  seeds: SeedSequence,
): NamedLayer[] {
  const prefix = `steps.${index}`;
  return [
    { name: `${prefix}.actnorm`, bijector: new ActNorm({ shape: [size] }) },
    { name: `${prefix}.permute`, bijector: permutationLayer(options.permutation, size, seeds) },
    { name: `${prefix}.coupling`, bijector: couplingLayer(size, options, seeds) },
  ];
}

function permutationLayer(kind: PermutationKind, size: number, seeds: SeedSequence): Bijector {
  switch (kind) {
    case 'lu':
      return new InvConv1x1({ channels: size, seed: seeds.next(), lu: true });
    case 'fixed':
      return new InvConv1x1({ channels: size, seed: seeds.next(), lu: false });
    case 'shuffle':
      return new Shuffle({ size, seed: seeds.next() });
    case 'reverse':
      return new Reverse();
  }
}

function couplingLayer(
  size: number,
  options: StepOptions & { dense: boolean },
  seeds: SeedSequence,
): Bijector {
  const half = size / 2;
  const out = options.coupling === 'affine' ? size : half;
  const seed = seeds.next();
  const net: CouplingNet = options.dense
    ? new DenseCouplingNet({ inFeatures: half, outFeatures: out, hidden: options.hidden, seed })
    : new ConvCouplingNet({ inChannels: half, outChannels: out, hidden: options.hidden, seed });
  return options.coupling === 'affine'
    ? new AffineCoupling({ channels: size, net })
    : new AdditiveCoupling({ channels: size, net });
}

/** Shape and graph options of a stack of scales. */
export interface LevelsOptions extends StepOptions {
  /** `[H, W, C]` of the input. */
  inputShape: readonly number[];
  levels: number;
  stepsPerLevel: number;
  /** The stack's own priors; a class-conditional model builds `'per-dimension'` and adds its head. */
  prior: Exclude<PriorKind, 'class-conditional'>;
  /** Dense steps on the NCHW-flattened scale (spec 7.2) instead of conv steps (spec 3.3). */
  dense: boolean;
}

/**
 * The scales of spec 3.1 (or 7.2 with `dense`): scale k squeezes `[H, W, C]` to
 * `[H/2, W/2, 4C]`, runs K steps on all 4C channels and, unless it is the last, factors out the
 * first 2C channels and passes the other 2C on. Each scale gets its prior.
 */
export function buildLevels(options: LevelsOptions, seeds: SeedSequence): ScaleLevel[] {
  const levels: ScaleLevel[] = [];
  let [height, width, channels] = options.inputShape as [number, number, number];
  for (let k = 0; k < options.levels; k++) {
    height /= 2;
    width /= 2;
    channels *= 4;
    const squeezedShape = [height, width, channels];
    const layers: NamedLayer[] = [{ name: 'squeeze', bijector: new Squeeze({ factor: 2 }) }];
    const size = options.dense ? sizeOf(squeezedShape) : channels;
    if (options.dense)
      layers.push({ name: 'flatten', bijector: new FlattenNchw({ shape: squeezedShape }) });
    for (let j = 0; j < options.stepsPerLevel; j++) {
      layers.push(...flowStepLayers(j, size, { ...options, dense: options.dense }, seeds));
    }
    if (options.dense) {
      layers.push({
        name: 'unflatten',
        bijector: new Invert(new FlattenNchw({ shape: squeezedShape })),
      });
    }
    const split = k < options.levels - 1;
    const zShape = [height, width, split ? channels / 2 : channels];
    levels.push({
      layers,
      split,
      prior: makePrior(options.prior, zShape, split ? channels / 2 : null),
    });
    if (split) channels /= 2;
  }
  return levels;
}

function makePrior(
  kind: LevelsOptions['prior'],
  zShape: number[],
  passedOnChannels: number | null,
): ScalePrior {
  if (kind === 'per-dimension') return new PerDimensionPrior(zShape);
  return passedOnChannels === null
    ? new LearnedTopPrior(zShape)
    : new ConditionalPrior(zShape, passedOnChannels);
}
