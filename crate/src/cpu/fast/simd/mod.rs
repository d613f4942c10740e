//! A 128-bit vector abstraction, written against once by every fast CPU kernel: `wasm32` simd128
//! in the browser, SSSE3/SSE4.1 (VEX-encoded under AVX2) natively on x86_64, plain arrays
//! elsewhere. The lane width is fixed at 128 bits on purpose: wasm's is, and the hot loops are
//! shaped for it.
//!
//! A backend is a zero-sized token ([`Simd`]); holding one proves the CPU runs its instructions
//! (the x86 token comes only from run-time detection), so its methods are safe. A kernel is a
//! [`Kernel`], run by [`dispatch`] with the best token, inside a function compiled for that
//! token's target features: every function between the two must be `#[inline(always)]` so that
//! the features reach the intrinsics.

mod portable;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use portable::Portable;

/// The operations the kernels use. `I8` holds 16 signed bytes, `I32` four i32, `F32` four f32.
pub trait Simd: Copy + Send + Sync {
    type I8: Copy;
    type I32: Copy;
    type F32: Copy;

    /// An IEEE half (as bits) to f32.
    #[inline(always)]
    fn f16_to_f32(self, h: u16) -> f32 {
        super::blocks::f16_bits_to_f32(h)
    }
    fn load(self, b: &[u8; 16]) -> Self::I8;
    fn splat_i8(self, v: i8) -> Self::I8;
    fn and(self, a: Self::I8, b: Self::I8) -> Self::I8;
    fn or(self, a: Self::I8, b: Self::I8) -> Self::I8;
    fn add_i8(self, a: Self::I8, b: Self::I8) -> Self::I8;
    fn sub_i8(self, a: Self::I8, b: Self::I8) -> Self::I8;
    /// 0xFF in the lanes where `a == b`, else 0.
    fn eq_i8(self, a: Self::I8, b: Self::I8) -> Self::I8;
    /// Each byte shifted right (logically) by `N` bits.
    fn shr_u8<const N: i32>(self, a: Self::I8) -> Self::I8;
    /// Each byte shifted left by `N` bits.
    fn shl_u8<const N: i32>(self, a: Self::I8) -> Self::I8;
    /// `table[idx[i]]` for indices 0..16.
    fn lookup(self, table: Self::I8, idx: Self::I8) -> Self::I8;
    /// 0xFF in lane `i` where bit `i` of `bits` is set, else 0.
    fn bits16(self, bits: u16) -> Self::I8;
    /// `sc ·` the sum of the 16 byte products `a[i] · b[i]` of signed `a`, as four i32 lanes (which
    /// products go to which lane is the backend's choice: only the lanes' total is meaningful).
    /// `b` must lie in -127..=127.
    fn dot_s(self, a: Self::I8, b: Self::I8, sc: i16) -> Self::I32;
    /// [`Simd::dot_s`] for `a` in 0..=127, which x86 multiplies in one instruction.
    fn dot_u(self, a: Self::I8, b: Self::I8, sc: i16) -> Self::I32;
    /// `acc` plus [`Simd::dot_s`] at scale 1: one instruction where the CPU has a dot product
    /// that accumulates (x86's VNNI).
    #[inline(always)]
    fn dot_add_s(self, acc: Self::I32, a: Self::I8, b: Self::I8) -> Self::I32 {
        self.add_i32(acc, self.dot_s(a, b, 1))
    }
    /// `acc` plus [`Simd::dot_u`] at scale 1.
    #[inline(always)]
    fn dot_add_u(self, acc: Self::I32, a: Self::I8, b: Self::I8) -> Self::I32 {
        self.add_i32(acc, self.dot_u(a, b, 1))
    }

    fn zero_i32(self) -> Self::I32;
    fn add_i32(self, a: Self::I32, b: Self::I32) -> Self::I32;
    fn to_f32(self, a: Self::I32) -> Self::F32;

