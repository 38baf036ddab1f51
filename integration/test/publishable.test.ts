import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const published = ['flow-layers', 'glow', 'anomaly-metrics', 'datasets', 'cli'];

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
      const ok = (p: string) =>
        allowed.test(p) || (name === 'cli' && (demo.test(p) || p === 'scripts/render-digits.py'));
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

  it('a project that installs only @hierglow/flow-layers can train a flow under plain node on wasm', () => {
    npm(['pack', '-w', '@hierglow/flow-layers', '--pack-destination', work]);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const app = join(work, 'app');
    npm(['init', '-y'], work);
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    // The npm cache holds every package after `npm ci`, so this works without the network.
    npm(
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(work, tarball!),
        '@tensorflow/tfjs-core@4.22.0',
      ],
      app,
    );
    writeFileSync(
      join(app, 'main.mjs'),
      `import * as tf from '@tensorflow/tfjs-core';
import * as fl from '@hierglow/flow-layers';
const info = await fl.selectBackend('wasm');
const x = tf.randomNormal([8, 4, 4, 2]);
const w = tf.variable(tf.randomNormal([3, 3, 2, 2]));
const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(fl.conv2d(x, w))), [w]);
const g = Object.values(grads)[0];
console.log(JSON.stringify({ backend: info.backend, loss: value.dataSync()[0], gradNorm: tf.norm(g).dataSync()[0] }));
`,
    );
    const out = JSON.parse(
      execFileSync('node', ['main.mjs'], { cwd: app, encoding: 'utf8' }).trim().split('\n').pop()!,
    );
    expect(out.backend).toBe('wasm');
    expect(Number.isFinite(out.loss)).toBe(true);
    expect(out.gradNorm).toBeGreaterThan(0);
  });
});
