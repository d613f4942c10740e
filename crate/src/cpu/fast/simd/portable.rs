//! The plain-array backend: any target, and the reference the vector backends are tested against.

use super::Simd;

#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

impl Simd for Portable {
    type I8 = [i8; 16];
    type I32 = [i32; 4];
    type F32 = [f32; 4];

    #[inline(always)]
    fn load(self, b: &[u8; 16]) -> [i8; 16] {
        b.map(|x| x as i8)
    }
    #[inline(always)]
    fn splat_i8(self, v: i8) -> [i8; 16] {
        [v; 16]
    }
    #[inline(always)]
    fn and(self, a: [i8; 16], b: [i8; 16]) -> [i8; 16] {
        std::array::from_fn(|i| a[i] & b[i])
    }
    #[inline(always)]
    fn or(self, a: [i8; 16], b: [i8; 16]) -> [i8; 16] {
        std::array::from_fn(|i| a[i] | b[i])
    }
    #[inline(always)]
    fn add_i8(self, a: [i8; 16], b: [i8; 16]) -> [i8; 16] {
        std::array::from_fn(|i| a[i].wrapping_add(b[i]))
    }
    #[inline(always)]
    fn sub_i8(self, a: [i8; 16], b: [i8; 16]) -> [i8; 16] {
        std::array::from_fn(|i| a[i].wrapping_sub(b[i]))
    }
    #[inline(always)]
    fn eq_i8(self, a: [i8; 16], b: [i8; 16]) -> [i8; 16] {
        std::array::from_fn(|i| if a[i] == b[i] { -1 } else { 0 })
    }
    #[inline(always)]
    fn shr_u8<const N: i32>(self, a: [i8; 16]) -> [i8; 16] {
        a.map(|x| ((x as u8) >> N) as i8)
    }
    #[inline(always)]
    fn shl_u8<const N: i32>(self, a: [i8; 16]) -> [i8; 16] {
        a.map(|x| ((x as u8) << N) as i8)
    }
    #[inline(always)]
    fn lookup(self, table: [i8; 16], idx: [i8; 16]) -> [i8; 16] {
        idx.map(|i| table[(i & 15) as usize])
    }
    #[inline(always)]
    fn bits16(self, bits: u16) -> [i8; 16] {
        std::array::from_fn(|i| if bits >> i & 1 != 0 { -1 } else { 0 })
    }
    #[inline(always)]
    fn dot_s(self, a: [i8; 16], b: [i8; 16], sc: i16) -> [i32; 4] {
        std::array::from_fn(|l| (0..4).map(|j| a[4 * l + j] as i32 * b[4 * l + j] as i32).sum::<i32>() * sc as i32)
    }
    #[inline(always)]
    fn dot_u(self, a: [i8; 16], b: [i8; 16], sc: i16) -> [i32; 4] {
        self.dot_s(a, b, sc)
    }
    #[inline(always)]
    fn zero_i32(self) -> [i32; 4] {
        [0; 4]
    }
    #[inline(always)]
    fn add_i32(self, a: [i32; 4], b: [i32; 4]) -> [i32; 4] {
        std::array::from_fn(|i| a[i].wrapping_add(b[i]))
    }
    #[inline(always)]
    fn to_f32(self, a: [i32; 4]) -> [f32; 4] {
        a.map(|x| x as f32)
    }
    #[inline(always)]
    fn zero_f32(self) -> [f32; 4] {
        [0.0; 4]
    }
    #[inline(always)]
    fn splat_f32(self, v: f32) -> [f32; 4] {
        [v; 4]
    }
    #[inline(always)]
    fn load_f32(self, v: &[f32; 4]) -> [f32; 4] {
        *v
    }
    #[inline(always)]
    fn add_f32(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    fn mul_f32(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i] * b[i])
    }
    #[inline(always)]
    fn mul_add(self, a: [f32; 4], b: [f32; 4], c: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn sum_f32(self, a: [f32; 4]) -> f32 {
        (a[0] + a[2]) + (a[1] + a[3])
    }
    #[inline(always)]
    fn hsum_i32(self, a: [i32; 4]) -> i32 {
        a.iter().fold(0i32, |s, &v| s.wrapping_add(v))
    }
    #[inline(always)]
    fn to_array_f32(self, a: [f32; 4]) -> [f32; 4] {
        a
    }
    #[inline(always)]
    fn sub_f32(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i] - b[i])
    }
    #[inline(always)]
    fn div_f32(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i] / b[i])
    }
    #[inline(always)]
    fn min_f32(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| if a[i] < b[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    fn max_f32(self, a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| if a[i] > b[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    fn f32_bits(self, a: [f32; 4]) -> [i32; 4] {
        a.map(|v| v.to_bits() as i32)
    }
    #[inline(always)]
    fn f32_from_bits(self, a: [i32; 4]) -> [f32; 4] {
        a.map(|v| f32::from_bits(v as u32))
    }
    #[inline(always)]
    fn shl_i32<const N: i32>(self, a: [i32; 4]) -> [i32; 4] {
        a.map(|v| v.wrapping_shl(N as u32))
    }
    #[inline(always)]
    fn splat_i32(self, v: i32) -> [i32; 4] {
        [v; 4]
    }
    #[inline(always)]
    fn store_f32(self, a: [f32; 4], out: &mut [f32; 4]) {
        *out = a;
    }
    #[inline(always)]
    fn mul_i32(self, a: [i32; 4], b: [i32; 4]) -> [i32; 4] {
        std::array::from_fn(|i| a[i].wrapping_mul(b[i]))
    }
    #[inline(always)]
    fn dot4_add_u(self, acc: [i32; 4], a: [i8; 16], b: [i8; 16]) -> [i32; 4] {
        self.dot4_add_s(acc, a, b)
    }
    #[inline(always)]
    fn dot4_add_s(self, acc: [i32; 4], a: [i8; 16], b: [i8; 16]) -> [i32; 4] {
        std::array::from_fn(|r| acc[r].wrapping_add(super::QUAD[r].iter().map(|&i| a[i] as i32 * b[i] as i32).sum::<i32>()))
    }
    #[inline(always)]
    fn round_i32(self, a: [f32; 4]) -> [i32; 4] {
        a.map(|v| v.round_ties_even() as i32)
    }
    #[inline(always)]
    fn pack_i8(self, v: [[i32; 4]; 4]) -> [i8; 16] {
        std::array::from_fn(|i| v[i / 4][i % 4].clamp(-128, 127) as i8)
    }
    #[inline(always)]
    fn store(self, a: [i8; 16], out: &mut [u8; 16]) {
        *out = a.map(|v| v as u8);
    }
    #[inline(always)]
    fn sub_i32(self, a: [i32; 4], b: [i32; 4]) -> [i32; 4] {
        std::array::from_fn(|i| a[i].wrapping_sub(b[i]))
    }
    #[inline(always)]
    fn load_i32(self, v: &[i32; 4]) -> [i32; 4] {
        *v
    }
}
