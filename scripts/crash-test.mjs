#!/usr/bin/env node
/**
 * Crash test of `hierglow train --resume`: trains a tiny model on synthetic data (cpu backend)
 * and SIGKILLs it again and again, at random moments and inside every phase of the atomic
 * checkpoint write, resuming after each kill, until the run finishes. Then checks that
 *
 * - every resume started from the last checkpoint that had completed before the kill (a kill
 *   between the two renames of a save may leave either the old or the new one: both count),
 * - the final weights are bitwise identical to an uninterrupted run's,
 * - history.json holds every step exactly once with the uninterrupted run's losses, and no
 *   temporary or set-aside files are left.
 *
 *   node scripts/crash-test.mjs [--kills N] [--seed S] [--pause-ms MS] [--keep]
 *
 * --kills: at least this many kills in all (default 50; CI runs --kills 6). Runs are repeated
 * until the count is reached. Save phases are announced and paused in by the trainer when
 * HIERGLOW_CRASH_TEST_SAVE_PAUSE_MS is set (see @hierglow/glow CRASH_TEST_PAUSE_ENV), so a kill
 * sent on an announcement lands inside that phase. Needs `npm run build`. Exit 0 when nothing
 * mismatched, 1 otherwise.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');
const PAUSE_ENV = 'HIERGLOW_CRASH_TEST_SAVE_PAUSE_MS';

/**
 * Save phases kills are aimed at, in turn (`:` stands for a space): every phase of a checkpoint
 * save, the riskiest first (between the two renames), and the writing of final/ after the last
 * checkpoint.
 */
const AIMS = [
  'checkpoint old-moved-aside',
  'checkpoint wrote:model.safetensors',
  'final temp-synced',
  'checkpoint renamed',
  'checkpoint temp-synced',
  'checkpoint temp-created',
  'checkpoint wrote:optimizer.safetensors',
  'checkpoint wrote:training-state.json',
  'checkpoint wrote:config.json',
  'checkpoint old-removed',
  'final wrote:model.safetensors',
];
/** After these, the save's rename may or may not have happened when the kill lands. */
const RENAME_IN_DOUBT = new Set(['temp-synced', 'old-moved-aside']);

const { values: flags } = parseArgs({
  options: {
    kills: { type: 'string', default: '50' },
    seed: { type: 'string', default: '1' },
    'pause-ms': { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
  },
});
const wantedKills = Number(flags.kills);
const pauseMs = Number(flags['pause-ms']);
if (!(Number.isInteger(wantedKills) && wantedKills >= 1)) fail('--kills must be an integer >= 1');
if (!existsSync(BIN)) fail(`${BIN} is missing: build the packages first (npm run build)`);

function fail(message) {
  console.error(`crash-test: ${message}`);
  process.exit(2);
}

/** mulberry32: the kill plan is reproducible from --seed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(Number(flags.seed));

const EPOCHS = 3;
const BATCH = 8;
const IMAGES = 48;
const TOTAL_STEPS = EPOCHS * (IMAGES / BATCH);

function trainArgs(dir, out, resume) {
  return [
    'train',
    '--data',
    join(dir, 'waves.hgds'),
    '--out',
    out,
    '--size',
    '16',
    '--levels',
    '2',
    '--steps-per-level',
    '1',
    '--hidden',
    '8',
    '--batch-size',
    String(BATCH),
    '--epochs',
    String(EPOCHS),
    '--checkpoint-every',
    '2',
    '--init-images',
    '16',
    '--eval-data',
    join(dir, 'waves.hgds'),
    '--eval-images',
    '16',
    '--backend',
    'cpu',
    ...(resume ? ['--resume'] : []),
  ];
}

/** Deterministic smooth grey images (the CLI tests' 'waves'), written as a .hgds file. */
async function writeData(path) {
  const { createRng, inMemoryDataset, writeHierglowDataset } = await import('@hierglow/datasets');
  const r = createRng(7);
  const size = 16;
  const pixels = new Uint8Array(IMAGES * size * size);
  for (let n = 0; n < IMAGES; n++) {
    const fx = 0.2 + 0.4 * r.uniform();
    const fy = 0.2 + 0.4 * r.uniform();
    const phase = 6.28 * r.uniform();
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = 128 + 110 * Math.sin(fx * x + phase) * Math.cos(fy * y);
        pixels[(n * size + y) * size + x] = Math.max(0, Math.min(255, Math.floor(v)));
      }
    }
  }
  const ds = inMemoryDataset({
    pixels,
    count: IMAGES,
    height: size,
    width: size,
    channels: 1,
    description: 'crash-test waves',
    provenance: { format: 'synthetic-waves', sources: [], details: {} },
  });
  await writeHierglowDataset(path, ds);
}

/**
 * Starts one training process. `killAt(line)` is asked at every announced save phase and
 * returns true to SIGKILL there; `killAfterMs` kills after a delay instead. Resolves with the
 * exit, stderr and the save phases seen.
 */
function runTraining(args, { killAt = () => false, killAfterMs = null } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, [PAUSE_ENV]: String(pauseMs), HIERGLOW_DEBUG: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let pending = '';
    let killed = null;
    const stages = [];
    const kill = (why) => {
      if (killed) return;
      killed = why;
      child.kill('SIGKILL');
    };
    child.stderr.on('data', (d) => {
      stderr += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        const m = /^hierglow-crash-test: save (\S+) (\S+) (\S+)$/.exec(line);
        if (!m) continue;
        const stage = { dir: m[1], label: m[2], stage: m[3] };
        stages.push(stage);
        if (killAt(stage)) kill(`in ${stage.dir} save ${stage.label} at ${stage.stage}`);
      }
    });
    const timer = killAfterMs === null ? null : setTimeout(() => kill('timer'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr, stages, killed });
    });
  });
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const stepOf = (label) => Number(/^step-(\d+)$/.exec(label)?.[1] ?? Number.NaN);

