import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

/**
 * Activates tfjs' pure-JS cpu backend for tests, without depending on @hierglow/flow-layers, and
 * silences its one-time "install tfjs-node" banner.
 */
export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}
