import { Worker } from 'node:worker_threads';

/**
 * A second thread for hierglow's SIMD kernels: a Node worker that instantiates the same kernel
 * module on the same shared wasm memory and runs one call at a time on request, so a large
 * `aᵀb` or convolution splits its rows between the calling thread and this one.
 *
 * Why a thread of our own: the kernels run outside XNNPACK, whose thread pool sits idle while
 * they run; on two cores the largest filter-gradient products then take half the time.
 *
 * Hand-off is a shared Int32Array, no messages: the caller writes the arguments, sets the state
 * to RUN and notifies; the worker computes, sets DONE and notifies; the caller waits for DONE
 * (with a timeout: a dead worker turns the helper off and the caller computes that part itself).
 * The worker is unref'd, so it never keeps a process alive.
 */

const IDLE = 0;
const RUN = 1;
const DONE = 2;
/** Control slots: state, which export to run, its arguments, then the ready flag. */
const EXPORT_SLOT = 1;
const FIRST_ARG_SLOT = 2;
const MAX_ARGS = 16;
const READY_SLOT = FIRST_ARG_SLOT + MAX_ARGS;
/** Longest wait for the worker's half (ms); far above any real call (tens of ms). */
const WAIT_LIMIT_MS = 30_000;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, bytes, control, exportNames } = workerData;
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
const exports = exportNames.map((name) => instance.exports[name]);
const c = new Int32Array(control);
Atomics.store(c, ${READY_SLOT}, 1);
for (;;) {
  const state = Atomics.load(c, 0);
  if (state !== ${RUN}) {
    Atomics.wait(c, 0, state);
    continue;
  }
  const args = Array.from(c.subarray(${FIRST_ARG_SLOT}, ${READY_SLOT}));
  exports[c[${EXPORT_SLOT}]](...args);
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
   * Starts the worker on `memory` (a shared wasm memory) with the kernel module `bytes`; it can
   * run the module's exports named in `exportNames`.
   */
  static start(
    memory: object,
    bytes: Uint8Array,
    exportNames: readonly string[],
  ): SimdHelperThread {
    const control = new SharedArrayBuffer(4 * (READY_SLOT + 1));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags: under `node --input-type=module` the source would be read as
      // an ES module, where `require` does not exist.
      execArgv: [],
      workerData: { memory, bytes, control, exportNames },
    });
    return new SimdHelperThread(worker, new Int32Array(control), exportNames);
  }

  /** Whether the worker has started and has not failed (until then the caller runs alone). */
  get ready(): boolean {
    return !this.broken && Atomics.load(this.control, READY_SLOT) === 1;
  }

  /**
   * Runs the export `name` with `args` (integers) on the worker while `alongside` runs here;
   * returns once both are done. If the worker does not answer in time it is abandoned and
   * `fallback` runs its part here.
   */
  runWith(
    name: string,
    args: readonly number[],
    alongside: () => void,
    fallback: () => void,
  ): void {
    const index = this.exportNames.indexOf(name);
    if (index < 0) throw new Error(`the helper thread cannot run '${name}'`);
    if (args.length > MAX_ARGS) throw new Error(`at most ${MAX_ARGS} kernel arguments`);
    const c = this.control;
    c[EXPORT_SLOT] = index;
    c.fill(0, FIRST_ARG_SLOT, READY_SLOT);
    for (let i = 0; i < args.length; i++) c[FIRST_ARG_SLOT + i] = args[i]!;
    Atomics.store(c, 0, RUN);
    Atomics.notify(c, 0);
    alongside();
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (Atomics.load(c, 0) === RUN) {
      const left = deadline - Date.now();
      if (left <= 0 || this.broken) {
        this.broken = true;
        this.worker.terminate();
        fallback();
        return;
      }
      Atomics.wait(c, 0, RUN, left);
    }
    Atomics.store(c, 0, IDLE);
  }
}
