/**
 * Where a training run stands: everything besides the weights and the optimizer state that
 * resuming needs to continue the run identically. Stored as `training-state.json` in a
 * checkpoint.
 */
export interface TrainingState {
  /** Training steps taken so far (batches processed, skipped non-finite steps included). */
  step: number;
  /** The epoch to continue in (0-based). */
  epoch: number;
  /** Batches of `epoch` already consumed: the data-order position to resume from. */
  batchInEpoch: number;
  /** The run's seed; each epoch's data order and noise derive from it (see the trainer). */
  seed: number;
  /** Batches drawn from the auxiliary stream so far (fine-tuning with extra losses). */
  auxiliaryBatches: number;
  /** The auxiliary stream's current pass and the batches of it consumed (its resume position). */
  auxiliaryPass: number;
  auxiliaryBatchInPass: number;
  /** Steps skipped because a gradient was not finite. */
  skippedSteps: number;
  /** Whether the run has finished all its epochs. */
  finished: boolean;
}

/** The state of a run that has not started. */
export function initialTrainingState(seed: number): TrainingState {
  return {
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    seed,
    auxiliaryBatches: 0,
    auxiliaryPass: 0,
    auxiliaryBatchInPass: 0,
    skippedSteps: 0,
    finished: false,
  };
}

/**
 * Checks that `value` (parsed JSON) is a {@link TrainingState}; returns an error description or
 * null when it is one.
 */
export function trainingStateProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const v = value as Record<string, unknown>;
  for (const key of [
    'step',
    'epoch',
    'batchInEpoch',
    'auxiliaryBatches',
    'auxiliaryPass',
    'auxiliaryBatchInPass',
    'skippedSteps',
  ] as const) {
    if (!(Number.isInteger(v[key]) && (v[key] as number) >= 0)) {
      return `'${key}' must be an integer >= 0, got ${JSON.stringify(v[key])}`;
    }
  }
  if (!Number.isInteger(v.seed)) return `'seed' must be an integer, got ${JSON.stringify(v.seed)}`;
  if (typeof v.finished !== 'boolean') return `'finished' must be true or false`;
  return null;
}
