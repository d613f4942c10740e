//! Loading the fast engine's weights: by streaming (the browser hands over the file's bytes as
//! they arrive, in file order, in chunks of any size) or from a byte source natively, through the
//! same path. Each matrix's bytes are copied once, straight into its final storage; vectors are
//! gathered and decoded to f32 when whole. Memory is known before any byte arrives
//! ([`FastModel::memory_needed`]).

use super::forward::FastModel;
use super::matmul::QMatrix;
use super::weights::{specs, Weights};
use crate::gguf::{ByteSource, Gguf, TensorInfo};
use crate::gpu::LoadError;
use crate::model::{ModelConfig, ModelError, WeightTable};
use crate::quant::dequantize;

enum Dest {
    Matrix(usize),
    Vector(usize),
}

struct Target {
    info: TensorInfo,
    start: u64,
    got: u64,
    dest: Dest,
    /// A vector's bytes until it is whole.
    pending: Vec<u8>,
}

/// A model whose weights are on their way in (see [`FastModel::start_load`]).
pub struct FastLoading {
    cfg: ModelConfig,
    n_ctx: usize,
    ids: Weights<usize, usize>,
    mats: Vec<Option<QMatrix>>,
    vecs: Vec<Vec<f32>>,
    /// Sorted by file offset.
    targets: Vec<Target>,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Bytes of the KV cache at `n_ctx` positions (f32 keys and values).
pub fn cache_bytes(cfg: &ModelConfig, n_ctx: usize) -> u64 {
    (cfg.n_layer * n_ctx * (cfg.kv_dim() + cfg.v_dim()) * 4) as u64
}

/// Positions a forward pass takes at once: bounds the scratch memory whatever the prompt's length.
pub const BATCH: usize = 64;

/// Bytes of the scratch buffers of one batch (activations, their q8 copies, attention scores,
/// one row of logits), with a margin for the allocator.
pub fn scratch_bytes(cfg: &ModelConfig, n_ctx: usize) -> u64 {
    let ff = cfg.moe.map_or(cfg.n_ff, |m| m.n_ff_exp.max(m.n_expert));
    let per_token = 3 * cfg.n_embd + cfg.q_dim() + cfg.kv_dim() + cfg.v_dim() + cfg.n_head * cfg.head_dim_v + 3 * ff;
    let floats = BATCH * per_token + 2 * cfg.n_vocab + cfg.n_head * BATCH * n_ctx.min(4 * BATCH);
    // Per value: the quant and its interleaved copy (2 bytes), the f32 scales and sums (1 byte).
    let q8 = BATCH * cfg.n_embd.max(ff) * 3;
    (floats * 4 + q8) as u64 + (1 << 20)
}

impl FastModel {
    /// Bytes of memory the model needs at `n_ctx` positions: its weights as stored (vectors as
    /// f32), the whole KV cache and the scratch. The browser refuses a model over wasm32's 4 GiB
    /// before downloading it.
    pub fn memory_needed(cfg: &ModelConfig, g: &Gguf, n_ctx: usize) -> Result<u64, ModelError> {
        let w = specs(&WeightTable::resolve(cfg, g)?);
        let (mut mat_bytes, mut vec_bytes) = (0u64, 0u64);
        w.map(|m| mat_bytes += m.n_bytes, |v| vec_bytes += 4 * v.n_elements);
        Ok(mat_bytes + vec_bytes + cache_bytes(cfg, n_ctx) + scratch_bytes(cfg, n_ctx))
    }

