//! Each quantized block type, decoded 32 values at a time into signed bytes for the integer dot
//! products, straight from the GGUF block layout (`crate::quant` has the structs and the f32
//! reference decoders these follow; ggml's `ggml-common.h` the layouts).
//!
//! A block's value i is `d · sc[i / 16] · q[i] + ms[i / 16]`, in the terms of [`Chunk`]: the dot
//! product of a chunk with 32 activations `a = da · qa` is then
//! `d · da · Σ_h sc[h] · (q·qa)_h + Σ_h ms[h] · (da · Σ qa)_h`: integers inside, floats once.
//! Types with a minimum multiply unsigned values, which x86 does in one instruction (`maddubs`,
//! `vpdpbusd`) and relaxed SIMD too. Q4_0's and Q5_0's offsets (−8, −16) are minimum terms as well:
//! the kernels sum four rows' minimum terms in one vector, so they cost no more than the signed
//! product natively, and make the product one relaxed-SIMD instruction in the browser. Q6_K's −32
//! (scaled per 16) is subtracted in the vectors: its minimum would differ per half.

use super::simd::{arr16, Simd};
use crate::quant::{k4_scale_min, q3k_scales, GgmlType, KVALUES_IQ4NL};

/// 32 consecutive values of a block.
pub struct Chunk<S: Simd> {
    /// Values 0..16 and 16..32 as signed bytes.
    pub q: [S::I8; 2],
    pub d: f32,
    /// Integer scales of the two halves (1 for the types with one scale per 32).
    pub sc: [i16; 2],
    /// Weights of the two halves' activation sums (only read when the kind's `MIN`).
    pub ms: [f32; 2],
}

/// Takes the chunks of a block. Not a closure: closures are functions of their own, compiled
/// without the target features of the kernel that calls them, so the intrinsics inside would not
/// inline; trait methods marked `#[inline(always)]` do.
pub trait Sink<S: Simd> {
    fn chunk(&mut self, c: usize, ch: Chunk<S>);
}

/// A block type's geometry and decoder.
pub trait Kind {
    const TYPE: GgmlType;
    const BYTES: usize;
    /// Chunks of 32 per block.
    const CHUNKS: usize;
    /// The values lie in 0..=127 (offsets are folded into `ms`), for the one-instruction x86 product.
    const UNSIGNED: bool;
    /// Values carry an offset proportional to a minimum.
    const MIN: bool;
    /// The minimum differs between the halves (else `ms[0]` serves both).
    const MIN16: bool = false;
    /// Every chunk's integer scales are 1 (one float scale per 32 values): the products then
    /// accumulate without a multiply by the scale.
    const UNIT: bool = false;
    /// The values are `q − 32` with `q` in 0..64 (Q6_K): the group kernel multiplies `q` unsigned
    /// (one instruction, no sign moved per product) and subtracts `32 · Σa` per half, exactly.
    const OFFSET32: bool = false;
    /// Calls `f.chunk(chunk index in the block, chunk)` for each chunk of the block `b`.
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>);
}

#[inline(always)]
fn f16<S: Simd>(s: S, b: &[u8], at: usize) -> f32 {
    s.f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// IEEE half to single precision, exact for every input (normals by rebiasing the exponent,
/// subnormals through one float subtraction, infinities and NaNs kept), in plain integer and
/// float operations: `half`'s own conversion is a call that detects F16C at run time, too slow
/// for a scale per 32 values.
#[inline(always)]
pub fn f16_bits_to_f32(h: u16) -> f32 {
    const SHIFTED_EXP: u32 = 0x7c00 << 13;
    let mut o = ((h as u32) & 0x7fff) << 13;
    let exp = o & SHIFTED_EXP;
    o += (127 - 15) << 23;
    if exp == SHIFTED_EXP {
        o += (128 - 16) << 23;
    } else if exp == 0 {
        o += 1 << 23;
        o = (f32::from_bits(o) - f32::from_bits(113 << 23)).to_bits();
    }
    f32::from_bits(o | ((h as u32) & 0x8000) << 16)
}

#[inline(always)]
fn chunk<S: Simd>(q: [S::I8; 2], d: f32) -> Chunk<S> {
    Chunk { q, d, sc: [1, 1], ms: [0.0, 0.0] }
}

/// Low nibbles (values 0..16) and high nibbles (16..32) of 16 bytes.
#[inline(always)]
fn nibbles<S: Simd>(s: S, b: &[u8]) -> [S::I8; 2] {
    let v = s.load(arr16(b));
    [s.and(v, s.splat_i8(0xF)), s.shr_u8::<4>(v)]
}

pub struct Q4_0;
impl Kind for Q4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const BYTES: usize = 18;
    const CHUNKS: usize = 1;
    const UNSIGNED: bool = true;
    const MIN: bool = true;
    const UNIT: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        // The offset of 8 as a minimum term, as Q5_0's.
        let d = f16(s, b, 0);
        f.chunk(0, Chunk { ms: [-8.0 * d, -8.0 * d], ..chunk(nibbles(s, &b[2..18]), d) });
    }
}

