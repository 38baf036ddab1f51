// Times @hierglow/anomaly-metrics on large score sets: AUROC and average precision of 10^6
// scores (the package's speed target: well under a second), the other metrics, the bootstrap CI,
// and the PNG input-complexity baseline (images/s, against node:zlib's deflate for scale).
//
// Plain node against the BUILT package (build it first):
//   npm run build -w @hierglow/anomaly-metrics && node bench/metrics-bench.mjs
// Options: --runs 7   --warmup 2   --images 2000

import { deflateSync } from 'node:zlib';
import {
  auroc,
  aurocBootstrapCI,
  averagePrecision,
  detectionError,
  fprAtTpr,
  pngComplexityBitsPerDim,
  prCurve,
  rocCurve,
  spearman,
} from '@hierglow/anomaly-metrics';

function parseArgs(argv) {
  const options = { runs: 7, warmup: 2, images: 2000 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]?.replace(/^--/, '');
    if (!(key in options) || !Number.isInteger(Number(argv[i + 1]))) {
      console.error(
        `metrics-bench.mjs: bad option '${argv[i]} ${argv[i + 1]}'. Options: --runs, --warmup, --images`,
      );
      process.exit(2);
    }
    options[key] = Number(argv[i + 1]);
  }
  return options;
}

/** Seeded normal samples (xorshift32 + Box-Muller), so runs are comparable. */
function normals(n, mean, seed) {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 1) / 4294967297;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = mean + Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn, { runs, warmup }) {
  let result;
  for (let i = 0; i < warmup; i++) result = fn();
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    result = fn();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), result };
}

const options = parseArgs(process.argv.slice(2));
const rows = [];
const row = (what, n, { ms, result }) => rows.push({ what, n, ms, result });

for (const [nIn, nOut, label] of [
  [500_000, 500_000, '10^6 total'],
  [1_000_000, 1_000_000, '10^6 each'],
]) {
  const a = normals(nIn, 1, 1);
  const b = normals(nOut, 0, 2);
  row(
    `auroc (${label})`,
    nIn + nOut,
    time(() => auroc(a, b), options),
  );
  row(
    `averagePrecision in (${label})`,
    nIn + nOut,
    time(() => averagePrecision(a, b), options),
  );
  row(
    `averagePrecision out (${label})`,
    nIn + nOut,
    time(() => averagePrecision(a, b, { positive: 'out' }), options),
  );
}
{
  const a = normals(500_000, 1, 3);
  const b = normals(500_000, 0, 4);
  row(
    'rocCurve',
    1e6,
    time(() => rocCurve(a, b).fpr.length, options),
  );
  row(
    'prCurve',
    1e6,
    time(() => prCurve(a, b).precision.length, options),
  );
  row(
    'fprAtTpr 0.95',
    1e6,
    time(() => fprAtTpr(a, b, 0.95), options),
  );
  row(
    'detectionError',
    1e6,
    time(() => detectionError(a, b), options),
  );
  const ties = Float64Array.from(a, (v) => Math.round(v * 10));
  const tiesOut = Float64Array.from(b, (v) => Math.round(v * 10));
  row(
    'auroc, 80 distinct values',
    1e6,
    time(() => auroc(ties, tiesOut), options),
  );
  row(
    'spearman',
    1e6,
    time(() => spearman(a, b), { ...options, runs: 3, warmup: 1 }),
  );
}
{
  const a = normals(10_000, 1, 5);
  const b = normals(10_000, 0, 6);
  const ci = time(() => aurocBootstrapCI(a, b, { resamples: 1000, seed: 1 }), {
    runs: 3,
    warmup: 1,
  });
  row('aurocBootstrapCI, 1000 resamples', 2e4, {
    ...ci,
    result: `[${ci.result.lower.toFixed(4)}, ${ci.result.upper.toFixed(4)}]`,
  });
}

// PNG complexity: smooth 32x32x3 images (box-blurred noise), like natural-image crops.
const n = options.images;
const images = new Uint8Array(n * 3072);
{
  const noise = normals(n * 3072, 0, 7);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let dy = -2; dy <= 2; dy++) {
            for (let dx = -2; dx <= 2; dx++) {
              const yy = Math.min(31, Math.max(0, y + dy));
              const xx = Math.min(31, Math.max(0, x + dx));
              s += noise[i * 3072 + (yy * 32 + xx) * 3 + c];
            }
          }
          images[i * 3072 + (y * 32 + x) * 3 + c] = Math.max(
            0,
            Math.min(255, Math.round(128 + (30 * s) / 5)),
          );
        }
      }
    }
  }
}
const png = time(() => pngComplexityBitsPerDim({ data: images, shape: [n, 32, 32, 3] }), {
  runs: 3,
  warmup: 1,
});
const meanBpd = png.result.reduce((s, v) => s + v, 0) / n;
row(`pngComplexityBitsPerDim, ${n} images 32x32x3`, n, {
  ...png,
  result: `mean ${meanBpd.toFixed(3)} bits/dim`,
});
const nodeZlib = time(
  () => {
    let bytes = 0;
    for (let i = 0; i < n; i++)
      bytes += deflateSync(images.subarray(i * 3072, (i + 1) * 3072), { level: 9 }).length;
    return bytes;
  },
  { runs: 3, warmup: 1 },
);
row(`(scale) node:zlib deflate level 9 of the raw pixels, ${n} images`, n, {
  ...nodeZlib,
  result: `${nodeZlib.result} bytes`,
});

console.log(
  `@hierglow/anomaly-metrics, node ${process.versions.node}; median of ${options.runs} runs after ${options.warmup} warm-up runs`,
);
console.log('(CI, spearman and PNG rows: median of 3)\n');
console.log('| what | n | ms | per second | result |');
console.log('|---|---:|---:|---:|---|');
for (const r of rows) {
  const perSecond = (r.n / r.ms) * 1000;
  const shown = typeof r.result === 'number' ? r.result.toPrecision(6) : String(r.result);
  console.log(
    `| ${r.what} | ${r.n.toLocaleString('en')} | ${r.ms.toFixed(1)} | ${Math.round(perSecond).toLocaleString('en')} | ${shown} |`,
  );
}
