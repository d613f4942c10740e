//! The forward pass on the GPU for every supported architecture (llama, qwen2, qwen3, qwen3moe,
//! phi3, gemma2, gemma3): weights streamed in by the loader, a KV cache per layer, and activation
//! scratch for a batch of tokens. A decode step records every dispatch of every layer into one
//! compute pass and submits once.
//!
//! By job: `load` (device limits, buffers, streaming the weights in), `plan` (decisions made once
//! at load: stacking, fusions, attention kind, dense or mixture FFN), `graph` (the builders that
//! record a step as the plan says, and the probe), `run` (forward passes, sampling, warm-up).

mod graph;
mod load;
pub mod plan;
mod run;

pub use graph::Probe;
pub use load::LoadingModel;
use plan::ModelPlan;

use super::context::GpuContext;
use super::kernels::sample::GpuSampler;
use super::pipeline::Kernels;
use super::weights::GpuMatrix;
use crate::model::ModelConfig;
use std::rc::Rc;

/// Tokens per prefill batch (a multiple of the matmul's token tile).
pub const MAX_BATCH: usize = 32;

/// Decode steps run on the GPU per read-back at most (see `GpuModel::forward_sample_many`).
pub const MAX_DECODE_K: usize = 64;

/// A layer's weights on the GPU.
pub struct GpuLayer {
    /// The q, k and v projections stacked into as few matrices as their quant types allow
    /// (consecutive ones of one type share a matrix, rows in that order; see `qkv_groups`): their
    /// matvecs write q | k | v side by side, and one RoPE dispatch takes it from there.
    pub qkv: Vec<GpuMatrix>,
    pub wo: GpuMatrix,
    /// Mixture of experts: the router; `gate_up` and `down` then stack the experts.
    pub router: Option<GpuMatrix>,
    pub gate_up: GateUp,
    pub down: GpuMatrix,
    /// Offsets of the norm weights in the vectors buffer.
    pub attn_norm: u32,
    pub ffn_norm: u32,
    pub q_norm: Option<u32>,
    pub k_norm: Option<u32>,
    pub post_attn_norm: Option<u32>,
    pub post_ffn_norm: Option<u32>,
    /// Offsets of the q, k and v biases in the vectors buffer.
    pub bias: Option<[u32; 3]>,
    /// Offset of this layer's RoPE (cos, sin) table in the angles buffer, in pairs.
    pub angles_offset: u32,
}

/// A feed-forward's gate and up projections.
pub enum GateUp {
    /// Stacked (gate rows, then up rows): one matvec writes act(gate x) · (up x). Chosen where
    /// their types match, the stack fits one binding, and prefill runs through the matvec.
    Paired(GpuMatrix),
    Separate {
        gate: GpuMatrix,
        up: GpuMatrix,
    },
}

impl GateUp {
    fn matrices(&self) -> Vec<&GpuMatrix> {
        match self {
            GateUp::Paired(m) => vec![m],
            GateUp::Separate { gate, up } => vec![gate, up],
        }
    }
}

pub struct GpuWeights {
    pub token_embd: GpuMatrix,
    /// `None`: tied to the embedding.
    pub output: Option<GpuMatrix>,
    pub output_norm: u32,
    pub layers: Vec<GpuLayer>,
    pub vectors: wgpu::Buffer,
    /// RoPE (cos, sin) tables for every position of the context, one per distinct (base, scale).
    pub angles: wgpu::Buffer,
}

