/**
 * RGB → grey as in spec 2.2 (Tiny grey): `0.2989 R + 0.5870 G + 0.1140 B` on uint8 values. The
 * reference keeps the float result when it does not augment; when it augments, the round trip
 * through an 8-bit PIL image truncates it. Both forms are here.
 */
export const GREY_WEIGHTS = [0.2989, 0.587, 0.114] as const;

/** Grey value (float, not rounded) of one RGB pixel. */
export function greyOf(r: number, g: number, b: number): number {
  return GREY_WEIGHTS[0] * r + GREY_WEIGHTS[1] * g + GREY_WEIGHTS[2] * b;
}

/**
 * Converts NHWC RGB bytes to one grey byte per pixel, truncating like the reference's
 * `uint8` round trip (so white 255 becomes 254: the weights sum to 0.9999).
 */
export function rgbToGreyBytes(rgb: Uint8Array, out = new Uint8Array(rgb.length / 3)): Uint8Array {
  for (let p = 0, q = 0; q < out.length; p += 3, q++) {
    out[q] = Math.floor(greyOf(rgb[p]!, rgb[p + 1]!, rgb[p + 2]!));
  }
  return out;
}
