//! Splitting row ranges over the machine's cores. On wasm32 (no threads) it runs in place.

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
    f(0, rows, out);
}

fn threads() -> usize {
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
    #[cfg(target_arch = "wasm32")]
    1
}
