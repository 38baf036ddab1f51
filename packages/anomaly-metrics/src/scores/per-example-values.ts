import { EmptyInputError, LengthMismatchError, ShapeError } from '../errors.js';

/**
 * A tfjs tensor as far as scoring needs one: a shape and its reads. Structural, so this package
 * needs no tfjs import to accept `tf.Tensor1D`.
 */
export interface TensorLike {
  readonly shape: readonly number[];
  dataSync(): ArrayLike<number>;
  data(): Promise<ArrayLike<number>>;
}

/**
 * One value per example: a JS array, a typed array, or a rank-1 tensor. The score functions read
 * a tensor with `dataSync()`, which blocks a browser page until a GPU backend has finished; read
 * model outputs first with {@link readLikelihoodOutput} (`await data()`) to avoid that.
 */
export type PerExampleValues = ArrayLike<number> | TensorLike;

/**
 * What a likelihood model returns for a batch (the shape of `@hierglow/glow`'s `logProb(x)`),
 * declared here structurally so scores do not depend on the model package.
 */
export interface LikelihoodOutput {
  /** log p(x) per example, in nats (continuous density on the [-0.5, 0.5) cube). */
  readonly logP: PerExampleValues;
  /**
   * Per-scale contributions lp_k = F_k + A_k + Z_k (spec 3.7), finest scale first; they sum to
   * logP. The last entry is the final (coarsest, 4x4) scale.
   */
  readonly perScale: readonly PerExampleValues[];
  /** Bits per dimension per example: 8 - logP / (D ln 2) for 8-bit data. */
  readonly bitsPerDim: PerExampleValues;
}

function isTensorLike(v: unknown): v is TensorLike {
  return typeof v === 'object' && v !== null && typeof (v as TensorLike).dataSync === 'function';
}

/** True when `v` is a whole model output rather than one list of values. */
export function isLikelihoodOutput(v: unknown): v is LikelihoodOutput {
  return typeof v === 'object' && v !== null && 'logP' in v && 'perScale' in v;
}

/** Reads per-example values into a fresh Float64Array, without judging non-finite values. */
export function readPerExample(source: PerExampleValues, name: string): Float64Array {
  let values: ArrayLike<number>;
  if (isTensorLike(source)) {
    if (source.shape.length !== 1) {
      throw new ShapeError(
        `${name} must be one value per example (rank 1), got a tensor of shape [${source.shape.join(', ')}].`,
      );
    }
    values = source.dataSync();
  } else if (typeof source === 'object' && source !== null && typeof source.length === 'number') {
    values = source;
  } else {
    throw new ShapeError(`${name} must be an array, a typed array or a rank-1 tensor.`);
  }
  if (values.length === 0) throw new EmptyInputError(`${name} has no examples.`);
  return Float64Array.from(values);
}

/** Throws unless all arrays have the same number of examples. */
export function checkSameLength(arrays: ReadonlyArray<[string, Float64Array]>): void {
  const [firstName, first] = arrays[0]!;
  for (const [name, a] of arrays) {
    if (a.length !== first.length) {
      throw new LengthMismatchError(
        `${name} has ${a.length} examples but ${firstName} has ${first.length}; scores pair examples by index.`,
      );
    }
  }
}

/** A {@link LikelihoodOutput} read into arrays. */
export interface LikelihoodArrays {
  readonly logP: Float64Array;
  readonly perScale: readonly Float64Array[];
  readonly bitsPerDim: Float64Array;
}

/**
 * Reads a model output's tensors with `await data()` (all at once), so a browser page is not
 * blocked while the backend finishes; the arrays go to every score function as the tensors
 * would. Arrays in the output are copied. The caller still owns (and disposes) the tensors.
 *
 * @example
 * const out = model.logProb(x);
 * const scores = finalScaleScore(await readLikelihoodOutput(out));
 * tf.dispose(out);
 */
export async function readLikelihoodOutput(output: LikelihoodOutput): Promise<LikelihoodArrays> {
  const read = async (source: PerExampleValues, name: string) =>
    readPerExample(isTensorLike(source) ? await checkedData(source, name) : source, name);
  const [logP, bitsPerDim, ...perScale] = await Promise.all([
    read(output.logP, 'logP'),
    read(output.bitsPerDim, 'bitsPerDim'),
    ...output.perScale.map((t, k) => read(t, `perScale[${k}]`)),
  ]);
  return { logP: logP!, perScale, bitsPerDim: bitsPerDim! };
}

async function checkedData(source: TensorLike, name: string): Promise<ArrayLike<number>> {
  if (source.shape.length !== 1) {
    throw new ShapeError(
      `${name} must be one value per example (rank 1), got a tensor of shape [${source.shape.join(', ')}].`,
    );
  }
  return source.data();
}
