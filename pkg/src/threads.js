// The CPU path's worker pool (the threaded build only): each worker instantiates the same compiled
// module on the same shared memory and then runs the core's pool loop (crate/src/cpu/pool_wasm.rs)
// for good; the thread that drives the model hands them tasks and spins until they are done.
import { InternalError } from './errors.js';

const STARTUP_MS = 20000;

/**
 * Starts `n` workers for the threaded core `core` and resolves once the core counts them all
 * (`core.cpuThreads() === n + 1`).
 */
export async function startPool(core, n) {
  // A worker (the WorkerEngine's) may block while the pool finishes a step; a page must not.
  core.threadCallerMayWait(typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope);
  const [module, memory] = core.threadShared();
  const started = [];
  for (let i = 0; i < n; i++) {
    // Written out so that bundlers see the worker and emit it.
    const w = new Worker(new URL('./thread-worker.js', import.meta.url), { type: 'module', name: `gguf-web-cpu-${i + 1}` });
    started.push(
      new Promise((resolve, reject) => {
        w.onmessage = ({ data }) => (data && data.error ? reject(new InternalError(`a CPU worker failed to start: ${data.error}`)) : resolve());
        w.onerror = (e) => reject(new InternalError(`a CPU worker failed to start: ${e.message || 'unknown error'}`));
      }),
    );
    w.postMessage({ module, memory });
  }
  await Promise.all(started);
  // Each worker posts before entering the core's loop, where it is counted: wait for the count.
  const t0 = performance.now();
  while (core.cpuThreads() < n + 1) {
    if (performance.now() - t0 > STARTUP_MS) throw new InternalError(`only ${core.cpuThreads() - 1} of ${n} CPU workers started`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