impl GpuWeights {
    pub fn output(&self) -> &GpuMatrix {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
    pub fn gpu_bytes(&self) -> u64 {
        let mut n = self.token_embd.gpu_bytes() + self.output.as_ref().map_or(0, |m| m.gpu_bytes());
        for l in &self.layers {
            n += l.qkv.iter().chain(l.gate_up.matrices()).chain([&l.wo, &l.down]).map(|m| m.gpu_bytes()).sum::<u64>();
            n += l.router.as_ref().map_or(0, |m| m.gpu_bytes());
        }
        n + self.vectors.size() + self.angles.size()
    }
}

/// Activations for up to MAX_BATCH tokens.
pub(crate) struct Scratch {
    x: wgpu::Buffer,
    h: wgpu::Buffer,
    o: wgpu::Buffer,
    q: wgpu::Buffer,
    /// The q, k and v projections' output, before RoPE (see `GpuLayer::qkv`).
    qkv: wgpu::Buffer,
    attn: wgpu::Buffer,
    g: wgpu::Buffer,
    u: wgpu::Buffer,
    a: wgpu::Buffer,
    ids: wgpu::Buffer,
    logits: wgpu::Buffer,
    attn_parts: wgpu::Buffer,
    /// Mixture of experts: router logits, the route (ids and weights), the experts' outputs.
    router_logits: wgpu::Buffer,
    route: wgpu::Buffer,
    experts_out: wgpu::Buffer,
}

pub struct GpuModel {
    pub k: Kernels,
    sampler: GpuSampler,
    /// Mappable, [`MAX_DECODE_K`] ids each: the sampled ids come back through them. Two, so that
    /// the next batch of decode steps can fill one while the host reads the other.
    id_staging: [wgpu::Buffer; 2],
    /// The batch of decode steps running ahead of the host, if any (see `forward_sample_many`).
    ahead: Option<run::Ahead>,
    /// Batches started ahead that the next call took over, and that were dropped.
    pub ahead_runs: [u64; 2],
    /// Wall milliseconds per decode step of the batches read so far (a moving average), and when
    /// the last read-back came (NaN after a batch was dropped, until the next read-back): when a
    /// batch's ids are due, for the browser's wait.
    step_ms: Option<f64>,
    last_read_ms: f64,
    pub cfg: ModelConfig,
    pub w: GpuWeights,
    kv: Vec<(wgpu::Buffer, wgpu::Buffer)>,
    s: Scratch,
    pub n_ctx: usize,
    /// Positions in the KV cache.
    pub pos: usize,
    /// Dispatches of the last recorded step.
    pub last_dispatches: u32,
    /// Queue submissions so far.
    pub submits: u64,
    /// Prefill batches run through the matvec (see `GpuContext::prefill_by_matvec`).
    pub prefill_by_matvec: bool,
    /// Tokens of a batch whose attention runs at once through the split kernel (the scratch's
    /// size), or 0 where batches use the tiled prefill kernel (see `prefill_by_splits`).
    attn_batch: u32,
    /// Kinds of step (see `pipelines_ready`) whose prepared pipelines are known to be compiled.
    ready_steps: std::cell::RefCell<Vec<StepKind>>,
    /// How each layer runs, decided at load.
    pub plan: ModelPlan,
}

/// What decides a step's pipelines: one token or a batch, logit rows (0, 1, more), and no, greedy
/// or drawn sampling.
type StepKind = (bool, usize, u8);

/// The pipelines a warm-up prepares: the browser loader asks for `Decode` as soon as the model's
/// buffers exist and for `Rest` once the weights are in; `Rest` compiles only after `Decode` is
/// done, so that the compilations the first token needs are not slowed down by the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmUp {
    /// A decode step with greedy sampling.
    Decode,
    /// A prefill batch and drawn sampling.
    Rest,
}

/// What the caller wants back from a forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    None,
    Last,
    All,
}

impl GpuModel {
    pub fn ctx(&self) -> &Rc<GpuContext> {
        &self.k.ctx
    }

    /// GPU memory allocated: weights, KV cache and scratch.
    pub fn gpu_bytes(&self) -> u64 {
        let kv: u64 = self.kv.iter().map(|(k, v)| k.size() + v.size()).sum();
        let s = &self.s;
        let scratch: u64 = [
            &s.x,
            &s.h,
            &s.o,
            &s.q,
            &s.qkv,
            &s.attn,
            &s.g,
            &s.u,
            &s.a,
            &s.ids,
            &s.logits,
            &s.attn_parts,
            &s.router_logits,
            &s.route,
            &s.experts_out,
        ]
        .iter()
        .map(|b| b.size())
        .sum();
        self.w.gpu_bytes() + kv + scratch
    }

    /// Bytes of weights a decode step reads: every layer matrix (of a mixture, the router and the
    /// chosen experts' share), the output matrix, the norm weights and one embedding row.
    pub fn bytes_per_token(&self) -> u64 {
        let w = &self.w;
        let (used, total) = self.cfg.moe.map_or((1, 1), |m| (m.n_used as u64, m.n_expert as u64));
        let layers: u64 = w
            .layers
            .iter()
            .map(|l| {
                let attn: u64 = l.qkv.iter().chain([&l.wo]).map(|m| m.gpu_bytes()).sum();
                let ffn: u64 = l.gate_up.matrices().into_iter().chain([&l.down]).map(|m| m.gpu_bytes()).sum();
                attn + ffn * used / total + l.router.as_ref().map_or(0, |m| m.gpu_bytes())
            })
            .sum();
        let emb_row = w.token_embd.gpu_bytes() / w.token_embd.rows.max(1) as u64;
        layers + w.output().gpu_bytes() + w.vectors.size() + emb_row
    }

    /// Forgets positions from `pos` on (the cache contents past it are simply overwritten later),
    /// and the decode steps running ahead, whose ids nobody will read.
    pub fn truncate(&mut self, pos: usize) {
        self.drop_ahead();
        self.pos = self.pos.min(pos);
    }
}
