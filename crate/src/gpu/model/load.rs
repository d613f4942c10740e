//! Loading: the device a model needs, its buffers, and the weights streamed in (from a file
//! natively, from `fetch` in the browser) while its pipelines compile.

use super::plan::{attn_geometry, layer_stacks, pairs_ffn, qkv_groups, stack_name, ModelPlan};
use super::{GateUp, GpuLayer, GpuModel, GpuWeights, Scratch, WarmUp, MAX_BATCH};
use crate::gguf::{ByteSource, Gguf};
use crate::gpu::buffers::storage;
use crate::gpu::context::GpuContext;
use crate::gpu::error::GpuError;
use crate::gpu::kernels::attention::prefill_by_splits;
use crate::gpu::kernels::rope::{rope_table, RopeFreqs};
use crate::gpu::kernels::sample::GpuSampler;
use crate::gpu::loader::{Sink, WeightLoader};
use crate::gpu::pipeline::Kernels;
use crate::gpu::weights::GpuMatrix;
use crate::gpu::DeviceRequest;
use crate::model::{ModelConfig, ModelError, TensorSpec, WeightTable};
use std::collections::HashMap;
use std::rc::Rc;

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
    pub async fn context_for(cfg: &ModelConfig, g: &Gguf, n_ctx: usize, req: &DeviceRequest) -> Result<GpuContext, GpuError> {
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
    /// file's bytes (`loader.ranges()`) and calls [`LoadingModel::finish`]. The model exists from
    /// here on (its buffers are filled later), so [`LoadingModel::warm_up`] can compile its
    /// pipelines while the weights stream in.
    pub fn start_load(k: Kernels, g: &Gguf, n_ctx: usize) -> Result<(LoadingModel, WeightLoader), ModelError> {
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
                let m = GpuMatrix::new(&ctx.device, &t.name, t.ty, t.dims[0] as usize, t.n_rows() as usize, max_binding)?;
                // The expert matvec picks experts inside one binding.
                if t.dims.len() == 3 && m.parts.len() > 1 {
                    let what = format!("the experts tensor {}", t.name);
                    let adapter = ctx.describe();
                    return Err(GpuError::AdapterTooSmall { adapter, what, needed: t.n_bytes, available: max_binding }.into());
                }
                mats.insert(t.name.clone(), m.clone());
                loader.add(t, data, Sink::Matrix { m, row0: 0 });
            }
        }
        for group in &stacks {
            let rows = group.iter().map(|t| t.n_rows() as usize).sum();
            let name = stack_name(group);
            let m = GpuMatrix::new(&ctx.device, &name, group[0].ty, group[0].dims[0] as usize, rows, max_binding)?;
            let mut row0 = 0;
            for t in group {
                loader.add(t, data, Sink::Matrix { m: m.clone(), row0 });
                row0 += t.n_rows() as usize;
            }
            mats.insert(name, m);
        }
        drop(stacks);
        let vectors = storage(&ctx, "norm weights", loader.vector_len() as u64 * 4);
        let loading = LoadingModel::assemble(k, cfg, table, &pair_ffn, vec_offsets, mats, vectors, n_ctx)?;
        Ok((loading, loader))
    }

    /// Loads a model from a local source (natively: a file).
    pub fn load(
        k: Kernels,
        src: &dyn ByteSource,
        g: &Gguf,
        n_ctx: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<GpuModel, ModelError> {
        let (loading, mut loader) = Self::start_load(k, g, n_ctx)?;
        loading.stream(&mut loader, src, progress)?;
        loading.finish(loader)
    }
}

/// A model whose buffers exist and whose weights are being streamed in.
pub struct LoadingModel {
    model: GpuModel,
    /// The RoPE tables to compute once the weights are in: their frequencies and offsets (in
    /// pairs) in the angles buffer.
    rope_tables: Vec<RopeTable>,
    /// Offset of the RoPE frequency factors in the vectors buffer.
    rope_factors: Option<u32>,
}

/// A layer's RoPE frequencies (bit patterns, for comparison): base, scale, mscale.
type LayerRope = (u32, u32, u32);

/// A RoPE table's frequencies and its offset (in pairs) in the angles buffer.
type RopeTable = (LayerRope, u32);

