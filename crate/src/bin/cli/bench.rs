//! `bench-kernels`: matvec bandwidth per quant type on the real shapes of both default models,
//! as a ratio to a plain copy on the same adapter.

use super::args::Args;
use gguf_web::gpu::bench::{copy_gbps, matvec_seconds};
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::kernels::matvec::MatVec;
use gguf_web::gpu::{DeviceRequest, GpuContext, Kernels};
use gguf_web::quant::GgmlType;
use serde_json::json;
use std::rc::Rc;

/// (model, matrix, rows, cols) of SmolLM2-135M and Gemma-3-270M.
const SHAPES: &[(&str, &str, usize, usize)] = &[
    ("smollm2", "attn_q/output", 576, 576),
    ("smollm2", "attn_k/v", 192, 576),
    ("smollm2", "ffn_gate/up", 1536, 576),
    ("smollm2", "ffn_down", 576, 1536),
    ("smollm2", "output", 49152, 576),
    ("gemma3", "attn_q", 1024, 640),
    ("gemma3", "attn_k/v", 256, 640),
    ("gemma3", "attn_output", 640, 1024),
    ("gemma3", "ffn_gate/up", 2048, 640),
    ("gemma3", "ffn_down", 640, 2048),
    ("gemma3", "output", 262144, 640),
];

pub fn variants(ty: GgmlType) -> Vec<MatVec> {
    let mut v = vec![MatVec::for_type(ty)];
    for (tpr, g, rpt) in [(1, 64, 1), (1, 64, 2), (1, 32, 8), (1, 16, 16), (4, 16, 4), (8, 8, 4)] {
        let k = MatVec { ty, threads_per_row: tpr, groups_of_rows: g, rows_per_thread: rpt };
        if !v.contains(&k) {
            v.push(k);
        }
    }
    v
}

pub fn bench_kernels(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["types", "model"], &["json", "all-variants"])?;
    let ctx = block_on(GpuContext::new(&DeviceRequest { max_binding: 1 << 30, max_buffer: 1 << 30, ..Default::default() }))
        .or_else(|_| block_on(GpuContext::new(&DeviceRequest::default())))
        .map_err(|e| e.to_string())?;
    let adapter = ctx.describe();
    let k = Kernels::new(Rc::new(ctx));
    let copy = block_on(copy_gbps(&k, 64 << 20))?;
    let types: Vec<GgmlType> = match args.get("types") {
        Some(list) => list
            .split(',')
            .map(|t| GgmlType::from_name(t.trim()).filter(|t| t.is_supported()).ok_or_else(|| format!("unknown or unsupported type {t:?}")))
            .collect::<Result<_, _>>()?,
        None => GgmlType::all().filter(|t| t.is_supported()).collect(),
    };
    let json_out = args.flag("json");
    if !json_out {
        println!("adapter: {adapter}\ncopy: {copy:.2} GB/s (bytes copied per second)");
        println!("{:<6} {:<8} {:<14} {:>7} {:>6} {:>9} {:>7} {}", "quant", "model", "matrix", "rows", "cols", "GB/s", "ratio", "variant");
    }
    let mut out = Vec::new();
    for &ty in &types {
        let be = gguf_web::gpu::weights::gpu_block_elems(ty).max(ty.block_elems());
        for &(model, name, rows, cols) in SHAPES {
            if args.get("model").is_some_and(|m| m != model) || cols % be != 0 {
                continue;
            }
            let cands = if args.flag("all-variants") { variants(ty) } else { vec![MatVec::for_type(ty)] };
            let mut best: Option<(f64, u64, MatVec)> = None;
            for key in cands {
                let (t, bytes) = block_on(matvec_seconds(&k, key, rows, cols))?;
                if best.is_none_or(|b| t < b.0) {
                    best = Some((t, bytes, key));
                }
            }
            let (t, bytes, key) = best.unwrap();
            let gbps = bytes as f64 / t / 1e9;
            let ratio = gbps / copy;
            if json_out {
                out.push(json!({"quant": ty.name(), "model": model, "matrix": name, "rows": rows, "cols": cols,
                    "gbps": gbps, "copy_gbps": copy, "ratio": ratio, "us": t * 1e6,
                    "variant": {"threads_per_row": key.threads_per_row, "groups_of_rows": key.groups_of_rows, "rows_per_thread": key.rows_per_thread}}));
            } else {
                println!("{:<6} {:<8} {:<14} {:>7} {:>6} {:>9.2} {:>7.2} {}x{}x{}", ty.name(), model, name, rows, cols, gbps, ratio, key.threads_per_row, key.groups_of_rows, key.rows_per_thread);
            }
        }
    }
    if json_out {
        println!("{}", json!({"adapter": adapter, "copy_gbps": copy, "kernels": out}));
    }
    Ok(())
}
