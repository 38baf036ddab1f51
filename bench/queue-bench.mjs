// Throughput of queued scoring (`hierglow score --queue` + `hierglow worker`) with 1, 2 and 3
// workers on this machine, and the overhead of one shard. Starts its own redis-server on
// 127.0.0.1 (random port, no persistence) and the workers as separate processes, exactly as a
// user runs them.
//
//   npm run build && node bench/queue-bench.mjs
//   node bench/queue-bench.mjs --images 256 --batch-size 32 --shard-size 64 --workers 1,2   # quick check
//
// Options (defaults in brackets):
//   --model DIR        checkpoint [packages/cli/demo/models/fashion: L 3, K 16, hidden 128, 32x32 grey]
//   --general DIR      also a general model (ratio scores), as the issue's numbers assume [none]
//   --data D           dataset [fashion-mnist, Debian's dataset-fashion-mnist]
//   --images N         first N images [4096]
//   --batch-size N     [256]
//   --shard-size N     images per shard for the worker runs [2048]
//   --small-shards N   shard size of the overhead run, a multiple of the batch size [batch size]
//   --workers LIST     worker counts [1,2,3]
//   --backend NAME     [wasm]
//
// Measured, per worker count: the submit command's wall time (process start, checks, queueing,
// waiting, merging, writing the CSV) and the scoring span, from the first shard started to the
// last shard done as the workers report it; images/s is images over the span (which includes
// each worker loading the model on its first shard, as a real run does). The per-shard
// overhead is the extra span of one worker when the same images come in `--small-shards` shards
// instead of `--shard-size` ones, divided by the number of extra shards: what a job costs
// beyond its images (queue round trips, dataset view, shard file write, completion).
// Every queued result is checked byte for byte against a local `hierglow score`.
//
// Take real numbers on a quiet machine only: other processes on the cores change them a lot.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'packages/cli/dist/bin.js');

