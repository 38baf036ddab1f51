import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs an example the way the README says, under plain node, and returns its stdout. */
function runExample(file: string, args: string[]): string {
  return execFileSync(process.execPath, [join(here, file), ...args], {
    cwd: here,
    encoding: 'utf8',
    timeout: 240_000,
  });
}

describe('examples run as documented', () => {
  it('load-checkpoint.mjs loads a checkpoint from disk and from bytes into the same model', () => {
    const out = runExample('load-checkpoint.mjs', []);
    expect(out).toMatch(/model: glow 32x32x1/);
    const disk = /bits\/dim from disk : ([\d. ]+)/.exec(out)![1]!.trim().split(' ').map(Number);
    const bytes = /bits\/dim from bytes: ([\d. ]+)/.exec(out)![1]!.trim().split(' ').map(Number);
    expect(disk).toHaveLength(8);
    expect(bytes).toEqual(disk);
    // Uniform noise is far from clothing: a real model gives it several bits per dimension.
    for (const v of disk) expect(v).toBeGreaterThan(4);
    expect(out).toMatch(/identical: true/);
  });

  it('fit-2d-flow.mjs trains a flow whose held-out likelihood improves', () => {
    const out = runExample('fit-2d-flow.mjs', ['--steps', '150']);
    const m = /held-out log-likelihood: (-?[\d.]+) -> (-?[\d.]+)/.exec(out);
    expect(m, out).not.toBeNull();
    const [before, after] = [Number(m![1]), Number(m![2])];
    expect(after).toBeGreaterThan(before + 0.3);
  });

  it('custom-flow-ood.mjs trains a hand-composed flow that tells noise from the training images', () => {
    const out = runExample('custom-flow-ood.mjs', ['--steps', '60']);
    const m = /held-out log-likelihood \(nats\/dim\): (-?[\d.]+) -> (-?[\d.]+)/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(Number(m![1]) + 0.1);
    const raw = /\n {2}raw +([\d.]+) \/ ([\d.]+) \/ ([\d.]+)/.exec(out);
    expect(raw, out).not.toBeNull();
    expect(Number(raw![2])).toBeGreaterThan(95); // rings vs uniform noise
  });
});
