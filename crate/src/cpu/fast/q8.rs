//! Activations quantized to 8 bits for the integer dot products, once per matrix product and
//! shared by every matrix that reads the same input (q, k and v; gate and up).
//!
//! One format serves every weight type: blocks of 32 values with an f32 scale `d = max|x| / 127`
//! and `q = round(x / d)` (ggml's `quantize_row_q8_0`, with the scale kept in f32), plus for
//! each half-block of 16 the scaled sum `d · Σq` (ggml's q8_1 `s`, at the finer grain that Q2_K's
//! per-16 minimums need). Finer than ggml's q8_K for the k-quants (one scale per 32, not 256), so
//! never less accurate than llama.cpp.

use super::par::{run_tasks, task_count, Shared};
use super::simd::{arr4, dispatch, Kernel, Simd, QUAD};

/// Values per task below which splitting costs more than it saves.
const MIN_PER_TASK: usize = 16384;

/// A task of [`Q8Acts::fill`]: rows `t0..` (`x`, and their parts of the row-major outputs), and the
/// interleaved copies of the whole groups among them.
struct Rows<'a> {
    x: &'a [f32],
    k: usize,
    t0: usize,
    groups: usize,
    qs: &'a mut [i8],
    d: &'a mut [f32],
    s16: &'a mut [f32],
    s32: &'a mut [f32],
    d4: &'a Shared<'a>,
    s4: &'a Shared<'a>,
    qs4: &'a Shared<'a, i8>,
    sum32_4: &'a Shared<'a, i32>,
}

impl Kernel for Rows<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let Rows { x, k, t0, groups, qs, d, s16, s32, d4, s4, qs4, sum32_4 } = self;
        let nbc = k / 32;
        for (b, (xb, qb)) in x.chunks_exact(32).zip(qs.chunks_exact_mut(32)).enumerate() {
            let sums = quantize_block(s, xb.try_into().expect("32 values"), qb.try_into().expect("32 quants"), &mut d[b]);
            s16[2 * b] = d[b] * sums[0] as f32;
            s16[2 * b + 1] = d[b] * sums[1] as f32;
            s32[b] = d[b] * (sums[0] + sums[1]) as f32;
        }
        let rows = x.len() / k;
        for t in t0..(t0 + rows).min(groups * 4) {
            let (g, r) = (t / 4, t % 4);
            for c in 0..nbc {
                let at = (c * groups + g) * 4 + r;
                let b = (t - t0) * nbc + c;
                d4.set(at, d[b]);
                s4.set(at, s32[b]);
                let src: &[i8; 32] = qs[32 * b..32 * b + 32].try_into().expect("32 quants");
                for h in 0..2 {
                    sum32_4.set(2 * at - r + 4 * h, 32 * src[16 * h..16 * h + 16].iter().map(|&q| q as i32).sum::<i32>());
                }
                let dst: &mut [i8; 128] = qs4.slice((c * groups + g) * 128, 128).try_into().expect("128 quants");
                for j in 0..8 {
                    for v in 0..4 {
                        dst[16 * j + QUAD[r][v]] = src[4 * j + v];
                    }
                }
            }
        }
    }
}