    fn zero_f32(self) -> Self::F32;
    fn splat_f32(self, v: f32) -> Self::F32;
    fn load_f32(self, v: &[f32; 4]) -> Self::F32;
    fn add_f32(self, a: Self::F32, b: Self::F32) -> Self::F32;
    fn mul_f32(self, a: Self::F32, b: Self::F32) -> Self::F32;
    /// `a * b + c`.
    fn mul_add(self, a: Self::F32, b: Self::F32, c: Self::F32) -> Self::F32;
    fn sum_f32(self, a: Self::F32) -> f32;
    /// The sum of the four lanes (exact: the kernels' sums fit an i32).
    fn hsum_i32(self, a: Self::I32) -> i32;
    /// `a * b + c` rounded as one lane of [`Simd::mul_add`] is (fused where it is), so that a
    /// row computed alone gives the bits of the same row computed in a group of four.
    #[inline(always)]
    fn mul_add_f32(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    fn to_array_f32(self, a: Self::F32) -> [f32; 4];

    // For the elementwise functions (`act.rs`): IEEE-rounded lane by lane on every backend, so that
    // a value's result does not depend on its place in a vector.
    fn sub_f32(self, a: Self::F32, b: Self::F32) -> Self::F32;
    fn div_f32(self, a: Self::F32, b: Self::F32) -> Self::F32;
    /// Lane-wise minimum and maximum (which operand a NaN lane gives is the backend's choice).
    fn min_f32(self, a: Self::F32, b: Self::F32) -> Self::F32;
    fn max_f32(self, a: Self::F32, b: Self::F32) -> Self::F32;
    /// The bits of each float as an i32, and back.
    fn f32_bits(self, a: Self::F32) -> Self::I32;
    fn f32_from_bits(self, a: Self::I32) -> Self::F32;
    /// Each i32 lane shifted left by `N` bits.
    fn shl_i32<const N: i32>(self, a: Self::I32) -> Self::I32;
    fn splat_i32(self, v: i32) -> Self::I32;
    fn store_f32(self, a: Self::F32, out: &mut [f32; 4]);

    /// `acc` plus, in lane `r`, the four products of the bytes at [`QUAD`]`[r]` (`a` in 0..=127):
    /// the group kernels' product of one weight 4-byte group, broadcast, with four activation
    /// rows at once. Where the backend's own lanes sum these bytes, [`Simd::dot_add_u`] is it.
    #[inline(always)]
    fn dot4_add_u(self, acc: Self::I32, a: Self::I8, b: Self::I8) -> Self::I32 {
        self.dot_add_u(acc, a, b)
    }
    /// [`Simd::dot4_add_u`] for signed `a` (`b` in -127..=127).
    #[inline(always)]
    fn dot4_add_s(self, acc: Self::I32, a: Self::I8, b: Self::I8) -> Self::I32 {
        self.dot_add_s(acc, a, b)
    }
    fn mul_i32(self, a: Self::I32, b: Self::I32) -> Self::I32;
    fn sub_i32(self, a: Self::I32, b: Self::I32) -> Self::I32;
    fn load_i32(self, v: &[i32; 4]) -> Self::I32;

    // For the activations' quantization (`q8.rs`).
    /// Each lane rounded to the nearest integer, ties to even (inputs within the i32 range).
    fn round_i32(self, a: Self::F32) -> Self::I32;
    /// The 16 lanes of `v` as bytes, in order (inputs within -128..=127).
    fn pack_i8(self, v: [Self::I32; 4]) -> Self::I8;
    fn store(self, a: Self::I8, out: &mut [u8; 16]);
}

/// The bytes that lane `r` of [`Simd::dot4_add_u`] sums, in the order of the four values of a
/// group: consecutive bytes where the dot product instruction sums four neighbours (x86's, relaxed
/// SIMD's), wasm simd128's two pairs eight apart (its plain product adds the low and high halves'
/// products first). The quantized activations are laid out in this order (`Q8Acts::qs4`).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd"))))]
pub const QUAD: [[usize; 4]; 4] = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]];
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
pub const QUAD: [[usize; 4]; 4] = [[0, 1, 8, 9], [2, 3, 10, 11], [4, 5, 12, 13], [6, 7, 14, 15]];

/// Shuffle indices that copy values `4j..4j + 4` of a 16-byte vector into every lane's [`QUAD`] bytes.
pub const BROADCAST: [[u8; 16]; 4] = {
    let mut t = [[0u8; 16]; 4];
    let mut j = 0;
    while j < 4 {
        let mut r = 0;
        while r < 4 {
            let mut v = 0;
            while v < 4 {
                t[j][QUAD[r][v]] = (4 * j + v) as u8;
                v += 1;
            }
            r += 1;
        }
        j += 1;
    }
    t
};

/// A computation generic over the vector backend.
pub trait Kernel {
    type Out;
    fn run<S: Simd>(self, s: S) -> Self::Out;
}

/// Runs `k` with the best backend this CPU has.
#[inline]
pub fn dispatch<K: Kernel>(k: K) -> K::Out {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(found) = x86::detect() {
            return x86::run(k, found);
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return k.run(wasm::Wasm128);
    }
    #[allow(unreachable_code)]
    k.run(Portable)
}

/// Runs `k` with x86 backend `level` (0 AVX-VNNI, 1 AVX2, 2 SSE4.1) where this CPU has it, so
/// that the conformance tests check every level a CPU can pick, not only the best one here.
#[cfg(all(test, target_arch = "x86_64"))]
pub fn dispatch_at<K: Kernel>(k: K, level: usize) -> Option<K::Out> {
    x86::run_at(k, level)
}

/// Which backend [`dispatch`] picks here (for reports).
pub fn describe() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        match x86::detect() {
            Some(x86::Found::Vnni(_)) => return "x86_64 SSE4.1 (AVX2 encoding, F16C, AVX-VNNI)",
            Some(x86::Found::Avx2(_)) => return "x86_64 SSE4.1 (AVX2 encoding, F16C)",
            Some(x86::Found::Sse41(_)) => return "x86_64 SSE4.1",
            None => {}
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128", target_feature = "relaxed-simd"))]
    {
        return "wasm simd128, relaxed-simd";
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
    {
        return "wasm simd128";
    }
    #[allow(unreachable_code)]
    "portable"
}

/// The first 16 bytes of `b` as an array (panics if shorter: callers slice whole blocks).
#[inline(always)]
pub fn arr16(b: &[u8]) -> &[u8; 16] {
    b[..16].try_into().expect("16 bytes")
}

/// The first 4 floats of `v` as an array.
#[inline(always)]
pub fn arr4(v: &[f32]) -> &[f32; 4] {
    v[..4].try_into().expect("4 floats")
}
