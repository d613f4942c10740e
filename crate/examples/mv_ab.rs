// Experiment: A/B timing of matvec variants on one matrix, interleaved round by round with the copy
// reference so that load from other processes hits all of them alike; prints the best of each, by
// wall time and by CPU time of the whole process (the adapter's worker threads included), which
// other processes on the machine barely disturb.
// usage: mv_ab TYPE ROWS COLS [ROUNDS] [trusted] VARIANT...   VARIANT = TPRxGxR[v][s], e.g. 1x16x8vs
use gguf_web::gpu::bench::MatVecBench;
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::kernels::matvec::MatVec;
use gguf_web::gpu::{DeviceRequest, GpuContext, Kernels};
use gguf_web::quant::GgmlType;
use std::rc::Rc;
use std::time::Instant;

/// Nanoseconds every thread of this process has run (Linux /proc).
fn cpu_ns() -> u64 {
    let mut t = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let p = e.unwrap().path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(p) {
            t += s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    t
}

/// (wall, cpu) seconds of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (c0, t0) = (cpu_ns(), Instant::now());
    let r = f();
    (r, t0.elapsed().as_secs_f64(), (cpu_ns() - c0) as f64 * 1e-9)
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let ty = GgmlType::from_name(&a[0]).unwrap();
    let (rows, cols): (usize, usize) = (a[1].parse().unwrap(), a[2].parse().unwrap());
    let mut rest = &a[3..];
    let rounds: usize = rest.first().and_then(|r| r.parse().ok()).map(|r| { rest = &rest[1..]; r }).unwrap_or(5);
    let trusted = rest.first().is_some_and(|t| t == "trusted");
    if trusted {
        rest = &rest[1..];
    }
    let keys: Vec<MatVec> = rest
        .iter()
        .map(|v| {
            let (dims, flags) = v.split_at(v.find(|c: char| c.is_alphabetic() && c != 'x').unwrap_or(v.len()));
            let d: Vec<u32> = dims.split('x').map(|n| n.parse().unwrap()).collect();
            MatVec { ty, threads_per_row: d[0], groups_of_rows: d[1], rows_per_thread: d[2], vec4: flags.contains('v'), share_x: flags.contains('s') }
        })
        .collect();
    let ctx = block_on(GpuContext::new(&DeviceRequest { max_binding: 1 << 30, max_buffer: 1 << 30, ..Default::default() }))
        .or_else(|_| block_on(GpuContext::new(&DeviceRequest::default())))
        .unwrap();
    println!("{}{}", ctx.describe(), if trusted { " unchecked" } else { "" });
    let ctx = Rc::new(ctx);
    let k = if trusted { unsafe { Kernels::new_trusted(ctx) } } else { Kernels::new(ctx) };
    let b = MatVecBench::new(&k, ty, rows, cols).unwrap();
    let bytes = b.w.gpu_bytes() as f64;
    // Per round: the copy, then every variant, each as a batch of calls; best (least disturbed)
    // seconds per call, by wall and by CPU time.
    let reps = ((1u64 << 28) / b.w.gpu_bytes()).clamp(3, 100) as usize;
    let copy_bytes = 64u64 << 20;
    let mut best = vec![(f64::INFINITY, f64::INFINITY); keys.len() + 1];
    let ca = gguf_web::gpu::buffers::storage(&k.ctx, "a", copy_bytes);
    let cb = gguf_web::gpu::buffers::storage(&k.ctx, "b", copy_bytes);
    let (ba, bb) = (gguf_web::gpu::Bind::whole(&ca), gguf_web::gpu::Bind::whole(&cb));
    let copies = 8;
    let run_copies = |n: usize| {
        let mut rec = k.recorder();
        for _ in 0..n {
            gguf_web::gpu::kernels::elementwise::copy(&mut rec, ba.clone(), bb.clone(), copy_bytes).unwrap();
        }
        rec.submit();
        block_on(gguf_web::gpu::bench::sync(&k)).unwrap();
    };
    run_copies(1);
    for _ in 0..rounds {
        let ((), w, c) = timed(|| run_copies(copies));
        best[0] = (best[0].0.min(w / copies as f64), best[0].1.min(c / copies as f64));
        for (i, &key) in keys.iter().enumerate() {
            block_on(b.seconds(&k, key)).unwrap(); // compile and warm up
            let ((), w, c) = timed(|| {
                let x = gguf_web::gpu::buffers::storage(&k.ctx, "x", cols as u64 * 4);
                let y = gguf_web::gpu::buffers::storage(&k.ctx, "y", rows as u64 * 4);
                let (bx, by) = (gguf_web::gpu::Bind::whole(&x), gguf_web::gpu::Bind::whole(&y));
                let mut rec = k.recorder();
                for _ in 0..reps {
                    gguf_web::gpu::kernels::matvec::matvec(&mut rec, key, &b.w, &bx, 0, &by, 0, false).unwrap();
                }
                rec.submit();
                block_on(gguf_web::gpu::bench::sync(&k)).unwrap();
            });
            let n = reps as f64;
            best[i + 1] = (best[i + 1].0.min(w / n), best[i + 1].1.min(c / n));
        }
    }
    let cw = copy_bytes as f64 / best[0].0 / 1e9;
    let cc = copy_bytes as f64 / best[0].1 / 1e9;
    println!("{ty} {rows}x{cols}: copy {cw:.2} GB/s wall, {cc:.2} GB/cpu-s");
    for (i, v) in rest.iter().enumerate() {
        let (w, c) = best[i + 1];
        let (gw, gc) = (bytes / w / 1e9, bytes / c / 1e9);
        println!("  {v:<12} {:8.1} us {gw:6.2} GB/s ratio {:.2} | cpu {gc:6.2} GB/cpu-s ratio {:.2}", w * 1e6, gw / cw, gc / cc);
    }
}
