import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@hierglow/backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainableModel } from '../state/trainable-model.js';
import { Adamax } from '../train/adamax.js';
import { createTinyFlow, fakeBatch, TinyFlow } from '../train/test-support/tiny-flow.js';
import { CHECKPOINT_FILES, loadCheckpointFromUrl, restoreModelFromUrl } from './checkpoint.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint-directory.js';
import {
  CheckpointCorruptError,
  CheckpointNotFoundError,
  NonFiniteWeightsError,
} from './errors.js';
import { loadCheckpointFrom, restoreModelFrom, saveModelTo } from './io-handler.js';

/**
 * Checkpoints over HTTP (a fake fetch serving a saved directory's files) and through tf.io
 * handlers (an in-memory one whose artifacts are structured-cloned, as IndexedDB stores them).
 */

let root: string;
let files: Map<string, Uint8Array>;
let model: TinyFlow;

const config = { height: 3, width: 2, hidden: 4, seed: 9 };

function logPOf(m: TrainableModel): number[] {
  const { x, shape } = fakeBatch(1, 0, 1, 4, config.height, config.width);
  const input = tf.tensor4d(x, shape);
  const out = tf.tidy(() => Array.from(m.logProb(input).logP.dataSync()));
  input.dispose();
  return out;
}

beforeAll(async () => {
  await selectBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'hierglow-remote-'));
  model = new TinyFlow(config);
  const { x, shape } = fakeBatch(1, 0, 0, 4, config.height, config.width);
  const batch = tf.tensor4d(x, shape);
  model.initialize(batch);
  batch.dispose();
  await saveCheckpoint(root, { model });
  files = new Map();
  for (const name of await readdir(root)) files.set(name, await readFile(join(root, name)));
});

afterAll(async () => {
  model.dispose();
  await rm(root, { recursive: true, force: true });
});

/** A fetch that serves `served` under `base` and answers 404 to anything else. */
function fakeFetch(base: string, served: ReadonlyMap<string, Uint8Array>) {
  const requested: string[] = [];
  const fetch = async (url: string): Promise<Response> => {
    requested.push(url);
    const bytes = url.startsWith(base) ? served.get(url.slice(base.length)) : undefined;
    return bytes
      ? new Response(bytes, { status: 200 })
      : new Response('not found', { status: 404 });
  };
  return { fetch, requested };
}

describe('checkpoints from a URL', () => {
  it('loads what the disk loader loads, fetching config.json and the files it lists', async () => {
    const { fetch, requested } = fakeFetch('http://127.0.0.1/models/tiny/', files);
    const fromUrl = await loadCheckpointFromUrl('http://127.0.0.1/models/tiny', { fetch });
    const fromDisk = await loadCheckpoint(root);
    expect(fromUrl.dir).toBe('http://127.0.0.1/models/tiny');
    expect(fromUrl.config).toEqual(fromDisk.config);
    for (const [name, t] of Object.entries(fromDisk.tensors))
      expect(Array.from(fromUrl.tensors[name]!.dataSync())).toEqual(Array.from(t.dataSync()));
    expect(requested).toEqual([
      'http://127.0.0.1/models/tiny/config.json',
      'http://127.0.0.1/models/tiny/model.safetensors',
    ]);
    fromUrl.dispose();
    fromDisk.dispose();

    const restored = await restoreModelFromUrl('http://127.0.0.1/models/tiny/', createTinyFlow, {
      fetch,
    });
    expect(logPOf(restored.model)).toEqual(logPOf(model));
    restored.model.dispose();
  });

  it('fetches no optimizer state for a weights-only load', async () => {
    const dir = join(root, 'with-optimizer');
    const optimizer = new Adamax({ learningRate: 0.01 });
    const names = Object.keys(model.variables()).filter((n) => model.variables()[n]!.trainable);
    tf.tidy(() =>
      optimizer.applyGradients(
        model.variables(),
        Object.fromEntries(names.map((n) => [n, tf.zerosLike(model.variables()[n]!)])),
      ),
    );
    await saveCheckpoint(dir, { model, optimizer });
    optimizer.dispose();
    const served = new Map<string, Uint8Array>();
    for (const name of await readdir(dir)) served.set(name, await readFile(join(dir, name)));
    expect(served.has(CHECKPOINT_FILES.optimizer)).toBe(true);
    const base = 'http://127.0.0.1/models/adamax/';
    const { fetch, requested } = fakeFetch(base, served);
    const restored = await restoreModelFromUrl(base, createTinyFlow, {
      fetch,
      optimizerState: false,
    });
    expect(requested).toEqual([`${base}config.json`, `${base}model.safetensors`]);
    expect(restored.optimizerState).toBeUndefined();
    expect(logPOf(restored.model)).toEqual(logPOf(model));
    restored.model.dispose();
  });

  it('says what is wrong, naming the URL, with the checks of the disk loader', async () => {
    const base = 'http://127.0.0.1/m/';
    const missing = fakeFetch(base, new Map());
    await expect(loadCheckpointFromUrl(base, { fetch: missing.fetch })).rejects.toThrow(
      new CheckpointNotFoundError(
        'No checkpoint at http://127.0.0.1/m: http://127.0.0.1/m/config.json cannot be fetched (HTTP 404)',
      ),
    );
    const offline = async (): Promise<Response> => {
      throw new TypeError('fetch failed');
    };
    await expect(loadCheckpointFromUrl(base, { fetch: offline })).rejects.toThrow(
      /config\.json cannot be fetched \(fetch failed\)/,
    );
    const noWeights = new Map(files);
    noWeights.delete(CHECKPOINT_FILES.model);
    await expect(
      loadCheckpointFromUrl(base, { fetch: fakeFetch(base, noWeights).fetch }),
    ).rejects.toThrow(
      new CheckpointCorruptError(
        'http://127.0.0.1/m/model.safetensors: listed in config.json but cannot be fetched (HTTP 404)',
      ),
    );
    const flipped = Uint8Array.from(files.get(CHECKPOINT_FILES.model)!);
    flipped[flipped.length - 1]! ^= 0x01;
    await expect(
      loadCheckpointFromUrl(base, {
        fetch: fakeFetch(base, new Map(files).set(CHECKPOINT_FILES.model, flipped)).fetch,
      }),
    ).rejects.toThrow(/^http:\/\/127\.0\.0\.1\/m\/model\.safetensors: SHA-256 differs/);
  });
});

