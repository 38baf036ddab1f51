import { encodePng } from '@hierglow/anomaly-metrics';

/** 8-bit NHWC images to tile. */
export interface ImageTiles {
  pixels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

/**
 * Tiles images into one PNG, `columns` per row, separated by a 2-pixel mid-grey gap (so black
 * backgrounds stay visible as tiles).
 */
export function gridPng(t: ImageTiles, columns: number): { png: Uint8Array; width: number } {
  const gap = 2;
  const cols = Math.max(1, Math.min(columns, t.count));
  const rows = Math.max(1, Math.ceil(t.count / cols));
  const W = cols * t.width + (cols + 1) * gap;
  const H = rows * t.height + (rows + 1) * gap;
  const C = t.channels;
  const out = new Uint8Array(W * H * C).fill(128);
  const per = t.height * t.width * C;
  for (let i = 0; i < t.count; i++) {
    const ox = gap + (i % cols) * (t.width + gap);
    const oy = gap + Math.floor(i / cols) * (t.height + gap);
    for (let y = 0; y < t.height; y++) {
      const src = i * per + y * t.width * C;
      out.set(t.pixels.subarray(src, src + t.width * C), ((oy + y) * W + ox) * C);
    }
  }
  return { png: encodePng(out, { height: H, width: W, channels: C }), width: W };
}

/** Model inputs `x ≈ v/256 − 0.5` (e.g. samples) back to 8-bit values, clamped to [0, 255]. */
export function inputsToPixels(x: ArrayLike<number>): Uint8Array {
  const v = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = Math.floor((x[i]! + 0.5) * 256);
    v[i] = Number.isFinite(p) ? Math.max(0, Math.min(255, p)) : 0;
  }
  return v;
}

/** A `data:` URI for PNG bytes (for a self-contained HTML file). */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}
