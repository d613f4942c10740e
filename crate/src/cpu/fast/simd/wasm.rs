//! wasm32 simd128 (every browser with WebAssembly SIMD). Built when the crate is compiled with
//! `-C target-feature=+simd128`; otherwise the portable backend runs.

use super::Simd;
use core::arch::wasm32::*;

#[derive(Clone, Copy, Debug)]
pub struct Wasm128;

impl Simd for Wasm128 {
    type I8 = v128;
    type I32 = v128;
    type F32 = v128;

    #[inline(always)]
    fn load(self, b: &[u8; 16]) -> v128 {
        // SAFETY: reads exactly the 16 bytes of `b`; v128_load has no alignment requirement.
        unsafe { v128_load(b.as_ptr() as *const v128) }
    }
    #[inline(always)]
    fn splat_i8(self, v: i8) -> v128 {
        i8x16_splat(v)
    }
    #[inline(always)]
    fn and(self, a: v128, b: v128) -> v128 {
        v128_and(a, b)
    }
    #[inline(always)]
    fn or(self, a: v128, b: v128) -> v128 {
        v128_or(a, b)
    }
    #[inline(always)]
    fn add_i8(self, a: v128, b: v128) -> v128 {
        i8x16_add(a, b)
    }
    #[inline(always)]
    fn sub_i8(self, a: v128, b: v128) -> v128 {
        i8x16_sub(a, b)
    }
    #[inline(always)]
    fn eq_i8(self, a: v128, b: v128) -> v128 {
        i8x16_eq(a, b)
    }
    #[inline(always)]
    fn shr_u8<const N: i32>(self, a: v128) -> v128 {
        u8x16_shr(a, N as u32)
    }
    #[inline(always)]
    fn shl_u8<const N: i32>(self, a: v128) -> v128 {
        i8x16_shl(a, N as u32)
    }
    #[inline(always)]
    fn lookup(self, table: v128, idx: v128) -> v128 {
        i8x16_swizzle(table, idx)
    }
    #[inline(always)]
    fn bits16(self, bits: u16) -> v128 {
        let v = u16x8_splat(bits);
        let spread = i8x16_swizzle(v, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        let mask = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        i8x16_eq(v128_and(spread, mask), mask)
    }
    #[inline(always)]
    fn dot_s(self, a: v128, b: v128, sc: i16) -> v128 {
        // Each i16 product is at most 128·127, so two of them still fit an i16 lane; the i16
        // dot product then scales the pair sums and adds them in pairs.
        let p = i16x8_add(i16x8_extmul_low_i8x16(a, b), i16x8_extmul_high_i8x16(a, b));
        i32x4_dot_i16x8(p, i16x8_splat(sc))
    }
    #[inline(always)]
    fn dot_u(self, a: v128, b: v128, sc: i16) -> v128 {
        self.dot_s(a, b, sc)
    }
    /// With relaxed SIMD, one instruction (`vpdpbusd`, or `pmaddubsw` + `pmaddwd`, on x86; `sdot`
    /// on Arm). Its second operand is read as 7 bits, exact for 0..=127 only: the unsigned values
    /// go there. (A signed product would need its sign moved onto the activations first, as many
    /// instructions as the plain product: the signed types keep it.)
    #[cfg(target_feature = "relaxed-simd")]
    #[inline(always)]
    fn dot_add_u(self, acc: v128, a: v128, b: v128) -> v128 {
        i32x4_relaxed_dot_i8x16_i7x16_add(b, a, acc)
    }
    #[inline(always)]
    fn zero_i32(self) -> v128 {
        i32x4_splat(0)
    }
    #[inline(always)]
    fn add_i32(self, a: v128, b: v128) -> v128 {
        i32x4_add(a, b)
    }
    #[inline(always)]
    fn to_f32(self, a: v128) -> v128 {
        f32x4_convert_i32x4(a)
    }
    #[inline(always)]
    fn zero_f32(self) -> v128 {
        f32x4_splat(0.0)
    }
    #[inline(always)]
    fn splat_f32(self, v: f32) -> v128 {
        f32x4_splat(v)
    }
    #[inline(always)]
    fn load_f32(self, v: &[f32; 4]) -> v128 {
        // SAFETY: reads exactly the four floats of `v`.
        unsafe { v128_load(v.as_ptr() as *const v128) }
    }
    #[inline(always)]
    fn add_f32(self, a: v128, b: v128) -> v128 {
        f32x4_add(a, b)
    }
    #[inline(always)]
    fn mul_f32(self, a: v128, b: v128) -> v128 {
        f32x4_mul(a, b)
    }
    #[inline(always)]
    fn mul_add(self, a: v128, b: v128, c: v128) -> v128 {
        f32x4_add(f32x4_mul(a, b), c)
    }
    #[inline(always)]
    fn sum_f32(self, a: v128) -> f32 {
        (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<2>(a)) + (f32x4_extract_lane::<1>(a) + f32x4_extract_lane::<3>(a))
    }
    #[inline(always)]
    fn hsum_i32(self, a: v128) -> i32 {
        let s = i32x4_add(a, i32x4_shuffle::<2, 3, 0, 1>(a, a));
        i32x4_extract_lane::<0>(i32x4_add(s, i32x4_shuffle::<1, 0, 3, 2>(s, s)))
    }
    #[inline(always)]
    fn to_array_f32(self, a: v128) -> [f32; 4] {
        [f32x4_extract_lane::<0>(a), f32x4_extract_lane::<1>(a), f32x4_extract_lane::<2>(a), f32x4_extract_lane::<3>(a)]
    }
    #[inline(always)]
    fn sub_f32(self, a: v128, b: v128) -> v128 {
        f32x4_sub(a, b)
    }
    #[inline(always)]
    fn div_f32(self, a: v128, b: v128) -> v128 {
        f32x4_div(a, b)
    }
    #[inline(always)]
    fn min_f32(self, a: v128, b: v128) -> v128 {
        f32x4_pmin(a, b)
    }
    #[inline(always)]
    fn max_f32(self, a: v128, b: v128) -> v128 {
        f32x4_pmax(a, b)
    }
    #[inline(always)]
    fn f32_bits(self, a: v128) -> v128 {
        a
    }
    #[inline(always)]
    fn f32_from_bits(self, a: v128) -> v128 {
        a
    }
    #[inline(always)]
    fn shl_i32<const N: i32>(self, a: v128) -> v128 {
        i32x4_shl(a, N as u32)
    }
    #[inline(always)]
    fn splat_i32(self, v: i32) -> v128 {
        i32x4_splat(v)
    }
    #[inline(always)]
    fn store_f32(self, a: v128, out: &mut [f32; 4]) {
        // SAFETY: writes exactly the four floats of `out`.
        unsafe { v128_store(out.as_mut_ptr() as *mut v128, a) }
    }
    #[inline(always)]
    fn mul_i32(self, a: v128, b: v128) -> v128 {
        i32x4_mul(a, b)
    }
    /// Relaxed SIMD's product sums four neighbouring bytes ([`super::QUAD`]), the plain one
    /// pairs eight apart: the signed product (which stays plain, see `dot_add_u`) is regrouped.
    #[cfg(target_feature = "relaxed-simd")]
    #[inline(always)]
    fn dot4_add_s(self, acc: v128, a: v128, b: v128) -> v128 {
        let ones = i16x8_splat(1);
        let lo = i32x4_dot_i16x8(i16x8_extmul_low_i8x16(a, b), ones);
        let hi = i32x4_dot_i16x8(i16x8_extmul_high_i8x16(a, b), ones);
        let quads = i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(lo, hi), i32x4_shuffle::<1, 3, 5, 7>(lo, hi));
        i32x4_add(acc, quads)
    }
    #[inline(always)]
    fn round_i32(self, a: v128) -> v128 {
        i32x4_trunc_sat_f32x4(f32x4_nearest(a))
    }
    #[inline(always)]
    fn pack_i8(self, [a, b, c, d]: [v128; 4]) -> v128 {
        i8x16_narrow_i16x8(i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d))
    }
    #[inline(always)]
    fn store(self, a: v128, out: &mut [u8; 16]) {
        // SAFETY: writes exactly the 16 bytes of `out`.
        unsafe { v128_store(out.as_mut_ptr() as *mut v128, a) }
    }
    #[inline(always)]
    fn sub_i32(self, a: v128, b: v128) -> v128 {
        i32x4_sub(a, b)
    }
    #[inline(always)]
    fn load_i32(self, v: &[i32; 4]) -> v128 {
        // SAFETY: reads exactly the four integers of `v`.
        unsafe { v128_load(v.as_ptr() as *const v128) }
    }
}
