import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  CorruptDatasetError,
  DatasetNotFoundError,
  InvalidArgumentError,
  UnknownFormatError,
} from './errors.js';
import { writeHierglowDataset } from './formats/hierglow-format.js';
import { openDataset } from './open-dataset.js';
import { useTempDirs } from './test-support/temp-dir.js';
import { encodeIdx, gzip, randomBytes, randomLabels } from './test-support/writers.js';
import { inMemoryDataset } from './views.js';

const tempDir = useTempDirs();
const FASHION = '/usr/share/datasets/fashion-mnist';

describe('openDataset', () => {
  it.runIf(existsSync(FASHION))(
    'opens fashion-mnist by name from the Debian copy, with class names',
    async () => {
      const ds = await openDataset('Fashion_MNIST', { split: 'test', cacheDir: await tempDir() });
      expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([10000, 28, 28, 1]);
      expect(ds.classNames?.[9]).toBe('Ankle boot');
      expect(ds.provenance.details).toMatchObject({ catalogue: 'fashion-mnist', split: 'test' });
      await ds.close();
    },
  );

  it('explains how to get a catalogue dataset that is missing', async () => {
    const cacheDir = await tempDir();
    const err = await openDataset('cifar10', { cacheDir }).catch((e) => e);
    expect(DatasetNotFoundError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(
      /cifar10 \(train\) is not on this machine \(looked in .*cifar10\); run download\('cifar10'/,
    );
    await expect(openDataset('tiny-images')).rejects.toThrow(
      /withdrew 80 Million Tiny Images in 2020/,
    );
    await expect(openDataset('mnist', { split: 'extra' })).rejects.toSatisfy(
      InvalidArgumentError.isInstance,
    );
    await expect(openDataset('no-such-set')).rejects.toThrow(
      /'no-such-set' is neither a catalogue dataset/,
    );
  });

  it('detects IDX, hierglow, SVHN and image folders by path', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'train-images-idx3-ubyte.gz'),
      gzip(encodeIdx([3, 28, 28], randomBytes(3 * 784, 1))),
    );
    await writeFile(
      join(dir, 'train-labels-idx1-ubyte.gz'),
      gzip(encodeIdx([3], randomLabels(3, 10, 2))),
    );
    const byFolder = await openDataset(dir);
    expect([byFolder.count, byFolder.provenance.format, byFolder.labels?.length]).toEqual([
      3,
      'idx',
      3,
    ]);
    await byFolder.close();
    const byFile = await openDataset(join(dir, 'train-images-idx3-ubyte.gz'));
    expect(byFile.count).toBe(3);
    await byFile.close();

    const hg = join(dir, 'hg');
    await mkdir(hg);
    await writeHierglowDataset(
      join(hg, 'validation.hgds'),
      inMemoryDataset({ pixels: randomBytes(8, 3), count: 2, height: 2, width: 2, channels: 1 }),
    );
    const v = await openDataset(hg, { split: 'validation' });
    expect(v.provenance.format).toBe('memory');
    await v.close();
    await expect(openDataset(hg)).rejects.toThrow(/no train\.hgds here \(found validation\.hgds\)/);

    const svhn = await openDataset(
      fileURLToPath(new URL('./fixtures/svhn-like-compressed.mat', import.meta.url)),
    );
    expect(svhn.provenance.format).toBe('svhn-mat');
    await svhn.close();

    const imgs = join(dir, 'imgs', 'train');
    await mkdir(imgs, { recursive: true });
    await sharp({ create: { width: 5, height: 4, channels: 3, background: 'blue' } })
      .png()
      .toFile(join(imgs, 'a.png'));
    const folder = await openDataset(join(dir, 'imgs'));
    expect([folder.count, folder.height, folder.width, folder.provenance.format]).toEqual([
      1,
      4,
      5,
      'image-folder',
    ]);
  });

  it('says "empty file" for a zero-byte file and "wrong magic number" for a misnamed one', async () => {
    const dir = await tempDir();
    for (const name of ['train-images-idx3-ubyte.gz', 'data.hgds', 'notes.bin']) {
      await writeFile(join(dir, name), '');
      const err = await openDataset(join(dir, name)).catch((e) => e);
      expect(CorruptDatasetError.isInstance(err), String(err)).toBe(true);
      expect(err.message).toMatch(
        new RegExp(`${name.replace(/\./g, '\\.')} is an empty file \\(0 bytes\\)`),
      );
    }
    const page = '<html><body>404 Not Found</body></html>';
    for (const [name, kind] of [
      ['train-images-idx3-ubyte.gz', '.gz'],
      ['t10k-images-idx3-ubyte', '-idx3-ubyte'],
      ['train.hgds', '.hgds'],
      ['train_32x32.mat', '.mat'],
    ] as const) {
      await writeFile(join(dir, name), page);
      const err = await openDataset(join(dir, name)).catch((e) => e);
      expect(CorruptDatasetError.isInstance(err), String(err)).toBe(true);
      expect(err.message).toContain(
        `${name}: wrong magic number (3c 68 74 6d) for a *${kind} file: `,
      );
    }
  });

  it('says what it supports when a path is not a dataset', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'notes.txt'), 'hello world, not images');
    const err = await openDataset(join(dir, 'notes.txt')).catch((e) => e);
    expect(UnknownFormatError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(
      /notes\.txt: unrecognised format; supported files are hierglow \.hgds, IDX/,
    );
    await expect(openDataset(dir)).rejects.toThrow(/no dataset recognised in this folder/);
    await expect(openDataset(join(dir, 'missing.bin'))).rejects.toThrow(
      /missing\.bin does not exist/,
    );
  });
});
