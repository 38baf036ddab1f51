import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initialTrainingState } from '@hierglow/glow';
import { afterAll, describe, expect, it } from 'vitest';
import { TrainingHistory } from './history.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function step(stepNo: number, epoch: number) {
  return {
    type: 'step' as const,
    step: stepNo,
    epoch,
    batchInEpoch: 1,
    loss: 100 + stepNo,
    nll: 100 + stepNo,
    bitsPerDim: 3 + stepNo / 10,
    extraLosses: { outlier: stepNo },
    examples: 4,
    dropped: 0,
    skipped: false,
    learningRate: 5e-4,
    imagesPerSecond: 10,
    etaSeconds: null,
  };
}

describe('TrainingHistory', () => {
  it('cuts a saved history back to the checkpoint it resumes from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hierglow-history-'));
    dirs.push(dir);
    const path = join(dir, 'history.json');
    const h = await TrainingHistory.open(path);
    h.record({ type: 'evaluation', epoch: -1, step: 0, metrics: { evalBpd: 5 } });
    for (let s = 1; s <= 4; s++) h.record(step(s, s <= 2 ? 0 : 1));
    h.record({
      type: 'epoch',
      epoch: 0,
      step: 2,
      meanLoss: 101.5,
      meanBitsPerDim: 3.15,
      seconds: 1,
    });
    h.record({ type: 'evaluation', epoch: 0, step: 2, metrics: { evalBpd: 4 } });
    await h.save();

    const state = { ...initialTrainingState(1), step: 3, epoch: 1, batchInEpoch: 1 };
    const resumed = await TrainingHistory.open(path, state);
    expect(resumed.data.steps.step).toEqual([1, 2, 3]);
    expect(resumed.data.steps.extra.outlier).toEqual([1, 2, 3]);
    expect(resumed.data.epochs.map((e) => e.epoch)).toEqual([0]);
    expect(resumed.data.evaluations.map((e) => e.epoch)).toEqual([-1, 0]);

    // Resuming from the end of epoch 0 (before its evaluation was saved) drops epoch 0's entries.
    const atEpochStart = { ...initialTrainingState(1), step: 2, epoch: 0, batchInEpoch: 2 };
    const early = await TrainingHistory.open(path, atEpochStart);
    expect(early.data.epochs).toEqual([]);
    expect(early.data.evaluations.map((e) => e.epoch)).toEqual([-1]);
  });
});
