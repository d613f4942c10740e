//! `bench-kernels`: matvec bandwidth per quant type on the real shapes of both default models,
//! as a ratio to a plain copy on the same adapter.

use super::args::Args;
use gguf_web::gpu::bench::{copy_gbps, dispatch_seconds, MatVecBench};
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::kernels::matvec::MatVec;
use gguf_web::gpu::{DeviceRequest, GpuContext, Kernels};
use gguf_web::quant::GgmlType;
use serde_json::json;
use std::rc::Rc;

/// (model, matrix, rows, cols) of SmolLM2-135M and Gemma-3-270M, as a decode step runs them: q, k
/// and v stacked where their types match (Gemma's v is Q8_0 in half of its layers), gate and up
/// stacked (the paired product reads the same bytes in the same shape).
const SHAPES: &[(&str, &str, usize, usize)] = &[
    ("smollm2", "attn_qkv", 960, 576),
    ("smollm2", "attn_output", 576, 576),
    ("smollm2", "ffn_gate+up", 3072, 576),
    ("smollm2", "ffn_down", 576, 1536),
    ("smollm2", "output", 49152, 576),
    ("gemma3", "attn_qkv", 1536, 640),
    ("gemma3", "attn_q+k", 1280, 640),
    ("gemma3", "attn_v", 256, 640),
    ("gemma3", "attn_output", 640, 1024),
    ("gemma3", "ffn_gate+up", 4096, 640),
    ("gemma3", "ffn_down", 640, 2048),
    ("gemma3", "output", 262144, 640),
];

/// The adapter's default variant `tuned` first, then the others worth comparing.
pub fn variants(tuned: MatVec) -> Vec<MatVec> {
    let mut v = vec![tuned];
    let base = MatVec::for_type(tuned.ty);
    for (tpr, g, rpt, vec4, share_x) in [
        (1, 16, 4, true, true),
        (1, 8, 4, true, true),
        (1, 16, 8, true, true),
        (1, 8, 8, true, true),
        (1, 64, 8, true, true),
        (1, 16, 16, true, true),
        (1, 16, 8, true, false),
        (1, 64, 4, false, false),
        (4, 16, 4, true, false),
        (8, 8, 4, true, false),
        // Shapes for discrete GPUs: many threads per row and few rows per invocation, so that
        // enough loads are in flight to hide the memory latency.
        (32, 2, 1, true, false),
        (16, 4, 1, true, false),
        (8, 8, 1, true, false),
        (4, 16, 1, true, false),
        (4, 32, 1, true, false),
        (8, 8, 2, true, false),
        (4, 16, 2, true, false),
    ] {
        let k = MatVec { threads_per_row: tpr, groups_of_rows: g, rows_per_thread: rpt, vec4, share_x, ..base };
        if !v.contains(&k) {
            v.push(k);
        }
    }
    v
}

fn describe(k: &MatVec) -> String {
    format!(
        "{}x{}x{}{}{}",
        k.threads_per_row,
        k.groups_of_rows,
        k.rows_per_thread,
        if k.vec4 { " v4" } else { "" },
        if k.share_x { " sx" } else { "" }
    )
}

