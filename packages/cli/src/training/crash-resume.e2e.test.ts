/**
 * Crashes of `hierglow train`, made on demand: the trainer announces each phase of a checkpoint
 * save and pauses there (HIERGLOW_CRASH_TEST_SAVE_PAUSE_MS), and the test SIGKILLs it on the
 * announcement, so the kill lands inside that phase. Every resume must continue from the last
 * completed checkpoint and end with the uninterrupted run's weights and curves.
 * (`scripts/crash-test.mjs` does the same at random points, many times.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRASH_TEST_PAUSE_ENV } from '@hierglow/glow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli, startCli } from '../test-support/run-cli.js';
import { writeSyntheticDataset } from '../test-support/synthetic-data.js';

let dir: string;

/** 48 images in batches of 8 for 2 epochs: 12 steps, a checkpoint every 2. */
function trainArgs(out: string, extra: string[] = []): string[] {
  return [
    'train',
    '--data',
    'waves.hgds',
    '--out',
    out,
    ...['--size', '16', '--levels', '2', '--steps-per-level', '1', '--hidden', '8'],
    ...['--batch-size', '8', '--epochs', '2', '--checkpoint-every', '2', '--init-images', '16'],
    ...['--no-eval', '--backend', 'cpu'],
    ...extra,
  ];
}

/** Runs training and SIGKILLs it when the save of `dir` (checkpoint or final) reaches `stage`. */
async function killAtSave(
  args: string[],
  target: { dir: string; stage: string; after?: number },
): Promise<CliResult> {
  const { child, done } = startCli(args, dir, { [CRASH_TEST_PAUSE_ENV]: '200' });
  let seen = 0;
  let buffered = '';
  child.stderr!.on('data', (d) => {
    buffered += d;
    for (const m of buffered.matchAll(/hierglow-crash-test: save (\S+) (\S+) (\S+)\n/g)) {
      if (m[1] === target.dir && m[3] === target.stage && ++seen > (target.after ?? 0)) {
        child.kill('SIGKILL');
      }
    }
    buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
  });
  const result = await done;
  expect(result.signal, result.stderr).toBe('SIGKILL');
  return result;
}

const weights = (run: string) => readFile(join(dir, run, 'final', 'model.safetensors'));
const history = async (run: string) =>
  JSON.parse(await readFile(join(dir, run, 'history.json'), 'utf8'));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hierglow-crash-'));
  await writeSyntheticDataset(join(dir, 'waves.hgds'), 'waves', 48, 16, 1);
  const straight = await runCli(trainArgs('straight'), dir);
  expect(straight.code, straight.stderr).toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hierglow train after a SIGKILL', () => {
  it('resumes from the checkpoint a save killed between its two renames had set aside', async () => {
    // The second save (step 4) is killed after moving step 2's checkpoint aside.
    await killAtSave(trainArgs('between-renames'), { dir: 'checkpoint', stage: 'old-moved-aside' });
    const entries = await readdir(join(dir, 'between-renames'));
    expect(entries).not.toContain('checkpoint');
    expect(entries.filter((e) => e.startsWith('.checkpoint.old-'))).toHaveLength(1);

    const resumed = await runCli([...trainArgs('between-renames'), '--resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(
      /an interrupted checkpoint save left the previous checkpoint at .*\.checkpoint\.old-.*; moved it back/,
    );
    expect(resumed.stderr).toMatch(/resuming at epoch 1, batch 2, step 2/);
    expect(Buffer.compare(await weights('straight'), await weights('between-renames'))).toBe(0);
    expect((await readdir(join(dir, 'between-renames'))).filter((e) => e.startsWith('.'))).toEqual(
      [],
    );
  });

  it('writes final/ on --resume when the run was killed after its last checkpoint', async () => {
    await killAtSave(trainArgs('no-final'), { dir: 'final', stage: 'temp-created' });
    const state = JSON.parse(
      await readFile(join(dir, 'no-final', 'checkpoint', 'training-state.json'), 'utf8'),
    );
    expect(state).toMatchObject({ finished: true, step: 12 });
    expect(existsSync(join(dir, 'no-final', 'final'))).toBe(false);

    const resumed = await runCli([...trainArgs('no-final'), '--resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/had finished 2 epochs but has no final model; wrote .*final/);
    expect(Buffer.compare(await weights('straight'), await weights('no-final'))).toBe(0);
    const again = await runCli([...trainArgs('no-final'), '--resume'], dir);
    expect(again.stderr).toMatch(/already finished 2 epochs/);
  });

  it('keeps every step in history.json across kills and leaves no temporary history files', async () => {
    // Killed just after the step-6 checkpoint is in place: history.json must already hold
    // steps 1-6 (it used to be written after the checkpoint, so steps 5-6 were lost).
    await killAtSave(trainArgs('history'), { dir: 'checkpoint', stage: 'renamed', after: 2 });
    const saved = await history('history');
    expect(saved.steps.step.slice(0, 6)).toEqual([1, 2, 3, 4, 5, 6]);
    // What a kill inside the history write leaves behind, from a process that is gone.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const stale = join(dir, 'history', `.history.json.tmp-${deadPid}-0123abcd`);
    await writeFile(stale, '{"partial":');

    const resumed = await runCli([...trainArgs('history'), '--resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming at epoch 1, batch 6, step 6/);
    const straight = await history('straight');
    const after = await history('history');
    expect(after.steps.step).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(after.steps.loss).toEqual(straight.steps.loss);
    expect(after.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([0, 1]);
    expect(existsSync(stale)).toBe(false);
  });
});
