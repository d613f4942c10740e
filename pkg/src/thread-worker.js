// One worker of the CPU path's pool (threads.js): the threaded core on the page's shared memory,
// then the core's pool loop, which never returns. The glue is imported statically so that bundlers
// emit it with the worker.
import { initSync, threadWorkerRun } from '../wasm-threads/gguf_web.js';

const THREAD_STACK_BYTES = 512 * 1024;

self.onmessage = ({ data: { module, memory } }) => {
  try {
    // Pool tasks are kernel slices with small frames: 512 KiB of stack instead of wasm-bindgen's
    // 2 MiB keeps the threaded build's memory within the 64 MiB over the weights (docs/benchmarks.md).
    initSync({ module, memory, thread_stack_size: THREAD_STACK_BYTES });
  } catch (e) {
    self.postMessage({ error: String((e && e.message) || e) });
    return;
  }
  self.postMessage({ ready: true });
  threadWorkerRun();
};
