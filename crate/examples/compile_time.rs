// Experiment: pipeline creation time of the matvec variants per quant type (lavapipe and SwiftShader
// compile with LLVM/Subzero when the pipeline is created; this is paid at model load).
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::kernels::matvec::MatVec;
use gguf_web::gpu::{DeviceRequest, GpuContext, Kernels};
use gguf_web::quant::GgmlType;
use std::rc::Rc;
use std::time::Instant;

fn main() {
    let ctx = block_on(GpuContext::new(&DeviceRequest::default())).unwrap();
    println!("{}", ctx.describe());
    let k = Kernels::new(Rc::new(ctx));
    let args: Vec<String> = std::env::args().skip(1).collect();
    for ty in GgmlType::all().filter(|t| t.is_supported()) {
        if !args.is_empty() && !args.iter().any(|a| a == ty.name()) {
            continue;
        }
        let mut line = format!("{:<6}", ty.name());
        for (rpt, vec4, share_x) in [(4, false, false), (8, true, false), (8, true, true), (4, true, true)] {
            let key = MatVec { rows_per_thread: rpt, vec4, share_x, ..MatVec::for_type(ty) };
            let t = Instant::now();
            // llvmpipe compiles at the first dispatch: time one on a small matrix.
            block_on(gguf_web::gpu::bench::matvec_seconds_once(&k, key, 64, 1024)).unwrap();
            line += &format!("  r{rpt}{}{} {:6.2}s", if vec4 { "v" } else { "-" }, if share_x { "s" } else { "-" }, t.elapsed().as_secs_f64());
        }
        println!("{line}");
    }
}
