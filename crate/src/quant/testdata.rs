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
