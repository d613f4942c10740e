//! The WebGPU engine against llama.cpp (the same checks as the CPU engine, tests/common/golden.rs)
//! and against the CPU reference: its logits at every position of every checked case must be
//! within NMSE 1e-6 of the CPU engine's (f32 sums in a different order; GPU exp/sin/cos).
//! The adapter is the test machine's (lavapipe here; set VK_ICD_FILENAMES for SwiftShader). The
//! GPU runs on a CPU-emulated adapter are slow, so by default three cases per model are checked
//! (two completions and a chat); GGUF_WEB_GOLDEN_CASES=all checks every case.

mod common;
use common::golden::{golden, load_cpu};
use common::*;
use gguf_web::engine::{CpuBackend, GpuBackend};
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::gpu::DeviceRequest;

const NMSE: f64 = 1e-6;

fn run(key: &str, file: &str, default_limits: bool) {
    let (tok, cpu) = load_cpu(file);
    let mut reference = CpuBackend::new(cpu, 1024);
    let src = FileSource::open(model(file)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let req = DeviceRequest { default_limits_only: default_limits, ..Default::default() };
    let mut gpu = GpuBackend::open(&src, &g, 1024, req, &mut |_, _| {}).unwrap();
    let all = std::env::var("GGUF_WEB_GOLDEN_CASES").is_ok_and(|v| v == "all");
    let subset = [0usize, 1, 6];
    golden(key, &tok, &mut gpu, Some(&mut reference), NMSE, if all { None } else { Some(&subset) });
}

#[test]
fn smollm2_gpu_matches_llamacpp_and_cpu() {
    run("smollm2", SMOLLM, false);
}

/// Gemma's 171 MB embedding exceeds the default 128 MiB binding: it runs split into parts.
#[test]
fn gemma3_gpu_with_default_limits_matches_llamacpp_and_cpu() {
    run("gemma3", GEMMA, true);
}

/// Gemma 3's layers (sliding-window and global attention, post-norms fused with the next
/// pre-norm) on the GPU against the CPU engine, intermediate by intermediate: the first, a
/// global-attention one (every sixth) and the last.
#[test]
fn gemma3_gpu_layers_match_cpu() {
    let n = common::layers::compare_layers(GEMMA, Some(&[0, 5, 17]), &[2, 818, 5279, 529, 7001, 563, 236761], 9142, NMSE);
    println!("gemma3: {n} intermediates within NMSE {NMSE:.0e} of the CPU engine");
}
