import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_DEFAULTS } from '@hierglow/glow';
import { afterAll, describe, expect, it } from 'vitest';
import type { CommandIO } from '../command.js';
import { UsageError } from '../util/errors.js';
import { TRAINING_DEFAULTS } from './defaults.js';
import { runTrainingFromFlags } from './run-training.js';
import { DEFAULT_RUN_SEED, modelConfigFor, resolveTrainingSettings } from './settings.js';

const train = (flags: Record<string, unknown>) =>
  resolveTrainingSettings('train', { data: 'fashion-mnist', out: 'runs/x', ...flags });
const finetune = (flags: Record<string, unknown>) =>
  resolveTrainingSettings('finetune', {
    data: 'fashion-mnist',
    out: 'runs/x',
    from: 'runs/general',
    ...flags,
  });

describe('--memory', () => {
  it('defaults to autodiff, takes reversible for train and finetune, and names the flag when wrong', () => {
    expect(train({}).memory).toBe('autodiff');
    expect(train({ memory: 'reversible' }).memory).toBe('reversible');
    expect(finetune({ memory: 'reversible' }).memory).toBe('reversible');
    expect(() => train({ memory: 'checkpoint' })).toThrow(/--memory/);
  });
});

describe('model flags become glow’s ModelConfig, checked once when the flags are read', () => {
  it('fills what the flags leave out from glow’s MODEL_DEFAULTS, and the channels from the data', () => {
    const { model, seed } = train({ size: '16', levels: '2', hidden: '8' });
    expect(seed).toBe(DEFAULT_RUN_SEED);
    expect(model!.config).toEqual({
      ...MODEL_DEFAULTS.glow,
      kind: 'glow',
      height: 16,
      width: 16,
      channels: 1,
      levels: 2,
      hidden: 8,
      seed: DEFAULT_RUN_SEED,
    });
    expect(model!.initImages).toBe(TRAINING_DEFAULTS.initImages);
    expect(modelConfigFor(model!, 3, 7)).toMatchObject({ channels: 3, seed: 7, hidden: 8 });
    const grey = train({ channels: '1' }).model!;
    expect(modelConfigFor(grey, 3, 7).channels).toBe(1);
  });

  it('takes each kind’s own defaults (patch-glow: steps and patch size)', () => {
    const { config } = train({ model: 'patch-glow', 'steps-per-level': '2' }).model!;
    expect(config).toMatchObject({
      kind: 'patch-glow',
      steps: 2,
      patchSize: MODEL_DEFAULTS['patch-glow'].patchSize,
    });
    expect(train({ model: 'dense-glow' }).model!.config).toMatchObject({
      stepsPerLevel: MODEL_DEFAULTS['dense-glow'].stepsPerLevel,
      permutation: 'fixed',
    });
  });

  it('rejects bad values in one line that names the flag', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ hidden: '0' }, /^train: --hidden must be at least 1, got 0$/],
      [{ hidden: 'wide' }, /^--hidden must be a number, got 'wide'$/],
      [{ 'steps-per-level': '2.5' }, /^train: --steps-per-level must be an integer, got 2.5$/],
      [{ coupling: 'spline' }, /^train: --coupling must be one of 'affine', 'additive'/],
      [{ size: '28' }, /multiples of 8, got 28x28/],
      [{ channels: '2' }, /^--channels must be 1 \(grey\) or 3 \(RGB\), got '2'$/],
      [{ model: 'patch-glow', levels: '2' }, /--levels does not apply to --model patch-glow/],
      [{ 'patch-size': '4' }, /--patch-size applies to --model patch-glow only/],
    ];
    for (const [flags, message] of cases) {
      expect(() => train(flags), JSON.stringify(flags)).toThrow(UsageError);
      expect(() => train(flags), JSON.stringify(flags)).toThrow(message);
    }
  });
});

describe('loss weights of 0 are refused before anything is written', () => {
  it('--outlier-weight 0 and --wrong-class-weight 0, with how to switch the loss off', () => {
    expect(() => finetune({ 'outlier-data': 'general', 'outlier-weight': '0' })).toThrow(
      /^--outlier-weight must be > 0, got '0'; to train without this loss, leave out --outlier-data$/,
    );
    expect(() => finetune({ supervised: true, 'wrong-class-weight': '0' })).toThrow(
      /^--wrong-class-weight must be > 0, got '0'; to train without this loss, leave out --supervised$/,
    );
    expect(() => finetune({ 'outlier-data': 'general', 'outlier-temperature': '0' })).toThrow(
      /^--outlier-temperature must be > 0, got '0'$/,
    );
    const ok = finetune({ 'outlier-data': 'general', 'outlier-weight': '0.5' });
    expect(ok.outlier).toMatchObject({
      weight: 0.5,
      temperature: TRAINING_DEFAULTS.lossTemperature,
    });
  });

  const dir = mkdtemp(join(tmpdir(), 'hierglow-settings-'));
  afterAll(async () => rm(await dir, { recursive: true, force: true }));

  it('hierglow finetune --outlier-weight 0 leaves no run folder (no config.json)', async () => {
    const out = join(await dir, 'run');
    const io: CommandIO = { out: () => {}, err: () => {}, signal: new AbortController().signal };
    await expect(
      runTrainingFromFlags(
        'finetune',
        {
          from: 'runs/general',
          data: 'fashion-mnist',
          out,
          'outlier-data': 'general',
          'outlier-weight': '0',
        },
        io,
      ),
    ).rejects.toThrow(/--outlier-weight must be > 0/);
    expect(existsSync(out)).toBe(false);
  });
});