pub struct Q4_1;
impl Kind for Q4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const BYTES: usize = 20;
    const CHUNKS: usize = 1;
    const UNSIGNED: bool = true;
    const MIN: bool = true;
    const UNIT: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let m = f16(s, b, 2);
        f.chunk(0, Chunk { ms: [m, m], ..chunk(nibbles(s, &b[4..20]), f16(s, b, 0)) });
    }
}

/// Nibbles with the fifth bit from `qh` (bit i for value i) added as 16.
#[inline(always)]
fn five_bits<S: Simd>(s: S, qh: u32, qs: &[u8]) -> [S::I8; 2] {
    let [lo, hi] = nibbles(s, qs);
    let sixteen = s.splat_i8(16);
    let h0 = s.and(s.bits16(qh as u16), sixteen);
    let h1 = s.and(s.bits16((qh >> 16) as u16), sixteen);
    [s.or(lo, h0), s.or(hi, h1)]
}

pub struct Q5_0;
impl Kind for Q5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const BYTES: usize = 22;
    const CHUNKS: usize = 1;
    const UNSIGNED: bool = true;
    const MIN: bool = true;
    const UNIT: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        // Values 0..32 with the offset of 16 as a minimum term: an unsigned product, one
        // instruction with relaxed SIMD (natively as fast as the signed form, measured).
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let d = f16(s, b, 0);
        f.chunk(0, Chunk { ms: [-16.0 * d, -16.0 * d], ..chunk(five_bits(s, qh, &b[6..22]), d) });
    }
}

pub struct Q5_1;
impl Kind for Q5_1 {
    const TYPE: GgmlType = GgmlType::Q5_1;
    const BYTES: usize = 24;
    const CHUNKS: usize = 1;
    const UNSIGNED: bool = true;
    const MIN: bool = true;
    const UNIT: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let m = f16(s, b, 2);
        f.chunk(0, Chunk { ms: [m, m], ..chunk(five_bits(s, qh, &b[8..24]), f16(s, b, 0)) });
    }
}

pub struct Q8_0;
impl Kind for Q8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const BYTES: usize = 34;
    const CHUNKS: usize = 1;
    const UNSIGNED: bool = false;
    const MIN: bool = false;
    const UNIT: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        f.chunk(0, chunk([s.load(arr16(&b[2..18])), s.load(arr16(&b[18..34]))], f16(s, b, 0)));
    }
}

#[inline(always)]
fn iq4_table<S: Simd>(s: S) -> S::I8 {
    s.load(&KVALUES_IQ4NL.map(|v| v as u8))
}

pub struct IQ4NL;
impl Kind for IQ4NL {
    const TYPE: GgmlType = GgmlType::IQ4_NL;
    const BYTES: usize = 18;
    const CHUNKS: usize = 1;
    const UNSIGNED: bool = false;
    const MIN: bool = false;
    const UNIT: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let t = iq4_table(s);
        let [lo, hi] = nibbles(s, &b[2..18]);
        f.chunk(0, chunk([s.lookup(t, lo), s.lookup(t, hi)], f16(s, b, 0)));
    }
}

