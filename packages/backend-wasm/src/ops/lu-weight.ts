import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import { heapF32, registerWasmKernels, type WasmKernelArgs } from '../kernels/wasm-backend.js';
import { customGradMulti } from './custom-grad.js';

/**
 * The invertible 1x1 convolution's weight from its LU parametrisation (spec 3.3b),
 * `W = P L U` with `L = I + strictly-lower(lower)` and `U = strictly-upper(upper) +
 * diag(sign ⊙ exp(logS))`, as one op on the wasm backend: a JavaScript kernel computes W in
 * float64 and a second one its gradient,
 *
 *   M = L U,  ∂M = Pᵀ ∂W,  ∂L = ∂M Uᵀ,  ∂U = Lᵀ ∂M,
 *   ∂lower = strictly-lower(∂L),  ∂upper = strictly-upper(∂U),  ∂logS = diag(∂U) ⊙ sign ⊙ exp(logS).
 *
 * Why: as tfjs ops the weight is about a dozen taped kernels forward and twice that backward per
 * flow step, on `[C, C]` matrices (C = 4-48) where every kernel costs more to dispatch than to
 * compute. Returns `null` where the op does not apply (other backends, fast paths off, or C above
 * {@link LU_WEIGHT_MAX_CHANNELS}, where O(C³) JavaScript would cost more than the kernels): the
 * caller then runs its taped ops. Agrees with them within float32 rounding.
 */
export function luWeight(
  p: tf.Tensor2D,
  lower: tf.Tensor2D,
  upper: tf.Tensor2D,
  logS: tf.Tensor1D,
  signS: tf.Tensor1D,
): tf.Tensor2D | null {
  const c = logS.shape[0]!;
  if (!fastPathsEnabled() || !installed || tf.getBackend() !== 'wasm') return null;
  if (c > LU_WEIGHT_MAX_CHANNELS) return null;
  const out = customGradMulti([lower, upper, logS], (save) => {
    const w = tf.engine().runKernel(LU_WEIGHT, { p, lower, upper, logS, signS }) as tf.Tensor;
    save([p, lower, upper, logS, signS]);
    return {
      values: [w],
      gradFunc: ([dw], saved) => {
        const [ps, ls, us, logSs, signs] = saved as tf.Tensor[];
        return tf.engine().runKernel(LU_WEIGHT_GRAD, {
          dw: dw!,
          p: ps!,
          lower: ls!,
          upper: us!,
          logS: logSs!,
          signS: signs!,
        }) as tf.Tensor[];
      },
    };
  });
  return out ? (out[0] as tf.Tensor2D) : null;
}

/** Largest C for which {@link luWeight} computes in JavaScript. */
export const LU_WEIGHT_MAX_CHANNELS = 64;

const LU_WEIGHT = 'HierglowLuWeight';
const LU_WEIGHT_GRAD = 'HierglowLuWeightGrad';
let installed = false;

/** Registers the two JavaScript kernels for the wasm backend (once). */
export function installLuWeightKernels(): void {
  if (installed) return;
  installed = true;
  registerWasmKernels({ [LU_WEIGHT]: luWeightKernel, [LU_WEIGHT_GRAD]: luWeightGradKernel });
}

/** L, U (float64, row-major) and exp(logS)·sign from the parameters. */
function factors(
  lower: Float32Array,
  upper: Float32Array,
  logS: Float32Array,
  signS: Float32Array,
  c: number,
): { l: Float64Array; u: Float64Array; diag: Float64Array } {
  const l = new Float64Array(c * c);
  const u = new Float64Array(c * c);
  const diag = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    diag[i] = signS[i]! * Math.exp(logS[i]!);
    for (let j = 0; j < c; j++) {
      const k = i * c + j;
      if (j < i) l[k] = lower[k]!;
      else if (j > i) u[k] = upper[k]!;
      else {
        l[k] = 1;
        u[k] = diag[i]!;
      }
    }
  }
  return { l, u, diag };
}

/** `a @ b` for row-major c x c matrices (b transposed first with `tb`, a with `ta`). */
function product(a: ArrayLike<number>, b: ArrayLike<number>, c: number, ta = false, tb = false) {
  const out = new Float64Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      let acc = 0;
      for (let k = 0; k < c; k++) {
        acc += (ta ? a[k * c + i]! : a[i * c + k]!) * (tb ? b[j * c + k]! : b[k * c + j]!);
      }
      out[i * c + j] = acc;
    }
  }
  return out;
}

function luWeightKernel({ inputs, backend }: WasmKernelArgs): tf.TensorInfo {
  const c = inputs.logS!.shape[0]!;
  const out = backend.makeOutput([c, c], 'float32');
  const [p, lower, upper, logS, signS] = ['p', 'lower', 'upper', 'logS', 'signS'].map((n) =>
    heapF32(backend, inputs[n]!),
  );
  const { l, u } = factors(lower!, upper!, logS!, signS!, c);
  heapF32(backend, out).set(product(p!, product(l, u, c), c));
  return out;
}

function luWeightGradKernel({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const c = inputs.logS!.shape[0]!;
  const outs = [
    backend.makeOutput([c, c], 'float32'),
    backend.makeOutput([c, c], 'float32'),
    backend.makeOutput([c], 'float32'),
  ];
  const [dw, p, lower, upper, logS, signS] = ['dw', 'p', 'lower', 'upper', 'logS', 'signS'].map(
    (n) => heapF32(backend, inputs[n]!),
  );
  const { l, u, diag } = factors(lower!, upper!, logS!, signS!, c);
  const dm = product(p!, dw!, c, true); // Pᵀ ∂W
  const dl = product(dm, u, c, false, true); // ∂M Uᵀ
  const du = product(l, dm, c, true); // Lᵀ ∂M
  const [dLower, dUpper, dLogS] = outs.map((o) => heapF32(backend, o!));
  for (let i = 0; i < c; i++) {
    dLogS![i] = du[i * c + i]! * diag[i]!;
    for (let j = 0; j < c; j++) {
      const k = i * c + j;
      dLower![k] = j < i ? dl[k]! : 0;
      dUpper![k] = j > i ? du[k]! : 0;
    }
  }
  return outs as tf.TensorInfo[];
}
