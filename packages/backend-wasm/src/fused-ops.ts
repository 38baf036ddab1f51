import { type FusedOps, PLAIN_OPS } from '@hierglow/flow-layers';
import { fastPathsEnabled } from './fast-paths.js';
import { affineCouplingForward, affineCouplingInverseGrad } from './ops/affine-coupling.js';
import { concatChannelHalves, deinterleaveChannels, splitChannelHalves } from './ops/channels.js';
import { conv2d, conv2dBias } from './ops/conv2d.js';
import { luWeight } from './ops/lu-weight.js';
import { matMul, matMulBias } from './ops/matmul.js';
import { scaleColumns } from './ops/scale-columns.js';

/**
 * The op set this package installs into `@hierglow/flow-layers` (see `FusedOps` there): each op
 * one or two kernels with a hand-written gradient, on hierglow's SIMD kernels where they are
 * loaded. Active on wasm, and on cpu too, where its convolution gradients (forward
 * convolutions and products) beat the cpu backend's own filter gradient by orders of magnitude;
 * other backends (tfjs-node) get flow-layers' plain ops.
 *
 * `setFastPaths(false)` turns this set into the straightforward computation the tests compare
 * against: no fusion, every op on stock kernels, the coupling as flow-layers' plain op. The set
 * stays installed because on wasm even the straightforward convolution gradient needs it
 * (tfjs-backend-wasm has no `Conv2DBackpropFilter` kernel).
 */
export const WASM_FUSED_OPS: FusedOps = {
  activeOn: (backend) => backend === 'wasm' || backend === 'cpu',
  get fuse() {
    return fastPathsEnabled();
  },
  matMul,
  matMulBias,
  conv2d,
  conv2dBias,
  scaleColumns,
  luWeight,
  affineCoupling: (xb, h) =>
    fastPathsEnabled() ? affineCouplingForward(xb, h) : PLAIN_OPS.affineCoupling(xb, h),
  affineCouplingInverseGrad: (yb, h, dyb, dLogDet) =>
    fastPathsEnabled()
      ? affineCouplingInverseGrad(yb, h, dyb, dLogDet)
      : PLAIN_OPS.affineCouplingInverseGrad(yb, h, dyb, dLogDet),
  splitChannelHalves,
  concatChannelHalves,
  deinterleaveChannels,
};
