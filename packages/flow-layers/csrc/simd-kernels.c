/*
 * hierglow's own WebAssembly SIMD kernels.
 *
 * narrow_product: out = x w (+ bias) for a tall x and a tiny w (a Glow step's channel mixing).
 *
 * atb: out = aᵀ b (+ a row of column sums of b) for two tall
 * row-major matrices a [n, p] and b [n, q] with a long shared dimension n — a filter gradient
 * summed over every pixel of a batch.
 *
 * Why not XNNPACK (tfjs-backend-wasm's matrix product): it needs aᵀ materialised (a transpose of
 * the whole activation) and packs its right-hand operand on every call because the operand is
 * a fresh tensor (~3 ns a value), and with n in the tens of thousands its tiles stream both
 * operands from memory again and again. Here both are read in their natural layout, once, in
 * blocks of rows that stay in the L1 cache while every output tile is updated.
 *
 * Memory: the module imports tfjs-backend-wasm's own linear memory and owns no data segment and
 * no stack (every pointer comes from the caller; the build script checks both), so it can read
 * tensors where they live.
 *
 * Build: packages/flow-layers/scripts/build-kernels.mjs (Debian's clang and lld).
 */
#include <wasm_simd128.h>

#define ROWS_PER_BLOCK 32

typedef float f32;

/* out[i, o] += Σ_{r < rows} a[r, i] b[r, o] for i in [i0, i0 + 4), o in [o0, o0 + 8). */
static inline void tile4x8(const f32 *a, const f32 *b, f32 *out, int rows, int p, int q, int i0,
                           int o0) {
  f32 *o_row0 = out + (i0 + 0) * q + o0;
  f32 *o_row1 = out + (i0 + 1) * q + o0;
  f32 *o_row2 = out + (i0 + 2) * q + o0;
  f32 *o_row3 = out + (i0 + 3) * q + o0;
  v128_t c00 = wasm_v128_load(o_row0), c01 = wasm_v128_load(o_row0 + 4);
  v128_t c10 = wasm_v128_load(o_row1), c11 = wasm_v128_load(o_row1 + 4);
  v128_t c20 = wasm_v128_load(o_row2), c21 = wasm_v128_load(o_row2 + 4);
  v128_t c30 = wasm_v128_load(o_row3), c31 = wasm_v128_load(o_row3 + 4);
  const f32 *ar = a + i0;
  const f32 *br = b + o0;
  for (int r = 0; r < rows; r++, ar += p, br += q) {
    const v128_t b0 = wasm_v128_load(br), b1 = wasm_v128_load(br + 4);
    v128_t s = wasm_f32x4_splat(ar[0]);
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(s, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(s, b1));
    s = wasm_f32x4_splat(ar[1]);
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(s, b0));
    c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(s, b1));
    s = wasm_f32x4_splat(ar[2]);
    c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(s, b0));
    c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(s, b1));
    s = wasm_f32x4_splat(ar[3]);
    c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(s, b0));
    c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(s, b1));
  }
  wasm_v128_store(o_row0, c00), wasm_v128_store(o_row0 + 4, c01);
  wasm_v128_store(o_row1, c10), wasm_v128_store(o_row1 + 4, c11);
  wasm_v128_store(o_row2, c20), wasm_v128_store(o_row2 + 4, c21);
  wasm_v128_store(o_row3, c30), wasm_v128_store(o_row3 + 4, c31);
}

/* out[i, o] += Σ_r a[r, i] b[r, o] for i in [i0, i0 + 4), o in [o0, o0 + 4). */
static inline void tile4x4(const f32 *a, const f32 *b, f32 *out, int rows, int p, int q, int i0,
                           int o0) {
  f32 *o_row = out + i0 * q + o0;
  v128_t c0 = wasm_v128_load(o_row), c1 = wasm_v128_load(o_row + q);
  v128_t c2 = wasm_v128_load(o_row + 2 * q), c3 = wasm_v128_load(o_row + 3 * q);
  const f32 *ar = a + i0;
  const f32 *br = b + o0;
  for (int r = 0; r < rows; r++, ar += p, br += q) {
    const v128_t b0 = wasm_v128_load(br);
    c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(wasm_f32x4_splat(ar[0]), b0));
    c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(wasm_f32x4_splat(ar[1]), b0));
    c2 = wasm_f32x4_add(c2, wasm_f32x4_mul(wasm_f32x4_splat(ar[2]), b0));
    c3 = wasm_f32x4_add(c3, wasm_f32x4_mul(wasm_f32x4_splat(ar[3]), b0));
  }
  wasm_v128_store(o_row, c0), wasm_v128_store(o_row + q, c1);
  wasm_v128_store(o_row + 2 * q, c2), wasm_v128_store(o_row + 3 * q, c3);
}

/* out[i, o] += Σ_r a[r, i] b[r, o] for one row i and o in [o0, o0 + 8). */
static inline void tile1x8(const f32 *a, const f32 *b, f32 *out, int rows, int p, int q, int i,
                           int o0) {
  f32 *o_row = out + i * q + o0;
  v128_t c0 = wasm_v128_load(o_row), c1 = wasm_v128_load(o_row + 4);
  const f32 *ar = a + i;
  const f32 *br = b + o0;
  for (int r = 0; r < rows; r++, ar += p, br += q) {
    const v128_t s = wasm_f32x4_splat(ar[0]);
    c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(s, wasm_v128_load(br)));
    c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(s, wasm_v128_load(br + 4)));
  }
  wasm_v128_store(o_row, c0), wasm_v128_store(o_row + 4, c1);
}

