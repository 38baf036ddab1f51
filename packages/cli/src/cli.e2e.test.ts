/**
 * End-to-end tests of the built `hierglow` binary, spawned with plain node as a user runs it:
 * errors are one line with a non-zero exit, a tiny train → score → evaluate round trip writes
 * every documented file, and a run interrupted by SIGINT resumes to exactly the same result.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError } from './test-support/expect-cli.js';
import { runCli, startCli } from './test-support/run-cli.js';
import { writeSyntheticDataset } from './test-support/synthetic-data.js';

let dir: string;
const TINY_MODEL = ['--size', '16', '--levels', '2', '--steps-per-level', '1', '--hidden', '8'];
const CPU = ['--backend', 'cpu'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hierglow-cli-'));
  await writeSyntheticDataset(join(dir, 'waves.hgds'), 'waves', 64, 16, 1);
  await writeSyntheticDataset(join(dir, 'waves-test.hgds'), 'waves', 40, 16, 2);
  await writeSyntheticDataset(join(dir, 'noise.hgds'), 'noise', 40, 16, 3);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function trainArgs(out: string, extra: string[] = []): string[] {
  return [
    'train',
    '--data',
    'waves.hgds',
    '--out',
    out,
    ...TINY_MODEL,
    '--batch-size',
    '8',
    '--epochs',
    '2',
    '--init-images',
    '32',
    '--eval-data',
    'waves-test.hgds',
    '--eval-images',
    '16',
    ...CPU,
    ...extra,
  ];
}

/** Whether `all[i]` is an `--eval-…` flag or its value (a run with `--no-eval` drops them). */
function isEvalFlag(all: string[], i: number): boolean {
  return /^--eval-/.test(all[i]!) || /^--eval-/.test(all[i - 1] ?? '');
}

