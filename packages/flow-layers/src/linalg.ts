/**
 * Small dense linear algebra in float64 plain JS. tfjs has no float64 and no inverse,
 * determinant or LU, and the matrices here (1x1-conv weights, test Jacobians) are at most a few
 * thousand entries, so plain loops are both exact enough and fast enough.
 *
 * Matrices are row-major `Float64Array`s with an explicit size `n` (square) or `rows`/`cols`.
 */

/** Result of LU decomposition with partial pivoting: `P·A = L·U`, or equivalently `A = Pᵀ·L·U`. */
export interface LuDecomposition {
  n: number;
  /** Combined factors: strictly lower part is L (unit diagonal implied), upper part is U. */
  lu: Float64Array;
  /** Row permutation: row i of P·A is row `perm[i]` of A. */
  perm: Int32Array;
  /** +1 or -1: determinant of P. */
  permSign: number;
}

export function luDecompose(a: ArrayLike<number>, n: number): LuDecomposition {
  if (a.length !== n * n)
    throw new RangeError(`luDecompose: expected ${n * n} entries, got ${a.length}`);
  const lu = Float64Array.from(a);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  let permSign = 1;
  for (let k = 0; k < n; k++) {
    let p = k;
    let best = Math.abs(lu[k * n + k]!);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(lu[i * n + k]!);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    if (p !== k) {
      for (let j = 0; j < n; j++) {
        const t = lu[k * n + j]!;
        lu[k * n + j] = lu[p * n + j]!;
        lu[p * n + j] = t;
      }
      const t = perm[k]!;
      perm[k] = perm[p]!;
      perm[p] = t;
      permSign = -permSign;
    }
    const pivot = lu[k * n + k]!;
    if (pivot === 0) continue; // singular; determinant is 0
    for (let i = k + 1; i < n; i++) {
      const f = lu[i * n + k]! / pivot;
      lu[i * n + k] = f;
      if (f === 0) continue;
      for (let j = k + 1; j < n; j++) lu[i * n + j]! -= f * lu[k * n + j]!;
    }
  }
  return { n, lu, perm, permSign };
}

/** log|det A| in float64; -Infinity for a singular matrix. */
export function logAbsDet(a: ArrayLike<number>, n: number): number {
  const { lu } = luDecompose(a, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(Math.abs(lu[i * n + i]!));
  return s;
}

/** A⁻¹ in float64. Throws a RangeError for a singular matrix. */
export function invert(a: ArrayLike<number>, n: number): Float64Array {
  const { lu, perm } = luDecompose(a, n);
  for (let i = 0; i < n; i++) {
    if (lu[i * n + i] === 0) throw new RangeError('invert: matrix is singular');
  }
  const inv = new Float64Array(n * n);
  const col = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    // Solve A x = e_c: P A = L U, so L U x = P e_c.
    for (let i = 0; i < n; i++) col[i] = perm[i] === c ? 1 : 0;
    for (let i = 0; i < n; i++) {
      let s = col[i]!;
      for (let j = 0; j < i; j++) s -= lu[i * n + j]! * col[j]!;
      col[i] = s;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = col[i]!;
      for (let j = i + 1; j < n; j++) s -= lu[i * n + j]! * col[j]!;
      col[i] = s / lu[i * n + i]!;
    }
    for (let i = 0; i < n; i++) inv[i * n + c] = col[i]!;
  }
  return inv;
}

/** C = A·B for square n×n matrices. */
export function matMulSquare(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j]! += aik * b[k * n + j]!;
    }
  }
  return c;
}

/**
 * The orthogonal factor Q of A = Q·R (Householder), with the signs fixed so diag(R) > 0, which
 * makes Q Haar-distributed when A has i.i.d. Gaussian entries.
 */
export function qrOrthogonal(a: ArrayLike<number>, n: number): Float64Array {
  const r = Float64Array.from(a);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const v = new Float64Array(n);
  for (let k = 0; k < n - 1; k++) {
    let norm = 0;
    for (let i = k; i < n; i++) norm += r[i * n + k]! ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) continue;
    const alpha = r[k * n + k]! > 0 ? -norm : norm;
    let vnorm = 0;
    for (let i = k; i < n; i++) {
      v[i] = r[i * n + k]! - (i === k ? alpha : 0);
      vnorm += v[i]! ** 2;
    }
    if (vnorm === 0) continue;
    // R <- H R, Q <- Q H with H = I - 2 v vᵀ / (vᵀv)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = k; i < n; i++) s += v[i]! * r[i * n + j]!;
      s = (2 * s) / vnorm;
      for (let i = k; i < n; i++) r[i * n + j]! -= s * v[i]!;
    }
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = k; j < n; j++) s += q[i * n + j]! * v[j]!;
      s = (2 * s) / vnorm;
      for (let j = k; j < n; j++) q[i * n + j]! -= s * v[j]!;
    }
  }
  for (let k = 0; k < n; k++) {
    if (r[k * n + k]! < 0) for (let i = 0; i < n; i++) q[i * n + k] = -q[i * n + k]!;
  }
  return q;
}
