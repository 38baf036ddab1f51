/**
 * `hierglow finetune --supervised` and the evaluation of its class-conditional model (spec 6.4),
 * end to end through the built binary on a few dozen tiny labelled images.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../test-support/run-cli.js';
import { writeSyntheticDataset } from '../test-support/synthetic-data.js';

let dir: string;
const CPU = ['--backend', 'cpu'];
const SMALL = ['--batch-size', '8', '--epochs', '1', '--eval-images', '16', ...CPU];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hierglow-supervised-'));
  // Labelled (two classes, alternating) smooth images, and uniform noise as outliers.
  await writeSyntheticDataset(join(dir, 'waves.hgds'), 'waves', 48, 16, 1);
  await writeSyntheticDataset(join(dir, 'waves-test.hgds'), 'waves', 24, 16, 2);
  await writeSyntheticDataset(join(dir, 'noise.hgds'), 'noise', 24, 16, 3);
  const general = await runCli(
    [
      'train',
      '--data',
      'waves.hgds',
      '--out',
      'general',
      ...['--size', '16', '--levels', '2', '--steps-per-level', '1', '--hidden', '8'],
      ...['--init-images', '16', '--eval-data', 'waves-test.hgds'],
      ...SMALL,
    ],
    dir,
  );
  expect(general.code, general.stderr).toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join('\n');
}

describe('hierglow finetune --supervised (built binary)', () => {
  it('fine-tunes a class-conditional model and evaluate reports its test accuracy', async () => {
    const finetune = await runCli(
      [
        'finetune',
        '--supervised',
        '--from',
        'general',
        '--data',
        'waves.hgds',
        '--outlier-data',
        'noise.hgds',
        '--out',
        'supervised',
        '--eval-data',
        'waves-test.hgds',
        ...SMALL,
      ],
      dir,
    );
    expect(finetune.code, lastLines(finetune.stderr)).toBe(0);
    const run = join(dir, 'supervised');
    const log = await readFile(join(run, 'log.txt'), 'utf8');
    expect(log).toMatch(/class-conditional heads for 2 classes/);
    expect(log).toMatch(/wrong-class loss λ=6000, T=1000.*plus the outlier loss on the mixture/);
    const history = JSON.parse(await readFile(join(run, 'history.json'), 'utf8'));
    expect(Object.keys(history.steps.extra).sort()).toEqual(['outlier', 'wrong-class']);
    expect(history.steps.extra['wrong-class'].every(Number.isFinite)).toBe(true);
    expect(history.steps.step).toEqual([1, 2, 3, 4, 5, 6]);
    // Each evaluation (before training, after the epoch) has the held-out accuracy as well.
    const accuracies = history.evaluations.map(
      (e: { metrics: Record<string, number> }) => e.metrics.evalAccuracy,
    );
    expect(accuracies).toHaveLength(2);
    for (const a of accuracies) expect(a * 16).toBeCloseTo(Math.round(a * 16), 9);
    expect(log).toMatch(/evaluation after epoch 1: evalBpd .*evalAccuracy \d\.\d{4}/);
    expect(finetune.stderr + finetune.stdout).toMatch(/eval accuracy \d+\.\d %; model in/);
    const config = JSON.parse(await readFile(join(run, 'final', 'config.json'), 'utf8'));
    expect(config.model).toMatchObject({ kind: 'glow', prior: 'class-conditional', numClasses: 2 });
    expect(config.training.supervised).toMatchObject({ weight: 6000, temperature: 1000 });

    const evaluate = await runCli(
      [
        'evaluate',
        '--model',
        'supervised',
        '--general',
        'general',
        '--in',
        'waves-test.hgds',
        '--ood',
        'noise.hgds',
        '--out',
        'eval',
        '--samples',
        '4',
        ...CPU,
      ],
      dir,
    );
    expect(evaluate.code, lastLines(evaluate.stderr)).toBe(0);
    expect(evaluate.stdout).toMatch(/\| AUROC % \| noise \|/);
    expect(evaluate.stdout).toMatch(/test accuracy \d+\.\d\d % \(24 images\)/);
    const metrics = JSON.parse(await readFile(join(dir, 'eval', 'metrics.json'), 'utf8'));
    expect(metrics.classification.count).toBe(24);
    expect(metrics.classification.accuracy).toBeGreaterThanOrEqual(0);
    expect(metrics.classification.accuracy).toBeLessThanOrEqual(1);
    expect(Object.keys(metrics.metrics)).toContain('ratio');
    expect(await readFile(join(dir, 'eval', 'summary.md'), 'utf8')).toMatch(/test accuracy/);
    const scores = await readFile(join(dir, 'eval', 'scores', 'waves-test.csv'), 'utf8');
    const [header, first] = scores.trim().split('\n');
    expect(header).toMatch(/^index,label,predicted_class,log_p,bpd,lp_0,lp_1,/);
    // The chain-rule per-scale terms of the mixture add up to its log p.
    const [, , predicted, logP, , lp0, lp1] = first!.split(',').map(Number);
    expect([0, 1]).toContain(predicted);
    expect(lp0! + lp1!).toBeCloseTo(logP!, 1);
    const html = await readFile(join(dir, 'eval', 'report.html'), 'utf8');
    expect(html).toMatch(/supervised: held-out accuracy/);
  });

  it('refuses supervised flags where they do not apply, in one line', async () => {
    const wrongCommand = await runCli(
      ['train', '--data', 'waves.hgds', '--out', 'x', '--supervised', ...CPU],
      dir,
    );
    expect(wrongCommand.code).toBe(2);
    expect(wrongCommand.stderr).toMatch(/train: Unknown option '--supervised'/);
    const noFlag = await runCli(
      [
        'finetune',
        '--from',
        'general',
        '--data',
        'waves.hgds',
        '--out',
        'y',
        '--wrong-class-weight',
        '10',
        ...CPU,
      ],
      dir,
    );
    expect(noFlag.code).toBe(2);
    expect(noFlag.stderr).toMatch(/--wrong-class-weight needs --supervised/);
  });
});
