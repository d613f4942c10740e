//! Activations quantized to 8 bits for the integer dot products, once per matrix product and
//! shared by every matrix that reads the same input (q, k and v; gate and up).
//!
//! One format serves every weight type: blocks of 32 values with an f32 scale `d = max|x| / 127`
//! and `q = round(x / d)` (ggml's `quantize_row_q8_0`, with the scale kept in f32), plus for
//! each half-block of 16 the scaled sum `d · Σq` (ggml's q8_1 `s`, at the finer grain that Q2_K's
//! per-16 minimums need). Finer than ggml's q8_K for the k-quants (one scale per 32, not 256), so
//! never less accurate than llama.cpp.

use super::simd::QUAD;

/// `n` rows of `k` values each (`k` a multiple of 32).
#[derive(Default)]
pub struct Q8Acts {
    pub k: usize,
    pub n: usize,
    pub qs: Vec<i8>,
    /// One scale per 32 values: `n · k / 32`.
    pub d: Vec<f32>,
    /// `d · Σq` per 16 values: `n · k / 16`.
    pub s16: Vec<f32>,
    /// `d · Σq` per 32 values: `n · k / 32`.
    pub s32: Vec<f32>,
    /// `d` and `s32` again for the rows in whole groups of four, the group's four rows side by
    /// side (block `c`, group `g`, row `r` of the group at `(c · n / 4 + g) · 4 + r`): the
    /// kernels reduce four rows' products at once and scale them with one vector.
    pub d4: Vec<f32>,
    pub s4: Vec<f32>,
    /// The quants of the rows in whole groups of four, each group's four rows interleaved by 4-byte
    /// groups as one dot product instruction sums them (`simd::QUAD`): block `c`, group `g`,
    /// vector `j` (values `4j..4j + 4` of each of the four rows) at `((c · n / 4 + g) · 8 + j) · 16`. A broadcast weight 4-byte group times
    /// one such vector is then the four rows' partial sums in four lanes, with no reduction across
    /// lanes; block-major so that the group kernel, a block at a time, reads it in order.
    pub qs4: Vec<i8>,
}

impl Q8Acts {
    pub fn quantize(x: &[f32], k: usize) -> Q8Acts {
        let mut a = Q8Acts::default();
        a.fill(x, k);
        a
    }

    /// Quantizes `x` (rows of `k`) into this buffer, reusing its memory.
    pub fn fill(&mut self, x: &[f32], k: usize) {
        assert!(k.is_multiple_of(32) && x.len().is_multiple_of(k), "q8 rows of {k} values");
        self.k = k;
        self.n = x.len() / k;
        self.qs.resize(x.len(), 0);
        self.d.resize(x.len() / 32, 0.0);
        self.s16.resize(x.len() / 16, 0.0);
        self.s32.resize(x.len() / 32, 0.0);
        for (b, (xb, qb)) in x.chunks_exact(32).zip(self.qs.chunks_exact_mut(32)).enumerate() {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut sums = [0i32; 2];
            for (i, (&v, q)) in xb.iter().zip(qb.iter_mut()).enumerate() {
                let r = (v * id).round() as i32;
                *q = r as i8;
                sums[i / 16] += r;
            }
            self.d[b] = d;
            self.s16[2 * b] = d * sums[0] as f32;
            self.s16[2 * b + 1] = d * sums[1] as f32;
            self.s32[b] = d * (sums[0] + sums[1]) as f32;
        }
        let nbc = k / 32;
        let groups = self.groups();
        self.d4.resize(groups * 4 * nbc, 0.0);
        self.s4.resize(groups * 4 * nbc, 0.0);
        self.qs4.resize(groups * 4 * k, 0);
        for t in 0..groups * 4 {
            let (g, r) = (t / 4, t % 4);
            for c in 0..nbc {
                let at = self.at4(t - r, c) + r;
                self.d4[at] = self.d[t * nbc + c];
                self.s4[at] = self.s32[t * nbc + c];
                let src = &self.qs[t * k + 32 * c..][..32];
                let dst = &mut self.qs4[(c * groups + g) * 128..][..128];
                for (j, quad) in src.chunks_exact(4).enumerate() {
                    for (v, &q) in quad.iter().enumerate() {
                        dst[16 * j + QUAD[r][v]] = q;
                    }
                }
            }
        }
    }

    /// Whole groups of four rows.
    #[inline(always)]
    pub fn groups(&self) -> usize {
        self.n / 4
    }

    /// Where [`Q8Acts::d4`] holds block `c` of the group of rows from `t0` (a multiple of 4).
    #[inline(always)]
    pub fn at4(&self, t0: usize, c: usize) -> usize {
        (c * self.groups() + t0 / 4) * 4
    }

    /// The 128 interleaved quants of block `c` of group `g` (see [`Q8Acts::qs4`]).
    #[inline(always)]
    pub fn block4(&self, g: usize, c: usize) -> &[u8] {
        bytemuck::cast_slice(&self.qs4[(c * self.groups() + g) * 128..][..128])
    }

    /// The 32 quants of block `c` (counted over the whole row) of row `t`.
    #[inline(always)]
    pub fn block(&self, t: usize, c: usize) -> &[i8] {
        let o = t * self.k + 32 * c;
        &self.qs[o..o + 32]
    }

    pub fn blocks_per_row(&self) -> usize {
        self.k / 32
    }
}