/** A tf.io handler keeping a structured clone of what it saved, as IndexedDB does. */
function memoryHandler() {
  let stored: tf.io.ModelArtifacts | null = null;
  const handler: tf.io.IOHandler = {
    save: async (artifacts) => {
      stored = structuredClone(artifacts);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
    load: async () => {
      if (!stored) throw new Error('nothing saved');
      return structuredClone(stored);
    },
  };
  return { handler, stored: () => stored! };
}

describe('models through tf.io handlers', () => {
  it('saves tfjs artifacts and restores a model that scores exactly as the saved one', async () => {
    const { handler, stored } = memoryHandler();
    await saveModelTo(handler, { model, metadata: { training: { dataset: 'tiny' } } });
    const artifacts = stored();
    expect(artifacts.format).toBe('hierglow-checkpoint');
    expect(artifacts.weightSpecs!.map((s) => s.name).sort()).toEqual(
      Object.keys(model.variables()).sort(),
    );
    const topology = artifacts.modelTopology as { model: { kind: string }; training: object };
    expect(topology.model.kind).toBe(model.getConfig().kind);
    expect(topology.training).toEqual({ dataset: 'tiny' });

    const before = tf.memory().numTensors;
    const restored = await restoreModelFrom(handler, createTinyFlow, { name: 'memory' });
    expect(logPOf(restored.model)).toEqual(logPOf(model));
    restored.model.dispose();
    expect(tf.memory().numTensors).toBe(before);

    // Weights split into several buffers (as tf.io.http may return them) load the same.
    const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
    const split: tf.io.IOHandler = {
      load: async () => ({
        ...artifacts,
        weightData: [data.slice(0, 5).buffer, data.slice(5).buffer],
      }),
    };
    const checkpoint = await loadCheckpointFrom(split);
    expect(Object.keys(checkpoint.tensors).sort()).toEqual(Object.keys(model.variables()).sort());
    checkpoint.dispose();
  });

  it('refuses changed weights, foreign artifacts, non-finite weights and unknown URLs', async () => {
    const { handler, stored } = memoryHandler();
    await saveModelTo(handler, { model });
    const artifacts = stored();
    const changed = new Float32Array((artifacts.weightData as ArrayBuffer).slice(0));
    changed[0]! += 1;
    await expect(
      loadCheckpointFrom(
        { load: async () => ({ ...artifacts, weightData: changed.buffer }) },
        {
          name: 'indexeddb://tiny',
        },
      ),
    ).rejects.toThrow(/^indexeddb:\/\/tiny\/model\.safetensors: SHA-256 differs/);
    const short = (artifacts.weightData as ArrayBuffer).slice(0, 8);
    await expect(
      loadCheckpointFrom({ load: async () => ({ ...artifacts, weightData: short }) }),
    ).rejects.toThrow(CheckpointCorruptError);
    await expect(
      loadCheckpointFrom({ load: async () => ({ ...artifacts, format: 'layers-model' }) }),
    ).rejects.toThrow(CheckpointNotFoundError);

    const broken = new TinyFlow(config);
    const first = Object.values(broken.variables())[0]!;
    first.assign(tf.fill(first.shape, Number.NaN));
    const target = memoryHandler();
    await expect(saveModelTo(target.handler, { model: broken })).rejects.toThrow(
      NonFiniteWeightsError,
    );
    expect(target.stored()).toBeNull();
    broken.dispose();

    await expect(saveModelTo('indexeddb://tiny', { model })).rejects.toThrow(
      /no tf\.io handler can save 'indexeddb:\/\/tiny' here/,
    );
  });
});
