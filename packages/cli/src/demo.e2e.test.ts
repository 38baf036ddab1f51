/**
 * The README's main command, `hierglow demo`, on the committed checkpoints and bundled images:
 * it must print the AUROC table and write a report for each fine-tuned model, with no download.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from './test-support/run-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hierglow-demo-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('hierglow demo prints the AUROC table and writes the reports', async () => {
  const r = await runCli(['demo', '--out', 'out'], dir);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/AUROC \(%\)/);
  for (const model of ['fashion', 'fashion-outlier']) {
    for (const score of ['raw', 'final-scale', 'ratio']) {
      // e.g. "| fashion | ratio | 26.1 | 100.0 | ..."
      expect(r.stdout).toMatch(new RegExp(`\\| ${model} \\| ${score} \\|( [\\d.]+ \\|){5}`));
    }
    expect(existsSync(join(dir, 'out', model, 'report.html'))).toBe(true);
    const metrics = JSON.parse(await readFile(join(dir, 'out', model, 'metrics.json'), 'utf8'));
    const auroc = metrics.metrics.ratio.mnist.auroc;
    expect(auroc).toBeGreaterThanOrEqual(0);
    expect(auroc).toBeLessThanOrEqual(1);
  }
});
