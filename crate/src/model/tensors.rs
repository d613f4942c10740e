//! The tensor-name table: which GGUF tensors an architecture needs, with their expected shapes
//! (`[row length, rows]`, ggml order). Resolving it checks presence, shape and quant type from the
//! header alone, so an unusable file is refused before any weight is read.

use super::config::{Arch, ModelConfig};
use super::error::ModelError;
use crate::gguf::{Gguf, TensorInfo};
use crate::quant::GgmlType;

/// A tensor of the model as found in the file.
pub type TensorSpec = TensorInfo;

#[derive(Clone, Debug)]
pub struct LayerTensors {
    pub attn_norm: TensorSpec,
    pub wq: TensorSpec,
    pub wk: TensorSpec,
    pub wv: TensorSpec,
    pub wo: TensorSpec,
    pub bq: Option<TensorSpec>,
    pub bk: Option<TensorSpec>,
    pub bv: Option<TensorSpec>,
    pub q_norm: Option<TensorSpec>,
    pub k_norm: Option<TensorSpec>,
    pub post_attn_norm: Option<TensorSpec>,
    pub ffn_norm: TensorSpec,
    /// Mixture of experts: the router (`[n_embd, n_expert]`); `gate`, `up` and `down` then hold
    /// every expert (`[n_embd, n_ff_exp, n_expert]`, `[n_ff_exp, n_embd, n_expert]`), expert `j`
    /// being rows `j·n` to `(j+1)·n` of their 2-D view.
    pub router: Option<TensorSpec>,
    pub gate: TensorSpec,
    pub up: TensorSpec,
    pub down: TensorSpec,
    pub post_ffn_norm: Option<TensorSpec>,
}

#[derive(Clone, Debug)]
pub struct WeightTable {
    pub token_embd: TensorSpec,
    pub output_norm: TensorSpec,
    /// `None` when the output projection is tied to the token embedding.
    pub output: Option<TensorSpec>,
    /// RoPE frequency factors (Llama 3.1 and later), one per rotated pair: angles are divided by them.
    pub rope_freqs: Option<TensorSpec>,
    pub layers: Vec<LayerTensors>,
}

struct Resolver<'a> {
    g: &'a Gguf,
}

impl Resolver<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<TensorSpec, ModelError> {
        self.opt(name, shape)?.ok_or_else(|| ModelError::MissingTensor { name: name.into() })
    }
    fn opt(&self, name: &str, shape: &[usize]) -> Result<Option<TensorSpec>, ModelError> {
        let Some(t) = self.g.tensor(name) else { return Ok(None) };
        let expected: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        // Trailing 1-dims are insignificant (some writers store [n, 1]).
        let mut found = t.dims.clone();
        while found.len() > expected.len() && found.last() == Some(&1) {
            found.pop();
        }
        if found != expected {
            return Err(ModelError::BadShape { name: name.into(), expected, found: t.dims.clone() });
        }
        if !t.ty.is_supported() {
            return Err(ModelError::UnsupportedQuant { tensor: name.into(), ty: t.ty, supported: supported_quants() });
        }
        Ok(Some(t.clone()))
    }
}

pub fn supported_quants() -> String {
    GgmlType::all().filter(|t| t.is_supported()).map(|t| t.name()).collect::<Vec<_>>().join(", ")
}

