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
 * a fresh tensor, and with n in the tens of thousands its tiles stream both
 * operands from memory again and again. Here both are read in their natural layout, once, in
 * blocks of rows that stay in the L1 cache while every output tile is updated.
 *
 * Memory: the module imports tfjs-backend-wasm's own linear memory and owns no data segment and
 * no stack (every pointer comes from the caller; the build script checks both), so it can read
 * tensors where they live.
 *
 * conv2d_same: a stride-1 'same' convolution (NHWC, odd kernel sizes) with bias and ReLU, over a
 * range of output rows so that two threads can split one call. XNNPACK builds an operator for
 * every fresh filter of a Glow coupling net and its pool threads spin after every call; one
 * thread of this kernel matches its two (close to what 4-float vectors without fused
 * multiply-add allow; figures in bench/README.md) and splits rows with hierglow's own helper
 * thread.
 *
 * arrange_filter: a filter turned for the input gradient (taps reversed, in/out channels
 * swapped), or with each tap's matrix transposed for the tile that reads it that way.
 *
 * pad_images: a zero-padded copy of images with few channels, which conv2d_same reads one
 * contiguous run per kernel row.
 *
 * patches: the kh·kw neighbourhood of every pixel as one row (zero outside the image), plus an
 * optional column of ones: the left operand of a filter gradient aᵀb, without the 0/1-filter
 * convolution that tfjs would need to build it.
 *
 * Build: packages/flow-layers/scripts/build-simd-kernels.mjs (Debian's clang and lld).
 */
#include <wasm_simd128.h>

#define ROWS_PER_BLOCK 32

typedef float f32;

/*
 * madd(a, b, c) = a·b + c, the multiply-add of every product and convolution loop below.
 * The relaxed-SIMD build (-mrelaxed-simd, scripts/build-simd-kernels.mjs) makes it one
 * f32x4.relaxed_madd, which the engine may run as a fused multiply-add (one rounding) or as a
 * multiply and an add: its results differ from the plain build's in the last bits, and may
 * differ between machines, but not between the threads of one process (the helper thread runs
 * the caller's compiled module on the same CPU). The plain build keeps two instructions, so its
 * modules stay what they were before the relaxed variant existed.
 */
#ifdef __wasm_relaxed_simd__
#if __clang_major__ < 17
/* clang 16's wasm_simd128.h has the builtin but not yet the intrinsic of clang 17. */
static inline v128_t wasm_f32x4_relaxed_madd(v128_t a, v128_t b, v128_t c) {
  return (v128_t)__builtin_wasm_relaxed_madd_f32x4((__f32x4)a, (__f32x4)b, (__f32x4)c);
}
#endif
#define madd(a, b, c) wasm_f32x4_relaxed_madd(a, b, c)
#else
#define madd(a, b, c) wasm_f32x4_add(c, wasm_f32x4_mul(a, b))
#endif

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
    c00 = madd(s, b0, c00);
    c01 = madd(s, b1, c01);
    s = wasm_f32x4_splat(ar[1]);
    c10 = madd(s, b0, c10);
    c11 = madd(s, b1, c11);
    s = wasm_f32x4_splat(ar[2]);
    c20 = madd(s, b0, c20);
    c21 = madd(s, b1, c21);
    s = wasm_f32x4_splat(ar[3]);
    c30 = madd(s, b0, c30);
    c31 = madd(s, b1, c31);
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
    c0 = madd(wasm_f32x4_splat(ar[0]), b0, c0);
    c1 = madd(wasm_f32x4_splat(ar[1]), b0, c1);
    c2 = madd(wasm_f32x4_splat(ar[2]), b0, c2);
    c3 = madd(wasm_f32x4_splat(ar[3]), b0, c3);
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
    c0 = madd(s, wasm_v128_load(br), c0);
    c1 = madd(s, wasm_v128_load(br + 4), c1);
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
 * Output rows [i_lo, i_hi) of [aᵀ b; 1ᵀ b] (row p, with ones, is the column sums of b), written
 * into out (the whole [p + ones, q] output; only those rows are touched). i_lo a multiple of 4.
 */
__attribute__((export_name("atb_out_rows"))) void atb_out_rows(const f32 *a, const f32 *b, f32 *out,
                                                               int i_lo, int i_hi, int n, int p,
                                                               int q, int ones) {
  for (long k = (long)i_lo * q; k < (long)i_hi * q; k++) out[k] = 0.0f;
  const int p_hi = i_hi < p ? i_hi : p;
  const int p4 = i_lo + ((p_hi - i_lo) & ~3);
  const int q8 = q & ~7;
  const int q4 = q & ~3;
  const int with_sums = ones && i_hi > p;
  for (int r0 = 0; r0 < n; r0 += ROWS_PER_BLOCK) {
    const int rows = n - r0 < ROWS_PER_BLOCK ? n - r0 : ROWS_PER_BLOCK;
    const f32 *ab = a + (long)r0 * p;
    const f32 *bb = b + (long)r0 * q;
    for (int i0 = i_lo; i0 < p4; i0 += 4) {
      for (int o0 = 0; o0 < q8; o0 += 8) tile4x8(ab, bb, out, rows, p, q, i0, o0);
      if (q4 > q8) tile4x4(ab, bb, out, rows, p, q, i0, q8);
      if (q4 < q) tile_scalar(ab, bb, out, rows, p, q, i0, i0 + 4, q4, q);
    }
    for (int i = p4; i < p_hi; i++) {
      for (int o0 = 0; o0 < q8; o0 += 8) tile1x8(ab, bb, out, rows, p, q, i, o0);
      tile_scalar(ab, bb, out, rows, p, q, i, i + 1, q8, q);
    }
    if (with_sums) {
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
 * out [(p + ones) x q] = aᵀ b, and with ones != 0 a last row of Σ_r b[r, :].
 * a [n, p], b [n, q], all row-major float32, out not overlapping the inputs.
 */
__attribute__((export_name("atb"))) void atb(const f32 *a, const f32 *b, f32 *out, int n, int p,
                                             int q, int ones) {
  atb_out_rows(a, b, out, 0, p + (ones ? 1 : 0), n, p, q, ones);
}

/* atb over rows [r0, r1) of a and b: one chunk of a product shared between threads. */
__attribute__((export_name("atb_rows"))) void atb_rows(const f32 *a, const f32 *b, f32 *out, int r0,
                                                       int r1, int p, int q, int ones) {
  atb(a + (long)r0 * p, b + (long)r0 * q, out, r1 - r0, p, q, ones);
}

/* out[i] = Σ_k partials[k·size + i] over k in order (the chunks of a shared atb, summed). */
__attribute__((export_name("sum_partials"))) void sum_partials(f32 *out, const f32 *partials,
                                                               int count, int size) {
  int i = 0;
  for (; i + 4 <= size; i += 4) {
    v128_t acc = wasm_v128_load(partials + i);
    for (int k = 1; k < count; k++) {
      acc = wasm_f32x4_add(acc, wasm_v128_load(partials + (long)k * size + i));
    }
    wasm_v128_store(out + i, acc);
  }
  for (; i < size; i++) {
    f32 acc = partials[i];
    for (int k = 1; k < count; k++) acc += partials[(long)k * size + i];
    out[i] = acc;
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
 * every fresh weight matrix (far dearer than the product for these shapes); this is one
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
        acc = madd(wasm_f32x4_splat(xr[t]), wasm_v128_load(wc), acc);
      }
      wasm_v128_store(orow + o0, acc);
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * Convolution. Output pixel (n, y, x), channel o:
 *   out = act(bias[o] + Σ_{a, b, c} x[n, y + a − ph, x + b − pw, c] w[a, b, c, o])
 * with taps outside the image skipped (they read `zeros`, C zeros from the caller: no data
 * segment may hold a constant). Tiles of 4 pixels x 8 channels; the channels past a multiple
 * of 8 take 2 x 4 tiles vectorised over input channels (C a multiple of 4), else 4 x 4 tiles and
 * then one channel at a time; pixels past the row's end read zeros and are not stored.
 * Every output is summed in a fixed order that does not depend on which rows a call covers:
 * the helper thread's rows are bit-identical to the calling thread's.
 */

/* The input pixel tap (a, b) of output pixel x0 + j reads, or zeros outside the image. */
#define TAP_PIXEL(j) \
  ((x0 + (j)) < W && (unsigned)(x0 + (j) + b - pw) < (unsigned)W ? row + (x0 + (j) + b - pw) * C : zeros)

/*
 * Runs the body for every tap (a, b) of output row y whose input row lies inside the image,
 * with `row` that input row (columns outside it are TAP_PIXEL's concern): the tap loop of every
 * unpadded convolution tile.
 */
#define FOR_EACH_TAP(...)                                \
  for (int a = 0; a < kh; a++) {                         \
    const int iy = y + a - ph;                           \
    if ((unsigned)iy >= (unsigned)H) continue;           \
    const f32 *row = x + ((long)n * H + iy) * W * C;     \
    for (int b = 0; b < kw; b++) {                       \
      __VA_ARGS__                                        \
    }                                                    \
  }

static inline v128_t activate(v128_t v, int relu) {
  return relu ? wasm_f32x4_max(v, wasm_f32x4_splat(0.0f)) : v;
}

#define MADD(acc, s, w) acc = madd(s, w, acc)

/* The accumulators c00..c31 of a 4-pixel x 8-channel tile, starting at the bias (or 0). */
#define TILE4X8_INIT(bias, o0)                                                        \
  const v128_t init0 = (bias) ? wasm_v128_load((bias) + (o0)) : wasm_f32x4_splat(0.0f); \
  const v128_t init1 = (bias) ? wasm_v128_load((bias) + (o0) + 4) : wasm_f32x4_splat(0.0f); \
  v128_t c00 = init0, c01 = init1, c10 = init0, c11 = init1;                          \
  v128_t c20 = init0, c21 = init1, c30 = init0, c31 = init1

/* One input value of each pixel (p0..p3 at offset t) times the filter row wr: 8 multiply-adds. */
#define TILE4X8_STEP(t, wr)                                                    \
  do {                                                                         \
    const v128_t w0 = wasm_v128_load(wr), w1 = wasm_v128_load((wr) + 4);       \
    v128_t s = wasm_v128_load32_splat(p0 + (t));                               \
    MADD(c00, s, w0), MADD(c01, s, w1);                                        \
    s = wasm_v128_load32_splat(p1 + (t));                                      \
    MADD(c10, s, w0), MADD(c11, s, w1);                                        \
    s = wasm_v128_load32_splat(p2 + (t));                                      \
    MADD(c20, s, w0), MADD(c21, s, w1);                                        \
    s = wasm_v128_load32_splat(p3 + (t));                                      \
    MADD(c30, s, w0), MADD(c31, s, w1);                                        \
  } while (0)

/* Stores a 4 x 8 tile at o (rows O apart), the first `valid` pixels only, activated. */
static inline void store_tile4x8(f32 *o, int O, int valid, int relu, v128_t c00, v128_t c01,
                                 v128_t c10, v128_t c11, v128_t c20, v128_t c21, v128_t c30,
                                 v128_t c31) {
  wasm_v128_store(o, activate(c00, relu)), wasm_v128_store(o + 4, activate(c01, relu));
  if (valid < 2) return;
  o += O;
  wasm_v128_store(o, activate(c10, relu)), wasm_v128_store(o + 4, activate(c11, relu));
  if (valid < 3) return;
  o += O;
  wasm_v128_store(o, activate(c20, relu)), wasm_v128_store(o + 4, activate(c21, relu));
  if (valid < 4) return;
  o += O;
  wasm_v128_store(o, activate(c30, relu)), wasm_v128_store(o + 4, activate(c31, relu));
}

static void conv_tile4x8(const f32 *x, const f32 *w, const f32 *bias, const f32 *zeros, f32 *out,
                         int n, int y, int x0, int o0, int H, int W, int C, int O, int kh, int kw,
                         int relu) {
  const int ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  TILE4X8_INIT(bias, o0);
  FOR_EACH_TAP(
    const f32 *p0 = TAP_PIXEL(0), *p1 = TAP_PIXEL(1), *p2 = TAP_PIXEL(2), *p3 = TAP_PIXEL(3);
    const f32 *wr = w + (long)(a * kw + b) * C * O + o0;
    for (int c = 0; c < C; c++, wr += O) TILE4X8_STEP(c, wr);
  );
  store_tile4x8(out + (((long)n * H + y) * W + x0) * O + o0, O, W - x0, relu, c00, c01, c10, c11,
                c20, c21, c30, c31);
}

static __attribute__((noinline)) void conv_tile4x4(const f32 *x, const f32 *w, const f32 *bias, const f32 *zeros, f32 *out,
                         int n, int y, int x0, int o0, int H, int W, int C, int O, int kh, int kw,
                         int relu) {
  const int ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const v128_t init = bias ? wasm_v128_load(bias + o0) : wasm_f32x4_splat(0.0f);
  const v128_t zero = wasm_f32x4_splat(0.0f);
  /* 4 pixels x 4 channels; two accumulators per pixel (even and odd input channels) keep
   * eight sums in flight. Each multiply-add needs a broadcast, so this is the slow tile. */
  v128_t c0 = init, c1 = init, c2 = init, c3 = init, d0 = zero, d1 = zero, d2 = zero, d3 = zero;
  const int c2n = C & ~1;
  FOR_EACH_TAP(
    const f32 *p0 = TAP_PIXEL(0), *p1 = TAP_PIXEL(1), *p2 = TAP_PIXEL(2), *p3 = TAP_PIXEL(3);
    const f32 *wr = w + (long)(a * kw + b) * C * O + o0;
    int c = 0;
    for (; c < c2n; c += 2, wr += 2 * O) {
      const v128_t w0 = wasm_v128_load(wr), w1 = wasm_v128_load(wr + O);
      MADD(c0, wasm_v128_load32_splat(p0 + c), w0);
      MADD(c1, wasm_v128_load32_splat(p1 + c), w0);
      MADD(c2, wasm_v128_load32_splat(p2 + c), w0);
      MADD(c3, wasm_v128_load32_splat(p3 + c), w0);
      MADD(d0, wasm_v128_load32_splat(p0 + c + 1), w1);
      MADD(d1, wasm_v128_load32_splat(p1 + c + 1), w1);
      MADD(d2, wasm_v128_load32_splat(p2 + c + 1), w1);
      MADD(d3, wasm_v128_load32_splat(p3 + c + 1), w1);
    }
    if (c < C) {
      const v128_t w0 = wasm_v128_load(wr);
      MADD(c0, wasm_v128_load32_splat(p0 + c), w0);
      MADD(c1, wasm_v128_load32_splat(p1 + c), w0);
      MADD(c2, wasm_v128_load32_splat(p2 + c), w0);
      MADD(c3, wasm_v128_load32_splat(p3 + c), w0);
    }
  );
  f32 *o = out + (((long)n * H + y) * W + x0) * O + o0;
  wasm_v128_store(o, activate(wasm_f32x4_add(c0, d0), relu));
  if (x0 + 1 < W) wasm_v128_store(o + O, activate(wasm_f32x4_add(c1, d1), relu));
  if (x0 + 2 < W) wasm_v128_store(o + 2 * O, activate(wasm_f32x4_add(c2, d2), relu));
  if (x0 + 3 < W) wasm_v128_store(o + 3 * O, activate(wasm_f32x4_add(c3, d3), relu));
}

/* Σ of each vector's lanes: [Σ a, Σ b, Σ c, Σ d]. */
static inline v128_t lane_sums(v128_t a, v128_t b, v128_t c, v128_t d) {
  const v128_t ab = wasm_f32x4_add(wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), wasm_i32x4_shuffle(a, b, 2, 6, 3, 7));
  const v128_t cd = wasm_f32x4_add(wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), wasm_i32x4_shuffle(c, d, 2, 6, 3, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 1, 4, 5), wasm_i32x4_shuffle(ab, cd, 2, 3, 6, 7));
}

/*
 * conv_tile4x8 over a zero-padded input xp [N, H + kh − 1, W + kw − 1, C]: no tap falls outside,
 * so each kernel row's kw taps are one contiguous run of kw·C values per pixel (and of the
 * filter's rows). With few input channels (a coupling net's first conv, or its last conv's
 * input gradient) this removes the per-tap pointer work that dominates the unpadded tile.
 * Pixels past the row's end read on into the next row (xp has 3·C values of slack at its end)
 * and are not stored.
 */
static void conv_tile4x8_padded(const f32 *xp, const f32 *w, const f32 *bias, f32 *out, int n,
                                int y, int x0, int o0, int H, int W, int C, int O, int kh, int kw,
                                int relu) {
  const int wp = W + kw - 1, hp = H + kh - 1, run = kw * C;
  TILE4X8_INIT(bias, o0);
  for (int a = 0; a < kh; a++) {
    const f32 *p0 = xp + (((long)n * hp + y + a) * wp + x0) * C;
    const f32 *p1 = p0 + C, *p2 = p1 + C, *p3 = p2 + C;
    const f32 *wr = w + (long)a * run * O + o0;
    for (int t = 0; t < run; t++, wr += O) TILE4X8_STEP(t, wr);
  }
  store_tile4x8(out + (((long)n * H + y) * W + x0) * O + o0, O, W - x0, relu, c00, c01, c10, c11,
                c20, c21, c30, c31);
}

/*
 * xp [N, H + 2ph, W + 2pw, C] = x [N, H, W, C] with ph rows and pw columns of zeros around each
 * image, then 3·C zeros of slack (conv_tile4x8_padded's last tile reads past the end).
 */
__attribute__((export_name("pad_images"))) void pad_images(const f32 *x, f32 *xp, int N, int H,
                                                           int W, int C, int ph, int pw) {
  const long wp = W + 2 * pw;
  f32 *o = xp;
  for (int n = 0; n < N; n++) {
    for (int yp = 0; yp < H + 2 * ph; yp++) {
      const int y = yp - ph;
      if (y < 0 || y >= H) {
        for (long k = 0; k < wp * C; k++) o[k] = 0.0f;
      } else {
        const f32 *src = x + ((long)n * H + y) * W * C;
        for (long k = 0; k < (long)pw * C; k++) o[k] = 0.0f;
        for (long k = 0; k < (long)W * C; k++) o[pw * C + k] = src[k];
        for (long k = (long)(pw + W) * C; k < wp * C; k++) o[k] = 0.0f;
      }
      o += wp * C;
    }
  }
  for (long k = 0; k < 3L * C; k++) o[k] = 0.0f;
}

/* Stores the first nv (1-4) lanes of v at o. */
static inline void store_lanes(f32 *o, v128_t v, int nv) {
  if (nv == 4) {
    wasm_v128_store(o, v);
    return;
  }
  o[0] = wasm_f32x4_extract_lane(v, 0);
  if (nv > 1) o[1] = wasm_f32x4_extract_lane(v, 1);
  if (nv > 2) o[2] = wasm_f32x4_extract_lane(v, 2);
}

/*
 * 2 pixels x nv (1-4) channels from o0, for C a multiple of 4, vectorised over input channels
 * instead of output channels (no broadcasts): wt is the filter as [kh, kw, O, C]. Channels past
 * nv read `zeros` as their filter row and are not stored.
 */
static __attribute__((noinline)) void conv_tile2x4c(const f32 *x, const f32 *wt, const f32 *bias, const f32 *zeros, f32 *out,
                          int n, int y, int x0, int o0, int nv, int H, int W, int C, int O, int kh,
                          int kw, int relu) {
  const int ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const v128_t zero = wasm_f32x4_splat(0.0f);
  v128_t a0 = zero, a1 = zero, a2 = zero, a3 = zero, b0 = zero, b1 = zero, b2 = zero, b3 = zero;
  FOR_EACH_TAP(
    const f32 *p0 = TAP_PIXEL(0), *p1 = TAP_PIXEL(1);
    const f32 *w0 = wt + ((long)(a * kw + b) * O + o0) * C;
    const f32 *w1 = nv > 1 ? w0 + C : zeros, *w2 = nv > 2 ? w0 + 2 * C : zeros;
    const f32 *w3 = nv > 3 ? w0 + 3 * C : zeros;
    for (int c = 0; c < C; c += 4) {
      const v128_t x0v = wasm_v128_load(p0 + c), x1v = wasm_v128_load(p1 + c);
      v128_t f = wasm_v128_load(w0 + c);
      MADD(a0, x0v, f), MADD(b0, x1v, f);
      f = wasm_v128_load(w1 + c);
      MADD(a1, x0v, f), MADD(b1, x1v, f);
      f = wasm_v128_load(w2 + c);
      MADD(a2, x0v, f), MADD(b2, x1v, f);
      f = wasm_v128_load(w3 + c);
      MADD(a3, x0v, f), MADD(b3, x1v, f);
    }
  );
  v128_t init = zero;
  if (bias) {
    init = nv == 4 ? wasm_v128_load(bias + o0)
                   : wasm_f32x4_make(bias[o0], nv > 1 ? bias[o0 + 1] : 0.0f,
                                     nv > 2 ? bias[o0 + 2] : 0.0f, 0.0f);
  }
  f32 *o = out + (((long)n * H + y) * W + x0) * O + o0;
  store_lanes(o, activate(wasm_f32x4_add(init, lane_sums(a0, a1, a2, a3)), relu), nv);
  if (x0 + 1 < W) {
    store_lanes(o + O, activate(wasm_f32x4_add(init, lane_sums(b0, b1, b2, b3)), relu), nv);
  }
}

/* 4 pixels x nv (1-2) channels from o0: conv_tile2x4c's layout for the last 1-2 channels. */
static __attribute__((noinline)) void conv_tile4x2c(const f32 *x, const f32 *wt, const f32 *bias, const f32 *zeros, f32 *out,
                          int n, int y, int x0, int o0, int nv, int H, int W, int C, int O, int kh,
                          int kw, int relu) {
  const int ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const v128_t zero = wasm_f32x4_splat(0.0f);
  v128_t a0 = zero, a1 = zero, a2 = zero, a3 = zero, b0 = zero, b1 = zero, b2 = zero, b3 = zero;
  FOR_EACH_TAP(
    const f32 *p0 = TAP_PIXEL(0), *p1 = TAP_PIXEL(1), *p2 = TAP_PIXEL(2), *p3 = TAP_PIXEL(3);
    const f32 *w0 = wt + ((long)(a * kw + b) * O + o0) * C;
    const f32 *w1 = nv > 1 ? w0 + C : zeros;
    for (int c = 0; c < C; c += 4) {
      const v128_t f0 = wasm_v128_load(w0 + c), f1 = wasm_v128_load(w1 + c);
      v128_t v = wasm_v128_load(p0 + c);
      MADD(a0, v, f0), MADD(b0, v, f1);
      v = wasm_v128_load(p1 + c);
      MADD(a1, v, f0), MADD(b1, v, f1);
      v = wasm_v128_load(p2 + c);
      MADD(a2, v, f0), MADD(b2, v, f1);
      v = wasm_v128_load(p3 + c);
      MADD(a3, v, f0), MADD(b3, v, f1);
    }
  );
  /* lane_sums(a0, a1, a2, a3) is channel o0 of the 4 pixels, lane_sums(b...) channel o0 + 1. */
  const v128_t s0 = wasm_f32x4_add(lane_sums(a0, a1, a2, a3), wasm_f32x4_splat(bias ? bias[o0] : 0.0f));
  const v128_t s1 = wasm_f32x4_add(lane_sums(b0, b1, b2, b3),
                                   wasm_f32x4_splat(bias && nv > 1 ? bias[o0 + 1] : 0.0f));
  const v128_t r0 = activate(s0, relu), r1 = activate(s1, relu);
  f32 *o = out + (((long)n * H + y) * W + x0) * O + o0;
  o[0] = wasm_f32x4_extract_lane(r0, 0);
  if (nv > 1) o[1] = wasm_f32x4_extract_lane(r1, 0);
  if (x0 + 1 >= W) return;
  o += O;
  o[0] = wasm_f32x4_extract_lane(r0, 1);
  if (nv > 1) o[1] = wasm_f32x4_extract_lane(r1, 1);
  if (x0 + 2 >= W) return;
  o += O;
  o[0] = wasm_f32x4_extract_lane(r0, 2);
  if (nv > 1) o[1] = wasm_f32x4_extract_lane(r1, 2);
  if (x0 + 3 >= W) return;
  o += O;
  o[0] = wasm_f32x4_extract_lane(r0, 3);
  if (nv > 1) o[1] = wasm_f32x4_extract_lane(r1, 3);
}

/* Output channel o of every pixel of one row, one value at a time (channels past a multiple of 4). */
static void conv_scalar_channel(const f32 *x, const f32 *w, const f32 *bias, f32 *out, int n, int y,
                                int o, int H, int W, int C, int O, int kh, int kw, int relu) {
  const int ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  for (int xo = 0; xo < W; xo++) {
    f32 acc = bias ? bias[o] : 0.0f;
    for (int a = 0; a < kh; a++) {
      const int iy = y + a - ph;
      if ((unsigned)iy >= (unsigned)H) continue;
      for (int b = 0; b < kw; b++) {
        const int ix = xo + b - pw;
        if ((unsigned)ix >= (unsigned)W) continue;
        const f32 *p = x + (((long)n * H + iy) * W + ix) * C;
        const f32 *wr = w + (long)(a * kw + b) * C * O + o;
        for (int c = 0; c < C; c++) acc += p[c] * wr[(long)c * O];
      }
    }
    out[(((long)n * H + y) * W + xo) * O + o] = relu && acc < 0.0f ? 0.0f : acc;
  }
}

/* Output channels [o_lo, O) of row r with the tiles that do not broadcast (see conv2d_same). */
static void conv_row_tail(const f32 *x, const f32 *w, const f32 *wt, const f32 *bias,
                          const f32 *zeros, f32 *out, int r, int o_lo, int o_hi, int H, int W,
                          int C, int O, int kh, int kw, int relu) {
  const int n = r / H, y = r % H, o8 = O & ~7, o4 = O & ~3;
  if (wt) {
    for (int o0 = o_lo; o0 < o_hi; o0 += 4) {
      const int nv = o_hi - o0 < 4 ? o_hi - o0 : 4;
      for (int x0 = 0; x0 < W; x0 += nv > 2 ? 2 : 4) {
        if (nv > 2) {
          conv_tile2x4c(x, wt, bias, zeros, out, n, y, x0, o0, nv, H, W, C, O, kh, kw, relu);
        } else {
          conv_tile4x2c(x, wt, bias, zeros, out, n, y, x0, o0, nv, H, W, C, O, kh, kw, relu);
        }
      }
    }
    return;
  }
  if (o4 > o8) {
    for (int x0 = 0; x0 < W; x0 += 4) {
      conv_tile4x4(x, w, bias, zeros, out, n, y, x0, o8, H, W, C, O, kh, kw, relu);
    }
  }
  for (int o = o4; o < O; o++) conv_scalar_channel(x, w, bias, out, n, y, o, H, W, C, O, kh, kw, relu);
}

/*
 * Output rows [r0, r1) (row r = image r / H, line r % H) and channel units [u0, u1) of the
 * 'same' convolution of x [N, H, W, C] with w [kh, kw, C, O] (+ bias [O], may be 0; ReLU when
 * relu != 0) into out [N, H, W, O]. Unit u < O / 8 is channels [8u, 8u + 8); unit O / 8, when
 * O is not a multiple of 8, the rest. With w = 0 (wt given, C a multiple of 4), every unit is
 * channels [4u, 4u + 4) of the tiles vectorised over input channels: an input gradient then
 * needs only its filter's taps reversed, not each tap's matrix transposed (a 512x512 transpose
 * cost more than the whole convolution on 4x4 images at batch 4). Threads share a call by rows (many rows) or by units (few
 * rows: small images at small batches, where every row would otherwise read the whole filter).
 * zeros: C zero floats. wt: the same filter as [kh, kw, O, C], or 0; when given
 * (C a multiple of 4) the channels past a multiple of 8 take conv_tile2x4c, twice as fast there
 * as broadcasting tiles (one broadcast per multiply-add) and far faster than one channel at a
 * time (a narrow output such as the 2 channels of a grey image's coupling input gradient).
 * xp: x zero-padded by pad_images, or 0; when given, the 4x8 tiles read it (see
 * conv_tile4x8_padded; the other tiles read x).
 */
/* Output channel unit u of rows [r0, r1) (see conv2d_same). */
static void conv_unit_rows(const f32 *x, const f32 *w, const f32 *wt, const f32 *xp,
                           const f32 *bias, const f32 *zeros, f32 *out, int r0, int r1, int u,
                           int H, int W, int C, int O, int kh, int kw, int relu) {
  if (!w) {
    const int o_hi = 4 * u + 4 < O ? 4 * u + 4 : O;
    for (int r = r0; r < r1; r++) {
      conv_row_tail(x, w, wt, bias, zeros, out, r, 4 * u, o_hi, H, W, C, O, kh, kw, relu);
    }
    return;
  }
  if (u == O >> 3) {
    for (int r = r0; r < r1; r++) {
      conv_row_tail(x, w, wt, bias, zeros, out, r, O & ~7, O, H, W, C, O, kh, kw, relu);
    }
    return;
  }
  const int o0 = u << 3;
  for (int r = r0; r < r1; r++) {
    const int n = r / H, y = r % H;
    for (int x0 = 0; x0 < W; x0 += 4) {
      if (xp) {
        conv_tile4x8_padded(xp, w, bias, out, n, y, x0, o0, H, W, C, O, kh, kw, relu);
      } else {
        conv_tile4x8(x, w, bias, zeros, out, n, y, x0, o0, H, W, C, O, kh, kw, relu);
      }
    }
  }
}

__attribute__((export_name("conv2d_same"))) void conv2d_same(const f32 *x, const f32 *w,
                                                             const f32 *wt, const f32 *xp,
                                                             const f32 *bias, const f32 *zeros,
                                                             f32 *out, int r0, int r1, int u0,
                                                             int u1, int H, int W, int C, int O,
                                                             int kh, int kw, int relu) {
  const int units = w ? (O >> 3) + ((O & 7) ? 1 : 0) : (O + 3) >> 2;
  if (u0 > 0 || u1 < units) {
    /* A share of the channel units (few rows): units outer, so each unit's filter columns stay
     * in cache across the rows. */
    for (int u = u0; u < u1; u++) {
      conv_unit_rows(x, w, wt, xp, bias, zeros, out, r0, r1, u, H, W, C, O, kh, kw, relu);
    }
    return;
  }
  /* A share of the rows: rows outer, so each row's input stays in cache across the units. */
  const int o8 = w ? O & ~7 : 0;
  for (int r = r0; r < r1; r++) {
    const int n = r / H, y = r % H;
    for (int o0 = 0; o0 < o8; o0 += 8) {
      for (int x0 = 0; x0 < W; x0 += 4) {
        if (xp) {
          conv_tile4x8_padded(xp, w, bias, out, n, y, x0, o0, H, W, C, O, kh, kw, relu);
        } else {
          conv_tile4x8(x, w, bias, zeros, out, n, y, x0, o0, H, W, C, O, kh, kw, relu);
        }
      }
    }
    if (o8 < O) conv_row_tail(x, w, wt, bias, zeros, out, r, o8, O, H, W, C, O, kh, kw, relu);
  }
}

/*
 * A filter [kh, kw, C, O] rearranged: taps reversed with flip (out tap (kh−1−a, kw−1−b) is w's
 * tap (a, b)), and each tap's [C, O] matrix transposed to [O, C] with swap. Flip and swap give the
 * input gradient's filter; swap alone the layout conv_tile2x4c reads.
 */
__attribute__((export_name("arrange_filter"))) void arrange_filter(const f32 *w, f32 *out, int kh,
                                                                   int kw, int C, int O, int flip,
                                                                   int swap) {
  for (int a = 0; a < kh; a++) {
    for (int b = 0; b < kw; b++) {
      const f32 *src = w + (long)(a * kw + b) * C * O;
      const int tap = flip ? (kh - 1 - a) * kw + (kw - 1 - b) : a * kw + b;
      f32 *dst = out + (long)tap * O * C;
      if (!swap) {
        for (long k = 0; k < (long)C * O; k++) dst[k] = src[k];
        continue;
      }
      /* Transposed in 16 x 16 blocks, so that both sides stay in cache for large filters. */
      for (int c0 = 0; c0 < C; c0 += 16) {
        const int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int o0 = 0; o0 < O; o0 += 16) {
          const int o1 = o0 + 16 < O ? o0 + 16 : O;
          for (int c = c0; c < c1; c++) {
            for (int o = o0; o < o1; o++) dst[(long)o * C + c] = src[(long)c * O + o];
          }
        }
      }
    }
  }
}

/*
 * out [N·H·W, kh·kw·C (+1)]: row (n, y, x) holds x[n, y + s(a − ph), x + s(b − pw), :] for every
 * tap (a, b) in order (s = −1 with flip, else 1; zero outside the image), then a 1 with ones.
 */
__attribute__((export_name("patches"))) void patches(const f32 *x, f32 *out, int N, int H, int W,
                                                     int C, int kh, int kw, int flip, int ones) {
  const int ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const int s = flip ? -1 : 1;
  const long width = (long)kh * kw * C + (ones ? 1 : 0);
  f32 *o = out;
  for (int n = 0; n < N; n++) {
    for (int y = 0; y < H; y++) {
      for (int xo = 0; xo < W; xo++, o += width) {
        f32 *t = o;
        for (int a = 0; a < kh; a++) {
          const int iy = y + s * (a - ph);
          for (int b = 0; b < kw; b++, t += C) {
            const int ix = xo + s * (b - pw);
            if ((unsigned)iy >= (unsigned)H || (unsigned)ix >= (unsigned)W) {
              for (int c = 0; c < C; c++) t[c] = 0.0f;
            } else {
              const f32 *src = x + (((long)n * H + iy) * W + ix) * C;
              for (int c = 0; c < C; c++) t[c] = src[c];
            }
          }
        }
        if (ones) *t = 1.0f;
      }
    }
  }
}

/*
 * One Adamax update (PyTorch's torch.optim.Adamax, weight decay added to the gradient) of n
 * values, float32 operation by operation in the order of the tfjs ops it replaces, so results
 * are bit-identical to them:
 *   g' = g + θ·wd (skipped when wd is 0);  m' = m·β1 + g'·(1 − β1);
 *   u' = max(u·β2, |g'| + eps);            θ' = θ − (m' / u')·step
 * Outputs may not overlap the inputs.
 */
__attribute__((export_name("adamax_update"))) void adamax_update(
    const f32 *theta, const f32 *g, const f32 *m, const f32 *u, f32 *theta_out, f32 *m_out,
    f32 *u_out, int n, f32 beta1, f32 one_minus_beta1, f32 beta2, f32 eps, f32 wd, f32 step) {
  const v128_t b1 = wasm_f32x4_splat(beta1), ob1 = wasm_f32x4_splat(one_minus_beta1);
  const v128_t b2 = wasm_f32x4_splat(beta2), ep = wasm_f32x4_splat(eps);
  const v128_t w = wasm_f32x4_splat(wd), st = wasm_f32x4_splat(step);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t t = wasm_v128_load(theta + i);
    v128_t gv = wasm_v128_load(g + i);
    if (wd != 0.0f) gv = wasm_f32x4_add(gv, wasm_f32x4_mul(t, w));
    const v128_t mv = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), b1), wasm_f32x4_mul(gv, ob1));
    const v128_t uv = wasm_f32x4_max(wasm_f32x4_mul(wasm_v128_load(u + i), b2),
                                     wasm_f32x4_add(wasm_f32x4_abs(gv), ep));
    wasm_v128_store(m_out + i, mv);
    wasm_v128_store(u_out + i, uv);
    wasm_v128_store(theta_out + i, wasm_f32x4_sub(t, wasm_f32x4_mul(wasm_f32x4_div(mv, uv), st)));
  }
  for (; i < n; i++) {
    f32 gi = g[i];
    if (wd != 0.0f) gi = gi + theta[i] * wd;
    const f32 mi = m[i] * beta1 + gi * one_minus_beta1;
    const f32 a = u[i] * beta2, b = (gi < 0.0f ? -gi : gi) + eps;
    const f32 ui = a > b ? a : b;
    m_out[i] = mi;
    u_out[i] = ui;
    theta_out[i] = theta[i] - (mi / ui) * step;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Channel halves and the affine coupling's element-wise half (spec 3.3c), one pass each.
 */

/* a[r, :] = x[r, :half], b[r, :] = x[r, half:] for rows r of x [rows, 2·half]. */
__attribute__((export_name("split_halves"))) void split_halves(const f32 *x, f32 *a, f32 *b,
                                                               int rows, int half) {
  for (int r = 0; r < rows; r++) {
    const f32 *xr = x + (long)r * 2 * half;
    f32 *ar = a + (long)r * half, *br = b + (long)r * half;
    for (int i = 0; i < half; i++) ar[i] = xr[i];
    for (int i = 0; i < half; i++) br[i] = xr[half + i];
  }
}

/* x[r, :] = [a[r, :], b[r, :]]: the inverse of split_halves. */
__attribute__((export_name("join_halves"))) void join_halves(const f32 *a, const f32 *b, f32 *x,
                                                             int rows, int half) {
  for (int r = 0; r < rows; r++) {
    f32 *xr = x + (long)r * 2 * half;
    const f32 *ar = a + (long)r * half, *br = b + (long)r * half;
    for (int i = 0; i < half; i++) xr[i] = ar[i];
    for (int i = 0; i < half; i++) xr[half + i] = br[i];
  }
}

/*
 * e^x for 4 floats (Cephes' expf: x = n·ln 2 + r, |r| ≤ ln 2 / 2, a degree-6 polynomial for e^r,
 * 2^n from the exponent bits; within ~1 ulp of the correctly rounded result). x is clamped to
 * [−87.3, 88.3], so e^x stays a normal float (the sigmoid below needs no more).
 */
static inline v128_t exp4(v128_t x) {
  x = wasm_f32x4_min(wasm_f32x4_max(x, wasm_f32x4_splat(-87.3365f)), wasm_f32x4_splat(88.3763f));
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), wasm_f32x4_add(r, wasm_f32x4_splat(1.0f)));
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

