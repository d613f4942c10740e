//! The forward pass of the shared decoder-only transformer, in the order llama.cpp's graph builders
//! use (`llm_build_llama`, `llm_build_gemma3`); architecture differences come from [`ModelConfig`].

use super::kv_cache::KvCache;
use super::ops::{attention, gelu_tanh, matmul, matvec_rows, rms_norm, rope, silu, softcap, top_experts, AttnShape, RopeFreqs};
use super::weights::{CpuLayer, CpuWeights};
use crate::gguf::{ByteSource, Gguf};
use crate::model::{Activation, ModelConfig, ModelError};

/// Receives a layer's named intermediates (see [`CpuModel::forward_probed`]).
pub type Tap<'a> = &'a mut dyn FnMut(&str, &[f32]);

pub struct CpuModel {
    pub cfg: ModelConfig,
    pub weights: CpuWeights,
}

impl CpuModel {
    pub fn load(src: &dyn ByteSource, g: &Gguf) -> Result<CpuModel, ModelError> {
        let cfg = ModelConfig::from_gguf(g)?;
        let weights = CpuWeights::load(src, g, &cfg)?;
        Ok(CpuModel { cfg, weights })
    }

    pub fn new_cache(&self, capacity: usize) -> KvCache {
        KvCache::new(self.cfg.n_layer, capacity)
    }

    /// Runs `tokens` at positions `cache.len()..`, appending to the cache. Returns the logits of
    /// every token (`all_logits`) or of the last one, `n_vocab` values per token.
    pub fn forward(&self, cache: &mut KvCache, tokens: &[u32], all_logits: bool) -> Vec<f32> {
        self.forward_with(cache, tokens, all_logits, None)
    }

    /// [`Self::forward`] that hands layer `layer`'s named intermediates to `tap` (names and
    /// layouts as the GPU engine's probe, `gpu::model::Probe`): for comparing one layer.
    pub fn forward_probed(&self, cache: &mut KvCache, tokens: &[u32], layer: usize, tap: Tap) -> Vec<f32> {
        self.forward_with(cache, tokens, false, Some((layer, tap)))
    }

    fn forward_with(&self, cache: &mut KvCache, tokens: &[u32], all_logits: bool, mut probe: Option<(usize, Tap)>) -> Vec<f32> {
        let cfg = &self.cfg;
        let (e, t_count) = (cfg.n_embd, tokens.len());
        assert!(cache.len + t_count <= cache.capacity, "context of {} tokens exceeded", cache.capacity);
        let mut x = Vec::with_capacity(t_count * e);
        for &tok in tokens {
            x.extend_from_slice(self.weights.token_embd.row(tok as usize));
        }
        if let Some(s) = cfg.embed_scale {
            x.iter_mut().for_each(|v| *v *= s);
        }
        for (il, layer) in self.weights.layers.iter().enumerate() {
            let mut tap = |name: &str, v: &[f32]| {
                if let Some((l, f)) = probe.as_mut() {
                    if *l == il {
                        f(name, v);
                    }
                }
            };
            self.layer(il, layer, cache, &mut x, t_count, &mut tap);
        }
        cache.len += t_count;

        let rows: &[f32] = if all_logits { &x } else { &x[(t_count - 1) * e..] };
        let mut h = rows.to_vec();
        rms_norm(&mut h, e, &self.weights.output_norm, cfg.rms_eps);
        let out = self.weights.output.as_ref().unwrap_or(&self.weights.token_embd);
        let mut logits = matmul(&h, out);
        if let Some(cap) = cfg.final_softcap {
            softcap(&mut logits, cap);
        }
        logits
    }

