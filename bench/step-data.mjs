/**
 * Inputs and statistics the benchmark scripts share, so their figures are of the same images.
 */

/** Dequantised pixels v/256 − 0.5 + u (spec 2.1), NHWC, from a fixed LCG so runs are repeatable. */
export function pixels(n, h, w, c, seed) {
  const x = new Float32Array(n * h * w * c);
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (let i = 0; i < x.length; i++) x[i] = Math.floor(next() * 256) / 256 - 0.5 + next() / 256;
  return x;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The config a step script was asked for, checked: `--config` of bench/configs.mjs and `--mode`.
 */
export function stepPreset(configs, name, mode) {
  const preset = configs[name];
  if (!preset) throw new Error(`unknown --config '${name}' (${Object.keys(configs).join(', ')})`);
  if (mode !== 'train' && mode !== 'score') throw new Error('--mode train|score');
  return preset;
}

/**
 * A data-initialised model of `preset` (16 images, seed 7) and one batch of images (seed 1):
 * what profile-train-step.mjs and step-ceilings.mjs time, so their figures are of one step.
 */
export function stepModel(tf, createModel, preset, batch) {
  const model = createModel(preset.model);
  const { height: h, width: w, channels: c } = preset.model;
  const init = tf.tensor4d(pixels(16, h, w, c, 7), [16, h, w, c]);
  model.initialize(init);
  init.dispose();
  return { model, x: pixels(batch, h, w, c, 1), shape: [batch, h, w, c] };
}

/** The parseArgs options every step script takes: which step, and how often it is timed. */
export const STEP_OPTIONS = {
  config: { type: 'string', default: 'small' },
  mode: { type: 'string', default: 'train' },
  memory: { type: 'string', default: 'autodiff' },
  batch: { type: 'string' },
  runs: { type: 'string', default: '3' },
  json: { type: 'boolean', default: false },
};
