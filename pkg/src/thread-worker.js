// One worker of the CPU path's pool (threads.js): the threaded core on the page's shared memory,
// then the core's pool loop, which never returns. The glue is imported statically so that bundlers
// emit it with the worker.
import { initSync, threadWorkerRun } from '../wasm-threads/gguf_web.js';

self.onmessage = ({ data: { module, memory } }) => {
  try {
    initSync({ module, memory });
  } catch (e) {
    self.postMessage({ error: String((e && e.message) || e) });
    return;
  }
  self.postMessage({ ready: true });
  threadWorkerRun();
};
