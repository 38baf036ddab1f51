import { createRng, inMemoryDataset, writeHierglowDataset } from '@hierglow/datasets';

/** Kinds of synthetic grey images for the CLI tests. */
export type SyntheticKind = 'waves' | 'noise';

/**
 * Writes `count` grey `size`x`size` images to a `.hgds` file: 'waves' are smooth products of
 * sinusoids with random frequencies and phases (the "in-distribution"), 'noise' is uniform
 * noise (an easy OOD set). Deterministic in `seed`.
 */
export async function writeSyntheticDataset(
  path: string,
  kind: SyntheticKind,
  count: number,
  size: number,
  seed: number,
): Promise<void> {
  const rng = createRng(seed);
  const pixels = new Uint8Array(count * size * size);
  for (let n = 0; n < count; n++) {
    const fx = 0.2 + 0.4 * rng.uniform();
    const fy = 0.2 + 0.4 * rng.uniform();
    const phase = 6.28 * rng.uniform();
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v =
          kind === 'noise'
            ? 256 * rng.uniform()
            : 128 + 110 * Math.sin(fx * x + phase) * Math.cos(fy * y);
        pixels[(n * size + y) * size + x] = Math.max(0, Math.min(255, Math.floor(v)));
      }
    }
  }
  const labels = Int32Array.from({ length: count }, (_, i) => i % 2);
  const ds = inMemoryDataset({
    pixels,
    count,
    height: size,
    width: size,
    channels: 1,
    labels,
    numClasses: 2,
    description: `synthetic ${kind}`,
    provenance: { format: `synthetic-${kind}`, sources: [], details: { seed } },
  });
  await writeHierglowDataset(path, ds);
}