/*
 * ln x for 4 positive normal floats (Cephes' logf: x = m·2^e with m in [√½, √2), a degree-9
 * polynomial for ln m; within ~1 ulp).
 */
static inline v128_t log4(v128_t x) {
  const v128_t bits = x;
  v128_t e = wasm_i32x4_sub(wasm_u32x4_shr(bits, 23), wasm_i32x4_splat(126));
  v128_t m = wasm_v128_or(wasm_v128_and(bits, wasm_i32x4_splat(0x807fffff)), wasm_i32x4_splat(0x3f000000));
  /* m in [0.5, 1): below √½ take 2m − 1 and one less in the exponent, else m − 1. */
  const v128_t small = wasm_f32x4_lt(m, wasm_f32x4_splat(0.707106781186547524f));
  e = wasm_i32x4_add(e, small); /* true lanes are −1 */
  v128_t f = wasm_f32x4_sub(wasm_f32x4_add(m, wasm_v128_and(m, small)), wasm_f32x4_splat(1.0f));
  const v128_t ef = wasm_f32x4_convert_i32x4(e);
  const v128_t z = wasm_f32x4_mul(f, f);
  v128_t y = wasm_f32x4_splat(7.0376836292e-2f);
  y = wasm_f32x4_add(wasm_f32x4_mul(y, f), wasm_f32x4_splat(-1.1514610310e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, f), wasm_f32x4_splat(1.1676998740e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, f), wasm_f32x4_splat(-1.2420140846e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, f), wasm_f32x4_splat(1.4249322787e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, f), wasm_f32x4_splat(-1.6668057665e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, f), wasm_f32x4_splat(2.0000714765e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, f), wasm_f32x4_splat(-2.4999993993e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, f), wasm_f32x4_splat(3.3333331174e-1f));
  y = wasm_f32x4_mul(wasm_f32x4_mul(y, f), z);
  y = wasm_f32x4_add(y, wasm_f32x4_mul(ef, wasm_f32x4_splat(-2.12194440e-4f)));
  y = wasm_f32x4_sub(y, wasm_f32x4_mul(z, wasm_f32x4_splat(0.5f)));
  return wasm_f32x4_add(wasm_f32x4_add(f, y), wasm_f32x4_mul(ef, wasm_f32x4_splat(0.693359375f)));
}

