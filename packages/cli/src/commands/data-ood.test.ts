import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '@hierglow/anomaly-metrics';
import { buildGeneralDataset, type ImageSource, openHierglowDataset } from '@hierglow/datasets';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommandIO } from '../command.js';
import { dataBuildOodCommand } from './data-ood.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function image(path: string, shade: number) {
  const pixels = new Uint8Array(64 * 64 * 3).fill(shade);
  await writeFile(path, encodePng(pixels, { height: 64, width: 64, channels: 3 }));
}

describe('data build-ood --photos with a broad general set', () => {
  it('crops only the held-out photographs, never other kinds or photos the model trained on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hierglow-ood-'));
    dirs.push(dir);
    await mkdir(join(dir, 'src'));
    const sources: ImageSource[] = [];
    for (let i = 0; i < 10; i++) {
      const photo = join(dir, 'src', `photo${i}.png`);
      const texture = join(dir, 'src', `texture${i}.png`);
      await image(photo, 100 + i);
      await image(texture, 200 + i);
      sources.push({ path: photo, group: photo, kind: 'photo', package: 'p', rendering: 'crop' });
      sources.push({
        path: texture,
        group: texture,
        kind: 'texture',
        package: 't',
        rendering: 'crop',
      });
    }
    const general = await buildGeneralDataset({
      sources,
      outDir: join(dir, 'general'),
      trainCount: 40,
      validationCount: 10,
      channels: 1,
      balance: 'kind',
    });
    const heldOutShades = general.photos
      .filter((p) => p.kind === 'photo' && p.split === 'validation')
      .map((p) => Math.floor(0.9999 * (100 + Number(/photo(\d)/.exec(p.path)![1]))));
    expect(heldOutShades.length).toBe(1);
    const io: CommandIO = { out: () => {}, err: () => {}, signal: new AbortController().signal };
    const values = {
      out: join(dir, 'ood'),
      photos: join(dir, 'general'),
      sets: 'photos',
      count: '25',
    };
    expect(await dataBuildOodCommand.run({ values, positionals: [] }, io)).toBe(0);
    const ds = await openHierglowDataset(join(dir, 'ood', 'photos.hgds'));
    expect(ds.count).toBe(25);
    const all = await ds.slice(0, ds.count);
    expect(new Set(all.pixels)).toEqual(new Set(heldOutShades));
    await ds.close();
  });
});
