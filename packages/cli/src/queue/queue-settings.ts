import { resolve } from 'node:path';
import type { RedisOptions } from 'ioredis';
import { numberFlag, type OptionSpec, stringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';

/** Where the job queue lives: a Redis server named by `--queue redis://HOST:PORT[/DB]`. */
export interface QueueConnection {
  /** The URL with any password masked, for messages. */
  display: string;
  /** ioredis options for the server (host, port, db, credentials, TLS for `rediss:`). */
  options: RedisOptions;
}

/** Batches per shard unless `--shard-size` says otherwise. */
const DEFAULT_BATCHES_PER_SHARD = 8;

/** Flags that send `score` / `evaluate` to a queue of `hierglow worker` processes. */
export const QUEUE_OPTIONS = {
  queue: { type: 'string' },
  'shard-size': { type: 'string' },
  'shard-dir': { type: 'string' },
} as const satisfies OptionSpec;

/** `--help` lines of {@link QUEUE_OPTIONS}. */
export const QUEUE_HELP = [
  '  --queue redis://HOST:PORT score on `hierglow worker` processes (any number, any machine)',
  '                            through a BullMQ queue on that Redis; same files and numbers',
  '  --shard-size N            images per queued job, a multiple of --batch-size',
  `                            (default ${DEFAULT_BATCHES_PER_SHARD} batches)`,
  "  --shard-dir DIR           where workers write each shard's scores: storage that every",
  '                            worker and this command see at the same path',
];

/** A queued scoring run's connection, shard size and shard folder. */
export interface QueueSettings {
  conn: QueueConnection;
  shardSize: number;
  /** Absolute. */
  shardDir: string;
}

/**
 * The queue flags of `command`, or undefined without `--queue`. Checked before any work: the
 * URL's form, the shard size (a multiple of the batch size, so that every shard is made of the
 * batches a whole run scores and the numbers match it bit for bit) and the shard folder.
 */
export function queueSettings(
  values: Record<string, unknown>,
  command: string,
  batchSize: number,
  defaultShardDir: string | undefined,
): QueueSettings | undefined {
  const url = stringFlag(values, 'queue');
  if (url === undefined) {
    for (const flag of ['shard-size', 'shard-dir']) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --queue`);
    }
    return undefined;
  }
  if (values.background !== undefined) {
    // Shard jobs carry the model and the general model only; a background model is scored locally.
    throw new UsageError(
      `${command} --queue does not take --background yet; score Ren et al.'s ratio without --queue`,
    );
  }
  const conn = parseQueueUrl(url);
  const shardSize = numberFlag(values, 'shard-size', DEFAULT_BATCHES_PER_SHARD * batchSize, {
    min: 1,
    integer: true,
  });
  if (shardSize % batchSize !== 0) {
    throw new UsageError(
      `--shard-size ${shardSize} must be a multiple of --batch-size ${batchSize} (shards are whole batches, so the scores equal a local run's bit for bit)`,
    );
  }
  const dir = stringFlag(values, 'shard-dir') ?? defaultShardDir;
  if (!dir) {
    throw new UsageError(
      `${command} --queue needs --out or --shard-dir DIR (a folder every worker can write)`,
    );
  }
  return { conn, shardSize, shardDir: resolve(dir) };
}

/** Parses `--queue`: `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` or `rediss://...` (TLS). */
export function parseQueueUrl(value: string): QueueConnection {
  const bad = (why: string) =>
    new UsageError(`--queue must be a Redis URL like redis://HOST:6379 (${why}), got '${value}'`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad('not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw bad('scheme redis or rediss');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad('no host');
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw bad(`database '${dbText}' is not a number`);
  const options: RedisOptions = { host, port: url.port ? Number(url.port) : 6379, db };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = {};
  const shown = new URL(url.href);
  if (shown.password) shown.password = '***';
  return { display: shown.href.replace(/\/$/, ''), options };
}
