import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { marginLoss, outlierLoss } from '@hierglow/anomaly-metrics';
import {
  deriveSeed,
  evalBatches,
  type ImageDataset,
  stepsPerEpoch,
  type TransformOptions,
} from '@hierglow/datasets';
import {
  type AnyModel,
  type ClassConditionalGlow,
  createModel,
  DEFAULT_PREPROCESSING,
  type ExtraLoss,
  type FineTuneOptions,
  initializeFromData,
  type ModelConfigInput,
  meanBitsPerDim,
  recoverInterruptedSave,
  saveCheckpoint,
  Trainer,
  type TrainerEvent,
  type TrainingState,
} from '@hierglow/glow';
import * as tf from '@tensorflow/tfjs-core';
import type { CommandIO } from '../command.js';
import { openDataRef, trainingStream, transformFor } from '../data/data-source.js';
import { loadModelFlag } from '../model/checkpoint-ref.js';
import { TrainingHistory } from '../run/history.js';
import {
  readRunConfig,
  recordableFlags,
  resumeFlags,
  runPaths,
  writeRunConfig,
} from '../run/run-folder.js';
import { RunLog } from '../run/run-log.js';
import { booleanFlag, requiredStringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';
import { prepareOutputFolder } from '../util/output-folder.js';
import { formatDuration, ProgressBar } from '../util/progress.js';
import { VERSION } from '../version.js';
import { modelConfigFor, resolveTrainingSettings, type TrainingSettings } from './settings.js';
import { labelledClassCount, supervisedModel, supervisedTraining } from './supervised.js';

/** Exit code of a run stopped by Ctrl-C after saving (128 + SIGINT). */
export const INTERRUPTED_EXIT_CODE = 130;

/** How a training run ended. */
export interface TrainingOutcome {
  reason: 'finished' | 'aborted' | 'already-finished';
  state: TrainingState;
  settings: TrainingSettings;
}

/**
 * `hierglow train` / `hierglow finetune`: resolves the flags (or, with `--resume`, the run's
 * recorded ones), then trains, writing the run folder (see {@link runPaths}).
 */
export async function trainingCommand(
  command: 'train' | 'finetune',
  values: Record<string, unknown>,
  io: CommandIO,
): Promise<number> {
  const outcome = await runTrainingFromFlags(command, values, io);
  return outcome.reason === 'aborted' ? INTERRUPTED_EXIT_CODE : 0;
}

/** {@link trainingCommand} returning the outcome (what `hierglow reproduce` chains on). */
export async function runTrainingFromFlags(
  command: 'train' | 'finetune',
  values: Record<string, unknown>,
  io: CommandIO,
): Promise<TrainingOutcome> {
  const out = requiredStringFlag(values, 'out', command, 'RUN_DIR (the folder this run writes)');
  const paths = runPaths(out);
  const resume = booleanFlag(values, 'resume');
  let flags: Record<string, unknown>;
  let createdAt = new Date().toISOString();
  if (resume) {
    const recorded = await readRunConfig(out);
    if (recorded.command !== command) {
      throw new UsageError(
        `--resume: ${out} is a '${recorded.command}' run; continue it with 'hierglow ${recorded.command} --out ${out} --resume'`,
      );
    }
    flags = resumeFlags(recorded.flags, values, out);
    createdAt = recorded.createdAt;
  } else {
    if (existsSync(paths.config)) {
      throw new UsageError(
        `--out ${out} already holds a run (config.json); pass --resume to continue it, or choose another --out`,
      );
    }
    flags = recordableFlags(values);
  }
  // Flags are checked before the folder is made, so a refused flag leaves nothing behind; the
  // folder is checked before any long work, so a run that cannot write it does not start.
  const settings = resolveTrainingSettings(command, { ...flags, out });
  prepareOutputFolder('out', out);
  return runTraining(settings, flags, createdAt, io);
}

/** Opens everything a run needs and closes it at the end, whatever happens. */
class Resources {
  private readonly datasets: ImageDataset[] = [];
  private readonly models: AnyModel[] = [];
  dataset(ds: ImageDataset): ImageDataset {
    this.datasets.push(ds);
    return ds;
  }
  model<M extends AnyModel>(m: M): M {
    this.models.push(m);
    return m;
  }
  async close(): Promise<void> {
    for (const m of this.models) m.dispose();
    await Promise.allSettled(this.datasets.map((d) => d.close()));
  }
}

async function runTraining(
  settings: TrainingSettings,
  flags: Record<string, unknown>,
  createdAt: string,
  io: CommandIO,
): Promise<TrainingOutcome> {
  const paths = runPaths(settings.out);
  const log = new RunLog(paths.log, io);
  const res = new Resources();
  try {
    const data = res.dataset(await openDataRef(settings.data));
    // A save killed between its two renames leaves only the previous checkpoint, set aside; one
    // killed after them leaves the previous one beside the new. Settle both before reading.
    const recovered = await recoverInterruptedSave(paths.checkpoint);
    if (recovered) {
      log.line(
        `an interrupted checkpoint save left the previous checkpoint at ${recovered}; moved it back to ${paths.checkpoint}`,
      );
    }
    const checkpointExists = existsSync(paths.checkpoint);
    log.line(
      `hierglow ${settings.command}: ${checkpointExists ? 'resuming' : 'starting'} run ${settings.out} on ${tf.getBackend()} ` +
        `(data ${data.description}, ${data.count} images ${data.height}x${data.width}x${data.channels})`,
    );

    // The model: the run's latest checkpoint when resuming, else a new one or the --from one.
    let model: AnyModel;
    let resumed: Awaited<ReturnType<typeof loadModelFlag>> | null = null;
    let needsInit = false;
    if (checkpointExists) {
      resumed = await loadModelFlag('out', paths.checkpoint, { keepOptimizer: true });
      model = res.model(resumed.model);
    } else if (settings.command === 'train') {
      const config = modelConfigFor(settings.model!, data.channels, settings.seed);
      try {
        model = res.model(createModel(config as unknown as ModelConfigInput, 'model flags'));
      } catch (e) {
        throw new UsageError(`train: ${(e as Error).message}`);
      }
      needsInit = true;
    } else {
      model = res.model((await loadModelFlag('from', settings.from!)).model);
    }
    if (settings.supervised) {
      const classConditional = supervisedModel(model, labelledClassCount(data), log);
      if (classConditional !== model) model = res.model(classConditional);
    }
    const [height, width, channels] = model.inputShape as [number, number, number];
    const shape = { height, width, channels };
    const trainTransform = {
      ...transformFor(data, shape, 'data', { augment: settings.augment, noise: 'uniform' }),
      ...(settings.perturb > 0 ? { perturb: settings.perturb } : {}),
    };
    const perEpoch = stepsPerEpoch(data.count, settings.batchSize, true);
    if (perEpoch === 0) {
      throw new UsageError(
        `--data: ${data.count} images make no complete batch of ${settings.batchSize}; lower --batch-size`,
        1,
      );
    }
    const stream = trainingStream(data, trainTransform, settings.batchSize, {
      labels: settings.supervised !== undefined,
    });

    let fineTune = await outlierTraining(settings, model, shape, res, log);
    if (settings.supervised) {
      fineTune = await supervisedTraining(
        settings.supervised,
        model as ClassConditionalGlow,
        fineTune,
        (m) => res.model(m),
        log,
      );
    }
    const evaluate = await evaluationHook(settings, shape, res);

    await writeRunConfig(settings.out, {
      format: 'hierglow-run',
      version: 1,
      command: settings.command,
      hierglow: VERSION,
      createdAt,
      flags,
      settings: {
        ...settings,
        modelConfig: model.getConfig(),
        transform: trainTransform,
        dataDescription: data.description,
        dataCount: data.count,
        stepsPerEpoch: perEpoch,
      },
    });

    if (needsInit) {
      const images = Math.min(settings.model!.initImages, data.count);
      const initStream = trainingStream(data, trainTransform, Math.min(64, images));
      const seen = await initializeFromData(
        model,
        initStream({ epoch: 0, seed: deriveSeed(settings.seed, 0x696e6974) }),
        images,
      );
      log.line(`data-dependent initialisation on ${seen} training images (spec 3.6)`);
    }

    const metadata = {
      preprocessing: { ...DEFAULT_PREPROCESSING, transform: trainTransform },
      training: {
        command: settings.command,
        data: { source: settings.data.source, split: settings.data.split, count: data.count },
        from: settings.from ?? null,
        outlier: settings.outlier ?? null,
        supervised: settings.supervised ?? null,
        batchSize: settings.batchSize,
        seed: settings.seed,
        memory: settings.memory,
        run: settings.out,
      },
    };
    const history = await TrainingHistory.open(paths.history, resumed?.trainingState);
    const progress = new TrainingProgress(settings, perEpoch, log);
    const onEvent = (e: TrainerEvent) => {
      history.record(e);
      if (e.type === 'step') progress.step(e);
      else if (e.type === 'epoch') progress.epoch(e);
      else if (e.type === 'evaluation') {
        const m = Object.entries(e.metrics)
          .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
          .join(', ');
        log.line(
          `evaluation ${e.epoch < 0 ? 'before training' : `after epoch ${e.epoch + 1}`}: ${m}`,
        );
      } else if (e.type === 'checkpoint') {
        log.fileOnly(`checkpoint (${e.reason}) at step ${e.step}, epoch ${e.epoch}: ${e.dir}`);
      }
    };
    const trainer = new Trainer(model, {
      epochs: settings.epochs,
      seed: settings.seed,
      optimizer: { learningRate: settings.learningRate, weightDecay: settings.weightDecay },
      stepsPerEpoch: perEpoch,
      signal: io.signal,
      onEvent,
      checkpoint: {
        dir: paths.checkpoint,
        everySteps: settings.checkpointEverySteps,
        everyEpochs: 1,
        metadata,
        ...(settings.keepEpochs
          ? { epochModelDir: (n: number) => join(paths.epochs, String(n)) }
          : {}),
        // history.json is written before each checkpoint, never after: it then holds at least
        // the checkpoint's steps, and a resume cuts whatever runs ahead of the checkpoint.
        beforeSave: () => history.save(),
      },
      maxConsecutiveSkippedSteps: settings.maxSkippedSteps,
      memory: settings.memory,
      ...(evaluate ? { evaluate } : {}),
      ...(fineTune ? { fineTune } : {}),
    });
    if (resumed) {
      trainer.restore(resumed);
      const s = resumed.optimizerState;
      if (s) tf.dispose([...Object.values(s.expAvg), ...Object.values(s.expInf)]);
    }
    const start = trainer.state;
    if (start.finished && start.epoch >= settings.epochs) {
      if (!existsSync(paths.final)) {
        // Killed after the last checkpoint but before final/ was written.
        await saveCheckpoint(paths.final, { model, trainingState: start, metadata });
        log.line(
          `run ${settings.out} had finished ${start.epoch} epochs but has no final model; wrote ${paths.final} from the last checkpoint`,
        );
        return { reason: 'finished', state: start, settings };
      }
      log.line(
        `run ${settings.out} already finished ${start.epoch} epochs; pass a larger --epochs to extend it`,
      );
      return { reason: 'already-finished', state: start, settings };
    }
    if (resumed) {
      log.line(
        `resuming at epoch ${start.epoch + 1}, batch ${start.batchInEpoch}, step ${start.step}`,
      );
    }
    const result = await trainer.fit(stream);
    progress.finish();
    await history.save();
    const state = result.state;
    if (result.reason === 'aborted') {
      log.line(
        `interrupted at step ${state.step} (epoch ${state.epoch + 1}); checkpoint saved in ${paths.checkpoint}. ` +
          `Continue with: hierglow ${settings.command} --out ${settings.out} --resume`,
      );
      return { reason: 'aborted', state, settings };
    }
    await saveCheckpoint(paths.final, { model, trainingState: state, metadata });
    const lastEval = history.data.evaluations.at(-1)?.metrics;
    const lastEpoch = history.data.epochs.at(-1);
    log.line(
      `finished ${state.epoch} epochs (${state.step} steps${state.skippedSteps ? `, ${state.skippedSteps} skipped for non-finite gradients` : ''}) in ${formatDuration(history.seconds)}` +
        (lastEpoch ? `; last epoch train bpd ${lastEpoch.meanBitsPerDim.toFixed(4)}` : '') +
        (lastEval?.evalBpd !== undefined ? `, eval bpd ${lastEval.evalBpd.toFixed(4)}` : '') +
        (lastEval?.evalAccuracy !== undefined
          ? `, eval accuracy ${(100 * lastEval.evalAccuracy).toFixed(1)} %`
          : '') +
        `; model in ${paths.final}`,
    );
    return { reason: 'finished', state, settings };
  } catch (e) {
    // The terminal shows the error (main prints it); the log keeps it beside the run.
    try {
      log.fileOnly(`error: ${(e as Error)?.message ?? String(e)}`);
    } catch {
      // The log may be what failed (a full disk); the error itself is what matters.
    }
    throw e;
  } finally {
    await res.close();
  }
}

/** The outlier-loss part of fine-tuning (spec 6.3), or undefined without `--outlier-data`. */
async function outlierTraining(
  settings: TrainingSettings,
  model: AnyModel,
  shape: { height: number; width: number; channels: number },
  res: Resources,
  log: RunLog,
): Promise<FineTuneOptions | undefined> {
  const o = settings.outlier;
  if (!o) return undefined;
  const outliers = res.dataset(await openDataRef(o.data));
  const transform = transformFor(outliers, shape, 'outlier-data', {
    augment: o.augment,
    noise: 'uniform',
  });
  if (stepsPerEpoch(outliers.count, settings.batchSize, true) === 0) {
    throw new UsageError(
      `--outlier-data: ${outliers.count} images make no batch of ${settings.batchSize}`,
      1,
    );
  }
  // A fresh shuffled, augmented batch of outliers at every step (spec 6.3).
  const auxiliary = trainingStream(outliers, transform, settings.batchSize);
  if (o.loss === 'margin') {
    log.line(
      `margin outlier loss (margin D = ${model.numDims} nats), outliers ${outliers.description}`,
    );
    const margin = model.numDims;
    const term: ExtraLoss = {
      name: 'margin',
      compute: (ctx) => marginLoss(ctx.logP, ctx.auxiliary!.logProb().logP, { margin }),
    };
    return { auxiliary, extraLosses: [term] };
  }
  const general = await loadModelFlag('general', o.general);
  res.model(general.model);
  const g = general.model.inputShape.join('x');
  if (g !== model.inputShape.join('x')) {
    throw new UsageError(
      `--general: ${general.dir} takes ${g} images but the fine-tuned model takes ${model.inputShape.join('x')}`,
      1,
    );
  }
  log.line(
    `outlier loss λ=${o.weight}, T=${o.temperature} against the frozen general model ${general.dir}; outliers ${outliers.description}`,
  );
  const options = { weight: o.weight, temperature: o.temperature };
  const term: ExtraLoss = {
    name: 'outlier',
    compute: (ctx) =>
      outlierLoss(ctx.auxiliary!.logProb().logP, ctx.auxiliary!.frozen!.logP, options),
  };
  return { auxiliary, frozenModel: general.model, extraLosses: [term] };
}

/**
 * The per-epoch evaluation: mean bits/dim on held-out data with noisy inputs (spec 6.1), and a
 * class-conditional model's accuracy on its labels.
 */
async function evaluationHook(
  settings: TrainingSettings,
  shape: { height: number; width: number; channels: number },
  res: Resources,
) {
  const e = settings.eval;
  if (!e) return undefined;
  const ds = res.dataset(await openDataRef(e));
  const transform: TransformOptions = transformFor(ds, shape, e.flag, {
    augment: 'none',
    noise: 'uniform',
  });
  return async ({ model }: { model: import('@hierglow/glow').TrainableModel }) => {
    const s = await meanBitsPerDim(model, evalBatches(ds, { batchSize: e.batchSize, transform }));
    return {
      evalBpd: s.meanBitsPerDim,
      evalNll: s.meanNll,
      evalNonFinite: s.nonFinite,
      ...(s.classification ? { evalAccuracy: s.classification.accuracy } : {}),
    };
  };
}

/** The progress bar of a run (images/s, ETA) and its copies in the log file. */
class TrainingProgress {
  private readonly bar: ProgressBar;
  private rate: number | null = null;
  private lastFileLine = 0;
  private last = '';

  constructor(
    private readonly settings: TrainingSettings,
    private readonly perEpoch: number,
    private readonly log: RunLog,
  ) {
    this.bar = new ProgressBar({
      total: settings.epochs * perEpoch * settings.batchSize,
      label: settings.command,
      unit: 'img',
    });
  }

  step(e: Extract<TrainerEvent, { type: 'step' }>): void {
    // Smoothed images/s; the first step of a session (kernel setup) does not count.
    if (this.rate === null) this.rate = e.imagesPerSecond;
    else this.rate = 0.9 * this.rate + 0.1 * e.imagesPerSecond;
    const extra =
      `epoch ${e.epoch + 1}/${this.settings.epochs} loss ${e.loss.toFixed(1)} bpd ${e.bitsPerDim.toFixed(4)}` +
      Object.entries(e.extraLosses)
        .map(([k, v]) => ` ${k} ${v.toFixed(2)}`)
        .join('') +
      (e.skipped ? ' (step skipped: non-finite gradient)' : '');
    const done = e.step * this.settings.batchSize;
    this.bar.update(done, extra, this.rate);
    this.last = this.bar.format(done, extra, this.rate);
    const now = Date.now();
    if (now - this.lastFileLine >= 30_000) {
      this.lastFileLine = now;
      this.log.fileOnly(this.last);
    }
  }

  epoch(e: Extract<TrainerEvent, { type: 'epoch' }>): void {
    this.bar.finish();
    if (this.last) this.log.fileOnly(this.last);
    this.log.line(
      `epoch ${e.epoch + 1}/${this.settings.epochs} (${this.perEpoch} steps) in ${formatDuration(e.seconds)}: ` +
        `mean loss ${e.meanLoss.toFixed(2)}, train bpd ${e.meanBitsPerDim.toFixed(4)}`,
    );
  }

  finish(): void {
    this.bar.finish();
    if (this.last) this.log.fileOnly(this.last);
  }
}
