import {
  accumulateGradient,
  ConfigError,
  type NamedVariables,
  type VariableGradients,
} from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import type { CheckpointMetadata } from '../checkpoint/checkpoint.js';
import { saveCheckpoint } from '../checkpoint/checkpoint-directory.js';
import { DEFAULT_SEED } from '../model/config.js';
import type { AdamaxOptions, AdamaxState } from '../state/optimizer-state.js';
import type { LogProbOutput, ReversibleForward, TrainableModel } from '../state/trainable-model.js';
import { initialTrainingState, type TrainingState } from '../state/training-state.js';
import { Adamax } from './adamax.js';
import {
  batchImages,
  batchLabels,
  type DataStream,
  disposeBatch,
  StreamCursor,
  type TrainingBatch,
} from './data.js';
import { TrainingDivergedError } from './errors.js';
import { allFinite } from './flat.js';

/** What an extra loss term sees at each step. Tensors are valid only during `compute`. */
export interface ExtraLossContext {
  /** The model being trained (differentiable). */
  model: TrainableModel;
  /** The training batch (NHWC), after non-finite examples were dropped. */
  x: tf.Tensor4D;
  labels?: tf.Tensor;
  /** log p(x) of the training batch under the trained model, nats, `[batch]` (differentiable). */
  logP: tf.Tensor1D;
  /** The trained model's whole output on the training batch (`logP` is its `logP`). */
  output: LogProbOutput;
  /** The frozen model's output on the training batch (detached), when `frozenOnTrainingBatch`. */
  frozen?: LogProbOutput;
  /** The auxiliary batch of this step, when an auxiliary stream is configured. */
  auxiliary?: {
    x: tf.Tensor4D;
    labels?: tf.Tensor;
    /** The trained model's output on the auxiliary batch (differentiable; computed once, on first call). */
    logProb(): LogProbOutput;
    /** The frozen model's output on the auxiliary batch (detached), when a frozen model is set. */
    frozen?: LogProbOutput;
  };
  step: number;
  epoch: number;
}

/** An extra loss term (e.g. the outlier loss of spec 6.3), added to the mean NLL before the gradient. */
export interface ExtraLoss {
  /** Name in progress events and history. */
  name: string;
  /** A scalar to add to the loss; runs inside the gradient tape. */
  compute(ctx: ExtraLossContext): tf.Scalar;
}

/**
 * Fine-tuning with extra loss terms (spec 6.3): a second data stream, a frozen second model
 * whose outputs are computed outside the gradient tape (so no gradient reaches it), and the
 * terms themselves. The trainer knows nothing about what the terms mean.
 */
export interface FineTuneOptions {
  extraLosses: ExtraLoss[];
  /** One batch of this stream per step (new passes start as needed), e.g. Tiny images as outliers. */
  auxiliary?: DataStream;
  /** Never updated; its outputs reach the losses detached. */
  frozenModel?: TrainableModel;
  /** Also run the frozen model on the training batch (the supervised wrong-class loss needs it). */
  frozenOnTrainingBatch?: boolean;
  /**
   * The per-example log-density of the NLL term, from the model's output on the training batch
   * and the batch's labels; default `output.logP`. The supervised variant (spec 6.4) trains on
   * the true class's log p(x|y). The NLLs reported in events (and the non-finite rule) use it.
   */
  inlierLogP?: (output: LogProbOutput, labels: tf.Tensor | undefined) => tf.Tensor1D;
}

/** Periodic checkpoints. One directory, replaced atomically at each save; also saved at the end and on abort. */
export interface TrainerCheckpointOptions {
  dir: string;
  everySteps?: number;
  everyEpochs?: number;
  metadata?: CheckpointMetadata;
  /**
   * Awaited before each save, with the state about to be saved: files that must never lag the
   * checkpoint (a run's training curves) are written here, so a crash after the save cannot
   * leave them behind it (a resume cuts what runs ahead of the checkpoint).
   */
  beforeSave?: (state: TrainingState) => Promise<void>;
  /**
   * Where to keep the model after each completed epoch (1 for the first), weights and training
   * state without the optimizer state, so a run's convergence can be evaluated epoch by epoch.
   * Written after the epoch's evaluation and before its checkpoint: a crash in between repeats
   * the epoch's end on resume and writes the same weights again.
   */
  epochModelDir?: (epochsDone: number) => string;
}