    /// Allocates every tensor of the model and returns the loader that the file's bytes are fed
    /// to. Fails, before any byte, on an unsupported architecture, tensor or type.
    pub fn start_load(cfg: &ModelConfig, g: &Gguf, n_ctx: usize) -> Result<FastLoading, ModelError> {
        let table = WeightTable::resolve(cfg, g)?;
        let (mut mats, mut vecs) = (Vec::new(), Vec::new());
        let targets = std::cell::RefCell::new(Vec::new());
        let target = |info: TensorInfo, dest: Dest| {
            targets.borrow_mut().push(Target { start: g.data_offset + info.offset, info, got: 0, dest, pending: Vec::new() });
        };
        let ids = specs(&table).map(
            |m| {
                let id = mats.len();
                let cols = m.dims[0] as usize;
                let rows = m.n_rows() as usize;
                mats.push(Some(QMatrix { ty: m.ty, rows, cols, data: vec![0u8; m.n_bytes as usize] }));
                target(m, Dest::Matrix(id));
                id
            },
            |v| {
                let id = vecs.len();
                vecs.push(vec![0f32; v.n_elements as usize]);
                target(v, Dest::Vector(id));
                id
            },
        );
        let mut targets = targets.into_inner();
        targets.sort_by_key(|t| t.start);
        let bytes_total = targets.iter().map(|t| t.info.n_bytes).sum();
        Ok(FastLoading { cfg: cfg.clone(), n_ctx, ids, mats, vecs, targets, bytes_done: 0, bytes_total })
    }

    /// Loads the model from a local source (reads in file order through [`FastLoading::feed`]).
    pub fn load(src: &dyn ByteSource, g: &Gguf, n_ctx: usize) -> Result<FastModel, ModelError> {
        let cfg = ModelConfig::from_gguf(g)?;
        let mut l = FastModel::start_load(&cfg, g, n_ctx)?;
        const CHUNK: u64 = 16 << 20;
        let mut buf = Vec::new();
        for (s, e) in l.ranges() {
            let mut at = s;
            while at < e {
                let n = CHUNK.min(e - at);
                buf.resize(n as usize, 0);
                src.read_at(at, &mut buf)?;
                l.feed(at, &buf)?;
                at += n;
            }
        }
        l.finish()
    }
}

impl FastLoading {
    /// The file ranges holding the weights, in order (adjacent ranges merged).
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for t in &self.targets {
            let (s, e) = (t.start, t.start + t.info.n_bytes);
            match out.last_mut() {
                Some(last) if last.1 >= s => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        out
    }

    /// Takes the file's bytes found at `offset`. Chunks come in file order; bytes outside every
    /// tensor (the header, padding) are skipped.
    pub fn feed(&mut self, offset: u64, data: &[u8]) -> Result<(), LoadError> {
        let end = offset + data.len() as u64;
        let first = self.targets.partition_point(|t| t.start + t.info.n_bytes <= offset);
        for t in &mut self.targets[first..] {
            let (ts, te) = (t.start, t.start + t.info.n_bytes);
            if ts >= end {
                break;
            }
            let (lo, hi) = (ts.max(offset), te.min(end));
            if lo != ts + t.got {
                return Err(LoadError::OutOfOrder { tensor: t.info.name.clone(), at: lo, expected: ts + t.got });
            }
            let piece = &data[(lo - offset) as usize..(hi - offset) as usize];
            match t.dest {
                Dest::Matrix(id) => {
                    let m = self.mats[id].as_mut().expect("matrices are taken only by finish");
                    m.data[t.got as usize..t.got as usize + piece.len()].copy_from_slice(piece);
                }
                Dest::Vector(id) => {
                    t.pending.extend_from_slice(piece);
                    if t.pending.len() as u64 == t.info.n_bytes {
                        dequantize(t.info.ty, &t.pending, &mut self.vecs[id])
                            .map_err(|e| LoadError::BadData { tensor: t.info.name.clone(), reason: e.to_string() })?;
                        t.pending = Vec::new();
                    }
                }
            }
            t.got += piece.len() as u64;
            self.bytes_done += piece.len() as u64;
        }
        Ok(())
    }

    /// The model, once every tensor is whole.
    pub fn finish(self) -> Result<FastModel, ModelError> {
        if let Some(t) = self.targets.iter().find(|t| t.got < t.info.n_bytes) {
            return Err(LoadError::Incomplete { tensor: t.info.name.clone() }.into());
        }
        let (mut mats, mut vecs) = (self.mats, self.vecs);
        let w = self.ids.map(|i| mats[i].take().expect("each matrix is used once"), |i| std::mem::take(&mut vecs[i]));
        Ok(FastModel { cfg: self.cfg, w, n_ctx: self.n_ctx })
    }
}
