import { ADAMAX_DEFAULTS, MODEL_DEFAULTS } from '@hierglow/glow';
import type { Command } from '../command.js';
import { TRAINING_DEFAULTS as D } from '../training/defaults.js';
import { trainingCommand } from '../training/run-training.js';
import {
  COMMON_TRAINING_OPTIONS,
  DEFAULT_RUN_SEED,
  FINETUNE_OPTIONS,
  MODEL_OPTIONS,
} from '../training/settings.js';

const GLOW = MODEL_DEFAULTS.glow;

const RUN_FOLDER_HELP = [
  'The run folder (--out) receives config.json (resolved settings), log.txt, history.json',
  '(per-step loss/bpd, per-epoch evaluation), checkpoint/ (latest: every --checkpoint-every',
  'steps, every epoch, on Ctrl-C) and final/ (the finished model). Ctrl-C saves and exits 130;',
  'the same command with --resume continues exactly where it stopped, also after a crash or',
  'a kill (a checkpoint save cut short is rolled back to the previous checkpoint).',
];

const COMMON_HELP = [
  'Data and run:',
  '  --data NAME|PATH          catalogue name (fashion-mnist, ...) or dataset path (.hgds, IDX, ...)',
  '  --split NAME              split of --data (default train)',
  '  --limit N                 use only a seeded random subset of N images (the same every run)',
  "  --perturb μ               Ren et al.'s background model: replace each value by a uniform",
  '                            8-bit level with probability μ (e.g. 0.2; default 0 = off)',
  '  --augment MODE            auto | translate-flip | translate | none (default auto: spec 2.2,',
  '                            ±10% shifts; flips except for IDX/SVHN data)',
  '  --out RUN_DIR             the run folder (required)',
  '  --resume                  continue the run in RUN_DIR from its latest checkpoint',
  `  --epochs N                (default ${D.epochs}; with --resume, a larger N extends a finished run)`,
  `  --batch-size N            (default ${D.batchSize})`,
  `  --lr X                    Adamax learning rate (default ${ADAMAX_DEFAULTS.learningRate})`,
  `  --weight-decay X          added to the gradient, PyTorch style (default ${ADAMAX_DEFAULTS.weightDecay})`,
  `  --seed N                  data order, augmentation and initialisation (default ${DEFAULT_RUN_SEED})`,
  `  --checkpoint-every N      steps between checkpoints (default ${D.checkpointEvery}; also every epoch)`,
  '  --keep-epochs             keep the model after every epoch (weights only) in RUN_DIR/epochs/N/',
  '  --max-skipped-steps N     stop as diverged after N steps in a row with a non-finite',
  '                            gradient (default 20); the last checkpoint is kept',
  '  --memory autodiff|reversible  backward pass: autodiff keeps every activation (default);',
  '                            reversible recomputes each flow step from its output, so memory',
  '                            does not grow with the steps (same gradients, ~1 more forward)',
  '  --eval-data NAME|PATH     held-out data for the per-epoch bits/dim (default: the test',
  '                            split of a catalogue --data, or test/validation.hgds beside',
  '                            a folder --data)',
  `  --eval-split NAME         (default test)   --eval-images N (default ${D.evalImages})`,
  `  --eval-batch-size N       (default ${D.evalBatchSize})    --no-eval: skip the per-epoch evaluation`,
];

/** `hierglow train`: a model from scratch with data-dependent initialisation (spec 3.6, 6.2). */
export const trainCommand: Command = {
  name: 'train',
  summary: 'train a Glow from scratch (data-dependent init, Adamax, resumable)',
  usage: 'hierglow train --data NAME|PATH --out RUN_DIR [options]',
  options: { ...COMMON_TRAINING_OPTIONS, ...MODEL_OPTIONS },
  help: [
    ...COMMON_HELP,
    'Model:',
    '  --model KIND              glow | patch-glow | dense-glow (default glow)',
    `  --size N                  model input side; data is resized to it (default ${D.size})`,
    "  --channels 1|3            default: the data's; 1 turns RGB data grey",
    `  --levels L                scales (default ${GLOW.levels})`,
    `  --steps-per-level K       flow steps per scale (default ${GLOW.stepsPerLevel}; dense-glow ${MODEL_DEFAULTS['dense-glow'].stepsPerLevel})`,
    `  --hidden N                coupling-network width (default ${GLOW.hidden})`,
    '  --coupling affine|additive  --permutation lu|fixed|shuffle|reverse',
    `  --patch-size N            patch-glow only (default ${MODEL_DEFAULTS['patch-glow'].patchSize})`,
    `  --init-images N           images of the data-dependent initialisation (default ${D.initImages})`,
    '',
    ...RUN_FOLDER_HELP,
  ],
  run: ({ values }, io) => trainingCommand('train', values, io),
};

/** `hierglow finetune`: continue from a checkpoint, optionally with the outlier loss (spec 6.3). */
export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'fine-tune a checkpoint on new data, optionally with the outlier loss',
  usage: 'hierglow finetune --from CKPT_DIR --data NAME|PATH --out RUN_DIR [options]',
  options: { ...COMMON_TRAINING_OPTIONS, ...FINETUNE_OPTIONS },
  help: [
    '  --from CKPT_DIR           checkpoint or run folder to start from (weights copied, fresh',
    '                            optimizer, no re-initialisation)',
    ...COMMON_HELP,
    'Outlier loss (spec 6.3):',
    '  --outlier-data NAME|PATH  outliers, e.g. the general set: one fresh batch per step',
    '  --outlier-split NAME      (default train)  --outlier-augment MODE (default auto)',
    '  --outlier-loss class|margin  class (default): λ·softplus((log p_in − log p_gen)/T);',
    '                            margin: ReLU(D + NLL(x_in) − NLL(x_out)), no general model',
    `  --outlier-weight λ        > 0 (default ${D.lossWeight})   --outlier-temperature T (default ${D.lossTemperature})`,
    '  --general CKPT_DIR        the frozen general model p_gen (default: --from)',
    'Supervised variant (spec 6.4; --data must have labels):',
    '  --supervised              class-conditional Glow: one Gaussian per class and scale on the',
    "                            --from model's prior ActNorms; trains the true-class NLL, the",
    '                            wrong-class loss against --general and, with --outlier-data,',
    '                            the outlier loss on the class mixture',
    `  --wrong-class-weight λ    > 0 (default ${D.lossWeight})   --wrong-class-temperature T (default ${D.lossTemperature})`,
    '',
    ...RUN_FOLDER_HELP,
  ],
  run: ({ values }, io) => trainingCommand('finetune', values, io),
};
