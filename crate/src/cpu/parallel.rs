//! Splitting work over the machine's cores. Natively scoped threads; in the browser's threaded
//! build (wasm32 with `+atomics`) the Web Worker pool of `pool_wasm.rs`; in the plain wasm32 build
//! everything runs in place on one thread.

/// Calls `f(start, end, out_chunk)` for disjoint row ranges covering `0..rows`, where `out_chunk`
/// is the matching slice of `out` (`row_width` values per row), on up to all available cores.
pub fn for_row_chunks<F>(rows: usize, row_width: usize, out: &mut [f32], f: F)
where
    F: Fn(usize, usize, &mut [f32]) + Sync,
{
    let threads = threads().min(rows.max(1));
    // Small jobs are cheaper inline than a thread spawn (~20 µs).
    if threads <= 1 || rows * row_width < 4096 {
        f(0, rows, out);
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::scope(|s| {
        let per = rows.div_ceil(threads);
        for (i, chunk) in out.chunks_mut(per * row_width).enumerate() {
            let f = &f;
            let start = i * per;
            let end = (start + per).min(rows);
            s.spawn(move || f(start, end, chunk));
        }
    });
    #[cfg(target_arch = "wasm32")]
    {
        let per = rows.div_ceil(threads);
        let base = SendPtr(out.as_mut_ptr());
        let len = out.len();
        for_each_task(rows.div_ceil(per), |i| {
            let (start, end) = (i * per, ((i + 1) * per).min(rows));
            let (lo, hi) = (start * row_width, (end * row_width).min(len));
            // Tasks cover disjoint rows of `out`, which outlives them (`for_each_task` waits).
            let chunk = unsafe { std::slice::from_raw_parts_mut(base.get().add(lo), hi - lo) };
            f(start, end, chunk)
        });
    }
}

/// A pointer shared by tasks that each touch their own part of what it points to.
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
#[cfg(target_arch = "wasm32")]
unsafe impl Send for SendPtr {}
#[cfg(target_arch = "wasm32")]
unsafe impl Sync for SendPtr {}
#[cfg(target_arch = "wasm32")]
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Runs `f(0)`, ..., `f(n - 1)`, spread over the threads; returns when all are done. Natively on a
/// pool started once (a rayon pool of [`threads`] threads): the fast engine calls this hundreds
/// of times per token, where spawning threads each time (~20 µs) would cost more than the work.
#[cfg(not(target_arch = "wasm32"))]
pub fn for_each_task<F: Fn(usize) + Sync>(n: usize, f: F) {
    use rayon::prelude::*;
    match pool() {
        Some(p) if n > 1 => p.install(|| (0..n).into_par_iter().for_each(&f)),
        _ => (0..n).for_each(f),
    }
}

/// Runs `f` on a thread of the pool, so that the `for_each_task` calls inside it hand work to
/// the other threads without waking the caller each time (a handful of microseconds each, which
/// adds up over the hundreds of matrix products of a token). In place where there is no pool.
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(p) = pool() {
        return p.install(f);
    }
    f()
}

/// The native pool; `None` with one thread or where threads cannot start (then tasks run in order).
#[cfg(not(target_arch = "wasm32"))]
fn pool() -> Option<&'static rayon::ThreadPool> {
    use std::sync::OnceLock;
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = threads();
        (n > 1).then(|| rayon::ThreadPoolBuilder::new().num_threads(n).thread_name(|i| format!("gguf-web-{i}")).build().ok()).flatten()
    })
    .as_ref()
}

/// Runs `f(0)`, ..., `f(n - 1)`, spread over the threads; returns when all are done. In the
/// browser, on the worker pool when there is one (`pool_wasm.rs`), else in order on this thread.
#[cfg(target_arch = "wasm32")]
pub fn for_each_task<F: Fn(usize) + Sync>(n: usize, f: F) {
    #[cfg(target_feature = "atomics")]
    super::pool_wasm::run(n, &f);
    #[cfg(not(target_feature = "atomics"))]
    (0..n).for_each(f);
}

/// The threads work is spread over.
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static N: OnceLock<usize> = OnceLock::new();
        *N.get_or_init(|| {
            std::env::var("GGUF_WEB_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
        })
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
    {
        super::pool_wasm::threads()
    }
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    1
}
