//! The forward pass on the GPU for the shared transformer (`llama`, `gemma3`): weights streamed in
//! by the loader, a KV cache per layer, and activation scratch for a batch of tokens. A decode step
//! records every dispatch of every layer into one compute pass and submits once.

use super::buffers::storage;
use super::context::{GpuContext, Tuning};
use super::error::GpuError;
use super::kernels::attention::{
    attention_decode, attention_prefill, attention_split, decode_split, prefill_by_splits, AttnBuffers, AttnGeometry,
};
use super::kernels::elementwise::softcap;
use super::kernels::embed::embed;
use super::kernels::glu::glu;
use super::kernels::matmul::{matmul, MatMul, MatMulIo};
use super::kernels::matvec::{
    can_norm_x, matvec, matvec_experts, matvec_normed, matvec_paired, matvec_tokens, ExpertIo, GluIn, MatVec, XNorm,
};
use super::kernels::moe::{combine, route};
use super::kernels::norm::{rms_norm, rms_norm_add_then_norm, NormArgs};
use super::kernels::rope::{rope, rope_table, RopeArgs, RopeFreqs, RopeParams};
use super::kernels::sample::GpuSampler;
use super::loader::{Sink, WeightLoader};
use super::pipeline::{Bind, Kernels, Recorder};
use super::weights::{gpu_block_elems, GpuMatrix};
use crate::engine::SamplingParams;
use crate::gguf::{ByteSource, Gguf};
use crate::model::{LayerTensors, ModelConfig, ModelError, TensorSpec, WeightTable};
use std::collections::HashMap;
use std::rc::Rc;

/// Tokens per prefill batch (a multiple of the matmul's token tile).
pub const MAX_BATCH: usize = 32;

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
struct Scratch {
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
    /// 4 bytes, mappable: the sampled id comes back through it.
    id_staging: wgpu::Buffer,
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

fn gpu_err(e: impl ToString) -> ModelError {
    ModelError::Gpu(e.to_string())
}

impl GpuModel {
    /// The largest storage binding and buffer a model needs (for the device request).
    pub fn needs(cfg: &ModelConfig, g: &Gguf, n_ctx: usize) -> (u64, u64) {
        let table_bytes = g.tensors.iter().map(|t| t.n_bytes).max().unwrap_or(0);
        let kv = (n_ctx * cfg.kv_dim().max(cfg.v_dim()) * 4) as u64;
        let logits = (MAX_BATCH * cfg.n_vocab * 4) as u64;
        let biggest = table_bytes.max(kv).max(logits);
        (biggest, biggest)
    }

    /// A device for this model: the limits it needs where the adapter offers them, else WebGPU's
    /// defaults (large tensors are split into parts, so the model still fits).
    pub async fn context_for(cfg: &ModelConfig, g: &Gguf, n_ctx: usize, req: &super::DeviceRequest) -> Result<GpuContext, GpuError> {
        let (binding, buffer) = Self::needs(cfg, g, n_ctx);
        let mut want = req.clone();
        want.max_binding = want.max_binding.max(binding.min(1 << 30));
        want.max_buffer = want.max_buffer.max(buffer.min(1 << 30));
        match GpuContext::new(&want).await {
            Err(GpuError::AdapterTooSmall { .. }) => GpuContext::new(req).await,
            other => other,
        }
    }

