import { expect } from 'vitest';
import type { CliResult } from './run-cli.js';

/** A user error: exit code as given, one line on stderr starting with 'hierglow:', no stack. */
export function expectOneLineError(r: CliResult, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('hierglow:'));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}