/** What the trainer reports. */
export type TrainerEvent =
  | {
      type: 'step';
      step: number;
      epoch: number;
      batchInEpoch: number;
      /** Total loss: mean discrete NLL plus the extra terms (nats). */
      loss: number;
      /** Mean discrete NLL `−log p(x̃) + D ln 256` over the kept examples (nats). */
      nll: number;
      bitsPerDim: number;
      extraLosses: Record<string, number>;
      /** Examples used (after dropping) and dropped for a non-finite NLL. */
      examples: number;
      dropped: number;
      /** True when the update was skipped for a non-finite gradient (spec 6.1). */
      skipped: boolean;
      learningRate: number;
      imagesPerSecond: number;
      /** Estimated seconds to the end of the run; null until the epoch length is known. */
      etaSeconds: number | null;
    }
  | {
      type: 'epoch';
      epoch: number;
      step: number;
      meanLoss: number;
      meanBitsPerDim: number;
      seconds: number;
    }
  | { type: 'evaluation'; epoch: number; step: number; metrics: Record<string, number> }
  | {
      type: 'checkpoint';
      dir: string;
      step: number;
      epoch: number;
      /** 'epoch-model': the weights-only copy of {@link TrainerCheckpointOptions.epochModelDir}. */
      reason: 'steps' | 'epochs' | 'end' | 'abort' | 'epoch-model';
    };

/** Settings of a {@link Trainer}. */
export interface TrainerOptions {
  /** Number of passes over the training stream. */
  epochs: number;
  /** Run seed; each epoch's data seed derives from it ({@link passSeed}). Default 20200610. */
  seed?: number;
  /** Adamax hyper-parameters (defaults: spec 6.1), or an optimizer to use. */
  optimizer?: AdamaxOptions | Adamax;
  /** Batches per epoch, if known in advance: gives an ETA from the first step. */
  stepsPerEpoch?: number;
  /**
   * Called at the start of a fresh run (see `evaluateAtStart`) and after every epoch, e.g. the
   * mean bits/dim on held-out data (see `meanBitsPerDim`).
   */
  evaluate?: (ctx: {
    model: TrainableModel;
    epoch: number;
    step: number;
  }) => Record<string, number> | Promise<Record<string, number>>;
  /** Evaluate before the first step of a fresh run, as the reference code does. Default true. */
  evaluateAtStart?: boolean;
  onEvent?: (event: TrainerEvent) => void;
  /** Stops after the current step; with `checkpoint`, saves first. */
  signal?: AbortSignal;
  checkpoint?: TrainerCheckpointOptions;
  fineTune?: FineTuneOptions;
  /**
   * Drop-and-recompute threshold of spec 6.1: when some NLLs are not finite but MORE than this
   * fraction of the batch is finite, the non-finite examples are dropped and the step is
   * recomputed on the rest; otherwise the step proceeds and the gradient check decides. 0.25.
   */
  minFiniteFraction?: number;
  /**
   * Divergence stop: after this many consecutive steps skipped for a non-finite gradient,
   * {@link Trainer.fit} throws a {@link TrainingDivergedError} (no checkpoint is written then;
   * the last one stays). Default {@link DEFAULT_MAX_CONSECUTIVE_SKIPPED_STEPS}.
   */
  maxConsecutiveSkippedSteps?: number;
  /**
   * How the backward pass gets its activations. `'autodiff'` (default, the reference): the
   * gradient tape keeps every activation of the forward pass, so memory grows with the number
   * of flow steps. `'reversible'`: the forward pass keeps only each scale's output and latents;
   * the backward pass recomputes each flow step's input from its output with the inverse and
   * differentiates one step at a time, so activation memory does not grow with the depth (the
   * same gradients within float32 rounding, about one more forward pass of compute). Needs a
   * model with `reversibleForward` (every model built on a `ScaleStack`).
   */
  memory?: TrainingMemory;
}

/** The values of {@link TrainerOptions.memory}. */
export const TRAINING_MEMORY_MODES = ['autodiff', 'reversible'] as const;
export type TrainingMemory = (typeof TRAINING_MEMORY_MODES)[number];

/**
 * Default of {@link TrainerOptions.maxConsecutiveSkippedSteps}: isolated skipped steps are part
 * of normal Glow training (spec 6.1); twenty in a row means the run has diverged.
 */
export const DEFAULT_MAX_CONSECUTIVE_SKIPPED_STEPS = 20;

/** How a {@link Trainer.fit} call ended. */
export interface FitResult {
  reason: 'finished' | 'aborted';
  state: TrainingState;
  /** Per-epoch summaries and evaluations of this call. */
  history: Array<Extract<TrainerEvent, { type: 'epoch' | 'evaluation' }>>;
}

