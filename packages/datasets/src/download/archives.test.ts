import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError } from '../errors.js';
import { encodeTarGz, encodeZip } from '../test-support/archive-writers.js';
import { expectCleanFailureOrSuccess, mutations } from '../test-support/fuzz.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { randomBytes } from '../test-support/writers.js';
import { extractTarGz, extractZip } from './archives.js';

const tempDir = useTempDirs();
const hasTool = (tool: string) => {
  try {
    execFileSync(tool, [tool === 'tar' ? '--version' : '-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const hasTar = hasTool('tar');
const hasZip = hasTool('zip');

describe('extractTarGz', () => {
  it('extracts a ustar archive into the destination', async () => {
    const dir = await tempDir();
    const a = randomBytes(1500, 1);
    await writeFile(
      join(dir, 'x.tar.gz'),
      encodeTarGz({ 'top/a.bin': a, 'top/sub/b.txt': new TextEncoder().encode('hi') }),
    );
    const members = await extractTarGz(join(dir, 'x.tar.gz'), join(dir, 'out'));
    expect(members.sort()).toEqual(['top/a.bin', 'top/sub/b.txt']);
    expect(new Uint8Array(await readFile(join(dir, 'out', 'top', 'a.bin')))).toEqual(a);
    expect(await readdir(dir)).toEqual(['out', 'x.tar.gz']); // no temporary folder left
  });

  it.runIf(hasTar)('extracts a GNU tar archive with long member names', async () => {
    const dir = await tempDir();
    const long = 'd'.repeat(60);
    await mkdir(join(dir, 'src', long, long), { recursive: true });
    await writeFile(join(dir, 'src', long, long, 'data_batch_1.bin'), randomBytes(700, 2));
    execFileSync('tar', ['-czf', join(dir, 'g.tar.gz'), '-C', join(dir, 'src'), long]);
    const members = await extractTarGz(join(dir, 'g.tar.gz'), join(dir, 'out'));
    expect(members).toEqual([join(long, long, 'data_batch_1.bin')]);
    expect((await readFile(join(dir, 'out', long, long, 'data_batch_1.bin'))).length).toBe(700);
  });

  it('refuses members that escape the destination', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'evil.tar.gz'), encodeTarGz({ '../escape.txt': new Uint8Array(3) }));
    await expect(extractTarGz(join(dir, 'evil.tar.gz'), join(dir, 'out'))).rejects.toThrow(
      /points outside the archive folder/,
    );
  });

  it('survives fuzzed archives with typed errors only', async () => {
    const dir = await tempDir();
    const valid = encodeTarGz({ 'a/x.bin': randomBytes(900, 3), 'a/y.bin': randomBytes(10, 4) });
    for (const m of mutations(valid, 8, 120)) {
      await writeFile(join(dir, 'f.tar.gz'), m);
      await expectCleanFailureOrSuccess(() =>
        extractTarGz(join(dir, 'f.tar.gz'), join(dir, 'out')),
      );
    }
  });
});

describe('extractZip', () => {
  for (const method of [0, 8] as const) {
    it(`extracts the wanted members (method ${method}) and checks their CRC`, async () => {
      const dir = await tempDir();
      const files = {
        'gzip/emnist-digits-train-images-idx3-ubyte.gz': randomBytes(3000, 5),
        'gzip/other.gz': randomBytes(10, 6),
      };
      await writeFile(join(dir, 'e.zip'), encodeZip(files, method));
      const got = await extractZip(join(dir, 'e.zip'), join(dir, 'out'), (n) =>
        n.includes('digits'),
      );
      expect(got).toEqual(['gzip/emnist-digits-train-images-idx3-ubyte.gz']);
      expect(new Uint8Array(await readFile(join(dir, 'out', got[0]!)))).toEqual(
        files['gzip/emnist-digits-train-images-idx3-ubyte.gz'],
      );
    });
  }

  it.runIf(hasZip)('extracts an archive made by Info-ZIP', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'src', 'gzip'), { recursive: true });
    const data = randomBytes(5000, 9);
    await writeFile(join(dir, 'src', 'gzip', 'a.gz'), data);
    execFileSync('zip', ['-q', '-r', join(dir, 'z.zip'), 'gzip'], { cwd: join(dir, 'src') });
    expect(await extractZip(join(dir, 'z.zip'), join(dir, 'out'))).toEqual(['gzip/a.gz']);
    expect(new Uint8Array(await readFile(join(dir, 'out', 'gzip', 'a.gz')))).toEqual(data);
  });

  it('reports a flipped data byte as a CRC failure', async () => {
    const dir = await tempDir();
    const zip = encodeZip({ 'a.bin': randomBytes(100, 7) }, 0);
    zip[40]! ^= 0xff;
    await writeFile(join(dir, 'c.zip'), zip);
    const err = await extractZip(join(dir, 'c.zip'), join(dir, 'out')).catch((e) => e);
    expect(CorruptDatasetError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/c\.zip: member a\.bin fails its CRC\/size check/);
  });

  it('extracts nothing from a refused archive, whichever member is refused', async () => {
    const dir = await tempDir();
    const good = { 'a/first.bin': randomBytes(50, 1), 'a/second.bin': randomBytes(50, 2) };
    // A member escaping the destination after good ones.
    await writeFile(
      join(dir, 'escape.zip'),
      encodeZip({ ...good, '../outside.bin': randomBytes(10, 3) }, 0),
    );
    await expect(extractZip(join(dir, 'escape.zip'), join(dir, 'out1'))).rejects.toThrow(
      /outside\.bin/,
    );
    expect(existsSync(join(dir, 'out1'))).toBe(false);
    expect(existsSync(join(dir, 'outside.bin'))).toBe(false);
    // The last member corrupt: the earlier ones were fine, but none is kept.
    const third = randomBytes(100, 4);
    const zip = encodeZip({ ...good, 'a/third.bin': third }, 0);
    zip[Buffer.from(zip).indexOf(Buffer.from(third)) + 5]! ^= 0xff;
    await writeFile(join(dir, 'crc.zip'), zip);
    const err = await extractZip(join(dir, 'crc.zip'), join(dir, 'out2')).catch((e) => e);
    expect(CorruptDatasetError.isInstance(err), String(err)).toBe(true);
    expect(err.message).toMatch(/nothing was extracted/);
    expect(await readdir(join(dir, 'out2'), { recursive: true })).toEqual(['a']);
  });

  it('survives fuzzed archives with typed errors only', async () => {
    const dir = await tempDir();
    const valid = encodeZip({ 'a/x.bin': randomBytes(700, 3), 'a/y.bin': randomBytes(30, 4) });
    for (const m of mutations(valid, 9, 160)) {
      await writeFile(join(dir, 'f.zip'), m);
      await expectCleanFailureOrSuccess(() => extractZip(join(dir, 'f.zip'), join(dir, 'out')));
    }
  });
});
