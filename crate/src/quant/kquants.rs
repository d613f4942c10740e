//! The 256-element "k-quant" super-blocks. Layouts: ggml `ggml-common.h` (block_q2_K …); decoders
//! follow `dequantize_row_q2_K` … in ggml `ggml-quants.c`.

use super::{f16_to_f32, Block, GgmlType};
use bytemuck::{Pod, Zeroable};

pub const QK_K: usize = 256;
pub const K_SCALE_SIZE: usize = 12;

/// Q2_K: 16 sub-blocks of 16, each with a 4-bit scale and 4-bit min; x = d*sc*q - dmin*m.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: u16,
    pub dmin: u16,
}
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);

impl Block for BlockQ2K {
    const TYPE: GgmlType = GgmlType::Q2_K;
    const ELEMS: usize = QK_K;
    fn to_f32(&self, out: &mut [f32]) {
        let (d, dmin) = (f16_to_f32(self.d), f16_to_f32(self.dmin));
        let mut y = 0;
        let mut is = 0;
        for half in 0..2 {
            let q = &self.qs[half * 32..half * 32 + 32];
            for shift in [0, 2, 4, 6] {
                for part in 0..2 {
                    let sc = self.scales[is];
                    is += 1;
                    let (dl, ml) = (d * (sc & 0xF) as f32, dmin * (sc >> 4) as f32);
                    for l in 0..16 {
                        out[y] = dl * ((q[part * 16 + l] >> shift) & 3) as f32 - ml;
                        y += 1;
                    }
                }
            }
        }
    }
}

/// Q3_K: 3-bit values (2 low bits in `qs`, the high bit in `hmask`) with sixteen 6-bit scales.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; K_SCALE_SIZE],
    pub d: u16,
}
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);

/// Unpacks Q3_K's twelve scale bytes into sixteen signed 6-bit scales (bias 32 removed).
pub fn q3k_scales(s: &[u8; K_SCALE_SIZE]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (j, o) in out.iter_mut().enumerate() {
        let low = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 };
        let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        *o = ((low | (high << 4)) as i32 - 32) as i8;
    }
    out
}

impl Block for BlockQ3K {
    const TYPE: GgmlType = GgmlType::Q3_K;
    const ELEMS: usize = QK_K;
    fn to_f32(&self, out: &mut [f32]) {
        let d_all = f16_to_f32(self.d);
        let scales = q3k_scales(&self.scales);
        let mut y = 0;
        let mut is = 0;
        let mut m: u8 = 1;
        for half in 0..2 {
            let q = &self.qs[half * 32..half * 32 + 32];
            for shift in [0, 2, 4, 6] {
                for part in 0..2 {
                    let dl = d_all * scales[is] as f32;
                    is += 1;
                    for l in 0..16 {
                        let i = part * 16 + l;
                        let hi = if self.hmask[i] & m != 0 { 0 } else { 4 };
                        out[y] = dl * (((q[i] >> shift) & 3) as i32 - hi) as f32;
                        y += 1;
                    }
                }
                m <<= 1;
            }
        }
    }
}

/// The j-th (scale, min) pair of the 6-bit packed scales used by Q4_K and Q5_K.
pub fn k4_scale_min(j: usize, q: &[u8; K_SCALE_SIZE]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Q4_K: eight sub-blocks of 32 with 6-bit scale and min; x = d*sc*q - dmin*m.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ4K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; K_SCALE_SIZE],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);

impl Block for BlockQ4K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const ELEMS: usize = QK_K;
    fn to_f32(&self, out: &mut [f32]) {
        let (d, dmin) = (f16_to_f32(self.d), f16_to_f32(self.dmin));
        for chunk in 0..4 {
            let q = &self.qs[chunk * 32..chunk * 32 + 32];
            let (s1, m1) = k4_scale_min(2 * chunk, &self.scales);
            let (s2, m2) = k4_scale_min(2 * chunk + 1, &self.scales);
            let base = chunk * 64;
            for l in 0..32 {
                out[base + l] = d * s1 as f32 * (q[l] & 0xF) as f32 - dmin * m1 as f32;
                out[base + 32 + l] = d * s2 as f32 * (q[l] >> 4) as f32 - dmin * m2 as f32;
            }
        }
    }
}

/// Q5_K: as Q4_K with a fifth bit per value in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ5K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; K_SCALE_SIZE],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);

impl Block for BlockQ5K {
    const TYPE: GgmlType = GgmlType::Q5_K;
    const ELEMS: usize = QK_K;
    fn to_f32(&self, out: &mut [f32]) {
        let (d, dmin) = (f16_to_f32(self.d), f16_to_f32(self.dmin));
        for chunk in 0..4 {
            let q = &self.qs[chunk * 32..chunk * 32 + 32];
            let (s1, m1) = k4_scale_min(2 * chunk, &self.scales);
            let (s2, m2) = k4_scale_min(2 * chunk + 1, &self.scales);
            let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
            let base = chunk * 64;
            for l in 0..32 {
                let h1 = if self.qh[l] & u1 != 0 { 16 } else { 0 };
                let h2 = if self.qh[l] & u2 != 0 { 16 } else { 0 };
                out[base + l] = d * s1 as f32 * ((q[l] & 0xF) + h1) as f32 - dmin * m1 as f32;
                out[base + 32 + l] = d * s2 as f32 * ((q[l] >> 4) + h2) as f32 - dmin * m2 as f32;
            }
        }
    }
}

/// Q6_K: 6-bit values (4 low bits in `ql`, 2 high bits in `qh`) with sixteen signed 8-bit scales.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: u16,
}
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);

impl Block for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6_K;
    const ELEMS: usize = QK_K;
    fn to_f32(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        for half in 0..2 {
            let ql = &self.ql[half * 64..half * 64 + 64];
            let qh = &self.qh[half * 32..half * 32 + 32];
            let sc = &self.scales[half * 8..half * 8 + 8];
            let y = &mut out[half * 128..half * 128 + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                y[l] = d * sc[is] as f32 * q1 as f32;
                y[l + 32] = d * sc[is + 2] as f32 * q2 as f32;
                y[l + 64] = d * sc[is + 4] as f32 * q3 as f32;
                y[l + 96] = d * sc[is + 6] as f32 * q4 as f32;
            }
        }
    }
}