/** What one step did (also emitted as a `step` event). */
export type StepReport = Omit<
  Extract<TrainerEvent, { type: 'step' }>,
  'type' | 'imagesPerSecond' | 'etaSeconds' | 'step' | 'epoch' | 'batchInEpoch'
>;

const LN_256 = Math.log(256);

/**
 * Trains a model by maximum likelihood as in spec 6: loss = mean discrete NLL
 * `−log p(x̃) + D ln 256` (plus optional extra terms), Adamax with weight decay added to the
 * gradient, a step skipped when any gradient is not finite, and non-finite examples dropped and
 * the step recomputed when more than a quarter of the batch is finite. Separate from the model:
 * it needs only the {@link TrainableModel} interface.
 *
 * Runs are reproducible: the data of each epoch derives from the seed, and a run resumed from a
 * checkpoint (see {@link Trainer.restore}) continues with the same batches and the same losses.
 *
 * @example
 * const trainer = new Trainer(model, { epochs: 10, onEvent: (e) => console.log(e) });
 * await trainer.fit(({ epoch, seed }) => fashionMnistBatches({ epoch, seed, batchSize: 64 }));
 */
export class Trainer {
  readonly model: TrainableModel;
  readonly optimizer: Adamax;
  private readonly options: TrainerOptions;
  private trainingState: TrainingState;
  /** Trainable variables by checkpoint name, and tfjs variable name → checkpoint name. */
  private readonly names: NamedVariables;
  private readonly nameOf: Map<string, string>;
  /** Seconds per step, smoothed (for the ETA). */
  private secondsPerStep: number | null = null;
  private readonly memory: TrainingMemory;

  constructor(model: TrainableModel, options: TrainerOptions) {
    checkOptions(options);
    this.memory = options.memory ?? 'autodiff';
    if (
      this.memory === 'reversible' &&
      typeof (model as Partial<ReversibleModel>).reversibleForward !== 'function'
    ) {
      throw new ConfigError(
        "Trainer: memory 'reversible' needs a model with reversibleForward (the Glow models); this model has none, use memory 'autodiff'",
      );
    }
    this.model = model;
    this.options = options;
    this.optimizer =
      options.optimizer instanceof Adamax ? options.optimizer : new Adamax(options.optimizer ?? {});
    this.trainingState = initialTrainingState(options.seed ?? DEFAULT_SEED);
    const all = model.variables();
    this.names = Object.fromEntries(Object.entries(all).filter(([, v]) => v.trainable));
    this.nameOf = new Map(Object.entries(this.names).map(([n, v]) => [v.name, n]));
    const frozen = options.fineTune?.frozenModel;
    if (frozen) {
      const own = new Set(Object.values(all));
      if (Object.values(frozen.variables()).some((v) => own.has(v))) {
        throw new ConfigError(
          'Trainer: the frozen model shares variables with the trained model; load a separate copy',
        );
      }
    }
  }

  /** Where the run stands (a copy). */
  get state(): TrainingState {
    return { ...this.trainingState };
  }

  /**
   * Continues a run from a checkpoint's optimizer and training state (the model's weights are
   * loaded separately, e.g. by `restoreModel`). The caller keeps ownership of the tensors.
   * Fine-tuning from a saved model passes neither: it starts a fresh run and a fresh optimizer.
   */
  restore(saved: { optimizerState?: AdamaxState; trainingState?: TrainingState }): void {
    if (saved.optimizerState) this.optimizer.setState(saved.optimizerState, this.names);
    if (saved.trainingState) this.trainingState = { ...saved.trainingState };
  }

