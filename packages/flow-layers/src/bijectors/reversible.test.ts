import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Bijector } from '../bijector.js';
import type { CouplingNet } from '../coupling-net.js';
import { ConvCouplingNet } from '../nets/conv-coupling-net.js';
import { DenseCouplingNet } from '../nets/dense-coupling-net.js';
import { PLAIN_OPS } from '../ops/plain-ops.js';
import { perturbVariables, seededNormal } from '../testing/index.js';
import { selectBackend, withFusion } from '../testing/test-support/on-backends.js';
import { ActNorm } from './act-norm.js';
import { Chain, forwardSequence } from './chain.js';
import { AdditiveCoupling, AffineCoupling } from './coupling.js';
import { InvConv1x1 } from './inv-conv-1x1.js';
import { Reverse, Shuffle } from './permutation.js';
import { Reshape } from './reshape.js';
import { backwardSequence, reversibleVariableGrads, type VariableGradients } from './reversible.js';
import { reversibleBackwardOf } from './reversible-step.js';
import { Squeeze } from './squeeze.js';

/** Squeeze, then `steps` Glow steps (ActNorm → LU 1x1 conv → affine coupling), moved off init. */
function glowChain(steps: number, seed: number): Chain {
  const layers = [new Squeeze({ factor: 2 }) as Squeeze | ActNorm | InvConv1x1 | AffineCoupling];
  for (let s = 0; s < steps; s++) {
    layers.push(new ActNorm({ shape: [4] }));
    layers.push(new InvConv1x1({ channels: 4, seed: seed + s, lu: true }));
    const net = new ConvCouplingNet({
      inChannels: 2,
      outChannels: 4,
      hidden: 6,
      seed: seed + 50 + s,
    });
    layers.push(new AffineCoupling({ channels: 4, net }));
  }
  const chain = new Chain(layers);
  // Zero-initialised last convolutions would make most gradients vanish: move every weight.
  perturbVariables(chain, seed + 99, 0.3);
  return chain;
}

/** A loss with a learned base: mean of −(log N(y; μ, 1) + logDet). */
function headLoss(mean: tf.Variable) {
  return (y: tf.Tensor, logDet: tf.Tensor1D) =>
    tf.tidy(() => {
      const rows = tf.reshape(tf.sub(y, mean), [y.shape[0]!, -1]);
      const logBase = tf.mul(tf.sum(tf.square(rows), 1), -0.5);
      return tf.neg(tf.mean(tf.add(logBase, logDet))) as tf.Scalar;
    });
}

function maxRelativeError(actual: VariableGradients, expected: VariableGradients): number {
  let worst = 0;
  for (const [name, g] of Object.entries(expected)) {
    const a = actual[name];
    expect(a, `gradient of ${name}`).toBeDefined();
    const err = tf.tidy(() => {
      const scale = tf.maximum(tf.max(tf.abs(g)), 1e-12);
      return tf.div(tf.max(tf.abs(tf.sub(a!, g))), scale).dataSync()[0]!;
    });
    worst = Math.max(worst, err);
  }
  return worst;
}

/** Wraps a net so that every evaluation is counted. */
function counted(net: CouplingNet): { net: CouplingNet; calls: () => number } {
  let calls = 0;
  const apply = net.apply.bind(net);
  net.apply = (x) => {
    calls += 1;
    return apply(x);
  };
  return { net, calls: () => calls };
}

/** Squeeze, then `steps` additive-coupling steps with dense nets on flattened pixels' channels. */
function additiveChain(steps: number, seed: number): Chain {
  const layers: Bijector[] = [new Squeeze({ factor: 2 })];
  for (let s = 0; s < steps; s++) {
    layers.push(new ActNorm({ shape: [4] }));
    layers.push(new Shuffle({ size: 4, seed: seed + s }));
    const net = new ConvCouplingNet({ inChannels: 2, outChannels: 2, hidden: 6, seed: seed + s });
    layers.push(new AdditiveCoupling({ channels: 4, net }));
  }
  const chain = new Chain(layers);
  perturbVariables(chain, seed + 99, 0.3);
  return chain;
}

/**
 * A flow without couplings: ActNorm and the 1x1 convs take the generic inverse → taped forward
 * step (fused into one unit where the ops fuse), the permutations their own.
 */
