//! Weights of the reference engine: every tensor dequantized to a dense f32 matrix at load time.

use crate::gguf::{ByteSource, Gguf, TensorInfo};
use crate::model::{ModelConfig, ModelError, WeightTable};
use crate::quant::dequantize;

/// A row-major f32 matrix: `rows` rows of `cols` values (ggml dims `[cols, rows]`).
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

pub struct CpuLayer {
    pub attn_norm: Vec<f32>,
    pub wq: Matrix,
    pub wk: Matrix,
    pub wv: Matrix,
    pub wo: Matrix,
    pub bq: Option<Vec<f32>>,
    pub bk: Option<Vec<f32>>,
    pub bv: Option<Vec<f32>>,
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub post_attn_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    /// Mixture of experts: the router; `gate`, `up`, `down` then stack every expert's rows.
    pub router: Option<Matrix>,
    pub gate: Matrix,
    pub up: Matrix,
    pub down: Matrix,
    pub post_ffn_norm: Option<Vec<f32>>,
}

pub struct CpuWeights {
    pub token_embd: Matrix,
    pub output_norm: Vec<f32>,
    /// `None`: tied to `token_embd`.
    pub output: Option<Matrix>,
    pub rope_freqs: Option<Vec<f32>>,
    pub layers: Vec<CpuLayer>,
}

fn load(src: &dyn ByteSource, g: &Gguf, t: &TensorInfo) -> Result<Matrix, ModelError> {
    let mut raw = vec![0u8; t.n_bytes as usize];
    src.read_at(t.file_offset(g.data_offset), &mut raw)?;
    let mut data = vec![0f32; t.n_elements as usize];
    dequantize(t.ty, &raw, &mut data)?;
    let cols = t.dims[0] as usize;
    Ok(Matrix { rows: data.len() / cols, cols, data })
}

fn vector(src: &dyn ByteSource, g: &Gguf, t: &TensorInfo) -> Result<Vec<f32>, ModelError> {
    Ok(load(src, g, t)?.data)
}

impl CpuWeights {
    pub fn load(src: &dyn ByteSource, g: &Gguf, cfg: &ModelConfig) -> Result<CpuWeights, ModelError> {
        let table = WeightTable::resolve(cfg, g)?;
        let opt = |t: &Option<TensorInfo>| t.as_ref().map(|t| vector(src, g, t)).transpose();
        let mut layers = Vec::with_capacity(table.layers.len());
        for l in &table.layers {
            layers.push(CpuLayer {
                attn_norm: vector(src, g, &l.attn_norm)?,
                wq: load(src, g, &l.wq)?,
                wk: load(src, g, &l.wk)?,
                wv: load(src, g, &l.wv)?,
                wo: load(src, g, &l.wo)?,
                bq: opt(&l.bq)?,
                bk: opt(&l.bk)?,
                bv: opt(&l.bv)?,
                q_norm: opt(&l.q_norm)?,
                k_norm: opt(&l.k_norm)?,
                post_attn_norm: opt(&l.post_attn_norm)?,
                ffn_norm: vector(src, g, &l.ffn_norm)?,
                router: l.router.as_ref().map(|t| load(src, g, t)).transpose()?,
                gate: load(src, g, &l.gate)?,
                up: load(src, g, &l.up)?,
                down: load(src, g, &l.down)?,
                post_ffn_norm: opt(&l.post_ffn_norm)?,
            });
        }
        Ok(CpuWeights {
            token_embd: load(src, g, &table.token_embd)?,
            output_norm: vector(src, g, &table.output_norm)?,
            output: table.output.as_ref().map(|t| load(src, g, t)).transpose()?,
            rope_freqs: opt(&table.rope_freqs)?,
            layers,
        })
    }
}
