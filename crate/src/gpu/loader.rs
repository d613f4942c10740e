//! Streams GGUF tensor bytes into GPU buffers. Bytes arrive in file order, in chunks of any size
//! (a file read, an HTTP response body); each chunk is routed to the tensors it overlaps. Matrices
//! are uploaded whole rows at a time (an even number of rows, see weights.rs), vectors (norm
//! weights) are gathered on the host and dequantized at the end. Host memory stays at one chunk
//! plus a partial row per tensor, whatever the model's size.

use super::context::GpuContext;
use super::error::LoadError;
use super::weights::GpuMatrix;
use crate::gguf::TensorInfo;
use crate::quant::dequantize;

/// Where a tensor's bytes go.
pub enum Sink {
    /// Rows `row0..` of a matrix (several tensors may be stacked into one, see model.rs).
    Matrix { m: GpuMatrix, row0: usize },
    /// A vector dequantized to f32 at `offset` (in floats) of the vectors buffer.
    Vector { offset: u32 },
}

struct Target {
    info: TensorInfo,
    start: u64,
    sink: Sink,
    /// Bytes received but not yet uploaded (less than an upload unit).
    pending: Vec<u8>,
    /// Rows uploaded so far.
    rows_done: usize,
    done: bool,
}

pub struct WeightLoader {
    targets: Vec<Target>,
    vectors: Vec<f32>,
    /// Bytes written since the last queue flush.
    unflushed: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Flush the queue's staging memory after this many bytes of writes.
const FLUSH_BYTES: u64 = 32 << 20;

impl WeightLoader {
    pub fn new() -> WeightLoader {
        WeightLoader { targets: Vec::new(), vectors: Vec::new(), unflushed: 0, bytes_done: 0, bytes_total: 0 }
    }

    /// Registers a tensor read from `data_offset + info.offset`. Returns the vector offset for
    /// `Sink::Vector` targets (their sink argument is ignored and assigned here).
    pub fn add(&mut self, info: &TensorInfo, data_offset: u64, sink: Sink) -> u32 {
        let sink = match sink {
            Sink::Vector { .. } => {
                // Every vector starts on a vec4 (the matvec reads norm weights as vectors).
                self.vectors.resize(self.vectors.len().next_multiple_of(4), 0.0);
                let offset = self.vectors.len() as u32;
                self.vectors.resize(self.vectors.len() + info.n_elements as usize, 0.0);
                Sink::Vector { offset }
            }
            m => m,
        };
        let off = match &sink {
            Sink::Vector { offset } => *offset,
            Sink::Matrix { .. } => 0,
        };
        self.bytes_total += info.n_bytes;
        self.targets.push(Target {
            info: info.clone(),
            start: data_offset + info.offset,
            sink,
            pending: Vec::new(),
            rows_done: 0,
            done: false,
        });
        self.targets.sort_by_key(|t| t.start);
        off
    }

    /// Floats of the vectors registered so far.
    pub fn vector_len(&self) -> usize {
        self.vectors.len()
    }

    /// The file ranges to read, in order (adjacent ranges merged).
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

    /// Routes the file bytes `data` found at `offset`.
    pub fn feed(&mut self, ctx: &GpuContext, offset: u64, data: &[u8]) -> Result<(), LoadError> {
        let end = offset + data.len() as u64;
        for t in &mut self.targets {
            let (ts, te) = (t.start, t.start + t.info.n_bytes);
            if te <= offset || ts >= end {
                continue;
            }
            let lo = ts.max(offset);
            let hi = te.min(end);
            let piece = &data[(lo - offset) as usize..(hi - offset) as usize];
            // Bytes must arrive in order within a tensor.
            let expected = ts + t.rows_done as u64 * row_bytes(&t.info) + t.pending.len() as u64;
            if lo != expected {
                return Err(LoadError::OutOfOrder { tensor: t.info.name.clone(), at: lo, expected });
            }
            self.bytes_done += piece.len() as u64;
            match &t.sink {
                Sink::Vector { offset } => {
                    // One allocation of the tensor's size, whatever the pieces (see below).
                    t.pending.reserve_exact(t.info.n_bytes as usize - t.pending.len());
                    t.pending.extend_from_slice(piece);
                    if t.pending.len() as u64 == t.info.n_bytes {
                        let n = t.info.n_elements as usize;
                        let o = *offset as usize;
                        dequantize(t.info.ty, &t.pending, &mut self.vectors[o..o + n])
                            .map_err(|e| LoadError::BadData { tensor: t.info.name.clone(), reason: e.to_string() })?;
                        t.pending = Vec::new();
                        t.done = true;
                    }
                }
                Sink::Matrix { m, row0 } => {
                    let rb = row_bytes(&t.info) as usize;
                    let rows = t.info.n_rows() as usize;
                    // Whole row pairs go to the GPU straight from the chunk; only a partial pair
                    // waits in `pending` (at most two rows, whatever the chunk size).
                    let unit = 2 * rb;
                    let mut data = piece;
                    if !t.pending.is_empty() {
                        let fill = (unit - t.pending.len()).min(data.len());
                        t.pending.extend_from_slice(&data[..fill]);
                        data = &data[fill..];
                        let last = t.rows_done * rb + t.pending.len() == rows * rb;
                        if t.pending.len() == unit || last {
                            let n = t.pending.len() / rb;
                            m.upload_rows(&ctx.queue, row0 + t.rows_done, &t.pending)?;
                            t.rows_done += n;
                            t.pending.clear();
                        }
                    }
                    let rows_left = rows - t.rows_done;
                    let whole = data.len() / rb;
                    let n = if whole >= rows_left { rows_left } else { whole & !1 };
                    if n > 0 {
                        m.upload_rows(&ctx.queue, row0 + t.rows_done, &data[..n * rb])?;
                        t.rows_done += n;
                        data = &data[n * rb..];
                    }
                    if !data.is_empty() {
                        // A partial pair is kept in a buffer of a whole pair, allocated once per
                        // tensor: allocations sized by where the network cut the body moved the
                        // WebAssembly memory's high-water mark from one load to the next.
                        t.pending.reserve_exact(unit);
                        t.pending.extend_from_slice(data);
                    }
                    t.done = t.rows_done == rows;
                    if t.done {
                        t.pending = Vec::new();
                    }
                    self.unflushed += piece.len() as u64;
                }
            }
        }
        if self.unflushed >= FLUSH_BYTES {
            // Hand the staged writes to the GPU so that staging memory does not pile up.
            ctx.queue.submit([]);
            self.unflushed = 0;
        }
        Ok(())
    }

    /// Checks that every tensor arrived whole; returns the vectors.
    pub fn finish(self, ctx: &GpuContext) -> Result<Vec<f32>, LoadError> {
        ctx.queue.submit([]);
        if let Some(t) = self.targets.iter().find(|t| !t.done) {
            return Err(LoadError::Incomplete { tensor: t.info.name.clone() });
        }
        Ok(self.vectors)
    }
}

impl Default for WeightLoader {
    fn default() -> Self {
        Self::new()
    }
}

fn row_bytes(t: &TensorInfo) -> u64 {
    t.ty.row_bytes(t.dims[0]).unwrap_or(t.n_bytes)
}
