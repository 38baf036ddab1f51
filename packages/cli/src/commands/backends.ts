import { BACKEND_NAMES, selectBackend } from '@hierglow/backend-wasm';
import type { Command } from '../command.js';

export const backendsCommand: Command = {
  name: 'backends',
  summary: 'list the TensorFlow.js backends and which of them work here',
  usage: 'hierglow backends',
  options: {},
  noBackend: true,
  async run(_args, io) {
    for (const name of BACKEND_NAMES) {
      try {
        const info = await selectBackend(name);
        const extra = [
          info.simd === null ? '' : `simd=${info.simd}`,
          info.threads === null ? '' : `threads=${info.threads}`,
          info.xnnpackThreads === null ? '' : `xnnpack-threads=${info.xnnpackThreads}`,
          info.simdKernels === null
            ? ''
            : info.simdKernels
              ? `hierglow-kernels=on (${info.simdKernelsVariant})`
              : `hierglow-kernels=off (${info.simdKernelsFallbackReason})`,
        ]
          .filter(Boolean)
          .join(' ');
        io.out(
          `${name.padEnd(6)} available${name === 'wasm' ? ' (default)' : ''} ${extra}`.trimEnd(),
        );
      } catch (e) {
        io.out(`${name.padEnd(6)} unavailable: ${(e as Error).message}`);
      }
    }
    return 0;
  },
};