    fn layer(&self, il: usize, w: &CpuLayer, cache: &mut KvCache, x: &mut [f32], t_count: usize, tap: &mut dyn FnMut(&str, &[f32])) {
        let cfg = &self.cfg;
        let lc = cfg.layers[il];
        let (e, hd, hdv) = (cfg.n_embd, cfg.head_dim, cfg.head_dim_v);
        let p0 = cache.len;

        let mut h = x.to_vec();
        rms_norm(&mut h, e, &w.attn_norm, cfg.rms_eps);
        tap("attn_norm", &h);
        let mut q = matmul(&h, &w.wq);
        let mut k = matmul(&h, &w.wk);
        let mut v = matmul(&h, &w.wv);
        for (y, b) in [(&mut q, &w.bq), (&mut k, &w.bk), (&mut v, &w.bv)] {
            if let Some(b) = b {
                y.chunks_exact_mut(b.len()).for_each(|row| row.iter_mut().zip(b).for_each(|(a, b)| *a += b));
            }
        }
        if let (Some(qn), Some(kn)) = (&w.q_norm, &w.k_norm) {
            rms_norm(&mut q, hd, qn, cfg.rms_eps);
            rms_norm(&mut k, hd, kn, cfg.rms_eps);
        }
        let freqs = RopeFreqs {
            n_rot: cfg.rope_dim,
            base: lc.rope_base,
            scale: lc.rope_scale,
            mscale: lc.rope_mscale,
            factors: self.weights.rope_freqs.as_deref(),
        };
        for (t, (qt, kt)) in q.chunks_exact_mut(cfg.q_dim()).zip(k.chunks_exact_mut(cfg.kv_dim())).enumerate() {
            for head in qt.chunks_exact_mut(hd).chain(kt.chunks_exact_mut(hd)) {
                rope(head, p0 + t, &freqs, cfg.rope_neox);
            }
        }
        tap("q", &q);
        tap("k", &k);
        tap("v", &v);
        cache.k[il].extend_from_slice(&k);
        cache.v[il].extend_from_slice(&v);
        let (kc, vc) = (&cache.k[il], &cache.v[il]);

        let shape = AttnShape {
            n_head: cfg.n_head,
            n_head_kv: cfg.n_head_kv,
            head_dim: hd,
            head_dim_v: hdv,
            scale: cfg.attn_scale,
            softcap: cfg.attn_softcap,
            window: lc.sliding_window,
        };
        let attn = attention(&shape, &q, kc, vc, p0, t_count);
        tap("attn_out", &attn);
        let mut o = matmul(&attn, &w.wo);
        if let Some(n) = &w.post_attn_norm {
            rms_norm(&mut o, e, n, cfg.rms_eps);
        }
        x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        tap("attn_res", x);

        let mut h = x.to_vec();
        rms_norm(&mut h, e, &w.ffn_norm, cfg.rms_eps);
        tap("ffn_norm", &h);
        let act: fn(f32) -> f32 = match cfg.activation {
            Activation::Silu => silu,
            Activation::GeluTanh => gelu_tanh,
        };
        let mut d = match (&w.router, cfg.moe) {
            (Some(router), Some(m)) => {
                // Per token: the router's picks, each expert's gated FFN, summed by weight in the
                // order picked (as llama.cpp adds them).
                let mut d = vec![0f32; h.len()];
                for (ht, dt) in h.chunks_exact(e).zip(d.chunks_exact_mut(e)) {
                    for (j, wj) in top_experts(&matmul(ht, router), m.n_used, m.norm_weights) {
                        let g = matvec_rows(ht, &w.gate, j * m.n_ff_exp, m.n_ff_exp);
                        let u = matvec_rows(ht, &w.up, j * m.n_ff_exp, m.n_ff_exp);
                        let a: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| act(g) * u).collect();
                        let y = matvec_rows(&a, &w.down, j * e, e);
                        dt.iter_mut().zip(&y).for_each(|(o, &v)| *o += v * wj);
                    }
                }
                d
            }
            _ => {
                let gate = matmul(&h, &w.gate);
                let up = matmul(&h, &w.up);
                let a: Vec<f32> = gate.iter().zip(&up).map(|(&g, &u)| act(g) * u).collect();
                matmul(&a, &w.down)
            }
        };
        if let Some(n) = &w.post_ffn_norm {
            rms_norm(&mut d, e, n, cfg.rms_eps);
        }
        x.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
        tap("layer_out", x);
    }
}
