import { Redis, type RedisOptions } from 'ioredis';
import { UsageError } from '../util/errors.js';
import type { QueueConnection } from './queue-settings.js';

/** Oldest Redis that BullMQ supports. */
const MIN_REDIS_MAJOR = 5;
/** How long the first connection may take before the command gives up (one line, no retries). */
const CONNECT_TIMEOUT_MS = 3000;
/**
 * Reconnection attempts of a running submitter or worker after it lost Redis (the delay grows to
 * 3 s): an outage of about 45 s is ridden out, then the command stops with one line.
 */
const RECONNECT_ATTEMPTS = 20;

/**
 * Connects once, without retrying, and checks the server is a Redis BullMQ can use; otherwise
 * throws one line that names the URL. Called before any work so that a wrong `--queue` fails in
 * seconds instead of reconnecting for ever.
 */
export async function checkQueueReachable(conn: QueueConnection): Promise<void> {
  const client = new Redis({
    ...conn.options,
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  // The socket's error (ECONNREFUSED, ENOTFOUND...) says more than connect()'s rejection.
  let socketError: Error | undefined;
  client.on('error', (e: Error) => {
    socketError ??= e;
  });
  let version: string | undefined;
  try {
    await client.connect();
    version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1];
  } catch (e) {
    const why = (socketError ?? (e as Error)).message || String(e);
    throw new UsageError(`--queue ${conn.display}: cannot reach Redis (${why})`, 1);
  } finally {
    client.disconnect();
  }
  const major = Number(version?.split('.')[0]);
  if (!(major >= MIN_REDIS_MAJOR)) {
    throw new UsageError(
      `--queue ${conn.display}: Redis ${version ?? '(unknown version)'} is too old; BullMQ needs Redis ${MIN_REDIS_MAJOR} or newer`,
      1,
    );
  }
}

/**
 * Connection options for BullMQ's long-lived connections: blocking commands wait as long as they
 * need (BullMQ requires no per-request retry limit), and a lost server is retried for about a
 * minute, then given up so the command can stop instead of looping.
 */
export function bullConnection(conn: QueueConnection): RedisOptions {
  return {
    ...conn.options,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) =>
      times > RECONNECT_ATTEMPTS ? null : Math.min(times * 250, 3000),
  };
}

/** A Redis failure in the middle of queued work as one line naming the URL. */
export function queueFailure(conn: QueueConnection, e: unknown): UsageError {
  return new UsageError(
    `--queue ${conn.display}: lost Redis (${(e as Error)?.message || String(e)})`,
    1,
  );
}
