// Experiment: A/B timing of matvec variants on one matrix, interleaved round by round with the copy
// reference so that load from other processes hits all of them alike; prints the best of each.
// usage: mv_ab TYPE ROWS COLS [ROUNDS] [trusted] VARIANT...   VARIANT = TPRxGxR[v][s], e.g. 1x16x8vs
use gguf_web::gpu::bench::{copy_gbps, MatVecBench};
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::kernels::matvec::MatVec;
use gguf_web::gpu::{DeviceRequest, GpuContext, Kernels};
use gguf_web::quant::GgmlType;
use std::rc::Rc;

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
    let mut best = vec![f64::INFINITY; keys.len()];
    let mut copy: f64 = 0.0;
    for _ in 0..rounds {
        copy = copy.max(block_on(copy_gbps(&k, 64 << 20)).unwrap());
        for (i, &key) in keys.iter().enumerate() {
            best[i] = best[i].min(block_on(b.seconds(&k, key)).unwrap());
        }
    }
    println!("{ty} {rows}x{cols}: copy {copy:.2} GB/s");
    for (i, v) in rest.iter().enumerate() {
        let g = bytes / best[i] / 1e9;
        println!("  {v:<12} {:8.1} us {g:6.2} GB/s  ratio {:.2}", best[i] * 1e6, g / copy);
    }
}
