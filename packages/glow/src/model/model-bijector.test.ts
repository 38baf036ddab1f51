import { type BatteryOptions, bijectorBattery } from '@hierglow/flow-layers/testing';
import { it } from 'vitest';
import type { ModelConfigInput } from './config.js';
import { createModel } from './create-model.js';
import { modelAsBijector } from './model-bijector.js';
import { describeOnBackends, noisyPixels } from './test-support/fixtures.js';

/**
 * The flow-layers testing kit on whole models: shapes, inverse, the numerical-Jacobian log-det
 * (the strictest check: it sees every layer, the squeezes, the splits, the NCHW flattening and
 * the priors at once), gradients, leaks and the config round trip. Each model is data-initialised
 * on 16 noisy pixel images (as in training; the battery's own 2-example init would estimate the
 * per-dimension prior std from 2 values) and then the battery perturbs its variables so no layer
 * sits at an identity-like start (the zero-initialised coupling outputs become real functions of
 * the conditioning half). The perturbation is 0.02, not the battery's default 0.1: after data
 * init the coupling nets' ActNorms scale by e^2 to e^3.5, so 0.1 on the 0.05-std conv weights
 * drives the raw coupling scales to ±20 and the inverse overflows float32 (a property of such
 * weights, not of the code). Inputs are dequantised pixels, the model's domain.
 */
const battery: BatteryOptions = {
  input: (shape, seed) => noisyPixels(shape[0]!, shape.slice(1), seed),
  perturb: 0.02,
  badInputShapes: [
    [2, 4, 4, 3],
    [2, 16],
  ],
  badOutputShapes: [[2, 15]],
};

function modelBattery(
  name: string,
  config: ModelConfigInput,
  shape: number[],
  options: BatteryOptions = battery,
) {
  const factory = () => {
    const model = createModel(config);
    const initBatch = noisyPixels(16, shape.slice(1), 1234);
    try {
      model.initialize(initBatch);
    } finally {
      initBatch.dispose();
    }
    return modelAsBijector(model);
  };
  for (const c of bijectorBattery(name, factory, shape, options)) it(c.name, c.run);
}

const small = { height: 4, width: 4, channels: 1, stepsPerLevel: 2, hidden: 4 } as const;

describeOnBackends('whole-model battery', () => {
  modelBattery('Glow 1x4x4 L=2', { kind: 'glow', ...small, levels: 2 }, [2, 4, 4, 1]);
});

describeOnBackends('whole-model battery, variants', () => {
  const rgbish = { ...small, channels: 2, levels: 2 };
  const twoChannels = { ...battery, badInputShapes: [[2, 4, 4, 1]], badOutputShapes: [[2, 31]] };
  modelBattery(
    'Glow additive + shuffle',
    { kind: 'glow', ...rgbish, coupling: 'additive', permutation: 'shuffle' },
    [2, 4, 4, 2],
    twoChannels,
  );
  modelBattery(
    'Glow reverse',
    { kind: 'glow', ...rgbish, permutation: 'reverse' },
    [2, 4, 4, 2],
    twoChannels,
  );
  modelBattery(
    'Glow fixed 1x1 + conditional prior',
    { kind: 'glow', ...rgbish, permutation: 'fixed', prior: 'conditional' },
    [2, 4, 4, 2],
    twoChannels,
  );
  modelBattery(
    'Glow 3 levels',
    { kind: 'glow', ...small, height: 8, width: 8, levels: 3, stepsPerLevel: 1 },
    [2, 8, 8, 1],
    {
      ...battery,
      badInputShapes: [[2, 4, 4, 1]],
      badOutputShapes: [[2, 63]],
    },
  );
  modelBattery(
    'PatchGlow 8x8, 4x4 patches',
    { kind: 'patch-glow', height: 8, width: 8, channels: 1, patchSize: 4, steps: 2, hidden: 4 },
    [2, 8, 8, 1],
    { ...battery, badInputShapes: [[2, 4, 4, 1]], badOutputShapes: [[2, 63]] },
  );
  modelBattery(
    'DenseGlow 1x4x4 L=2',
    { kind: 'dense-glow', ...small, levels: 2, hidden: 8 },
    [2, 4, 4, 1],
  );
}, ['cpu']);
