import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations.
import { findImportCycles } from '../../scripts/check-import-cycles.mjs';

type Loop = { level: string; where: string; path: string[] };

describe('import loops (scripts/check-import-cycles.mjs)', () => {
  it('there are none between the files, the folders or the packages of this repository', () => {
    const loops = findImportCycles() as Loop[];
    expect(loops.map((l) => `${l.level} in ${l.where}: ${l.path.join(' -> ')}`)).toEqual([]);
  });

  const scratch = mkdtempSync(join(tmpdir(), 'hierglow-cycles-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), text);
  };

  it('finds a loop of files, one of folders (through a dynamic import), and one of packages', () => {
    write('a/package.json', JSON.stringify({ name: '@x/a', dependencies: { '@x/b': '1' } }));
    write('b/package.json', JSON.stringify({ name: '@x/b', devDependencies: { '@x/a': '1' } }));
    write('a/src/one.ts', "import { two } from './two.js';\nexport const one = two;\n");
    write('a/src/two.ts', "export { one as two } from './one.js';\n");
    write('b/src/model/m.ts', "export async function m() { return import('../train/t.js'); }\n");
    write(
      'b/src/train/t.ts',
      "import type { m } from '../model/m.js';\nexport type T = typeof m;\n",
    );
    write('b/src/train/t.test.ts', "import '../model/m.js';\n");
    const loops = findImportCycles(scratch) as Loop[];
    expect(loops).toContainEqual({
      level: 'files',
      where: 'a',
      path: ['one.ts', 'two.ts', 'one.ts'],
    });
    expect(loops).toContainEqual({
      level: 'folders',
      where: 'b',
      path: ['model/', 'train/', 'model/'],
    });
    expect(loops).toContainEqual({
      level: 'packages',
      where: 'packages',
      path: ['@x/a', '@x/b', '@x/a'],
    });
  });
});