  /** Trains for the configured epochs (or what remains of them after {@link restore}). */
  async fit(data: DataStream): Promise<FitResult> {
    const o = this.options;
    const history: FitResult['history'] = [];
    const emit = (e: TrainerEvent) => {
      if (e.type === 'epoch' || e.type === 'evaluation') history.push(e);
      o.onEvent?.(e);
    };
    const state = this.trainingState;
    const cursor = new StreamCursor(data, state.seed, state.epoch, state.batchInEpoch);
    const auxiliary = o.fineTune?.auxiliary
      ? new StreamCursor(
          o.fineTune.auxiliary,
          auxiliarySeed(state.seed),
          state.auxiliaryPass,
          state.auxiliaryBatchInPass,
        )
      : null;
    let stepsPerEpoch = o.stepsPerEpoch ?? null;
    let stepsThisCall = 0;
    let skippedInARow = 0;
    const maxSkippedInARow = o.maxConsecutiveSkippedSteps ?? DEFAULT_MAX_CONSECUTIVE_SKIPPED_STEPS;
    const finish = async (reason: FitResult['reason']): Promise<FitResult> => {
      await cursor.close();
      await auxiliary?.close();
      if (reason === 'finished') state.finished = true;
      await this.saveIfConfigured(reason === 'finished' ? 'end' : 'abort', emit);
      return { reason, state: this.state, history };
    };

    try {
      const fresh = state.step === 0 && state.epoch === 0 && state.batchInEpoch === 0;
      if (fresh && (o.evaluateAtStart ?? true)) await this.runEvaluation(emit, -1);
      while (state.epoch < o.epochs) {
        if (o.signal?.aborted) return finish('aborted');
        const epochStart = performance.now();
        let lossSum = 0;
        let bpdSum = 0;
        let counted = 0;
        for (;;) {
          const batch = await cursor.next();
          if (!batch) break;
          state.batchInEpoch = cursor.batchInPass;
          const started = performance.now();
          let auxBatch: TrainingBatch | null = null;
          if (auxiliary) {
            auxBatch = await auxiliary.nextCycling();
            state.auxiliaryBatches += 1;
            state.auxiliaryPass = auxiliary.pass;
            state.auxiliaryBatchInPass = auxiliary.batchInPass;
          }
          const where = `batch ${state.batchInEpoch - 1} of epoch ${state.epoch}`;
          const report = this.trainStep(batch, auxBatch, where);
          state.step += 1;
          stepsThisCall += 1;
          if (report.skipped) state.skippedSteps += 1;
          skippedInARow = report.skipped ? skippedInARow + 1 : 0;
          const seconds = (performance.now() - started) / 1000;
          // The first step of a call includes kernel setup and heap growth: keep it out of the ETA.
          if (stepsThisCall > 1) this.trackSpeed(seconds);
          if (Number.isFinite(report.loss)) {
            lossSum += report.loss;
            bpdSum += report.bitsPerDim;
            counted += 1;
          }
          emit({
            type: 'step',
            step: state.step,
            epoch: state.epoch,
            batchInEpoch: state.batchInEpoch,
            ...report,
            imagesPerSecond: (report.examples + report.dropped) / Math.max(seconds, 1e-9),
            etaSeconds: this.eta(stepsPerEpoch),
          });
          if (skippedInARow >= maxSkippedInARow) {
            throw new TrainingDivergedError(
              `training diverged: steps ${state.step - skippedInARow + 1}-${state.step} (${skippedInARow} in a row) ` +
                `had a non-finite gradient and were skipped (loss ${report.loss}); stopped without saving, ` +
                `so the last checkpoint holds the last finite weights. Lower the learning rate ` +
                `(now ${this.optimizer.currentLearningRate()}) and start again`,
            );
          }
          if (o.checkpoint?.everySteps && state.step % o.checkpoint.everySteps === 0) {
            await this.saveIfConfigured('steps', emit);
          }
          if (o.signal?.aborted) return finish('aborted');
        }
        stepsPerEpoch ??= state.batchInEpoch;
        emit({
          type: 'epoch',
          epoch: state.epoch,
          step: state.step,
          meanLoss: counted ? lossSum / counted : Number.NaN,
          meanBitsPerDim: counted ? bpdSum / counted : Number.NaN,
          seconds: (performance.now() - epochStart) / 1000,
        });
        await cursor.nextPass();
        state.epoch = cursor.pass;
        state.batchInEpoch = 0;
        await this.runEvaluation(emit, state.epoch - 1);
        const epochModelDir = o.checkpoint?.epochModelDir?.(state.epoch);
        if (epochModelDir) {
          await saveCheckpoint(epochModelDir, {
            model: this.model,
            trainingState: this.state,
            metadata: this.checkpointMetadata(),
          });
          emit({
            type: 'checkpoint',
            dir: epochModelDir,
            step: state.step,
            epoch: state.epoch,
            reason: 'epoch-model',
          });
        }
        const everyEpochs = o.checkpoint?.everyEpochs;
        if (everyEpochs && state.epoch % everyEpochs === 0 && state.epoch < o.epochs) {
          await this.saveIfConfigured('epochs', emit);
        }
      }
      return finish('finished');
    } finally {
      // On an exception, let the streams' generators run their clean-up.
      await cursor.close();
      await auxiliary?.close();
    }
  }