function parseArgs(argv) {
  const o = {
    model: join(ROOT, 'packages/cli/demo/models/fashion'),
    general: '',
    data: 'fashion-mnist',
    images: 4096,
    'batch-size': 256,
    'shard-size': 2048,
    'small-shards': 0,
    workers: '1,2,3',
    backend: 'wasm',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]?.replace(/^--/, '');
    if (!(key in o) || argv[i + 1] === undefined) {
      console.error(
        `queue-bench.mjs: bad option '${argv[i]}'. Options: ${Object.keys(o)
          .map((k) => `--${k}`)
          .join(' ')}`,
      );
      process.exit(2);
    }
    o[key] = typeof o[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  o.workerCounts = o.workers.split(',').map(Number);
  o['small-shards'] ||= o['batch-size'];
  for (const k of ['images', 'batch-size', 'shard-size', 'small-shards']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  }
  return o;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function startRedis(dir) {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) res();
    });
    child.once('exit', (code) => rej(new Error(`redis-server exited with ${code}\n${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

/** Runs the CLI to the end; resolves with the exit code, stderr and wall seconds. */
function cli(args, cwd) {
  const started = performance.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) =>
      res({ code, stderr, seconds: (performance.now() - started) / 1000 }),
    );
  });
}

/** Starts a worker and records when it reports each shard started and done. */
function startWorker(url, backend, cwd) {
  const child = spawn(process.execPath, [BIN, 'worker', '--queue', url, '--backend', backend], {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const w = { child, ready: false, events: [], text: '' };
  child.stderr.on('data', (d) => {
    const now = performance.now();
    w.text += d;
    for (const line of String(d).split('\n')) {
      if (/taking jobs/.test(line)) w.ready = true;
      if (/ started$/.test(line)) w.events.push({ kind: 'started', at: now });
      if (/ done in [\d.]+ s$/.test(line)) w.events.push({ kind: 'done', at: now });
    }
  });
  w.exited = new Promise((res) => child.on('close', res));
  return w;
}

async function until(what, ms, why) {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${why}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function queuedRun(o, redis, dir, workerCount, shardSize, tag) {
  const workers = Array.from({ length: workerCount }, () => startWorker(redis.url, o.backend, dir));
  try {
    await until(() => workers.every((w) => w.ready), 120_000, 'the workers to start');
    const out = join(dir, `${tag}.csv`);
    const r = await cli(
      [...scoreArgs(o), '--out', out, '--queue', redis.url, '--shard-size', String(shardSize)],
      dir,
    );
    if (r.code !== 0) throw new Error(`queued score failed:\n${r.stderr}`);
    const events = workers.flatMap((w) => w.events);
    const first = Math.min(...events.filter((e) => e.kind === 'started').map((e) => e.at));
    const last = Math.max(...events.filter((e) => e.kind === 'done').map((e) => e.at));
    const shards = events.filter((e) => e.kind === 'done').length;
    return { out, submitSeconds: r.seconds, spanSeconds: (last - first) / 1000, shards };
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
  }
}

function scoreArgs(o) {
  return [
    'score',
    '--model',
    resolve(o.model),
    ...(o.general ? ['--general', resolve(o.general)] : []),
    '--data',
    o.data,
    '--limit',
    String(o.images),
    '--batch-size',
    String(o['batch-size']),
    '--backend',
    o.backend,
  ];
}

const o = parseArgs(process.argv.slice(2));
if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.error('queue-bench.mjs: redis-server is not installed (apt-get install redis-server)');
  process.exit(1);
}
const dir = await mkdtemp(join(tmpdir(), 'hierglow-queue-bench-'));
const redis = await startRedis(dir);
try {
  const local = await cli([...scoreArgs(o), '--out', join(dir, 'local.csv')], dir);
  if (local.code !== 0) throw new Error(`local score failed:\n${local.stderr}`);
  const localCsv = await readFile(join(dir, 'local.csv'));
  const rows = [];
  for (const n of o.workerCounts) {
    const r = await queuedRun(o, redis, dir, n, o['shard-size'], `w${n}`);
    if (Buffer.compare(await readFile(r.out), localCsv) !== 0)
      throw new Error(`${n} workers: scores differ from the local run`);
    rows.push({ n, ...r });
  }
  const big =
    rows.find((r) => r.n === 1) ?? (await queuedRun(o, redis, dir, 1, o['shard-size'], 'big'));
  const small = await queuedRun(o, redis, dir, 1, o['small-shards'], 'small');
  if (Buffer.compare(await readFile(small.out), localCsv) !== 0)
    throw new Error('small shards: scores differ from the local run');
  const overheadMs = ((small.spanSeconds - big.spanSeconds) * 1000) / (small.shards - big.shards);

  console.log(
    `queued scoring: ${o.images} images of ${o.data}, model ${o.model}${o.general ? ` + general ${o.general}` : ''}, batch ${o['batch-size']}, backend ${o.backend}`,
  );
  console.log(
    `node ${process.version}, ${cpus().length} logical CPUs; every queued result equals the local CSV byte for byte\n`,
  );
  console.log(
    '| run | workers | shards | wall s (whole command) | scoring span s | images/s (span) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  console.log(`| local score | - | - | ${local.seconds.toFixed(2)} | - | - |`);
  for (const r of rows) {
    console.log(
      `| queued, shards of ${o['shard-size']} | ${r.n} | ${r.shards} | ${r.submitSeconds.toFixed(2)} | ${r.spanSeconds.toFixed(2)} | ${(o.images / r.spanSeconds).toFixed(0)} |`,
    );
  }
  console.log(
    `| queued, shards of ${o['small-shards']} | 1 | ${small.shards} | ${small.submitSeconds.toFixed(2)} | ${small.spanSeconds.toFixed(2)} | ${(o.images / small.spanSeconds).toFixed(0)} |`,
  );
  console.log(
    `\noverhead per shard (1 worker, ${small.shards} vs ${big.shards} shards): ${small.shards > big.shards ? `${overheadMs.toFixed(1)} ms` : 'n/a (pick --small-shards below --shard-size)'}`,
  );
} finally {
  redis.child.kill('SIGTERM');
  await new Promise((r) => redis.child.once('exit', r));
  await rm(dir, { recursive: true, force: true });
}
