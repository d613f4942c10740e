//! The fast CPU engine (`cpu::fast`) against llama.cpp and the CPU reference: llama.cpp's greedy
//! ids (teacher-forced where llama.cpp is sure, free-running up to the first unsure step; the
//! rules of tests/common/golden.rs) for both default models and every generated architecture,
//! with the logits within an NMSE of the reference's that 8-bit activations explain.

mod common;
use common::golden::{golden_quantized, load_cpu};
use common::*;
use gguf_web::cpu::fast::{FastBackend, FastModel};
use gguf_web::engine::CpuBackend;
use gguf_web::gguf::{FileSource, Gguf};

/// Logits NMSE against the exact reference. q8 activations perturb each product by a fraction of a
/// percent at random (rounding to 1/254 of the block's largest value); through a whole model that
/// measured 6e-5 (gen-gemma2) to 1.7e-3 (SmolLM2) here; 1e-2 leaves room while still catching a
/// wrong kernel (a wrong block decoder gives NMSE of order 1).
const NMSE: f64 = 1e-2;

fn run(key: &str, file: &str, n_ctx: usize) {
    let (tok, model) = load_cpu(file);
    let mut reference = CpuBackend::new(model, n_ctx);
    let src = FileSource::open(common::model(file)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let mut fast = FastBackend::new(FastModel::load(&src, &g, n_ctx).unwrap());
    golden_quantized(key, &tok, &mut fast, &mut reference, NMSE, None);
}

#[test]
fn smollm2_fast_cpu_matches_llamacpp() {
    run("smollm2", SMOLLM, 1024);
}

#[test]
fn gemma3_fast_cpu_matches_llamacpp() {
    run("gemma3", GEMMA, 1024);
}

#[test]
fn fast_cpu_every_architecture() {
    for_each_arch(|name| run(&format!("gen-{name}"), &format!("gen/{name}.gguf"), 512));
}
