import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
      const allowed =
        /^(dist\/.+\.(js|d\.ts|js\.map|d\.ts\.map)|README\.md|LICENSE|package\.json)$/;
      // The CLI also ships the embedded default of `hierglow demo` (images and checkpoints) and
      // the glyph renderer `hierglow data build-ood` runs with Debian's python3-pil.
      const demo = /^demo\/(README\.md|build-demo-data\.sh|data\/[\w-]+\.hgds|models\/[\w-]+\/.+)$/;
      const ok = (p: string) =>
        allowed.test(p) || (name === 'cli' && (demo.test(p) || p === 'scripts/render-digits.py'));
      expect(paths.filter((p) => !ok(p))).toEqual([]);
      expect(paths.filter((p) => /\.test\.|test-support/.test(p))).toEqual([]);
      expect(paths).toContain('README.md');
      expect(paths).toContain('LICENSE');
      expect(paths).toContain('dist/index.js');
    });
  }

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
