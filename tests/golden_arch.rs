//! The architectures beyond the two default models (tests/fixtures/archs.json lists them: llama
//! with Llama 3 RoPE frequency factors, qwen2, qwen3, qwen3moe, phi3, gemma2), on small
//! random-weight models that tests/fixtures/gen_models.py writes into models/gen/ (scripts/setup.sh
//! runs it), checked against llama.cpp
//! (tests/fixtures/golden/gen-*.json, by gen_arch_golden.py) with the rules of
//! tests/common/golden.rs: exact-f32 logits, teacher-forced argmax where llama.cpp is sure,
//! free-running ids up to the first unsure step. The GPU engine's logits must also be within
//! NMSE 1e-6 of the CPU reference's.

mod common;
use common::golden::{golden, load_cpu};
use common::*;
use gguf_web::engine::{CpuBackend, GpuBackend};
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::gpu::DeviceRequest;
use sha2::{Digest, Sha256};

/// The generated model, after checking that its bytes are those llama.cpp saw.
fn generated(name: &str) -> String {
    let file = format!("gen/{name}.gguf");
    let bytes = std::fs::read(model(&file)).unwrap();
    let want = json(&fixtures().join(format!("golden/gen-{name}.json")))["sha256"].as_str().unwrap().to_string();
    let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        got, want,
        "models/{file} differs from the model of the llama.cpp fixture: regenerate both (tests/fixtures/gen_models.py, then gen_arch_golden.py)"
    );
    file
}

fn cpu(name: &str) {
    let file = generated(name);
    let (tok, model) = load_cpu(&file);
    let mut backend = CpuBackend::new(model, 512);
    golden(&format!("gen-{name}"), &tok, &mut backend, None, 0.0, None);
}

fn gpu(name: &str) {
    let file = generated(name);
    let (tok, cpu) = load_cpu(&file);
    let mut reference = CpuBackend::new(cpu, 512);
    let src = FileSource::open(model(&file)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let mut gpu = GpuBackend::open(&src, &g, 512, DeviceRequest::default(), &mut |_, _| {}).unwrap();
    golden(&format!("gen-{name}"), &tok, &mut gpu, Some(&mut reference), 1e-6, None);
}

/// K decode steps per round trip give exactly the ids of one (tests/common/batch.rs).
fn batches(name: &str) {
    let file = generated(name);
    let src = FileSource::open(model(&file)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let tok = std::rc::Rc::new(gguf_web::tokenizer::Tokenizer::from_gguf(&g).unwrap());
    let gpu = GpuBackend::open(&src, &g, 256, DeviceRequest::default(), &mut |_, _| {}).unwrap();
    let prompts: Vec<Vec<u32>> = common::golden::cases(&format!("gen-{name}")).into_iter().map(|c| c.prompt_ids).collect();
    let mut s = gguf_web::engine::Session::new(gpu, tok);
    let n = common::batch::compare_k(&format!("gen-{name}"), &mut s, &prompts, &[Some(2), Some(3), Some(8), None]);
    // The batches ran pipelined: most were started ahead and taken over, some dropped at an end.
    let [taken, dropped] = s.backend.model.ahead_runs;
    assert!(taken > dropped && dropped > 0, "gen-{name}: {taken} batches ahead taken over, {dropped} dropped");
    println!("gen-{name}: {n} requests with K > 1 gave the ids of K = 1 ({taken} batches started ahead and taken, {dropped} dropped)");
}

/// Every layer's intermediates on the GPU against the CPU engine's (tests/common/layers.rs).
fn layers(name: &str) {
    let file = generated(name);
    let n = common::layers::compare_layers(&file, None, &[1, 17, 300, 42, 7, 99, 5], 11, 1e-6);
    println!("gen-{name}: {n} intermediates within NMSE 1e-6 of the CPU engine");
}

// One test per engine over every architecture of tests/fixtures/archs.json.

#[test]
fn cpu_engine_every_architecture() {
    for_each_arch(cpu);
}

#[test]
fn gpu_engine_every_architecture() {
    for_each_arch(gpu);
}

#[test]
fn gpu_decode_batches_every_architecture() {
    for_each_arch(batches);
}

#[test]
fn gpu_layers_every_architecture() {
    for_each_arch(layers);
}