  /**
   * One training step on one batch (with an optional auxiliary batch): forward, backward,
   * non-finite handling (spec 6.1), update. Takes ownership of tensors in the batches. Public
   * for custom loops; {@link fit} is the usual entry point.
   */
  trainStep(
    batch: TrainingBatch,
    auxiliaryBatch: TrainingBatch | null = null,
    where = 'batch',
  ): StepReport {
    const fine = this.options.fineTune;
    const minFinite = this.options.minFiniteFraction ?? 0.25;
    const owned: tf.Tensor[] = [];
    const own = <T extends tf.Tensor>(t: T): T => {
      owned.push(t);
      return t;
    };
    try {
      let x = own(batchImages(batch, where));
      const rawLabels = batchLabels(batch, where);
      let labels = rawLabels ? own(rawLabels) : undefined;
      this.checkDims(x, where);
      const frozen = fine?.frozenModel;
      let frozenMain: LogProbOutput | undefined;
      if (frozen && fine?.frozenOnTrainingBatch) {
        frozenMain = detachedOutput(frozen, x);
        owned.push(...outputTensors(frozenMain));
      }
      let aux: AuxiliaryInputs | undefined;
      if (auxiliaryBatch) {
        const ax = own(batchImages(auxiliaryBatch, 'auxiliary batch'));
        this.checkDims(ax, 'auxiliary batch');
        const al = batchLabels(auxiliaryBatch, 'auxiliary batch');
        aux = { x: ax };
        if (al) aux.labels = own(al);
        if (frozen) {
          aux.frozen = detachedOutput(frozen, ax);
          owned.push(...outputTensors(aux.frozen));
        }
      }
      const total = x.shape[0];
      // The frozen model's verdict counts too: an example it cannot score would make the
      // extra terms non-finite, so it is dropped under the same rule.
      let frozenOk = frozenMain ? Array.from(frozenMain.logP.dataSync(), Number.isFinite) : null;
      for (let attempt = 1; ; attempt++) {
        const result = this.lossAndGrads(x, labels, frozenMain, aux);
        const ok = result.nll.map((v, i) => Number.isFinite(v) && (frozenOk?.[i] ?? true));
        const finite = ok.filter(Boolean).length;
        const n = ok.length;
        // Spec 6.1: with some NLLs non-finite but more than a quarter finite, drop the
        // non-finite examples (and their labels) and recompute on the rest. Per-example
        // log-densities do not depend on the other examples, so one round normally suffices.
        if (finite === n || finite <= minFinite * n || attempt > 3) {
          return this.finishStep(result, total - n, n);
        }
        tf.dispose(Object.values(result.grads));
        const keepIndices = ok.flatMap((good, i) => (good ? [i] : []));
        const keep = own(tf.tensor1d(keepIndices, 'int32'));
        x = own(tf.gather(x, keep) as tf.Tensor4D);
        if (labels) labels = own(tf.gather(labels, keep));
        if (frozenMain) {
          frozenMain = gatherOutput(frozenMain, keep);
          owned.push(...outputTensors(frozenMain));
          frozenOk = keepIndices.map(() => true);
        }
      }
    } finally {
      tf.dispose(owned);
      disposeBatch(batch);
      if (auxiliaryBatch) disposeBatch(auxiliaryBatch);
    }
  }

  /**
   * The loss and its gradients on one batch (with an optional auxiliary batch), as the next
   * {@link trainStep} would compute them with this trainer's `memory` mode, without updating
   * anything and without the non-finite handling: for tests and analysis. The caller owns the
   * gradients (by checkpoint name); the batches' tensors are taken over.
   */
  gradients(
    batch: TrainingBatch,
    auxiliaryBatch: TrainingBatch | null = null,
  ): { loss: number; nll: number[]; grads: Record<string, tf.Tensor> } {
    const fine = this.options.fineTune;
    const owned: tf.Tensor[] = [];
    try {
      const x = batchImages(batch, 'batch');
      owned.push(x);
      const labels = batchLabels(batch, 'batch');
      if (labels) owned.push(labels);
      let frozenMain: LogProbOutput | undefined;
      if (fine?.frozenModel && fine.frozenOnTrainingBatch) {
        frozenMain = detachedOutput(fine.frozenModel, x);
        owned.push(...outputTensors(frozenMain));
      }
      let aux: AuxiliaryInputs | undefined;
      if (auxiliaryBatch) {
        aux = { x: batchImages(auxiliaryBatch, 'auxiliary batch') };
        owned.push(aux.x);
        const al = batchLabels(auxiliaryBatch, 'auxiliary batch');
        if (al) {
          aux.labels = al;
          owned.push(al);
        }
        if (fine?.frozenModel) {
          aux.frozen = detachedOutput(fine.frozenModel, aux.x);
          owned.push(...outputTensors(aux.frozen));
        }
      }
      const { loss, nll, grads } = this.lossAndGrads(x, labels, frozenMain, aux);
      return { loss, nll, grads };
    } finally {
      tf.dispose(owned);
      disposeBatch(batch);
      if (auxiliaryBatch) disposeBatch(auxiliaryBatch);
    }
  }

