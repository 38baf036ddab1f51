import { hostname } from 'node:os';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import type { ImageDataset, TransformOptions } from '@hierglow/datasets';
import * as tf from '@tensorflow/tfjs-core';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { CommandIO } from '../command.js';
import type { DataRef } from '../data/data-source.js';
import { type LoadedModel, loadModelFlag } from '../model/checkpoint-ref.js';
import { scoreDataset } from '../scoring/score-dataset.js';
import { openForScoring } from '../scoring/scoring-inputs.js';
import { isFileSystemError, isUserFacingError, UsageError } from '../util/errors.js';
import type { QueueConnection } from './queue-settings.js';
import { bullConnection, checkQueueReachable, queueFailure } from './redis-connection.js';
import { writeShardFile } from './shard-file.js';
import {
  type CheckpointIdentity,
  checkpointDigest,
  type DataIdentity,
  dataIdentity,
  folderFiles,
  queueName,
  SHARD_JOB_FORMAT,
  type ShardJobData,
  shardFiles,
} from './shard-job.js';

/**
 * Test hook: milliseconds to wait after every batch of a shard, so that a test can kill a worker
 * while it is inside a shard. Unset in normal use.
 */
export const BATCH_DELAY_ENV = 'HIERGLOW_TEST_BATCH_DELAY_MS';

/** Models and datasets a worker keeps open between shards (each an LRU of this size). */
const CACHED_MODELS = 4;
const CACHED_DATASETS = 4;

interface OpenSet {
  ds: ImageDataset;
  transform: TransformOptions;
  identity: DataIdentity;
  files: string[] | null;
}

/** Keeps the `limit` most recently used entries of a map; `drop` releases the others. */
async function touch<V>(
  cache: Map<string, V>,
  key: string,
  value: V,
  limit: number,
  drop: (v: V) => unknown,
) {
  cache.delete(key);
  cache.set(key, value);
  while (cache.size > limit) {
    const [oldest, v] = cache.entries().next().value as [string, V];
    cache.delete(oldest);
    await drop(v);
  }
}

/**
 * Scores shards: loads each model once (by checkpoint folder and digest) and keeps each dataset
 * open (by source, split and limit), checking both are what the submitter saw.
 */
export class ShardScorer {
  private readonly models = new Map<string, LoadedModel>();
  private readonly sets = new Map<string, OpenSet>();

  private async model(flag: string, id: CheckpointIdentity, job: ShardJobData) {
    const key = `${id.dir}\n${id.digest}`;
    let loaded = this.models.get(key);
    if (!loaded) {
      let digest: string;
      try {
        digest = await checkpointDigest(id.dir);
      } catch (e) {
        throw new UsageError(
          `--${flag}: no checkpoint at ${id.dir} on this worker (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); every worker needs the models at the submitter's path`,
          1,
        );
      }
      if (digest !== id.digest) {
        throw new UsageError(
          `--${flag}: the checkpoint at ${id.dir} on this worker is not the submitter's (its config or weights differ)`,
          1,
        );
      }
      loaded = await loadModelFlag(flag, id.dir);
      const want = [job.run.shape.height, job.run.shape.width, job.run.shape.channels].join('x');
      if (loaded.model.inputShape.join('x') !== want) {
        loaded.model.dispose();
        throw new UsageError(`--${flag}: ${id.dir} does not take ${want} images`, 1);
      }
    }
    await touch(this.models, key, loaded, CACHED_MODELS, (m) => m.model.dispose());
    return loaded;
  }

  private async set(job: ShardJobData): Promise<OpenSet> {
    const { set, run } = job;
    const key = JSON.stringify([set.source, set.split, set.limit, run.noise, run.shape]);
    let open = this.sets.get(key);
    if (!open) {
      const ref: DataRef = { flag: set.flag, source: set.source, split: set.split };
      if (set.limit !== undefined) ref.limit = set.limit;
      const { ds, transform } = await openForScoring(ref, run.shape, run.noise);
      const files = await folderFiles(ds);
      open = { ds, transform, files, identity: dataIdentity(ds, set, files) };
    }
    await touch(this.sets, key, open, CACHED_DATASETS, (s) => s.ds.close());
    // A folder's files are checked shard by shard below: only the shards whose files changed fail.
    const differ = (['count', 'height', 'width', 'channels', 'labels'] as const).filter(
      (field) => open.identity[field] !== set[field],
    );
    if (differ.length > 0) {
      throw new UsageError(
        `--${set.flag}: ${set.source} (${set.split}) on this worker is not the submitter's data: ${differ.map((f) => `${f} ${open.identity[f]} here, ${set[f]} at submit`).join('; ')}`,
        1,
      );
    }
    if (Boolean(job.files) !== Boolean(open.files)) {
      throw new UsageError(
        `--${set.flag}: ${set.source} is ${open.files ? '' : 'not '}a folder of images on this worker, unlike at submit`,
        1,
      );
    }
    if (job.files && open.files) {
      const here = shardFiles(open.files, job.start, job.end);
      if (here.digest !== job.files.digest) {
        const { first, last } = job.files;
        const which =
          here.first === first && here.last === last
            ? `the files from ${first} to ${last} are not those seen at submit`
            : `they were ${first} .. ${last} at submit, ${here.first} .. ${here.last} here`;
        throw new UsageError(
          `--${set.flag}: images ${job.start}-${job.end} of ${set.source} changed since the run was submitted: ${which}`,
          1,
        );
      }
    }
    return open;
  }

