// Runs the testing kit over every bijector under plain `node` (no vitest, no Vite), from a
// compiled copy of the package whose dist folder is the first argument. Used by
// plain-node.test.ts; also handy by hand: node plain-node-batteries.mjs packages/flow-layers/dist

import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';

const dist = resolve(process.argv[2] ?? 'dist');
const fl = await import(pathToFileURL(resolve(dist, 'index.js')).href);
const { bijectorBattery } = await import(pathToFileURL(resolve(dist, 'testing/index.js')).href);

const level = (c, seed) =>
  new fl.Chain([new fl.ActNorm({ shape: [c] }), new fl.Shuffle({ size: c, seed })]);
const step = (c, seed) =>
  new fl.Chain([
    new fl.ActNorm({ shape: [c] }),
    new fl.InvConv1x1({ channels: c, seed }),
    new fl.AffineCoupling({
      channels: c,
      net: new fl.ConvCouplingNet({ inChannels: c / 2, outChannels: c, hidden: 8, seed }),
    }),
  ]);
const suites = [
  ['ActNorm', () => new fl.ActNorm({ shape: [2] }), [2, 3, 3, 2]],
  ['Squeeze', () => new fl.Squeeze(), [2, 4, 4, 1]],
  ['Unsqueeze', () => new fl.Invert(new fl.Squeeze()), [2, 2, 2, 4]],
  ['Reshape', () => new fl.Reshape({ from: [2, 2, 2], to: [8] }), [2, 2, 2, 2]],
  ['Reverse', () => new fl.Reverse(), [2, 2, 2, 3]],
  ['Shuffle', () => new fl.Shuffle({ size: 4, seed: 1 }), [2, 2, 2, 4]],
  [
    'Chain',
    () => new fl.Chain([new fl.ActNorm({ shape: [2] }), new fl.Shuffle({ size: 2, seed: 3 })]),
    [2, 2, 2, 2],
  ],
  [
    'Chain of Squeeze and levels',
    () => new fl.Chain([new fl.Squeeze(), level(4, 1)]),
    [2, 4, 4, 1],
  ],
  [
    'Glow step (ActNorm, InvConv1x1, AffineCoupling+ConvCouplingNet)',
    () => step(4, 5),
    [2, 2, 2, 4],
  ],
  ['InvConv1x1 (LU)', () => new fl.InvConv1x1({ channels: 4, seed: 2 }), [2, 2, 2, 4]],
  ['InvConv1x1 (fixed)', () => new fl.InvConv1x1({ channels: 6, seed: 3, lu: false }), [3, 6]],
  [
    'AffineCoupling (dense net)',
    () =>
      new fl.AffineCoupling({
        channels: 6,
        net: new fl.DenseCouplingNet({ inFeatures: 3, outFeatures: 6, hidden: 8, seed: 4 }),
      }),
    [3, 6],
  ],
  [
    'AdditiveCoupling (conv net)',
    () =>
      new fl.AdditiveCoupling({
        channels: 4,
        net: new fl.ConvCouplingNet({ inChannels: 2, outChannels: 2, hidden: 8, seed: 6 }),
      }),
    [2, 3, 3, 4],
  ],
  [
    'Chain of Squeeze and Glow steps',
    () => new fl.Chain([new fl.Squeeze(), step(4, 1), step(4, 2)]),
    [1, 4, 4, 1],
  ],
];
// Every bijector the package exports must be exercised here: a new one cannot slip through.
const exported = Object.entries(fl)
  .filter(([, v]) => typeof v === 'function' && v.prototype instanceof fl.Bijector)
  .map(([k]) => k);
const covered = new Set(suites.flatMap(([name]) => name.match(/[A-Z][A-Za-z0-9]+/g) ?? []));
covered.add('Invert'); // as Unsqueeze
const uncovered = exported.filter((k) => !covered.has(k));
if (uncovered.length > 0) {
  console.log(`FAIL bijectors exported but not covered under plain node: ${uncovered.join(', ')}`);
  process.exit(1);
}
let failed = 0;
let passed = 0;
// This package needs no runtime package: the plain ops on tfjs' cpu backend. The wasm runtime
// runs the same batteries in @hierglow/backend-wasm's tests.
createRequire(import.meta.url)('@tensorflow/tfjs-backend-cpu');
for (const backend of ['cpu']) {
  await tf.setBackend(backend);
  tf.backend().firstUse = false;
  for (const [name, factory, shape] of suites) {
    for (const c of bijectorBattery(name, factory, shape, { dataInit: true })) {
      try {
        await c.run();
        passed++;
      } catch (e) {
        failed++;
        console.log(`FAIL [${backend}] ${c.name}: ${e.message}`);
      }
    }
  }
}
console.log(`plain node: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
