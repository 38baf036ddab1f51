import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { CatalogueEntry } from '../catalogue.js';
import { ChecksumMismatchError, CorruptDatasetError, DownloadError } from '../errors.js';
import { openDataset } from '../open-dataset.js';
import { encodeTarGz, encodeZip } from '../test-support/archive-writers.js';
import { type Route, startTestServer } from '../test-support/http-server.js';
import { encodeMat } from '../test-support/mat-writer.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { encodeIdx, gzip, randomBytes, randomLabels } from '../test-support/writers.js';
import { download, verifyLocalCopy } from './download.js';

const tempDir = useTempDirs();
const servers: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A small MNIST-like dataset as the four .gz files. */
function mnistLikeFiles(train: number, test: number) {
  const files: Record<string, Uint8Array> = {};
  for (const [split, n, seed] of [
    ['train', train, 1],
    ['t10k', test, 2],
  ] as const) {
    files[`${split}-images-idx3-ubyte.gz`] = gzip(
      encodeIdx([n, 28, 28], randomBytes(n * 784, seed)),
    );
    files[`${split}-labels-idx1-ubyte.gz`] = gzip(encodeIdx([n], randomLabels(n, 10, seed + 10)));
  }
  return files;
}

function idxEntry(
  url: (p: string) => string,
  files: Record<string, Uint8Array>,
  extra: Partial<CatalogueEntry> = {},
  fileExtra: (name: string) => object = () => ({}),
): CatalogueEntry {
  return {
    name: 'toy-mnist',
    aliases: [],
    description: 'test',
    homepage: '',
    licence: '',
    format: 'idx',
    shape: [28, 28, 1],
    numClasses: 10,
    splits: { train: 40, test: 10 },
    files: Object.keys(files).map((name) => ({
      name,
      urls: [url(`/mirror1/${name}`), url(`/mirror2/${name}`)],
      splits: [name.startsWith('train') ? 'train' : 'test'],
      bytes: files[name]!.length,
      sha256: sha256(files[name]!),
      contentSha256: sha256(gunzipSync(files[name]!)),
      ...fileExtra(name),
    })),
    idx: { prefix: '', transpose: false, labelOffset: 0 },
    ...extra,
  };
}

