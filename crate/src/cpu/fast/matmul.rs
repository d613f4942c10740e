//! Matrix products over weights kept in their GGUF block layout: the input is quantized to q8
//! once per call and shared by every matrix of the call (q, k and v read the same input), the
//! rows of all of them are cut into tasks spread over the threads, and each task runs the
//! type's kernel under the best vector backend.

use super::blocks::{self, Kind};
use super::dot::{dot_float, dot_groups, dot_quant, FloatKind};
use super::par::{run_tasks, task_count, Shared};
use super::q8::Q8Acts;
use super::simd::{dispatch, Kernel, Simd};
use crate::quant::GgmlType;
use std::cell::OnceCell;

/// A row-major matrix in its file's encoding: `rows` rows of `cols` values (ggml dims `[cols, rows]`).
pub struct QMatrix {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<u8>,
}

impl QMatrix {
    pub fn row_bytes(&self) -> usize {
        self.data.len() / self.rows.max(1)
    }
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }
    /// Row `r` decoded to f32 (an embedding lookup).
    pub fn row_f32(&self, r: usize, out: &mut [f32]) {
        crate::quant::dequantize(self.ty, self.row(r), &mut out[..self.cols]).expect("a row of a checked tensor decodes");
    }
    /// Whether products with this matrix use the q8 input.
    fn quantized(&self) -> bool {
        float_kind(self.ty).is_none()
    }
}

fn float_kind(ty: GgmlType) -> Option<FloatKind> {
    match ty {
        GgmlType::F32 => Some(FloatKind::F32),
        GgmlType::F16 => Some(FloatKind::F16),
        GgmlType::BF16 => Some(FloatKind::BF16),
        _ => None,
    }
}

/// The rows `row0..row0 + rows` of a matrix (all of it, or one expert of a mixture).
#[derive(Clone, Copy)]
pub struct Part<'a> {
    pub m: &'a QMatrix,
    pub row0: usize,
    pub rows: usize,
}

impl<'a> Part<'a> {
    pub fn all(m: &'a QMatrix) -> Part<'a> {
        Part { m, row0: 0, rows: m.rows }
    }
}

/// The input of matrix products: `n` rows of `k` floats, with their q8 quantization made on first
/// use and kept for the next product with the same input.
pub struct Input<'a> {
    pub x: &'a [f32],
    pub k: usize,
    q8: OnceCell<Q8Acts>,
}

impl<'a> Input<'a> {
    pub fn new(x: &'a [f32], k: usize) -> Input<'a> {
        assert!(k > 0 && x.len().is_multiple_of(k), "input rows of {k} values");
        Input { x, k, q8: OnceCell::new() }
    }
    pub fn n(&self) -> usize {
        self.x.len() / self.k
    }
    fn q8(&self) -> &Q8Acts {
        self.q8.get_or_init(|| Q8Acts::quantize(self.x, self.k))
    }
}

/// Rows per task below which splitting costs more than it saves.
const MIN_ROWS_PER_TASK: usize = 16;

/// For each part `i`, `outs[i][t · rows_i + r] = Σ_k x[t][k] · m[row0 + r][k]`.
pub fn matmul(input: &Input, parts: &[Part], outs: &mut [&mut [f32]]) {
    let n = input.n();
    assert_eq!(parts.len(), outs.len());
    for (p, o) in parts.iter().zip(outs.iter()) {
        assert_eq!(p.m.cols, input.k, "matrix of {} columns times rows of {}", p.m.cols, input.k);
        assert!(p.row0 + p.rows <= p.m.rows && o.len() == n * p.rows, "output of {} for {n}x{}", o.len(), p.rows);
    }
    let q8 = if parts.iter().any(|p| p.m.quantized()) { Some(input.q8()) } else { None };
    // Tasks: row ranges of single parts, a few per thread in all.
    let total: usize = parts.iter().map(|p| p.rows).sum();
    let per = total.div_ceil(task_count(total * n.min(8), MIN_ROWS_PER_TASK * 8)).max(1);
    let mut tasks = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let mut r = 0;
        while r < p.rows {
            tasks.push((i, r, (r + per).min(p.rows)));
            r += per;
        }
    }
    let shared: Vec<Shared> = outs.iter_mut().map(|o| Shared::new(o)).collect();
    let (x, k) = (input.x, input.k);
    run_tasks(tasks.len(), |ti| {
        let (i, r0, r1) = tasks[ti];
        dispatch(Rows { part: parts[i], r0, r1, x, k, q8, out: &shared[i] });
    });
}

/// A task: rows `r0..r1` of a part against every input row.
struct Rows<'a> {
    part: Part<'a>,
    r0: usize,
    r1: usize,
    x: &'a [f32],
    k: usize,
    q8: Option<&'a Q8Acts>,
    out: &'a Shared<'a>,
}