function couplingFreeChain(seed: number): Chain {
  const chain = new Chain([
    new Squeeze({ factor: 2 }),
    new ActNorm({ shape: [4] }),
    new InvConv1x1({ channels: 4, seed, lu: true }),
    new Reverse(),
    new ActNorm({ shape: [4] }),
    new InvConv1x1({ channels: 4, seed: seed + 1, lu: false }),
    new Shuffle({ size: 4, seed: seed + 2 }),
  ]);
  perturbVariables(chain, seed + 99, 0.3);
  return chain;
}

/** Compares reversibleVariableGrads with tf.variableGrads for `chain` and the learned-mean head. */
function expectAutodiffGradients(chain: Chain, seed: number): void {
  const mean = tf.variable(seededNormal([1, 2, 2, 4], seed, 0.1));
  const x = seededNormal([3, 4, 4, 1], seed + 1, 0.5);
  const loss = headLoss(mean);
  const reference = tf.variableGrads(() => {
    const { y, logDet } = chain.forwardAndLogDet(x);
    return loss(y, logDet);
  }, [...chain.trainableVariables(), mean]);
  const before = tf.memory().numTensors;
  const reversible = reversibleVariableGrads(chain, x, loss, [mean]);
  expect(tf.memory().numTensors - before).toBe(1 + Object.keys(reversible.grads).length);
  expect(Object.keys(reversible.grads).sort()).toEqual(Object.keys(reference.grads).sort());
  expect(maxRelativeError(reversible.grads, reference.grads)).toBeLessThan(1e-4);
  tf.dispose([reference.value, reversible.value, x, mean]);
  tf.dispose([...Object.values(reference.grads), ...Object.values(reversible.grads)]);
}

