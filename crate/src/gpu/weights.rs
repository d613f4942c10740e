//! Quantized weights on the GPU. Blocks stay quantized (GPU bytes = GGUF bytes, plus at most 2 bytes
//! of padding per part). Block types whose size is 2 mod 4 (Q4_0, Q5_0, Q8_0, Q3_K, Q6_K) have their
//! f16 scale moved to a separate "scale plane" after the blocks, so that every block starts on a
//! word and the shaders read whole aligned words. Matrices larger than one storage binding are split
//! into parts of whole rows.

use crate::quant::GgmlType;

/// Where the f16 scale sits in a block whose size is 2 mod 4.
fn scale_at(ty: GgmlType) -> Option<usize> {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => Some(0),
        Q3_K => Some(108),
        Q6_K => Some(208),
        _ => None,
    }
}

/// Elements per GPU block: the quant block, or 4 values for the float types.
pub fn gpu_block_elems(ty: GgmlType) -> usize {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 4,
        t => t.block_elems(),
    }
}

/// Bytes of a GPU block's main part (without a split-off scale).
pub fn main_bytes(ty: GgmlType) -> usize {
    let bytes = ty.block_bytes() * gpu_block_elems(ty) / ty.block_elems();
    if scale_at(ty).is_some() {
        bytes - 2
    } else {
        bytes
    }
}

/// A contiguous range of rows stored in one buffer.
pub struct MatrixPart {
    pub buffer: wgpu::Buffer,
    pub row0: usize,
    pub rows: usize,
    /// Word offset of the scale plane (0 when the type has none).
    pub scale_base: u32,
}

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

    /// Bytes a part of `rows` rows takes.
    pub fn part_size(ty: GgmlType, cols: usize, rows: usize) -> u64 {
        let blocks = (rows * cols / gpu_block_elems(ty)) as u64;
        let scales = if scale_at(ty).is_some() { (blocks * 2).div_ceil(4) * 4 } else { 0 };
        blocks * main_bytes(ty) as u64 + scales
    }

    /// Rows per part so that a part fits `max_binding` bytes; an even number, so that every part
    /// and every upload chunk starts its scale plane on a word.
    pub fn rows_per_part(ty: GgmlType, cols: usize, rows: usize, max_binding: u64) -> usize {
        let per_row = Self::part_size(ty, cols, 2) / 2;
        let fit = ((max_binding.saturating_sub(4)) / per_row.max(1)) as usize;
        fit.min(rows).max(2) & !1
    }

    /// Allocates the buffers of a `ty` matrix of `rows` × `cols`.
    pub fn new(device: &wgpu::Device, name: &str, ty: GgmlType, cols: usize, rows: usize, max_binding: u64) -> Result<GpuMatrix, String> {
        if cols % gpu_block_elems(ty) != 0 {
            return Err(format!("{name}: {cols} columns is not a multiple of {}", gpu_block_elems(ty)));
        }
        let per = Self::rows_per_part(ty, cols, rows, max_binding);
        if Self::part_size(ty, cols, per.min(rows)) > max_binding {
            return Err(format!("{name}: one row pair does not fit a binding of {max_binding} bytes"));
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
            parts.push(MatrixPart { buffer, row0, rows: n, scale_base: main / 4 });
            row0 += n;
        }
        Ok(GpuMatrix { name: name.into(), ty, cols, rows, parts })
    }

    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.buffer.size()).sum()
    }

    /// Uploads GGUF bytes of rows `row0..` (whole rows; `row0` even unless they run to the end).
    pub fn upload_rows(&self, queue: &wgpu::Queue, row0: usize, bytes: &[u8]) -> Result<(), String> {
        let row_bytes = self.ty.row_bytes(self.cols as u64).unwrap() as usize;
        if bytes.len() % row_bytes != 0 {
            return Err(format!("{}: upload of {} bytes is not whole rows", self.name, bytes.len()));
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

    fn write_part(&self, queue: &wgpu::Queue, p: &MatrixPart, local_row: usize, src: &[u8]) -> Result<(), String> {
        let ty = self.ty;
        let bpr = self.blocks_per_row();
        let first_block = local_row * bpr;
        let Some(at) = scale_at(ty) else {
            let off = (first_block * main_bytes(ty)) as u64;
            queue.write_buffer(&p.buffer, off, &pad4(src.to_vec()));
            return Ok(());
        };
        if (first_block * 2) % 4 != 0 {
            return Err(format!("{}: upload starts at an odd block ({first_block})", self.name));
        }
        let bb = ty.block_bytes();
        let n = src.len() / bb;
        let mut main = Vec::with_capacity(n * (bb - 2));
        let mut scales = Vec::with_capacity(n * 2 + 2);
        for blk in src.chunks_exact(bb) {
            main.extend_from_slice(&blk[..at]);
            main.extend_from_slice(&blk[at + 2..]);
            scales.extend_from_slice(&blk[at..at + 2]);
        }
        queue.write_buffer(&p.buffer, (first_block * (bb - 2)) as u64, &main);
        queue.write_buffer(&p.buffer, p.scale_base as u64 * 4 + first_block as u64 * 2, &pad4(scales));
        Ok(())
    }
}

fn pad4(mut v: Vec<u8>) -> Vec<u8> {
    while v.len() % 4 != 0 {
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
            let cols = 256 * 4;
            let rows = 10;
            let gguf = ty.row_bytes(cols as u64).unwrap() * rows as u64;
            let gpu = GpuMatrix::part_size(ty, cols, rows);
            assert!(gpu >= gguf - 0 && gpu <= gguf + 4, "{ty}: {gpu} vs {gguf}");
        }
    }

    #[test]
    fn parts_are_even_and_fit() {
        let per = GpuMatrix::rows_per_part(GgmlType::Q8_0, 640, 262144, 128 << 20);
        assert_eq!(per % 2, 0);
        assert!(GpuMatrix::part_size(GgmlType::Q8_0, 640, per) <= 128 << 20);
    }
}
