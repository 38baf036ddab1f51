import { describe, expect, it } from 'vitest';
import { recordableFlags, resumeFlags } from './run-folder.js';

describe('resumeFlags', () => {
  const recorded = { data: 'fashion-mnist', epochs: '5', lr: '0.0005' };

  it('keeps the recorded flags, accepts the same values again and more epochs', () => {
    expect(
      resumeFlags(recorded, { out: 'r', resume: true, data: 'fashion-mnist', epochs: '8' }, 'r'),
    ).toEqual({
      ...recorded,
      epochs: '8',
    });
  });

  it('keeps a recorded --memory on resume and lets it change (same gradients either way)', () => {
    const withMemory = { ...recorded, memory: 'reversible' };
    expect(resumeFlags(withMemory, { resume: true }, 'r')).toEqual(withMemory);
    expect(resumeFlags(withMemory, { memory: 'autodiff' }, 'r').memory).toBe('autodiff');
  });

  it('refuses a changed or new setting, naming the flag', () => {
    expect(() => resumeFlags(recorded, { lr: '0.01' }, 'r')).toThrow(
      /was started with --lr 0.0005; drop --lr 0.01/,
    );
    expect(() => resumeFlags(recorded, { hidden: '8' }, 'r')).toThrow(
      /was started with no --hidden/,
    );
  });

  it('drops session flags from what a run records', () => {
    expect(
      recordableFlags({ out: 'r', resume: true, backend: 'cpu', config: 'c.yaml', seed: '1' }),
    ).toEqual({
      seed: '1',
    });
  });
});