  /** Opens what a shard needs; input errors (wrong or missing model or data) are user-facing. */
  async prepare(job: ShardJobData) {
    if (job.format !== SHARD_JOB_FORMAT) {
      throw new UsageError(`job format '${String(job.format)}' is not ${SHARD_JOB_FORMAT}`, 1);
    }
    const model = await this.model('model', job.run.model, job);
    const general = job.run.general ? await this.model('general', job.run.general, job) : undefined;
    const open = await this.set(job);
    return { model, general, open };
  }

  /** Scores a shard's images; `afterBatch` is awaited after every batch. */
  async score(job: ShardJobData, afterBatch: () => Promise<unknown>) {
    const { model, general, open } = await this.prepare(job);
    return scoreDataset(open.ds, model.model, general?.model, {
      transform: open.transform,
      batchSize: job.run.batchSize,
      range: { start: job.start, end: job.end },
      onBatch: afterBatch,
    });
  }

  async close(): Promise<void> {
    for (const m of this.models.values()) m.model.dispose();
    this.models.clear();
    await Promise.allSettled([...this.sets.values()].map((s) => s.ds.close()));
    this.sets.clear();
  }
}

/** Settings of {@link runShardWorker}. */
export interface ShardWorkerSettings {
  conn: QueueConnection;
  /** A job whose lock is not renewed for this long counts as stalled and goes to another worker. */
  lockDuration: number;
  /** How often this worker looks for stalled jobs. */
  stalledInterval: number;
  /** A job that stalls more often than this fails. */
  maxStalls: number;
}

/**
 * Takes shard jobs of this process's backend until Ctrl-C or SIGTERM (then finishes the shard in
 * hand) or until Redis is lost for good. Each shard's scores are written atomically to the path
 * the job names, then the job completes; a worker killed in between leaves its job locked until
 * the lock expires, when another worker's stalled-job check puts it back in the queue.
 */
export async function runShardWorker(s: ShardWorkerSettings, io: CommandIO): Promise<number> {
  await checkQueueReachable(s.conn);
  const backend = tf.getBackend();
  const name = queueName(backend);
  const me = `${hostname()}:${process.pid}`;
  const delayMs = Number(process.env[BATCH_DELAY_ENV] ?? 0) || 0;
  const scorer = new ShardScorer();
  const processor = async (job: Job<ShardJobData>) => {
    const d = job.data;
    const what = `${d.set.name} shard ${d.shard + 1}/${d.shards} (images ${d.start}-${d.end}) of run ${d.run.id}`;
    io.err(`worker ${me}: ${what} started`);
    const started = performance.now();
    try {
      await scorer.prepare(d);
    } catch (e) {
      // Wrong or missing inputs fail the same way on every try: no retries.
      if (isUserFacingError(e) || isFileSystemError(e)) {
        throw new UnrecoverableError(`on ${me}: ${(e as Error).message}`);
      }
      throw e;
    }
    // Between batches the event loop must turn, so that BullMQ renews the job's lock.
    const outputs = await scorer.score(d, () => (delayMs > 0 ? sleep(delayMs) : setImmediate()));
    const key = { runId: d.run.id, set: d.set.name, shard: d.shard, start: d.start, end: d.end };
    await writeShardFile(d.output, key, outputs, me);
    io.err(`worker ${me}: ${what} done in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    return { scoredBy: me };
  };
  const worker = new Worker<ShardJobData>(name, processor, {
    connection: bullConnection(s.conn),
    concurrency: 1,
    lockDuration: s.lockDuration,
    stalledInterval: s.stalledInterval,
    maxStalledCount: s.maxStalls,
    name: me,
    autorun: false,
  });
  let lastError = '';
  worker.on('error', (e) => {
    if (e.message !== lastError) io.err(`worker ${me}: ${e.message}`);
    lastError = e.message;
  });
  worker.on('failed', (job, e) => {
    if (job)
      io.err(`worker ${me}: ${job.data.set.name} shard ${job.data.shard + 1} failed: ${e.message}`);
  });
  const stop = new Promise<number>((resolveStop) => {
    const onSignal = () => resolveStop(0);
    io.signal.addEventListener('abort', onSignal, { once: true });
    process.once('SIGTERM', onSignal);
    worker.client.then(
      (client) => client.once('end', () => resolveStop(1)),
      () => resolveStop(1),
    );
  });
  const running = worker.run().catch((e) => {
    lastError = (e as Error).message;
  });
  io.err(
    `worker ${me}: taking jobs from ${name} at ${s.conn.display} (Ctrl-C stops after the shard in hand)`,
  );
  const code = await stop;
  await worker.close();
  await running;
  await scorer.close();
  if (code !== 0) throw queueFailure(s.conn, new Error(lastError || 'connection closed'));
  return 0;
}
