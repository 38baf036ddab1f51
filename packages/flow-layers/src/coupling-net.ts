import type * as tf from '@tensorflow/tfjs-core';
import type { NamedVariables } from './bijector.js';
import { ConfigError } from './errors.js';

/** JSON-serialisable description of a coupling network: `type` picks the class in the registry. */
export interface CouplingNetConfig {
  type: string;
  [key: string]: unknown;
}

/**
 * The network inside a coupling layer: maps the conditioning half `x_a` (last axis
 * `inChannels`) to the coefficients for the other half (last axis `outChannels`), keeping every
 * other axis. It need not be invertible. Implement this to plug your own network into
 * {@link AffineCoupling} or {@link AdditiveCoupling}, and call {@link registerCouplingNet} so
 * configs that name it can be rebuilt.
 *
 * A network must start from a fixed seed or from its config alone, so that
 * `couplingNetFromConfig(net.getConfig())` builds an equivalent (freshly initialised) network.
 */
export interface CouplingNet {
  /** Registry key used by {@link couplingNetFromConfig}. */
  readonly type: string;
  /** Size of the input's last axis (channels of NHWC images, features of vectors). */
  readonly inChannels: number;
  /** Size of the output's last axis. */
  readonly outChannels: number;
  /** Runs the network. The caller owns the result; intermediates must not leak. */
  apply(x: tf.Tensor): tf.Tensor;
  /** All variables by local, dot-separated name, trainable or not. */
  variables(): NamedVariables;
  getConfig(): CouplingNetConfig;
  /** Disposes every tensor and variable the network owns. */
  dispose(): void;
}

type Factory = (config: CouplingNetConfig) => CouplingNet;
const registry = new Map<string, Factory>();

/** Registers a coupling-network type so {@link couplingNetFromConfig} can rebuild it. */
export function registerCouplingNet(type: string, factory: Factory): void {
  registry.set(type, factory);
}

/** Rebuilds a coupling network (fresh variables) from its {@link CouplingNet.getConfig} output. */
export function couplingNetFromConfig(config: CouplingNetConfig): CouplingNet {
  const factory = registry.get(config.type);
  if (!factory) {
    throw new ConfigError(
      `Unknown coupling network type '${config.type}'. Known: ${[...registry.keys()].sort().join(', ')}. ` +
        'Register your own with registerCouplingNet(type, factory).',
    );
  }
  return factory(config);
}