describe('reversible backprop', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  for (const fuse of [false, true]) {
    it(`gives autodiff's gradients for additive couplings (fusion ${fuse ? 'on' : 'off'})`, () => {
      withFusion(fuse, () => {
        const chain = additiveChain(3, 21);
        expectAutodiffGradients(chain, 23);
        chain.dispose();
      });
    });

    it(`gives autodiff's gradients for a Chain without couplings (fusion ${fuse ? 'on' : 'off'})`, () => {
      withFusion(fuse, () => {
        const chain = couplingFreeChain(31);
        // ActNorm and the 1x1 convs take the generic step; the permutations their own.
        expect(chain.bijectors.map((b) => reversibleBackwardOf(b) !== null)).toEqual([
          true,
          false,
          false,
          true,
          false,
          false,
          true,
        ]);
        expectAutodiffGradients(chain, 33);
        chain.dispose();
      });
    });
  }

  it('evaluates each coupling net once in the backward pass, where the generic step needs two', () => {
    for (const kind of ['affine', 'additive'] as const) {
      const nets = [0, 1, 2].map((s) => {
        const out = kind === 'affine' ? 4 : 2;
        return counted(
          new DenseCouplingNet({ inFeatures: 2, outFeatures: out, hidden: 5, seed: s }),
        );
      });
      const couplings = nets.map(({ net }) =>
        kind === 'affine'
          ? new AffineCoupling({ channels: 4, net })
          : new AdditiveCoupling({ channels: 4, net }),
      );
      const chain = new Chain([...couplings, new Reverse()]);
      perturbVariables(chain, 41, 0.3);
      const x = seededNormal([5, 4], 43, 0.5);
      const forward = forwardSequence(chain.bijectors, x);
      const callsBefore = nets.map((n) => n.calls());
      const dy = seededNormal([5, 4], 47, 1);
      const dLogDet = seededNormal([5], 49, 1) as tf.Tensor1D;
      const into: VariableGradients = {};
      const back = backwardSequence(
        chain.bijectors,
        forward.unitSizes,
        forward.y,
        dy,
        dLogDet,
        into,
      );
      expect(nets.map((n, i) => n.calls() - callsBefore[i]!)).toEqual([1, 1, 1]);
      // The recomputed input is the input, within float32 rounding.
      const roundTrip = tf.max(tf.abs(tf.sub(back.x, x))).dataSync()[0]!;
      expect(roundTrip).toBeLessThan(1e-5);
      tf.dispose([forward.y, forward.logDet, dy, dLogDet, back.x, back.dx ?? [], x]);
      tf.dispose(Object.values(into));
      chain.dispose();
    }
  });

  for (const kind of ['affine', 'additive'] as const) {
    it(`a ${kind} coupling's own step equals the taped vector-Jacobian product, with and without the input gradient`, () => {
      const half = 3;
      const net = new DenseCouplingNet({
        inFeatures: half,
        outFeatures: kind === 'affine' ? 2 * half : half,
        hidden: 7,
        seed: 5,
      });
      const coupling =
        kind === 'affine'
          ? new AffineCoupling({ channels: 2 * half, net })
          : new AdditiveCoupling({ channels: 2 * half, net });
      perturbVariables(coupling, 51, 0.5);
      const x = seededNormal([4, 2 * half], 53, 0.7);
      const dy = seededNormal([4, 2 * half], 55, 1);
      const dLogDet = seededNormal([4], 57, 1) as tf.Tensor1D;
      const variables = coupling.trainableVariables();
      const reference = tf.engine().gradients(
        () => {
          const { y, logDet } = coupling.forwardAndLogDet(x);
          return tf.add(tf.sum(tf.mul(y, dy)), tf.sum(tf.mul(logDet, dLogDet))) as tf.Scalar;
        },
        [x, ...variables],
        undefined,
        true,
      );
      const y = coupling.forward(x);
      for (const inputGradient of [true, false]) {
        const before = tf.memory().numTensors;
        const step = coupling.reversibleBackward(y, dy, dLogDet, inputGradient);
        expect(tf.memory().numTensors - before).toBe(
          1 + (inputGradient ? 1 : 0) + step.grads.length,
        );
        expect(tf.max(tf.abs(tf.sub(step.x, x))).dataSync()[0]).toBeLessThan(1e-5);
        if (inputGradient) {
          expect(maxRelativeError({ x: step.dx! }, { x: reference.grads[0]! })).toBeLessThan(1e-5);
        } else {
          expect(step.dx).toBeNull();
        }
        expect(step.grads.map((g) => g.variable.name).sort()).toEqual(
          variables.map((v) => v.name).sort(),
        );
        const own = Object.fromEntries(step.grads.map((g) => [g.variable.name, g.grad]));
        const taped = Object.fromEntries(
          variables.map((v, i) => [v.name, reference.grads[i + 1]!]),
        );
        expect(maxRelativeError(own, taped)).toBeLessThan(1e-5);
        tf.dispose([step.x, step.dx ?? [], ...step.grads.map((g) => g.grad)]);
      }
      tf.dispose([x, dy, dLogDet, y, reference.value, ...reference.grads.map((g) => g ?? [])]);
      coupling.dispose();
    });
  }

  it("the permutations' own steps (Squeeze, Reverse, Shuffle, Reshape) equal the taped vector-Jacobian product", () => {
    const cases: [Bijector, number[]][] = [
      [new Squeeze({ factor: 2 }), [2, 4, 6, 3]],
      [new Reverse(), [3, 5]],
      [new Shuffle({ size: 6, seed: 3 }), [2, 2, 2, 6]],
      [new Reshape({ from: [4, 6], to: [24] }), [2, 4, 6]],
    ];
    for (const [bijector, shape] of cases) {
      const x = seededNormal(shape, 71);
      const y = bijector.forward(x);
      const dy = seededNormal(y.shape, 73);
      const dLogDet = seededNormal([shape[0]!], 75) as tf.Tensor1D;
      const reference = tf.engine().gradients(() => {
        const out = bijector.forwardAndLogDet(x);
        return tf.add(tf.sum(tf.mul(out.y, dy)), tf.sum(tf.mul(out.logDet, dLogDet))) as tf.Scalar;
      }, [x]);
      const step = reversibleBackwardOf(bijector)!.reversibleBackward(y, dy, dLogDet, true);
      expect(step.grads).toEqual([]);
      expect(Array.from(step.x.dataSync()), bijector.type).toEqual(Array.from(x.dataSync()));
      expect(Array.from(step.dx!.dataSync()), bijector.type).toEqual(
        Array.from(reference.grads[0]!.dataSync()),
      );
      const noInput = reversibleBackwardOf(bijector)!.reversibleBackward(y, dy, dLogDet, false);
      expect(noInput.dx).toBeNull();
      tf.dispose([
        x,
        y,
        dy,
        dLogDet,
        step.x,
        step.dx!,
        noInput.x,
        reference.value,
        ...reference.grads,
      ]);
      bijector.dispose();
    }
  });

  it('takes a frozen coupling (no trainable variables, no input gradient wanted)', () => {
    const net = new DenseCouplingNet({ inFeatures: 2, outFeatures: 4, hidden: 5, seed: 9 });
    const coupling = new AffineCoupling({ channels: 4, net });
    perturbVariables(coupling, 81, 0.5);
    for (const v of coupling.trainableVariables()) v.trainable = false;
    const x = seededNormal([3, 4], 83, 0.5);
    const y = coupling.forward(x);
    const dy = seededNormal([3, 4], 85, 1);
    const dLogDet = seededNormal([3], 87, 1) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    const step = coupling.reversibleBackward(y, dy, dLogDet, false);
    expect(tf.memory().numTensors - before).toBe(1);
    expect(step.dx).toBeNull();
    expect(step.grads).toEqual([]);
    expect(tf.max(tf.abs(tf.sub(step.x, x))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, y, dy, dLogDet, step.x]);
    coupling.dispose();
  });

  it('the plain affineCouplingInverseGrad inverts affineCoupling and gives its taped gradient', () => {
    const xb = seededNormal([2, 3, 3, 4], 61, 1);
    const h = seededNormal([2, 3, 3, 8], 63, 1.5);
    const dyb = seededNormal([2, 3, 3, 4], 65, 1);
    const dLogDet = seededNormal([2], 67, 1) as tf.Tensor1D;
    const reference = tf.engine().gradients(() => {
      const { yb, logDet } = PLAIN_OPS.affineCoupling(xb, h);
      return tf.add(tf.sum(tf.mul(yb, dyb)), tf.sum(tf.mul(logDet, dLogDet))) as tf.Scalar;
    }, [xb, h]);
    const { yb } = PLAIN_OPS.affineCoupling(xb, h);
    const own = PLAIN_OPS.affineCouplingInverseGrad(yb, h, dyb, dLogDet);
    expect(maxRelativeError({ xb: own.xb }, { xb })).toBeLessThan(1e-5);
    expect(
      maxRelativeError(
        { dxb: own.dxb, dh: own.dh },
        {
          dxb: reference.grads[0]!,
          dh: reference.grads[1]!,
        },
      ),
    ).toBeLessThan(1e-5);
    tf.dispose([
      xb,
      h,
      dyb,
      dLogDet,
      yb,
      own.xb,
      own.dxb,
      own.dh,
      reference.value,
      ...reference.grads,
    ]);
  });

  for (const fuse of [false, true]) {
    it(`gives autodiff's gradients for a Chain (fusion ${fuse ? 'on' : 'off'})`, () => {
      withFusion(fuse, () => {
        const chain = glowChain(4, 3);
        const mean = tf.variable(seededNormal([1, 2, 2, 4], 5, 0.1));
        const x = seededNormal([3, 4, 4, 1], 7, 0.5);
        const loss = headLoss(mean);
        const reference = tf.variableGrads(() => {
          const { y, logDet } = chain.forwardAndLogDet(x);
          return loss(y, logDet);
        }, [...chain.trainableVariables(), mean]);
        const before = tf.memory().numTensors;
        const reversible = reversibleVariableGrads(chain, x, loss, [mean]);
        const created = tf.memory().numTensors - before;
        // Only the value and one gradient per variable stay alive.
        expect(created).toBe(1 + Object.keys(reversible.grads).length);
        expect(Object.keys(reversible.grads).sort()).toEqual(Object.keys(reference.grads).sort());
        expect(reversible.value.dataSync()[0]).toBeCloseTo(reference.value.dataSync()[0]!, 4);
        expect(maxRelativeError(reversible.grads, reference.grads)).toBeLessThan(1e-4);
        tf.dispose([reference.value, reversible.value, x, mean]);
        tf.dispose(Object.values(reference.grads));
        tf.dispose(Object.values(reversible.grads));
        chain.dispose();
      });
    });
  }

  it('detects a wrong gradient: a head that is not differentiated changes the result', () => {
    const chain = glowChain(2, 11);
    const x = seededNormal([2, 4, 4, 1], 13, 0.5);
    const full = reversibleVariableGrads(
      chain,
      x,
      (y, logDet) =>
        tf.neg(
          tf.mean(tf.add(tf.mul(tf.sum(tf.reshape(tf.square(y), [2, -1]), 1), -0.5), logDet)),
        ) as tf.Scalar,
    );
    const logDetOnly = reversibleVariableGrads(
      chain,
      x,
      (_y, logDet) => tf.neg(tf.mean(logDet)) as tf.Scalar,
    );
    expect(maxRelativeError(logDetOnly.grads, full.grads)).toBeGreaterThan(1e-2);
    tf.dispose([full.value, logDetOnly.value, x]);
    tf.dispose([...Object.values(full.grads), ...Object.values(logDetOnly.grads)]);
    chain.dispose();
  });
});