  /** Forward + backward: per-example NLLs, the loss terms, and the gradients by variable name. */
  private lossAndGrads(
    x: tf.Tensor4D,
    labels: tf.Tensor | undefined,
    frozenMain: LogProbOutput | undefined,
    aux: AuxiliaryInputs | undefined,
  ): StepValues {
    const kept: KeptLossTerms = {};
    let value: tf.Scalar;
    let grads: Record<string, tf.Tensor>;
    if (this.memory === 'reversible') {
      ({ value, grads } = this.reversibleGrads(x, labels, frozenMain, aux, kept));
    } else {
      ({ value, grads } = tf.variableGrads(
        () =>
          this.loss(
            x,
            labels,
            frozenMain,
            aux,
            () => this.model.logProb(x),
            (ax) => this.model.logProb(ax),
            kept,
          ),
        Object.values(this.names),
      ));
    }
    const named: Record<string, tf.Tensor> = {};
    for (const [tfName, g] of Object.entries(grads)) {
      const name = this.nameOf.get(tfName);
      if (name === undefined) g.dispose();
      else named[name] = g;
    }
    const nll = Array.from(kept.nll!.dataSync());
    const terms = Array.from(kept.terms!.dataSync());
    const loss = value.dataSync()[0]!;
    tf.dispose([value, kept.nll!, kept.terms!]);
    const extras = this.options.fineTune?.extraLosses ?? [];
    const extra = Object.fromEntries(extras.map((l, i) => [l.name, terms[i + 1]!]));
    return { nll, loss, nllMean: terms[0]!, extra, grads: named };
  }

  /**
   * The gradients of {@link loss} by reversible backprop (`memory: 'reversible'`): the flow runs
   * outside the tape keeping only its per-scale terms (on the auxiliary batch too, when there
   * is one), the loss head is differentiated with respect to those terms and the head's own
   * variables, then each pass walks back through the flow (see `ScaleStack.backward`).
   */
  private reversibleGrads(
    x: tf.Tensor4D,
    labels: tf.Tensor | undefined,
    frozenMain: LogProbOutput | undefined,
    aux: AuxiliaryInputs | undefined,
    kept: KeptLossTerms,
  ): { value: tf.Scalar; grads: VariableGradients } {
    const forward = (this.model as ReversibleModel).reversibleForward.bind(this.model);
    const main = forward(x);
    let auxPass: ReversibleForward | null = null;
    try {
      // Computed up front: the losses read it lazily, but inside the tape the flow would keep
      // its activations.
      auxPass = aux ? forward(aux.x) : null;
      const leaves = [...main.leaves, ...(auxPass?.leaves ?? [])];
      const variables = Object.values(this.names);
      const { value, grads } = tf.engine().gradients(
        () =>
          this.loss(
            x,
            labels,
            frozenMain,
            aux,
            () => main.output(),
            () => auxPass!.output(),
            kept,
          ),
        [...leaves, ...variables],
        undefined,
        true,
      );
      const into: VariableGradients = {};
      variables.forEach((v, i) => {
        const g = grads[leaves.length + i];
        if (g) accumulateGradient(into, v.name, g);
      });
      const leafGradients = grads.slice(0, leaves.length);
      main.backward(leafGradients.slice(0, main.leaves.length), into);
      auxPass?.backward(leafGradients.slice(main.leaves.length), into);
      tf.dispose(leafGradients.filter((g): g is tf.Tensor => g !== undefined));
      return { value: value as tf.Scalar, grads: into };
    } finally {
      main.dispose();
      auxPass?.dispose();
    }
  }

