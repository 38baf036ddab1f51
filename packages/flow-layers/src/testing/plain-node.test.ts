import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..', '..');

/**
 * Vite resolves tfjs-core's ES build, which registers every gradient; plain `node` gets the
 * CommonJS build, which does not. So the kit is also run where users run it: compile this
 * package's current sources to a scratch folder (inside the repository, so @tensorflow/*
 * resolve) and run every battery under `node`.
 */
describe('testing kit under plain node', () => {
  const scratch = join(pkg, 'node_modules', '.cache', `plain-node-kit-${process.pid}`);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('every bijector passes its battery on cpu', () => {
    mkdirSync(scratch, { recursive: true });
    const tsc = spawnSync(
      process.execPath,
      [
        createRequire(import.meta.url).resolve('typescript/bin/tsc'),
        '-p',
        join(pkg, 'tsconfig.build.json'),
        '--outDir',
        join(scratch, 'dist'),
      ],
      { encoding: 'utf8' },
    );
    expect(tsc.status, `tsc failed:\n${tsc.stdout}${tsc.stderr}`).toBe(0);
    cpSync(join(pkg, 'src', 'generated'), join(scratch, 'dist', 'generated'), { recursive: true });
    writeFileSync(join(scratch, 'package.json'), '{"type":"module"}\n');
    const run = spawnSync(
      process.execPath,
      [join(here, 'test-support', 'plain-node-batteries.mjs'), join(scratch, 'dist')],
      { encoding: 'utf8', env: { ...process.env, HIERGLOW_BACKEND: '' } },
    );
    const out = `${run.stdout}${run.stderr}`;
    expect(run.status, out).toBe(0);
    expect(out).toMatch(/plain node: \d+ passed, 0 failed/);
  });
});
