//! The warm-up (run by the browser loader while the weights download) must create every pipeline
//! that the first tokens need: after both its parts, a prefill, a decode step and sampling of every
//! kind create none. Checked on the generated models of every architecture and on SmolLM2.

mod common;
use common::*;
use gguf_web::engine::SamplingParams;
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::model::{GpuModel, WarmUp};
use gguf_web::gpu::{DeviceRequest, Kernels};
use gguf_web::model::ModelConfig;
use std::path::Path;
use std::rc::Rc;

fn check(path: &Path) {
    let src = FileSource::open(path).unwrap();
    let g = Gguf::read(&src).unwrap();
    let cfg = ModelConfig::from_gguf(&g).unwrap();
    let ctx = block_on(GpuModel::context_for(&cfg, &g, 128, &DeviceRequest::default())).unwrap();
    let (plan, mut loader) = GpuModel::plan(Kernels::new(Rc::new(ctx)), &g, 128).unwrap();
    assert_eq!(plan.kernels().pipeline_count(), 0, "{}: pipelines before the warm-up", path.display());
    plan.warm_up(WarmUp::Decode).unwrap();
    let decode = plan.kernels().pipeline_count();
    assert!(decode > 5, "{}: only {decode} pipelines", path.display());
    plan.stream(&mut loader, &src, &mut |_, _| {}).unwrap();
    let mut m = plan.finish(loader).unwrap();
    let greedy = SamplingParams::greedy();
    block_on(m.forward_sample(&[7], &greedy, 0, &[])).unwrap();
    assert_eq!(m.k.pipeline_count(), decode, "{}: a greedy decode step created pipelines the warm-up did not", path.display());
    m.truncate(0);
    m.warm_up(WarmUp::Rest).unwrap();
    let warmed = m.k.pipeline_count();
    let drawn = SamplingParams { temperature: 0.8, top_k: 40, top_p: 0.9, min_p: 0.05, repetition_penalty: 1.1, seed: 7, ..SamplingParams::default() };
    let a = block_on(m.forward_sample(&[1, 2, 3, 4, 5], &greedy, 0, &[])).unwrap();
    let b = block_on(m.forward_sample(&[a], &drawn, 1, &[1, 2, 3, a])).unwrap();
    block_on(m.forward_sample(&[b], &greedy, 2, &[])).unwrap();
    assert_eq!(m.k.pipeline_count(), warmed, "{}: the first tokens created pipelines the warm-up did not", path.display());
}

#[test]
fn warm_up_creates_every_pipeline_of_the_first_tokens() {
    for name in ["llama3", "qwen2", "qwen3", "qwen3moe", "phi3", "gemma2"] {
        check(&model(&format!("gen/{name}.gguf")));
    }
    check(&model(SMOLLM));
}
