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
