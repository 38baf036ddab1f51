import type { Command } from '../command.js';
import { parseQueueUrl } from '../queue/queue-settings.js';
import { numberFlag, requiredStringFlag } from '../util/args.js';

/** `hierglow worker`: scores the shards that `score` / `evaluate --queue` put on a queue. */
export const workerCommand: Command = {
  name: 'worker',
  summary: 'score shards of queued score/evaluate runs (--queue redis://HOST:PORT), on any machine',
  usage: 'hierglow worker --queue redis://HOST:PORT [--backend NAME] [--lock-duration MS]',
  options: {
    queue: { type: 'string' },
    'lock-duration': { type: 'string' },
    'stalled-interval': { type: 'string' },
    'max-stalls': { type: 'string' },
  },
  help: [
    '  --queue redis://HOST:PORT the Redis that `score` / `evaluate --queue` submit to',
    '  --lock-duration MS        a shard whose worker stops renewing its lock (killed, frozen)',
    '                            goes back to the queue after this long (default 30000)',
    '  --stalled-interval MS     how often this worker looks for such shards (default 30000)',
    '  --max-stalls N            a shard that stalls more often than this fails (default 3)',
    '',
    'Takes only jobs submitted on its own --backend (same numbers as a local run). Models,',
    "data and --shard-dir must be at the submitter's paths on this machine (see",
    'docs/distributed-scoring.md). Ctrl-C or SIGTERM stop it after the shard in hand.',
  ],
  async run({ values }, io) {
    const url = requiredStringFlag(values, 'queue', 'worker', 'redis://HOST:PORT');
    // BullMQ loads only for queue work, not on every hierglow command.
    const { runShardWorker } = await import('../queue/shard-worker.js');
    return runShardWorker(
      {
        conn: parseQueueUrl(url),
        lockDuration: numberFlag(values, 'lock-duration', 30_000, { min: 100, integer: true }),
        stalledInterval: numberFlag(values, 'stalled-interval', 30_000, {
          min: 100,
          integer: true,
        }),
        maxStalls: numberFlag(values, 'max-stalls', 3, { min: 1, integer: true }),
      },
      io,
    );
  },
};
