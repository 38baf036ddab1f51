import { Worker } from 'node:worker_threads';

/**
 * A second thread for hierglow's SIMD kernels: a Node worker that instantiates the same kernel
 * module on the same shared wasm memory and runs one call at a time on request, so a large
 * `aᵀb` splits its rows between the calling thread and this one.
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
const READY_SLOT = 8;
const ARG_SLOTS = 7;
/** Longest wait for the worker's half (ms); far above any real call (tens of ms). */
const WAIT_LIMIT_MS = 30_000;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, bytes, control } = workerData;
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
const run = instance.exports.atb;
const c = new Int32Array(control);
Atomics.store(c, ${READY_SLOT}, 1);
for (;;) {
  const state = Atomics.load(c, 0);
  if (state !== ${RUN}) {
    Atomics.wait(c, 0, state);
    continue;
  }
  run(c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
  Atomics.store(c, 0, ${DONE});
  Atomics.notify(c, 0);
}
`;

export class SimdHelperThread {
  private broken = false;

  private constructor(
    private readonly worker: Worker,
    private readonly control: Int32Array,
  ) {
    worker.unref();
    worker.on('error', () => {
      this.broken = true;
    });
  }

  /** Starts the worker on `memory` (a shared wasm memory) with the kernel module `bytes`. */
  static start(memory: object, bytes: Uint8Array): SimdHelperThread {
    const control = new SharedArrayBuffer(4 * (READY_SLOT + 1));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags: under `node --input-type=module` the source would be read as
      // an ES module, where `require` does not exist.
      execArgv: [],
      workerData: { memory, bytes, control },
    });
    return new SimdHelperThread(worker, new Int32Array(control));
  }

  /** Whether the worker has started and has not failed (until then the caller runs alone). */
  get ready(): boolean {
    return !this.broken && Atomics.load(this.control, READY_SLOT) === 1;
  }

  /**
   * Runs `atb(...args)` on the worker while `alongside` runs here; returns once both are done.
   * If the worker does not answer in time it is abandoned and `fallback` runs its part here.
   */
  runWith(args: readonly number[], alongside: () => void, fallback: () => void): void {
    if (args.length !== ARG_SLOTS) throw new Error(`expected ${ARG_SLOTS} kernel arguments`);
    const c = this.control;
    for (let i = 0; i < ARG_SLOTS; i++) c[i + 1] = args[i]!;
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
