import { Worker } from 'node:worker_threads';

/**
 * A second thread for hierglow's SIMD kernels: a Node worker that instantiates the same kernel
 * module on the same shared wasm memory, so a large `aᵀb` or convolution shares its rows between
 * the calling thread and this one.
 *
 * Why a thread of our own: the kernels run outside XNNPACK's pool (see ADR 0004 for how the two
 * share the cores).
 *
 * Work is shared in chunks, not halves: both threads take the next chunk of rows from a shared
 * counter until none is left. With a fixed half the caller waited for the worker (which starts
 * a little later and is sometimes descheduled) in every call; chunks leave at most one chunk's
 * imbalance. Which thread computes a chunk never changes the
 * result: each chunk writes its own rows of the output, or its own partial output (see
 * {@link ChunkedCall.outArg}).
 *
 * Hand-off is a shared Int32Array, no messages: the caller writes the call, sets the state to
 * RUN and notifies; the worker takes chunks, sets DONE and notifies; the caller, after taking
 * its own chunks, waits for DONE (with a timeout: a dead worker turns the helper off and the
 * caller recomputes every chunk itself). The worker is unref'd, so it never keeps a process
 * alive.
 */

const IDLE = 0;
const RUN = 1;
const DONE = 2;
/** Control slots: state, the call's description, the chunk counter, its arguments, ready. */
const EXPORT_SLOT = 1;
const RANGE_ARG_SLOT = 2;
const TOTAL_SLOT = 3;
const CHUNK_SLOT = 4;
const OUT_ARG_SLOT = 5;
const OUT_STRIDE_SLOT = 6;
const COUNTER_SLOT = 7;
const FIRST_ARG_SLOT = 8;
const MAX_ARGS = 20;
const READY_SLOT = FIRST_ARG_SLOT + MAX_ARGS;
/** How long the caller spins for the worker's last chunk before it sleeps (ms). */
const SPIN_MS = 2;
/** Longest wait for the worker's chunks (ms); far above any real call (tens of ms). */
const WAIT_LIMIT_MS = 30_000;

/**
 * One kernel call split into chunks of a row range: chunk k runs `name(...args)` with
 * `args[rangeArg] = k·chunk` and `args[rangeArg + 1] = min(total, (k + 1)·chunk)`.
 */
export interface ChunkedCall {
  /** The module export to run. */
  name: string;
  /** Its arguments (integers: offsets and sizes). */
  args: readonly number[];
  /** Index in `args` of the first row; the next argument is the end of the range. */
  rangeArg: number;
  /** Rows in all. */
  total: number;
  /** Rows per chunk. */
  chunk: number;
  /**
   * Index in `args` of an output offset that moves by `outStride` bytes per chunk (each chunk
   * writes its own partial result), or -1 when chunks write disjoint rows of one output.
   */
  outArg: number;
  outStride: number;
}