describe('download', () => {
  it('fetches, verifies and caches a dataset; the second call fetches nothing', async () => {
    const files = mnistLikeFiles(40, 10);
    const routes: Record<string, Route> = {};
    for (const [n, b] of Object.entries(files)) routes[`/mirror1/${n}`] = { bytes: b };
    const server = await startTestServer(routes);
    servers.push(server);
    const cacheDir = await tempDir();
    const catalogue = [idxEntry(server.url, files)];
    const progress: number[] = [];
    const dir = await download('toy-mnist', {
      cacheDir,
      catalogue,
      onProgress: (p) => progress.push(p.receivedBytes),
    });
    expect(dir).toBe(join(cacheDir, 'toy-mnist'));
    expect((await readdir(dir)).sort()).toEqual(Object.keys(files).sort());
    expect(progress.length).toBeGreaterThan(0);
    const n = server.requests.length;
    await download('toy-mnist', { cacheDir, catalogue });
    expect(server.requests.length).toBe(n);
    const ds = await openDataset('toy-mnist', { cacheDir, catalogue, split: 'test' });
    expect(ds.count).toBe(10);
    await ds.close();
  });

  it('resumes a transfer cut mid-way with a Range request', async () => {
    const files = mnistLikeFiles(40, 10);
    const big = 'train-images-idx3-ubyte.gz';
    const routes: Record<string, Route> = {};
    for (const [n, b] of Object.entries(files))
      routes[`/mirror1/${n}`] = n === big ? { bytes: b, cutAfter: 10_000 } : { bytes: b };
    const server = await startTestServer(routes);
    servers.push(server);
    const cacheDir = await tempDir();
    await download('toy-mnist', { cacheDir, catalogue: [idxEntry(server.url, files)] });
    const bigRequests = server.requests.filter((r) => r.path.endsWith(big));
    expect(bigRequests.length).toBe(2);
    expect(bigRequests[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(bigRequests[1]!.range!.slice(6, -1))).toBeGreaterThan(0);
    expect(new Uint8Array(await readFile(join(cacheDir, 'toy-mnist', big)))).toEqual(files[big]);
  });

  it('keeps the partial file when interrupted and resumes it on the next run', async () => {
    const files = mnistLikeFiles(40, 10);
    const big = 'train-images-idx3-ubyte.gz';
    const routes: Record<string, Route> = {};
    for (const [n, b] of Object.entries(files))
      routes[`/mirror1/${n}`] =
        n === big ? { bytes: b, cutAfter: 8_000, cutTimes: 1 } : { bytes: b };
    routes[`/mirror2/${big}`] = { bytes: files[big]!, status: 503 };
    const server = await startTestServer(routes);
    servers.push(server);
    const cacheDir = await tempDir();
    const catalogue = [idxEntry(server.url, files)];
    const err = await download('toy-mnist', { cacheDir, catalogue, retries: 0 }).catch((e) => e);
    expect(DownloadError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/train-images-idx3-ubyte\.gz: every source failed/);
    expect(err.message).toMatch(/HTTP 503/);
    const left = await readdir(join(cacheDir, 'toy-mnist'));
    expect(left).toContain(`${big}.part`);
    expect(left).not.toContain(big);
    await download('toy-mnist', { cacheDir, catalogue, retries: 0 });
    const last = server.requests.filter((r) => r.path === `/mirror1/${big}`).at(-1)!;
    expect(last.range).toMatch(/^bytes=\d+-$/);
    expect(new Uint8Array(await readFile(join(cacheDir, 'toy-mnist', big)))).toEqual(files[big]);
    expect(await readdir(join(cacheDir, 'toy-mnist'))).not.toContain(`${big}.part`);
  });

  it('restarts from zero when the server ignores Range', async () => {
    const files = mnistLikeFiles(40, 10);
    const big = 'train-images-idx3-ubyte.gz';
    const routes: Record<string, Route> = {};
    for (const [n, b] of Object.entries(files)) {
      routes[`/mirror1/${n}`] =
        n === big ? { bytes: b, cutAfter: 5_000, ignoreRange: true } : { bytes: b };
    }
    const server = await startTestServer(routes);
    servers.push(server);
    const cacheDir = await tempDir();
    await download('toy-mnist', { cacheDir, catalogue: [idxEntry(server.url, files)] });
    expect(new Uint8Array(await readFile(join(cacheDir, 'toy-mnist', big)))).toEqual(files[big]);
  });

  it('falls back to the next mirror and deletes a file whose checksum is wrong', async () => {
    const files = mnistLikeFiles(40, 10);
    const routes: Record<string, Route> = {};
    for (const [n, b] of Object.entries(files)) {
      routes[`/mirror1/${n}`] = { bytes: b, status: 404 };
      routes[`/mirror2/${n}`] = { bytes: b };
    }
    const server = await startTestServer(routes);
    servers.push(server);
    const cacheDir = await tempDir();
    await download('toy-mnist', { cacheDir, catalogue: [idxEntry(server.url, files)] });
    // Same sizes, wrong hash: a tampered mirror.
    const bad = await tempDir();
    const catalogue = [idxEntry(server.url, files, {}, () => ({ sha256: '0'.repeat(64) }))];
    const err = await download('toy-mnist', { cacheDir: bad, catalogue, splits: ['test'] }).catch(
      (e) => e,
    );
    expect(ChecksumMismatchError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(
      /t10k-images-idx3-ubyte\.gz from http:\/\/127\.0\.0\.1:\d+\/mirror2\/.*: sha256 [0-9a-f]{64}, expected 0{64}; the file was deleted/,
    );
    expect(await readdir(join(bad, 'toy-mnist'))).toEqual([]);
  });

  it('verifies by structure when no checksum is known (a mislabelled file fails)', async () => {
    const files = mnistLikeFiles(40, 10);
    const routes: Record<string, Route> = {};
    for (const [n, b] of Object.entries(files)) routes[`/mirror1/${n}`] = { bytes: b };
    const server = await startTestServer(routes);
    servers.push(server);
    const noChecks = () => ({ bytes: undefined, sha256: undefined, contentSha256: undefined });
    // The catalogue claims 41 training images; the files hold 40.
    const catalogue = [idxEntry(server.url, files, { splits: { train: 41, test: 10 } }, noChecks)];
    const err = await download('toy-mnist', { cacheDir: await tempDir(), catalogue }).catch(
      (e) => e,
    );
    expect(CorruptDatasetError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/holds 40 images of 28x28x1 but toy-mnist train has 41/);
  });

  it('unpacks a tar.gz archive (CIFAR-10 layout) and opens it by name', async () => {
    const record = (label: number, seed: number) =>
      Uint8Array.from([label, ...randomBytes(3072, seed)]);
    const batch = (n: number, seed: number) => {
      const out = new Uint8Array(n * 3073);
      for (let i = 0; i < n; i++) out.set(record(i % 10, seed + i), i * 3073);
      return out;
    };
    const members: Record<string, Uint8Array> = {
      'cifar-10-batches-bin/test_batch.bin': batch(4, 100),
    };
    for (let b = 1; b <= 5; b++)
      members[`cifar-10-batches-bin/data_batch_${b}.bin`] = batch(2, b * 10);
    const tgz = encodeTarGz(members);
    const server = await startTestServer({ '/c.tgz': { bytes: tgz } });
    servers.push(server);
    const catalogue: CatalogueEntry[] = [
      {
        name: 'toy-cifar',
        aliases: [],
        description: '',
        homepage: '',
        licence: '',
        format: 'cifar10',
        shape: [32, 32, 3],
        numClasses: 10,
        splits: { train: 10, test: 4 },
        files: [
          {
            name: 'cifar-10-binary.tar.gz',
            urls: [server.url('/c.tgz')],
            splits: ['train', 'test'],
            extract: 'tar.gz',
          },
        ],
      },
    ];
    const cacheDir = await tempDir();
    await download('toy-cifar', { cacheDir, catalogue });
    const ds = await openDataset('toy-cifar', { cacheDir, catalogue, split: 'train' });
    expect(ds.count).toBe(10);
    await ds.close();
  });
});

describe('verifyLocalCopy', () => {
  it.runIf(existsSync('/usr/share/datasets/fashion-mnist'))(
    "checks Debian's Fashion-MNIST against the sha256 values of data-sources.md",
    async () => {
      expect(await verifyLocalCopy('fashion-mnist')).toBe('/usr/share/datasets/fashion-mnist');
    },
  );

  it('never keeps a body cut short under the final name when no checksum is known', async () => {
    const files = mnistLikeFiles(40, 10);
    const big = 'train-images-idx3-ubyte.gz';
    const routes: Record<string, Route> = {};
    // No Content-Length and a clean close after 10 000 bytes: only the format tells.
    for (const [n, b] of Object.entries(files))
      routes[`/mirror1/${n}`] =
        n === big ? { bytes: b, noLength: true, cutAfter: 10_000 } : { bytes: b };
    const server = await startTestServer(routes);
    servers.push(server);
    const noChecks = () => ({ bytes: undefined, sha256: undefined, contentSha256: undefined });
    const catalogue = [idxEntry(server.url, files, {}, noChecks)];
    const cacheDir = await tempDir();
    const err = await download('toy-mnist', { cacheDir, catalogue }).catch((e) => e);
    expect(DownloadError.isInstance(err), String(err)).toBe(true);
    expect(err.message).toMatch(
      /mirror1\/train-images-idx3-ubyte\.gz: .*its gzip stream does not end properly \(unexpected end of file\), so the transfer was cut short; the file was deleted/,
    );
    expect((await readdir(join(cacheDir, 'toy-mnist'))).filter((n) => n.startsWith(big))).toEqual(
      [],
    );
    // A later run fetches it again, from a server that now sends it whole.
    routes[`/mirror1/${big}`] = { bytes: files[big]!, noLength: true };
    await download('toy-mnist', { cacheDir, catalogue });
    expect(new Uint8Array(await readFile(join(cacheDir, 'toy-mnist', big)))).toEqual(files[big]);
  });

  it('tells a whole MAT or zip file from one cut short, without a size or checksum', async () => {
    const variable = { name: 'X', dims: [40, 30], data: randomBytes(1200, 3) };
    const bodies: Record<string, Uint8Array> = {
      'le.mat': encodeMat([variable, { ...variable, name: 'y' }]),
      'be.mat': encodeMat([variable], { bigEndian: true }),
      'z.mat': encodeMat([variable, { ...variable, name: 'y' }], { compress: true }),
      'a.zip': encodeZip({ 'a/x.bin': randomBytes(3000, 4) }),
    };
    for (const [name, bytes] of Object.entries(bodies)) {
      for (const cut of [undefined, bytes.length - 40]) {
        const server = await startTestServer({
          '/f': { bytes, noLength: true, ...(cut ? { cutAfter: cut } : {}) },
        });
        servers.push(server);
        const entry: CatalogueEntry = {
          ...idxEntry(server.url, {}),
          splits: { train: 1 },
          files: [{ name, urls: [server.url('/f')], splits: ['train'] }],
        };
        const cacheDir = await tempDir();
        const result = await download('toy-mnist', {
          cacheDir,
          catalogue: [entry],
          verify: false,
        }).catch((e) => e);
        const kept = existsSync(join(cacheDir, 'toy-mnist', name));
        expect(kept, `${name} ${cut ? 'cut' : 'whole'}: ${String(result)}`).toBe(!cut);
        if (cut)
          expect(String(result)).toMatch(/so the transfer was cut short; the file was deleted/);
      }
    }
  });

  it('caps a body without Content-Length at maxBytes', async () => {
    const files = mnistLikeFiles(40, 10);
    const routes: Record<string, Route> = {};
    for (const [n, b] of Object.entries(files)) {
      // 2 MB of trailing junk after each file.
      const padded = new Uint8Array(b.length + 2_000_000);
      padded.set(b);
      routes[`/mirror1/${n}`] = { bytes: padded, noLength: true };
    }
    const server = await startTestServer(routes);
    servers.push(server);
    const noChecks = () => ({ bytes: undefined, sha256: undefined, contentSha256: undefined });
    const cacheDir = await tempDir();
    const err = await download('toy-mnist', {
      cacheDir,
      catalogue: [idxEntry(server.url, files, {}, noChecks)],
      maxBytes: 1_000_000,
    }).catch((e) => e);
    expect(DownloadError.isInstance(err), String(err)).toBe(true);
    expect(err.message).toMatch(/sent more than 1000000 bytes without announcing a size; stopped/);
    expect(await readdir(join(cacheDir, 'toy-mnist'))).toEqual([]);
  });

  it('breaks off a stalled transfer after stallTimeoutMs and resumes it', async () => {
    const files = mnistLikeFiles(40, 10);
    const big = 'train-images-idx3-ubyte.gz';
    const routes: Record<string, Route> = {};
    for (const [n, b] of Object.entries(files)) routes[`/mirror1/${n}`] = { bytes: b };
    routes[`/mirror1/${big}`] = { bytes: files[big]!, stallAfter: 5_000 };
    const server = await startTestServer(routes);
    servers.push(server);
    const cacheDir = await tempDir();
    const catalogue = [idxEntry(server.url, files)];
    const started = performance.now();
    const err = await download('toy-mnist', {
      cacheDir,
      catalogue,
      stallTimeoutMs: 300,
      retries: 1,
    }).catch((e) => e);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(DownloadError.isInstance(err), String(err)).toBe(true);
    expect(err.message).toMatch(/transfer broke at byte 5000 \(no data for 0\.3 s, stalled\)/);
    // The server recovers: the next run resumes from the 5000 bytes kept.
    routes[`/mirror1/${big}`] = { bytes: files[big]! };
    await download('toy-mnist', { cacheDir, catalogue, stallTimeoutMs: 300 });
    const resumed = server.requests.filter((r) => r.path === `/mirror1/${big}`).at(-1);
    expect(resumed?.range).toBe('bytes=5000-');
  });

  it('names the file whose hash differs', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'a.gz'), 'x');
    const catalogue = [
      {
        ...idxEntry(() => '', {}),
        systemCopies: [{ dir, package: 'toy-pkg', sha256: { 'a.gz': '0'.repeat(64) } }],
      },
    ];
    await expect(verifyLocalCopy('toy-mnist', catalogue)).rejects.toThrow(
      /a\.gz: sha256 [0-9a-f]{64}, expected 0{64}; reinstall toy-pkg/,
    );
  });
});