pub fn bench_kernels(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["types", "model", "matrix"], &["json", "all-variants", "trusted"])?;
    let ctx = block_on(GpuContext::new(&DeviceRequest { max_binding: 1 << 30, max_buffer: 1 << 30, ..Default::default() }))
        .or_else(|_| block_on(GpuContext::new(&DeviceRequest::default())))
        .map_err(|e| e.to_string())?;
    let adapter = ctx.describe();
    let ctx = Rc::new(ctx);
    // SAFETY: bench-kernels only dispatches the copy and the matvec, which stay in bounds.
    let k = if args.flag("trusted") { unsafe { Kernels::new_trusted(ctx) } } else { Kernels::new(ctx) };
    let mut copy = block_on(copy_gbps(&k, 64 << 20)).map_err(|e| e.to_string())?;
    let types: Vec<GgmlType> = match args.get("types") {
        Some(list) => list
            .split(',')
            .map(|t| GgmlType::from_name(t.trim()).filter(|t| t.is_supported()).ok_or_else(|| format!("unknown or unsupported type {t:?}")))
            .collect::<Result<_, _>>()?,
        None => GgmlType::all().filter(|t| t.is_supported()).collect(),
    };
    let json_out = args.flag("json");
    // (type, model, matrix, rows, cols, seconds, bytes, variant); ratios are taken against the
    // best copy bandwidth seen, re-measured after every type (the machine is shared).
    let mut rows_out = Vec::new();
    for &ty in &types {
        let be = gguf_web::gpu::weights::gpu_block_elems(ty).max(ty.block_elems());
        for &(model, name, rows, cols) in SHAPES {
            if args.get("model").is_some_and(|m| m != model) || args.get("matrix").is_some_and(|m| !name.starts_with(m)) || cols % be != 0 {
                continue;
            }
            let tuned = MatVec::tuned(ty, rows, k.ctx.tuning, k.ctx.subgroup_size_in_use());
            let cands = if args.flag("all-variants") { variants(tuned) } else { vec![tuned] };
            let b = MatVecBench::new(&k, ty, rows, cols).map_err(|e| e.to_string())?;
            let mut best: Option<(f64, MatVec)> = None;
            for key in cands {
                let t = block_on(b.seconds(&k, key)).map_err(|e| e.to_string())?;
                if args.flag("all-variants") {
                    eprintln!("{:<6} {model:<8} {name:<14} {:>9.1} us  {}", ty.name(), t * 1e6, describe(&key));
                }
                if best.is_none_or(|b| t < b.0) {
                    best = Some((t, key));
                }
            }
            let (t, key) = best.unwrap();
            rows_out.push((ty, model, name, rows, cols, t, b.w.gpu_bytes(), key));
        }
        copy = copy.max(block_on(copy_gbps(&k, 64 << 20)).map_err(|e| e.to_string())?);
    }
    let dispatch = block_on(dispatch_seconds(&k)).map_err(|e| e.to_string())?;
    // The ratio a shape would read if its matvec took no longer than an empty dispatch: where it is
    // low, the adapter's fixed cost per dispatch, not the kernel, bounds the ratio.
    let cap = |bytes: u64| bytes as f64 / dispatch / 1e9 / copy;
    if !json_out {
        println!(
            "adapter: {adapter}{}\ncopy: {copy:.2} GB/s (bytes copied per second)",
            if args.flag("trusted") { " (unchecked shaders)" } else { "" }
        );
        println!("dispatch: {:.1} us (a next-to-empty kernel; cap = the ratio of a matvec that took only that long)", dispatch * 1e6);
        println!(
            "{:<6} {:<8} {:<14} {:>7} {:>6} {:>9} {:>7} {:>6} variant",
            "quant", "model", "matrix", "rows", "cols", "GB/s", "ratio", "cap"
        );
    }
    let mut out = Vec::new();
    for (i, &(ty, model, name, rows, cols, t, bytes, key)) in rows_out.iter().enumerate() {
        let gbps = bytes as f64 / t / 1e9;
        let ratio = gbps / copy;
        if json_out {
            out.push(json!({"quant": ty.name(), "model": model, "matrix": name, "rows": rows, "cols": cols,
                "gbps": gbps, "copy_gbps": copy, "ratio": ratio, "us": t * 1e6, "cap": cap(bytes),
                "variant": {"threads_per_row": key.threads_per_row, "groups_of_rows": key.groups_of_rows, "rows_per_thread": key.rows_per_thread,
                    "vec4": key.vec4, "share_x": key.share_x}}));
        } else {
            println!(
                "{:<6} {:<8} {:<14} {:>7} {:>6} {:>9.2} {:>7.2} {:>6.2} {}",
                ty.name(),
                model,
                name,
                rows,
                cols,
                gbps,
                ratio,
                cap(bytes),
                describe(&key)
            );
        }
        // After a model's last shape of a type: all its shapes together (bytes ÷ time).
        let last = rows_out.get(i + 1).is_none_or(|n| n.0 != ty || n.1 != model);
        if last && !json_out {
            let (tb, tt) = rows_out.iter().filter(|r| r.0 == ty && r.1 == model).fold((0u64, 0f64), |a, r| (a.0 + r.6, a.1 + r.5));
            let g = tb as f64 / tt / 1e9;
            println!("{:<6} {:<8} {:<14} {:>7} {:>6} {:>9.2} {:>7.2}", ty.name(), model, "(all shapes)", "", "", g, g / copy);
        }
    }
    if json_out {
        println!("{}", json!({"adapter": adapter, "copy_gbps": copy, "dispatch_us": dispatch * 1e6, "kernels": out}));
    }
    Ok(())
}