/// One block of 32 values to q8: `d = max|x| / 127`, `q = x / d` rounded (ggml's
/// `quantize_row_q8_0`, whose vector forms round ties to even as here). Returns each half's `Σq`.
#[inline(always)]
fn quantize_block<S: Simd>(s: S, x: &[f32; 32], q: &mut [i8; 32], d: &mut f32) -> [i32; 2] {
    let mut v = [s.zero_f32(); 8];
    let mut m = s.zero_f32();
    for (i, vi) in v.iter_mut().enumerate() {
        *vi = s.load_f32(arr4(&x[4 * i..]));
        // |v| as max(v, -v).
        m = s.max_f32(m, s.max_f32(*vi, s.sub_f32(s.zero_f32(), *vi)));
    }
    let m = s.to_array_f32(m);
    let amax = m[0].max(m[1]).max(m[2].max(m[3]));
    *d = amax / 127.0;
    let id = s.splat_f32(if *d > 0.0 { 1.0 / *d } else { 0.0 });
    let mut r = [s.zero_i32(); 8];
    for (ri, &vi) in r.iter_mut().zip(&v) {
        *ri = s.round_i32(s.mul_f32(vi, id));
    }
    let q: &mut [u8; 32] = bytemuck::cast_mut(q);
    let (lo, hi) = q.split_at_mut(16);
    s.store(s.pack_i8([r[0], r[1], r[2], r[3]]), lo.try_into().expect("16 quants"));
    s.store(s.pack_i8([r[4], r[5], r[6], r[7]]), hi.try_into().expect("16 quants"));
    let half0 = s.hsum_i32(s.add_i32(s.add_i32(r[0], r[1]), s.add_i32(r[2], r[3])));
    let half1 = s.hsum_i32(s.add_i32(s.add_i32(r[4], r[5]), s.add_i32(r[6], r[7])));
    [half0, half1]
}

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
    /// `32 · Σq` of each half of each block of the rows in whole groups, four rows side by side
    /// (block `c`, group `g`, half `h`, row `r` at `((c · n / 4 + g) · 2 + h) · 4 + r`): Q6_K's
    /// offset in the group kernel.
    pub sum32_4: Vec<i32>,
}

impl Q8Acts {
    pub fn quantize(x: &[f32], k: usize) -> Q8Acts {
        let mut a = Q8Acts::default();
        a.fill(x, k);
        a
    }

    /// Quantizes `x` (rows of `k`) into this buffer, reusing its memory; spread over the threads
    /// (serial, it was a few percent of a prompt's time on one thread, more on two).
    pub fn fill(&mut self, x: &[f32], k: usize) {
        assert!(k.is_multiple_of(32) && x.len().is_multiple_of(k), "q8 rows of {k} values");
        self.k = k;
        self.n = x.len() / k;
        let (n, nbc, groups) = (self.n, k / 32, self.groups());
        self.qs.resize(x.len(), 0);
        self.d.resize(x.len() / 32, 0.0);
        self.s16.resize(x.len() / 16, 0.0);
        self.s32.resize(x.len() / 32, 0.0);
        self.d4.resize(groups * 4 * nbc, 0.0);
        self.s4.resize(groups * 4 * nbc, 0.0);
        self.qs4.resize(groups * 4 * k, 0);
        self.sum32_4.resize(groups * 8 * nbc, 0);
        // Tasks of whole groups of four rows (the tail rows go with the last), so that the task
        // that quantizes a group's rows also lays out their interleaved copy.
        let per = groups.max(1).div_ceil(task_count(x.len(), MIN_PER_TASK)) * 4;
        let tasks = groups.div_ceil(per / 4).max(1);
        let (qs, d, s16, s32) =
            (Shared::new(&mut self.qs), Shared::new(&mut self.d), Shared::new(&mut self.s16), Shared::new(&mut self.s32));
        let (d4, s4, qs4) = (Shared::new(&mut self.d4), Shared::new(&mut self.s4), Shared::new(&mut self.qs4));
        let sum32_4 = Shared::new(&mut self.sum32_4);
        run_tasks(tasks, |i| {
            let (lo, hi) = (i * per, if i + 1 == tasks { n } else { (i + 1) * per });
            // Task `i` alone writes rows `lo..hi` and the groups among them.
            let (bq, bd) = (lo * nbc, (hi - lo) * nbc);
            let (qs, d) = (qs.slice(lo * k, (hi - lo) * k), d.slice(bq, bd));
            let (s16, s32) = (s16.slice(2 * bq, 2 * bd), s32.slice(bq, bd));
            dispatch(Rows { x: &x[lo * k..hi * k], k, t0: lo, groups, qs, d, s16, s32, d4: &d4, s4: &s4, qs4: &qs4, sum32_4: &sum32_4 });
        });
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

    /// [`Q8Acts::qs4`] as bytes.
    #[inline(always)]
    pub fn qs4_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.qs4)
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