/*
 * The coupling net's output h interleaves (shift, raw scale) per element: four elements' shift
 * into *shift, and their scale s = sigmoid(raw + 2), the one formula the forward pass and the
 * reversible step's inverse share so that the inverse undoes exactly the forward's s.
 */
static inline v128_t coupling_scale(const f32 *h4, v128_t *shift) {
  const v128_t one = wasm_f32x4_splat(1.0f), two = wasm_f32x4_splat(2.0f);
  const v128_t h0 = wasm_v128_load(h4), h1 = wasm_v128_load(h4 + 4);
  *shift = wasm_i32x4_shuffle(h0, h1, 0, 2, 4, 6);
  const v128_t z = wasm_f32x4_add(wasm_i32x4_shuffle(h0, h1, 1, 3, 5, 7), two);
  return wasm_f32x4_div(one, wasm_f32x4_add(one, exp4(wasm_f32x4_neg(z))));
}

/*
 * The affine coupling forward over `batch` examples of `per` values each (per a multiple of 4):
 * with h holding shift and raw scale interleaved, s = σ(raw + 2), u = xb + shift, yb = u·s and
 * log_det[n] = Σ log max(s, FLT_MIN) over example n. s and u are kept for the gradient.
 */
__attribute__((export_name("affine_coupling"))) void affine_coupling(const f32 *xb, const f32 *h,
                                                                     f32 *yb, f32 *s_out,
                                                                     f32 *u_out, f32 *log_det,
                                                                     int batch, int per) {
  const v128_t tiny = wasm_f32x4_splat(1.17549435e-38f);
  for (int n = 0; n < batch; n++) {
    v128_t acc = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < per; i += 4) {
      const long k = (long)n * per + i;
      v128_t shift;
      const v128_t s = coupling_scale(h + 2 * k, &shift);
      const v128_t u = wasm_f32x4_add(wasm_v128_load(xb + k), shift);
      wasm_v128_store(s_out + k, s);
      wasm_v128_store(u_out + k, u);
      wasm_v128_store(yb + k, wasm_f32x4_mul(u, s));
      acc = wasm_f32x4_add(acc, log4(wasm_f32x4_max(s, tiny)));
    }
    log_det[n] = (wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1)) +
                 (wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3));
  }
}

