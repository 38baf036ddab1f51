/**
 * Faults and hostile inputs, through the built binary: a full disk, read-only or virtual
 * folders, diverging training, non-finite and oversized checkpoints, and dataset paths that look
 * like dataset specs. Each must end in one clear line with a proper exit code, before long work
 * where the fault can be seen in advance, and never leave half the outputs.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '@hierglow/glow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError } from './test-support/expect-cli.js';
import { type CliResult, fullDiskUnder, runCli } from './test-support/run-cli.js';
import { writeSyntheticDataset } from './test-support/synthetic-data.js';

let dir: string;
const CPU = ['--backend', 'cpu'];
const TINY = [
  ...['--size', '16', '--levels', '2', '--steps-per-level', '1', '--hidden', '8'],
  ...['--batch-size', '8', '--init-images', '16', '--no-eval', ...CPU],
];

/** A one-line user error that does not call itself a bug. */
function expectUserError(r: CliResult, code: number, pattern: RegExp): void {
  expectOneLineError(r, code, pattern);
  expect(r.stderr).not.toMatch(/This is a bug/);
}

/** Mounts a tmpfs of `size` at `at` (read-only with `ro`); false where mounting is not allowed. */
function mountTmpfs(at: string, options: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', at], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const mounted: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hierglow-faults-'));
  await writeSyntheticDataset(join(dir, 'waves.hgds'), 'waves', 32, 16, 1);
  const trained = await runCli(
    ['train', '--data', 'waves.hgds', '--out', 'run', '--epochs', '1', ...TINY],
    dir,
  );
  expect(trained.code, trained.stderr).toBe(0);
});
afterAll(async () => {
  for (const m of mounted) execFileSync('umount', [m]);
  await rm(dir, { recursive: true, force: true });
});