  /**
   * The step's loss, mean NLL plus the extra terms, from the model's output on the batch
   * (`output`) and, for the auxiliary batch, `auxOutput` (called at most once, lazily). Keeps the
   * per-example NLLs and the terms in `kept`. Runs under a gradient tape.
   */
  private loss(
    x: tf.Tensor4D,
    labels: tf.Tensor | undefined,
    frozenMain: LogProbOutput | undefined,
    aux: AuxiliaryInputs | undefined,
    output: () => LogProbOutput,
    auxOutput: (ax: tf.Tensor4D) => LogProbOutput,
    kept: KeptLossTerms,
  ): tf.Scalar {
    const extras = this.options.fineTune?.extraLosses ?? [];
    const inlierLogP = this.options.fineTune?.inlierLogP;
    const D = this.model.numDims;
    const out = output();
    const logP = out.logP;
    const nll = tf.sub(D * LN_256, inlierLogP ? inlierLogP(out, labels) : logP);
    const nllMean = tf.mean(nll) as tf.Scalar;
    const ctx: ExtraLossContext = {
      model: this.model,
      x,
      logP,
      output: out,
      step: this.trainingState.step,
      epoch: this.trainingState.epoch,
    };
    if (labels) ctx.labels = labels;
    if (frozenMain) ctx.frozen = frozenMain;
    if (aux) {
      let auxResult: LogProbOutput | null = null;
      ctx.auxiliary = {
        ...aux,
        logProb: () => {
          auxResult ??= auxOutput(aux.x);
          return auxResult;
        },
      };
    }
    const extraValues = extras.map((l) => l.compute(ctx));
    kept.nll = tf.keep(nll);
    kept.terms = tf.keep(tf.stack([nllMean, ...extraValues]));
    return extraValues.reduce<tf.Scalar>((acc, t) => tf.add(acc, t), nllMean);
  }

  /** Applies the update unless a gradient is not finite (spec 6.1), then frees the gradients. */
  private finishStep(result: StepValues, dropped: number, examples: number): StepReport {
    const grads = Object.values(result.grads);
    const finite = allFinite(grads);
    const learningRate = this.optimizer.currentLearningRate();
    // A skipped step leaves weights AND optimizer state untouched, as zeroing the gradients
    // without calling optimizer.step() does in PyTorch.
    if (finite) this.optimizer.applyGradients(this.names, result.grads);
    tf.dispose(grads);
    return {
      loss: result.loss,
      nll: result.nllMean,
      bitsPerDim: result.nllMean / (this.model.numDims * Math.LN2),
      extraLosses: result.extra,
      examples,
      dropped,
      skipped: !finite,
      learningRate,
    };
  }

  private checkDims(x: tf.Tensor4D, where: string): void {
    const [, h, w, c] = x.shape;
    if (h * w * c !== this.model.numDims) {
      throw new ConfigError(
        `${where}: images of ${h}x${w}x${c} = ${h * w * c} dimensions, but the model has ${this.model.numDims}`,
      );
    }
  }

  private trackSpeed(seconds: number): void {
    this.secondsPerStep =
      this.secondsPerStep === null ? seconds : 0.9 * this.secondsPerStep + 0.1 * seconds;
  }

  private eta(stepsPerEpoch: number | null): number | null {
    if (stepsPerEpoch === null || this.secondsPerStep === null) return null;
    const { epoch, batchInEpoch } = this.trainingState;
    const remaining = Math.max(0, (this.options.epochs - epoch) * stepsPerEpoch - batchInEpoch);
    return remaining * this.secondsPerStep;
  }

  private async runEvaluation(emit: (e: TrainerEvent) => void, epoch: number): Promise<void> {
    if (!this.options.evaluate) return;
    const step = this.trainingState.step;
    const metrics = await this.options.evaluate({ model: this.model, epoch, step });
    emit({ type: 'evaluation', epoch, step, metrics });
  }

  private async saveIfConfigured(
    reason: Extract<TrainerEvent, { type: 'checkpoint' }>['reason'],
    emit: (e: TrainerEvent) => void,
  ): Promise<void> {
    const c = this.options.checkpoint;
    if (!c) return;
    const trainingState = this.state;
    await c.beforeSave?.(trainingState);
    await saveCheckpoint(c.dir, {
      model: this.model,
      optimizer: this.optimizer,
      trainingState,
      metadata: this.checkpointMetadata(),
    });
    const { step, epoch } = trainingState;
    emit({ type: 'checkpoint', dir: c.dir, step, epoch, reason });
  }

