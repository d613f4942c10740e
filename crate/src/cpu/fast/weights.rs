//! The fast engine's weights: matrices in their GGUF encoding ([`QMatrix`]), vectors (norms,
//! biases) as f32. The structs are generic over what each tensor is so that one field list
//! serves the tensor table, the streaming loader's ids and the loaded model alike.

use super::matmul::QMatrix;
use crate::model::tensors::{LayerTensors, TensorSpec, WeightTable};

pub struct Layer<M, V> {
    pub attn_norm: V,
    pub wq: M,
    pub wk: M,
    pub wv: M,
    pub wo: M,
    pub bq: Option<V>,
    pub bk: Option<V>,
    pub bv: Option<V>,
    pub q_norm: Option<V>,
    pub k_norm: Option<V>,
    pub post_attn_norm: Option<V>,
    pub ffn_norm: V,
    /// Mixture of experts: the router; `gate`, `up`, `down` then stack every expert's rows.
    pub router: Option<M>,
    pub gate: M,
    pub up: M,
    pub down: M,
    pub post_ffn_norm: Option<V>,
}

pub struct Weights<M, V> {
    pub token_embd: M,
    pub output_norm: V,
    /// `None`: tied to `token_embd`.
    pub output: Option<M>,
    pub rope_freqs: Option<V>,
    pub layers: Vec<Layer<M, V>>,
}

/// The loaded weights.
pub type FastWeights = Weights<QMatrix, Vec<f32>>;

impl<M, V> Layer<M, V> {
    pub fn map<M2, V2>(self, fm: &mut impl FnMut(M) -> M2, fv: &mut impl FnMut(V) -> V2) -> Layer<M2, V2> {
        Layer {
            attn_norm: fv(self.attn_norm),
            wq: fm(self.wq),
            wk: fm(self.wk),
            wv: fm(self.wv),
            wo: fm(self.wo),
            bq: self.bq.map(&mut *fv),
            bk: self.bk.map(&mut *fv),
            bv: self.bv.map(&mut *fv),
            q_norm: self.q_norm.map(&mut *fv),
            k_norm: self.k_norm.map(&mut *fv),
            post_attn_norm: self.post_attn_norm.map(&mut *fv),
            ffn_norm: fv(self.ffn_norm),
            router: self.router.map(&mut *fm),
            gate: fm(self.gate),
            up: fm(self.up),
            down: fm(self.down),
            post_ffn_norm: self.post_ffn_norm.map(&mut *fv),
        }
    }
}

impl<M, V> Weights<M, V> {
    pub fn map<M2, V2>(self, mut fm: impl FnMut(M) -> M2, mut fv: impl FnMut(V) -> V2) -> Weights<M2, V2> {
        Weights {
            token_embd: fm(self.token_embd),
            output_norm: fv(self.output_norm),
            output: self.output.map(&mut fm),
            rope_freqs: self.rope_freqs.map(&mut fv),
            layers: self.layers.into_iter().map(|l| l.map(&mut fm, &mut fv)).collect(),
        }
    }
}

/// The tensor table in these structs' shape.
pub fn specs(t: &WeightTable) -> Weights<TensorSpec, TensorSpec> {
    let layer = |l: &LayerTensors| Layer {
        attn_norm: l.attn_norm.clone(),
        wq: l.wq.clone(),
        wk: l.wk.clone(),
        wv: l.wv.clone(),
        wo: l.wo.clone(),
        bq: l.bq.clone(),
        bk: l.bk.clone(),
        bv: l.bv.clone(),
        q_norm: l.q_norm.clone(),
        k_norm: l.k_norm.clone(),
        post_attn_norm: l.post_attn_norm.clone(),
        ffn_norm: l.ffn_norm.clone(),
        router: l.router.clone(),
        gate: l.gate.clone(),
        up: l.up.clone(),
        down: l.down.clone(),
        post_ffn_norm: l.post_ffn_norm.clone(),
    };
    Weights {
        token_embd: t.token_embd.clone(),
        output_norm: t.output_norm.clone(),
        output: t.output.clone(),
        rope_freqs: t.rope_freqs.clone(),
        layers: t.layers.iter().map(layer).collect(),
    }
}
