import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetOutputs } from '../scoring/score-dataset.js';
import { parseQueueUrl } from './queue-settings.js';
import { concatOutputs, readShardFile, writeShardFile } from './shard-file.js';
import { planShards, shardFiles } from './shard-job.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hierglow-shards-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Outputs of `n` images whose values start at `from` (awkward values included). */
function outputs(n: number, from: number, general = true): DatasetOutputs {
  const f = (k: number) => Float64Array.from({ length: n }, (_, i) => from + i + k / 7);
  const o: DatasetOutputs = {
    model: {
      logP: Float64Array.from({ length: n }, (_, i) => (i === 0 ? -Infinity : -(from + i) / 3)),
      bitsPerDim: Float64Array.from({ length: n }, (_, i) => (i === 1 ? Number.NaN : 0.1 + i)),
      perScale: [f(1), f(2)],
      predictedClass: Int32Array.from({ length: n }, (_, i) => (i % 3) - 1),
    },
    complexity: f(3),
    labels: Int32Array.from({ length: n }, (_, i) => from + i),
    count: n,
  };
  if (general) o.general = { logP: f(4), bitsPerDim: f(5), perScale: [f(6), f(7)] };
  return o;
}

describe('queued scoring pieces', () => {
  it('reads redis URLs and masks the password in messages', () => {
    const c = parseQueueUrl('redis://user:s3cret@queue.example:6380/2');
    expect(c.options).toMatchObject({
      host: 'queue.example',
      port: 6380,
      db: 2,
      username: 'user',
      password: 's3cret',
    });
    expect(c.display).toBe('redis://user:***@queue.example:6380/2');
    expect(parseQueueUrl('redis://127.0.0.1').options).toMatchObject({ port: 6379, db: 0 });
    expect(parseQueueUrl('rediss://h:1').options.tls).toEqual({});
    expect(() => parseQueueUrl('http://h:6379')).toThrow(/scheme redis or rediss/);
    expect(() => parseQueueUrl('localhost:6379')).toThrow(/must be a Redis URL/);
    expect(() => parseQueueUrl('redis://h:6379/x')).toThrow(/database 'x'/);
  });

  it('cuts a set into shards that tile it', () => {
    expect(planShards(35, 16)).toEqual([
      { shard: 0, start: 0, end: 16 },
      { shard: 1, start: 16, end: 32 },
      { shard: 2, start: 32, end: 35 },
    ]);
    expect(planShards(32, 16).map((s) => s.end)).toEqual([16, 32]);
    const files = ['a/1.png', 'a/2.png', 'b/3.png'];
    expect(shardFiles(files, 1, 3)).toMatchObject({ first: 'a/2.png', last: 'b/3.png' });
    expect(shardFiles(files, 1, 3).digest).not.toBe(shardFiles(files, 0, 2).digest);
  });

  it('writes shard files that read back bit for bit and merge in order', async () => {
    const a = outputs(5, 0);
    const b = outputs(3, 5);
    const key = (shard: number, start: number, end: number) => ({
      runId: 'r1',
      set: 'waves',
      shard,
      start,
      end,
    });
    await writeShardFile(join(dir, 'a.json'), key(0, 0, 5), a, 'test');
    await writeShardFile(join(dir, 'b.json'), key(1, 5, 8), b, 'test');
    const readA = await readShardFile(join(dir, 'a.json'), key(0, 0, 5));
    expect(readA).toEqual(a);
    expect(Object.is(readA.model.logP[0], -Infinity)).toBe(true);
    expect(Number.isNaN(readA.model.bitsPerDim[1])).toBe(true);
    const merged = concatOutputs(
      [readA, await readShardFile(join(dir, 'b.json'), key(1, 5, 8))],
      'w',
    );
    expect(merged.count).toBe(8);
    expect(Array.from(merged.labels!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(merged.general!.perScale[1]!)).toEqual([
      ...Array.from(a.general!.perScale[1]!),
      ...Array.from(b.general!.perScale[1]!),
    ]);
    expect(() => concatOutputs([a, outputs(2, 8, false)], 'w')).toThrow(/disagree/);
  });

  it('refuses a shard file of another run, range or length, naming the file', async () => {
    const path = join(dir, 'c.json');
    await writeShardFile(
      path,
      { runId: 'r1', set: 's', shard: 0, start: 0, end: 4 },
      outputs(4, 0),
      't',
    );
    await expect(
      readShardFile(path, { runId: 'r2', set: 's', shard: 0, start: 0, end: 4 }),
    ).rejects.toThrow(/c\.json: holds runId "r1", expected "r2"; delete it/);
    const text = JSON.parse(await readFile(path, 'utf8'));
    text.arrays['model.logP'].data = Buffer.alloc(8 * 3).toString('base64');
    await writeFile(path, JSON.stringify(text));
    await expect(
      readShardFile(path, { runId: 'r1', set: 's', shard: 0, start: 0, end: 4 }),
    ).rejects.toThrow(/'model\.logP' holds 3 values, not 4/);
    await writeFile(path, '{"truncated');
    await expect(
      readShardFile(path, { runId: 'r1', set: 's', shard: 0, start: 0, end: 4 }),
    ).rejects.toThrow(/c\.json: not a shard file/);
  });
});