impl LoadingModel {
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
                loader.feed(&self.model.k.ctx, off, &buf[..n])?;
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
    ) -> Result<LoadingModel, ModelError> {
        let ctx = k.ctx.clone();
        let mut take = |name: &str| mats.remove(name).ok_or_else(|| ModelError::MissingTensor { name: name.into() });
        let vo = |t: &crate::gguf::TensorInfo| vec_offsets[&t.name];
        let table_pairs = (n_ctx * (cfg.rope_dim / 2)) as u32;
        let (layers, rope_tables) = gpu_layers(&cfg, &table, pair_ffn, &mut take, &vo, table_pairs)?;
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
        let (s, attn_batch) = Scratch::new(&ctx, &cfg, n_ctx);
        let sampler = GpuSampler::new(&k, cfg.n_vocab);
        let id_staging = [0, 1].map(|_| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("sampled ids"),
                size: 4 * super::MAX_DECODE_K as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        ctx.check()?;
        let prefill_by_matvec = ctx.prefill_by_matvec();
        let plan = ModelPlan::new(&cfg, &w.layers, w.output(), &ctx, prefill_by_matvec);
        let model = GpuModel {
            k,
            sampler,
            id_staging,
            ahead: None,
            ahead_runs: [0, 0],
            step_ms: None,
            last_read_ms: 0.0,
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
            plan,
        };
        Ok(LoadingModel { model, rope_tables, rope_factors })
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
        let vectors = loader.finish(&ctx)?;
        let cfg = &model.cfg;
        ctx.queue.write_buffer(&model.w.vectors, 0, bytemuck::cast_slice(&vectors));
        let factors = self.rope_factors.map(|o| &vectors[o as usize..o as usize + cfg.rope_dim / 2]);
        for &((base, scale, mscale), offset) in &self.rope_tables {
            let (base, scale, mscale) = (f32::from_bits(base), f32::from_bits(scale), f32::from_bits(mscale));
            let freqs = RopeFreqs { n_rot: cfg.rope_dim, base, scale, mscale, factors };
            let angles = rope_table(model.n_ctx, &freqs);
            ctx.queue.write_buffer(&model.w.angles, offset as u64 * 8, bytemuck::cast_slice(&angles));
        }
        ctx.check()?;
        Ok(model)
    }
}

/// Each layer's matrices (taken from `take` by name), norm offsets and RoPE table, and the
/// distinct RoPE tables: one per (base, scale, mscale), `table_pairs` (cos, sin) pairs each.
fn gpu_layers(
    cfg: &ModelConfig,
    table: &WeightTable,
    pair_ffn: &[bool],
    take: &mut dyn FnMut(&str) -> Result<GpuMatrix, ModelError>,
    vo: &dyn Fn(&crate::gguf::TensorInfo) -> u32,
    table_pairs: u32,
) -> Result<(Vec<GpuLayer>, Vec<RopeTable>), ModelError> {
    // RoPE (cos, sin) tables: one per distinct (base, scale, mscale).
    let mut rope_tables: Vec<RopeTable> = Vec::new();
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
    Ok((layers, rope_tables))
}

impl Scratch {
    /// Activations for `MAX_BATCH` tokens, and how many tokens' attention runs at once through
    /// the split kernel (0: batches use the tiled prefill kernel).
    fn new(ctx: &GpuContext, cfg: &ModelConfig, n_ctx: usize) -> (Scratch, u32) {
        let b = MAX_BATCH as u64;
        let f = |n: usize| b * n as u64 * 4;
        let geom = attn_geometry(cfg, 0, ctx);
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
            x: storage(ctx, "x", f(cfg.n_embd)),
            h: storage(ctx, "h", f(cfg.n_embd.max(cfg.q_dim()))),
            o: storage(ctx, "o", f(cfg.n_embd)),
            q: storage(ctx, "q", f(cfg.q_dim())),
            qkv: storage(ctx, "qkv", f(cfg.q_dim() + cfg.kv_dim() + cfg.v_dim())),
            attn: storage(ctx, "attn", f(cfg.n_head * cfg.head_dim_v)),
            g: storage(ctx, "g", f(ff_width)),
            u: storage(ctx, "u", f(ff_width)),
            a: storage(ctx, "a", f(ff_width)),
            ids: storage(ctx, "ids", b * 4),
            logits: storage(ctx, "logits", f(cfg.n_vocab)),
            attn_parts: storage(ctx, "attn parts", per_token * attn_batch.max(1) as u64),
            router_logits: storage(ctx, "router logits", f(n_expert)),
            route: storage(ctx, "route", f(2 * k_used)),
            experts_out: storage(ctx, "experts out", if cfg.moe.is_some() { f(k_used * cfg.n_embd) } else { 4 }),
        };
        (s, attn_batch)
    }
}