  /** The caller's checkpoint metadata plus how this trainer trains. */
  private checkpointMetadata(): CheckpointMetadata {
    const c = this.options.checkpoint;
    return {
      ...c?.metadata,
      training: {
        ...c?.metadata?.training,
        epochs: this.options.epochs,
        optimizer: { name: 'adamax', ...this.optimizer.options },
        minFiniteFraction: this.options.minFiniteFraction ?? 0.25,
        memory: this.memory,
        extraLosses: this.options.fineTune?.extraLosses.map((l) => l.name) ?? [],
      },
    };
  }
}

/** The auxiliary batch of a step, with the frozen model's detached output on it. */
interface AuxiliaryInputs {
  x: tf.Tensor4D;
  labels?: tf.Tensor;
  frozen?: LogProbOutput;
}

/** What {@link Trainer.loss} keeps for the step report. */
interface KeptLossTerms {
  nll?: tf.Tensor;
  terms?: tf.Tensor;
}

/** A model that can run the reversible pass (`memory: 'reversible'`). */
type ReversibleModel = TrainableModel & {
  reversibleForward(x: tf.Tensor4D): ReversibleForward;
};

/** Values of one forward + backward pass. */
interface StepValues {
  nll: number[];
  loss: number;
  nllMean: number;
  extra: Record<string, number>;
  grads: Record<string, tf.Tensor>;
}

/** The auxiliary stream gets its own seed family, so its batches differ from the training stream's. */
function auxiliarySeed(seed: number): number {
  return (seed ^ 0x5bd1e995) >>> 0;
}

/** The frozen model's output on `x`, computed outside any gradient tape (so detached) and kept. */
function detachedOutput(model: TrainableModel, x: tf.Tensor4D): LogProbOutput {
  return tf.tidy(() => {
    const out = model.logProb(x);
    const kept: LogProbOutput = { logP: tf.keep(out.logP) };
    if (out.perScale) kept.perScale = out.perScale.map((t) => tf.keep(t));
    if (out.bitsPerDim) kept.bitsPerDim = tf.keep(out.bitsPerDim);
    return kept as unknown as tf.TensorContainer;
  }) as unknown as LogProbOutput;
}

function gatherOutput(out: LogProbOutput, keep: tf.Tensor1D): LogProbOutput {
  const g = (t: tf.Tensor1D) => tf.gather(t, keep) as tf.Tensor1D;
  const result: LogProbOutput = { logP: g(out.logP) };
  if (out.perScale) result.perScale = out.perScale.map(g);
  if (out.bitsPerDim) result.bitsPerDim = g(out.bitsPerDim);
  return result;
}

function outputTensors(out: LogProbOutput): tf.Tensor[] {
  return [out.logP, ...(out.perScale ?? []), ...(out.bitsPerDim ? [out.bitsPerDim] : [])];
}

function checkOptions(o: TrainerOptions): void {
  if (!(Number.isInteger(o.epochs) && o.epochs >= 0)) {
    throw new ConfigError(`Trainer: 'epochs' must be an integer >= 0, got ${o.epochs}`);
  }
  if (o.seed !== undefined && !Number.isInteger(o.seed)) {
    throw new ConfigError(`Trainer: 'seed' must be an integer, got ${o.seed}`);
  }
  const m = o.maxConsecutiveSkippedSteps;
  if (m !== undefined && !(Number.isInteger(m) && m >= 1)) {
    throw new ConfigError(
      `Trainer: 'maxConsecutiveSkippedSteps' must be an integer >= 1, got ${m}`,
    );
  }
  if (o.memory !== undefined && !TRAINING_MEMORY_MODES.includes(o.memory)) {
    throw new ConfigError(
      `Trainer: 'memory' must be one of ${TRAINING_MEMORY_MODES.join(', ')}, got ${String(o.memory)}`,
    );
  }
  const f = o.minFiniteFraction;
  if (f !== undefined && !(f >= 0 && f < 1)) {
    throw new ConfigError(`Trainer: 'minFiniteFraction' must be in [0, 1), got ${f}`);
  }
  for (const key of ['everySteps', 'everyEpochs'] as const) {
    const v = o.checkpoint?.[key];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
      throw new ConfigError(`Trainer: 'checkpoint.${key}' must be an integer > 0, got ${v}`);
    }
  }
  if (o.fineTune?.frozenOnTrainingBatch && !o.fineTune.frozenModel) {
    throw new ConfigError("Trainer: 'fineTune.frozenOnTrainingBatch' needs 'fineTune.frozenModel'");
  }
}
