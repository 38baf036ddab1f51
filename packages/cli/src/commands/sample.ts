import type { Command } from '../command.js';
import { loadModelFlag } from '../model/checkpoint-ref.js';
import { gridPng, inputsToPixels } from '../report/image-grid.js';
import { numberFlag, requiredStringFlag } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** Nearest-neighbour enlargement of NHWC images by an integer factor (small images, big screens). */
function enlarge(
  pixels: Uint8Array,
  n: number,
  h: number,
  w: number,
  c: number,
  f: number,
): Uint8Array {
  if (f === 1) return pixels;
  const out = new Uint8Array(n * h * f * w * f * c);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h * f; y++) {
      for (let x = 0; x < w * f; x++) {
        const src = ((i * h + Math.floor(y / f)) * w + Math.floor(x / f)) * c;
        const dst = ((i * h * f + y) * w * f + x) * c;
        for (let k = 0; k < c; k++) out[dst + k] = pixels[src + k]!;
      }
    }
  }
  return out;
}

/** `hierglow sample`: a PNG grid of model samples at a temperature. */
export const sampleCommand: Command = {
  name: 'sample',
  summary: 'write a PNG grid of samples drawn from a model at a temperature',
  usage: 'hierglow sample --model CKPT_DIR --out FILE.png [--n 64] [--temperature 0.7] [--seed S]',
  options: {
    model: { type: 'string' },
    out: { type: 'string' },
    n: { type: 'string' },
    temperature: { type: 'string' },
    seed: { type: 'string' },
    columns: { type: 'string' },
    zoom: { type: 'string' },
  },
  help: [
    '  --model CKPT_DIR          checkpoint or run folder',
    '  --out FILE.png            the grid (written atomically)',
    '  --n N                     samples (default 64)',
    '  --temperature T           std of the latents, u ~ N(0, T²) (default 0.7)',
    '  --seed S                  (default 0)',
    '  --columns N               (default 8)   --zoom F: enlarge pixels F times (default 2)',
  ],
  async run({ values }, io) {
    const modelPath = requiredStringFlag(values, 'model', 'sample', 'CKPT_DIR');
    const out = requiredStringFlag(values, 'out', 'sample', 'FILE.png');
    const n = numberFlag(values, 'n', 64, { min: 1, integer: true });
    const temperature = numberFlag(values, 'temperature', 0.7, { min: 0 });
    const seed = numberFlag(values, 'seed', 0, { integer: true });
    const columns = numberFlag(values, 'columns', 8, { min: 1, integer: true });
    const zoom = numberFlag(values, 'zoom', 2, { min: 1, integer: true });
    const { model, dir } = await loadModelFlag('model', modelPath);
    try {
      const x = model.sample(n, { temperature, seed });
      const [count, h, w, c] = x.shape;
      let pixels: Uint8Array;
      try {
        pixels = inputsToPixels(await x.data());
      } finally {
        x.dispose();
      }
      const grid = gridPng(
        {
          pixels: enlarge(pixels, count, h, w, c, zoom),
          count,
          height: h * zoom,
          width: w * zoom,
          channels: c,
        },
        columns,
      );
      await writeFileAtomic(out, grid.png);
      io.err(`wrote ${n} samples of ${dir} at temperature ${temperature} to ${out}`);
    } finally {
      model.dispose();
    }
    return 0;
  },
};
