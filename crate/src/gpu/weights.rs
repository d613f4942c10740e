//! Quantized weights on the GPU. Blocks stay quantized, re-arranged so that shaders read whole
//! aligned words, and the matvec whole 16-byte vectors: each block's quant bytes form its "main"
//! part (a multiple of 16 bytes for every quant type), stored block after block; the small fields
//! that would break that alignment (f16 scales, Q4_1/Q5_1 scale-min words, Q5 high bits, Q2_K
//! d/dmin, IQ4_XS scales) go to a "side plane" after the blocks, one record per pair of blocks.
//! GPU bytes stay within 2% of the GGUF bytes (Q3_K pads its 110-byte block to 112). Matrices
//! larger than one storage binding are split into parts of whole rows.

use super::error::{GpuError, LoadError};
use crate::quant::GgmlType;

/// How one GGUF block is re-arranged on the GPU. The side record of blocks (2p, 2p+1) is
/// `[words of 2p][words of 2p+1][half of 2p | half of 2p+1 << 16]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Byte ranges of the GGUF block that form the main part, in order, then `pad` zero bytes.
    pub main: &'static [(usize, usize)],
    pub pad: usize,
    /// Byte range of whole words that go to the side record.
    pub words: (usize, usize),
    /// Offset of an f16 that goes to the side record's shared word.
    pub half: Option<usize>,
    /// Offset of the Q5 types' word of fifth bits (within `words`), which goes to the GPU
    /// transposed: see [`q5_qh_to_gpu`].
    pub qh: Option<usize>,
}

impl Split {
    pub fn main_bytes(&self) -> usize {
        self.main.iter().map(|(a, b)| b - a).sum::<usize>() + self.pad
    }
    /// Words of one side record (a pair of blocks).
    pub fn record_words(&self) -> usize {
        (self.words.1 - self.words.0) / 2 + self.half.is_some() as usize
    }
}

/// The GPU arrangement of a type's block (`None`: stored as in the GGUF file).
pub fn split(ty: GgmlType) -> Option<Split> {
    use GgmlType::*;
    let s = |main: &'static [(usize, usize)], pad, words, half| Some(Split { main, pad, words, half, qh: None });
    match ty {
        // d | qs[16]
        Q4_0 => s(&[(2, 18)], 0, (0, 0), Some(0)),
        // d m | qs[16]: side word dm
        Q4_1 => s(&[(4, 20)], 0, (0, 4), None),
        // d | qh | qs[16]: side record [qh0, qh1, d0|d1]
        Q5_0 => Some(Split { qh: Some(2), ..s(&[(6, 22)], 0, (2, 6), Some(0))? }),
        // d m | qh | qs[16]: side record [dm0, qh0, dm1, qh1]
        Q5_1 => Some(Split { qh: Some(4), ..s(&[(8, 24)], 0, (0, 8), None)? }),
        // d | qs[32]
        Q8_0 => s(&[(2, 34)], 0, (0, 0), Some(0)),
        // scales[16] qs[64] | d dmin: side word d|dmin
        Q2_K => s(&[(0, 80)], 0, (80, 84), None),
        // hmask[32] qs[64] scales[12] d, padded to 112 bytes
        Q3_K => s(&[(0, 110)], 2, (0, 0), None),
        // ql[128] qh[64] scales[16] | d
        Q6_K => s(&[(0, 208)], 0, (0, 0), Some(208)),
        // d | qs[16], as Q4_0
        IQ4_NL => s(&[(2, 18)], 0, (0, 0), Some(0)),
        // d scales_h scales_l[4] | qs[128]: side record [d|scales_h, scales_l] of each block
        IQ4_XS => s(&[(8, 136)], 0, (0, 8), None),
        _ => None,
    }
}

/// The Q5 types' fifth bits as the GPU reads them: the bit of element 4i + k (GGUF bit 4i + k) at
/// bit 8k + i, so that the bits of the 4 values of quant word i (low nibbles, i < 4) or of its
/// high nibbles (i - 4) sit at the same bit of each byte, where the shaders mask them in place and
/// move them by multiplication: SwiftShader shifts lane by lane (see shaders/common.wgsl).
pub fn q5_qh_to_gpu(qh: u32) -> u32 {
    (0..32).fold(0, |acc, e| acc | (qh >> e & 1) << (8 * (e % 4) + e / 4))
}

