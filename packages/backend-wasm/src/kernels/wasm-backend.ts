import * as tf from '@tensorflow/tfjs-core';

/** A shared or ordinary WebAssembly linear memory (the package compiles without the DOM lib). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

/**
 * The parts of tfjs-backend-wasm 4.22's `BackendWasm` that hierglow's own kernels use; they are
 * not in its typings, so this is the one place that names them.
 */
export interface WasmBackend {
  /** The Emscripten module: its memory (`wasmMemory` threaded, `asm.memory` single-threaded). */
  wasm: { wasmMemory?: WasmMemory; asm?: { memory?: WasmMemory } };
  /** Per tensor: where its data starts in the linear memory (bytes). */
  dataIdMap: { get(id: tf.DataId): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  incRef(dataId: tf.DataId): void;
  disposeData(dataId: tf.DataId): boolean;
}

/** What one of our wasm kernels receives. */
export interface WasmKernelArgs<Attrs = Record<string, never>> {
  inputs: Record<string, tf.TensorInfo>;
  attrs: Attrs;
  backend: WasmBackend;
}

// biome-ignore lint/suspicious/noExplicitAny: each kernel declares its own attributes.
type WasmKernel = (args: WasmKernelArgs<any>) => tf.TensorInfo | tf.TensorInfo[];

/** Registers kernels of ours for the wasm backend, by name. */
export function registerWasmKernels(kernels: Record<string, WasmKernel>): void {
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) {
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
    });
  }
}

/** A float32 tensor's data as a view of the heap (allocate outputs first: growth detaches it). */
export function heapF32(backend: WasmBackend, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}
