//! Rows of a quantized matrix against quantized activation rows: [`dot_groups`] for whole groups
//! of four activation rows (the matrix-matrix product), [`dot_quant`] for the rest, `NT` rows per
//! decoded block (one in decode, the matrix-vector product).

use super::blocks::{f16_bits_to_f32, Chunk, Kind, Sink};
use super::q8::Q8Acts;
use super::simd::{arr16, arr4, Simd, BROADCAST};

/// The running sums of `NT` activation rows, row by row. Every output is summed in the same order
/// of float operations whichever way its activation row is taken (in a group of four by
/// [`dot_groups`], alone, or decoded one token at a time): per block, the exact integer product
/// converted, times `d · da`, added (fused where the backend fuses), then the minimum terms. So a
/// prompt gives the same bits whether it is run in one batch, split, or partly reused from the
/// cache, and a seeded draw the same token.
struct Tile<'a, S: Simd, const NT: usize> {
    s: S,
    a: &'a Q8Acts,
    t0: usize,
    /// First 32-chunk of the current block, counted over the row.
    c0: usize,
    /// Each row's running sum.
    acc1: [f32; NT],
}

impl<S: Simd, const NT: usize> Tile<'_, S, NT> {
    #[inline(always)]
    fn product<Q: Kind>(&self, ch: &Chunk<S>, a0: S::I8, a1: S::I8) -> S::I32 {
        let s = self.s;
        match (Q::UNIT, Q::UNSIGNED) {
            (true, true) => s.dot_add_u(s.dot_add_u(s.zero_i32(), ch.q[0], a0), ch.q[1], a1),
            (true, false) => s.dot_add_s(s.dot_add_s(s.zero_i32(), ch.q[0], a0), ch.q[1], a1),
            (false, true) => s.add_i32(s.dot_u(ch.q[0], a0, ch.sc[0]), s.dot_u(ch.q[1], a1, ch.sc[1])),
            (false, false) => s.add_i32(s.dot_s(ch.q[0], a0, ch.sc[0]), s.dot_s(ch.q[1], a1, ch.sc[1])),
        }
    }

    #[inline(always)]
    fn add<Q: Kind>(&mut self, c: usize, ch: &Chunk<S>) {
        let (s, a) = (self.s, self.a);
        let gc = self.c0 + c;
        let nbc = a.blocks_per_row();
        for t in 0..NT {
            let qa: &[u8] = bytemuck::cast_slice(a.block(self.t0 + t, gc));
            let (a0, a1) = (s.load(arr16(qa)), s.load(arr16(&qa[16..])));
            let p = self.product::<Q>(ch, a0, a1);
            let i = (self.t0 + t) * nbc + gc;
            let mut acc = s.mul_add_f32(s.hsum_i32(p) as f32, ch.d * a.d[i], self.acc1[t]);
            if Q::MIN16 {
                acc = s.mul_add_f32(ch.ms[0], a.s16[2 * i], acc);
                acc = s.mul_add_f32(ch.ms[1], a.s16[2 * i + 1], acc);
            } else if Q::MIN {
                acc = s.mul_add_f32(ch.ms[0], a.s32[i], acc);
            }
            self.acc1[t] = acc;
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
    let mut tile = Tile { s, a, t0, c0: 0, acc1: [0f32; NT] };
    for (b, blk) in row.chunks_exact(Q::BYTES).enumerate() {
        tile.c0 = b * Q::CHUNKS;
        Q::for_chunks(s, blk, &mut TileOf::<S, Q, NT>(&mut tile, std::marker::PhantomData));
    }
    out[..NT].copy_from_slice(&tile.acc1);
}

/// One weight row against every whole group of four activation rows, a block at a time: each
/// 4-byte group of a decoded chunk is broadcast to the four lanes once, and a dot product
/// instruction with an interleaved activation vector (`Q8Acts::qs4`) then gives four rows'
/// partial sums in four lanes, so the weights are decoded once per row (not per tile) and
/// nothing is reduced across lanes. The float work per block and group is the grouped tile's, in
/// the order of [`Tile`]'s: the bits are those of a row computed alone.
struct Groups<'a, S: Simd, Q: Kind> {
    s: S,
    a: &'a Q8Acts,
    /// First 32-chunk of the current block, counted over the row.
    c0: usize,
    /// Group `g`'s four running sums.
    acc: &'a mut [S::F32],
    _q: std::marker::PhantomData<Q>,
}

