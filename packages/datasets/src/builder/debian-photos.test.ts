import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../test-support/temp-dir.js';
import {
  DEBIAN_PHOTO_PACKAGES,
  defaultDebianCacheDir,
  largestResolution,
  selectDebianPhotos,
} from './debian-photos.js';

const tempDir = useTempDirs();

/** Creates empty files (selection never decodes them) under `root`. */
async function touch(root: string, paths: string[]) {
  for (const p of paths) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), '');
  }
}

const WP = 'plasma-workspace-wallpapers/usr/share/wallpapers';
const SK = 'python3-skimage/usr/lib/python3/dist-packages/skimage/data';
const LM = 'labelme-examples/usr/share/doc/labelme-examples/examples';
const DL = 'libdlib19.1/usr/share/doc/libdlib19.1/examples';

/** A cache folder shaped like the unpacked packages, with decoys each rule must leave out. */
async function fakeTree(root: string) {
  const plasma = [
    'BytheWater',
    'ColdRipple',
    'ColorfulCups',
    'DarkestHour',
    'EveningGlow',
    'FallenLeaf',
    'Grey',
    'Kite',
    'OneStandsOut',
    'summer_1am',
  ]; // 'Path' is missing
  for (const w of plasma) await touch(root, [`${WP}/${w}/contents/images/1920x1080.jpg`]);
  // Numeric, not textual, order of sizes; equal widths decided by the height.
  await touch(root, [
    `${WP}/Kite/contents/images/999x9999.jpg`,
    `${WP}/Kite/contents/images/2560x1440.jpg`,
    `${WP}/Kite/contents/images/2560x1600.png`,
    `${WP}/Autumn/contents/images/5120x2880.jpg`, // not a photograph
  ]);
  // A size that is a link to another (as in the real package) still counts as a file.
  await symlink('1920x1080.jpg', join(root, `${WP}/Grey/contents/images/3840x2160.jpg`));
  await touch(root, [
    'kphotoalbum/usr/share/kphotoalbum/demo/img_0001.jpg',
    'kphotoalbum/usr/share/kphotoalbum/demo/qt-logo.jpg',
    'kphotoalbum/usr/share/kphotoalbum/demo/.hidden.jpg',
    'kphotoalbum/usr/share/kphotoalbum/demo/notes.png',
    `${SK}/astronaut.png`,
    `${SK}/gravel.png`,
    `${SK}/horse.png`, // a drawing
    `${LM}/semantic_segmentation/data_dataset_voc/JPEGImages/2011_000003.jpg`,
    `${LM}/semantic_segmentation/data_dataset_voc/JPEGImages/2011_000099.jpg`,
    `${LM}/classification/data_annotated/0001.jpg`,
    `${LM}/tutorial/apc2016_obj3.jpg`,
    `${LM}/video_annotation/data_dataset_voc/JPEGImages/00000100.jpg`,
    `${LM}/video_annotation/data_dataset_voc/JPEGImages/00000101.jpg`,
    `${DL}/faces/2008_002470.jpg`,
    `${DL}/faces/dogs.jpg`,
    `${DL}/mmod_cars_test_image.jpg`,
    `${DL}/mmod_cars_test_image2.jpg`,
    `${DL}/mmod_cars_training.jpg`,
    `${DL}/johns/John_Simm/a.jpg`,
    `${DL}/johns/John_Simm/b.jpg`,
    `${DL}/johns/John_Salley/a.jpg`,
    `${DL}/johns/README.jpg`, // a file, not a person's folder
    'mate-screensaver-common/usr/share/backgrounds/cosmos/jupiter.jpg',
    'budgie-core/usr/share/backgrounds/budgie/default.jpg',
  ]);
  for (let i = 0; i < 25; i++)
    await touch(root, [`${DL}/video_frames/frame_${String(100 + i).padStart(6, '0')}.jpg`]);
}

