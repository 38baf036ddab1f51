import { spawnSync } from 'node:child_process';
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@hierglow/backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainableModel } from '../state/trainable-model.js';
import { initialTrainingState } from '../state/training-state.js';
import { Adamax } from '../train/adamax.js';
import { createTinyFlow, fakeBatch, TinyFlow } from '../train/test-support/tiny-flow.js';
import { recoverInterruptedSave, type SaveStage } from './atomic-directory.js';
import {
  CHECKPOINT_FILES,
  loadCheckpointFromBytes,
  loadModelWeights,
  restoreModelFromBytes,
} from './checkpoint.js';
import {
  loadCheckpoint,
  restoreModel,
  saveCheckpoint,
  saveCheckpointStaged,
} from './checkpoint-directory.js';
import {
  CheckpointCorruptError,
  CheckpointMismatchError,
  CheckpointNotFoundError,
  NonFiniteWeightsError,
} from './errors.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { sha256 } from './sha256.js';

let root: string;

beforeAll(async () => {
  await selectBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'hierglow-ckpt-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const config = { height: 3, width: 2, hidden: 4, seed: 5 };

function batch(index = 0): tf.Tensor4D {
  const { x, shape } = fakeBatch(1, 0, index, 4, config.height, config.width);
  return tf.tensor4d(x, shape);
}

/** A TinyFlow moved away from its init by a few optimizer steps; returns it with its optimizer. */
function disposeTrained(...flows: Array<{ model: TinyFlow; optimizer: Adamax }>): void {
  for (const { model, optimizer } of flows) {
    model.dispose();
    optimizer.dispose();
  }
}

function trainedTinyFlow(seed = config.seed): { model: TinyFlow; optimizer: Adamax } {
  const model = new TinyFlow({ ...config, seed });
  const x = batch();
  model.initialize(x);
  const optimizer = new Adamax({ learningRate: 0.05 });
  const named = model.variables();
  const trainable = Object.fromEntries(Object.entries(named).filter(([, v]) => v.trainable));
  const byTfName = new Map(Object.entries(trainable).map(([n, v]) => [v.name, n]));
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.neg(tf.mean(model.logProb(x).logP)) as tf.Scalar,
        Object.values(trainable),
      );
      optimizer.applyGradients(
        named,
        Object.fromEntries(Object.entries(grads).map(([k, g]) => [byTfName.get(k)!, g])),
      );
    });
  }
  x.dispose();
  return { model, optimizer };
}

function logPOf(model: TrainableModel): number[] {
  const x = batch(1);
  const out = tf.tidy(() => Array.from(model.logProb(x).logP.dataSync()));
  x.dispose();
  return out;
}

async function snapshotValues(dir: string): Promise<number[]> {
  const ckpt = await loadCheckpoint(dir);
  const values = Array.from(ckpt.tensors['coupling.w2']!.dataSync());
  ckpt.dispose();
  return values;
}

