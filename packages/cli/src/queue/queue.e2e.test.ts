/**
 * Queued scoring end to end on a real Redis: `evaluate --queue` with three `hierglow worker`
 * processes, one of them SIGKILLed inside a shard, must write exactly the files and numbers of a
 * local run; submitting again resumes; bad input fails in one line before anything is queued.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '@hierglow/anomaly-metrics';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError } from '../test-support/expect-cli.js';
import {
  freePort,
  redisServerInstalled,
  startRedisServer,
  type TestRedis,
} from '../test-support/redis-server.js';
import { runCli, startCli } from '../test-support/run-cli.js';
import { writeSyntheticDataset } from '../test-support/synthetic-data.js';
import { queueName } from './shard-job.js';
import { BATCH_DELAY_ENV } from './shard-worker.js';

const CPU = ['--backend', 'cpu'];
const HAS_REDIS = redisServerInstalled();
if (!HAS_REDIS) {
  if (process.env.CI) throw new Error('redis-server is not installed; .ci/run installs it');
  console.warn(
    'queue.e2e.test.ts: SKIPPED, redis-server is not installed (apt-get install redis-server)',
  );
}

let dir: string;
let redis: TestRedis;
const workers: ReturnType<typeof startCli>[] = [];
/** What each worker wrote on stderr so far. */
const logs: (() => string)[] = [];
const startedLine =
  /worker \S+: (\S+) shard (\d+)\/\d+ \(images (\d+)-(\d+)\) of run (\w+) started/;
const shardsStarted = () =>
  logs.reduce(
    (n, log) =>
      n +
      log()
        .split('\n')
        .filter((l) => startedLine.test(l)).length,
    0,
  );

function startWorker(env: Record<string, string>) {
  const w = startCli(
    [
      'worker',
      '--queue',
      redis.url,
      '--lock-duration',
      '1500',
      '--stalled-interval',
      '500',
      ...CPU,
    ],
    dir,
    env,
  );
  let text = '';
  w.child.stderr!.on('data', (d) => {
    text += d;
  });
  workers.push(w);
  logs.push(() => text);
}

function evaluateArgs(out: string, extra: string[] = []): string[] {
  return [
    'evaluate',
    '--model',
    'run',
    '--general',
    'run/checkpoint',
    '--in',
    'waves-test.hgds',
    '--ood',
    'noise.hgds',
    '--out',
    out,
    '--batch-size',
    '8',
    '--samples',
    '4',
    // Noise drawn per batch: shards must draw exactly what a whole pass draws at their batches.
    '--noise',
    'uniform',
    ...CPU,
    ...extra,
  ];
}

async function expectSameEvaluation(a: string, b: string): Promise<void> {
  for (const set of ['waves-test', 'noise']) {
    const x = await readFile(join(dir, a, 'scores', `${set}.csv`));
    const y = await readFile(join(dir, b, 'scores', `${set}.csv`));
    expect(x.length).toBeGreaterThan(0);
    expect(Buffer.compare(x, y), `${set}.csv`).toBe(0);
  }
  const metrics = async (d: string) => {
    const m = JSON.parse(await readFile(join(dir, d, 'metrics.json'), 'utf8'));
    delete m.createdAt;
    return m;
  };
  expect(await metrics(b)).toEqual(await metrics(a));
}

