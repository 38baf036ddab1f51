import { ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import { scaleColumnsPasses } from '../kernels/simd-kernels.js';
import { heapF32, registerWasmKernels, type WasmKernelArgs } from '../kernels/wasm-backend.js';
import { customGradMulti } from './custom-grad.js';

/**
 * A per-output-channel scale folded into a layer's weights: with `s = exp(factor · logs)`,
 * `w' = w ⊙ s` (s along the last axis) and `b' = b ⊙ s`. This is how a coupling net's ActNorm
 * (factor 1, b its location) and its last conv's output scale (factor 3, b its bias) fold into
 * the convolutions before them.
 *
 * Why an op of its own: as tfjs ops it is three or four taped kernels forward and a dozen
 * backward (broadcast multiplies and their reductions), per layer and step, all on
 * parameter-sized tensors where the per-kernel cost dominates. On the wasm backend with the fast
 * paths on it is one kernel each way, run in JavaScript on the heap (`HierglowScaleColumns` and
 * `HierglowScaleColumnsGrad`; their passes over the weights in SIMD once hierglow's kernels are
 * loaded), with the gradient
 *
 *   ∂/∂w = ∂w' ⊙ s,   ∂/∂b = ∂b' ⊙ s,   ∂/∂logs = factor · s ⊙ (Σ_rows ∂w' ⊙ w + ∂b' ⊙ b)
 *
 * (the sums in float64 in JavaScript, float32 in SIMD). Elsewhere the taped tfjs ops run. All
 * agree within float32 rounding.
 */
export function scaleColumns(
  w: tf.Tensor,
  b: tf.Tensor1D,
  logs: tf.Tensor1D,
  factor: number,
): { w: tf.Tensor; b: tf.Tensor1D } {
  const c = w.shape[w.rank - 1]!;
  if (b.rank !== 1 || logs.rank !== 1 || b.shape[0] !== c || logs.shape[0] !== c) {
    throw new ShapeError(
      `scaleColumns: w [${w.shape}] needs b and logs of shape [${c}], got [${b.shape}] and [${logs.shape}]`,
    );
  }
  if (fastPathsEnabled() && installed && tf.getBackend() === 'wasm' && w.dtype === 'float32') {
    const out = customGradMulti([w, b, logs], (save) => {
      const [ws, bs, s] = tf.engine().runKernel(SCALE_COLUMNS, { w, b, logs }, {
        factor,
      } as unknown as tf.NamedAttrMap) as tf.Tensor[];
      save([w, b, s!]);
      return {
        values: [ws!, bs!],
        gradFunc: ([dw, db], [wSaved, bSaved, sSaved]) =>
          tf
            .engine()
            .runKernel(
              SCALE_COLUMNS_GRAD,
              { dw: dw!, db: db!, w: wSaved!, b: bSaved!, s: sSaved! },
              { factor } as unknown as tf.NamedAttrMap,
            ) as tf.Tensor[],
      };
    });
    if (out) return { w: out[0]!, b: out[1] as tf.Tensor1D };
  }
  return tf.tidy(() => {
    const s = tf.exp(factor === 1 ? logs : tf.mul(logs, factor));
    return { w: tf.mul(w, s), b: tf.mul(b, s) as tf.Tensor1D };
  });
}

const SCALE_COLUMNS = 'HierglowScaleColumns';
const SCALE_COLUMNS_GRAD = 'HierglowScaleColumnsGrad';
let installed = false;

type Args = WasmKernelArgs<{ factor: number }>;

/** Registers the two JavaScript kernels for the wasm backend (once). */
export function installScaleColumnsKernels(): void {
  if (installed) return;
  installed = true;
  registerWasmKernels({
    [SCALE_COLUMNS]: scaleColumnsKernel,
    [SCALE_COLUMNS_GRAD]: scaleColumnsGradKernel,
  });
}

function scaleColumnsKernel({ inputs, attrs, backend }: Args): tf.TensorInfo[] {
  const { w, b, logs } = inputs as { w: tf.TensorInfo; b: tf.TensorInfo; logs: tf.TensorInfo };
  const c = b.shape[0]!;
  // Allocate first: an allocation can grow the heap and detach earlier views.
  const [wOut, bOut, sOut] = [
    backend.makeOutput([...w.shape], 'float32'),
    backend.makeOutput([c], 'float32'),
    backend.makeOutput([c], 'float32'),
  ];
  const [wv, bv, lv] = [w, b, logs].map((t) => heapF32(backend, t)) as Float32Array[];
  const [wo, bo, so] = [wOut, bOut, sOut].map((t) => heapF32(backend, t!));
  const round = Math.fround;
  for (let o = 0; o < c; o++) {
    so![o] = Math.exp(round(attrs.factor * lv![o]!));
    bo![o] = bv![o]! * so![o]!;
  }
  const simd = scaleColumnsPasses();
  if (simd) {
    const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    simd.scaleColumns(offset(w), offset(sOut), offset(wOut), wv!.length / c, c);
  } else {
    for (let i = 0; i < wv!.length; i++) wo![i] = wv![i]! * so![i % c]!;
  }
  return [wOut, bOut, sOut];
}

function scaleColumnsGradKernel({ inputs, attrs, backend }: Args): tf.TensorInfo[] {
  const { dw, db, w, b, s } = inputs as Record<string, tf.TensorInfo>;
  const c = s!.shape[0]!;
  const [dwOut, dbOut, dlOut] = [
    backend.makeOutput([...w!.shape], 'float32'),
    backend.makeOutput([c], 'float32'),
    backend.makeOutput([c], 'float32'),
  ];
  const simd = scaleColumnsPasses();
  const sumsOut = simd ? backend.makeOutput([c], 'float32') : null;
  const [dwv, dbv, wv, bv, sv] = [dw, db, w, b, s].map((t) => heapF32(backend, t!));
  const [dwo, dbo, dlo] = [dwOut, dbOut, dlOut].map((t) => heapF32(backend, t!));
  let sums: Float32Array | Float64Array;
  if (simd && sumsOut) {
    const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    const rows = dwv!.length / c;
    simd.scaleColumnsGrad(
      offset(dw!),
      offset(w!),
      offset(s!),
      offset(dwOut),
      offset(sumsOut),
      rows,
      c,
    );
    sums = heapF32(backend, sumsOut);
  } else {
    sums = new Float64Array(c);
    for (let i = 0; i < dwv!.length; i++) {
      const o = i % c;
      dwo![i] = dwv![i]! * sv![o]!;
      sums[o] = sums[o]! + dwv![i]! * wv![i]!;
    }
  }
  for (let o = 0; o < c; o++) {
    dbo![o] = dbv![o]! * sv![o]!;
    dlo![o] = attrs.factor * sv![o]! * (sums[o]! + dbv![o]! * bv![o]!);
  }
  if (sumsOut) backend.disposeData(sumsOut.dataId);
  return [dwOut, dbOut, dlOut];
}
