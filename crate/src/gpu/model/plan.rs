//! Decisions made once, at load: which tensors share a GPU matrix (stacking), and for every layer
//! how its forward pass runs (attention geometry, where each norm is done, dense or mixture FFN).
//! The graph builders (graph.rs) only read this plan.

use super::{GateUp, GpuLayer};
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::attention::{decode_split, AttnGeometry};
use crate::gpu::kernels::attn_cpu::AttnCpu;
use crate::gpu::kernels::matvec::{can_norm_x, MatVec};
use crate::gpu::weights::{gpu_block_elems, GpuMatrix};
use crate::model::{LayerTensors, ModelConfig, MoeConfig, TensorSpec};

/// Where a pre-norm (rms_norm of the residual x into the next projections' input) is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreNorm {
    /// Its own dispatch, into the scratch `h`.
    Own,
    /// By the matvecs that read x (see matvec.wgsl, NORM_X): no dispatch and no `h`.
    Fused,
    /// Already in `h`: the post-norm dispatch before it also normed the updated residual
    /// (`rms_norm_add_then_norm`, Gemma's post-norms).
    Done,
}

/// Where a block's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residual {
    /// The last projection adds its output to x as it writes.
    Add,
    /// The output is written to `o`, normed by the post-norm at this offset and added to x; the
    /// same dispatch also writes the next pre-norm (offset `next`) into `h` when there is one.
    PostNorm { weight: u32, next: Option<u32> },
}

/// The feed-forward's shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ffn {
    /// gate|up stacked: one matvec writes act(gate x) · (up x).
    Paired,
    /// gate, then up applying the activation of gate's output (the matvec), or gate, up and a
    /// separate GLU (the tiled matmul's prefill).
    Separate,
    /// A router picks experts per token on the GPU.
    Experts(MoeConfig),
}

/// How one layer runs.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    pub attn: AttnGeometry,
    pub attn_norm: PreNorm,
    pub attn_out: Residual,
    pub ffn_norm: PreNorm,
    pub ffn: Ffn,
    pub ffn_out: Residual,
}

/// How the whole forward pass runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPlan {
    pub layers: Vec<LayerPlan>,
    /// The output norm fused into the logits' matvec.
    pub logits_norm_fused: bool,
}

impl ModelPlan {
    /// The plan for `layers` on the adapter of `ctx` (its tuning and subgroups); `prefill_by_matvec`: prefill batches run
    /// through the matvec (which can norm its input), not the tiled matmul.
    pub fn new(cfg: &ModelConfig, layers: &[GpuLayer], output: &GpuMatrix, ctx: &GpuContext, prefill_by_matvec: bool) -> ModelPlan {
        let (tuning, subgroup_size) = (ctx.tuning, ctx.subgroup_size_in_use());
        let mv = |m: &GpuMatrix| MatVec::tuned(m.ty, m.rows, tuning, subgroup_size).with_gate(cfg.activation);
        let fuses = |m: &GpuMatrix| prefill_by_matvec && can_norm_x(mv(m));
        let mut plans = Vec::with_capacity(layers.len());
        let mut attn_normed = false;
        for (il, l) in layers.iter().enumerate() {
            let next_attn_norm = layers.get(il + 1).map(|n| n.attn_norm);
            let attn_norm = match () {
                _ if attn_normed => PreNorm::Done,
                _ if l.qkv.iter().all(fuses) => PreNorm::Fused,
                _ => PreNorm::Own,
            };
            let ffn = match (&l.router, cfg.moe, &l.gate_up) {
                (Some(_), Some(m), _) => Ffn::Experts(m),
                (_, _, GateUp::Paired(_)) => Ffn::Paired,
                _ => Ffn::Separate,
            };
            let (attn_out, ffn_norm) = match l.post_attn_norm {
                Some(weight) => (Residual::PostNorm { weight, next: Some(l.ffn_norm) }, PreNorm::Done),
                None => match &l.gate_up {
                    GateUp::Paired(m) if ffn == Ffn::Paired && fuses(m) => (Residual::Add, PreNorm::Fused),
                    _ => (Residual::Add, PreNorm::Own),
                },
            };
            let ffn_out = match l.post_ffn_norm {
                Some(weight) => Residual::PostNorm { weight, next: next_attn_norm },
                None => Residual::Add,
            };
            attn_normed = matches!(ffn_out, Residual::PostNorm { next: Some(_), .. });
            plans.push(LayerPlan { attn: attn_geometry(cfg, il, ctx), attn_norm, attn_out, ffn_norm, ffn, ffn_out });
        }
        ModelPlan { layers: plans, logits_norm_fused: fuses(output) }
    }
}

/// Layer `il`'s attention: heads, scale, soft-cap, sliding window, keys per decode workgroup.
pub fn attn_geometry(cfg: &ModelConfig, il: usize, ctx: &GpuContext) -> AttnGeometry {
    let tuning = ctx.tuning;
    AttnGeometry {
        n_head: cfg.n_head as u32,
        n_head_kv: cfg.n_head_kv as u32,
        head_dim: cfg.head_dim as u32,
        scale: cfg.attn_scale,
        softcap: cfg.attn_softcap,
        window: cfg.layers.get(il).and_then(|l| l.sliding_window).map(|w| w as u32),
        split: decode_split(tuning),
        parts: AttnCpu::parts_for(tuning, ctx.subgroup_size_in_use()),
    }
}

/// How a layer's q, k and v projections are stacked on the GPU: runs of consecutive ones with one
/// quant type and row length. A tensor is followed by another only if it ends on a pair of blocks
/// (the unit of the GPU layout's side plane, see weights.rs), which every real model's does.
pub fn qkv_groups(l: &LayerTensors) -> Vec<Vec<&TensorSpec>> {
    let mut groups: Vec<Vec<&TensorSpec>> = Vec::new();
    for t in [&l.wq, &l.wk, &l.wv] {
        match groups.last_mut() {
            Some(g) if g[0].ty == t.ty && g[0].dims[0] == t.dims[0] && g.iter().all(|u| whole_pairs(u)) => g.push(t),
            _ => groups.push(vec![t]),
        }
    }
    groups
}

/// Whether a layer's gate and up projections are stacked (see `GateUp::Paired`): not with the
/// tiled matmul's prefill, which writes them apart.
pub fn pairs_ffn(l: &LayerTensors, prefill_by_matvec: bool, max_binding: u64) -> bool {
    let (g, u) = (&l.gate, &l.up);
    let rows = (g.n_rows() + u.n_rows()) as usize;
    prefill_by_matvec
        && l.router.is_none()
        && g.ty == u.ty
        && g.dims == u.dims
        && whole_pairs(g)
        && GpuMatrix::rows_per_part(g.ty, g.dims[0] as usize, rows, max_binding) >= rows
}

/// The matrices of a layer that stack several tensors (or one, for q, k, v of distinct types).
pub fn layer_stacks(l: &LayerTensors, pair_ffn: bool) -> Vec<Vec<&TensorSpec>> {
    let mut v = qkv_groups(l);
    if pair_ffn {
        v.push(vec![&l.gate, &l.up]);
    }
    v
}

fn whole_pairs(t: &TensorSpec) -> bool {
    (t.n_rows() * (t.dims[0] / gpu_block_elems(t.ty) as u64)).is_multiple_of(2)
}

/// The name of a stacked matrix (the name of its one tensor if it holds only one).
pub fn stack_name(group: &[&TensorSpec]) -> String {
    group.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join("+")
}