/// Elements per GPU block: the quant block, or 4 values for the float types.
pub fn gpu_block_elems(ty: GgmlType) -> usize {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 4,
        t => t.block_elems(),
    }
}

/// Bytes of a GPU block's main part.
pub fn main_bytes(ty: GgmlType) -> usize {
    match split(ty) {
        Some(s) => s.main_bytes(),
        None => ty.block_bytes() * gpu_block_elems(ty) / ty.block_elems(),
    }
}

/// Words of the side record of a pair of blocks (0 when the type has no side plane).
pub fn record_words(ty: GgmlType) -> usize {
    split(ty).map_or(0, |s| s.record_words())
}

/// A contiguous range of rows stored in one buffer.
#[derive(Clone)]
pub struct MatrixPart {
    pub buffer: wgpu::Buffer,
    pub row0: usize,
    pub rows: usize,
    /// Word offset of the side plane (the size of the main plane; 16-byte aligned).
    pub scale_base: u32,
}

#[derive(Clone)]
pub struct GpuMatrix {
    pub name: String,
    pub ty: GgmlType,
    pub cols: usize,
    pub rows: usize,
    pub parts: Vec<MatrixPart>,
}

impl GpuMatrix {
    pub fn blocks_per_row(&self) -> usize {
        self.cols / gpu_block_elems(self.ty)
    }

    /// Bytes a part of `rows` rows takes: the main plane, then the side plane, rounded up to 16
    /// bytes so that the matvec may read any record of the side plane as part of a whole vector.
    pub fn part_size(ty: GgmlType, cols: usize, rows: usize) -> u64 {
        let blocks = (rows * cols / gpu_block_elems(ty)) as u64;
        let side = blocks.div_ceil(2) * record_words(ty) as u64 * 4;
        (blocks * main_bytes(ty) as u64 + side).div_ceil(16) * 16
    }

    /// Rows per part so that a part fits `max_binding` bytes; an even number, so that every part
    /// and every upload chunk starts on a pair of blocks (a whole side record).
    pub fn rows_per_part(ty: GgmlType, cols: usize, rows: usize, max_binding: u64) -> usize {
        let per_row = Self::part_size(ty, cols, 2) / 2;
        let fit = ((max_binding.saturating_sub(16)) / per_row.max(1)) as usize;
        fit.min(rows).max(2) & !1
    }

    /// Allocates the buffers of a `ty` matrix of `rows` × `cols`.
    pub fn new(device: &wgpu::Device, name: &str, ty: GgmlType, cols: usize, rows: usize, max_binding: u64) -> Result<GpuMatrix, GpuError> {
        if !cols.is_multiple_of(gpu_block_elems(ty)) {
            return Err(GpuError::Unaligned { name: name.into(), cols, block: gpu_block_elems(ty) });
        }
        let per = Self::rows_per_part(ty, cols, rows, max_binding);
        let pair = Self::part_size(ty, cols, per.min(rows));
        if pair > max_binding {
            let what = format!("a row pair of {name}");
            return Err(GpuError::AdapterTooSmall { adapter: String::new(), what, needed: pair, available: max_binding });
        }
        let mut parts = Vec::new();
        let mut row0 = 0;
        while row0 < rows {
            let n = per.min(rows - row0);
            let size = Self::part_size(ty, cols, n).max(4);
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(name),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let main = (n * cols / gpu_block_elems(ty) * main_bytes(ty)) as u32;
            debug_assert!(main.is_multiple_of(16) || split(ty).is_none());
            parts.push(MatrixPart { buffer, row0, rows: n, scale_base: main / 4 });
            row0 += n;
        }
        Ok(GpuMatrix { name: name.into(), ty, cols, rows, parts })
    }