/// `acc` plus the products of `w` (a weight 4-byte group in every lane) with four rows' `a`.
#[inline(always)]
fn dot4<S: Simd, Q: Kind>(s: S, acc: S::I32, w: S::I8, a: &[u8]) -> S::I32 {
    if Q::UNSIGNED || Q::OFFSET32 {
        s.dot4_add_u(acc, w, s.load(arr16(a)))
    } else {
        s.dot4_add_s(acc, w, s.load(arr16(a)))
    }
}

impl<S: Simd, Q: Kind> Sink<S> for Groups<'_, S, Q> {
    #[inline(always)]
    fn chunk(&mut self, c: usize, ch: Chunk<S>) {
        let (s, a) = (self.s, self.a);
        let gc = self.c0 + c;
        let q = if Q::OFFSET32 { ch.q.map(|q| s.add_i8(q, s.splat_i8(32))) } else { ch.q };
        let mut w = [s.splat_i8(0); 8];
        for (j, wj) in w.iter_mut().enumerate() {
            *wj = s.lookup(q[j / 4], s.load(&BROADCAST[j % 4]));
        }
        let d = s.splat_f32(ch.d);
        // Where the two halves share a scale (Q4_K, Q5_K, IQ4_XS), one multiply for both.
        let one_scale = ch.sc[0] == ch.sc[1];
        let (sc0, sc1) = (s.splat_i32(ch.sc[0] as i32), s.splat_i32(ch.sc[1] as i32));
        // This chunk's part of every group, sliced once: no bounds checks in the loop.
        let groups = self.acc.len();
        let qa = &a.qs4_bytes()[gc * groups * 128..][..groups * 128];
        let at = a.at4(0, gc);
        let (d4, s4) = (&a.d4[at..][..groups * 4], &a.s4[at..][..groups * 4]);
        let sums = if Q::OFFSET32 { &a.sum32_4[2 * at..][..groups * 8] } else { &[][..] };
        for (g, (((acc, qa), da), sa)) in
            self.acc.iter_mut().zip(qa.chunks_exact(128)).zip(d4.chunks_exact(4)).zip(s4.chunks_exact(4)).enumerate()
        {
            // The two halves as two chains (each half's own scale where the type has them).
            let (mut p0, mut p1) = (s.zero_i32(), s.zero_i32());
            for j in 0..4 {
                p0 = dot4::<S, Q>(s, p0, w[j], &qa[16 * j..]);
                p1 = dot4::<S, Q>(s, p1, w[j + 4], &qa[16 * (j + 4)..]);
            }
            if Q::OFFSET32 {
                p0 = s.sub_i32(p0, s.load_i32(sums[8 * g..8 * g + 4].try_into().expect("4 sums")));
                p1 = s.sub_i32(p1, s.load_i32(sums[8 * g + 4..8 * g + 8].try_into().expect("4 sums")));
            }
            let p = if Q::UNIT {
                s.add_i32(p0, p1)
            } else if one_scale {
                s.mul_i32(s.add_i32(p0, p1), sc0)
            } else {
                s.add_i32(s.mul_i32(p0, sc0), s.mul_i32(p1, sc1))
            };
            let scale = s.mul_f32(d, s.load_f32(arr4(da)));
            *acc = s.mul_add(s.to_f32(p), scale, *acc);
            if Q::MIN {
                *acc = s.mul_add(s.splat_f32(ch.ms[0]), s.load_f32(arr4(sa)), *acc);
            }
        }
    }
}

/// `acc[g]` = row `row` (in `Q`'s blocks) times the activation rows `4g..4g + 4`, for every whole
/// group of four (not for Q2_K's per-16 minimums, which go row by row).
#[inline(always)]
pub fn dot_groups<S: Simd, Q: Kind>(s: S, row: &[u8], a: &Q8Acts, acc: &mut [S::F32]) {
    debug_assert!(!Q::MIN16 && acc.len() == a.groups());
    for v in acc.iter_mut() {
        *v = s.zero_f32();
    }
    let mut sink = Groups::<S, Q> { s, a, c0: 0, acc, _q: std::marker::PhantomData };
    for (b, blk) in row.chunks_exact(Q::BYTES).enumerate() {
        sink.c0 = b * Q::CHUNKS;
        Q::for_chunks(s, blk, &mut sink);
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
