//! Layer by layer: the GPU engine's named intermediates (its probe, `gpu::model::Probe`) against
//! the CPU engine's at every layer, for a prefill batch and then a decode step. A mismatch names
//! the layer and the intermediate where the two engines part, which the logits alone cannot.

use super::model;
use gguf_web::cpu::CpuModel;
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::model::GpuModel;
use gguf_web::gpu::{DeviceRequest, Kernels};
use std::collections::BTreeMap;
use std::rc::Rc;

/// What every layer must show, whatever its norms' fusions.
const CORE: [&str; 6] = ["q", "k", "v", "attn_out", "attn_res", "layer_out"];

/// Compares the layers `which` (`None`: every layer) of `file` on `prompt` and one more token;
/// NMSE at most `tol` per intermediate. Returns how many intermediates were compared.
pub fn compare_layers(file: &str, which: Option<&[usize]>, prompt: &[u32], next: u32, tol: f64) -> usize {
    let src = FileSource::open(model(file)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let cpu = CpuModel::load(&src, &g).unwrap();
    let n_ctx = 64;
    let ctx = block_on(GpuModel::context_for(&cpu.cfg, &g, n_ctx, &DeviceRequest::default())).unwrap();
    let mut gpu = GpuModel::load(Kernels::new(Rc::new(ctx)), &src, &g, n_ctx, &mut |_, _| {}).unwrap();
    let mut compared = 0;
    let mut failures = Vec::new();
    let all: Vec<usize> = (0..cpu.cfg.n_layer).collect();
    for &layer in which.unwrap_or(&all) {
        let mut cache = cpu.new_cache(n_ctx);
        gpu.truncate(0);
        for (step, tokens) in [("prefill", prompt), ("decode", &[next][..])] {
            let mut want = BTreeMap::new();
            cpu.forward_probed(&mut cache, tokens, layer, &mut |name, v| {
                want.insert(name.to_string(), v.to_vec());
            });
            let got: BTreeMap<String, Vec<f32>> = block_on(gpu.forward_probed(tokens, layer)).unwrap().into_iter().collect();
            for name in CORE {
                assert!(got.contains_key(name), "{file} layer {layer} {step}: the GPU probe has no {name:?} (it has {:?})", got.keys());
            }
            for (name, g) in &got {
                let w = want.get(name).unwrap_or_else(|| panic!("{file}: the CPU engine has no {name:?}"));
                assert_eq!(g.len(), w.len(), "{file} layer {layer} {step} {name}: lengths");
                let e = gguf_web::gpu::buffers::nmse(g, w);
                // NaN fails too.
                if e.is_nan() || e > tol {
                    failures.push(format!("{file} layer {layer} {step} {name}: NMSE {e:.2e} > {tol:.0e}"));
                }
                compared += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    compared
}
