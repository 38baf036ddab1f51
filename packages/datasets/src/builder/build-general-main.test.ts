import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it, vi } from 'vitest';
import { openHierglowDataset } from '../formats/hierglow-format.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { main } from './build-general-main.js';

const tempDir = useTempDirs();

describe('build-general-main', () => {
  it('reads a `group<TAB>path` manifest and builds both splits', async () => {
    const dir = await tempDir();
    const lines = ['# photos'];
    for (let i = 0; i < 4; i++) {
      const p = join(dir, `p${i}.png`);
      await sharp({
        create: {
          width: 48 + i * 8,
          height: 40,
          channels: 3,
          background: { r: 40 * i, g: 10, b: 90 },
        },
      })
        .png()
        .toFile(p);
      lines.push(i < 2 ? `pair\t${p}` : p);
    }
    await writeFile(join(dir, 'm.tsv'), `${lines.join('\n')}\n`);
    const out: string[] = [];
    const spyOut = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await main([
        '--manifest',
        join(dir, 'm.tsv'),
        '--out',
        join(dir, 'o'),
        '--train-count',
        '30',
        '--validation-count',
        '6',
        '--channels',
        '1',
        '--validation-fraction',
        '0.4',
      ]);
      expect(code).toBe(0);
    } finally {
      spyOut.mockRestore();
      spyErr.mockRestore();
    }
    const summary = JSON.parse(out.join(''));
    expect(summary).toMatchObject({ trainCount: 30, validationCount: 6, photos: 4 });
    const val = await openHierglowDataset(join(dir, 'o', 'validation.hgds'));
    expect([val.count, val.channels]).toEqual([6, 1]);
    await val.close();
    expect(await main([])).toBe(2);
  });
});