    fn misplaced(&self, reason: String) -> LoadError {
        LoadError::Misplaced { tensor: self.name.clone(), reason }
    }

    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.buffer.size()).sum()
    }

    /// Uploads GGUF bytes of rows `row0..` (whole rows; `row0` even unless they run to the end).
    pub fn upload_rows(&self, queue: &wgpu::Queue, row0: usize, bytes: &[u8]) -> Result<(), LoadError> {
        let row_bytes = self.ty.row_bytes(self.cols as u64).unwrap() as usize;
        if !bytes.len().is_multiple_of(row_bytes) {
            return Err(self.misplaced(format!("upload of {} bytes is not whole rows", bytes.len())));
        }
        let n_rows = bytes.len() / row_bytes;
        let mut done = 0;
        for p in &self.parts {
            let (lo, hi) = ((row0 + done).max(p.row0), (row0 + n_rows).min(p.row0 + p.rows));
            if lo >= hi {
                continue;
            }
            let src = &bytes[(lo - row0) * row_bytes..(hi - row0) * row_bytes];
            self.write_part(queue, p, lo - p.row0, src)?;
            done = hi - row0;
        }
        Ok(())
    }

    fn write_part(&self, queue: &wgpu::Queue, p: &MatrixPart, local_row: usize, src: &[u8]) -> Result<(), LoadError> {
        let ty = self.ty;
        let first_block = local_row * self.blocks_per_row();
        let Some(sp) = split(ty) else {
            let off = (first_block * main_bytes(ty)) as u64;
            queue.write_buffer(&p.buffer, off, &pad4(src.to_vec()));
            return Ok(());
        };
        if !first_block.is_multiple_of(2) {
            return Err(self.misplaced(format!("upload starts at an odd block ({first_block})")));
        }
        let bb = ty.block_bytes();
        let n = src.len() / bb;
        let mut main = Vec::with_capacity(n * sp.main_bytes());
        let mut side = Vec::with_capacity(n.div_ceil(2) * sp.record_words() * 4);
        let empty = vec![0u8; bb];
        for pair in src.chunks(2 * bb) {
            let (b0, b1) = (&pair[..bb], if pair.len() > bb { &pair[bb..] } else { &empty[..] });
            for blk in [b0, b1].into_iter().take(pair.len() / bb) {
                for &(a, b) in sp.main {
                    main.extend_from_slice(&blk[a..b]);
                }
                main.resize(main.len() + sp.pad, 0);
            }
            for blk in [b0, b1] {
                let at = side.len();
                side.extend_from_slice(&blk[sp.words.0..sp.words.1]);
                if let Some(q) = sp.qh {
                    let w = at + q - sp.words.0;
                    let qh = u32::from_le_bytes(side[w..w + 4].try_into().unwrap());
                    side[w..w + 4].copy_from_slice(&q5_qh_to_gpu(qh).to_le_bytes());
                }
            }
            if let Some(h) = sp.half {
                side.extend_from_slice(&b0[h..h + 2]);
                side.extend_from_slice(&b1[h..h + 2]);
            }
        }
        queue.write_buffer(&p.buffer, (first_block * sp.main_bytes()) as u64, &main);
        if !side.is_empty() {
            let at = p.scale_base as u64 * 4 + (first_block / 2 * sp.record_words() * 4) as u64;
            queue.write_buffer(&p.buffer, at, &side);
        }
        Ok(())
    }
}

fn pad4(mut v: Vec<u8>) -> Vec<u8> {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_bytes_stay_within_the_gguf_bytes() {
        for ty in GgmlType::all().filter(|t| t.is_supported()) {
            for (cols, rows) in [(256 * 4, 10), (256, 1), (256 * 3, 7)] {
                let gguf = ty.row_bytes(cols as u64).unwrap() * rows as u64;
                let gpu = GpuMatrix::part_size(ty, cols, rows);
                assert!(gpu >= gguf && gpu as f64 <= gguf as f64 * 1.02 + 16.0, "{ty} {rows}x{cols}: {gpu} vs {gguf}");
            }
        }
    }

    #[test]
    fn main_parts_are_whole_vectors() {
        for ty in GgmlType::all().filter(|t| t.is_supported()) {
            if let Some(s) = split(ty) {
                assert_eq!(s.main_bytes() % 16, 0, "{ty}");
                let side = (s.words.1 - s.words.0) + 2 * s.half.is_some() as usize;
                assert_eq!(s.main_bytes() - s.pad + side, ty.block_bytes(), "{ty}: every byte goes somewhere");
            }
        }
    }

    #[test]
    fn q5_fifth_bits_are_transposed() {
        for e in 0..32u32 {
            assert_eq!(q5_qh_to_gpu(1 << e), 1 << (8 * (e % 4) + e / 4), "element {e}");
        }
        assert_eq!(q5_qh_to_gpu(u32::MAX), u32::MAX);
    }

    #[test]
    fn parts_are_even_and_fit() {
        let per = GpuMatrix::rows_per_part(GgmlType::Q8_0, 640, 262144, 128 << 20);
        assert_eq!(per % 2, 0);
        assert!(GpuMatrix::part_size(GgmlType::Q8_0, 640, per) <= 128 << 20);
    }
}
