//! Rows of a quantized matrix against tiles of `NT` quantized activation rows: each weight block is
//! decoded once per tile and reused for every activation row in it (the matrix-matrix product);
//! `NT = 1` is the matrix-vector product.

use super::blocks::{f16_bits_to_f32, Chunk, Kind, Sink};
use super::q8::Q8Acts;
use super::simd::{arr16, arr4, Simd};

/// The running sums of one tile: one float vector per activation row, and the scalar sums of the
/// minimum terms.
struct Tile<'a, S: Simd, const NT: usize> {
    s: S,
    a: &'a Q8Acts,
    t0: usize,
    /// First 32-chunk of the current block, counted over the row.
    c0: usize,
    acc: [S::F32; NT],
    acc_min: [f32; NT],
}

impl<S: Simd, const NT: usize> Tile<'_, S, NT> {
    #[inline(always)]
    fn add<Q: Kind>(&mut self, c: usize, ch: &Chunk<S>) {
        let (s, a) = (self.s, self.a);
        let gc = self.c0 + c;
        let nbc = a.blocks_per_row();
        for t in 0..NT {
            let qa: &[u8] = bytemuck::cast_slice(a.block(self.t0 + t, gc));
            let (a0, a1) = (s.load(arr16(qa)), s.load(arr16(&qa[16..])));
            let p = if Q::UNSIGNED {
                s.add_i32(s.dot_u(ch.q[0], a0, ch.sc[0]), s.dot_u(ch.q[1], a1, ch.sc[1]))
            } else {
                s.add_i32(s.dot_s(ch.q[0], a0, ch.sc[0]), s.dot_s(ch.q[1], a1, ch.sc[1]))
            };
            let i = (self.t0 + t) * nbc + gc;
            self.acc[t] = s.mul_add(s.to_f32(p), s.splat_f32(ch.d * a.d[i]), self.acc[t]);
            if Q::MIN16 {
                self.acc_min[t] += ch.ms[0] * a.s16[2 * i] + ch.ms[1] * a.s16[2 * i + 1];
            } else if Q::MIN {
                self.acc_min[t] += ch.ms[0] * a.s32[i];
            }
        }
    }
}

/// A tile that knows its block type.
struct TileOf<'a, 'b, S: Simd, Q: Kind, const NT: usize>(&'b mut Tile<'a, S, NT>, std::marker::PhantomData<Q>);

impl<S: Simd, Q: Kind, const NT: usize> Sink<S> for TileOf<'_, '_, S, Q, NT> {
    #[inline(always)]
    fn chunk(&mut self, c: usize, ch: Chunk<S>) {
        self.0.add::<Q>(c, &ch);
    }
}

/// `out[t] = Σ_k w[k] · a_t[k]` for the activation rows `t0..t0 + NT`, `row` holding one weight row
/// in `Q`'s blocks.
#[inline(always)]
pub fn dot_quant<S: Simd, Q: Kind, const NT: usize>(s: S, row: &[u8], a: &Q8Acts, t0: usize, out: &mut [f32]) {
    let mut tile = Tile { s, a, t0, c0: 0, acc: [s.zero_f32(); NT], acc_min: [0f32; NT] };
    for (b, blk) in row.chunks_exact(Q::BYTES).enumerate() {
        tile.c0 = b * Q::CHUNKS;
        Q::for_chunks(s, blk, &mut TileOf::<S, Q, NT>(&mut tile, std::marker::PhantomData));
    }
    for (o, (&acc, &m)) in out.iter_mut().zip(tile.acc.iter().zip(&tile.acc_min)) {
        *o = s.sum_f32(acc) + m;
    }
}

/// How the plain-float weight types store a value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FloatKind {
    F32,
    F16,
    BF16,
}

impl FloatKind {
    #[inline(always)]
    fn decode(self, row: &[u8], out: &mut [f32; 32]) {
        match self {
            FloatKind::F32 => {
                for (o, c) in out.iter_mut().zip(row.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            FloatKind::F16 => {
                for (o, c) in out.iter_mut().zip(row.chunks_exact(2)) {
                    *o = f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]]));
                }
            }
            FloatKind::BF16 => {
                for (o, c) in out.iter_mut().zip(row.chunks_exact(2)) {
                    *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
                }
            }
        }
    }
    fn bytes(self) -> usize {
        match self {
            FloatKind::F32 => 4,
            FloatKind::F16 | FloatKind::BF16 => 2,
        }
    }
}

/// The float weight types against f32 activations (`x`: rows of `k`), 32 values at a time; the
/// row's tail past a multiple of 32 is summed plainly.
#[inline(always)]
pub fn dot_float<S: Simd, const NT: usize>(s: S, kind: FloatKind, row: &[u8], x: &[f32], k: usize, t0: usize, out: &mut [f32]) {
    let mut acc = [s.zero_f32(); NT];
    let mut w = [0f32; 32];
    let step = 32 * kind.bytes();
    let whole = k / 32;
    for (b, wb) in row.chunks_exact(step).take(whole).enumerate() {
        kind.decode(wb, &mut w);
        for t in 0..NT {
            let xs = &x[(t0 + t) * k + 32 * b..][..32];
            for j in 0..8 {
                acc[t] = s.mul_add(s.load_f32(arr4(&w[4 * j..])), s.load_f32(arr4(&xs[4 * j..])), acc[t]);
            }
        }
    }
    for t in 0..NT {
        let mut sum = s.sum_f32(acc[t]);
        let xs = &x[(t0 + t) * k..][..k];
        for i in whole * 32..k {
            let mut v = [0f32; 32];
            kind.decode(&row[i * kind.bytes()..(i + 1) * kind.bytes()], &mut v);
            sum += v[0] * xs[i];
        }
        out[t] = sum;
    }
}
