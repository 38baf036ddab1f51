import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodePng } from '@hierglow/anomaly-metrics';
import {
  DEBIAN_BROAD_PACKAGES,
  DEBIAN_PHOTO_PACKAGES,
  openHierglowDataset,
  UNPACKED_MARKER,
} from '@hierglow/datasets';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommandIO } from '../command.js';
import { dataBuildGeneralCommand } from './data.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A 64x48 photo of horizontal bands (PNG bytes; the builder reads content, not the suffix). */
async function photo(path: string, shade: number) {
  const pixels = new Uint8Array(64 * 48 * 3).map((_, i) => (shade + Math.floor(i / 640) * 9) % 256);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, encodePng(pixels, { height: 48, width: 64, channels: 3 }));
}

/** A cache where every package is unpacked (so no apt-get runs) and three photos are present. */
async function fakeCache(): Promise<string> {
  const cache = await mkdtemp(join(tmpdir(), 'hierglow-debdata-'));
  dirs.push(cache);
  for (const p of [...DEBIAN_PHOTO_PACKAGES, ...DEBIAN_BROAD_PACKAGES]) {
    await mkdir(join(cache, p.name), { recursive: true });
    await writeFile(join(cache, p.name, UNPACKED_MARKER), '');
  }
  const cosmos = join(cache, 'mate-screensaver-common/usr/share/backgrounds/cosmos');
  await photo(join(cosmos, 'andromeda.jpg'), 10);
  await photo(join(cosmos, 'orion.jpg'), 90);
  await photo(join(cache, 'budgie-core/usr/share/backgrounds/budgie/default.jpg'), 170);
  return cache;
}

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    signal: new AbortController().signal,
  };
  return { io, out, err };
}

describe('data build-general', () => {
  it('builds both splits in-process from the cached packages and reports them', async () => {
    const cache = await fakeCache();
    const outDir = join(cache, 'out');
    const values = {
      out: outDir,
      cache,
      'train-count': '20',
      'validation-count': '4',
      channels: '1',
      seed: '3',
      sources: 'photos',
    };
    const { io, out, err } = captureIo();
    expect(await dataBuildGeneralCommand.run({ values, positionals: [] }, io)).toBe(0);
    expect(JSON.parse(out.join('\n'))).toMatchObject({
      train: join(outDir, 'train.hgds'),
      trainCount: 20,
      validationCount: 4,
      photos: 3,
      trainPhotos: 2,
      validationPhotos: 1,
      skipped: [],
    });
    expect(err).toContain(`3 images in 3 groups, 0 skipped as text or symbols (${cache})`);
    expect(err.some((l) => /^warning: no image at .*skimage\/data\/moon\.png/.test(l))).toBe(true);
    expect(err.at(-1)).toMatch(/^validation: 4\/4 crops \(100%\)/);
    const train = await openHierglowDataset(join(outDir, 'train.hgds'));
    expect([train.count, train.height, train.channels]).toEqual([20, 32, 1]);
    expect(train.provenance.details).toMatchObject({ seed: 3, channels: 1 });
    await train.close();

    // Done already: nothing is rebuilt; inside `reproduce` (quiet) stdout stays empty.
    const again = captureIo();
    const quiet = { ...values, quiet: true };
    expect(await dataBuildGeneralCommand.run({ values: quiet, positionals: [] }, again.io)).toBe(0);
    expect(again.err.join('\n')).toMatch(/already holds train\.hgds and validation\.hgds/);
    await rm(outDir, { recursive: true });
    expect(await dataBuildGeneralCommand.run({ values: quiet, positionals: [] }, again.io)).toBe(0);
    expect(again.out).toEqual([]);
    expect(again.err.join('\n')).toMatch(/"trainCount": 20/);
    expect(existsSync(join(outDir, 'validation.hgds'))).toBe(true);
  });

  it('builds the broad set by default, skipping text by name, with a domain-matched share', async () => {
    const cache = await fakeCache();
    const stamps = join(cache, 'tuxpaint-stamps-default/usr/share/tuxpaint/stamps');
    await photo(join(stamps, 'animals/cat.png'), 40);
    await photo(join(stamps, 'animals/dog.png'), 60);
    await photo(join(stamps, 'symbols/alphabets/a.png'), 80); // a folder the rules skip
    await photo(join(stamps, 'town/roadsigns/stop.png'), 120); // skipped as text by name
    const outDir = join(cache, 'broad');
    const values = {
      out: outDir,
      cache,
      'train-count': '40',
      'validation-count': '8',
      channels: '1',
      'domain-weight': '0.5',
      'domain-style': 'fashion-mnist',
    };
    const { io, out, err } = captureIo();
    expect(await dataBuildGeneralCommand.run({ values, positionals: [] }, io)).toBe(0);
    expect(err.filter((l) => / images in /.test(l))).toEqual([
      `5 images in 5 groups, 1 skipped as text or symbols (${cache})`,
    ]);
    const summary = JSON.parse(out.join('\n'));
    expect(summary.domain).toEqual({ train: 20, validation: 4 });
    expect(Object.keys(summary.kinds).sort()).toEqual(['astronomy', 'object', 'photo']);
    expect(summary.packages['tuxpaint-stamps-default'].images).toBe(2);
    const train = await openHierglowDataset(join(outDir, 'train.hgds'));
    const names = train.classNames!.join(' ');
    expect(names).not.toMatch(/roadsigns|alphabets/);
    await train.close();
  });

  it('checks its flags before fetching anything', async () => {
    const { io } = captureIo();
    const run = (values: Record<string, unknown>) =>
      dataBuildGeneralCommand.run({ values, positionals: [] }, io);
    await expect(run({})).rejects.toThrow(/needs --out DIR/);
    await expect(run({ out: '/nonexistent/x', 'train-count': '0' })).rejects.toThrow(
      /--train-count must be an integer >= 1/,
    );
    await expect(run({ out: '/nonexistent/x', channels: '2' })).rejects.toThrow(/channels/);
    await expect(run({ out: '/nonexistent/x', 'domain-weight': '0.5' })).rejects.toThrow(
      /--domain-weight needs --domain-style/,
    );
    await expect(
      run({ out: '/nonexistent/x', 'domain-weight': '2', 'domain-style': 'fashion-mnist' }),
    ).rejects.toThrow(/--domain-weight must be a number >= 0 and <= 1/);
    await expect(
      run({ out: '/nonexistent/x', 'domain-weight': '0.5', 'domain-style': 'canvas=28' }),
    ).rejects.toThrow(/--domain-style: domain style: object is missing/);
    await expect(run({ out: '/nonexistent/x', sources: 'all' })).rejects.toThrow(/sources/);
  });
});
