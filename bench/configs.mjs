/**
 * The benchmark configurations of issues 6 and 7, shared by glow-bench.mjs, compare-checkouts.mjs
 * and profile-train-step.mjs: a model (createModel's config) and the training and scoring batch.
 */

const GREY = { kind: 'glow', height: 32, width: 32, channels: 1, levels: 3, seed: 1 };

export const CONFIGS = {
  small: { model: { ...GREY, stepsPerLevel: 8, hidden: 64 }, train: 64, score: 256 },
  medium: { model: { ...GREY, stepsPerLevel: 16, hidden: 128 }, train: 64, score: 256 },
  // The paper's (RGB). wasm32 caps the heap at 4 GiB and autodiff keeps every activation: batch 4
  // is what trains, and scoring at 256 does not fit either. PyTorch runs at the same batch sizes
  // for a fair ratio.
  paper: {
    model: { ...GREY, channels: 3, stepsPerLevel: 32, hidden: 512 },
    train: 4,
    score: 64,
  },
};

/**
 * Reversible training (issue 17, `memory: 'reversible'`): the paper config at the batches
 * autodiff cannot reach in the wasm heap (64, 16) and at the batch it can (4), medium at its
 * usual batch; the last two beside the autodiff training rows give reversible/autodiff
 * throughput ratios. The PyTorch peers train at the same batch (with autodiff: they keep their
 * activations).
 */
export const REVERSIBLE_ROWS = [
  { config: 'paper', batch: 64 },
  { config: 'paper', batch: 16 },
  { config: 'paper', batch: 4 },
  { config: 'medium', batch: 64 },
];

/**
 * `--smoke`: every config shrunk to a few seconds (8x8, K 2, hidden 8, batches of at most 4), to
 * check that the script and its workers run; its timings mean nothing.
 */
export function smokeConfig(config) {
  const model = { ...config.model, height: 8, width: 8, levels: 2, stepsPerLevel: 2, hidden: 8 };
  return { model, train: Math.min(config.train, 4), score: Math.min(config.score, 4) };
}