describe.skipIf(!HAS_REDIS)('queued scoring on BullMQ (real redis-server)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hierglow-queue-'));
    redis = await startRedisServer();
    await writeSyntheticDataset(join(dir, 'waves.hgds'), 'waves', 64, 16, 1);
    // 120 and 70 images in shards of 16: 8 + 5 shards, the last of each shorter.
    await writeSyntheticDataset(join(dir, 'waves-test.hgds'), 'waves', 120, 16, 2);
    await writeSyntheticDataset(join(dir, 'noise.hgds'), 'noise', 70, 16, 3);
    const train = await runCli(
      [
        'train',
        '--data',
        'waves.hgds',
        '--out',
        'run',
        '--size',
        '16',
        '--levels',
        '2',
        '--steps-per-level',
        '1',
        '--hidden',
        '8',
        '--batch-size',
        '8',
        '--epochs',
        '1',
        '--init-images',
        '32',
        '--no-eval',
        ...CPU,
      ],
      dir,
    );
    expect(train.code, train.stderr).toBe(0);
    const local = await runCli(evaluateArgs('eval-local'), dir);
    expect(local.code, local.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await Promise.allSettled(workers.map((w) => w.done));
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fails in one line on an unreachable Redis and on a bad model, queueing nothing', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    expectOneLineError(
      await runCli(['worker', '--queue', closed, ...CPU], dir),
      1,
      new RegExp(`--queue ${closed}: cannot reach Redis \\(connect ECONNREFUSED`),
    );
    expectOneLineError(
      await runCli(evaluateArgs('eval-closed', ['--queue', closed]), dir),
      1,
      new RegExp(`--queue ${closed}: cannot reach Redis`),
    );
    // No endless reconnecting: both gave up within seconds (process start-up included).
    expect(Date.now() - started).toBeLessThan(40_000);
    expectOneLineError(
      await runCli(['worker', '--queue', 'http://127.0.0.1:6379', ...CPU], dir),
      2,
      /--queue must be a Redis URL/,
    );

    const badModel = evaluateArgs('eval-bad', ['--queue', redis.url]);
    badModel[badModel.indexOf('run')] = 'no-such-run';
    expectOneLineError(await runCli(badModel, dir), 1, /--model: No checkpoint at .*no-such-run/);
    expectOneLineError(
      await runCli(evaluateArgs('eval-bad', ['--queue', redis.url, '--shard-size', '12']), dir),
      2,
      /--shard-size 12 must be a multiple of --batch-size 8/,
    );
    const queue = new Queue(queueName('cpu'), {
      connection: { host: '127.0.0.1', port: redis.port },
    });
    try {
      const counts = await queue.getJobCounts();
      expect(Object.values(counts).reduce((s, n) => s + n, 0)).toBe(0);
    } finally {
      await queue.close();
    }
  });

  it('scores on three workers, one SIGKILLed mid-shard, to exactly the local result', async () => {
    // Each 16-image shard is two batches; the pause after each keeps a worker inside a shard
    // for at least half a second, so the kill below lands mid-shard.
    for (let i = 0; i < 3; i++) startWorker({ [BATCH_DELAY_ENV]: '250' });
    const until = async (what: () => boolean, ms = 60_000) => {
      const end = Date.now() + ms;
      while (!what()) {
        if (Date.now() > end)
          throw new Error(`timed out; worker logs:\n${logs.map((l) => l()).join('\n')}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until(() => logs.every((l) => /taking jobs/.test(l())));

    const submit = startCli(
      evaluateArgs('eval-queued', ['--queue', redis.url, '--shard-size', '16']),
      dir,
    );
    await until(() => startedLine.test(logs[0]!()));
    workers[0]!.child.kill('SIGKILL');
    const [, set, shard, , , run] = startedLine.exec(logs[0]!())!;
    const shardFile = join(
      dir,
      'eval-queued',
      'shards',
      run!,
      set!,
      `${String(Number(shard) - 1).padStart(6, '0')}.json`,
    );
    expect(existsSync(shardFile), 'the worker was killed before it wrote its shard').toBe(false);
    const killed = await workers[0]!.done;
    expect(killed.signal).toBe('SIGKILL');

    const result = await submit.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/13 shards of up to 16 images, 0 already done/);
    expect(result.stderr).toMatch(/merged 13 shards/);
    await expectSameEvaluation('eval-local', 'eval-queued');
    // The killed worker's shard was scored again by a live worker once its lock expired.
    const rescuedBy = JSON.parse(await readFile(shardFile, 'utf8')).scoredBy as string;
    expect(rescuedBy).not.toBe(`${rescuedBy.split(':')[0]}:${workers[0]!.child.pid}`);
    const doneLine = `${set} shard ${shard}/`;
    expect(
      logs.slice(1).some((l) =>
        l()
          .split('\n')
          .some((x) => x.includes(doneLine) && x.endsWith(' s')),
      ),
    ).toBe(true);
  });

  it('resumes, rescoring only missing shards; score --queue matches on a file and a folder', async () => {
    const shardDir = join(dir, 'eval-queued', 'shards');
    const [run] = await readdir(shardDir);
    await rm(join(shardDir, run!, 'noise', '000002.json'));
    const startedBefore = shardsStarted();
    const again = await runCli(
      evaluateArgs('eval-queued', ['--queue', redis.url, '--shard-size', '16']),
      dir,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/13 shards of up to 16 images, 12 already done/);
    expect(again.stderr).toMatch(/1 shards queued now/);
    expect(shardsStarted() - startedBefore).toBe(1);
    await expectSameEvaluation('eval-local', 'eval-queued');

    const local = await runCli(
      [
        'score',
        '--model',
        'run',
        '--data',
        'noise.hgds',
        '--batch-size',
        '8',
        '--out',
        'local.csv',
        ...CPU,
      ],
      dir,
    );
    expect(local.code, local.stderr).toBe(0);
    const queued = await runCli(
      [
        'score',
        '--model',
        'run',
        '--data',
        'noise.hgds',
        '--batch-size',
        '8',
        '--out',
        'queued.csv',
        '--queue',
        redis.url,
        ...CPU,
      ],
      dir,
    );
    expect(queued.code, queued.stderr).toBe(0);
    expect(
      Buffer.compare(
        await readFile(join(dir, 'local.csv')),
        await readFile(join(dir, 'queued.csv')),
      ),
    ).toBe(0);
    expect(existsSync(join(dir, 'queued.csv.shards'))).toBe(true);

    // A folder of images: shards are lists of its files (labels from the subfolders).
    for (let i = 0; i < 21; i++) {
      const pixels = Uint8Array.from({ length: 256 }, (_, j) => (i * 37 + j * 11) % 256);
      const sub = join(dir, 'folder', i % 2 ? 'a' : 'b');
      await mkdir(sub, { recursive: true });
      await writeFile(
        join(sub, `img${String(i).padStart(3, '0')}.png`),
        encodePng(pixels, { height: 16, width: 16, channels: 1 }),
      );
    }
    const folderArgs = ['score', '--model', 'run', '--data', 'folder', '--batch-size', '4', ...CPU];
    const folderLocal = await runCli([...folderArgs, '--out', 'folder-local.csv'], dir);
    expect(folderLocal.code, folderLocal.stderr).toBe(0);
    const folderQueued = await runCli(
      [...folderArgs, '--out', 'folder-queued.csv', '--shard-size', '8', '--queue', redis.url],
      dir,
    );
    expect(folderQueued.code, folderQueued.stderr).toBe(0);
    expect(folderQueued.stderr).toMatch(/3 shards of up to 8 images/);
    const folderCsv = await readFile(join(dir, 'folder-queued.csv'), 'utf8');
    expect(folderCsv.trim().split('\n')).toHaveLength(22);
    expect(folderCsv).toBe(await readFile(join(dir, 'folder-local.csv'), 'utf8'));

    for (const w of workers.slice(1)) w.child.kill('SIGTERM');
    for (const w of workers.slice(1)) expect((await w.done).code).toBe(0);
  });
});