/*
 * Its gradient: g = dyb·s (the gradient of xb and of the shift), and of the raw scale
 * (g·u + dlog_det[n])·(1 − s); dh interleaves the two as h does.
 */
__attribute__((export_name("affine_coupling_grad"))) void affine_coupling_grad(
    const f32 *dyb, const f32 *dlog_det, const f32 *s, const f32 *u, f32 *dxb, f32 *dh, int batch,
    int per) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  for (int n = 0; n < batch; n++) {
    const v128_t dl = wasm_f32x4_splat(dlog_det[n]);
    for (int i = 0; i < per; i += 4) {
      const long k = (long)n * per + i;
      const v128_t sv = wasm_v128_load(s + k);
      const v128_t g = wasm_f32x4_mul(wasm_v128_load(dyb + k), sv);
      const v128_t draw =
          wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_mul(g, wasm_v128_load(u + k)), dl),
                         wasm_f32x4_sub(one, sv));
      wasm_v128_store(dxb + k, g);
      wasm_v128_store(dh + 2 * k, wasm_i32x4_shuffle(g, draw, 0, 4, 1, 5));
      wasm_v128_store(dh + 2 * k + 4, wasm_i32x4_shuffle(g, draw, 2, 6, 3, 7));
    }
  }
}

/*
 * Reversible backprop's step of the coupling from its output (flow-layers' backwardSequence,
 * which has the net's output h from one taped run): the inverse xb = yb/s − shift, g = dyb·s and
 * the raw scale's (dyb·yb + dlog_det[n])·(1 − s), i.e. affine_coupling_grad's g·u with u·s = yb,
 * so no quotient's rounding enters it. s as in affine_coupling, so the inverse undoes exactly
 * the s the forward pass multiplied by.
 */
