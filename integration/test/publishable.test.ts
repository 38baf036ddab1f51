import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const published = [
  'random',
  'flow-layers',
  'backend-wasm',
  'glow',
  'anomaly-metrics',
  'datasets',
  'cli',
];

function npm(args: string[], cwd = root): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('each package is publishable on its own', () => {
  for (const name of published) {
    it(`@hierglow/${name}: npm pack lists only build output, README, licence and package.json`, () => {
      const [report] = JSON.parse(
        npm(['pack', '--dry-run', '--json', '-w', `@hierglow/${name}`]),
      ) as [{ files: { path: string }[] }];
      const paths = report.files.map((f) => f.path).sort();
      // Build output with its source maps, and the TypeScript sources the maps point at.
      const allowed =
        /^(dist\/.+\.(js|d\.ts|js\.map|d\.ts\.map)|src\/.+\.ts|README\.md|LICENSE|package\.json)$/;
      // The CLI also ships the embedded default of `hierglow demo` (images and checkpoints:
      // weights, config and training state, no training history) and the glyph renderer
      // `hierglow data build-ood` runs with Debian's python3-pil; not the script that builds the
      // demo data.
      const demo =
        /^demo\/(README\.md|data\/[\w-]+\.hgds|models\/[\w-]+\/(config\.json|model\.safetensors|training-state\.json))$/;
      // The wasm runtime ships the C source of its compiled SIMD kernels.
      const ok = (p: string) =>
        allowed.test(p) ||
        (name === 'cli' && (demo.test(p) || p === 'scripts/render-digits.py')) ||
        (name === 'backend-wasm' && /^csrc\/[\w-]+\.c$/.test(p));
      expect(paths.filter((p) => !ok(p))).toEqual([]);
      expect(paths.filter((p) => /\.test\.|test-support/.test(p))).toEqual([]);
      expect(paths).toContain('README.md');
      expect(paths).toContain('LICENSE');
      expect(paths).toContain('dist/index.js');
      expect(paths).toContain('src/index.ts');
    });

    it(`@hierglow/${name}: package.json says where the code and its issues live`, () => {
      const pkg = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'));
      const repo = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).repository;
      expect(pkg.repository).toEqual({ ...repo, directory: `packages/${name}` });
      const web = repo.url.replace(/^git\+/, '').replace(/\.git$/, '');
      expect(pkg.homepage).toBe(`${web}/tree/main/packages/${name}#readme`);
      expect(pkg.bugs).toEqual({ url: `${web}/issues` });
      // Every subpath export resolves its types under moduleResolution node10 too.
      const subpaths = Object.keys(pkg.exports).filter((k) => k !== '.' && k !== './package.json');
      for (const sub of subpaths) {
        expect(pkg.typesVersions?.['*']?.[sub.slice(2)]).toEqual([pkg.exports[sub].types]);
      }
    });
  }

  it('the demo checkpoints the CLI ships hold no absolute paths of the machine that trained them', () => {
    const models = join(root, 'packages', 'cli', 'demo', 'models');
    for (const model of readdirSync(models)) {
      const config = readFileSync(join(models, model, 'config.json'), 'utf8');
      expect(config, model).not.toMatch(/"\/(work|home|root|tmp|Users)\//);
    }
  });

  const work = mkdtempSync(join(tmpdir(), 'hierglow-standalone-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** Packs the workspaces `names` and installs them, with `extra` registry packages, in a new app. */
  function installApp(folder: string, names: string[], extra: string[]): string {
    const packs = join(work, `${folder}-packs`);
    execFileSync('mkdir', ['-p', packs]);
    for (const name of names) npm(['pack', '-w', `@hierglow/${name}`, '--pack-destination', packs]);
    const tarballs = readdirSync(packs).filter((f) => f.endsWith('.tgz'));
    expect(tarballs).toHaveLength(names.length);
    const app = join(work, folder);
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: folder, private: true, type: 'module' }),
    );
    // The npm cache holds every package after `npm ci`, so this works without the network.
    npm(
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        ...tarballs.map((t) => join(packs, t)),
        ...extra,
      ],
      app,
    );
    return app;
  }

  function runApp(app: string, script: string): Record<string, unknown> {
    writeFileSync(join(app, 'main.mjs'), script);
    return JSON.parse(
      execFileSync('node', ['main.mjs'], { cwd: app, encoding: 'utf8' }).trim().split('\n').pop()!,
    );
  }

  it('a project that installs only @hierglow/flow-layers trains a flow under plain node (plain ops, cpu)', () => {
    const app = installApp(
      'bijectors-only',
      ['random', 'flow-layers'],
      ['@tensorflow/tfjs-core@4.22.0', '@tensorflow/tfjs-backend-cpu@4.22.0'],
    );
    const out = runApp(
      app,
      `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as fl from '@hierglow/flow-layers';
await tf.setBackend('cpu');
const flow = new fl.Chain([
  new fl.ActNorm({ shape: [4] }),
  new fl.InvConv1x1({ channels: 4, seed: 1 }),
  new fl.AffineCoupling({ channels: 4, net: new fl.DenseCouplingNet({ inFeatures: 2, outFeatures: 4, seed: 2 }) }),
]);
const x = tf.randomNormal([16, 4]);
fl.withDataInit(() => tf.dispose(flow.forward(x)));
const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(flow.forwardAndLogDet(x).logDet)), flow.trainableVariables());
const norm = Object.values(grads).reduce((s, g) => s + tf.sum(tf.square(g)).dataSync()[0], 0);
console.log(JSON.stringify({ plain: fl.fusedOps() === fl.PLAIN_OPS, loss: value.dataSync()[0], gradNorm: Math.sqrt(norm) }));
`,
    );
    expect(out.plain).toBe(true);
    expect(Number.isFinite(out.loss)).toBe(true);
    expect(out.gradNorm).toBeGreaterThan(0);
  });

  it('with @hierglow/backend-wasm it trains a conv coupling on the fused ops under plain node on wasm', () => {
    const app = installApp(
      'with-runtime',
      ['random', 'flow-layers', 'backend-wasm'],
      ['@tensorflow/tfjs-core@4.22.0'],
    );
    const out = runApp(
      app,
      `import * as tf from '@tensorflow/tfjs-core';
import * as fl from '@hierglow/flow-layers';
import { selectBackend, WASM_FUSED_OPS } from '@hierglow/backend-wasm';
const info = await selectBackend('wasm');
const coupling = new fl.AffineCoupling({ channels: 4, net: new fl.ConvCouplingNet({ inChannels: 2, outChannels: 4, hidden: 8, seed: 1 }) });
const x = tf.randomNormal([8, 4, 4, 4]);
fl.withDataInit(() => tf.dispose(coupling.forward(x)));
const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(coupling.forward(x))), coupling.trainableVariables());
const norm = Object.values(grads).reduce((s, g) => s + tf.sum(tf.square(g)).dataSync()[0], 0);
console.log(JSON.stringify({ backend: info.backend, fused: fl.fusedOps() === WASM_FUSED_OPS, loss: value.dataSync()[0], gradNorm: Math.sqrt(norm) }));
`,
    );
    expect(out.backend).toBe('wasm');
    expect(out.fused).toBe(true);
    expect(Number.isFinite(out.loss)).toBe(true);
    expect(out.gradNorm).toBeGreaterThan(0);
  });
});
