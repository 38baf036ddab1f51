import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHECKPOINT_FILES } from '@hierglow/glow';
import type { Command } from '../command.js';
import { comparisonTable } from '../report/comparison.js';
import type { MetricsFile } from '../report/metrics.js';
import { stringFlag } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';
import { evaluateFromFlags } from './evaluate.js';

/** The bundled demo: committed checkpoints and a small sample of in- and out-of-distribution images. */
export const DEMO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'demo');

/** What the demo needs, relative to {@link DEMO_DIR}. */
export const DEMO_FILES = {
  general: 'models/general',
  models: ['models/fashion', 'models/fashion-outlier'],
  inData: 'data/fashion-mnist.hgds',
  ood: ['mnist', 'photos', 'noise', 'constant'].map((s) => `data/${s}.hgds`),
} as const;

function requireFile(path: string, what: string): void {
  if (!existsSync(path)) {
    throw new UsageError(
      `demo: ${relative(process.cwd(), path) || path} is missing (${what}); see packages/cli/demo/README.md for how it is made`,
      1,
    );
  }
}

/** `hierglow demo`: the README's main command, on the bundled models and images. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'evaluate the bundled Fashion-MNIST models on bundled OOD images: AUROC table + report',
  usage: 'hierglow demo [--out DIR]',
  options: { out: { type: 'string' }, demo: { type: 'string' } },
  help: [
    '  --out DIR                 reports go to DIR/<model>/report.html (default hierglow-demo)',
    '  --demo DIR                another folder laid out like packages/cli/demo',
    '',
    'Scores a few hundred bundled Fashion-MNIST test images and OOD images (real MNIST digits,',
    'photo crops, noise, constant images) with the committed checkpoints: a general Glow',
    "trained on a broad general set mixed with images rendered in Fashion-MNIST's style, and",
    'Fashion-MNIST Glows fine-tuned from it without and with the outlier loss. Prints the',
    'AUROC table; no download, no training.',
  ],
  async run({ values }, io) {
    const root = resolve(stringFlag(values, 'demo', DEMO_DIR));
    const out = stringFlag(values, 'out', 'hierglow-demo');
    const general = join(root, DEMO_FILES.general);
    requireFile(join(general, CHECKPOINT_FILES.config), 'the general model checkpoint');
    const models = DEMO_FILES.models.map((m) => join(root, m));
    requireFile(
      join(models[0]!, CHECKPOINT_FILES.config),
      'the fine-tuned Fashion-MNIST checkpoint',
    );
    for (const f of [DEMO_FILES.inData, ...DEMO_FILES.ood])
      requireFile(join(root, f), 'bundled images');
    const results: { name: string; metrics: MetricsFile }[] = [];
    const started = performance.now();
    for (const model of models) {
      if (!existsSync(join(model, CHECKPOINT_FILES.config))) continue;
      const name = model.split(/[/\\]/).pop()!;
      const metrics = await evaluateFromFlags(
        {
          model,
          general,
          in: `fashion-mnist=${join(root, DEMO_FILES.inData)}`,
          ood: DEMO_FILES.ood.map((f) => join(root, f)),
          out: join(out, name),
          samples: '32',
        },
        io,
      );
      results.push({ name, metrics });
    }
    const table = comparisonTable(results);
    await writeFileAtomic(join(out, 'results.md'), table);
    io.out(table);
    io.err(
      `demo finished in ${((performance.now() - started) / 1000).toFixed(1)} s; reports: ${results.map((r) => join(out, r.name, 'report.html')).join(', ')}`,
    );
    return 0;
  },
};
