import { HierglowError } from '@hierglow/flow-layers';

/**
 * Training stopped because too many consecutive steps had a non-finite gradient (see
 * `TrainerOptions.maxConsecutiveSkippedSteps`): the run has diverged, and going on would only
 * skip more steps. The weights are those of the last good step (skipped steps change nothing).
 */
export class TrainingDivergedError extends HierglowError {
  override readonly _tag: string = 'TrainingDivergedError';
  static override isInstance(e: unknown): e is TrainingDivergedError {
    return (
      typeof e === 'object' &&
      e !== null &&
      (e as { _tag?: unknown })._tag === 'TrainingDivergedError'
    );
  }
}
