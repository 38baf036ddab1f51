/**
 * Bilinear resizing of 8-bit images exactly as Pillow does it (`Image.resize(size, BILINEAR)`,
 * which torchvision's `Resize` calls on PIL images, so spec 2.2's 28→32 resize of MNIST and
 * Fashion-MNIST). Re-implemented from Pillow's documented algorithm:
 * - separable: a horizontal pass into an 8-bit intermediate image, then a vertical pass;
 * - triangle filter with support 1, widened by the scale factor when shrinking (antialiasing);
 *   output pixel i samples around `(i + 0.5)·in/out` and the taps are normalised to sum to 1;
 * - taps are 22-bit fixed-point integers, sums start at ½ for rounding, results clamp to 0..255.
 * Tested against Pillow 9.4 output (fixtures/pil-bilinear.json): identical bytes.
 */

const PRECISION_BITS = 22;

/** Fixed-point taps of one axis: for output i, taps `weights[i·taps + k]` from input `first[i] + k`. */
interface AxisTaps {
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  taps: number;
}

const tapCache = new Map<string, AxisTaps>();

function axisTaps(inSize: number, outSize: number): AxisTaps {
  const key = `${inSize}>${outSize}`;
  const cached = tapCache.get(key);
  if (cached) return cached;
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // triangle support 1, widened when shrinking
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const w = new Float64Array(taps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    // C's (int) cast truncates towards zero; negatives are clamped to 0 right after.
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    const n = hi - lo;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const t = Math.abs((k + lo - center + 0.5) / filterScale);
      w[k] = t < 1 ? 1 - t : 0;
      sum += w[k]!;
    }
    for (let k = 0; k < n; k++) {
      const v = sum !== 0 ? w[k]! / sum : w[k]!;
      weights[i * taps + k] =
        v < 0
          ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS))
          : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    first[i] = lo;
    count[i] = n;
  }
  const t = { first, count, weights, taps };
  tapCache.set(key, t);
  return t;
}

function clip8(v: number): number {
  const s = v >> PRECISION_BITS;
  return Math.min(255, Math.max(0, s));
}

/**
 * Resizes one HWC uint8 image to `outH x outW` (same channel count) with Pillow's bilinear.
 * `out` may be passed to avoid an allocation.
 */
export function resizeBilinearPil(
  src: Uint8Array,
  inH: number,
  inW: number,
  channels: number,
  outH: number,
  outW: number,
  out: Uint8Array = new Uint8Array(outH * outW * channels),
): Uint8Array {
  if (inH === outH && inW === outW) {
    out.set(src.subarray(0, inH * inW * channels));
    return out;
  }
  const hx = axisTaps(inW, outW);
  const vy = axisTaps(inH, outH);
  const half = 1 << (PRECISION_BITS - 1);
  // Like Pillow, the horizontal pass covers only the source rows the vertical pass will use,
  // and it is skipped when the width does not change.
  const rowFirst = vy.first[0]!;
  const rowLast = vy.first[outH - 1]! + vy.count[outH - 1]!;
  let mid = src;
  let midRow0 = 0;
  if (inW !== outW) {
    mid = new Uint8Array((rowLast - rowFirst) * outW * channels);
    midRow0 = rowFirst;
    for (let y = rowFirst; y < rowLast; y++) {
      const srcRow = y * inW * channels;
      const dstRow = (y - rowFirst) * outW * channels;
      for (let x = 0; x < outW; x++) {
        const lo = hx.first[x]!;
        const n = hx.count[x]!;
        const wBase = x * hx.taps;
        for (let c = 0; c < channels; c++) {
          let s = half;
          for (let k = 0; k < n; k++)
            s += src[srcRow + (lo + k) * channels + c]! * hx.weights[wBase + k]!;
          mid[dstRow + x * channels + c] = clip8(s);
        }
      }
    }
  }
  const midW = inW !== outW ? outW : inW;
  if (inH === outH) {
    out.set(mid.subarray(0, outH * midW * channels));
    return out;
  }
  const rowBytes = midW * channels;
  for (let y = 0; y < outH; y++) {
    const lo = vy.first[y]! - midRow0;
    const n = vy.count[y]!;
    const wBase = y * vy.taps;
    for (let i = 0; i < rowBytes; i++) {
      let s = half;
      for (let k = 0; k < n; k++) s += mid[(lo + k) * rowBytes + i]! * vy.weights[wBase + k]!;
      out[y * rowBytes + i] = clip8(s);
    }
  }
  return out;
}
