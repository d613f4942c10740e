//! SSSE3 / SSE4.1 on x86_64, chosen at run time. Under AVX2 the same 128-bit code is compiled with
//! VEX encodings (three-operand forms, no register copies); the lane width stays 128 as in wasm.
//! With AVX-VNNI the byte dot products that accumulate are one instruction (`vpdpbusd` on 128-bit
//! registers) instead of three.

use super::{Kernel, Simd};
use std::arch::x86_64::*;

/// Proof that the CPU has SSSE3 and SSE4.1, with `AVX2` also AVX2, F16C and FMA, with `VNNI` also
/// AVX-VNNI (made only by [`detect`]).
#[derive(Clone, Copy, Debug)]
pub struct Sse<const AVX2: bool, const VNNI: bool> {
    _private: (),
}

/// What [`detect`] found.
#[derive(Clone, Copy, Debug)]
pub enum Found {
    Vnni(Sse<true, true>),
    Avx2(Sse<true, false>),
    Sse41(Sse<false, false>),
}

/// The backend of `level` (0 AVX-VNNI, 1 AVX2, 2 SSE4.1) where this CPU has its features.
fn at_level(level: usize) -> Option<Found> {
    let sse = is_x86_feature_detected!("ssse3") && is_x86_feature_detected!("sse4.1");
    let avx2 = sse && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c") && is_x86_feature_detected!("fma");
    match level {
        0 if avx2 && is_x86_feature_detected!("avxvnni") => Some(Found::Vnni(Sse { _private: () })),
        1 if avx2 => Some(Found::Avx2(Sse { _private: () })),
        2 if sse => Some(Found::Sse41(Sse { _private: () })),
        _ => None,
    }
}

/// The best backend this CPU has; asked for every kernel run, so the answer is kept.
pub fn detect() -> Option<Found> {
    static FOUND: std::sync::OnceLock<Option<Found>> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        // GGUF_WEB_NO_VNNI=1: the AVX2 kernels on a CPU with VNNI (to compare the two).
        let first = if std::env::var_os("GGUF_WEB_NO_VNNI").is_some() { 1 } else { 0 };
        (first..3).find_map(at_level)
    })
}

/// [`run`] at a level below the best (see `dispatch_at`).
#[cfg(test)]
pub fn run_at<K: Kernel>(k: K, level: usize) -> Option<K::Out> {
    Some(run(k, at_level(level)?))
}

pub fn run<K: Kernel>(k: K, found: Found) -> K::Out {
    // SAFETY: the tokens exist only where detection found these features.
    unsafe {
        match found {
            Found::Vnni(s) => run_vnni(k, s),
            Found::Avx2(s) => run_avx2(k, s),
            Found::Sse41(s) => run_sse41(k, s),
        }
    }
}

#[target_feature(enable = "avx2,f16c,fma,ssse3,sse4.1,avxvnni")]
unsafe fn run_vnni<K: Kernel>(k: K, s: Sse<true, true>) -> K::Out {
    k.run(s)
}

#[target_feature(enable = "avx2,f16c,fma,ssse3,sse4.1")]
unsafe fn run_avx2<K: Kernel>(k: K, s: Sse<true, false>) -> K::Out {
    k.run(s)
}

#[target_feature(enable = "ssse3,sse4.1")]
unsafe fn run_sse41<K: Kernel>(k: K, s: Sse<false, false>) -> K::Out {
    k.run(s)
}

// SAFETY (every `unsafe` block below): the intrinsics need at most SSSE3 and SSE4.1, which the
// `Sse` token proves (F16C and FMA where `AVX2`, AVX-VNNI where `VNNI`); loads read exactly the array they
// are given.
impl<const AVX2: bool, const VNNI: bool> Simd for Sse<AVX2, VNNI> {
    type I8 = __m128i;
    type I32 = __m128i;
    type F32 = __m128;