    /// Allocates everything and registers the weights with a loader; the caller then feeds the
    /// file's bytes (`loader.ranges()`) and calls [`GpuModelPlan::finish`]. The model exists from
    /// here on (its buffers are filled later), so [`GpuModelPlan::warm_up`] can compile its
    /// pipelines while the weights stream in.
    pub fn plan(k: Kernels, g: &Gguf, n_ctx: usize) -> Result<(GpuModelPlan, WeightLoader), ModelError> {
        let cfg = ModelConfig::from_gguf(g)?;
        let table = WeightTable::resolve(&cfg, g)?;
        let ctx = k.ctx.clone();
        let max_binding = ctx.limits.max_storage_buffer_binding_size.min(ctx.limits.max_buffer_size);
        let mut loader = WeightLoader::new();
        let mut vec_offsets = HashMap::new();
        let mut mats = HashMap::new();
        let data = g.data_offset;
        let pair_ffn: Vec<bool> = table.layers.iter().map(|l| pairs_ffn(l, ctx.prefill_by_matvec(), max_binding)).collect();
        let stacks: Vec<Vec<&TensorSpec>> = table.layers.iter().zip(&pair_ffn).flat_map(|(l, &p)| layer_stacks(l, p)).collect();
        let stacked: std::collections::HashSet<&str> = stacks.iter().flatten().map(|t| t.name.as_str()).collect();
        for t in table.all() {
            let is_vector = t.dims.len() == 1 || t.n_rows() == 1;
            if stacked.contains(t.name.as_str()) {
                continue;
            } else if is_vector {
                let off = loader.add(t, data, Sink::Vector { offset: 0 });
                vec_offsets.insert(t.name.clone(), off);
            } else {
                let m = GpuMatrix::new(&ctx.device, &t.name, t.ty, t.dims[0] as usize, t.n_rows() as usize, max_binding)
                    .map_err(ModelError::Gpu)?;
                // The expert matvec picks experts inside one binding.
                if t.dims.len() == 3 && m.parts.len() > 1 {
                    return Err(ModelError::Gpu(format!(
                        "the experts tensor {} ({} bytes) exceeds this device's largest storage binding ({max_binding} bytes)",
                        t.name, t.n_bytes
                    )));
                }
                mats.insert(t.name.clone(), m.clone());
                loader.add(t, data, Sink::Matrix { m, row0: 0 });
            }
        }
        for group in &stacks {
            let rows = group.iter().map(|t| t.n_rows() as usize).sum();
            let name = stack_name(group);
            let m =
                GpuMatrix::new(&ctx.device, &name, group[0].ty, group[0].dims[0] as usize, rows, max_binding).map_err(ModelError::Gpu)?;
            let mut row0 = 0;
            for t in group {
                loader.add(t, data, Sink::Matrix { m: m.clone(), row0 });
                row0 += t.n_rows() as usize;
            }
            mats.insert(name, m);
        }
        drop(stacks);
        let vectors = storage(&ctx, "norm weights", loader.vector_len() as u64 * 4);
        let plan = GpuModelPlan::assemble(k, cfg, table, &pair_ffn, vec_offsets, mats, vectors, n_ctx)?;
        Ok((plan, loader))
    }

    /// Loads a model from a local source (natively: a file).
    pub fn load(
        k: Kernels,
        src: &dyn ByteSource,
        g: &Gguf,
        n_ctx: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<GpuModel, ModelError> {
        let (plan, mut loader) = Self::plan(k, g, n_ctx)?;
        plan.stream(&mut loader, src, progress)?;
        plan.finish(loader)
    }
}

/// A model whose buffers exist and whose weights are being streamed in.
pub struct GpuModelPlan {
    model: GpuModel,
    /// The RoPE tables to compute once the weights are in: their frequencies and offsets (in
    /// pairs) in the angles buffer.
    rope_tables: Vec<(LayerRope, u32)>,
    /// Offset of the RoPE frequency factors in the vectors buffer.
    rope_factors: Option<u32>,
}

/// A layer's RoPE frequencies (bit patterns, for comparison): base, scale, mscale.
type LayerRope = (u32, u32, u32);

impl GpuModelPlan {
    pub fn ctx(&self) -> Rc<GpuContext> {
        self.model.k.ctx.clone()
    }

    pub fn kernels(&self) -> &Kernels {
        &self.model.k
    }

    /// Feeds the loader every range it needs from a local source.
    pub fn stream(&self, loader: &mut WeightLoader, src: &dyn ByteSource, progress: &mut dyn FnMut(u64, u64)) -> Result<(), ModelError> {
        const CHUNK: u64 = 4 << 20;
        let mut buf = vec![0u8; CHUNK as usize];
        for (start, end) in loader.ranges() {
            let mut off = start;
            while off < end {
                let n = CHUNK.min(end - off) as usize;
                src.read_at(off, &mut buf[..n])?;
                loader.feed(&self.model.k.ctx, off, &buf[..n]).map_err(gpu_err)?;
                progress(loader.bytes_done, loader.bytes_total);
                off += n as u64;
            }
        }
        Ok(())
    }

