import { CorruptDatasetError, DatasetNotFoundError } from '@hierglow/datasets';
import { describe, expect, it } from 'vitest';
import { datasetUsageError } from './data-source.js';

describe('dataset errors in the CLI', () => {
  it('phrase a missing catalogue dataset as the commands to run, not library calls', () => {
    const e = new DatasetNotFoundError('fashion-mnist (test) is not on this machine', {
      remedy: {
        kind: 'download',
        dataset: 'fashion-mnist',
        split: 'test',
        debianPackages: ['dataset-fashion-mnist'],
        npmPackages: [],
      },
    });
    expect(e.message).toMatch(/download\('fashion-mnist', \{ cacheDir \}\)/);
    expect(
      datasetUsageError({ flag: 'data', source: 'fashion-mnist', split: 'test' }, e).message,
    ).toBe(
      "--data: fashion-mnist (test) is not on this machine; run 'hierglow data download fashion-mnist' or 'apt install dataset-fashion-mnist'",
    );
  });

  it('name the split flag of the dataset flag, or SOURCE@SPLIT where there is none', () => {
    const e = new DatasetNotFoundError('dir: no train.hgds here (found test.hgds)', {
      remedy: { kind: 'other-split', split: 'train', available: ['test'] },
    });
    expect(
      datasetUsageError({ flag: 'eval-data', source: 'dir', split: 'train' }, e).message,
    ).toMatch(/only the split 'test': use --eval-split test$/);
    expect(datasetUsageError({ flag: 'ood', source: 'dir', split: 'train' }, e).message).toMatch(
      /use dir@test$/,
    );
  });

  it('keep messages without a remedy as they are', () => {
    const e = new CorruptDatasetError('x.bin: truncated');
    expect(datasetUsageError({ flag: '', source: 'x.bin', split: 'test' }, e).message).toBe(
      'x.bin: truncated',
    );
  });
});
