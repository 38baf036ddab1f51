import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type JobsOptions, Queue, QueueEvents } from 'bullmq';
import type { NamedDataRef } from '../data/data-source.js';
import type { DatasetOutputs } from '../scoring/score-dataset.js';
import { openForScoring, type ScoringModels } from '../scoring/scoring-inputs.js';
import { isFileSystemError, isUserFacingError, UsageError } from '../util/errors.js';
import { ProgressBar } from '../util/progress.js';
import { VERSION } from '../version.js';
import type { QueueSettings } from './queue-settings.js';
import { bullConnection, checkQueueReachable, queueFailure } from './redis-connection.js';
import { concatOutputs, readShardFile } from './shard-file.js';
import {
  type CheckpointIdentity,
  checkpointDigest,
  dataIdentity,
  folderFiles,
  planShards,
  queueName,
  runId,
  type ScoringRun,
  SHARD_JOB_FORMAT,
  type ShardJobData,
  shardFiles,
  shardJobId,
  shardPath,
} from './shard-job.js';

/** How often the submitter looks at every pending shard, besides the queue's events. */
const SWEEP_MS = 5000;
/** Job ids and adds are sent to Redis in groups of this many. */
const REDIS_CHUNK = 500;
/**
 * A shard whose scoring threw is tried this often (on any worker) before the run stops. Input
 * errors (missing data or model on a worker) are not retried: they would fail again.
 */
const SHARD_ATTEMPTS = 3;
/**
 * How long a shard reported finished may take to appear on the submitter's side of shared
 * storage (network filesystems cache lookups) before the run stops with an error.
 */
const FILE_VISIBLE_MS = 30_000;

/** What {@link scoreOnQueue} scores. */
export interface QueuedScoring {
  queue: QueueSettings;
  models: ScoringModels;
  refs: NamedDataRef[];
  noise: ScoringRun['noise'];
  batchSize: number;
  signal: AbortSignal;
  log(line: string): void;
}

async function checkpointIdentity(dir: string): Promise<CheckpointIdentity> {
  return { dir: resolve(dir), digest: await checkpointDigest(dir) };
}

/**
 * Describes the run: opens every set as a local run would (same checks, same errors, before
 * anything is queued), fixes absolute paths, digests of the models and data, and cuts each set
 * into shards.
 */
async function planRun(o: QueuedScoring): Promise<{ run: ScoringRun; jobs: ShardJobData[][] }> {
  const model = await checkpointIdentity(o.models.model.dir);
  const general = o.models.general ? await checkpointIdentity(o.models.general.dir) : undefined;
  const sets = [];
  for (const ref of o.refs) {
    const { ds } = await openForScoring(ref, o.models.shape, o.noise);
    try {
      const files = await folderFiles(ds);
      const source = existsSync(ref.source) ? resolve(ref.source) : ref.source;
      sets.push({ identity: dataIdentity(ds, { ...ref, source }, files), files });
    } finally {
      await ds.close();
    }
  }
  const settings = {
    backend: tf.getBackend(),
    noise: o.noise,
    batchSize: o.batchSize,
    shardSize: o.queue.shardSize,
    model,
    shape: o.models.shape,
    ...(general ? { general } : {}),
  };
  const id = runId(
    settings,
    sets.map((s) => s.identity),
    o.queue.shardDir,
  );
  const run: ScoringRun = { id, hierglow: VERSION, ...settings };
  const jobs = sets.map(({ identity, files }, setIndex) => {
    const shards = planShards(identity.count, run.shardSize);
    return shards.map(({ shard, start, end }) => {
      const job: ShardJobData = {
        format: SHARD_JOB_FORMAT,
        run,
        set: identity,
        setIndex,
        shard,
        shards: shards.length,
        start,
        end,
        output: shardPath(o.queue.shardDir, id, identity.name, shard),
      };
      if (files) job.files = shardFiles(files, start, end);
      return job;
    });
  });
  return { run, jobs };
}

const JOB_OPTIONS: JobsOptions = {
  attempts: SHARD_ATTEMPTS,
  backoff: { type: 'fixed', delay: 1000 },
  // The shard file is the record of a finished shard; the job is only the request.
  removeOnComplete: true,
  // A failed job keeps its reason for the submitter (a week); submitting again retries it.
  removeOnFail: { age: 7 * 24 * 3600 },
};

async function inChunks<T>(items: T[], each: (chunk: T[]) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += REDIS_CHUNK) await each(items.slice(i, i + REDIS_CHUNK));
}

