import { assignVariables, ConfigError, ShapeError } from '@hierglow/flow-layers';
import { checkNoTensorLeak, perturbVariables } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, expect, it } from 'vitest';
import { createModel } from './create-model.js';
import { Glow } from './glow.js';
import { modelAsBijector } from './model-bijector.js';
import {
  describeOnBackends,
  maxAbsDiff,
  noisyPixels,
  TINY_GLOW,
  values,
} from './test-support/fixtures.js';

const LOG_SIGMOID_2 = -Math.log1p(Math.exp(-2));

const owned: { dispose(): void }[] = [];
function own<T extends { dispose(): void }>(value: T): T {
  owned.push(value);
  return value;
}
afterEach(() => {
  for (const o of owned.splice(0)) o.dispose();
});

/** A tiny Glow, data-initialised on its own batch, then perturbed so no layer is trivial. */
function initialisedTinyGlow(
  overrides: Record<string, unknown> = {},
  seed = 1,
): { glow: Glow; x: tf.Tensor4D } {
  const glow = own(new Glow({ ...TINY_GLOW, ...overrides }));
  const x = own(noisyPixels(6, [8, 8, 1], seed));
  glow.initialize(x);
  perturbVariables(modelAsBijector(glow), seed + 7, 0.05);
  return { glow, x };
}

