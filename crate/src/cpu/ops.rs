//! The reference operators, each in the plainest form that is still usable on real models.
//! Formulas follow ggml's CPU ops (see the comments) so that logits track llama.cpp's.

use super::parallel::for_row_chunks;
use super::weights::Matrix;

/// RMSNorm over each row of `x` (`n` values per row): x / sqrt(mean(x²) + eps) * w.
/// The sum of squares is accumulated in f64, as ggml does.
pub fn rms_norm(x: &mut [f32], n: usize, w: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(n) {
        let ss: f64 = row.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let scale = 1.0 / ((ss / n as f64) as f32 + eps).sqrt();
        for (v, &g) in row.iter_mut().zip(w) {
            *v = *v * scale * g;
        }
    }
}

/// Dot product with eight independent accumulators so the compiler can vectorize it.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// y[t, r] = Σ_k x[t, k] · w[r, k] for `t` over the rows of `x`: every weight row is read once and
/// reused for all tokens while it is in cache.
pub fn matmul(x: &[f32], w: &Matrix) -> Vec<f32> {
    let k = w.cols;
    let t_count = x.len() / k;
    let mut y_t = vec![0f32; w.rows * t_count]; // [row][token], transposed below
    for_row_chunks(w.rows, t_count, &mut y_t, |start, end, out| {
        for r in start..end {
            let wr = w.row(r);
            for t in 0..t_count {
                out[(r - start) * t_count + t] = dot(&x[t * k..(t + 1) * k], wr);
            }
        }
    });
    if t_count == 1 {
        return y_t;
    }
    let mut y = vec![0f32; y_t.len()];
    for r in 0..w.rows {
        for t in 0..t_count {
            y[t * w.rows + r] = y_t[r * t_count + t];
        }
    }
    y
}

/// How a layer's RoPE angles are computed: theta_i = pos · scale · base^(-2i/n_rot) / factors[i].
#[derive(Clone, Copy, Debug)]
pub struct RopeFreqs<'a> {
    /// Rotated dimensions per head (the rest pass through).
    pub n_rot: usize,
    pub base: f32,
    /// Positions are multiplied by this (1 / linear scaling factor).
    pub scale: f32,
    /// Per-pair frequency factors (Llama 3.1's `rope_freqs.weight`), `n_rot / 2` of them.
    pub factors: Option<&'a [f32]>,
    /// cos and sin are multiplied by this (ggml's `attn_factor`).
    pub mscale: f32,
}

/// y[r] = Σ_k x[k] · w[row0 + r, k] for `n` rows from `row0`: one token through a slice of the
/// matrix (an expert of a mixture).
pub fn matvec_rows(x: &[f32], w: &Matrix, row0: usize, n: usize) -> Vec<f32> {
    (row0..row0 + n).map(|r| dot(x, w.row(r))).collect()
}

/// The experts a router picks for one token: the `k` largest softmax probabilities of `logits`
/// (ties to the lower id), with their probabilities, renormalized to sum to 1 when `renorm`.
pub fn top_experts(logits: &[f32], k: usize, renorm: bool) -> Vec<(usize, f32)> {
    let mut p = logits.to_vec();
    softmax(&mut p);
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    let mut chosen: Vec<(usize, f32)> = order[..k].iter().map(|&i| (i, p[i])).collect();
    if renorm {
        let sum: f32 = chosen.iter().map(|c| c.1).sum();
        chosen.iter_mut().for_each(|c| c.1 /= sum);
    }
    chosen
}

/// The (cos, sin) of the `n_rot / 2` RoPE angles at `pos`, as ggml's `rope_f32` computes them:
/// theta_i = pos · base^(-2i/n_rot) as a running product, divided by the frequency factor, then
/// scaled. The GPU engine uploads these very values as a table, so both engines rotate by
/// identical angles.
pub fn rope_angles(pos: usize, f: &RopeFreqs) -> Vec<[f32; 2]> {
    let theta_scale = f.base.powf(-2.0 / f.n_rot as f32);
    let mut theta = pos as f32;
    (0..f.n_rot / 2)
        .map(|i| {
            let factor = f.factors.map_or(1.0, |ff| ff[i]);
            let (sin, cos) = (f.scale * (theta / factor)).sin_cos();
            theta *= theta_scale;
            [cos * f.mscale, sin * f.mscale]
        })
        .collect()
}

/// Rotary position embedding of one head vector: NeoX rotates (x[i], x[i + n_rot/2]), the original
/// adjacent pairs (x[2i], x[2i+1]); dimensions past `n_rot` are left alone.
pub fn rope(head: &mut [f32], pos: usize, f: &RopeFreqs, neox: bool) {
    let n_rot = f.n_rot;
    for (i, [cos, sin]) in rope_angles(pos, f).into_iter().enumerate() {
        let (a, b) = if neox { (i, i + n_rot / 2) } else { (2 * i, 2 * i + 1) };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * cos - x1 * sin;
        head[b] = x0 * sin + x1 * cos;
    }
}

/// The shape of one attention call.
pub struct AttnShape {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub head_dim_v: usize,
    pub scale: f32,
    pub softcap: Option<f32>,
    /// Keys at positions `q - window < k <= q` are visible; `None`: all earlier keys.
    pub window: Option<usize>,
}

/// Causal grouped-query attention of `t_count` queries at positions `p0..` over the cached keys
/// and values (`[position][n_head_kv · head_dim]`), which already include the queries' own.
pub fn attention(s: &AttnShape, q: &[f32], kc: &[f32], vc: &[f32], p0: usize, t_count: usize) -> Vec<f32> {
    let (hd, hdv) = (s.head_dim, s.head_dim_v);
    let (q_dim, kv_dim, v_dim) = (s.n_head * hd, s.n_head_kv * hd, s.n_head_kv * hdv);
    let group = s.n_head / s.n_head_kv;
    let mut out = vec![0f32; t_count * s.n_head * hdv];
    let mut scores = Vec::new();
    for t in 0..t_count {
        let pos = p0 + t;
        let first = s.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        for h in 0..s.n_head {
            let kvh = h / group;
            let qh = &q[t * q_dim + h * hd..][..hd];
            scores.clear();
            for k in first..=pos {
                let mut sc = dot(qh, &kc[k * kv_dim + kvh * hd..][..hd]) * s.scale;
                if let Some(cap) = s.softcap {
                    sc = cap * (sc / cap).tanh();
                }
                scores.push(sc);
            }
            softmax(&mut scores);
            let o = &mut out[(t * s.n_head + h) * hdv..][..hdv];
            for (k, &p) in (first..=pos).zip(&scores) {
                for (oo, &vv) in o.iter_mut().zip(&vc[k * v_dim + kvh * hdv..][..hdv]) {
                    *oo += p * vv;
                }
            }
        }
    }
    out
}

pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU, tanh approximation (ggml `gelu_f32`).
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044715 * x * x)).tanh())
}

pub fn softcap(x: &mut [f32], cap: f32) {
    for v in x {
        *v = cap * (*v / cap).tanh();
    }
}

/// In-place softmax; `-inf` entries become 0.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// log-softmax of one row, in f64 for stable log-probabilities.
pub fn log_softmax(x: &[f32]) -> Vec<f64> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
    x.iter().map(|&v| v as f64 - lse).collect()
}

pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}
