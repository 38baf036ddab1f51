/**
 * The packages as a user gets them (issue 16): pack every published package, install the
 * tarballs into a fresh project, type-check programs against them with `skipLibCheck: false`
 * (a Node program under moduleResolution bundler and node16, the `/testing` and `/metrics`
 * subpaths under node10, and a browser program with the DOM library and no @types/node), then
 * emit the Node program and run it under plain node.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const published = [
  'random',
  'flow-layers',
  'backend-wasm',
  'glow',
  'anomaly-metrics',
  'datasets',
  'cli',
];
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(
      `${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`,
    );
  }
}

function versionOf(name: string): string {
  return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
}

let work: string;
let app: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hierglow-packed-'));
  app = join(work, 'app');
  mkdirSync(app);
  for (const name of published) {
    run('npm', ['pack', '-w', `@hierglow/${name}`, '--pack-destination', work], root);
  }
  const tarballs = readdirSync(work)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => join(work, f));
  expect(tarballs).toHaveLength(published.length);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  // Everything but the tarballs is in the npm cache after `npm ci`; the registry fills any gap.
  run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      ...tarballs,
      `@tensorflow/tfjs-core@${versionOf('@tensorflow/tfjs-core')}`,
      `@types/node@${versionOf('@types/node')}`,
    ],
    app,
  );
  for (const f of ['node-app.ts', 'library-in-browser.ts']) {
    copyFileSync(join(here, 'packed-consumer', f), join(app, f));
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Writes a tsconfig with `skipLibCheck: false` for `files` and runs tsc on it. */
function typeCheck(name: string, options: Record<string, unknown>, files: string[]): void {
  const config = {
    compilerOptions: {
      strict: true,
      skipLibCheck: false,
      target: 'ES2022',
      noEmit: true,
      ...options,
    },
    files,
  };
  writeFileSync(join(app, `tsconfig.${name}.json`), JSON.stringify(config, null, 2));
  run(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], app);
}

// tfjs-core's own declarations need the DOM library and its dependency @types/long, in Node
// projects too; `types` lists what is loaded, so the browser checks see no @types/node.
const nodeLibs = { lib: ['ES2023', 'DOM'], types: ['node', 'long'] };
const browserLibs = { lib: ['ES2023', 'DOM'], types: ['long'] };

describe('the packed packages in a fresh project', () => {
  it('type-check under moduleResolution bundler with skipLibCheck false', () => {
    typeCheck('bundler', { ...nodeLibs, module: 'ESNext', moduleResolution: 'bundler' }, [
      'node-app.ts',
    ]);
  });

  it('type-check in a browser project (DOM, no @types/node), with the subpaths under node10 too', () => {
    typeCheck('browser', { ...browserLibs, module: 'ESNext', moduleResolution: 'bundler' }, [
      'library-in-browser.ts',
    ]);
    typeCheck('node10', { ...browserLibs, module: 'ESNext', moduleResolution: 'node10' }, [
      'library-in-browser.ts',
    ]);
  });

  it('ship the sources their source maps name', () => {
    const missing: string[] = [];
    let maps = 0;
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.map')) {
          maps++;
          const { sources } = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[] };
          for (const source of sources) {
            if (!existsSync(join(dirname(path), source))) missing.push(`${path} -> ${source}`);
          }
        }
      }
    };
    for (const name of published) walk(join(app, 'node_modules', '@hierglow', name, 'dist'));
    expect(maps).toBeGreaterThan(100);
    expect(missing).toEqual([]);
  });

  it('type-check under node16 with skipLibCheck false, emit, and run under plain node: a flow as a distribution, a checkpoint from bytes, scores, datasets, the CLI', () => {
    typeCheck(
      'node16',
      { ...nodeLibs, module: 'Node16', moduleResolution: 'node16', noEmit: false, outDir: 'out' },
      ['node-app.ts'],
    );
    const out = run(process.execPath, [join('out', 'node-app.js')], app);
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result).toMatchObject({
      backend: 'cpu',
      flowLogProbFinite: true,
      sampleShape: [4, 2],
      sampleLogProbs: 4,
      sameModel: true,
      sameAuroc: true,
      datasetCount: 2,
      cliExit: 0,
    });
    expect(result.cliVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(result.separation).toBeGreaterThan(0.5);
  });
});
