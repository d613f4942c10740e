//! Random weights of any supported type for tests and benchmarks: random quant bits with finite,
//! small block scales (random bytes in an f16 scale field could be NaN or huge).

use super::GgmlType;

/// xorshift64*: tiny, seedable, identical everywhere.
#[derive(Clone, Debug)]
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Approximately standard normal (sum of four uniforms, rescaled).
    pub fn normal(&mut self) -> f32 {
        ((0..4).map(|_| self.uniform()).sum::<f32>() - 2.0) * 1.732
    }
    pub fn normals(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal() * scale).collect()
    }
}

/// Byte offsets of the f16 scale fields in each block type (ggml-common.h).
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | IQ4_XS => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// f16 values at the edges: subnormal, zero, largest, smallest normal, of both signs, and ordinary.
const EDGE_HALVES: [u16; 14] =
    [0x0001, 0x03ff, 0x8001, 0x83ff, 0x0000, 0x8000, 0x7bff, 0xfbff, 0x0400, 0x8400, 0x3c00, 0xbc00, 0x0200, 0x2e66];

/// `n` elements of type `ty` at the edges of its format, where `random_tensor` never goes: blocks
/// of all-0x00, 0xff, 0x80, 0x7f or alternating nibbles as well as random bytes, with scales (d,
/// dmin) that are subnormal, zero, negative or the largest finite half; float types with their
/// extreme finite values. No f32 or bf16 subnormals (adapters may flush them to zero).
pub fn edge_tensor(ty: GgmlType, n: usize, rng: &mut TestRng) -> Vec<u8> {
    let edge_half = |r: u64| EDGE_HALVES[(r >> 8) as usize % EDGE_HALVES.len()];
    match ty {
        GgmlType::F32 => (0..n)
            .flat_map(|i| {
                let r = rng.next_u64() as u32;
                let sign = r & 0x8000_0000;
                let bits = match i % 4 {
                    0 => 0x7f7f_ffff | sign,
                    1 => 0x0080_0000 | sign,
                    _ => (r & 0x0fff_ffff) | 0x3000_0000 | sign,
                };
                f32::from_bits(bits).to_le_bytes()
            })
            .collect(),
        GgmlType::F16 => (0..n)
            .flat_map(|_| {
                let r = rng.next_u64();
                let h = if r & 3 == 0 { edge_half(r) } else { (((r >> 16) as u16) % 0x7c00) | (r as u16 & 0x8000) };
                h.to_le_bytes()
            })
            .collect(),
        GgmlType::BF16 => (0..n)
            .flat_map(|_| {
                let r = rng.next_u64();
                let mag = [0u16, 0x0080, 0x7f7f, 0x3f80][(r >> 8) as usize % 4];
                let h = if r & 1 == 0 { mag } else { 0x0080 + ((r >> 16) as u16) % (0x7f80 - 0x0080) } | (r as u16 & 0x8000);
                h.to_le_bytes()
            })
            .collect(),
        _ => {
            let bb = ty.block_bytes();
            let mut out = vec![0u8; n / ty.block_elems() * bb];
            for block in out.chunks_exact_mut(bb) {
                let pattern = rng.next_u64() % 6;
                for (i, b) in block.iter_mut().enumerate() {
                    *b = match pattern {
                        0 => 0xff,
                        1 => 0x00,
                        2 => 0x80,
                        3 => 0x7f,
                        4 => [0xf0, 0x0f][i % 2],
                        _ => rng.next_u64() as u8,
                    };
                }
                for &off in f16_fields(ty) {
                    let r = rng.next_u64();
                    let h = if r.is_multiple_of(3) { 0x2e66 ^ ((r >> 8) as u16 & 0x83ff) } else { edge_half(r) };
                    block[off..off + 2].copy_from_slice(&h.to_le_bytes());
                }
            }
            out
        }
    }
}

/// `n` elements of type `ty` whose dequantized values are roughly of size `scale`.
pub fn random_tensor(ty: GgmlType, n: usize, scale: f32, rng: &mut TestRng) -> Vec<u8> {
    match ty {
        GgmlType::F32 => (0..n).flat_map(|_| (rng.normal() * scale).to_le_bytes()).collect(),
        GgmlType::F16 => (0..n).flat_map(|_| half::f16::from_f32(rng.normal() * scale).to_le_bytes()).collect(),
        GgmlType::BF16 => (0..n).flat_map(|_| half::bf16::from_f32(rng.normal() * scale).to_le_bytes()).collect(),
        _ => {
            let bb = ty.block_bytes();
            let blocks = n / ty.block_elems();
            let mut out: Vec<u8> = (0..blocks * bb).map(|_| rng.next_u64() as u8).collect();
            // k-quant sub-scales multiply d again; keep the product near `scale`.
            let d_scale = if ty.block_elems() == 256 { scale / 64.0 } else { scale / 8.0 };
            for b in 0..blocks {
                for &off in f16_fields(ty) {
                    let d = half::f16::from_f32(d_scale * (0.5 + rng.uniform()));
                    out[b * bb + off..b * bb + off + 2].copy_from_slice(&d.to_le_bytes());
                }
            }
            out
        }
    }
}
