import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createGunzip, createInflateRaw } from 'node:zlib';
import { CorruptDatasetError } from '../errors.js';
import { FileRecordStore } from '../record-store.js';

/**
 * Extraction of the two archive kinds the catalogue downloads (CIFAR's .tar.gz, EMNIST's .zip).
 * Archives are streamed (never loaded whole), member paths are checked so nothing is written
 * outside the destination, and output goes to a temporary folder renamed into place at the end.
 */

/** A member path made safe: relative, no `..`, normalised; null for entries to skip. */
function safeMemberPath(archive: string, name: string): string {
  const n = normalize(name.replace(/\\/g, '/'));
  if (n.startsWith('/') || n.startsWith(`..${sep}`) || n === '..' || n.split(sep).includes('..')) {
    throw new CorruptDatasetError(
      `${archive}: member "${name}" points outside the archive folder; refusing to extract it`,
    );
  }
  return n;
}

/** Decompresses `gzPath` to `outPath` (streamed). */
export async function gunzipToFile(gzPath: string, outPath: string): Promise<void> {
  try {
    await pipeline(createReadStream(gzPath), createGunzip(), createWriteStream(outPath));
  } catch (e) {
    throw new CorruptDatasetError(
      `${gzPath}: gzip data is corrupt or truncated (${(e as Error).message}); delete it and download again`,
      {
        cause: e,
      },
    );
  }
}

/**
 * Extracts a .tar.gz into `destDir` (created if needed). The archive is first gunzipped to a
 * temporary .tar, then each regular file is copied out by position. Supports ustar, GNU long
 * names ('L') and pax path records ('x').
 */
