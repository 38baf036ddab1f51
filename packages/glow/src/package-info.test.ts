import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PACKAGE_INFO } from './package-info.js';

describe('PACKAGE_INFO', () => {
  it('is the name and version of package.json (run the build, or scripts/write-package-info.mjs)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(PACKAGE_INFO).toEqual({ name: pkg.name, version: pkg.version });
  });
});
