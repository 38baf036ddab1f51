#!/usr/bin/env node
/**
 * How closely reversible backprop (`memory: 'reversible'`) reproduces autodiff's gradients on a
 * trained checkpoint, and how far the recomputed inputs drift: a trained flow's steps are less
 * well conditioned than at initialisation, and each backward step starts from an input the
 * inverses recomputed. Not a timing benchmark; any machine will do.
 *
 *   npx turbo run build --filter=@hierglow/glow --filter=@hierglow/datasets
 *   node bench/reversible-accuracy.mjs --model runs/x/final --data runs/general/validation.hgds
 *   node bench/reversible-accuracy.mjs --model CKPT --data PATH --backend wasm --batch 16
 *
 * Prints, for one batch of dequantised images (spec 2.1, no augmentation): the worst relative
 * error over variables of max |g_rev − g_auto| / max |g_auto|, the median over variables, the
 * loss of both, and the inverse round trip max |x − f⁻¹(f(x))| through the whole flow (what the
 * backward pass's recomputation compounds to).
 */
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    split: { type: 'string' },
    batch: { type: 'string', default: '8' },
    first: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'cpu' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help || !args.model || !args.data) {
  console.log(
    'Usage: node bench/reversible-accuracy.mjs --model CKPT_DIR --data NAME|PATH [--split S] [--batch N] [--first I] [--backend cpu|wasm]',
  );
  process.exit(args.help ? 0 : 2);
}

const { selectBackend } = await import('@hierglow/backend-wasm');
const tf = await import('@tensorflow/tfjs-core');
const { createModel, restoreModel, Trainer } = await import('@hierglow/glow');
const { openDataset } = await import('@hierglow/datasets');
await selectBackend(args.backend);
const { model } = await restoreModel(args.model, createModel);
const [h, w, c] = model.inputShape;
const ds = await openDataset(args.data, args.split ? { split: args.split } : {});
if (ds.height !== h || ds.width !== w || ds.channels !== c) {
  throw new Error(
    `--data: ${ds.description} holds ${ds.height}x${ds.width}x${ds.channels} images; the model takes ${h}x${w}x${c}`,
  );
}
const batch = Number(args.batch);
const first = Number(args.first);
const images = await ds.slice(first, first + batch);
await ds.close();
/** v/256 − 0.5 + u/256 with a fixed LCG for u: the training input of spec 2.1. */
function dequantised(pixels) {
  let s = 12345;
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = pixels[i] / 256 - 0.5 + s / 4294967296 / 256;
  }
  return x;
}
const x = dequantised(images.pixels);
const shape = [batch, h, w, c];
const gradients = (memory) => new Trainer(model, { epochs: 1, memory }).gradients({ x, shape });
const autodiff = gradients('autodiff');
const reversible = gradients('reversible');
const errors = Object.entries(autodiff.grads).map(([name, g]) => {
  const r = reversible.grads[name];
  const [scale, diff] = tf.tidy(() => [
    tf.max(tf.abs(g)).dataSync()[0],
    tf.max(tf.abs(tf.sub(r, g))).dataSync()[0],
  ]);
  return { name, error: scale === 0 ? diff : diff / scale };
});
errors.sort((a, b) => a.error - b.error);
const worst = errors.at(-1);
const median = errors[Math.floor(errors.length / 2)].error;
const xt = tf.tensor4d(x, shape);
const roundTrip = tf.tidy(
  () => tf.max(tf.abs(tf.sub(model.decode(model.encode(xt)), xt))).dataSync()[0],
);
const bpd = autodiff.loss / (model.numDims * Math.LN2);
console.log(
  JSON.stringify({
    model: args.model,
    config: model.getConfig(),
    backend: tf.getBackend(),
    batch,
    bitsPerDim: Number(bpd.toFixed(4)),
    lossAutodiff: autodiff.loss,
    lossReversible: reversible.loss,
    variables: errors.length,
    worstRelativeError: worst.error,
    worstVariable: worst.name,
    medianRelativeError: median,
    worstFive: errors.slice(-5).map((e) => `${e.name} ${e.error.toExponential(2)}`),
    inverseRoundTripMaxAbs: roundTrip,
  }),
);