pub struct IQ4XS;
impl Kind for IQ4XS {
    const TYPE: GgmlType = GgmlType::IQ4_XS;
    const BYTES: usize = 136;
    const CHUNKS: usize = 8;
    const UNSIGNED: bool = false;
    const MIN: bool = false;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let t = iq4_table(s);
        let d = f16(s, b, 0);
        let scales_h = u16::from_le_bytes([b[2], b[3]]);
        for ib in 0..8 {
            let lo = (b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF;
            let hi = ((scales_h >> (2 * ib)) & 3) as u8;
            let sc = (lo | (hi << 4)) as i32 - 32;
            let [l, h] = nibbles(s, &b[8 + 16 * ib..24 + 16 * ib]);
            f.chunk(ib, chunk([s.lookup(t, l), s.lookup(t, h)], d * sc as f32));
        }
    }
}

/// The 12 packed scale bytes of Q4_K and Q5_K at `b[4..16]`.
#[inline(always)]
fn k_scales(b: &[u8]) -> [u8; 12] {
    b[4..16].try_into().expect("12 bytes")
}

pub struct Q4K;
impl Kind for Q4K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const BYTES: usize = 144;
    const CHUNKS: usize = 8;
    const UNSIGNED: bool = true;
    const MIN: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let (d, dmin) = (f16(s, b, 0), f16(s, b, 2));
        let sc = k_scales(b);
        let mask = s.splat_i8(0xF);
        for j in 0..4 {
            let q = &b[16 + 32 * j..48 + 32 * j];
            let (v0, v1) = (s.load(arr16(q)), s.load(arr16(&q[16..])));
            for (half, q) in [[s.and(v0, mask), s.and(v1, mask)], [s.shr_u8::<4>(v0), s.shr_u8::<4>(v1)]].into_iter().enumerate() {
                let (scale, min) = k4_scale_min(2 * j + half, &sc);
                let m = -dmin * min as f32;
                f.chunk(2 * j + half, Chunk { ms: [m, m], ..chunk(q, d * scale as f32) });
            }
        }
    }
}

pub struct Q5K;
impl Kind for Q5K {
    const TYPE: GgmlType = GgmlType::Q5_K;
    const BYTES: usize = 176;
    const CHUNKS: usize = 8;
    const UNSIGNED: bool = true;
    const MIN: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let (d, dmin) = (f16(s, b, 0), f16(s, b, 2));
        let sc = k_scales(b);
        let mask = s.splat_i8(0xF);
        let sixteen = s.splat_i8(16);
        let (h0, h1) = (s.load(arr16(&b[16..32])), s.load(arr16(&b[32..48])));
        for j in 0..4 {
            let q = &b[48 + 32 * j..80 + 32 * j];
            let (v0, v1) = (s.load(arr16(q)), s.load(arr16(&q[16..])));
            for half in 0..2 {
                let bit = s.splat_i8((1u8 << (2 * j + half)) as i8);
                let high = |h| s.and(s.eq_i8(s.and(h, bit), bit), sixteen);
                let (q0, q1) = if half == 0 { (s.and(v0, mask), s.and(v1, mask)) } else { (s.shr_u8::<4>(v0), s.shr_u8::<4>(v1)) };
                let (scale, min) = k4_scale_min(2 * j + half, &sc);
                let m = -dmin * min as f32;
                f.chunk(2 * j + half, Chunk { ms: [m, m], ..chunk([s.or(q0, high(h0)), s.or(q1, high(h1))], d * scale as f32) });
            }
        }
    }
}

