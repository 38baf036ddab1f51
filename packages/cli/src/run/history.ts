import { readFile } from 'node:fs/promises';
import type { TrainerEvent, TrainingState } from '@hierglow/glow';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';

/** Per-step training values, one array per quantity (compact for long runs, easy to plot). */
export interface StepColumns {
  step: number[];
  epoch: number[];
  /** Total loss (nats): mean discrete NLL plus the extra terms. */
  loss: number[];
  /** Mean discrete NLL `−log p(x̃) + D ln 256` (nats). */
  nll: number[];
  /** The NLL in bits per dimension. */
  bpd: number[];
  /** Extra loss terms by name (e.g. `outlier`), nats. */
  extra: Record<string, number[]>;
  imagesPerSecond: number[];
  /** 1 when the update was skipped for a non-finite gradient. */
  skipped: number[];
  /** Seconds since the run started (across resumes: wall time of the sessions added up). */
  seconds: number[];
}

/** Contents of a run's `history.json`: the training curves. */
export interface HistoryFile {
  format: 'hierglow-history';
  version: 1;
  steps: StepColumns;
  /** One entry per finished epoch. */
  epochs: {
    epoch: number;
    step: number;
    meanLoss: number;
    meanBitsPerDim: number;
    seconds: number;
  }[];
  /** Per-epoch evaluation (epoch −1 = before training), e.g. `evalBpd`. */
  evaluations: { epoch: number; step: number; metrics: Record<string, number> }[];
}

function emptyHistory(): HistoryFile {
  return {
    format: 'hierglow-history',
    version: 1,
    steps: {
      step: [],
      epoch: [],
      loss: [],
      nll: [],
      bpd: [],
      extra: {},
      imagesPerSecond: [],
      skipped: [],
      seconds: [],
    },
    epochs: [],
    evaluations: [],
  };
}

/** 6 significant digits: enough for curves, a third of the bytes of full doubles. */
function round(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : v;
}

/**
 * The training curves of a run, kept in memory and written atomically to `history.json` at each
 * checkpoint, so the file always matches a resumable state. On resume, entries past the
 * checkpoint are dropped: the resumed run reproduces them.
 */
export class TrainingHistory {
  private constructor(
    private readonly path: string,
    readonly data: HistoryFile,
    /** Seconds of earlier sessions, so `seconds` keeps increasing across resumes. */
    private readonly offsetSeconds: number,
  ) {}

  private readonly started = performance.now();

  /** A fresh history, or the saved one cut back to `state` when resuming. */
  static async open(path: string, state?: TrainingState): Promise<TrainingHistory> {
    if (!state) return new TrainingHistory(path, emptyHistory(), 0);
    let data: HistoryFile;
    try {
      data = JSON.parse(await readFile(path, 'utf8')) as HistoryFile;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return new TrainingHistory(path, emptyHistory(), 0);
      throw new UsageError(
        `${path} is not valid JSON (${(e as Error).message}); move it aside to resume without the earlier curves`,
      );
    }
    if (data?.format !== 'hierglow-history' || !data.steps || !Array.isArray(data.steps.step)) {
      throw new UsageError(`${path} is not a hierglow training history; move it aside to resume`);
    }
    const keep = data.steps.step.findIndex((s) => s > state.step);
    if (keep >= 0) {
      const s = data.steps;
      for (const key of [
        'step',
        'epoch',
        'loss',
        'nll',
        'bpd',
        'imagesPerSecond',
        'skipped',
        'seconds',
      ] as const) {
        s[key] = s[key].slice(0, keep);
      }
      for (const name of Object.keys(s.extra)) s.extra[name] = s.extra[name]!.slice(0, keep);
    }
    data.epochs = data.epochs.filter((e) => e.epoch < state.epoch);
    data.evaluations = data.evaluations.filter((e) => e.epoch < state.epoch);
    const offset = data.steps.seconds.at(-1) ?? 0;
    return new TrainingHistory(path, data, offset);
  }

  /** Seconds since the run started, across sessions. */
  get seconds(): number {
    return this.offsetSeconds + (performance.now() - this.started) / 1000;
  }

  /** Records a trainer event (steps, epochs and evaluations; other events are ignored). */
  record(event: TrainerEvent): void {
    const d = this.data;
    if (event.type === 'step') {
      const s = d.steps;
      const n = s.step.length;
      s.step.push(event.step);
      s.epoch.push(event.epoch);
      s.loss.push(round(event.loss));
      s.nll.push(round(event.nll));
      s.bpd.push(round(event.bitsPerDim));
      for (const [name, value] of Object.entries(event.extraLosses)) {
        // A term first seen now (never, in practice) is padded so the columns stay aligned.
        s.extra[name] ??= new Array(n).fill(null);
        s.extra[name].push(round(value));
      }
      s.imagesPerSecond.push(round(event.imagesPerSecond));
      s.skipped.push(event.skipped ? 1 : 0);
      s.seconds.push(round(this.seconds));
    } else if (event.type === 'epoch') {
      const { epoch, step, meanLoss, meanBitsPerDim, seconds } = event;
      d.epochs.push({
        epoch,
        step,
        meanLoss: round(meanLoss),
        meanBitsPerDim: round(meanBitsPerDim),
        seconds: round(seconds),
      });
    } else if (event.type === 'evaluation') {
      const metrics = Object.fromEntries(
        Object.entries(event.metrics).map(([k, v]) => [k, round(v)]),
      );
      d.evaluations.push({ epoch: event.epoch, step: event.step, metrics });
    }
  }

  /** Writes `history.json` atomically. */
  save(): Promise<void> {
    return writeJsonAtomic(this.path, this.data);
  }
}

/** Reads a run's `history.json`, or null when the run has none (or it is unreadable). */
export async function readHistory(path: string): Promise<HistoryFile | null> {
  try {
    const data = JSON.parse(await readFile(path, 'utf8')) as HistoryFile;
    return data?.format === 'hierglow-history' ? data : null;
  } catch {
    return null;
  }
}