describe('checkpoint directory', () => {
  it('saves and loads a model, optimizer and training state; logProb is reproduced exactly', async () => {
    const dir = join(root, 'roundtrip');
    const { model, optimizer } = trainedTinyFlow();
    const state = { ...initialTrainingState(42), step: 3, epoch: 1, batchInEpoch: 2 };
    await saveCheckpoint(dir, {
      model,
      optimizer,
      trainingState: state,
      metadata: { training: { dataset: 'fake' } },
    });
    expect((await readdir(dir)).sort()).toEqual(Object.values(CHECKPOINT_FILES).sort());

    const ckpt = await loadCheckpoint(dir);
    expect(ckpt.config.model).toEqual(model.getConfig());
    expect(ckpt.config.package.name).toBe('@hierglow/glow');
    expect(ckpt.config.package.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(ckpt.config.training).toEqual({ dataset: 'fake' });
    expect(ckpt.config.preprocessing.divisor).toBe(256);
    expect(ckpt.config.backend).toBe('cpu');
    expect(ckpt.trainingState).toEqual(state);
    expect(Object.keys(ckpt.tensors).sort()).toEqual(Object.keys(model.variables()).sort());

    const fresh = new TinyFlow({ ...config, seed: 99 });
    expect(logPOf(fresh)).not.toEqual(logPOf(model));
    loadModelWeights(fresh, ckpt);
    expect(logPOf(fresh)).toEqual(logPOf(model));
    expect(Array.from(fresh.variables()['coupling.outScale']!.dataSync())).toEqual([1, 0.5]);

    const saved = optimizer.getState();
    const loaded = ckpt.optimizerState!;
    expect(loaded.iterations).toBe(3);
    expect(loaded.steps).toEqual(saved.steps);
    expect(loaded.options).toEqual(saved.options);
    for (const name of Object.keys(saved.steps)) {
      expect(Array.from(loaded.expAvg[name]!.dataSync())).toEqual(
        Array.from(saved.expAvg[name]!.dataSync()),
      );
      expect(Array.from(loaded.expInf[name]!.dataSync())).toEqual(
        Array.from(saved.expInf[name]!.dataSync()),
      );
    }
    ckpt.dispose();
    fresh.dispose();
    model.dispose();
    optimizer.dispose();
  });

  it('rebuilds the model through a factory', async () => {
    const dir = join(root, 'factory');
    const { model, optimizer } = trainedTinyFlow();
    await saveCheckpoint(dir, { model });
    let before = tf.memory().numTensors;
    const plain = createTinyFlow(model.getConfig());
    const modelCost = tf.memory().numTensors - before;
    before = tf.memory().numTensors;
    const restored = await restoreModel(dir, createTinyFlow);
    expect(restored.optimizerState).toBeUndefined();
    expect(restored.trainingState).toBeUndefined();
    expect(logPOf(restored.model)).toEqual(logPOf(model));
    // Only what building the model costs remains: the loaded tensors were freed.
    expect(tf.memory().numTensors - before).toBe(modelCost);
    plain.dispose();
    restored.model.dispose();
    model.dispose();
    optimizer.dispose();
  });

  it('rejects a checkpoint of another kind, shape or architecture, naming the file', async () => {
    const dir = join(root, 'mismatch');
    const { model, optimizer } = trainedTinyFlow();
    await saveCheckpoint(dir, { model });
    const ckpt = await loadCheckpoint(dir);

    const otherKind = new TinyFlow(config);
    const original = otherKind.getConfig.bind(otherKind);
    otherKind.getConfig = () => ({ ...original(), kind: 'glow' }) as never;
    expect(() => loadModelWeights(otherKind, ckpt)).toThrow(CheckpointMismatchError);
    expect(() => loadModelWeights(otherKind, ckpt)).toThrow(
      /config\.json: the checkpoint holds a 'tiny-flow' model, not a 'glow'/,
    );

    const wider = new TinyFlow({ ...config, hidden: 5 });
    expect(() => loadModelWeights(wider, ckpt)).toThrow(
      /model\.safetensors: tensor 'coupling\.w1' has shape \[1,4\], the model expects \[1,5\]/,
    );

    const withExtra = new TinyFlow(config);
    const extraVar = tf.variable(tf.zeros([1]));
    const vars = withExtra.variables.bind(withExtra);
    withExtra.variables = () => ({ ...vars(), 'prior.extra': extraVar });
    expect(() => loadModelWeights(withExtra, ckpt)).toThrow(
      /model\.safetensors: missing tensor 'prior\.extra'/,
    );

    const fewer = new TinyFlow(config);
    const fewerVars = fewer.variables.bind(fewer);
    fewer.variables = () => {
      const { 'coupling.w1': _, ...rest } = fewerVars();
      return rest;
    };
    expect(() => loadModelWeights(fewer, ckpt)).toThrow(/unexpected tensor 'coupling\.w1'/);

    // Nothing was half-loaded into the wider model.
    expect(logPOf(wider)).toEqual(logPOf(new TinyFlow({ ...config, hidden: 5 })));
    await expect(restoreModel(dir, () => new TinyFlow({ ...config, hidden: 5 }))).rejects.toThrow(
      CheckpointMismatchError,
    );
    await expect(
      restoreModel(dir, () => {
        throw new Error('unknown kind');
      }),
    ).rejects.toThrow(
      /config\.json: cannot build a 'tiny-flow' model from its config \(unknown kind\)/,
    );
    tf.dispose([extraVar]);
    for (const m of [otherKind, wider, withExtra, model]) m.dispose();
    optimizer.dispose();
    ckpt.dispose();
  });

  it('reports a truncated, modified or malformed checkpoint as corrupt, naming the file', async () => {
    const dir = join(root, 'corrupt');
    const { model, optimizer } = trainedTinyFlow();
    const save = () =>
      saveCheckpoint(dir, { model, optimizer, trainingState: initialTrainingState(1) });
    await save();
    const modelFile = join(dir, CHECKPOINT_FILES.model);
    await truncate(modelFile, 100);
    await expect(loadCheckpoint(dir)).rejects.toThrow(CheckpointCorruptError);
    await expect(loadCheckpoint(dir)).rejects.toThrow(
      /model\.safetensors: 100 bytes, but config\.json records \d+: the file is truncated/,
    );

    await save();
    const optFile = join(dir, CHECKPOINT_FILES.optimizer);
    const bytes = await readFile(optFile);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(optFile, bytes);
    await expect(loadCheckpoint(dir)).rejects.toThrow(/optimizer\.safetensors: SHA-256 differs/);

    await save();
    await writeFile(join(dir, CHECKPOINT_FILES.config), '{"format": "hierglow-checkpoint",');
    await expect(loadCheckpoint(dir)).rejects.toThrow(/config\.json: not valid JSON/);

    await save();
    const cfg = JSON.parse(await readFile(join(dir, CHECKPOINT_FILES.config), 'utf8'));
    await writeFile(
      join(dir, CHECKPOINT_FILES.config),
      JSON.stringify({ ...cfg, formatVersion: 99 }),
    );
    await expect(loadCheckpoint(dir)).rejects.toThrow(CheckpointMismatchError);
    await writeFile(
      join(dir, CHECKPOINT_FILES.config),
      JSON.stringify({ ...cfg, format: 'other' }),
    );
    await expect(loadCheckpoint(dir)).rejects.toThrow(/not a hierglow checkpoint config/);

    // A safetensors file whose recorded digest matches but whose content is malformed (as if
    // written by a buggy tool) still fails in the parser, naming the file.
    await save();
    const garbage = new Uint8Array(16);
    new DataView(garbage.buffer).setBigUint64(0, 1000n, true);
    const { createHash } = await import('node:crypto');
    await writeFile(modelFile, garbage);
    const cfg2 = JSON.parse(await readFile(join(dir, CHECKPOINT_FILES.config), 'utf8'));
    cfg2.files[CHECKPOINT_FILES.model] = {
      bytes: 16,
      sha256: createHash('sha256').update(garbage).digest('hex'),
    };
    await writeFile(join(dir, CHECKPOINT_FILES.config), JSON.stringify(cfg2));
    await expect(loadCheckpoint(dir)).rejects.toThrow(
      /model\.safetensors: header length 1000 runs past the end/,
    );

    await expect(loadCheckpoint(join(root, 'nothing-here'))).rejects.toThrow(
      CheckpointNotFoundError,
    );
    await mkdir(join(root, 'empty'));
    await expect(loadCheckpoint(join(root, 'empty'))).rejects.toThrow(/has no config\.json/);
    model.dispose();
    optimizer.dispose();
  });

  it('loads from bytes with the same checks and results as from disk', async () => {
    const dir = join(root, 'bytes');
    const { model, optimizer } = trainedTinyFlow();
    await saveCheckpoint(dir, { model, optimizer, trainingState: initialTrainingState(3) });
    const files = new Map<string, Uint8Array>();
    for (const name of await readdir(dir)) files.set(name, await readFile(join(dir, name)));

    const fromDisk = await loadCheckpoint(dir);
    const fromBytes = await loadCheckpointFromBytes(files, { name: 'tiny' });
    expect(fromBytes.dir).toBe('tiny');
    expect(fromBytes.config).toEqual(fromDisk.config);
    expect(fromBytes.trainingState).toEqual(fromDisk.trainingState);
    expect(Object.keys(fromBytes.tensors).sort()).toEqual(Object.keys(fromDisk.tensors).sort());
    for (const [name, t] of Object.entries(fromDisk.tensors)) {
      expect(Array.from(fromBytes.tensors[name]!.dataSync())).toEqual(Array.from(t.dataSync()));
    }
    expect(fromBytes.optimizerState!.iterations).toBe(fromDisk.optimizerState!.iterations);
    fromDisk.dispose();
    fromBytes.dispose();

    // A plain object works too, and the restored model scores exactly as the saved one.
    const before = tf.memory().numTensors;
    const restored = await restoreModelFromBytes(Object.fromEntries(files), createTinyFlow);
    expect(logPOf(restored.model)).toEqual(logPOf(model));
    restored.model.dispose();
    tf.dispose([
      ...Object.values(restored.optimizerState!.expAvg),
      ...Object.values(restored.optimizerState!.expInf),
    ]);
    expect(tf.memory().numTensors).toBe(before);

    // The same validation as on disk, naming the file under the given name.
    const modelBytes = files.get(CHECKPOINT_FILES.model)!;
    const truncated = new Map(files).set(CHECKPOINT_FILES.model, modelBytes.subarray(0, 100));
    await expect(loadCheckpointFromBytes(truncated, { name: 'tiny' })).rejects.toThrow(
      /^tiny\/model\.safetensors: 100 bytes, but config\.json records \d+: the file is truncated/,
    );
    const flipped = Uint8Array.from(modelBytes);
    flipped[flipped.length - 1]! ^= 0xff;
    await expect(
      loadCheckpointFromBytes(new Map(files).set(CHECKPOINT_FILES.model, flipped)),
    ).rejects.toThrow(/^checkpoint\/model\.safetensors: SHA-256 differs/);
    const withoutOptimizer = new Map(files);
    withoutOptimizer.delete(CHECKPOINT_FILES.optimizer);
    await expect(loadCheckpointFromBytes(withoutOptimizer)).rejects.toThrow(
      /optimizer\.safetensors: listed in config\.json but not among the files given/,
    );
    const noConfig = new Map(files);
    noConfig.delete(CHECKPOINT_FILES.config);
    await expect(loadCheckpointFromBytes(noConfig)).rejects.toThrow(CheckpointNotFoundError);
    const badJson = new Map(files).set(
      CHECKPOINT_FILES.config,
      new TextEncoder().encode('{"format":'),
    );
    await expect(loadCheckpointFromBytes(badJson)).rejects.toThrow(
      /checkpoint\/config\.json: not valid JSON/,
    );
    model.dispose();
    optimizer.dispose();
  });

  it('loads weights only when asked, so a checkpoint copied without its optimizer state scores', async () => {
    const dir = join(root, 'weights-only');
    const { model, optimizer } = trainedTinyFlow();
    await saveCheckpoint(dir, { model, optimizer, trainingState: initialTrainingState(3) });
    const before = tf.memory().numTensors;
    const weights = await restoreModel(dir, createTinyFlow, { optimizerState: false });
    expect(weights.optimizerState).toBeUndefined();
    expect(weights.trainingState).toEqual(initialTrainingState(3));
    expect(logPOf(weights.model)).toEqual(logPOf(model));
    weights.model.dispose();
    // No optimizer tensor was made and left behind.
    expect(tf.memory().numTensors).toBe(before);

    // Copied without optimizer.safetensors (as artifacts are committed): a full load names the
    // missing file; a weights-only load, from disk or from bytes, gives the same model.
    await rm(join(dir, CHECKPOINT_FILES.optimizer));
    await expect(loadCheckpoint(dir)).rejects.toThrow(
      /weights-only\/optimizer\.safetensors: listed in config\.json but cannot be read/,
    );
    const copied = await restoreModel(dir, createTinyFlow, { optimizerState: false });
    expect(logPOf(copied.model)).toEqual(logPOf(model));
    copied.model.dispose();
    const files = new Map<string, Uint8Array>();
    for (const name of await readdir(dir)) files.set(name, await readFile(join(dir, name)));
    const fromBytes = await restoreModelFromBytes(files, createTinyFlow, { optimizerState: false });
    expect(logPOf(fromBytes.model)).toEqual(logPOf(model));
    fromBytes.model.dispose();
    // The weights themselves are still verified.
    const flipped = Uint8Array.from(files.get(CHECKPOINT_FILES.model)!);
    flipped[flipped.length - 1]! ^= 0xff;
    await expect(
      loadCheckpointFromBytes(new Map(files).set(CHECKPOINT_FILES.model, flipped), {
        optimizerState: false,
      }),
    ).rejects.toThrow(/^checkpoint\/model\.safetensors: SHA-256 differs/);
    model.dispose();
    optimizer.dispose();
  });

  it('never leaves something that loads as a half-written checkpoint (crash at every stage)', async () => {
    const parent = join(root, 'crash');
    const dir = join(parent, 'ckpt');
    const v1 = trainedTinyFlow(11);
    const v2 = trainedTinyFlow(12);
    await saveCheckpoint(dir, { model: v1.model, optimizer: v1.optimizer });
    const old = await snapshotValues(dir);
    // At each stage of the second save, copy the whole parent directory: that is what a
    // process killed at that moment would leave behind.
    const snapshots: Array<[SaveStage, string]> = [];
    await saveCheckpointStaged(
      dir,
      { model: v2.model, optimizer: v2.optimizer, trainingState: initialTrainingState(3) },
      async (stage) => {
        const snap = join(root, `crash-snap-${snapshots.length}`);
        await cp(parent, snap, { recursive: true });
        snapshots.push([stage, snap]);
      },
    );
    const updated = await snapshotValues(dir);
    expect(updated).not.toEqual(old);
    expect(snapshots.map(([s]) => s)).toEqual([
      'temp-created',
      'wrote model.safetensors',
      'wrote optimizer.safetensors',
      'wrote training-state.json',
      'wrote config.json',
      'temp-synced',
      'old-moved-aside',
      'renamed',
      'old-removed',
    ]);
    for (const [stage, snap] of snapshots) {
      const at = join(snap, 'ckpt');
      if (stage === 'old-moved-aside') {
        // The only window without `ckpt`: the loader refuses and points at the previous version.
        await expect(loadCheckpoint(at)).rejects.toThrow(
          /interrupted save left the previous checkpoint at .*\.ckpt\.old-/,
        );
        continue;
      }
      const expected = ['renamed', 'old-removed'].includes(stage) ? updated : old;
      expect(await snapshotValues(at), `crash after '${stage}'`).toEqual(expected);
    }
    disposeTrained(v1, v2);
  });

  it('ignores the partial temporary directory of a dead save and removes it on the next save', async () => {
    const parent = join(root, 'leftover');
    const dir = join(parent, 'ckpt');
    const { model, optimizer } = trainedTinyFlow();
    await saveCheckpoint(dir, { model });
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const partial = join(parent, `.ckpt.tmp-${deadPid}-abcdef`);
    await mkdir(partial);
    await writeFile(join(partial, CHECKPOINT_FILES.model), new Uint8Array(10));
    expect(await snapshotValues(dir)).toEqual(
      Array.from(model.variables()['coupling.w2']!.dataSync()),
    );
    await expect(loadCheckpoint(partial)).rejects.toThrow(/has no config\.json/);
    await saveCheckpoint(dir, { model });
    expect(await readdir(parent)).toEqual(['ckpt']);
    model.dispose();
    optimizer.dispose();
  });

  it('cleans up and keeps the previous checkpoint when a save fails midway', async () => {
    const parent = join(root, 'failing');
    const dir = join(parent, 'ckpt');
    const v1 = trainedTinyFlow(21);
    const v2 = trainedTinyFlow(22);
    await saveCheckpoint(dir, { model: v1.model });
    const old = await snapshotValues(dir);
    await expect(
      saveCheckpointStaged(dir, { model: v2.model }, (stage) => {
        if (stage === 'wrote model.safetensors') throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(await readdir(parent)).toEqual(['ckpt']);
    expect(await snapshotValues(dir)).toEqual(old);
    disposeTrained(v1, v2);
  });

  it('puts back the checkpoint that a save killed between its two renames set aside', async () => {
    const parent = join(root, 'recover');
    const dir = join(parent, 'ckpt');
    const v1 = trainedTinyFlow(31);
    const v2 = trainedTinyFlow(32);
    await saveCheckpoint(dir, { model: v1.model });
    const old = await snapshotValues(dir);
    const snap = join(root, 'recover-snap');
    await saveCheckpointStaged(dir, { model: v2.model }, async (stage) => {
      if (stage === 'old-moved-aside') await cp(parent, snap, { recursive: true });
    });
    // The snapshot is what the killed process left; its pid is now a dead one's.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const [aside] = (await readdir(snap)).filter((e) => e.startsWith('.ckpt.old-'));
    await rename(join(snap, aside!), join(snap, `.ckpt.old-${deadPid}-abcdef`));
    const at = join(snap, 'ckpt');
    await expect(loadCheckpoint(at)).rejects.toThrow(CheckpointNotFoundError);
    expect(await recoverInterruptedSave(at)).toBe(join(snap, `.ckpt.old-${deadPid}-abcdef`));
    expect(await snapshotValues(at)).toEqual(old);
    expect((await readdir(snap)).filter((e) => e.includes('.old-'))).toEqual([]);
    // Nothing to do when the checkpoint is there, or when the set-aside copy's saver still runs.
    expect(await recoverInterruptedSave(at)).toBeNull();
    await rename(at, join(snap, `.ckpt.old-${process.pid}-abcdef`));
    expect(await recoverInterruptedSave(at)).toBeNull();
    disposeTrained(v1, v2);
  });

  it('clears what a save killed after its rename left, keeping what a live saver holds', async () => {
    const parent = join(root, 'settle');
    const dir = join(parent, 'ckpt');
    const v1 = trainedTinyFlow(33);
    const v2 = trainedTinyFlow(34);
    await saveCheckpoint(dir, { model: v1.model });
    const snap = join(root, 'settle-snap');
    await saveCheckpointStaged(dir, { model: v2.model }, async (stage) => {
      if (stage === 'renamed') await cp(parent, snap, { recursive: true });
    });
    const updated = await snapshotValues(dir);
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const [aside] = (await readdir(snap)).filter((e) => e.startsWith('.ckpt.old-'));
    await rename(join(snap, aside!), join(snap, `.ckpt.old-${deadPid}-abcdef`));
    await mkdir(join(snap, `.ckpt.tmp-${deadPid}-012345`));
    await mkdir(join(snap, `.ckpt.tmp-${process.pid}-6789ab`));
    const at = join(snap, 'ckpt');
    expect(await recoverInterruptedSave(at)).toBeNull();
    expect(await snapshotValues(at)).toEqual(updated);
    expect((await readdir(snap)).sort()).toEqual([`.ckpt.tmp-${process.pid}-6789ab`, 'ckpt']);
    disposeTrained(v1, v2);
  });

  it('refuses to load a checkpoint whose weights are not finite, naming the tensor', async () => {
    const dir = join(root, 'nan');
    const { model, optimizer } = trainedTinyFlow();
    await saveCheckpoint(dir, { model });
    // A NaN written into the weights, with the checksums made to match (so only the values are wrong).
    const modelPath = join(dir, CHECKPOINT_FILES.model);
    const file = decodeSafetensors(await readFile(modelPath), modelPath);
    (file.tensors['coupling.w2']!.data as Float32Array)[1] = Number.NaN;
    const bytes = encodeSafetensors(file.tensors, file.metadata);
    await writeFile(modelPath, bytes);
    const configPath = join(dir, CHECKPOINT_FILES.config);
    const cfg = JSON.parse(await readFile(configPath, 'utf8'));
    cfg.files[CHECKPOINT_FILES.model] = { bytes: bytes.length, sha256: sha256(bytes) };
    await writeFile(configPath, JSON.stringify(cfg));
    await expect(loadCheckpoint(dir)).rejects.toThrow(CheckpointCorruptError);
    await expect(loadCheckpoint(dir)).rejects.toThrow(
      /model\.safetensors: tensor 'coupling\.w2' holds NaN \(1 of \d+ values are not finite\)/,
    );
    model.dispose();
    optimizer.dispose();
  });

  it('refuses to save non-finite weights and keeps the previous checkpoint', async () => {
    const parent = join(root, 'inf');
    const dir = join(parent, 'ckpt');
    const { model, optimizer } = trainedTinyFlow();
    await saveCheckpoint(dir, { model });
    const old = await snapshotValues(dir);
    const w = model.variables()['coupling.w2']!;
    w.assign(tf.fill(w.shape, Number.POSITIVE_INFINITY));
    const save = saveCheckpoint(dir, { model });
    await expect(save).rejects.toThrow(NonFiniteWeightsError);
    await expect(saveCheckpoint(dir, { model })).rejects.toThrow(
      /not saved, model tensor 'coupling\.w2' holds Infinity/,
    );
    expect(await snapshotValues(dir)).toEqual(old);
    expect(await readdir(parent)).toEqual(['ckpt']);
    model.dispose();
    optimizer.dispose();
  });
});
