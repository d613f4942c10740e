//! The CPU path's threads, for the JS package (`pkg/src/threads.js`): how many there are, and in
//! the threaded build (`+atomics`) what a pool worker needs to join (the compiled module and the
//! shared memory) and its loop.

use wasm_bindgen::prelude::*;

/// Threads the CPU path spreads its work over (1 in the plain build; with the pool's workers that
/// have started in the threaded one).
#[wasm_bindgen(js_name = cpuThreads)]
pub fn cpu_threads() -> u32 {
    crate::cpu::parallel::threads() as u32
}

/// `[module, memory]`: what a pool worker instantiates the core with.
#[cfg(target_feature = "atomics")]
#[wasm_bindgen(js_name = threadShared)]
pub fn thread_shared() -> js_sys::Array {
    js_sys::Array::of2(&wasm_bindgen::module(), &wasm_bindgen::memory())
}

/// A pool worker's loop: takes the CPU path's tasks for good (never returns).
#[cfg(target_feature = "atomics")]
#[wasm_bindgen(js_name = threadWorkerRun)]
pub fn thread_worker_run() {
    crate::cpu::pool_wasm::worker_run()
}

/// Says whether the thread that drives the model may block while the pool finishes a step (in a
/// worker it may; a page's main thread must spin).
#[cfg(target_feature = "atomics")]
#[wasm_bindgen(js_name = threadCallerMayWait)]
pub fn thread_caller_may_wait(may: bool) {
    crate::cpu::pool_wasm::set_caller_may_wait(may)
}
