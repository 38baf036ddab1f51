/**
 * `@hierglow/flow-layers/testing`: checks that any bijector should pass, usable from any test
 * runner or plain `node`. Every check throws a descriptive `Error` on failure.
 *
 * @example
 * import { bijectorBattery } from '@hierglow/flow-layers/testing';
 * for (const c of bijectorBattery('MyFlow', () => new MyFlow(), [2, 4, 4, 2])) it(c.name, c.run);
 */
export {
  type BatteryCase,
  type BatteryCheck,
  type BatteryOptions,
  bijectorBattery,
} from './battery.js';
export {
  AUTODIFF_MAX_DIMENSION,
  checkBadInputRejected,
  checkBijectorNoTensorLeak,
  checkConfigRoundTrip,
  checkFinite,
  checkGradients,
  checkInverse,
  checkJacobianLogDet,
  checkMethodsAgree,
  checkNoTensorLeak,
  checkShapes,
  type JacobianMethod,
  type JacobianOptions,
  type Tolerance,
} from './checks.js';
export { relativeError } from './compare.js';
export { perturbVariables, seededNormal, seededUniform } from './inputs.js';