impl Kernel for Rows<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        match self.part.m.ty {
            GgmlType::Q4_0 => self.quant::<S, blocks::Q4_0>(s),
            GgmlType::Q4_1 => self.quant::<S, blocks::Q4_1>(s),
            GgmlType::Q5_0 => self.quant::<S, blocks::Q5_0>(s),
            GgmlType::Q5_1 => self.quant::<S, blocks::Q5_1>(s),
            GgmlType::Q8_0 => self.quant::<S, blocks::Q8_0>(s),
            GgmlType::Q2_K => self.quant::<S, blocks::Q2K>(s),
            GgmlType::Q3_K => self.quant::<S, blocks::Q3K>(s),
            GgmlType::Q4_K => self.quant::<S, blocks::Q4K>(s),
            GgmlType::Q5_K => self.quant::<S, blocks::Q5K>(s),
            GgmlType::Q6_K => self.quant::<S, blocks::Q6K>(s),
            GgmlType::IQ4_NL => self.quant::<S, blocks::IQ4NL>(s),
            GgmlType::IQ4_XS => self.quant::<S, blocks::IQ4XS>(s),
            ty => {
                let kind = float_kind(ty).unwrap_or_else(|| panic!("{ty} is refused when the model loads"));
                self.float(s, kind)
            }
        }
    }
}

/// Activation rows per tile where `dot_groups` does not serve (Q2_K's per-16 minimums): each
/// weight block is decoded once per tile.
const TILE: usize = 4;

impl Rows<'_> {
    #[inline(always)]
    fn quant<S: Simd, Q: Kind>(&self, s: S) {
        debug_assert_eq!(self.part.m.ty, Q::TYPE);
        let a = self.q8.expect("q8 input for a quantized matrix");
        let (n, rows) = (a.n, self.part.rows);
        let mut y = [0f32; TILE];
        if n == 1 {
            // Decode's matrix-vector product in a loop of its own: inside the general loop below
            // it compiled ~20% slower (measured on SmolLM2).
            for r in self.r0..self.r1 {
                dot_quant::<S, Q, 1>(s, self.part.m.row(self.part.row0 + r), a, 0, &mut y);
                self.out.set(r, y[0]);
            }
            return;
        }
        let groups = if Q::MIN16 { 0 } else { a.groups() };
        let mut acc = vec![s.zero_f32(); groups];
        for r in self.r0..self.r1 {
            let row = self.part.m.row(self.part.row0 + r);
            let mut t = 0;
            if groups > 0 {
                dot_groups::<S, Q>(s, row, a, &mut acc);
                for (g, v) in acc.iter().enumerate() {
                    let y = s.to_array_f32(*v);
                    (0..4).for_each(|j| self.out.set((4 * g + j) * rows + r, y[j]));
                }
                t = 4 * groups;
            }
            while t + TILE <= n {
                dot_quant::<S, Q, TILE>(s, row, a, t, &mut y);
                (0..TILE).for_each(|j| self.out.set((t + j) * rows + r, y[j]));
                t += TILE;
            }
            while t < n {
                dot_quant::<S, Q, 1>(s, row, a, t, &mut y);
                self.out.set(t * rows + r, y[0]);
                t += 1;
            }
        }
    }

    #[inline(always)]
    fn float<S: Simd>(&self, s: S, kind: FloatKind) {
        let (x, k) = (self.x, self.k);
        let (n, rows) = (x.len() / k, self.part.rows);
        let mut y = [0f32; TILE];
        for r in self.r0..self.r1 {
            let row = self.part.m.row(self.part.row0 + r);
            let mut t = 0;
            while t + TILE <= n {
                dot_float::<S, TILE>(s, kind, row, x, k, t, &mut y);
                (0..TILE).for_each(|j| self.out.set((t + j) * rows + r, y[j]));
                t += TILE;
            }
            while t < n {
                dot_float::<S, 1>(s, kind, row, x, k, t, &mut y);
                self.out.set(t * rows + r, y[0]);
                t += 1;
            }
        }
    }
}

/// `x · mᵀ` for one matrix: `n` rows of `m.rows` values.
pub fn matmul1(x: &[f32], m: &QMatrix) -> Vec<f32> {
    let input = Input::new(x, m.cols);
    let mut y = vec![0f32; input.n() * m.rows];
    matmul(&input, &[Part::all(m)], &mut [&mut y]);
    y
}

/// [`matmul1`] on one thread with x86 backend `level` (see `simd::dispatch_at`), if this CPU has it.
#[cfg(all(test, target_arch = "x86_64"))]
pub fn matmul1_at(x: &[f32], m: &QMatrix, level: usize) -> Option<Vec<f32>> {
    let input = Input::new(x, m.cols);
    let mut y = vec![0f32; input.n() * m.rows];
    let q8 = m.quantized().then(|| input.q8());
    let shared = Shared::new(&mut y);
    super::simd::dispatch_at(Rows { part: Part::all(m), r0: 0, r1: m.rows, x, k: m.cols, q8, out: &shared }, level)?;
    Some(y)
}

/// [`matmul1`] on one thread with the plain-array backend (the conformance tests check both).
#[cfg(test)]
pub fn matmul1_portable(x: &[f32], m: &QMatrix) -> Vec<f32> {
    let input = Input::new(x, m.cols);
    let mut y = vec![0f32; input.n() * m.rows];
    let q8 = m.quantized().then(|| input.q8());
    let shared = Shared::new(&mut y);
    Rows { part: Part::all(m), r0: 0, r1: m.rows, x, k: m.cols, q8, out: &shared }.run(super::simd::Portable);
    y
}