describe('selectDebianPhotos', () => {
  it('picks the files and groups of the build rules from an unpacked tree', async () => {
    const root = await tempDir();
    await fakeTree(root);
    const { sources, missing } = await selectDebianPhotos(root);
    const got = sources.map((s) => `${s.group}\t${s.path.slice(root.length + 1)}`);
    const plasmaAt = (w: string, size: string) => `plasma:${w}\t${WP}/${w}/contents/images/${size}`;
    expect(got).toEqual([
      plasmaAt('BytheWater', '1920x1080.jpg'),
      plasmaAt('ColdRipple', '1920x1080.jpg'),
      plasmaAt('ColorfulCups', '1920x1080.jpg'),
      plasmaAt('DarkestHour', '1920x1080.jpg'),
      plasmaAt('EveningGlow', '1920x1080.jpg'),
      plasmaAt('FallenLeaf', '1920x1080.jpg'),
      plasmaAt('Grey', '3840x2160.jpg'),
      plasmaAt('Kite', '2560x1600.png'),
      plasmaAt('OneStandsOut', '1920x1080.jpg'),
      plasmaAt('summer_1am', '1920x1080.jpg'),
      'kphotoalbum:img_0001.jpg\tkphotoalbum/usr/share/kphotoalbum/demo/img_0001.jpg',
      `skimage:astronaut.png\t${SK}/astronaut.png`,
      `skimage:gravel.png\t${SK}/gravel.png`,
      `labelme:2011_000003\t${LM}/semantic_segmentation/data_dataset_voc/JPEGImages/2011_000003.jpg`,
      `labelme:cat\t${LM}/classification/data_annotated/0001.jpg`,
      `labelme:apc2016\t${LM}/tutorial/apc2016_obj3.jpg`,
      `labelme:street-clip\t${LM}/video_annotation/data_dataset_voc/JPEGImages/00000100.jpg`,
      `labelme:street-clip\t${LM}/video_annotation/data_dataset_voc/JPEGImages/00000101.jpg`,
      `dlib:2008_002470.jpg\t${DL}/faces/2008_002470.jpg`,
      `dlib:dogs.jpg\t${DL}/faces/dogs.jpg`,
      `dlib:mmod_cars_test_image.jpg\t${DL}/mmod_cars_test_image.jpg`,
      `dlib:mmod_cars_test_image2.jpg\t${DL}/mmod_cars_test_image2.jpg`,
      `dlib:johns:John_Salley\t${DL}/johns/John_Salley/a.jpg`,
      `dlib:johns:John_Simm\t${DL}/johns/John_Simm/a.jpg`,
      `dlib:johns:John_Simm\t${DL}/johns/John_Simm/b.jpg`,
      // Every 10th frame of the clip, counted from the first.
      `dlib:video\t${DL}/video_frames/frame_000100.jpg`,
      `dlib:video\t${DL}/video_frames/frame_000110.jpg`,
      `dlib:video\t${DL}/video_frames/frame_000120.jpg`,
      'cosmos:jupiter.jpg\tmate-screensaver-common/usr/share/backgrounds/cosmos/jupiter.jpg',
      'budgie:colosseum\tbudgie-core/usr/share/backgrounds/budgie/default.jpg',
    ]);
    const missingRel = missing.map((m) => m.slice(root.length + 1));
    expect(missingRel).toContain(`${WP}/Path/contents/images/<W>x<H>.*`);
    expect(missingRel).toContain(`${SK}/coffee.png`);
    expect(missingRel).toContain(`${LM}/classification/data_annotated/0002.jpg`);
    // One entry per rule that found nothing: Path; 11 of the 13 skimage files; 2 VOC photos, the dog.
    expect(missingRel).toHaveLength(1 + 11 + 3);
  });

  it('reports every rule as missing in an empty folder', async () => {
    const root = await tempDir();
    const { sources, missing } = await selectDebianPhotos(root);
    const rules = DEBIAN_PHOTO_PACKAGES.reduce((n, p) => n + p.rules.length, 0);
    expect(sources).toEqual([]);
    expect(missing).toHaveLength(rules);
  });

  it('keeps to the packages of data-sources.md §2', () => {
    expect(DEBIAN_PHOTO_PACKAGES.map((p) => p.name)).toEqual([
      'plasma-workspace-wallpapers',
      'kphotoalbum',
      'python3-skimage',
      'labelme-examples',
      'libdlib19.1',
      'mate-screensaver-common',
      'budgie-core',
    ]);
  });
});

describe('largestResolution', () => {
  it('orders WIDTHxHEIGHT names numerically, width first, like sort -t x -k1,1n -k2,2n', () => {
    expect(largestResolution(['999x999.jpg', '1000x1.jpg', '640x480.jpg'])).toBe('1000x1.jpg');
    expect(largestResolution(['2560x1600.jpg', '2560x1440.jpg'])).toBe('2560x1600.jpg');
    // Same size: the last name in byte order; unnumbered names count as 0.
    expect(largestResolution(['800x600.png', '800x600.jpg', 'screenshot.png'])).toBe('800x600.png');
    expect(largestResolution([])).toBeUndefined();
  });
});

describe('defaultDebianCacheDir', () => {
  it('prefers $HIERGLOW_DEBDATA, then $XDG_CACHE_HOME', () => {
    expect(defaultDebianCacheDir({ HIERGLOW_DEBDATA: '/d', XDG_CACHE_HOME: '/x' })).toBe('/d');
    expect(defaultDebianCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/hierglow/debdata');
  });
});
