import { HierglowError } from '@hierglow/flow-layers';

/**
 * Error classes of the checkpoint module. Each carries a `_tag`, so `isInstance` works across
 * duplicate installs (like the errors of @hierglow/flow-layers).
 */
// The declared return type keeps the .d.ts from spelling out Error's static members (which
// name the NodeJS namespace of @types/node) for every tagged class.
function tagged<T extends string>(tag: T): typeof HierglowError {
  return class extends HierglowError {
    override readonly _tag: string = tag;
    static override isInstance(e: unknown): e is HierglowError {
      return typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === tag;
    }
  };
}

/** No checkpoint at the given path (or an interrupted save left it missing). */
export class CheckpointNotFoundError extends tagged('CheckpointNotFoundError') {}

/**
 * A checkpoint file is unreadable: truncated, bad header JSON, offsets out of range, a size or
 * checksum that disagrees with `config.json`. The message names the file.
 */
export class CheckpointCorruptError extends tagged('CheckpointCorruptError') {}

/**
 * A well-formed checkpoint that does not fit: another model kind, a missing or unexpected
 * tensor, a shape mismatch. The message names the file and the tensor.
 */
export class CheckpointMismatchError extends tagged('CheckpointMismatchError') {}

/**
 * A save was refused because a model weight is NaN or infinite: such a model scores every image
 * NaN, and writing it would replace the last good checkpoint. The message names the tensor.
 */
export class NonFiniteWeightsError extends tagged('NonFiniteWeightsError') {}