/* The same for any box [i0, i1) x [o0, o1), one value at a time (edges of the output). */
static void tile_scalar(const f32 *a, const f32 *b, f32 *out, int rows, int p, int q, int i0,
                        int i1, int o0, int o1) {
  for (int i = i0; i < i1; i++) {
    for (int o = o0; o < o1; o++) {
      f32 acc = out[i * q + o];
      for (int r = 0; r < rows; r++) acc += a[r * p + i] * b[r * q + o];
      out[i * q + o] = acc;
    }
  }
}

/*
 * out [(p + ones) x q] = aᵀ b, and with ones != 0 a last row of Σ_r b[r, :].
 * a [n, p], b [n, q], all row-major float32, out not overlapping the inputs.
 */
__attribute__((export_name("atb"))) void atb(const f32 *a, const f32 *b, f32 *out, int n, int p,
                                             int q, int ones) {
  const int rows_out = p + (ones ? 1 : 0);
  for (int k = 0; k < rows_out * q; k++) out[k] = 0.0f;
  const int p4 = p & ~3;
  const int q8 = q & ~7;
  const int q4 = q & ~3;
  for (int r0 = 0; r0 < n; r0 += ROWS_PER_BLOCK) {
    const int rows = n - r0 < ROWS_PER_BLOCK ? n - r0 : ROWS_PER_BLOCK;
    const f32 *ab = a + (long)r0 * p;
    const f32 *bb = b + (long)r0 * q;
    for (int i0 = 0; i0 < p4; i0 += 4) {
      for (int o0 = 0; o0 < q8; o0 += 8) tile4x8(ab, bb, out, rows, p, q, i0, o0);
      if (q4 > q8) tile4x4(ab, bb, out, rows, p, q, i0, q8);
      if (q4 < q) tile_scalar(ab, bb, out, rows, p, q, i0, i0 + 4, q4, q);
    }
    for (int i = p4; i < p; i++) {
      for (int o0 = 0; o0 < q8; o0 += 8) tile1x8(ab, bb, out, rows, p, q, i, o0);
      tile_scalar(ab, bb, out, rows, p, q, i, i + 1, q8, q);
    }
    if (ones) {
      f32 *sums = out + p * q;
      for (int r = 0; r < rows; r++) {
        const f32 *br = bb + r * q;
        int o = 0;
        for (; o + 4 <= q; o += 4) {
          wasm_v128_store(sums + o, wasm_f32x4_add(wasm_v128_load(sums + o), wasm_v128_load(br + o)));
        }
        for (; o < q; o++) sums[o] += br[o];
      }
    }
  }
}

/*
 * The gradient through a ReLU from its output: out[i] = y[i] > 0 ? dy[i] : 0, one pass instead
 * of tfjs' Step and Multiply (two passes and a temporary). Where y <= 0 the result is +0, where
 * dy · step(y) would give -0 for a negative dy (or NaN for a non-finite one).
 */
__attribute__((export_name("relu_grad"))) void relu_grad(const f32 *dy, const f32 *y, f32 *out,
                                                         int n) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t mask = wasm_f32x4_gt(wasm_v128_load(y + i), zero);
    wasm_v128_store(out + i, wasm_v128_and(wasm_v128_load(dy + i), mask));
  }
  for (; i < n; i++) out[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/*
 * out [m x n] = x [m x k] w [k x n] (+ bias [n], may be 0) for tiny k and n (a Glow step's
 * ActNorm and 1x1 conv on 4-16 channels, over every pixel). XNNPACK builds an operator for
 * every fresh weight matrix (~0.5 ms for these shapes, far more than the product); this is one
 * pass over x. Sums over t in order, as XNNPACK's product does.
 */
__attribute__((export_name("narrow_product"))) void narrow_product(const f32 *x, const f32 *w,
                                                                   const f32 *bias, f32 *out,
                                                                   int m, int k, int n) {
  if ((n & 3) != 0) {
    for (int i = 0; i < m; i++) {
      for (int o = 0; o < n; o++) {
        f32 acc = bias ? bias[o] : 0.0f;
        for (int t = 0; t < k; t++) acc += x[(long)i * k + t] * w[t * n + o];
        out[(long)i * n + o] = acc;
      }
    }
    return;
  }
  for (int i = 0; i < m; i++) {
    const f32 *xr = x + (long)i * k;
    f32 *orow = out + (long)i * n;
    for (int o0 = 0; o0 < n; o0 += 4) {
      v128_t acc = bias ? wasm_v128_load(bias + o0) : wasm_f32x4_splat(0.0f);
      const f32 *wc = w + o0;
      for (int t = 0; t < k; t++, wc += n) {
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(xr[t]), wasm_v128_load(wc)));
      }
      wasm_v128_store(orow + o0, acc);
    }
  }
}