/** The arguments of chunk k of a call (the same computation on both threads). */
function chunkArgs(call: ChunkedCall, k: number, into: number[]): number[] {
  for (let i = 0; i < call.args.length; i++) into[i] = call.args[i]!;
  into[call.rangeArg] = k * call.chunk;
  into[call.rangeArg + 1] = Math.min(call.total, (k + 1) * call.chunk);
  if (call.outArg >= 0) into[call.outArg] = call.args[call.outArg]! + k * call.outStride;
  return into;
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, control, exportNames } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const exports = exportNames.map((name) => instance.exports[name]);
const c = new Int32Array(control);
Atomics.store(c, ${READY_SLOT}, 1);
for (;;) {
  const state = Atomics.load(c, 0);
  if (state !== ${RUN}) {
    Atomics.wait(c, 0, state);
    continue;
  }
  const run = exports[c[${EXPORT_SLOT}]];
  const rangeArg = c[${RANGE_ARG_SLOT}], total = c[${TOTAL_SLOT}], chunk = c[${CHUNK_SLOT}];
  const outArg = c[${OUT_ARG_SLOT}], outStride = c[${OUT_STRIDE_SLOT}];
  const base = Array.from(c.subarray(${FIRST_ARG_SLOT}, ${READY_SLOT}));
  const args = base.slice();
  for (;;) {
    const k = Atomics.add(c, ${COUNTER_SLOT}, 1);
    if (k * chunk >= total) break;
    args[rangeArg] = k * chunk;
    args[rangeArg + 1] = Math.min(total, (k + 1) * chunk);
    if (outArg >= 0) args[outArg] = base[outArg] + k * outStride;
    run(...args);
  }
  Atomics.store(c, 0, ${DONE});
  Atomics.notify(c, 0);
}
`;

export class SimdHelperThread {
  private broken = false;

  private constructor(
    private readonly worker: Worker,
    private readonly control: Int32Array,
    private readonly exportNames: readonly string[],
  ) {
    worker.unref();
    worker.on('error', () => {
      this.broken = true;
    });
  }

  /**
   * Starts the worker on `memory` (a shared wasm memory) with the compiled kernel `module`; it
   * can run the module's exports named in `exportNames`.
   *
   * The compiled module itself is shared, not its bytes: V8 compiles wasm functions with its
   * baseline compiler first and optimises them once they are hot, per compiled module. A worker
   * compiling its own copy ran its share on baseline code for longer (a convolution's chunks
   * at about half speed) and fell out of step whenever the module changed size.
   */
  static start(memory: object, module: object, exportNames: readonly string[]): SimdHelperThread {
    const control = new SharedArrayBuffer(4 * (READY_SLOT + 1));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags: under `node --input-type=module` the source would be read as
      // an ES module, where `require` does not exist.
      execArgv: [],
      workerData: { memory, module, control, exportNames },
    });
    return new SimdHelperThread(worker, new Int32Array(control), exportNames);
  }

  /** Whether the worker has started and has not failed (until then the caller runs alone). */
  get ready(): boolean {
    return !this.broken && Atomics.load(this.control, READY_SLOT) === 1;
  }

  /**
   * Runs every chunk of `call`, on this thread (through `run`, the same export of this
   * thread's instance) and on the worker, and returns once all are done. If the worker does not
   * answer in time it is abandoned and every chunk is computed again here.
   */
  runChunked(call: ChunkedCall, run: (...args: number[]) => void): void {
    const index = this.exportNames.indexOf(call.name);
    if (index < 0) throw new Error(`the helper thread cannot run '${call.name}'`);
    if (call.args.length > MAX_ARGS) throw new Error(`at most ${MAX_ARGS} kernel arguments`);
    const c = this.control;
    c[EXPORT_SLOT] = index;
    c[RANGE_ARG_SLOT] = call.rangeArg;
    c[TOTAL_SLOT] = call.total;
    c[CHUNK_SLOT] = call.chunk;
    c[OUT_ARG_SLOT] = call.outArg;
    c[OUT_STRIDE_SLOT] = call.outStride;
    c.fill(0, FIRST_ARG_SLOT, READY_SLOT);
    for (let i = 0; i < call.args.length; i++) c[FIRST_ARG_SLOT + i] = call.args[i]!;
    Atomics.store(c, COUNTER_SLOT, 0);
    Atomics.store(c, 0, RUN);
    Atomics.notify(c, 0);
    const args: number[] = [];
    for (;;) {
      const k = Atomics.add(c, COUNTER_SLOT, 1);
      if (k * call.chunk >= call.total) break;
      run(...chunkArgs(call, k, args));
    }
    // The worker is on its last chunk: spin (it is close to done, and waking this thread from a
    // futex wait costs more than the remaining work), then sleep.
    const spinUntil = performance.now() + SPIN_MS;
    while (Atomics.load(c, 0) === RUN && performance.now() < spinUntil) {}
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (Atomics.load(c, 0) === RUN) {
      const left = deadline - Date.now();
      if (left <= 0 || this.broken) {
        this.broken = true;
        this.worker.terminate();
        const chunks = Math.ceil(call.total / call.chunk);
        for (let k = 0; k < chunks; k++) run(...chunkArgs(call, k, args));
        return;
      }
      Atomics.wait(c, 0, RUN, left);
    }
    Atomics.store(c, 0, IDLE);
  }
}