describeOnBackends('Glow per-scale decomposition', () => {
  it('Σ_k perScale_k equals logP within float32 rounding, and bitsPerDim follows spec 4', () => {
    const { glow, x } = initialisedTinyGlow();
    const { logP, perScale, bitsPerDim } = glow.logProb(x);
    try {
      expect(perScale).toHaveLength(2);
      const lp = values(logP);
      const parts = perScale.map(values);
      const bpd = values(bitsPerDim);
      lp.forEach((v, b) => {
        const sum = parts.reduce((acc, p) => acc + p[b]!, 0);
        // float32: a few ulps of |logP| ~ 1e2 (tiny model), far below any real error.
        expect(Math.abs(sum - v)).toBeLessThan(1e-4 * Math.max(1, Math.abs(v)));
        const d = glow.numDims;
        expect(bpd[b]).toBeCloseTo((-v + d * Math.log(256)) / (d * Math.LN2), 4);
        expect(Number.isFinite(v)).toBe(true);
      });
    } finally {
      tf.dispose([logP, bitsPerDim, ...perScale]);
    }
  });

  it('perScale_k is F_k + A_k + Z_k from logProbTerms', () => {
    const { glow, x } = initialisedTinyGlow({}, 3);
    tf.tidy(() => {
      const { perScale } = glow.logProb(x);
      const terms = glow.logProbTerms(x);
      perScale.forEach((lp, k) => {
        const sum = tf.addN([
          terms.flowLogDets[k]!,
          terms.priorLogDets[k]!,
          terms.baseLogProbs[k]!,
        ]);
        expect(maxAbsDiff(lp, sum)).toBeLessThan(1e-3);
      });
      // Every term matters here: none is identically zero after init and perturbation.
      for (const t of [...terms.flowLogDets, ...terms.priorLogDets]) {
        expect(tf.max(tf.abs(t)).dataSync()[0]).toBeGreaterThan(1e-2);
      }
    });
  });

  it('the last scale term equals the log-density a one-scale Glow with its weights gives to h_{L-1} (spec 11)', () => {
    const { glow, x } = initialisedTinyGlow({}, 5);
    const terms = glow.forwardScales(x, { keepLevelInputs: true });
    const hLast = terms.levelInputs![1]!;
    // h_1 of a 1x8x8 input: 4x4 with 2 channels.
    expect(hLast.shape).toEqual([6, 4, 4, 2]);
    const sub = own(
      new Glow({
        height: 4,
        width: 4,
        channels: 2,
        levels: 1,
        stepsPerLevel: 2,
        hidden: 8,
        seed: 99,
      }),
    );
    const lastScale = Object.fromEntries(
      Object.entries(glow.variables())
        .filter(([name]) => name.startsWith('levels.1.'))
        .map(([name, v]) => [name.replace(/^levels\.1\./, 'levels.0.'), v as tf.Tensor]),
    );
    assignVariables(sub.variables(), lastScale, 'the last scale of the 2-scale Glow');
    const full = glow.logProb(x);
    const alone = sub.logProb(hLast);
    try {
      const lpLast = values(full.perScale[1]!);
      const direct = values(alone.logP);
      lpLast.forEach((v, b) => {
        expect(Math.abs(v - direct[b]!)).toBeLessThan(1e-4 * Math.abs(v) + 1e-4);
      });
      // And log p(x) = lp_0 + log p(h_1).
      const lp0 = values(full.perScale[0]!);
      values(full.logP).forEach((v, b) => {
        expect(Math.abs(v - (lp0[b]! + direct[b]!))).toBeLessThan(1e-4 * Math.abs(v) + 1e-4);
      });
    } finally {
      tf.dispose([
        full.logP,
        full.bitsPerDim,
        ...full.perScale,
        alone.logP,
        alone.bitsPerDim,
        ...alone.perScale,
      ]);
      tf.dispose([
        ...terms.latents,
        ...terms.flowLogDets,
        ...terms.priorLogDets,
        ...terms.levelInputs!,
      ]);
    }
  });

  it('decode(encode(x)) = x, and the log-dets of the two directions cancel', () => {
    const { glow, x } = initialisedTinyGlow({}, 9);
    tf.tidy(() => {
      const { latents, logDet } = glow.encodeWithLogDet(x);
      expect(latents.map((u) => u.shape)).toEqual([
        [6, 4, 4, 2],
        [6, 2, 2, 8],
      ]);
      const back = glow.decodeWithLogDet(latents);
      expect(maxAbsDiff(back.x, x)).toBeLessThan(1e-4);
      expect(maxAbsDiff(tf.add(back.logDet, logDet), tf.zerosLike(logDet))).toBeLessThan(1e-3);
    });
  });

  it('data init normalises each scale prior: the init batch encodes to per-dimension mean 0, std 1', () => {
    const glow = own(new Glow(TINY_GLOW));
    const x = own(noisyPixels(16, [8, 8, 1], 11));
    glow.initialize(x);
    tf.tidy(() => {
      for (const u of glow.encode(x)) {
        const rows = tf.reshape(u, [16, -1]);
        const { mean, variance } = tf.moments(rows, 0);
        const unbiasedStd = tf.sqrt(tf.mul(variance, 16 / 15));
        expect(tf.max(tf.abs(mean)).dataSync()[0]).toBeLessThan(1e-4);
        expect(maxAbsDiff(unbiasedStd, tf.onesLike(unbiasedStd))).toBeLessThan(1e-3);
      }
      const bpd = values(glow.logProb(x).bitsPerDim);
      for (const v of bpd) expect(Number.isFinite(v)).toBe(true);
    });
  });

  it('does not leak tensors in logProb, encode/decode, sample or a gradient step', () => {
    const { glow, x } = initialisedTinyGlow({}, 13);
    checkNoTensorLeak(
      () => {
        const r = glow.logProb(x);
        tf.dispose([r.logP, r.bitsPerDim, ...r.perScale]);
        const latents = glow.encode(x);
        tf.dispose([glow.decode(latents), ...latents]);
        tf.dispose(glow.sample(2, { seed: 1 }));
        const { value, grads } = tf.variableGrads(
          () => tf.mean(glow.logProb(x).bitsPerDim) as tf.Scalar,
          glow.trainableVariables(),
        );
        tf.dispose([value, ...Object.values(grads)]);
      },
      { label: 'Glow' },
    );
  });
});

