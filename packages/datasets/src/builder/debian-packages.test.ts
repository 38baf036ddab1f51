import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError, DownloadError, MissingToolError } from '../errors.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { type DebianFetchEvent, fetchDebianPackages, isUnpacked } from './debian-packages.js';

const tempDir = useTempDirs();

/**
 * Stand-ins for apt-get and dpkg-deb (no network, no apt): apt-get fails while `$STATE/no-lists`
 * exists (a container before `apt-get update`); dpkg-deb fails while `$STATE/broken` exists,
 * after unpacking part of the tree. Every call is appended to `$STATE/log`.
 */
async function fakeTools() {
  const dir = await tempDir();
  const bin = join(dir, 'bin');
  const state = join(dir, 'state');
  await mkdir(bin);
  await mkdir(state);
  const scripts = {
    'apt-get': `#!/bin/sh
echo "apt-get $*" >> "$STATE/log"
case "$1" in
  update) rm -f "$STATE/no-lists" ;;
  download)
    if [ -e "$STATE/no-lists" ]; then echo "E: Unable to locate package $2" >&2; exit 100; fi
    echo "contents of $2" > "$2_1.0_all.deb" ;;
esac
`,
    'dpkg-deb': `#!/bin/sh
echo "dpkg-deb $*" >> "$STATE/log"
mkdir -p "$3/usr/share"
if [ -e "$STATE/broken" ]; then echo "dpkg-deb: error: unexpected end of file" >&2; exit 2; fi
cp "$2" "$3/usr/share/content"
`,
  };
  for (const [name, text] of Object.entries(scripts)) {
    await writeFile(join(bin, name), text);
    await chmod(join(bin, name), 0o755);
  }
  const env = { PATH: `${bin}:/usr/bin:/bin`, STATE: state };
  const log = async () => (await readFile(join(state, 'log'), 'utf8').catch(() => '')).trim();
  return { dir, state, env, log };
}

describe('fetchDebianPackages', () => {
  it('downloads and unpacks each package once, then uses the cache', async () => {
    const { dir, env, log } = await fakeTools();
    const cacheDir = join(dir, 'cache');
    const events: DebianFetchEvent[] = [];
    const roots = await fetchDebianPackages(['pkg-a', 'pkg-b'], {
      cacheDir,
      env,
      onProgress: (e) => events.push(e),
    });
    expect(roots).toEqual([join(cacheDir, 'pkg-a'), join(cacheDir, 'pkg-b')]);
    expect(await readFile(join(cacheDir, 'pkg-b', 'usr/share/content'), 'utf8')).toBe(
      'contents of pkg-b\n',
    );
    expect(await isUnpacked(cacheDir, 'pkg-a')).toBe(true);
    expect((await readdir(cacheDir)).sort()).toEqual(['pkg-a', 'pkg-b']); // no .fetch-* left
    expect(events.filter((e) => e.stage === 'fetched').map((e) => e.package)).toEqual([
      'pkg-a',
      'pkg-b',
    ]);
    const calls = await log();
    expect(calls.split('\n')).toHaveLength(4);

    events.length = 0;
    await fetchDebianPackages(['pkg-a', 'pkg-b'], {
      cacheDir,
      env,
      onProgress: (e) => events.push(e),
    });
    expect(await log()).toBe(calls);
    expect(events.map((e) => e.stage)).toEqual(['cached', 'cached']);
  });

  it('runs apt-get update once when a download fails and updating is allowed', async () => {
    const { dir, state, env, log } = await fakeTools();
    await writeFile(join(state, 'no-lists'), '');
    await fetchDebianPackages(['pkg-a', 'pkg-b'], {
      cacheDir: join(dir, 'cache'),
      env,
      aptUpdate: true,
    });
    expect((await log()).split('\n').filter((l) => l.startsWith('apt-get'))).toEqual([
      'apt-get download pkg-a',
      'apt-get update',
      'apt-get download pkg-a',
      'apt-get download pkg-b',
    ]);
  });

  it('names the package and apt-get update when a download fails', async () => {
    const { dir, state, env, log } = await fakeTools();
    await writeFile(join(state, 'no-lists'), '');
    const cacheDir = join(dir, 'cache');
    const err = await fetchDebianPackages(['pkg-a'], { cacheDir, env, aptUpdate: false }).catch(
      (e) => e,
    );
    expect(DownloadError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/apt-get download pkg-a failed \(exit 100\)/);
    expect(err.message).toMatch(/Unable to locate package pkg-a/);
    expect(err.message).toMatch(/run apt-get update first/);
    expect(await log()).not.toMatch(/update/);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('leaves no package folder when the unpack fails', async () => {
    const { dir, state, env } = await fakeTools();
    await writeFile(join(state, 'broken'), '');
    const cacheDir = join(dir, 'cache');
    await expect(fetchDebianPackages(['pkg-a'], { cacheDir, env })).rejects.toSatisfy(
      (e: Error) => CorruptDatasetError.isInstance(e) && /pkg-a_1\.0_all\.deb/.test(e.message),
    );
    expect(await readdir(cacheDir)).toEqual([]);
    expect(await isUnpacked(cacheDir, 'pkg-a')).toBe(false);
  });

  it('says what to install when apt-get is missing', async () => {
    const dir = await tempDir();
    const err = await fetchDebianPackages(['pkg-a'], {
      cacheDir: join(dir, 'cache'),
      env: { PATH: join(dir, 'empty') },
    }).catch((e) => e);
    expect(MissingToolError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/apt-get was not found.*Debian or Ubuntu/);
  });
});