impl WeightTable {
    pub fn resolve(cfg: &ModelConfig, g: &Gguf) -> Result<WeightTable, ModelError> {
        let r = Resolver { g };
        let (e, f, hd) = (cfg.n_embd, cfg.n_ff, cfg.head_dim);
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for il in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{il}.{s}.weight");
            let need = |s: &str, shape: &[usize], on: bool| -> Result<Option<TensorSpec>, ModelError> {
                if on {
                    r.get(&n(s), shape).map(Some)
                } else {
                    Ok(None)
                }
            };
            let bias = |s: &str, len: usize| -> Result<Option<TensorSpec>, ModelError> {
                if cfg.qkv_bias {
                    r.get(&format!("blk.{il}.{s}.bias"), &[len]).map(Some)
                } else {
                    Ok(None)
                }
            };
            let (qd, kd, vd) = (cfg.q_dim(), cfg.kv_dim(), cfg.v_dim());
            // Phi-3 fuses q, k, v into one matrix and gate, up into another: their row ranges
            // load as separate matrices.
            let (wq, wk, wv) = match r.opt(&n("attn_qkv"), &[e, qd + kd + vd])? {
                Some(qkv) => (
                    qkv.row_slice(0, qd as u64, "q"),
                    qkv.row_slice(qd as u64, kd as u64, "k"),
                    qkv.row_slice((qd + kd) as u64, vd as u64, "v"),
                ),
                None => (r.get(&n("attn_q"), &[e, qd])?, r.get(&n("attn_k"), &[e, kd])?, r.get(&n("attn_v"), &[e, vd])?),
            };
            let (router, gate, up, down) = if let Some(m) = cfg.moe {
                let (ne, fe) = (m.n_expert, m.n_ff_exp);
                let router = r.get(&n("ffn_gate_inp"), &[e, ne])?;
                let gate = r.get(&n("ffn_gate_exps"), &[e, fe, ne])?;
                (Some(router), gate, r.get(&n("ffn_up_exps"), &[e, fe, ne])?, r.get(&n("ffn_down_exps"), &[fe, e, ne])?)
            } else if cfg.arch == Arch::Phi3 {
                let gu = r.get(&n("ffn_up"), &[e, 2 * f])?;
                (None, gu.row_slice(0, f as u64, "gate"), gu.row_slice(f as u64, f as u64, "up"), r.get(&n("ffn_down"), &[f, e])?)
            } else {
                (None, r.get(&n("ffn_gate"), &[e, f])?, r.get(&n("ffn_up"), &[e, f])?, r.get(&n("ffn_down"), &[f, e])?)
            };
            layers.push(LayerTensors {
                attn_norm: r.get(&n("attn_norm"), &[e])?,
                wq,
                wk,
                wv,
                wo: r.get(&n("attn_output"), &[cfg.n_head * cfg.head_dim_v, e])?,
                bq: bias("attn_q", cfg.q_dim())?,
                bk: bias("attn_k", cfg.kv_dim())?,
                bv: bias("attn_v", cfg.v_dim())?,
                q_norm: need("attn_q_norm", &[hd], cfg.qk_norm)?,
                k_norm: need("attn_k_norm", &[hd], cfg.qk_norm)?,
                post_attn_norm: need("post_attention_norm", &[e], cfg.post_norms)?,
                ffn_norm: r.get(&n("ffn_norm"), &[e])?,
                router,
                gate,
                up,
                down,
                post_ffn_norm: need("post_ffw_norm", &[e], cfg.post_norms)?,
            });
        }
        Ok(WeightTable {
            token_embd: r.get("token_embd.weight", &[e, cfg.n_vocab])?,
            output_norm: r.get("output_norm.weight", &[e])?,
            output: r.opt("output.weight", &[e, cfg.n_vocab])?,
            // LongRoPE's short factors: the context is capped where they hold (see ModelConfig).
            rope_freqs: match r.opt("rope_freqs.weight", &[cfg.rope_dim / 2])? {
                Some(t) => Some(t),
                None => r.opt("rope_factors_short.weight", &[cfg.rope_dim / 2])?,
            },
            layers,
        })
    }

    /// Every tensor the model reads, once (a tied output is not listed twice).
    pub fn all(&self) -> Vec<&TensorSpec> {
        let mut v = vec![&self.token_embd, &self.output_norm];
        v.extend(self.output.as_ref());
        v.extend(self.rope_freqs.as_ref());
        for l in &self.layers {
            v.extend([&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.gate, &l.up, &l.down]);
            v.extend([&l.router, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm, &l.post_attn_norm, &l.post_ffn_norm].into_iter().flatten());
        }
        v
    }

    pub fn weight_bytes(&self) -> u64 {
        self.all().iter().map(|t| t.n_bytes).sum()
    }
}