describeOnBackends('Glow sampling', () => {
  it('returns [n, H, W, C]; the same seed repeats, another seed differs', () => {
    const { glow } = initialisedTinyGlow({}, 15);
    tf.tidy(() => {
      const a = glow.sample(3, { seed: 4 });
      expect(a.shape).toEqual([3, 8, 8, 1]);
      expect(maxAbsDiff(a, glow.sample(3, { seed: 4 }))).toBe(0);
      expect(maxAbsDiff(a, glow.sample(3, { seed: 5 }))).toBeGreaterThan(1e-3);
    });
  });

  it('temperature scales the latents: 0 gives the decoded zero latent, T gives latents of std T', () => {
    const { glow } = initialisedTinyGlow({}, 17);
    tf.tidy(() => {
      const cold = glow.sample(2, { temperature: 0, seed: 1 });
      const zeros = glow.decode(glow.latentShapes.map((s) => tf.zeros([2, ...s])));
      expect(maxAbsDiff(cold, zeros)).toBeLessThan(1e-5);
      for (const temperature of [0.5, 1]) {
        const latents = glow.encode(glow.sample(32, { temperature, seed: 2 }));
        const all = tf.concat(latents.map((u) => tf.reshape(u, [-1])));
        const std = Math.sqrt(tf.moments(all).variance.dataSync()[0]!);
        // 2048 draws: the std estimate is within ~2% of the truth; allow 8%.
        expect(Math.abs(std / temperature - 1)).toBeLessThan(0.08);
      }
    });
  });

  it('rejects a bad sample count or temperature', () => {
    const glow = own(new Glow(TINY_GLOW));
    expect(() => glow.sample(0)).toThrow(ConfigError);
    expect(() => glow.sample(2, { temperature: -1 })).toThrow(/temperature/);
  });
});

describeOnBackends('Glow at the paper shape 3x32x32 (K = 1, hidden 4)', () => {
  it('latent shapes follow spec 3.1 and coupling log-dets at init are −194.96, −97.48, −48.74', () => {
    const glow = own(new Glow({ height: 32, width: 32, channels: 3, stepsPerLevel: 1, hidden: 4 }));
    expect(glow.latentShapes).toEqual([
      [16, 16, 6],
      [8, 8, 12],
      [4, 4, 48],
    ]);
    const x = own(noisyPixels(2, [32, 32, 3], 19));
    const check = () => {
      const terms = glow.forwardScales(x, { keepLayerLogDets: true });
      try {
        const byName = Object.fromEntries(
          terms.layerLogDets!.map((l) => [l.name, values(l.logDet)]),
        );
        const expected = [-194.96, -97.48, -48.74];
        expected.forEach((value, k) => {
          expect(value).toBeCloseTo(((6 * 2 ** k * 256) / 4 ** k) * LOG_SIGMOID_2, 1);
          for (const v of byName[`levels.${k}.steps.0.coupling`]!) expect(v).toBeCloseTo(value, 1);
          // The LU 1x1 conv starts orthogonal: log-det 0.
          for (const v of byName[`levels.${k}.steps.0.permute`]!)
            expect(Math.abs(v)).toBeLessThan(1e-4);
        });
      } finally {
        tf.dispose([
          ...terms.latents,
          ...terms.flowLogDets,
          ...terms.priorLogDets,
          ...terms.layerLogDets!.map((l) => l.logDet),
        ]);
      }
    };
    check();
    // The coupling nets' zero output layer survives data init, so the values hold after it.
    glow.initialize(x);
    check();
  });
}, ['cpu']);

