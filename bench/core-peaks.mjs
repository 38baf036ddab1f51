/**
 * What one core can do, measured from JavaScript: the floating-point peak of wasm SIMD128 (and
 * of relaxed SIMD's fused multiply-add where the runtime has it), and the memory-copy bandwidth.
 * These are the ceilings `step-ceilings.mjs` holds each kernel of a training step against.
 *
 * The peak loops are a tiny wasm module assembled here byte by byte (no toolchain needed):
 * `chains` independent f32x4 accumulators, each updated `acc = acc * a + b` per iteration, so
 * the multiply and add units are fed without waiting on one another's latency. The best chain
 * count depends on the core (latency x ports) and on how many v128 registers the engine keeps
 * (V8 on x64: 16), so several are tried and the fastest is the peak.
 */

const leb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const vec = (items) => [...leb(items.length), ...items.flat()];
const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
const f32x4Bytes = (v) => {
  const b = new Uint8Array(16);
  const view = new DataView(b.buffer);
  for (let i = 0; i < 4; i++) view.setFloat32(4 * i, v, true);
  return [...b];
};

const SIMD_PREFIX = 0xfd;
const OP = {
  v128Const: [SIMD_PREFIX, ...leb(12)],
  f32x4ExtractLane: [SIMD_PREFIX, ...leb(31)],
  f32x4Add: [SIMD_PREFIX, ...leb(228)],
  f32x4Mul: [SIMD_PREFIX, ...leb(230)],
  f32x4RelaxedMadd: [SIMD_PREFIX, ...leb(0x105)],
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  loop: 0x03,
  brIf: 0x0d,
  end: 0x0b,
  i32Const: 0x41,
  i32Sub: 0x6b,
  f32Const: 0x43,
  f32Add: 0x92,
};

/**
 * `peak(iterations) -> f32`: per iteration, `chains` x (4-lane multiply + 4-lane add), or with
 * `fused` the same as one relaxed fused multiply-add each: 8 FLOP per chain either way.
 */
export function peakModuleBytes(chains, fused) {
  const a = chains + 1;
  const b = chains + 2;
  const get = (i) => [OP.localGet, ...leb(i)];
  const set = (i) => [OP.localSet, ...leb(i)];
  const splat = (v) => [...OP.v128Const, ...f32x4Bytes(v)];
  const body = [];
  for (let i = 1; i <= chains; i++) body.push(...splat(1 + i / 64), ...set(i));
  // a < 1 and b > 0 keep every accumulator near 1: no overflow, no denormals.
  body.push(...splat(0.999), ...set(a), ...splat(0.001), ...set(b));
  body.push(OP.loop, 0x40);
  for (let i = 1; i <= chains; i++) {
    if (fused) body.push(...get(i), ...get(a), ...get(b), ...OP.f32x4RelaxedMadd, ...set(i));
    else body.push(...get(i), ...get(a), ...OP.f32x4Mul, ...get(b), ...OP.f32x4Add, ...set(i));
  }
  body.push(...get(0), OP.i32Const, 1, OP.i32Sub, OP.localTee, 0, OP.brIf, 0, OP.end);
  // The result depends on every accumulator, so no engine may drop a chain.
  body.push(OP.f32Const, 0, 0, 0, 0);
  for (let i = 1; i <= chains; i++) body.push(...get(i), ...OP.f32x4ExtractLane, 0, OP.f32Add);
  body.push(OP.end);
  const func = [...vec([[...leb(chains + 2), 0x7b]]), ...body];
  const name = [...'peak'].map((c) => c.charCodeAt(0));
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, 1, 0x7f, 1, 0x7d]])), // type: (i32) -> f32
    ...section(3, vec([[0]])),
    ...section(7, vec([[...vec(name), 0x00, 0x00]])),
    ...section(10, vec([[...leb(func.length), ...func]])),
  ]);
}

const CHAIN_COUNTS = [8, 10, 12, 14];

/**
 * GFLOP/s of one thread: the best over chain counts and `repeats` timed calls. `null` for the
 * fused variant when the runtime has no relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd).
 */
export async function wasmPeakGflops({ fused = false, iterations = 2e7, repeats = 5 } = {}) {
  let best = null;
  for (const chains of CHAIN_COUNTS) {
    const bytes = peakModuleBytes(chains, fused);
    if (!WebAssembly.validate(bytes)) return null;
    const { instance } = await WebAssembly.instantiate(bytes);
    const peak = instance.exports.peak;
    peak(1e5); // compile with the optimising tier before timing
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      peak(iterations);
      const gflops = (iterations * chains * 8) / ((performance.now() - t0) * 1e6);
      if (best === null || gflops > best.gflops) best = { gflops, chains };
    }
  }
  return best;
}

/**
 * Best copy bandwidth (GB/s, bytes read + written) between two float arrays of `bytes` each:
 * from a cache-resident size up to memory-bound ones, since a kernel's data may fit either.
 */
export function copyBandwidthGbs({ bytes = 64 * 1024 * 1024, repeats = 7 } = {}) {
  const n = bytes / 4;
  const src = new Float32Array(n).fill(1);
  const dst = new Float32Array(n);
  // Short copies are timed in bursts so the clock's resolution does not decide the figure.
  const burst = Math.max(1, Math.round((16 * 1024 * 1024) / bytes));
  let best = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < burst; i++) dst.set(src);
    const ms = performance.now() - t0;
    best = Math.max(best, (2 * bytes * burst) / (ms * 1e6));
  }
  return best;
}