    fn assemble(
        k: Kernels,
        cfg: ModelConfig,
        table: WeightTable,
        pair_ffn: &[bool],
        vec_offsets: HashMap<String, u32>,
        mut mats: HashMap<String, GpuMatrix>,
        vectors: wgpu::Buffer,
        n_ctx: usize,
    ) -> Result<GpuModelPlan, ModelError> {
        let ctx = k.ctx.clone();
        let mut take = |name: &str| mats.remove(name).ok_or_else(|| ModelError::MissingTensor { name: name.into() });
        let vo = |t: &crate::gguf::TensorInfo| vec_offsets[&t.name];
        // RoPE (cos, sin) tables: one per distinct (base, scale, mscale).
        let table_pairs = (n_ctx * (cfg.rope_dim / 2)) as u32;
        let mut rope_tables: Vec<(LayerRope, u32)> = Vec::new();
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for (il, lt) in table.layers.iter().enumerate() {
            let lc = cfg.layers[il];
            let key = (lc.rope_base.to_bits(), lc.rope_scale.to_bits(), lc.rope_mscale.to_bits());
            let angles_offset = match rope_tables.iter().find(|(k, _)| *k == key) {
                Some(&(_, o)) => o,
                None => {
                    let o = rope_tables.len() as u32 * table_pairs;
                    rope_tables.push((key, o));
                    o
                }
            };
            layers.push(GpuLayer {
                qkv: qkv_groups(lt).iter().map(|g| take(&stack_name(g))).collect::<Result<_, _>>()?,
                wo: take(&lt.wo.name)?,
                router: match &lt.router {
                    Some(t) => Some(take(&t.name)?),
                    None => None,
                },
                gate_up: if pair_ffn[il] {
                    GateUp::Paired(take(&stack_name(&[&lt.gate, &lt.up]))?)
                } else {
                    GateUp::Separate { gate: take(&lt.gate.name)?, up: take(&lt.up.name)? }
                },
                down: take(&lt.down.name)?,
                attn_norm: vo(&lt.attn_norm),
                ffn_norm: vo(&lt.ffn_norm),
                q_norm: lt.q_norm.as_ref().map(vo),
                k_norm: lt.k_norm.as_ref().map(vo),
                post_attn_norm: lt.post_attn_norm.as_ref().map(vo),
                post_ffn_norm: lt.post_ffn_norm.as_ref().map(vo),
                bias: match (&lt.bq, &lt.bk, &lt.bv) {
                    (Some(q), Some(k), Some(v)) => Some([vo(q), vo(k), vo(v)]),
                    _ => None,
                },
                angles_offset,
            });
        }
        let w = GpuWeights {
            token_embd: take(&table.token_embd.name)?,
            output: match &table.output {
                Some(t) => Some(take(&t.name)?),
                None => None,
            },
            output_norm: vo(&table.output_norm),
            layers,
            vectors,
            angles: storage(&ctx, "rope angles", rope_tables.len() as u64 * table_pairs as u64 * 8),
        };
        let rope_factors = table.rope_freqs.as_ref().map(vo);
        let kv = (0..cfg.n_layer)
            .map(|_| {
                (storage(&ctx, "k cache", (n_ctx * cfg.kv_dim() * 4) as u64), storage(&ctx, "v cache", (n_ctx * cfg.v_dim() * 4) as u64))
            })
            .collect();
        let b = MAX_BATCH as u64;
        let f = |n: usize| b * n as u64 * 4;
        let geom = attn_geometry(&cfg, 0, ctx.tuning);
        // Batches through the split kernel take its scratch once per token: as many tokens as
        // 64 MiB (or a binding) hold, at least one.
        let per_token = geom.scratch_floats(n_ctx as u32, 1) * 4;
        let budget = (64u64 << 20).min(ctx.limits.max_storage_buffer_binding_size.min(ctx.limits.max_buffer_size));
        let attn_batch = if prefill_by_splits() { (budget / per_token.max(1)).clamp(1, b) as u32 } else { 0 };
        // The FFN's scratch holds n_ff values per token, or k experts' worth with a mixture.
        let (ff_width, n_expert, k_used) = match cfg.moe {
            Some(m) => (cfg.n_ff.max(m.n_used * m.n_ff_exp), m.n_expert, m.n_used),
            None => (cfg.n_ff, 1, 1),
        };
        let s = Scratch {
            x: storage(&ctx, "x", f(cfg.n_embd)),
            h: storage(&ctx, "h", f(cfg.n_embd.max(cfg.q_dim()))),
            o: storage(&ctx, "o", f(cfg.n_embd)),
            q: storage(&ctx, "q", f(cfg.q_dim())),
            qkv: storage(&ctx, "qkv", f(cfg.q_dim() + cfg.kv_dim() + cfg.v_dim())),
            attn: storage(&ctx, "attn", f(cfg.n_head * cfg.head_dim_v)),
            g: storage(&ctx, "g", f(ff_width)),
            u: storage(&ctx, "u", f(ff_width)),
            a: storage(&ctx, "a", f(ff_width)),
            ids: storage(&ctx, "ids", b * 4),
            logits: storage(&ctx, "logits", f(cfg.n_vocab)),
            attn_parts: storage(&ctx, "attn parts", per_token * attn_batch.max(1) as u64),
            router_logits: storage(&ctx, "router logits", f(n_expert)),
            route: storage(&ctx, "route", f(2 * k_used)),
            experts_out: storage(&ctx, "experts out", if cfg.moe.is_some() { f(k_used * cfg.n_embd) } else { 4 }),
        };
        let sampler = GpuSampler::new(&k, cfg.n_vocab);
        let id_staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("sampled id"),
            size: 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.check().map_err(gpu_err)?;
        let prefill_by_matvec = ctx.prefill_by_matvec();
        let model = GpuModel {
            k,
            sampler,
            id_staging,
            cfg,
            w,
            kv,
            s,
            n_ctx,
            pos: 0,
            last_dispatches: 0,
            submits: 0,
            prefill_by_matvec,
            attn_batch,
            ready_steps: Default::default(),
        };
        Ok(GpuModelPlan { model, rope_tables, rope_factors })
    }