describeOnBackends('Glow variables and config', () => {
  it('names variables hierarchically, with the fixed 1x1-conv buffers non-trainable', () => {
    const glow = own(new Glow(TINY_GLOW));
    const vars = glow.variables();
    const names = Object.keys(vars);
    expect(names).toContain('levels.0.steps.0.actnorm.loc');
    expect(names).toContain('levels.0.steps.1.permute.lower');
    expect(names).toContain('levels.1.steps.1.coupling.net.conv3.logs');
    expect(vars['levels.0.prior.loc']!.shape).toEqual([32]);
    expect(vars['levels.1.prior.logs']!.shape).toEqual([32]);
    expect(vars['levels.0.steps.0.permute.p']!.trainable).toBe(false);
    expect(vars['levels.0.steps.0.permute.signS']!.trainable).toBe(false);
    // 2 scales x 2 steps x (2 actnorm + 5 conv + 9 coupling net) + 2 x 2 prior.
    expect(names).toHaveLength(2 * 2 * 16 + 4);
    expect(glow.trainableVariables()).toHaveLength(2 * 2 * 14 + 4);
    // The same seed builds the same weights; names are stable across builds.
    const again = own(new Glow(TINY_GLOW));
    expect(Object.keys(again.variables())).toEqual(names);
    expect(
      maxAbsDiff(
        again.variables()['levels.1.steps.0.coupling.net.conv1.weight']!,
        vars['levels.1.steps.0.coupling.net.conv1.weight']!,
      ),
    ).toBe(0);
  });

  it('has about 44.1 M trainable parameters at the paper configuration (3x32x32, spec 3.4)', () => {
    const glow = own(new Glow({ height: 32, width: 32, channels: 3 }));
    const trainable = glow.trainableVariables().reduce((n, v) => n + v.size, 0);
    // Per step on C channels (hidden h = 512): ActNorm 2C; LU factors L and U in full + logS;
    // coupling net conv3x3 (C/2 → h), ActNorm 2h, conv1x1 h², ActNorm 2h, zero conv3x3
    // (h → C) with bias and logs. Priors: loc and logs per factored-out dimension.
    const h = 512;
    const perStep = (c: number) =>
      2 * c + (2 * c * c + c) + 9 * (c / 2) * h + 2 * h + h * h + 2 * h + 9 * h * c + 2 * c;
    const expected = 32 * (perStep(12) + perStep(24) + perStep(48)) + 2 * (1536 + 768 + 768);
    expect(trainable).toBe(expected);
    expect(trainable).toBeGreaterThan(44.0e6);
    expect(trainable).toBeLessThan(44.2e6);
  });

  it('resolves the paper defaults and round-trips getConfig', () => {
    const glow = own(new Glow({ height: 16, width: 16, channels: 1, stepsPerLevel: 1, hidden: 4 }));
    expect(glow.getConfig()).toEqual({
      kind: 'glow',
      height: 16,
      width: 16,
      channels: 1,
      levels: 3,
      stepsPerLevel: 1,
      hidden: 4,
      coupling: 'affine',
      permutation: 'lu',
      prior: 'per-dimension',
      seed: 20200610,
    });
    expect(glow.numDims).toBe(256);
    const copy = own(new Glow(JSON.parse(JSON.stringify(glow.getConfig()))));
    expect(copy.getConfig()).toEqual(glow.getConfig());
  });

  it('rejects bad configs and bad inputs with messages that say what to change', () => {
    expect(() => new Glow({ height: 28, width: 28, channels: 1 })).toThrow(/multiples of 8/);
    expect(() => new Glow({ ...TINY_GLOW, stepsPerLevle: 2 } as never)).toThrow(
      /unknown field 'stepsPerLevle'/,
    );
    expect(() => new Glow({ ...TINY_GLOW, coupling: 'spline' } as never)).toThrow(
      /'coupling' must be one of/,
    );
    expect(() => new Glow({ ...TINY_GLOW, hidden: 0 })).toThrow(ConfigError);
    expect(() => new Glow({ ...TINY_GLOW, kind: 'dense-glow' } as never)).toThrow(/createModel/);
    // Documented bounds (MODEL_CONFIG_LIMITS), checked before anything is allocated.
    expect(() => new Glow({ ...TINY_GLOW, stepsPerLevel: 1e6 })).toThrow(
      /'stepsPerLevel' is 1000000, more than the limit of 256/,
    );
    expect(() => new Glow({ ...TINY_GLOW, hidden: 1e9 })).toThrow(
      /'hidden' is 1000000000, more than the limit of 4096/,
    );
    expect(() => new Glow({ ...TINY_GLOW, levels: 20 })).toThrow(/'levels' is 20, more than/);
    expect(() => new Glow({ ...TINY_GLOW, stepsPerLevel: 200, hidden: 4096 })).toThrow(
      /hidden-layer weights, more than the limit/,
    );
    expect(() =>
      createModel({ kind: 'patch-glow', height: 8, width: 8, channels: 1, steps: 300 }),
    ).toThrow(/'steps' is 300, more than the limit of 256/);
    const glow = own(new Glow(TINY_GLOW));
    const wrong = own(tf.zeros([2, 8, 8, 3]));
    expect(() => glow.logProb(wrong)).toThrow(ShapeError);
    expect(() => glow.logProb(wrong)).toThrow(/\[batch, 8, 8, 1\]/);
    const one = own(tf.zeros([1, 8, 8, 1]));
    expect(() => glow.initialize(one)).toThrow(/at least 2 images/);
    expect(() => glow.decode([one as tf.Tensor4D])).toThrow(/one NHWC latent per scale/);
  });
}, ['cpu']);