describe('storage faults', () => {
  it('reports a full disk during training as one line naming the checkpoint, exit 74', async () => {
    const full = fullDiskUnder(join(dir, 'full-train'));
    const r = await runCli(
      ['train', '--data', 'waves.hgds', '--out', 'full-train', '--epochs', '1', ...TINY],
      dir,
      full.env,
      full.nodeArgs,
    );
    expectUserError(
      r,
      74,
      /^hierglow: cannot write .*full-train\/(checkpoint|config\.json|history\.json): no space left on the device \(ENOSPC\)$/,
    );
  });

  it('on a real tiny file system too, where it can be mounted', async (ctx) => {
    const at = join(dir, 'tiny-fs');
    await mkdir(at);
    if (!mountTmpfs(at, 'size=40k')) ctx.skip();
    mounted.push(at);
    const r = await runCli(
      ['train', '--data', 'waves.hgds', '--out', join(at, 'run'), '--epochs', '1', ...TINY],
      dir,
    );
    expectUserError(r, 74, /cannot write .*tiny-fs\/run\/.*no space left on the device/);
  });

  it('refuses a read-only or virtual --out at once, naming the folder, exit 73', async (ctx) => {
    const started = performance.now();
    const proc = await runCli(
      ['train', '--data', 'waves.hgds', '--out', '/proc/hierglow-test/run', ...TINY],
      dir,
    );
    expectUserError(proc, 73, /--out: cannot create the folder \/proc\/hierglow-test \(/);
    expect(performance.now() - started).toBeLessThan(30_000); // it used to spin forever
    const at = join(dir, 'ro-fs');
    await mkdir(at);
    if (!mountTmpfs(at, 'ro,size=16k')) ctx.skip();
    mounted.push(at);
    expectUserError(
      await runCli(['train', '--data', 'waves.hgds', '--out', join(at, 'run'), ...TINY], dir),
      73,
      /--out: cannot create the folder .*ro-fs\/run \(the file system is read-only, EROFS\)/,
    );
  });

  it('score and evaluate check the output folder before scoring anything', async () => {
    const score = await runCli(
      ['score', '--model', 'run', '--data', 'waves.hgds', '--out', '/proc/self/s.csv', ...CPU],
      dir,
    );
    expectUserError(score, 73, /--out: cannot write into \/proc\/self/);
    expect(score.stderr).not.toMatch(/score waves|images scored/);
    const evaluate = await runCli(
      [
        ...['evaluate', '--model', 'run', '--in', 'waves.hgds', '--ood', 'waves.hgds'],
        ...['--out', '/proc/self/eval', ...CPU],
      ],
      dir,
    );
    expectUserError(evaluate, 73, /--out: cannot create the folder \/proc\/self\/eval/);
    expect(evaluate.stderr).not.toMatch(/images scored/);
  });

  it('evaluate on a full disk writes none of its outputs', async () => {
    const out = join(dir, 'full-eval');
    const full = fullDiskUnder(out);
    const r = await runCli(
      [
        ...['evaluate', '--model', 'run', '--in', 'waves.hgds', '--ood', 'waves.hgds'],
        ...['--samples', '0', '--out', out, ...CPU],
      ],
      dir,
      full.env,
      full.nodeArgs,
    );
    expectUserError(r, 74, /cannot write .*full-eval\/.*: no space left on the device/);
    expect(r.stderr).toMatch(/images scored/); // it failed at the end, writing
    const left = (await readdir(out, { recursive: true })).filter((f) => !f.endsWith('log.txt'));
    expect(left.filter((f) => /\.(json|md|html|csv)$|tmp-/.test(f))).toEqual([]);
  });
});

describe('non-finite training and weights', () => {
  it('stops a diverging run with a clear message and leaves no non-finite weights', async () => {
    const r = await runCli(
      [
        ...['train', '--data', 'waves.hgds', '--out', 'diverged', '--epochs', '8'],
        ...['--lr', '1e3', '--max-skipped-steps', '5', ...TINY],
      ],
      dir,
    );
    expectUserError(
      r,
      1,
      /training diverged: steps \d+-\d+ \(5 in a row\) had a non-finite gradient .*Lower the learning rate \(now 1000\)/,
    );
    expect(existsSync(join(dir, 'diverged', 'final'))).toBe(false);
    // The checkpoint of the first epoch holds finite weights, but they score nothing: that is
    // an error, not a table of empty scores.
    expect(existsSync(join(dir, 'diverged', 'checkpoint'))).toBe(true);
    expectUserError(
      await runCli(['score', '--model', 'diverged', '--data', 'waves.hgds', ...CPU], dir),
      1,
      /waves: every one of the 32 images got a non-finite log p under the model; it cannot score this data/,
    );
  });

  it('refuses to score or evaluate with a checkpoint holding NaN weights, naming the tensor', async () => {
    await cp(join(dir, 'run', 'final'), join(dir, 'nan-ckpt'), { recursive: true });
    const modelPath = join(dir, 'nan-ckpt', 'model.safetensors');
    const file = decodeSafetensors(await readFile(modelPath));
    const [name, entry] = Object.entries(file.tensors).find(([, e]) => e.dtype === 'F32')!;
    (entry.data as Float32Array)[0] = Number.NaN;
    const bytes = encodeSafetensors(file.tensors, file.metadata);
    await writeFile(modelPath, bytes);
    const configPath = join(dir, 'nan-ckpt', 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    config.files['model.safetensors'] = {
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    await writeFile(configPath, JSON.stringify(config));
    const tensor = name.replace(/[.[\]]/g, '\\$&');
    const pattern = new RegExp(`--model: .*model\\.safetensors: tensor '${tensor}' holds NaN`);
    expectUserError(
      await runCli(['score', '--model', 'nan-ckpt', '--data', 'waves.hgds', ...CPU], dir),
      1,
      pattern,
    );
    expectUserError(
      await runCli(
        [
          ...['evaluate', '--model', 'nan-ckpt', '--in', 'waves.hgds', '--ood', 'waves.hgds'],
          ...['--out', 'nan-eval', ...CPU],
        ],
        dir,
      ),
      1,
      pattern,
    );
  });

  it('refuses a checkpoint config with out-of-bounds sizes before building the model', async () => {
    for (const [field, value] of [
      ['hidden', 1e9],
      ['stepsPerLevel', 1e6],
    ] as const) {
      const ckpt = join(dir, `huge-${field}`);
      await cp(join(dir, 'run', 'final'), ckpt, { recursive: true });
      const configPath = join(ckpt, 'config.json');
      const config = JSON.parse(await readFile(configPath, 'utf8'));
      config.model[field] = value;
      await writeFile(configPath, JSON.stringify(config));
      const started = performance.now();
      expectUserError(
        await runCli(['score', '--model', ckpt, '--data', 'waves.hgds', ...CPU], dir),
        1,
        new RegExp(
          `--model: .*config\\.json: cannot build a 'glow' model .*'${field}' is ${value}, more than the limit`,
        ),
      );
      expect(performance.now() - started).toBeLessThan(30_000);
    }
  });
});

describe('dataset arguments', () => {
  it('takes paths containing @ or = that exist as paths, not as NAME=SOURCE@SPLIT', async () => {
    await mkdir(join(dir, 'a=b@c'));
    await cp(join(dir, 'waves.hgds'), join(dir, 'a=b@c', 'x=y@z.hgds'));
    const r = await runCli(
      ['score', '--model', 'run', '--data', 'a=b@c/x=y@z.hgds', '--limit', '4', ...CPU],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(5);
  });
});