/**
 * Scores `refs` on the queue's workers: one BullMQ job per shard, with ids derived from the run
 * so that submitting the same command again picks up where the last one stopped (finished
 * shards are not redone, failed ones are retried). Shows progress over all shards and returns
 * each set's outputs, merged from the shard files in image order: exactly those of a local run.
 */
export async function scoreOnQueue(o: QueuedScoring): Promise<Map<string, DatasetOutputs>> {
  const { conn } = o.queue;
  await checkQueueReachable(conn);
  const { run, jobs } = await planRun(o);
  const name = queueName(run.backend);
  const all = jobs.flat();
  const pending = new Map<string, ShardJobData>();
  for (const job of all) {
    if (!existsSync(job.output)) pending.set(shardJobId(run.id, job.setIndex, job.shard), job);
  }
  o.log(
    `queued run ${run.id} on ${name} at ${conn.display}: ${all.length} shards of up to ${run.shardSize} images, ${all.length - pending.size} already done; shards in ${o.queue.shardDir}`,
  );
  if (pending.size > 0) await waitForShards(o, run, name, pending, all);
  const merged = new Map<string, DatasetOutputs>();
  for (const setJobs of jobs) {
    const set = setJobs[0]!.set;
    const parts: DatasetOutputs[] = [];
    for (const job of setJobs) {
      const key = {
        runId: run.id,
        set: set.name,
        shard: job.shard,
        start: job.start,
        end: job.end,
      };
      parts.push(await readShardFile(job.output, key));
    }
    const outputs = concatOutputs(parts, `${o.queue.shardDir}/${run.id}/${set.name}`);
    if (outputs.count !== set.count) {
      throw new UsageError(
        `${set.name}: the shards hold ${outputs.count} images, the set ${set.count}`,
        1,
      );
    }
    merged.set(set.name, outputs);
  }
  o.log(`merged ${all.length} shards of run ${run.id}`);
  return merged;
}

/** Queues the pending shards (unless queued already) and waits until each one's file exists. */
async function waitForShards(
  o: QueuedScoring,
  run: ScoringRun,
  name: string,
  pending: Map<string, ShardJobData>,
  all: ShardJobData[],
): Promise<void> {
  const { conn } = o.queue;
  const queue = new Queue<ShardJobData>(name, { connection: bullConnection(conn) });
  const events = new QueueEvents(name, { connection: bullConnection(conn) });
  const redisErrors: Error[] = [];
  queue.on('error', (e) => redisErrors.push(e));
  events.on('error', (e) => redisErrors.push(e));
  const total = all.reduce((s, j) => s + j.end - j.start, 0);
  let doneImages = total - [...pending.values()].reduce((s, j) => s + j.end - j.start, 0);
  const doneBefore = doneImages;
  const started = performance.now();
  const bar = new ProgressBar({ total, label: `run ${run.id}`, unit: 'img' });
  const finish = (id: string) => {
    const job = pending.get(id)!;
    pending.delete(id);
    doneImages += job.end - job.start;
    // The rate counts only images scored during this submit, not shards done before it.
    const rate = (doneImages - doneBefore) / ((performance.now() - started) / 1000);
    bar.update(doneImages, `${all.length - pending.size}/${all.length} shards`, rate);
  };
  let wake: () => void = () => {};
  /** Jobs the queue reported on since the last check: true when they completed. */
  const touched = new Map<string, boolean>();
  events.on('completed', ({ jobId }) => {
    if (!pending.has(jobId)) return;
    touched.set(jobId, true);
    wake();
  });
  events.on('failed', ({ jobId }) => {
    if (!pending.has(jobId)) return;
    touched.set(jobId, false);
    wake();
  });
  const completedAt = new Map<string, number>();
  try {
    await events.waitUntilReady();
    const { added, retried, waiting } = await submitPending(queue, pending, finish);
    o.log(`${added} shards queued now, ${retried} failed ones retried, ${waiting} queued before`);
    let warnedNoWorker = false;
    let sweep = true;
    while (pending.size > 0) {
      if (sweep && !warnedNoWorker && (await queue.getWorkersCount()) === 0) {
        warnedNoWorker = true;
        o.log(
          `no worker listens on ${name} yet; start some with: hierglow worker --queue ${conn.display} --backend ${run.backend}`,
        );
      }
      const ids = sweep ? [...pending.keys()] : [...touched.keys()];
      const reported = new Map(touched);
      touched.clear();
      await checkShards(queue, pending, ids, reported, completedAt, finish);
      if (pending.size === 0) break;
      sweep = await new Promise<boolean>((resolveWait) => {
        const end = (timedOut: boolean) => {
          clearTimeout(timer);
          o.signal.removeEventListener('abort', onAbort);
          resolveWait(timedOut);
        };
        const timer = setTimeout(() => end(true), SWEEP_MS);
        const onAbort = () => end(false);
        o.signal.addEventListener('abort', onAbort, { once: true });
        wake = () => end(false);
        if (touched.size > 0 || o.signal.aborted) wake();
      });
      if (o.signal.aborted) {
        throw new UsageError(
          `interrupted with ${all.length - pending.size} of ${all.length} shards done; queued shards go on on the workers, and the same command picks up the results`,
          130,
        );
      }
    }
    bar.finish();
  } catch (e) {
    if (isUserFacingError(e) || isFileSystemError(e)) throw e;
    throw queueFailure(conn, redisErrors[0] ?? e);
  } finally {
    await Promise.allSettled([events.close(), queue.close()]);
  }
}