    #[inline(always)]
    fn f16_to_f32(self, h: u16) -> f32 {
        if AVX2 {
            unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32))) }
        } else {
            crate::cpu::fast::blocks::f16_bits_to_f32(h)
        }
    }
    #[inline(always)]
    fn load(self, b: &[u8; 16]) -> __m128i {
        unsafe { _mm_loadu_si128(b.as_ptr() as *const __m128i) }
    }
    #[inline(always)]
    fn splat_i8(self, v: i8) -> __m128i {
        unsafe { _mm_set1_epi8(v) }
    }
    #[inline(always)]
    fn and(self, a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_and_si128(a, b) }
    }
    #[inline(always)]
    fn or(self, a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_or_si128(a, b) }
    }
    #[inline(always)]
    fn add_i8(self, a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_add_epi8(a, b) }
    }
    #[inline(always)]
    fn sub_i8(self, a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_sub_epi8(a, b) }
    }
    #[inline(always)]
    fn eq_i8(self, a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_cmpeq_epi8(a, b) }
    }
    #[inline(always)]
    fn shr_u8<const N: i32>(self, a: __m128i) -> __m128i {
        // 16-bit shifts, then the bits that crossed from the neighbouring byte are masked off.
        unsafe { _mm_and_si128(_mm_srli_epi16::<N>(a), _mm_set1_epi8((0xFFu8 >> N) as i8)) }
    }
    #[inline(always)]
    fn shl_u8<const N: i32>(self, a: __m128i) -> __m128i {
        unsafe { _mm_and_si128(_mm_slli_epi16::<N>(a), _mm_set1_epi8((0xFFu8 << N) as i8)) }
    }
    #[inline(always)]
    fn lookup(self, table: __m128i, idx: __m128i) -> __m128i {
        unsafe { _mm_shuffle_epi8(table, idx) }
    }
    #[inline(always)]
    fn bits16(self, bits: u16) -> __m128i {
        unsafe {
            let v = _mm_set1_epi16(bits as i16);
            let spread = _mm_shuffle_epi8(v, _mm_set_epi64x(0x0101_0101_0101_0101, 0));
            let mask = _mm_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
            _mm_cmpeq_epi8(_mm_and_si128(spread, mask), mask)
        }
    }
    #[inline(always)]
    fn dot_s(self, a: __m128i, b: __m128i, sc: i16) -> __m128i {
        // maddubs multiplies unsigned by signed bytes: |a| times b with a's sign moved onto b.
        unsafe { self.dot_u(_mm_sign_epi8(a, a), _mm_sign_epi8(b, a), sc) }
    }
    #[inline(always)]
    fn dot_u(self, a: __m128i, b: __m128i, sc: i16) -> __m128i {
        // Pairs sum to at most 2·128·127 < 2^15, so maddubs never saturates; madd then scales
        // the pair sums and adds them in pairs.
        unsafe { _mm_madd_epi16(_mm_maddubs_epi16(a, b), _mm_set1_epi16(sc)) }
    }
    #[inline(always)]
    fn dot_add_s(self, acc: __m128i, a: __m128i, b: __m128i) -> __m128i {
        if VNNI {
            // Unsigned times signed bytes, four products per lane, added to acc.
            unsafe { _mm_dpbusd_avx_epi32(acc, _mm_sign_epi8(a, a), _mm_sign_epi8(b, a)) }
        } else {
            self.add_i32(acc, self.dot_s(a, b, 1))
        }
    }
    #[inline(always)]
    fn dot_add_u(self, acc: __m128i, a: __m128i, b: __m128i) -> __m128i {
        if VNNI {
            unsafe { _mm_dpbusd_avx_epi32(acc, a, b) }
        } else {
            self.add_i32(acc, self.dot_u(a, b, 1))
        }
    }
    #[inline(always)]
    fn zero_i32(self) -> __m128i {
        unsafe { _mm_setzero_si128() }
    }
    #[inline(always)]
    fn add_i32(self, a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_add_epi32(a, b) }
    }
    #[inline(always)]
    fn to_f32(self, a: __m128i) -> __m128 {
        unsafe { _mm_cvtepi32_ps(a) }
    }
    #[inline(always)]
    fn zero_f32(self) -> __m128 {
        unsafe { _mm_setzero_ps() }
    }
    #[inline(always)]
    fn splat_f32(self, v: f32) -> __m128 {
        unsafe { _mm_set1_ps(v) }
    }
    #[inline(always)]
    fn load_f32(self, v: &[f32; 4]) -> __m128 {
        unsafe { _mm_loadu_ps(v.as_ptr()) }
    }
    #[inline(always)]
    fn add_f32(self, a: __m128, b: __m128) -> __m128 {
        unsafe { _mm_add_ps(a, b) }
    }
    #[inline(always)]
    fn mul_f32(self, a: __m128, b: __m128) -> __m128 {
        unsafe { _mm_mul_ps(a, b) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m128, b: __m128, c: __m128) -> __m128 {
        if AVX2 {
            unsafe { _mm_fmadd_ps(a, b, c) }
        } else {
            unsafe { _mm_add_ps(_mm_mul_ps(a, b), c) }
        }
    }
    #[inline(always)]
    fn hsum_i32(self, a: __m128i) -> i32 {
        unsafe {
            let s = _mm_add_epi32(a, _mm_shuffle_epi32::<0x4E>(a));
            _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<0xB1>(s)))
        }
    }
    #[inline(always)]
    fn mul_add_f32(self, a: f32, b: f32, c: f32) -> f32 {
        if AVX2 {
            unsafe { _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c))) }
        } else {
            a * b + c
        }
    }
    #[inline(always)]
    fn to_array_f32(self, a: __m128) -> [f32; 4] {
        let mut out = [0f32; 4];
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), a) };
        out
    }
    #[inline(always)]
    fn sum_f32(self, a: __m128) -> f32 {
        unsafe {
            let hi = _mm_movehl_ps(a, a);
            let s = _mm_add_ps(a, hi);
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
        }
    }
    #[inline(always)]
    fn sub_f32(self, a: __m128, b: __m128) -> __m128 {
        unsafe { _mm_sub_ps(a, b) }
    }
    #[inline(always)]
    fn div_f32(self, a: __m128, b: __m128) -> __m128 {
        unsafe { _mm_div_ps(a, b) }
    }
    #[inline(always)]
    fn min_f32(self, a: __m128, b: __m128) -> __m128 {
        unsafe { _mm_min_ps(a, b) }
    }
    #[inline(always)]
    fn max_f32(self, a: __m128, b: __m128) -> __m128 {
        unsafe { _mm_max_ps(a, b) }
    }
    #[inline(always)]
    fn f32_bits(self, a: __m128) -> __m128i {
        unsafe { _mm_castps_si128(a) }
    }
    #[inline(always)]
    fn f32_from_bits(self, a: __m128i) -> __m128 {
        unsafe { _mm_castsi128_ps(a) }
    }
    #[inline(always)]
    fn shl_i32<const N: i32>(self, a: __m128i) -> __m128i {
        unsafe { _mm_slli_epi32::<N>(a) }
    }
    #[inline(always)]
    fn splat_i32(self, v: i32) -> __m128i {
        unsafe { _mm_set1_epi32(v) }
    }
    #[inline(always)]
    fn store_f32(self, a: __m128, out: &mut [f32; 4]) {
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), a) }
    }
    #[inline(always)]
    fn mul_i32(self, a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_mullo_epi32(a, b) }
    }
    #[inline(always)]
    fn round_i32(self, a: __m128) -> __m128i {
        // MXCSR's rounding, which Rust leaves at its default: to nearest, ties to even.
        unsafe { _mm_cvtps_epi32(a) }
    }
    #[inline(always)]
    fn pack_i8(self, [a, b, c, d]: [__m128i; 4]) -> __m128i {
        unsafe { _mm_packs_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)) }
    }
    #[inline(always)]
    fn store(self, a: __m128i, out: &mut [u8; 16]) {
        unsafe { _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, a) }
    }
    #[inline(always)]
    fn sub_i32(self, a: __m128i, b: __m128i) -> __m128i {
        unsafe { _mm_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn load_i32(self, v: &[i32; 4]) -> __m128i {
        unsafe { _mm_loadu_si128(v.as_ptr() as *const __m128i) }
    }
}
