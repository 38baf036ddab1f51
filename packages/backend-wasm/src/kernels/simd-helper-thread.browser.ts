/**
 * The browser counterpart of simd-helper-thread.ts, swapped in by bundlers through the
 * `browser` field of package.json. The helper thread's hand-off has the calling thread block in
 * `Atomics.wait` until the helper's chunks are done, and a page's main thread may not block, so
 * in a page hierglow's own kernels run on the calling thread (the stock kernels still use
 * XNNPACK's pool on a cross-origin isolated page). `start` returns null: no helper.
 */
export class SimdHelperThread {
  private constructor() {}

  static start(_memory: object, _module: object, _exportNames: readonly string[]): null {
    return null;
  }
}