describe('hierglow (built binary)', () => {
  it('prints help and the version, and rejects unknown commands and flags in one line', async () => {
    const help = await runCli(['--help'], dir);
    expect(help.code).toBe(0);
    for (const c of ['train', 'finetune', 'score', 'evaluate', 'backends', 'serve']) {
      expect(help.stdout).toMatch(new RegExp(`\\n  ${c} `));
    }
    const trainHelp = await runCli(['train', '--help'], dir);
    expect(trainHelp.code).toBe(0);
    expect(trainHelp.stdout).toMatch(/--steps-per-level/);
    expect((await runCli([], dir)).code).toBe(2);
    const version = await runCli(['--version'], dir);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expectOneLineError(await runCli(['frobnicate'], dir), 2, /unknown command 'frobnicate'/);
    expectOneLineError(await runCli(['train', '--bogus'], dir), 2, /Unknown option '--bogus'/);
    expectOneLineError(
      await runCli(['train', '--data', 'waves.hgds', '--out', 'x', '--epochs', '1.5'], dir),
      2,
      /--epochs must be an integer >= 0, got '1.5'/,
    );
    expectOneLineError(await runCli(['train', '--out', 'x'], dir), 2, /train needs --data/);
  });

  it('names the missing file or dataset', async () => {
    expectOneLineError(
      await runCli(['train', '--data', 'missing.hgds', '--out', 'r-missing', ...CPU], dir),
      1,
      /--data: missing\.hgds does not exist/,
    );
    expectOneLineError(
      await runCli(
        [
          'evaluate',
          '--model',
          'no-such-run',
          '--in',
          'waves-test.hgds',
          '--ood',
          'noise.hgds',
          '--out',
          'e',
          ...CPU,
        ],
        dir,
      ),
      1,
      /--model: No checkpoint at .*no-such-run/,
    );
    expectOneLineError(
      await runCli(
        ['finetune', '--from', 'nowhere', '--data', 'waves.hgds', '--out', 'f-missing', ...CPU],
        dir,
      ),
      1,
      /--from: No checkpoint at .*nowhere/,
    );
  });

  it('trains, scores and evaluates a tiny model end to end', async () => {
    const train = await runCli(trainArgs('run'), dir);
    expect(train.code, train.stderr).toBe(0);
    const run = join(dir, 'run');
    for (const f of [
      'config.json',
      'log.txt',
      'history.json',
      'checkpoint/model.safetensors',
      'final/model.safetensors',
    ]) {
      expect(existsSync(join(run, f)), f).toBe(true);
    }
    const history = JSON.parse(await readFile(join(run, 'history.json'), 'utf8'));
    expect(history.steps.step).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    expect(history.steps.bpd.every(Number.isFinite)).toBe(true);
    expect(history.evaluations.map((e: { epoch: number }) => e.epoch)).toEqual([-1, 0, 1]);
    const log = await readFile(join(run, 'log.txt'), 'utf8');
    expect(log).toMatch(/data-dependent initialisation on 32 training images/);
    expect(log).toMatch(/train \[#+\] 128\/128 [\d.]+ img\/s/); // the progress line is logged
    const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
    expect(config.settings.modelConfig).toMatchObject({
      kind: 'glow',
      height: 16,
      levels: 2,
      stepsPerLevel: 1,
      hidden: 8,
    });

    // A second start into the same folder is refused; the run must be resumed explicitly.
    expectOneLineError(await runCli(trainArgs('run'), dir), 2, /already holds a run.*--resume/);

    const score = await runCli(
      ['score', '--model', 'run', '--data', 'noise.hgds', '--limit', '10', ...CPU],
      dir,
    );
    expect(score.code, score.stderr).toBe(0);
    const rows = score.stdout.trim().split('\n');
    expect(rows[0]).toBe('index,label,log_p,bpd,lp_0,lp_1,final_scale,png_bpd,s_score');
    expect(rows).toHaveLength(11);
    const [, , logP, bpd, lp0, lp1] = rows[1]!.split(',').map(Number);
    expect(lp0! + lp1!).toBeCloseTo(logP!, 1);
    expect(bpd).toBeCloseTo(8 - logP! / (256 * Math.LN2), 3);

    const evaluate = await runCli(
      [
        'evaluate',
        '--model',
        'run',
        '--general',
        'run/checkpoint',
        '--in',
        'waves-test.hgds',
        '--ood',
        'noise.hgds',
        '--ood',
        'flat=waves.hgds',
        '--out',
        'eval',
        '--samples',
        '8',
        ...CPU,
      ],
      dir,
    );
    expect(evaluate.code, evaluate.stderr).toBe(0);
    expect(evaluate.stdout).toMatch(/\| AUROC % \| noise \| flat \|/);
    const ev = join(dir, 'eval');
    for (const f of [
      'metrics.json',
      'summary.md',
      'report.html',
      'scores/waves-test.csv',
      'scores/noise.csv',
    ]) {
      expect(existsSync(join(ev, f)), f).toBe(true);
    }
    const metrics = JSON.parse(await readFile(join(ev, 'metrics.json'), 'utf8'));
    expect(metrics.format).toBe('hierglow-metrics');
    expect(Object.keys(metrics.metrics)).toEqual([
      'raw',
      'final-scale',
      'scale-0',
      'scale-1',
      'ratio',
      'ratio-scale-0',
      'ratio-scale-1',
      'complexity',
      's-score',
    ]);
    for (const perSet of Object.values(metrics.metrics) as Record<
      string,
      Record<string, number | number[]>
    >[]) {
      expect(Object.keys(perSet)).toEqual(['noise', 'flat']);
      for (const m of Object.values(perSet)) {
        expect(Object.keys(m)).toEqual(['auroc', 'auroc_ci95', 'aupr_in', 'aupr_out', 'fpr95']);
        for (const v of Object.values(m).flat()) expect(v >= 0 && v <= 1).toBe(true);
        const [lower, upper] = m.auroc_ci95 as number[];
        expect(lower! <= (m.auroc as number) && (m.auroc as number) <= upper!).toBe(true);
      }
    }
    // Uniform noise is far less likely than smooth images under any trained density, and far
    // more complex as a PNG: both scores must separate it almost perfectly.
    expect(metrics.metrics.raw.noise.auroc).toBeGreaterThan(0.95);
    expect(metrics.metrics.complexity.noise.auroc).toBeGreaterThan(0.95);
    expect(metrics.rankCorrelation['waves-test']).toBeGreaterThan(0.5);
    const html = await readFile(join(ev, 'report.html'), 'utf8');
    expect(html).toMatch(/<svg/);
    expect(html).toMatch(/data:image\/png;base64,/);
    expect(html).toMatch(/Training curves/);
    expect(html).not.toMatch(/<script|src="http/);
  });

  it('trains with --memory reversible to the autodiff run, and keeps the mode on --resume', async () => {
    const once = ['--epochs', '1', '--no-eval'];
    const autodiff = await runCli(
      trainArgs('mem-autodiff', once).filter((_, i, all) => !isEvalFlag(all, i)),
      dir,
    );
    expect(autodiff.code, autodiff.stderr).toBe(0);
    const reversible = await runCli(
      trainArgs('mem-reversible', [...once, '--memory', 'reversible']).filter(
        (_, i, all) => !isEvalFlag(all, i),
      ),
      dir,
    );
    expect(reversible.code, reversible.stderr).toBe(0);
    const losses = async (run: string) =>
      JSON.parse(await readFile(join(dir, run, 'history.json'), 'utf8')).steps.loss as number[];
    const expected = await losses('mem-autodiff');
    const actual = await losses('mem-reversible');
    expect(actual).toHaveLength(expected.length);
    actual.forEach((loss, i) => {
      expect(Math.abs(loss - expected[i]!) / Math.abs(expected[i]!)).toBeLessThan(1e-4);
    });
    const config = JSON.parse(await readFile(join(dir, 'mem-reversible', 'config.json'), 'utf8'));
    expect(config.flags.memory).toBe('reversible');
    expect(config.settings.memory).toBe('reversible');
    // --resume without --memory continues with the recorded mode.
    const resumed = await runCli(
      ['train', '--out', 'mem-reversible', '--resume', '--epochs', '2', ...CPU],
      dir,
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    const after = JSON.parse(await readFile(join(dir, 'mem-reversible', 'config.json'), 'utf8'));
    expect(after.settings.memory).toBe('reversible');
    expectOneLineError(
      await runCli(trainArgs('mem-bad', ['--memory', 'checkpointed']), dir),
      2,
      /--memory/,
    );
  });

  it('refuses an incompatible checkpoint in one line', async () => {
    const bad = join(dir, 'bad-ckpt');
    await cp(join(dir, 'run', 'final'), bad, { recursive: true });
    const configPath = join(bad, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    config.model.hidden = 16;
    await writeFile(configPath, JSON.stringify(config));
    expectOneLineError(
      await runCli(['score', '--model', 'bad-ckpt', '--data', 'noise.hgds', ...CPU], dir),
      1,
      /--model: .*model\.safetensors: tensor '.*' has shape/,
    );
  });

  it('scores with a checkpoint copied without its optimizer state', async () => {
    // A mid-run checkpoint lists optimizer.safetensors; shared or committed copies often leave
    // that file out. Scoring reads only the weights, so the copy scores exactly as the original.
    const copy = join(dir, 'weights-copy');
    await cp(join(dir, 'run', 'checkpoint'), copy, { recursive: true });
    expect(existsSync(join(copy, 'optimizer.safetensors'))).toBe(true);
    await rm(join(copy, 'optimizer.safetensors'));
    const scoreWith = (model: string) =>
      runCli(['score', '--model', model, '--data', 'noise.hgds', '--limit', '6', ...CPU], dir);
    const original = await scoreWith('run/checkpoint');
    const copied = await scoreWith('weights-copy');
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toBe(original.stdout);
  });

  it('keeps the model of every epoch with --keep-epochs, and adds them on --resume', async () => {
    const train = await runCli(trainArgs('kept', ['--epochs', '1', '--keep-epochs']), dir);
    expect(train.code, train.stderr).toBe(0);
    const resumed = await runCli(
      ['train', '--out', 'kept', '--resume', '--epochs', '2', ...CPU],
      dir,
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const n of ['1', '2']) {
      const files = await readdir(join(dir, 'kept', 'epochs', n));
      expect(files.sort()).toEqual(['config.json', 'model.safetensors', 'training-state.json']);
    }
    const state = JSON.parse(
      await readFile(join(dir, 'kept', 'epochs', '1', 'training-state.json'), 'utf8'),
    );
    expect(state).toMatchObject({ epoch: 1, step: 16 / 2 });
    // The last epoch's model is the finished one.
    const scoreWith = (model: string) =>
      runCli(['score', '--model', model, '--data', 'noise.hgds', '--limit', '6', ...CPU], dir);
    const last = await scoreWith('kept/epochs/2');
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).toBe((await scoreWith('kept')).stdout);
    expect(last.stdout).not.toBe((await scoreWith('kept/epochs/1')).stdout);
  });

  it('saves on SIGINT and resumes to exactly the uninterrupted result', async () => {
    const args = (out: string) =>
      trainArgs(out, ['--epochs', '6', '--checkpoint-every', '2', '--no-eval']).filter(
        (a, i, all) =>
          !(
            a === '--eval-data' ||
            all[i - 1] === '--eval-data' ||
            a === '--eval-images' ||
            all[i - 1] === '--eval-images'
          ),
      );
    const straight = await runCli(args('straight'), dir);
    expect(straight.code, straight.stderr).toBe(0);

    const { child, done } = startCli(args('interrupted'), dir);
    const checkpoint = join(dir, 'interrupted', 'checkpoint', 'training-state.json');
    while (!existsSync(checkpoint)) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const stopped = await done;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toMatch(/interrupted at step \d+.*--resume/);
    const state = JSON.parse(await readFile(checkpoint, 'utf8'));
    expect(state.finished).toBe(false);
    expect(state.step).toBeLessThan(48);

    const resumed = await runCli([...args('interrupted'), '--resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming at epoch/);
    const a = JSON.parse(await readFile(join(dir, 'straight', 'history.json'), 'utf8'));
    const b = JSON.parse(await readFile(join(dir, 'interrupted', 'history.json'), 'utf8'));
    expect(b.steps.step).toEqual(a.steps.step);
    expect(b.steps.loss).toEqual(a.steps.loss);
    const weights = async (run: string) => readFile(join(dir, run, 'final', 'model.safetensors'));
    expect(Buffer.compare(await weights('straight'), await weights('interrupted'))).toBe(0);

    // Resuming with a different setting is refused; more epochs are allowed.
    expectOneLineError(
      await runCli([...args('interrupted'), '--resume', '--lr', '0.01'], dir),
      2,
      /--resume: .* was started with no --lr; drop --lr 0.01/,
    );
  });

  it('inspects, subsets and builds OOD datasets', async () => {
    const inspect = await runCli(['data', 'inspect', 'waves.hgds'], dir);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/format\s+synthetic-waves/);
    expect(inspect.stdout).toMatch(/images\s+64/);
    expect(inspect.stdout).toMatch(/shape\s+16x16x1/);
    expect(inspect.stdout).toMatch(/\n {2}0 +32\n {2}1 +32/); // label counts
    const json = JSON.parse(
      (await runCli(['data', 'inspect', 'waves.hgds', '--json'], dir)).stdout,
    );
    expect(json).toMatchObject({
      count: 64,
      shape: [16, 16, 1],
      labelCounts: { '0': 32, '1': 32 },
    });
    expectOneLineError(
      await runCli(['data', 'inspect', 'nope.hgds'], dir),
      1,
      /nope\.hgds does not exist/,
    );
    expectOneLineError(
      await runCli(['data'], dir),
      2,
      /needs one of: inspect, download, build-general/,
    );

    const subset = await runCli(
      [
        'data',
        'subset',
        '--data',
        'waves.hgds',
        '--count',
        '10',
        '--seed',
        '3',
        '--out',
        'sub.hgds',
      ],
      dir,
    );
    expect(subset.code, subset.stderr).toBe(0);
    const sub = JSON.parse((await runCli(['data', 'inspect', 'sub.hgds', '--json'], dir)).stdout);
    expect(sub.count).toBe(10);

    const ood = await runCli(
      [
        'data',
        'build-ood',
        '--out',
        'ood',
        '--sets',
        'noise,constant',
        '--count',
        '20',
        '--size',
        '16',
      ],
      dir,
    );
    expect(ood.code, ood.stderr).toBe(0);
    const constant = JSON.parse(
      (await runCli(['data', 'inspect', 'ood/constant.hgds', '--json'], dir)).stdout,
    );
    expect(constant).toMatchObject({ count: 20, shape: [16, 16, 1], labelCounts: null });
    const manifest = JSON.parse(await readFile(join(dir, 'ood', 'manifest.json'), 'utf8'));
    expect(Object.keys(manifest.sets)).toEqual(['noise', 'constant']);
  });

  it('samples a PNG grid and explains what the demo is missing', async () => {
    const sample = await runCli(
      ['sample', '--model', 'run', '--out', 'samples.png', '--n', '6', ...CPU],
      dir,
    );
    expect(sample.code, sample.stderr).toBe(0);
    const png = await readFile(join(dir, 'samples.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    await mkdir(join(dir, 'empty-demo'));
    expectOneLineError(
      await runCli(['demo', '--demo', 'empty-demo', ...CPU], dir),
      1,
      /demo: .*models\/general\/config\.json is missing \(the general model checkpoint\)/,
    );
  });
});
