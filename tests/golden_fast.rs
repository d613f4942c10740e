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

/// Layer by layer against the reference's intermediates (the taps of `forward_probed`: q, k, v,
/// attention, residuals), a prefill and then a decode step: where the engines part, the layer and
/// the intermediate say where, which the logits alone cannot. Same NMSE bound as the logits
/// (each intermediate carries the q8 error of the products before it).
fn layers(name: &str) {
    use std::collections::BTreeMap;
    let file = format!("gen/{name}.gguf");
    let src = FileSource::open(common::model(&file)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let reference = gguf_web::cpu::CpuModel::load(&src, &g).unwrap();
    let fast = FastModel::load(&src, &g, 64).unwrap();
    let (prompt, next) = ([1u32, 17, 300, 42, 7, 99, 5], 11u32);
    let mut failures = Vec::new();
    let (mut compared, mut worst) = (0, 0f64);
    for layer in 0..fast.cfg.n_layer {
        let (mut rc, mut fc) = (reference.new_cache(64), fast.new_cache(64));
        for (step, tokens) in [("prefill", &prompt[..]), ("decode", &[next][..])] {
            let (mut want, mut got) = (BTreeMap::new(), BTreeMap::new());
            reference.forward_probed(&mut rc, tokens, layer, &mut |n, v| {
                want.insert(n.to_string(), v.to_vec());
            });
            fast.forward_probed(&mut fc, tokens, layer, &mut |n, v| {
                got.insert(n.to_string(), v.to_vec());
            });
            assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{name}: the same taps");
            for (n, w) in &want {
                let e = gguf_web::gpu::buffers::nmse(&got[n], w);
                worst = worst.max(e);
                if e.is_nan() || e > NMSE {
                    failures.push(format!("{name} layer {layer} {step} {n}: NMSE {e:.2e} > {NMSE:.0e}"));
                }
                compared += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("gen-{name}: {compared} intermediates within NMSE {NMSE:.0e} of the reference (worst {worst:.1e})");
}

#[test]
fn fast_cpu_layers_every_architecture() {
    for_each_arch(layers);
}
