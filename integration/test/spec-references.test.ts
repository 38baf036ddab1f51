import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Source and documentation files that may cite the spec. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      return ['node_modules', 'dist', 'generated', '.git'].includes(name) ? [] : files(path);
    }
    return /\.(ts|mjs|md|py|c|sh)$/.test(name) ? [path] : [];
  });
}

describe('docs/method-spec.md', () => {
  it('has a section for every "spec N.N" the code and docs cite', () => {
    const spec = readFileSync(join(root, 'docs', 'method-spec.md'), 'utf8');
    const sections = new Set(
      [...spec.matchAll(/^#{2,4} (\d+(?:\.\d+[a-z]?)?)[. ]/gm)].map((m) => m[1]!),
    );
    const cites =
      /\b[Ss]pecs?\s*§?\s*(\d+(?:\.\d+[a-z]?)?(?:\s*(?:,|\/|and|&)\s*\d+(?:\.\d+[a-z]?)?)*)/g;
    const unresolved: string[] = [];
    let count = 0;
    for (const dir of ['packages', 'bench', 'examples', 'integration', 'docs', 'scripts']) {
      for (const file of files(join(root, dir))) {
        if (file.endsWith('method-spec.md')) continue;
        for (const m of readFileSync(file, 'utf8').matchAll(cites)) {
          for (const ref of m[1]!.match(/\d+(?:\.\d+[a-z]?)?/g) ?? []) {
            count++;
            if (!sections.has(ref)) unresolved.push(`${relative(root, file)}: spec ${ref}`);
          }
        }
      }
    }
    expect(unresolved).toEqual([]);
    // The code does cite it: a broken pattern finding nothing would pass vacuously.
    expect(count).toBeGreaterThan(100);
  });
});