__attribute__((export_name("affine_coupling_inverse_grad"))) void affine_coupling_inverse_grad(
    const f32 *yb, const f32 *h, const f32 *dyb, const f32 *dlog_det, f32 *xb, f32 *dxb, f32 *dh,
    int batch, int per) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  for (int n = 0; n < batch; n++) {
    const v128_t dl = wasm_f32x4_splat(dlog_det[n]);
    for (int i = 0; i < per; i += 4) {
      const long k = (long)n * per + i;
      v128_t shift;
      const v128_t s = coupling_scale(h + 2 * k, &shift);
      const v128_t y = wasm_v128_load(yb + k), d = wasm_v128_load(dyb + k);
      const v128_t g = wasm_f32x4_mul(d, s);
      const v128_t draw =
          wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_mul(d, y), dl), wasm_f32x4_sub(one, s));
      wasm_v128_store(xb + k, wasm_f32x4_sub(wasm_f32x4_div(y, s), shift));
      wasm_v128_store(dxb + k, g);
      wasm_v128_store(dh + 2 * k, wasm_i32x4_shuffle(g, draw, 0, 4, 1, 5));
      wasm_v128_store(dh + 2 * k + 4, wasm_i32x4_shuffle(g, draw, 2, 6, 3, 7));
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * Per-column scales of a weight matrix (ops/scale-columns.ts) and a finite check.
 */

