import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NumpyRandomState } from './numpy-random-state.js';

/** Generated once with numpy 1.24 (Debian python3-numpy); see fixtures/README.md. */
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/numpy-random-state.json', import.meta.url), 'utf8'),
);

describe('NumpyRandomState (legacy RandomState subset)', () => {
  it('produces the MT19937 stream of RandomState(seed)', () => {
    for (const [seed, values] of Object.entries(fixture.first_uint32 as Record<string, number[]>)) {
      const rs = new NumpyRandomState(Number(seed));
      expect(values.map(() => rs.nextUint32())).toEqual(values);
    }
  });

  it('matches permutation() for small and larger n', () => {
    for (const [seed, perm] of Object.entries(fixture.permutation_10 as Record<string, number[]>)) {
      expect(Array.from(new NumpyRandomState(Number(seed)).permutation(10))).toEqual(perm);
    }
    expect(Array.from(new NumpyRandomState(12345).permutation(1000))).toEqual(
      fixture.permutation_1000_seed_12345,
    );
  });

  it('matches choice(n, size, replace=False)', () => {
    expect(Array.from(new NumpyRandomState(7).choiceWithoutReplacement(3000, 100))).toEqual(
      fixture.choice_100_of_3000_seed_7,
    );
  });
});
