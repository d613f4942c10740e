//! GGUF quantization blocks: one `#[repr(C)]` struct per block type with a compile-time size check
//! and a plain `to_f32`. This is the reference the WGSL decoders are tested against, and it is itself
//! checked against `gguf.quants.dequantize` from the `gguf` Python package (tests/quant_dequant.rs).

mod blocks;
mod iquants;
mod kquants;
pub mod testdata;
mod types;

pub use blocks::*;
pub use iquants::*;
pub use kquants::*;
pub use types::GgmlType;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum QuantError {
    #[error("quant type {0} is not supported")]
    Unsupported(GgmlType),
    #[error("{ty}: {n_bytes} bytes do not hold {n_elements} elements ({expected} bytes expected)")]
    SizeMismatch { ty: GgmlType, n_bytes: usize, n_elements: usize, expected: usize },
}

/// A quantization block: `Self::ELEMS` values stored in `size_of::<Self>()` bytes.
pub trait Block: bytemuck::Pod {
    const TYPE: GgmlType;
    const ELEMS: usize;
    /// Writes the block's `ELEMS` values into `out[..ELEMS]`.
    fn to_f32(&self, out: &mut [f32]);
}

fn decode_all<B: Block>(bytes: &[u8], out: &mut [f32]) {
    let size = std::mem::size_of::<B>();
    for (chunk, o) in bytes.chunks_exact(size).zip(out.chunks_exact_mut(B::ELEMS)) {
        bytemuck::pod_read_unaligned::<B>(chunk).to_f32(o);
    }
}

/// Decodes `bytes` of type `ty` into `out` (whose length is the element count).
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let expected =
        ty.row_bytes(out.len() as u64).ok_or(QuantError::SizeMismatch { ty, n_bytes: bytes.len(), n_elements: out.len(), expected: 0 })?
            as usize;
    if expected != bytes.len() {
        return Err(QuantError::SizeMismatch { ty, n_bytes: bytes.len(), n_elements: out.len(), expected });
    }
    match ty {
        GgmlType::F32 => {
            for (c, o) in bytes.chunks_exact(4).zip(out.iter_mut()) {
                *o = f32::from_le_bytes(c.try_into().unwrap());
            }
        }
        GgmlType::F16 => {
            for (c, o) in bytes.chunks_exact(2).zip(out.iter_mut()) {
                *o = f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
            }
        }
        GgmlType::BF16 => {
            for (c, o) in bytes.chunks_exact(2).zip(out.iter_mut()) {
                *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
            }
        }
        GgmlType::Q4_0 => decode_all::<BlockQ4_0>(bytes, out),
        GgmlType::Q4_1 => decode_all::<BlockQ4_1>(bytes, out),
        GgmlType::Q5_0 => decode_all::<BlockQ5_0>(bytes, out),
        GgmlType::Q5_1 => decode_all::<BlockQ5_1>(bytes, out),
        GgmlType::Q8_0 => decode_all::<BlockQ8_0>(bytes, out),
        GgmlType::Q2_K => decode_all::<BlockQ2K>(bytes, out),
        GgmlType::Q3_K => decode_all::<BlockQ3K>(bytes, out),
        GgmlType::Q4_K => decode_all::<BlockQ4K>(bytes, out),
        GgmlType::Q5_K => decode_all::<BlockQ5K>(bytes, out),
        GgmlType::Q6_K => decode_all::<BlockQ6K>(bytes, out),
        GgmlType::IQ4_NL => decode_all::<BlockIQ4NL>(bytes, out),
        GgmlType::IQ4_XS => decode_all::<BlockIQ4XS>(bytes, out),
        other => return Err(QuantError::Unsupported(other)),
    }
    Ok(())
}

#[inline]
pub fn f16_to_f32(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}