export async function extractTarGz(archive: string, destDir: string): Promise<string[]> {
  const work = `${destDir}.extract-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const tarPath = join(work, '.archive.tar');
  try {
    await gunzipToFile(archive, tarPath);
    const members = await extractTar(archive, tarPath, work);
    await rm(tarPath);
    await mkdir(destDir, { recursive: true });
    for (const top of new Set(members.map((m) => m.split(sep)[0]!))) {
      await rm(join(destDir, top), { recursive: true, force: true });
      await rename(join(work, top), join(destDir, top));
    }
    return members;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function extractTar(archive: string, tarPath: string, outDir: string): Promise<string[]> {
  const store = await FileRecordStore.open(tarPath);
  const members: string[] = [];
  try {
    let pos = 0;
    let longName: string | null = null;
    const header = new Uint8Array(512);
    while (pos + 512 <= store.size) {
      await store.read(pos, 512, header, 0);
      if (header.every((b) => b === 0)) break; // end-of-archive marker
      const checksum = parseOctal(header, 148, 8);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
      if (checksum !== sum) {
        throw new CorruptDatasetError(
          `${archive}: tar header at byte ${pos} has a bad checksum; the archive is corrupt`,
        );
      }
      const size = parseOctal(header, 124, 12);
      if (size < 0)
        throw new CorruptDatasetError(
          `${archive}: tar header at byte ${pos} has an unreadable size`,
        );
      const type = String.fromCharCode(header[156]!);
      const dataStart = pos + 512;
      if (dataStart + size > store.size) {
        throw new CorruptDatasetError(
          `${archive}: tar member at byte ${pos} runs past the end; the archive is truncated`,
        );
      }
      let name = longName ?? tarName(header);
      longName = null;
      if (type === 'L' || type === 'x') {
        const data = new Uint8Array(Math.min(size, 1 << 20));
        await store.read(dataStart, data.length, data, 0);
        const text = new TextDecoder().decode(data);
        if (type === 'L') longName = text.replace(/\0.*$/s, '');
        else {
          const m = /\d+ path=([^\n]*)\n/.exec(text);
          if (m) longName = m[1]!;
        }
      } else if (type === '0' || type === '\0') {
        name = safeMemberPath(archive, name);
        const out = join(outDir, name);
        await mkdir(dirname(out), { recursive: true });
        await pipeline(
          size > 0
            ? createReadStream(tarPath, { start: dataStart, end: dataStart + size - 1 })
            : emptyStream(),
          createWriteStream(out),
        );
        members.push(name);
      }
      pos = dataStart + Math.ceil(size / 512) * 512;
    }
  } finally {
    await store.close();
  }
  if (members.length === 0)
    throw new CorruptDatasetError(`${archive}: the tar archive holds no files`);
  return members;
}

async function* emptyStream() {}

function tarName(h: Uint8Array): string {
  const field = (o: number, n: number) =>
    new TextDecoder().decode(h.subarray(o, o + n)).replace(/\0.*$/s, '');
  const name = field(0, 100);
  const prefix = new TextDecoder().decode(h.subarray(257, 263)).startsWith('ustar')
    ? field(345, 155)
    : '';
  return prefix ? `${prefix}/${name}` : name;
}

function parseOctal(h: Uint8Array, offset: number, length: number): number {
  const text = new TextDecoder('latin1')
    .decode(h.subarray(offset, offset + length))
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]*$/.test(text)) return -1;
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** A member of a zip archive, from its central directory. */
interface ZipMember {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  localHeader: number;
}

/**
 * Extracts the members of a zip archive whose names pass `wanted` into `destDir`, keeping
 * their paths. Stored and deflated members; CRC-32 checked. Zip64 archives are not supported.
 * All or nothing: every wanted member is checked (path, header, bounds, method) before any is
 * written, each is decompressed and CRC-checked into a temporary file, and only when all have
 * passed do they take their names; a refused archive leaves nothing behind.
 */
export async function extractZip(
  archive: string,
  destDir: string,
  wanted: (name: string) => boolean = () => true,
): Promise<string[]> {
  const store = await FileRecordStore.open(archive);
  const plans: { member: ZipMember; rel: string; dataStart: number }[] = [];
  try {
    for (const m of await readCentralDirectory(archive, store)) {
      if (m.name.endsWith('/') || !wanted(m.name)) continue;
      const rel = safeMemberPath(archive, m.name);
      const local = new Uint8Array(30);
      if (m.localHeader + 30 > store.size)
        throw new CorruptDatasetError(`${archive}: local header of ${m.name} is past the end`);
      await store.read(m.localHeader, 30, local, 0);
      const lv = new DataView(local.buffer);
      if (lv.getUint32(0, true) !== 0x04034b50) {
        throw new CorruptDatasetError(
          `${archive}: member ${m.name} has no local header signature; the archive is corrupt`,
        );
      }
      const dataStart = m.localHeader + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
      if (dataStart + m.compressedSize > store.size) {
        throw new CorruptDatasetError(
          `${archive}: member ${m.name} runs past the end; the archive is truncated`,
        );
      }
      if (m.method !== 0 && m.method !== 8) {
        throw new CorruptDatasetError(
          `${archive}: member ${m.name} uses compression method ${m.method} (only stored and deflate are supported)`,
        );
      }
      plans.push({ member: m, rel, dataStart });
    }
  } finally {
    await store.close();
  }
  const temps: string[] = [];
  try {
    for (const { member: m, rel, dataStart } of plans) {
      const out = join(destDir, rel);
      await mkdir(dirname(out), { recursive: true });
      const temp = `${out}.part-${process.pid}`;
      temps.push(temp);
      let crc = 0;
      let size = 0;
      const check = new Transform({
        transform(chunk: Buffer, _enc, done) {
          crc = crc32(chunk, crc);
          size += chunk.length;
          // More than the directory promises is refused at once (a crafted member).
          if (size > m.size) done(new Error(`more than the ${m.size} bytes recorded`));
          else done(null, chunk);
        },
      });
      const source =
        m.compressedSize > 0
          ? createReadStream(archive, { start: dataStart, end: dataStart + m.compressedSize - 1 })
          : emptyStream();
      try {
        if (m.method === 8)
          await pipeline(source, createInflateRaw(), check, createWriteStream(temp));
        else await pipeline(source, check, createWriteStream(temp));
      } catch (e) {
        throw new CorruptDatasetError(
          `${archive}: member ${m.name} does not decompress (${(e as Error).message}); nothing was extracted`,
          { cause: e },
        );
      }
      if (size !== m.size || crc >>> 0 !== m.crc >>> 0) {
        throw new CorruptDatasetError(
          `${archive}: member ${m.name} fails its CRC/size check; the archive is corrupt and nothing was extracted`,
        );
      }
    }
    for (const [i, { rel }] of plans.entries()) await rename(temps[i]!, join(destDir, rel));
    temps.length = 0;
  } finally {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
  }
  return plans.map((p) => p.rel);
}

async function readCentralDirectory(archive: string, store: FileRecordStore): Promise<ZipMember[]> {
  const tailLength = Math.min(store.size, 65_535 + 22);
  const tail = new Uint8Array(tailLength);
  await store.read(store.size - tailLength, tailLength, tail, 0);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0)
    throw new CorruptDatasetError(
      `${archive}: no zip end-of-central-directory record; not a zip file or truncated`,
    );
  const entries = tv.getUint16(eocd + 10, true);
  const cdSize = tv.getUint32(eocd + 12, true);
  const cdOffset = tv.getUint32(eocd + 16, true);
  if (entries === 0xffff || cdOffset === 0xffffffff)
    throw new CorruptDatasetError(`${archive}: zip64 archives are not supported`);
  if (cdOffset + cdSize > store.size)
    throw new CorruptDatasetError(`${archive}: the zip central directory lies past the end`);
  const cd = new Uint8Array(cdSize);
  await store.read(cdOffset, cdSize, cd, 0);
  const v = new DataView(cd.buffer);
  const members: ZipMember[] = [];
  let p = 0;
  for (let i = 0; i < entries; i++) {
    if (p + 46 > cdSize || v.getUint32(p, true) !== 0x02014b50) {
      throw new CorruptDatasetError(`${archive}: zip central directory entry ${i} is corrupt`);
    }
    const nameLength = v.getUint16(p + 28, true);
    const extra = v.getUint16(p + 30, true);
    const comment = v.getUint16(p + 32, true);
    if (p + 46 + nameLength > cdSize)
      throw new CorruptDatasetError(`${archive}: zip central directory entry ${i} is truncated`);
    const m: ZipMember = {
      method: v.getUint16(p + 10, true),
      crc: v.getUint32(p + 16, true),
      compressedSize: v.getUint32(p + 20, true),
      size: v.getUint32(p + 24, true),
      localHeader: v.getUint32(p + 42, true),
      name: new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLength)),
    };
    if (m.compressedSize === 0xffffffff || m.size === 0xffffffff || m.localHeader === 0xffffffff) {
      throw new CorruptDatasetError(
        `${archive}: member ${m.name} needs zip64, which is not supported`,
      );
    }
    members.push(m);
    p += 46 + nameLength + extra + comment;
  }
  return members;
}