/* out[r, o] = w[r, o]·s[o] for w [rows, c]. */
__attribute__((export_name("scale_columns"))) void scale_columns(const f32 *w, const f32 *s,
                                                                 f32 *out, int rows, int c) {
  for (int r = 0; r < rows; r++) {
    const f32 *wr = w + (long)r * c;
    f32 *orow = out + (long)r * c;
    int o = 0;
    for (; o + 4 <= c; o += 4) {
      wasm_v128_store(orow + o, wasm_f32x4_mul(wasm_v128_load(wr + o), wasm_v128_load(s + o)));
    }
    for (; o < c; o++) orow[o] = wr[o] * s[o];
  }
}

/*
 * Its gradient's heavy part: dw_out[r, o] = dw[r, o]·s[o] and sums[o] = Σ_r dw[r, o]·w[r, o]
 * (float32 sums, row by row).
 */
__attribute__((export_name("scale_columns_grad"))) void scale_columns_grad(
    const f32 *dw, const f32 *w, const f32 *s, f32 *dw_out, f32 *sums, int rows, int c) {
  for (int o = 0; o < c; o++) sums[o] = 0.0f;
  for (int r = 0; r < rows; r++) {
    const long k = (long)r * c;
    int o = 0;
    for (; o + 4 <= c; o += 4) {
      const v128_t d = wasm_v128_load(dw + k + o);
      wasm_v128_store(dw_out + k + o, wasm_f32x4_mul(d, wasm_v128_load(s + o)));
      wasm_v128_store(sums + o, wasm_f32x4_add(wasm_v128_load(sums + o),
                                               wasm_f32x4_mul(d, wasm_v128_load(w + k + o))));
    }
    for (; o < c; o++) {
      dw_out[k + o] = dw[k + o] * s[o];
      sums[o] += dw[k + o] * w[k + o];
    }
  }
}

/* 1 when every one of the n floats at x is finite, else 0. */
__attribute__((export_name("all_finite"))) int all_finite(const f32 *x, int n) {
  /* A float is finite when its exponent bits are not all ones. */
  const v128_t mask = wasm_i32x4_splat(0x7f800000);
  v128_t bad = wasm_i32x4_splat(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    bad = wasm_v128_or(bad, wasm_i32x4_eq(wasm_v128_and(wasm_v128_load(x + i), mask), mask));
  }
  if (wasm_v128_any_true(bad)) return 0;
  for (; i < n; i++) {
    const f32 v = x[i];
    if (!(v - v == 0.0f)) return 0;
  }
  return 1;
}
