//! The CPU reference engine against llama.cpp: every fixture case (see tests/common/golden.rs).

mod common;
use common::golden::{golden, load_cpu};
use common::*;
use gguf_web::engine::CpuBackend;

fn run(key: &str, file: &str) {
    let (tok, model) = load_cpu(file);
    let mut backend = CpuBackend::new(model, 1024);
    golden(key, &tok, &mut backend, None, 0.0, None);
}

#[test]
fn smollm2_cpu_matches_llamacpp() {
    run("smollm2", SMOLLM);
}

#[test]
fn gemma3_cpu_matches_llamacpp() {
    run("gemma3", GEMMA);
}
