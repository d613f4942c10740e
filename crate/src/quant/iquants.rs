//! The non-linear 4-bit "i-quants": a fixed 16-entry codebook instead of evenly spaced levels.
//! Layouts: ggml `ggml-common.h` (block_iq4_nl, block_iq4_xs); decoders follow
//! `dequantize_row_iq4_nl` / `dequantize_row_iq4_xs` in ggml `ggml-quants.c`.

use super::{f16_to_f32, Block, GgmlType, QK, QK_K};
use bytemuck::{Pod, Zeroable};

/// ggml's `kvalues_iq4nl`: the codebook both types index with their 4-bit quants.
pub const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// 32 values from 16 bytes of nibbles (low nibbles are values 0..16, high nibbles 16..32), times `d`.
fn iq4_values(qs: &[u8], d: f32, out: &mut [f32]) {
    for (j, &q) in qs.iter().enumerate() {
        out[j] = d * KVALUES_IQ4NL[(q & 0xF) as usize] as f32;
        out[j + 16] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
    }
}

/// IQ4_NL: x = d * kvalues[q].
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockIQ4NL {
    pub d: u16,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIQ4NL>() == 18);

impl Block for BlockIQ4NL {
    const TYPE: GgmlType = GgmlType::IQ4_NL;
    const ELEMS: usize = QK;
    fn to_f32(&self, out: &mut [f32]) {
        iq4_values(&self.qs, f16_to_f32(self.d), out);
    }
}

/// IQ4_XS: eight IQ4_NL-like sub-blocks of 32 sharing `d`, each with a 6-bit scale (bias 32):
/// its low 4 bits in `scales_l`, its high 2 bits in `scales_h`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockIQ4XS {
    pub d: u16,
    pub scales_h: u16,
    pub scales_l: [u8; QK_K / 64],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIQ4XS>() == 136);

impl BlockIQ4XS {
    /// The unbiased scale of sub-block `ib`.
    pub fn scale(&self, ib: usize) -> i32 {
        let lo = (self.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
        let hi = ((self.scales_h >> (2 * ib)) & 3) as u8;
        (lo | (hi << 4)) as i32 - 32
    }
}

impl Block for BlockIQ4XS {
    const TYPE: GgmlType = GgmlType::IQ4_XS;
    const ELEMS: usize = QK_K;
    fn to_f32(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        for ib in 0..QK_K / 32 {
            let dl = d * self.scale(ib) as f32;
            iq4_values(&self.qs[16 * ib..16 * ib + 16], dl, &mut out[32 * ib..32 * ib + 32]);
        }
    }
}