    /// Prepares the pipelines of `part` (see [`GpuModel::warm_up`]) while the weights stream in.
    pub fn warm_up(&self, part: WarmUp) -> Result<(), GpuError> {
        self.model.warm_up(part)
    }

    /// Checks that every weight arrived, fills the norm weights and RoPE tables, and hands over
    /// the model.
    pub fn finish(self, loader: WeightLoader) -> Result<GpuModel, ModelError> {
        let model = self.model;
        let ctx = model.k.ctx.clone();
        let vectors = loader.finish(&ctx).map_err(gpu_err)?;
        let cfg = &model.cfg;
        ctx.queue.write_buffer(&model.w.vectors, 0, bytemuck::cast_slice(&vectors));
        let factors = self.rope_factors.map(|o| &vectors[o as usize..o as usize + cfg.rope_dim / 2]);
        for &((base, scale, mscale), offset) in &self.rope_tables {
            let (base, scale, mscale) = (f32::from_bits(base), f32::from_bits(scale), f32::from_bits(mscale));
            let freqs = RopeFreqs { n_rot: cfg.rope_dim, base, scale, mscale, factors };
            let angles = rope_table(model.n_ctx, &freqs);
            ctx.queue.write_buffer(&model.w.angles, offset as u64 * 8, bytemuck::cast_slice(&angles));
        }
        ctx.check().map_err(gpu_err)?;
        Ok(model)
    }
}

/// How a layer's q, k and v projections are stacked on the GPU: runs of consecutive ones with one
/// quant type and row length. A tensor is followed by another only if it ends on a pair of blocks
/// (the unit of the GPU layout's side plane, see weights.rs), which every real model's does.
fn qkv_groups(l: &LayerTensors) -> Vec<Vec<&TensorSpec>> {
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
fn pairs_ffn(l: &LayerTensors, prefill_by_matvec: bool, max_binding: u64) -> bool {
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
fn layer_stacks(l: &LayerTensors, pair_ffn: bool) -> Vec<Vec<&TensorSpec>> {
    let mut v = qkv_groups(l);
    if pair_ffn {
        v.push(vec![&l.gate, &l.up]);
    }
    v
}

fn whole_pairs(t: &TensorSpec) -> bool {
    t.n_rows() * (t.dims[0] / gpu_block_elems(t.ty) as u64) % 2 == 0
}

/// The name of a stacked matrix (the name of its one tensor if it holds only one).
fn stack_name(group: &[&TensorSpec]) -> String {
    group.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join("+")
}

fn attn_geometry(cfg: &ModelConfig, il: usize, tuning: Tuning) -> AttnGeometry {
    AttnGeometry {
        n_head: cfg.n_head as u32,
        n_head_kv: cfg.n_head_kv as u32,
        head_dim: cfg.head_dim as u32,
        scale: cfg.attn_scale,
        softcap: cfg.attn_softcap,
        window: cfg.layers.get(il).and_then(|l| l.sliding_window).map(|w| w as u32),
        split: decode_split(tuning),
    }
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

    /// Runs `tokens` at the next positions. Returns the logits asked for (`n_vocab` per row).
    pub async fn forward(&mut self, tokens: &[u32], want: Logits) -> Result<Vec<f32>, GpuError> {
        let mut out = Vec::new();
        for (ci, chunk) in tokens.chunks(MAX_BATCH).enumerate() {
            let last_chunk = (ci + 1) * MAX_BATCH >= tokens.len();
            let rows = match want {
                Logits::All => chunk.len(),
                Logits::Last if last_chunk => 1,
                _ => 0,
            };
            self.pipelines_ready(chunk.len(), rows, None).await?;
            self.k.ctx.queue.write_buffer(&self.s.ids, 0, bytemuck::cast_slice(chunk));
            let mut rec = self.k.recorder();
            self.record(&mut rec, chunk.len(), rows).map_err(|e| GpuError::Validation(e.to_string()))?;
            self.last_dispatches = rec.dispatches;
            rec.submit();
            self.submits += 1;
            self.pos += chunk.len();
            if rows > 0 {
                let n = rows * self.cfg.n_vocab;
                out.extend(super::buffers::read_f32(&self.k.ctx, &self.s.logits, 0, n).await?);
            }
        }
        self.k.ctx.check()?;
        Ok(out)
    }

    /// Runs `tokens` and samples the next token on the GPU: only its id (4 bytes) is read back.
    /// `step` is the draw number (tokens generated so far), `history` the ids for the penalty.
    pub async fn forward_sample(&mut self, tokens: &[u32], params: &SamplingParams, step: u64, history: &[u32]) -> Result<u32, GpuError> {
        let n = tokens.len();
        let (head, last) = tokens.split_at(n - (n - 1) % MAX_BATCH - 1);
        if !head.is_empty() {
            self.forward(head, Logits::None).await?;
        }
        self.pipelines_ready(last.len(), 1, Some(params)).await?;
        self.k.ctx.queue.write_buffer(&self.s.ids, 0, bytemuck::cast_slice(last));
        let mut rec = self.k.recorder();
        self.record_sampled(&mut rec, last.len(), params, step, history)?;
        self.last_dispatches = rec.dispatches;
        rec.submit();
        self.submits += 1;
        self.pos += last.len();
        let bytes = self.k.ctx.map_read(&self.id_staging).await?;
        Ok(u32::from_le_bytes(bytes[..4].try_into().unwrap()))
    }

    /// Records the forward pass of `t` tokens, the sampling of the next one and the copy of its id
    /// into the read-back buffer.
    fn record_sampled(&self, rec: &mut Recorder, t: usize, params: &SamplingParams, step: u64, history: &[u32]) -> Result<(), GpuError> {
        let err = |e: super::shader::ShaderError| GpuError::Validation(e.to_string());
        self.record(rec, t, 1).map_err(err)?;
        self.sampler.record(rec, &Bind::whole(&self.s.logits), 0, params, step, history).map_err(err)?;
        rec.copy(self.sampler.out(), 0, &self.id_staging, 0, 4);
        Ok(())
    }

    /// Host time in milliseconds to record one greedy decode step (the command encoding that the
    /// CPU does for every token, before the GPU starts): the mean of `reps` recordings, none
    /// submitted. On a fast GPU this, not the weights' bandwidth, can bound decode speed.
    pub fn record_ms(&self, reps: usize) -> Result<f64, GpuError> {
        let greedy = SamplingParams::greedy();
        let t0 = crate::engine::clock::now_ms();
        for _ in 0..reps {
            let mut rec = self.k.recorder();
            self.record_sampled(&mut rec, 1, &greedy, 0, &[])?;
            drop(rec.finish());
        }
        Ok((crate::engine::clock::now_ms() - t0) / reps.max(1) as f64)
    }

    /// Prepares the pipelines of `part` (see [`Kernels::prepare`]): a browser compiles them in the
    /// background (one at a time, in order), instead of on first use. Natively this creates them.
    pub fn warm_up(&self, part: WarmUp) -> Result<(), GpuError> {
        let err = |e: super::shader::ShaderError| GpuError::Validation(e.to_string());
        let mut rec = self.k.dry_recorder();
        let logits = Bind::whole(&self.s.logits);
        match part {
            WarmUp::Decode => {
                self.record(&mut rec, 1, 1).map_err(err)?;
                self.sampler.record(&mut rec, &logits, 0, &SamplingParams::greedy(), 0, &[]).map_err(err)?;
            }
            WarmUp::Rest => {
                self.k.defer_prepared();
                self.record(&mut rec, 2, 1).map_err(err)?;
                // Past one split of keys, attention runs its multi-split kernel and the reduction.
                let split = decode_split(self.k.ctx.tuning) as usize;
                if self.n_ctx > split {
                    self.record_at(&mut rec, 1, 1, split).map_err(err)?;
                }
                let drawn = SamplingParams { temperature: 1.0, ..SamplingParams::default() };
                self.sampler.record(&mut rec, &logits, 0, &drawn, 0, &[]).map_err(err)?;
            }
        }
        self.k.ctx.check()
    }

    /// Waits until the pipelines of a step of `t` tokens (and its sampling) are compiled, where
    /// the warm-up left some compiling (see `GpuModelPlan::warm_up`).
    async fn pipelines_ready(&self, t: usize, logit_rows: usize, sampling: Option<&SamplingParams>) -> Result<(), GpuError> {
        // Checked once per kind of step, not per token: pipelines never used stay pending.
        let kind = (t == 1, logit_rows.min(2), sampling.map_or(0, |p| if p.is_greedy() { 1 } else { 2 }));
        if !self.k.has_pending() || self.ready_steps.borrow().contains(&kind) {
            return Ok(());
        }
        let err = |e: super::shader::ShaderError| GpuError::Validation(e.to_string());
        let mut dry = self.k.dry_recorder();
        self.record(&mut dry, t, logit_rows).map_err(err)?;
        if let Some(p) = sampling {
            self.sampler.record(&mut dry, &Bind::whole(&self.s.logits), 0, p, 0, &[]).map_err(err)?;
        }
        self.k.ready(&dry.names).await;
        self.ready_steps.borrow_mut().push(kind);
        Ok(())
    }

    /// Records the forward pass of `t` tokens (ids already in the ids buffer) at `self.pos`, and the
    /// logits of the last `logit_rows` of them into the logits buffer.
    pub fn record(&self, rec: &mut Recorder, t: usize, logit_rows: usize) -> Result<(), super::shader::ShaderError> {
        self.record_at(rec, t, logit_rows, self.pos)
    }

    /// [`Self::record`] at position `pos`.
    fn record_at(&self, rec: &mut Recorder, t: usize, logit_rows: usize, pos: usize) -> Result<(), super::shader::ShaderError> {
        let cfg = &self.cfg;
        let s = &self.s;
        let e = cfg.n_embd as u32;
        let (x, h, o, q, attn) = (Bind::whole(&s.x), Bind::whole(&s.h), Bind::whole(&s.o), Bind::whole(&s.q), Bind::whole(&s.attn));
        let qkv = Bind::whole(&s.qkv);
        let (g, u, a) = (Bind::whole(&s.g), Bind::whole(&s.u), Bind::whole(&s.a));
        let vecs = Bind::whole(&self.w.vectors);
        let angles = Bind::whole(&self.w.angles);
        let pos0 = pos as u32;
        let tt = t as u32;
        let kv_dim = cfg.kv_dim() as u32;
        let eps = cfg.rms_eps;
        // Every matvec of the model runs the gated variant (see `MatVec::with_gate`).
        let tuning = self.k.ctx.tuning;
        let mv = |ty, rows| MatVec::tuned(ty, rows, tuning).with_gate(cfg.activation);
        embed(rec, &self.w.token_embd, &Bind::whole(&s.ids), 0, tt, &x, 0, cfg.embed_scale.unwrap_or(1.0))?;

        // y[tokens] = W · src[tokens]: the matvec (a workgroup layer per token), or the tiled matmul.
        let proj =
            |rec: &mut Recorder, w: &GpuMatrix, src: &Bind, src_stride: u32, dst: &Bind, dst_off: u32, dst_stride: u32, acc: bool| {
                if t == 1 {
                    matvec(rec, mv(w.ty, w.rows), w, src, 0, dst, dst_off, acc)
                } else if self.prefill_by_matvec {
                    let io = MatMulIo { x: src, x_offset: 0, x_stride: src_stride, y: dst, y_offset: dst_off, y_stride: dst_stride };
                    matvec_tokens(rec, mv(w.ty, w.rows), w, io, None, tt, acc)
                } else {
                    let io = MatMulIo { x: src, x_offset: 0, x_stride: src_stride, y: dst, y_offset: dst_off, y_stride: dst_stride };
                    matmul(rec, MatMul::for_type(w.ty), w, io, tt, acc)
                }
            };
        let norm = |rec: &mut Recorder, src: &Bind, w_off: u32, dst: &Bind, add: bool| {
            rms_norm(rec, NormArgs { x: src, x_offset: 0, w: &vecs, w_offset: w_off, y: dst, y_offset: 0 }, e, tt, eps, add)
        };
        let (qd, vd, ff) = (cfg.q_dim() as u32, cfg.v_dim() as u32, cfg.n_ff as u32);
        // A post-norm into the residual and the next block's pre-norm (of the updated residual)
        // share one dispatch; `next` is that pre-norm's weight offset (None: the last layer's
        // output norm runs on its own, on the logit rows only).
        let post_norm = |rec: &mut Recorder, pn: u32, next: Option<u32>| match next {
            Some(w2) => {
                let args = NormArgs { x: &o, x_offset: 0, w: &vecs, w_offset: pn, y: &x, y_offset: 0 };
                rms_norm_add_then_norm(rec, args, &h, 0, w2, e, tt, eps)
            }
            None => norm(rec, &o, pn, &x, true),
        };
        let n_layers = self.w.layers.len();
        // On GPUs a pre-norm is done by the matvecs that read its output, as they read x (see
        // matvec.wgsl, NORM_X), where they can: not after the tiled matmul's prefill.
        let fuses = |m: &GpuMatrix| self.prefill_by_matvec && can_norm_x(mv(m.ty, m.rows));
        let x_normed = |w_offset: u32| XNorm { w: &vecs, offset: w_offset, eps };
        let mut pre_normed = false;
        for (il, l) in self.w.layers.iter().enumerate() {
            let (kc, vc) = (Bind::whole(&self.kv[il].0), Bind::whole(&self.kv[il].1));
            // The attention's pre-norm: done (Gemma's post-norm dispatch did it), fused, or its own.
            let qkv_norm = (!pre_normed && l.qkv.iter().all(fuses)).then(|| x_normed(l.attn_norm));
            if !pre_normed && qkv_norm.is_none() {
                norm(rec, &x, l.attn_norm, &h, false)?;
            }
            let next_attn_norm = (il + 1 < n_layers).then(|| self.w.layers[il + 1].attn_norm);
            let mut rp = RopeParams {
                n_head: cfg.n_head as u32,
                n_kv: cfg.n_head_kv as u32,
                head_dim: cfg.head_dim as u32,
                head_dim_v: cfg.head_dim_v as u32,
                n_rot: cfg.rope_dim as u32,
                q_stride: qd,
                k_offset: pos0 * kv_dim,
                k_stride: kv_dim,
                v_offset: pos0 * vd,
                v_stride: vd,
                pos0,
                angles_offset: l.angles_offset,
                norm: l.q_norm.is_some() as u32,
                eps,
                q_norm_offset: l.q_norm.unwrap_or(0),
                k_norm_offset: l.k_norm.unwrap_or(0),
                ..Default::default()
            };
            rp.src_stride = rp.qkv_width();
            if let Some([bq, bk, bv]) = l.bias {
                (rp.bias, rp.q_bias, rp.k_bias, rp.v_bias) = (1, bq, bk, bv);
            }
            let mut row = 0;
            for m in &l.qkv {
                match qkv_norm {
                    Some(n) => {
                        let io = MatMulIo { x: &x, x_offset: 0, x_stride: e, y: &qkv, y_offset: row, y_stride: rp.src_stride };
                        matvec_normed(rec, mv(m.ty, m.rows), m, io, n, None, tt)?
                    }
                    None => proj(rec, m, &h, e, &qkv, row, rp.src_stride, false)?,
                }
                row += m.rows as u32;
            }
            let args = RopeArgs { angles: &angles, vectors: &vecs, src: &qkv, q: &q, k: &kc, v: &vc };
            rope(rec, cfg.rope_neox, args, &rp, tt)?;
            let geom = attn_geometry(cfg, il, tuning);
            let bufs = || AttnBuffers { q: &q, k: &kc, v: &vc, out: &attn };
            let parts = Bind::whole(&s.attn_parts);
            if t == 1 {
                attention_decode(rec, &geom, bufs(), 0, pos0, 0, &parts)?;
            } else if self.attn_batch > 0 {
                let row = geom.n_head * geom.head_dim;
                for c0 in (0..tt).step_by(self.attn_batch as usize) {
                    let n = self.attn_batch.min(tt - c0);
                    attention_split(rec, &geom, bufs(), c0 * row, pos0 + c0, n, c0 * row, &parts)?;
                }
            } else {
                attention_prefill(rec, &geom, bufs(), 0, pos0, tt, 0)?;
            }
            // The feed-forward's pre-norm, fused into a paired gate|up where there is one.
            let ffn_norm = match &l.gate_up {
                GateUp::Paired(m) if l.post_attn_norm.is_none() && l.router.is_none() && fuses(m) => Some(x_normed(l.ffn_norm)),
                _ => None,
            };
            match l.post_attn_norm {
                Some(pn) => {
                    proj(rec, &l.wo, &attn, qd, &o, 0, e, false)?;
                    post_norm(rec, pn, Some(l.ffn_norm))?;
                }
                None => {
                    proj(rec, &l.wo, &attn, qd, &x, 0, e, true)?;
                    if ffn_norm.is_none() {
                        norm(rec, &x, l.ffn_norm, &h, false)?;
                    }
                }
            }
            pre_normed = l.post_ffn_norm.is_some() && next_attn_norm.is_some();
            if let (Some(router), Some(m)) = (&l.router, cfg.moe) {
                // The router picks k experts per token on the GPU; the expert matvecs read only
                // those experts' rows; their outputs are summed by weight onto the residual.
                let (ne, k, fe) = (m.n_expert as u32, m.n_used as u32, m.n_ff_exp as u32);
                let (rl, rt, d) = (Bind::whole(&s.router_logits), Bind::whole(&s.route), Bind::whole(&s.experts_out));
                proj(rec, router, &h, e, &rl, 0, ne, false)?;
                route(rec, m.norm_weights, &rl, 0, &rt, tt, ne, k)?;
                // The up projection applies the activation of the gate's output as it writes.
                let gate_in = GluIn { act: cfg.activation, g: &g, g_offset: 0 };
                let GateUp::Separate { gate, up } = &l.gate_up else { unreachable!("experts are never paired") };
                for (w, y, glu) in [(gate, &g, None), (up, &a, Some(gate_in))] {
                    let eio =
                        ExpertIo { x: &h, x_offset: 0, x_stride_token: e, x_stride_slot: 0, y, y_offset: 0, y_stride: fe, route: &rt, glu };
                    matvec_experts(rec, mv(w.ty, fe as usize), w, eio, fe, tt, k)?;
                }
                let eio = ExpertIo {
                    x: &a,
                    x_offset: 0,
                    x_stride_token: k * fe,
                    x_stride_slot: fe,
                    y: &d,
                    y_offset: 0,
                    y_stride: e,
                    route: &rt,
                    glu: None,
                };
                matvec_experts(rec, mv(l.down.ty, e as usize), &l.down, eio, e, tt, k)?;
                match l.post_ffn_norm {
                    Some(pn) => {
                        combine(rec, &rt, &d, &o, 0, tt, e, k, false)?;
                        post_norm(rec, pn, next_attn_norm)?;
                    }
                    None => combine(rec, &rt, &d, &x, 0, tt, e, k, true)?,
                }
                continue;
            }
            let io = MatMulIo { x: &h, x_offset: 0, x_stride: e, y: &a, y_offset: 0, y_stride: ff };
            match &l.gate_up {
                GateUp::Paired(m) => match ffn_norm {
                    Some(n) => {
                        let io = MatMulIo { x: &x, ..io };
                        matvec_normed(rec, mv(m.ty, m.rows / 2), m, io, n, Some(cfg.activation), tt)?
                    }
                    None => matvec_paired(rec, mv(m.ty, m.rows / 2), m, io, cfg.activation, tt)?,
                },
                GateUp::Separate { gate, up } => {
                    proj(rec, gate, &h, e, &g, 0, ff, false)?;
                    if t == 1 || self.prefill_by_matvec {
                        // The up projection applies the activation of the gate's output as it writes.
                        let gate_in = GluIn { act: cfg.activation, g: &g, g_offset: 0 };
                        matvec_tokens(rec, mv(up.ty, up.rows), up, io, Some(gate_in), tt, false)?;
                    } else {
                        proj(rec, up, &h, e, &u, 0, ff, false)?;
                        glu(rec, cfg.activation, (&g, 0), (&u, 0), (&a, 0), tt * ff)?;
                    }
                }
            }
            match l.post_ffn_norm {
                Some(pn) => {
                    proj(rec, &l.down, &a, ff, &o, 0, e, false)?;
                    post_norm(rec, pn, next_attn_norm)?;
                }
                None => proj(rec, &l.down, &a, ff, &x, 0, e, true)?,
            }
        }
        if logit_rows > 0 {
            let first = (t - logit_rows) as u32;
            let lr = logit_rows as u32;
            let out = self.w.output();
            let logits = Bind::whole(&s.logits);
            let nv = cfg.n_vocab as u32;
            if fuses(out) {
                let io = MatMulIo { x: &x, x_offset: first * e, x_stride: e, y: &logits, y_offset: 0, y_stride: nv };
                matvec_normed(rec, mv(out.ty, out.rows), out, io, x_normed(self.w.output_norm), None, lr)?;
            } else {
                rms_norm(
                    rec,
                    NormArgs { x: &x, x_offset: first * e, w: &vecs, w_offset: self.w.output_norm, y: &h, y_offset: 0 },
                    e,
                    lr,
                    eps,
                    false,
                )?;
                let io = MatMulIo { x: &h, x_offset: 0, x_stride: e, y: &logits, y_offset: 0, y_stride: nv };
                if logit_rows == 1 {
                    matvec(rec, mv(out.ty, out.rows), out, &h, 0, &logits, 0, false)?;
                } else if self.prefill_by_matvec {
                    matvec_tokens(rec, mv(out.ty, out.rows), out, io, None, lr, false)?;
                } else {
                    matmul(rec, MatMul::for_type(out.ty), out, io, lr, false)?;
                }
            }
            if let Some(cap) = cfg.final_softcap {
                softcap(rec, &logits, lr * nv, cap)?;
            }
        }
        Ok(())
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

    /// Forgets positions from `pos` on (the cache contents past it are simply overwritten later).
    pub fn truncate(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }
}
