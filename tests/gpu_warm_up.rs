//! The warm-up (run by the browser loader while the weights download) must create every pipeline
//! that the first tokens need: after both its parts, a prefill, a decode step and sampling of every
//! kind create none, nor does a prompt long enough for attention over several splits of keys.
//! Checked on the generated models of every architecture and on SmolLM2.

mod common;
use common::*;
use gguf_web::engine::SamplingParams;
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::kernels::attention::decode_split;
use gguf_web::gpu::model::{GpuModel, WarmUp};
use gguf_web::gpu::{DeviceRequest, Kernels};
use gguf_web::model::ModelConfig;
use std::path::Path;
use std::rc::Rc;

fn check(path: &Path) {
    let src = FileSource::open(path).unwrap();
    let g = Gguf::read(&src).unwrap();
    let cfg = ModelConfig::from_gguf(&g).unwrap();
    let ctx = block_on(GpuModel::context_for(&cfg, &g, N_CTX, &DeviceRequest::default())).unwrap();
    let (plan, mut loader) = GpuModel::start_load(Kernels::new(Rc::new(ctx)), &g, N_CTX).unwrap();
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
    let drawn = SamplingParams {
        temperature: 0.8,
        top_k: 40,
        top_p: 0.9,
        min_p: 0.05,
        repetition_penalty: 1.1,
        seed: 7,
        ..SamplingParams::default()
    };
    let a = block_on(m.forward_sample(&[1, 2, 3, 4, 5], &greedy, 0, &[])).unwrap();
    let b = block_on(m.forward_sample(&[a], &drawn, 1, &[1, 2, 3, a])).unwrap();
    block_on(m.forward_sample(&[b], &greedy, 2, &[])).unwrap();
    assert_eq!(m.k.pipeline_count(), warmed, "{}: the first tokens created pipelines the warm-up did not", path.display());
    m.truncate(0);
    let split = decode_split(m.ctx().tuning) as usize;
    let long: Vec<u32> = (0..split as u32 + 9).map(|i| 1 + i % 50).collect();
    let c = block_on(m.forward_sample(&long, &greedy, 0, &[])).unwrap();
    block_on(m.forward_sample(&[c], &greedy, 1, &[])).unwrap();
    assert_eq!(m.k.pipeline_count(), warmed, "{}: a prompt over {split} keys created pipelines the warm-up did not", path.display());
}

/// Room for a prompt past one split of keys on every adapter (256 on CPU adapters).
const N_CTX: usize = 320;

#[test]
fn warm_up_creates_every_pipeline_of_the_first_tokens() {
    for (name, _) in generated_archs() {
        check(&model(&format!("gen/{name}.gguf")));
    }
    check(&model(SMOLLM));
}
