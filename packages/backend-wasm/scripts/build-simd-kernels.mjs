// Compiles hierglow's own WebAssembly SIMD kernels (csrc/*.c) with Debian's clang and lld and
// writes them, base64-encoded, to src/kernels/simd-kernels.wasm.ts, which is committed: building
// the package does not need clang, only changing a kernel does.
//
//   node scripts/build-simd-kernels.mjs           # rebuild and write
//   node scripts/build-simd-kernels.mjs --check   # rebuild and fail if the committed file differs
//
// Two memories per kernel set: one importing a shared memory (tfjs-backend-wasm's threaded
// binary) and one importing an ordinary memory (its single-threaded binary). And two instruction
// sets: plain SIMD128, built by `clang` (Debian 12: clang 14), and relaxed SIMD
// (-mrelaxed-simd: fused multiply-adds in the products and convolutions), built by `clang-16`
// (HIERGLOW_RELAXED_CLANG overrides it). clang 14 encodes relaxed-SIMD instructions with the
// proposal's early opcodes, which no shipping engine accepts; clang 16 uses the standard ones.
// The plain modules stay on clang 14 so that adding the relaxed variant left them byte for byte
// as they were.
//
// The kernels run inside tfjs' own linear memory, so they must not own a data segment or touch
// a stack (lld would place both at fixed addresses of that memory, which belong to tfjs): both
// are checked here.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(pkg, 'csrc', 'simd-kernels.c');
const target = join(pkg, 'src', 'kernels', 'simd-kernels.wasm.ts');
const check = process.argv.includes('--check');

const common = [
  '--target=wasm32',
  '-O3',
  '-msimd128',
  '-nostdlib',
  '-ffreestanding',
  '-fno-builtin',
  '-Wall',
  '-Werror',
];
/** Compiler and linker flags per memory. */
const memories = {
  shared: {
    cc: ['-matomics', '-mbulk-memory'],
    ld: ['-Wl,--shared-memory', '-Wl,--max-memory=4294967296'],
  },
  plain: { cc: [], ld: [] },
};

/** Compiler and flags per instruction set. */
const instructionSets = {
  simd128: { compiler: 'clang', cc: [] },
  relaxed: { compiler: process.env.HIERGLOW_RELAXED_CLANG || 'clang-16', cc: ['-mrelaxed-simd'] },
};

function clang(compiler, args) {
  try {
    return execFileSync(compiler, args, { encoding: 'buffer', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (e.code === 'ENOENT') {
      const pkgs = compiler === 'clang' ? 'clang lld' : 'clang-16 lld-16';
      throw new Error(
        `${compiler} not found: install Debian packages ${pkgs} (apt-get install ${pkgs})`,
      );
    }
    throw new Error(`${compiler} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

/**
 * Compiles a relaxed-SIMD module in a child Node with the flag that older V8s (Node 20) need, so
 * a compiler that emits opcodes the engine rejects fails the build instead of every load.
 */
function validateRelaxed(name, bytes) {
  const script =
    "const b = Buffer.from(require('node:fs').readFileSync(0, 'utf8'), 'base64');" +
    'new WebAssembly.Module(b);';
  const run = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '-e', script], {
    input: bytes.toString('base64'),
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`${name}: V8 rejects the module: ${run.stderr.trim()}`);
}

function sectionIds(bytes) {
  const ids = [];
  let i = 8;
  const leb = () => {
    let result = 0;
    let shift = 0;
    let byte;
    do {
      byte = bytes[i++];
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  };
  while (i < bytes.length) {
    const id = bytes[i++];
    const length = leb();
    ids.push(id);
    i += length;
  }
  return ids;
}

const dir = mkdtempSync(join(tmpdir(), 'hierglow-kernels-'));
const encoded = {};
try {
  for (const [set, isa] of Object.entries(instructionSets)) {
    for (const [memory, flags] of Object.entries(memories)) {
      const name = `${set}/${memory}`;
      const cc = [...common, ...isa.cc, ...flags.cc];
      const asm = clang(isa.compiler, [...cc, '-S', '-o', '-', source]).toString();
      if (/__stack_pointer|memory\.grow/.test(asm)) {
        throw new Error(
          `${name}: the kernel uses the stack or grows memory; it must not (see above)`,
        );
      }
      if (set === 'relaxed' && !asm.includes('relaxed_madd')) {
        throw new Error(`${name}: ${isa.compiler} emitted no relaxed multiply-add`);
      }
      const out = join(dir, `${set}-${memory}.wasm`);
      clang(isa.compiler, [
        ...cc,
        ...flags.ld,
        '-Wl,--no-entry',
        '-Wl,--import-memory',
        '-Wl,--strip-all',
        '-o',
        out,
        source,
      ]);
      const bytes = readFileSync(out);
      if (sectionIds(bytes).includes(11)) throw new Error(`${name}: the module has a data segment`);
      if (set === 'relaxed') validateRelaxed(name, bytes);
      else new WebAssembly.Module(bytes); // validates
      encoded[name] = bytes.toString('base64');
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Laid out as the repository's formatter (biome) lays it out, so formatting leaves it unchanged.
const text = `// Generated by scripts/build-simd-kernels.mjs from csrc/simd-kernels.c: do not edit.
// Rebuild with \`node scripts/build-simd-kernels.mjs\` (needs Debian's clang, lld, clang-16, lld-16).

/** The kernels' module importing a shared memory (tfjs-backend-wasm's threaded binary). */
export const SHARED_MEMORY_MODULE =
  '${encoded['simd128/shared']}';

/** The kernels' module importing an ordinary memory (its single-threaded binary). */
export const PLAIN_MEMORY_MODULE =
  '${encoded['simd128/plain']}';

/** {@link SHARED_MEMORY_MODULE} built with relaxed SIMD (fused multiply-adds). */
export const SHARED_MEMORY_RELAXED_MODULE =
  '${encoded['relaxed/shared']}';

/** {@link PLAIN_MEMORY_MODULE} built with relaxed SIMD (fused multiply-adds). */
export const PLAIN_MEMORY_RELAXED_MODULE =
  '${encoded['relaxed/plain']}';
`;
if (check) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {}
  if (committed !== text) {
    console.error(`${target} is out of date with csrc/: run node scripts/build-simd-kernels.mjs`);
    process.exit(1);
  }
  console.log('simd kernels: committed modules match csrc/');
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
