/**
 * End-to-end tests of the reproduction's scores through the built binary: Ren et al.'s
 * background model (`train --perturb`, `evaluate --background`), the real MNIST digits as an OOD
 * set (`--ood mnist`), bootstrap intervals in metrics.json, and `--limit` as a seeded random
 * subset rather than the first images (MNIST's files are sorted by class).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './test-support/run-cli.js';
import { writeSyntheticDataset } from './test-support/synthetic-data.js';

let dir: string;
const TINY = ['--size', '16', '--levels', '2', '--steps-per-level', '1', '--hidden', '8'];
const RUN = ['--batch-size', '8', '--epochs', '1', '--init-images', '32', '--no-eval'];
const CPU = ['--backend', 'cpu'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hierglow-remedies-'));
  await writeSyntheticDataset(join(dir, 'waves.hgds'), 'waves', 64, 16, 1);
  await writeSyntheticDataset(join(dir, 'waves-test.hgds'), 'waves', 40, 16, 2);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the paper baselines through the CLI', () => {
  it('trains a background model on perturbed data and reports its ratio with bootstrap intervals', async () => {
    const model = await runCli(
      ['train', '--data', 'waves.hgds', '--out', 'm', ...TINY, ...RUN, ...CPU],
      dir,
    );
    expect(model.code, model.stderr).toBe(0);
    const bg = await runCli(
      ['train', '--data', 'waves.hgds', '--out', 'bg', '--perturb', '0.3', ...TINY, ...RUN, ...CPU],
      dir,
    );
    expect(bg.code, bg.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'bg', 'config.json'), 'utf8')).flags.perturb).toBe(
      '0.3',
    );

    const ev = await runCli(
      [
        'evaluate',
        '--model',
        'm',
        '--background',
        'bg',
        '--in',
        'waves-test.hgds',
        '--ood',
        'mnist',
        '--limit',
        '30',
        '--out',
        'eval',
        '--samples',
        '0',
        ...CPU,
      ],
      dir,
    );
    expect(ev.code, ev.stderr).toBe(0);
    const metrics = JSON.parse(await readFile(join(dir, 'eval', 'metrics.json'), 'utf8'));
    expect(metrics.background).toMatch(/bg/);
    expect(Object.keys(metrics.metrics)).toContain('background-ratio');
    expect(metrics.ood[0]).toMatchObject({ name: 'mnist', count: 30 });
    for (const perSet of Object.values(metrics.metrics) as Record<
      string,
      { auroc: number; auroc_ci95: number[] }
    >[]) {
      const m = perSet.mnist!;
      expect(m.auroc_ci95[0]).toBeLessThanOrEqual(m.auroc + 1e-12);
      expect(m.auroc_ci95[1]).toBeGreaterThanOrEqual(m.auroc - 1e-12);
    }
    const summary = await readFile(join(dir, 'eval', 'summary.md'), 'utf8');
    expect(summary).toMatch(/## AUROC 95 % bootstrap intervals/);
    // The 30 digits are a random subset: the first 30 of the class-sorted files would all be 0s.
    const csv = (await readFile(join(dir, 'eval', 'scores', 'mnist.csv'), 'utf8'))
      .trim()
      .split('\n');
    const header = csv[0]!.split(',');
    expect(header).toContain('background_ratio');
    const labelColumn = header.indexOf('label');
    const labels = new Set(csv.slice(1).map((row) => row.split(',')[labelColumn]));
    expect(labels.size).toBeGreaterThan(5);

    const compare = await runCli(['compare', 'a=eval', 'b=eval/metrics.json'], dir);
    expect(compare.code, compare.stderr).toBe(0);
    expect(compare.stdout).toMatch(/\| a \| background-ratio \|/);
    expect(compare.stdout).toMatch(/## AUROC 95 % bootstrap intervals/);
    const missing = await runCli(['compare', 'a=nowhere'], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nowhere\/metrics\.json does not exist/);
  });
});
