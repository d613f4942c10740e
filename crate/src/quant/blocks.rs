//! The 32-element block types. Layouts: ggml `ggml-common.h` (block_q4_0 …); decoders follow
//! `dequantize_row_q4_0` … in ggml `ggml-quants.c`. `d`/`m` are f16 stored as raw bits.

use super::{f16_to_f32, Block, GgmlType};
use bytemuck::{Pod, Zeroable};

pub const QK: usize = 32;

/// Q4_0: x = (q - 8) * d, low nibbles are elements 0..16, high nibbles 16..32.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ4_0 {
    pub d: u16,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);

impl Block for BlockQ4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const ELEMS: usize = QK;
    fn to_f32(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        for j in 0..QK / 2 {
            out[j] = ((self.qs[j] & 0xF) as i32 - 8) as f32 * d;
            out[j + QK / 2] = ((self.qs[j] >> 4) as i32 - 8) as f32 * d;
        }
    }
}

/// Q4_1: x = q * d + m.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ4_1 {
    pub d: u16,
    pub m: u16,
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);

impl Block for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const ELEMS: usize = QK;
    fn to_f32(&self, out: &mut [f32]) {
        let (d, m) = (f16_to_f32(self.d), f16_to_f32(self.m));
        for j in 0..QK / 2 {
            out[j] = (self.qs[j] & 0xF) as f32 * d + m;
            out[j + QK / 2] = (self.qs[j] >> 4) as f32 * d + m;
        }
    }
}

/// The fifth bit of element `j` of a Q5 block, already shifted to bit 4.
fn q5_high_bits(qh: [u8; 4], j: usize) -> (u8, u8) {
    let qh = u32::from_le_bytes(qh);
    let lo = (((qh >> j) << 4) & 0x10) as u8;
    let hi = ((qh >> (j + 12)) & 0x10) as u8;
    (lo, hi)
}

/// Q5_0: x = (q5 - 16) * d, the fifth bits packed in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ5_0 {
    pub d: u16,
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

impl Block for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const ELEMS: usize = QK;
    fn to_f32(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        for j in 0..QK / 2 {
            let (h0, h1) = q5_high_bits(self.qh, j);
            out[j] = (((self.qs[j] & 0xF) | h0) as i32 - 16) as f32 * d;
            out[j + QK / 2] = (((self.qs[j] >> 4) | h1) as i32 - 16) as f32 * d;
        }
    }
}

/// Q5_1: x = q5 * d + m.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ5_1 {
    pub d: u16,
    pub m: u16,
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);

impl Block for BlockQ5_1 {
    const TYPE: GgmlType = GgmlType::Q5_1;
    const ELEMS: usize = QK;
    fn to_f32(&self, out: &mut [f32]) {
        let (d, m) = (f16_to_f32(self.d), f16_to_f32(self.m));
        for j in 0..QK / 2 {
            let (h0, h1) = q5_high_bits(self.qh, j);
            out[j] = ((self.qs[j] & 0xF) | h0) as f32 * d + m;
            out[j + QK / 2] = ((self.qs[j] >> 4) | h1) as f32 * d + m;
        }
    }
}

/// Q8_0: x = q * d with signed bytes.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BlockQ8_0 {
    pub d: u16,
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);

impl Block for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const ELEMS: usize = QK;
    fn to_f32(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        for (o, &q) in out.iter_mut().zip(&self.qs) {
            *o = q as f32 * d;
        }
    }
}
