import { numberFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';

/**
 * Every default of the training flags in one place (the help text prints these). The model's
 * own defaults (levels, steps, hidden width, ...) are glow's `MODEL_DEFAULTS`, the optimizer's
 * `ADAMAX_DEFAULTS`.
 */
export const TRAINING_DEFAULTS = {
  epochs: 10,
  batchSize: 64,
  checkpointEvery: 200,
  evalImages: 1024,
  evalBatchSize: 256,
  /** Side of the square model input (spec 2.2: every set is 32×32). */
  size: 32,
  /** Images of the data-dependent initialisation (spec 3.6: 11 batches of 64). */
  initImages: 704,
  /** λ and T of the outlier and wrong-class losses (spec 6.3, 6.4). */
  lossWeight: 6000,
  lossTemperature: 1000,
} as const;

/**
 * λ of the outlier or wrong-class loss: a number > 0. A weight of 0 would switch the loss off
 * while still paying for it (and the losses reject it), so it is refused here, before the run
 * folder is written, with the way to switch the loss off.
 */
export function lossWeightFlag(
  values: Record<string, unknown>,
  name: string,
  toSwitchOff: string,
): number {
  const raw = values[name];
  const weight = numberFlag(values, name, TRAINING_DEFAULTS.lossWeight, { min: 0 });
  if (weight === 0) {
    throw new UsageError(
      `--${name} must be > 0, got '${raw}'; to train without this loss, ${toSwitchOff}`,
    );
  }
  return weight;
}

/** T of the outlier or wrong-class loss: a number > 0 (it divides the log-likelihood ratio). */
export function lossTemperatureFlag(values: Record<string, unknown>, name: string): number {
  const raw = values[name];
  const temperature = numberFlag(values, name, TRAINING_DEFAULTS.lossTemperature);
  if (!(temperature > 0)) throw new UsageError(`--${name} must be > 0, got '${raw}'`);
  return temperature;
}