/** Adds the jobs of pending shards that the queue does not hold, and retries failed ones. */
async function submitPending(
  queue: Queue<ShardJobData>,
  pending: Map<string, ShardJobData>,
  finish: (id: string) => void,
): Promise<{ added: number; retried: number; waiting: number }> {
  const toAdd: string[] = [];
  let retried = 0;
  let waiting = 0;
  await inChunks([...pending.keys()], async (ids) => {
    const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
    for (const [i, id] of ids.entries()) {
      const state = states[i];
      if (state === 'failed') {
        // A fresh set of attempts: the user fixed what made it fail (or means to try again).
        await (await queue.getJob(id))?.retry('failed', {
          resetAttemptsMade: true,
          resetAttemptsStarted: true,
        });
        retried++;
      } else if (state === 'completed' || state === 'unknown') {
        // A completed job whose file is gone (deleted, or the job was kept): score it again.
        if (state === 'completed') await queue.remove(id);
        if (existsSync(pending.get(id)!.output)) finish(id);
        else toAdd.push(id);
      } else {
        waiting++; // queued or being scored since an earlier submit
      }
    }
  });
  await inChunks(toAdd, async (ids) => {
    await queue.addBulk(
      ids.map((jobId) => ({
        name: 'score-shard',
        data: pending.get(jobId)!,
        opts: { ...JOB_OPTIONS, jobId },
      })),
    );
  });
  return { added: toAdd.length, retried, waiting };
}

/**
 * Looks at pending shards: a shard whose file exists is done; a job that failed for good stops
 * the run with its reason; a job that vanished without a file (Redis lost it) is queued again.
 */
async function checkShards(
  queue: Queue<ShardJobData>,
  pending: Map<string, ShardJobData>,
  ids: string[],
  reported: Map<string, boolean>,
  completedAt: Map<string, number>,
  finish: (id: string) => void,
): Promise<void> {
  const lost: string[] = [];
  await inChunks(ids, async (chunk) => {
    const open = chunk.filter((id) => pending.has(id) && !existsSync(pending.get(id)!.output));
    for (const id of chunk) if (pending.has(id) && !open.includes(id)) finish(id);
    const states = await Promise.all(open.map((id) => queue.getJobState(id)));
    for (const [i, id] of open.entries()) {
      const job = pending.get(id)!;
      const where = `${job.set.name} shard ${job.shard + 1}/${job.shards} (images ${job.start}-${job.end})`;
      if (states[i] === 'failed') {
        const failed = await queue.getJob(id);
        throw new UsageError(
          `${where} failed on a worker: ${failed?.failedReason ?? 'no reason recorded'} (fix it and submit again: finished shards are kept)`,
          1,
        );
      }
      if (reported.get(id) === true || states[i] === 'completed') {
        const since = completedAt.get(id) ?? Date.now();
        completedAt.set(id, since);
        if (Date.now() - since > FILE_VISIBLE_MS) {
          throw new UsageError(
            `${where}: a worker finished it but ${job.output} is not there; --shard-dir must be storage shared by every worker and this machine, at the same path`,
            1,
          );
        }
      } else if (states[i] === 'unknown' && !completedAt.has(id) && !existsSync(job.output)) {
        lost.push(id);
      }
    }
  });
  await inChunks(lost, async (chunk) => {
    await queue.addBulk(
      chunk.map((jobId) => ({
        name: 'score-shard',
        data: pending.get(jobId)!,
        opts: { ...JOB_OPTIONS, jobId },
      })),
    );
  });
}