/** The step a process started from, read from its first lines (null when it did not say). */
function startingStep(stderr) {
  if (/hierglow train: starting run/.test(stderr)) return 0;
  const resumed = /resuming at epoch \d+, batch \d+, step (\d+)/.exec(stderr);
  if (resumed) return Number(resumed[1]);
  if (/had finished \d+ epochs but has no final model/.test(stderr)) return TOTAL_STEPS;
  return null;
}

async function leftovers(out) {
  return (await readdir(out)).filter((n) => /^\.(checkpoint|final|history\.json)\./.test(n));
}

const dir = await mkdtemp(join(tmpdir(), 'hierglow-crash-test-'));
const counts = { kills: 0, inSave: 0, resumes: 0, recovered: 0, runs: 0, mismatches: 0 };
const byAim = Object.fromEntries(AIMS.map((a) => [a, 0]));
const mismatch = (what) => {
  counts.mismatches += 1;
  console.error(`crash-test: MISMATCH ${what}`);
};
try {
  await writeData(join(dir, 'waves.hgds'));
  const reference = join(dir, 'reference');
  const started = performance.now();
  const ref = await runTraining(trainArgs(dir, reference, false));
  const referenceMs = performance.now() - started;
  if (ref.code !== 0) fail(`the uninterrupted run failed (exit ${ref.code}):\n${ref.stderr}`);
  const refWeights = sha256(await readFile(join(reference, 'final', 'model.safetensors')));
  const refHistory = JSON.parse(await readFile(join(reference, 'history.json'), 'utf8'));

  let aim = 0;
  while (counts.kills < wantedKills) {
    counts.runs += 1;
    const out = join(dir, `run-${counts.runs}`);
    // The checkpoint a resume must start from: `committed`, or `inDoubt` when the kill may
    // have landed after a save's rename.
    let committed = 0;
    let inDoubt = null;
    let first = true;
    let killsThisRun = 0;
    for (;;) {
      const resume = !first && existsSync(join(out, 'config.json'));
      first = false;
      const wantKill = counts.kills < wantedKills && killsThisRun < 12;
      // Two kills in three are aimed at a save phase (cycling through all of them), one at a
      // random moment of the process's life.
      const aimAtStage = wantKill && random() < 2 / 3;
      const target = AIMS[aim % AIMS.length];
      const [targetDir, targetStage] = target.split(' ');
      const skipSaves = Math.floor(random() * 3);
      let savesSeen = 0;
      let committedHere = false;
      const expected = [committed, inDoubt];
      const r = await runTraining(trainArgs(dir, out, resume), {
        killAt: (s) => {
          if (s.dir === 'checkpoint') {
            if (s.stage === 'temp-created') savesSeen += 1;
            if (RENAME_IN_DOUBT.has(s.stage)) inDoubt = stepOf(s.label);
            if (s.stage === 'renamed') {
              committed = stepOf(s.label);
              committedHere = true;
              inDoubt = null;
            }
          }
          const ready = targetDir === 'final' || savesSeen > skipSaves;
          return aimAtStage && ready && s.dir === targetDir && s.stage === targetStage;
        },
        killAfterMs: wantKill && !aimAtStage ? Math.floor(random() * 1.2 * referenceMs) : null,
      });
      if (resume) counts.resumes += 1;
      if (/an interrupted checkpoint save left/.test(r.stderr)) counts.recovered += 1;
      const from = startingStep(r.stderr);
      if (from !== null) {
        if (!expected.includes(from)) {
          mismatch(
            `${out}: started from step ${from}, but the last completed checkpoint was step ${expected[0]}${expected[1] !== null ? ` (or ${expected[1]})` : ''}`,
          );
        }
        if (!committedHere) {
          committed = from;
          if (inDoubt === expected[1]) inDoubt = null;
        }
      }
      if (r.killed) {
        counts.kills += 1;
        killsThisRun += 1;
        if (r.killed !== 'timer') {
          counts.inSave += 1;
          byAim[target] += 1;
          aim += 1;
        }
        continue;
      }
      if (r.code !== 0) {
        mismatch(`${out}: exited ${r.code ?? r.signal} without being killed:\n${r.stderr}`);
        break;
      }
      const weights = sha256(await readFile(join(out, 'final', 'model.safetensors')));
      if (weights !== refWeights)
        mismatch(`${out}: final weights differ from the uninterrupted run`);
      const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
      for (const column of ['step', 'loss', 'bpd']) {
        if (JSON.stringify(history.steps[column]) !== JSON.stringify(refHistory.steps[column])) {
          mismatch(`${out}: history.json ${column} differs from the uninterrupted run's`);
        }
      }
      const left = await leftovers(out);
      if (left.length > 0) mismatch(`${out}: left behind ${left.join(', ')}`);
      break;
    }
  }
  const stageCounts = AIMS.map((a) => `${a.replace(' ', '/')} ${byAim[a]}`).join(', ');
  console.log(
    `crash-test: ${counts.kills} kills (${counts.inSave} inside checkpoint writes: ${stageCounts}), ` +
      `${counts.resumes} resumes (${counts.recovered} from a set-aside checkpoint), ${counts.runs} runs, ` +
      `${counts.mismatches} mismatches`,
  );
} finally {
  if (flags.keep) console.error(`crash-test: kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
process.exit(counts.mismatches === 0 ? 0 : 1);