pub struct Q6K;
impl Kind for Q6K {
    const TYPE: GgmlType = GgmlType::Q6_K;
    const BYTES: usize = 210;
    const CHUNKS: usize = 8;
    const UNSIGNED: bool = false;
    const MIN: bool = false;
    const OFFSET32: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let d = f16(s, b, 208);
        let mask = s.splat_i8(0xF);
        let three = s.splat_i8(0x30);
        let bias = s.splat_i8(32);
        for half in 0..2 {
            let ql = &b[64 * half..64 * half + 64];
            let qh = &b[128 + 32 * half..160 + 32 * half];
            let sc = &b[192 + 8 * half..200 + 8 * half];
            let l = [s.load(arr16(ql)), s.load(arr16(&ql[16..])), s.load(arr16(&ql[32..])), s.load(arr16(&ql[48..]))];
            let h = [s.load(arr16(qh)), s.load(arr16(&qh[16..]))];
            for k in 0..4 {
                // Chunk k takes the low (k < 2) or high nibbles of ql[32·(k % 2)..], and bits
                // 2k, 2k+1 of qh moved to bits 4, 5.
                let low = |v| if k < 2 { s.and(v, mask) } else { s.shr_u8::<4>(v) };
                let high = |v| {
                    let v = match k {
                        0 => s.shl_u8::<4>(v),
                        1 => s.shl_u8::<2>(v),
                        2 => v,
                        _ => s.shr_u8::<2>(v),
                    };
                    s.and(v, three)
                };
                let base = 2 * (k % 2);
                let q = [s.sub_i8(s.or(low(l[base]), high(h[0])), bias), s.sub_i8(s.or(low(l[base + 1]), high(h[1])), bias)];
                let scales = [sc[2 * k] as i8 as i16, sc[2 * k + 1] as i8 as i16];
                f.chunk(4 * half + k, Chunk { sc: scales, ..chunk(q, d) });
            }
        }
    }
}

pub struct Q3K;
impl Kind for Q3K {
    const TYPE: GgmlType = GgmlType::Q3_K;
    const BYTES: usize = 110;
    const CHUNKS: usize = 8;
    const UNSIGNED: bool = false;
    const MIN: bool = false;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let d = f16(s, b, 108);
        let scales = q3k_scales(b[96..108].try_into().expect("12 bytes"));
        let (three, four, zero) = (s.splat_i8(3), s.splat_i8(4), s.splat_i8(0));
        let hm = [s.load(arr16(b)), s.load(arr16(&b[16..32]))];
        for half in 0..2 {
            let q = &b[32 + 32 * half..64 + 32 * half];
            let v = [s.load(arr16(q)), s.load(arr16(&q[16..]))];
            for shift in 0..4 {
                let bit = s.splat_i8((1u8 << (4 * half + shift)) as i8);
                let val = |i: usize| {
                    let two = match shift {
                        0 => v[i],
                        1 => s.shr_u8::<2>(v[i]),
                        2 => s.shr_u8::<4>(v[i]),
                        _ => s.shr_u8::<6>(v[i]),
                    };
                    // 4 is subtracted where the high bit is clear.
                    let clear = s.eq_i8(s.and(hm[i], bit), zero);
                    s.sub_i8(s.and(two, three), s.and(clear, four))
                };
                let is = 8 * half + 2 * shift;
                let sc = [scales[is] as i16, scales[is + 1] as i16];
                f.chunk(4 * half + shift, Chunk { sc, ..chunk([val(0), val(1)], d) });
            }
        }
    }
}

pub struct Q2K;
impl Kind for Q2K {
    const TYPE: GgmlType = GgmlType::Q2_K;
    const BYTES: usize = 84;
    const CHUNKS: usize = 8;
    const UNSIGNED: bool = true;
    const MIN: bool = true;
    const MIN16: bool = true;
    #[inline(always)]
    fn for_chunks<S: Simd>(s: S, b: &[u8], f: &mut impl Sink<S>) {
        let (d, dmin) = (f16(s, b, 80), f16(s, b, 82));
        let three = s.splat_i8(3);
        for half in 0..2 {
            let q = &b[16 + 32 * half..48 + 32 * half];
            let v = [s.load(arr16(q)), s.load(arr16(&q[16..]))];
            for shift in 0..4 {
                let val = |i: usize| {
                    let two = match shift {
                        0 => v[i],
                        1 => s.shr_u8::<2>(v[i]),
                        2 => s.shr_u8::<4>(v[i]),
                        _ => s.shr_u8::<6>(v[i]),
                    };
                    s.and(two, three)
                };
                let is = 8 * half + 2 * shift;
                let (s0, s1) = (b[is], b[is + 1]);
                let ms = [-dmin * (s0 >> 4) as f32, -dmin * (s1 >> 4) as f32];
                f.chunk(4 * half + shift, Chunk { q: [val(0), val(1)], d, sc: [(s0 & 0xF) as i16, (s1 & 0xF) as i16], ms });
            }
        }
    }
}
