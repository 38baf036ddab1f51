import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';

/** The files of a run folder (`--out RUN_DIR`). */
export function runPaths(out: string) {
  return {
    root: out,
    /** Resolved settings and the flags that produced them. */
    config: join(out, 'config.json'),
    /** Every message of the run, progress lines included, with timestamps. */
    log: join(out, 'log.txt'),
    /** Training curves (per step and per epoch). */
    history: join(out, 'history.json'),
    /** The latest checkpoint: periodic, at Ctrl-C and at the end; `--resume` starts here. */
    checkpoint: join(out, 'checkpoint'),
    /** The finished model (weights only), written once training completes. */
    final: join(out, 'final'),
    /** With `--keep-epochs`: the model after epoch N (weights only) in `epochs/<N>/`. */
    epochs: join(out, 'epochs'),
  };
}

/** Contents of a run folder's `config.json`. */
export interface RunConfigFile {
  format: 'hierglow-run';
  version: 1;
  command: string;
  hierglow: string;
  createdAt: string;
  /** The flags of the run (config file merged), paths made absolute: `--resume` re-resolves them. */
  flags: Record<string, unknown>;
  /** What the flags resolved to, model config included. */
  settings: Record<string, unknown>;
}

/** Flags that are not part of a run's identity: where it is, how to continue it, the backend. */
const SESSION_FLAGS = new Set(['out', 'resume', 'backend', 'config', 'help']);
/**
 * Flags `--resume` may change: more epochs extend a finished run; the divergence stop; how the
 * backward pass keeps memory (the same gradients either way); whether each epoch's model is kept.
 */
const RESUMABLE_CHANGES = new Set(['epochs', 'max-skipped-steps', 'memory', 'keep-epochs']);
/** Flags whose values may be paths (made absolute so a run resumes from any folder). */
const PATH_FLAGS = new Set(['data', 'eval-data', 'from', 'general', 'outlier-data']);

/** The flags worth recording: session flags dropped, existing paths made absolute. */
export function recordableFlags(values: Record<string, unknown>): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    if (SESSION_FLAGS.has(k) || v === undefined) continue;
    flags[k] = PATH_FLAGS.has(k) && typeof v === 'string' && existsSync(v) ? resolve(v) : v;
  }
  return flags;
}

/** Reads a run folder's `config.json`, or throws a one-line error saying what is wrong. */
export async function readRunConfig(out: string): Promise<RunConfigFile> {
  const path = runPaths(out).config;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(
      `--resume: ${out} has no config.json, so it is not a hierglow run folder; start the run without --resume`,
      1,
    );
  }
  let config: RunConfigFile;
  try {
    config = JSON.parse(text) as RunConfigFile;
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON (${(e as Error).message})`, 1);
  }
  if (config?.format !== 'hierglow-run' || typeof config.flags !== 'object') {
    throw new UsageError(`${path} is not a hierglow run config (no "format": "hierglow-run")`, 1);
  }
  return config;
}

/**
 * The flags a resumed run uses: the recorded ones, plus `--epochs` when given. Any other flag
 * given again must have its recorded value (so re-running the same command line with `--resume`
 * works); a different value is an error, since the run would no longer be the one that started.
 */
export function resumeFlags(
  recorded: Record<string, unknown>,
  given: Record<string, unknown>,
  out: string,
): Record<string, unknown> {
  const now = recordableFlags(given);
  const merged = { ...recorded };
  for (const [k, v] of Object.entries(now)) {
    if (RESUMABLE_CHANGES.has(k)) merged[k] = v;
    else if (String(recorded[k]) !== String(v)) {
      throw new UsageError(
        `--resume: ${out} was started with ${recorded[k] === undefined ? `no --${k}` : `--${k} ${String(recorded[k])}`}; ` +
          `drop --${k} ${String(v)} to continue it, or start a new run with another --out`,
      );
    }
  }
  return merged;
}

/** Writes `config.json` atomically. */
export function writeRunConfig(out: string, config: RunConfigFile): Promise<void> {
  return writeJsonAtomic(runPaths(out).config, config);
}
