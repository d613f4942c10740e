//! The fast engine's forward pass: the reference's layer (`cpu/forward.rs`, in llama.cpp's order)
//! with the matrix products on quantized weights and the work spread over the threads. Prompts go
//! through in batches of [`BATCH`] positions so that scratch memory stays bounded.

use super::act::gated;
use super::attention::attention;
use super::load::BATCH;
use super::matmul::{matmul, matmul1, Input, Part};
use super::par::{run_tasks, task_count, Shared};
use super::weights::FastWeights;
use crate::cpu::ops::{rms_norm, rope_angles, softcap, top_experts, AttnShape, RopeFreqs};
use crate::cpu::KvCache;
use crate::model::ModelConfig;

pub struct FastModel {
    pub cfg: ModelConfig,
    pub w: FastWeights,
    /// The context the model was sized for (see [`FastModel::memory_needed`]).
    pub n_ctx: usize,
}

/// Receives a layer's named intermediates, as the reference's `forward_probed`.
pub type Tap<'a> = &'a mut dyn FnMut(&str, &[f32]);

/// Rows of `n` values per task below which splitting costs more than it saves.
const MIN_PER_TASK: usize = 8192;

/// Calls `f(first row, rows)` for chunks of the rows of `x` (`n` values each) over the threads:
/// for the per-row work between the matrix products (norms, rotations), serial otherwise, each
/// row computed exactly as alone.
fn par_rows(x: &mut [f32], n: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = x.len() / n;
    let per = rows.div_ceil(task_count(x.len(), MIN_PER_TASK).min(rows.max(1))).max(1);
    let shared = Shared::new(x);
    run_tasks(rows.div_ceil(per), |i| {
        let (lo, hi) = (i * per, ((i + 1) * per).min(rows));
        // Task `i` alone touches rows `lo..hi`.
        f(lo, shared.slice(lo * n, (hi - lo) * n));
    });
}

/// [`rms_norm`] over the threads.
fn rms_norm_par(x: &mut [f32], n: usize, w: &[f32], eps: f32) {
    par_rows(x, n, |_, rows| rms_norm(rows, n, w, eps));
}

fn add_rows(y: &mut [f32], b: &[f32]) {
    y.chunks_exact_mut(b.len()).for_each(|row| row.iter_mut().zip(b).for_each(|(a, b)| *a += b));
}

/// Rotates one head by precomputed angles (the reference's `rope`, angles computed once per
/// position instead of once per head).
fn rope_head(head: &mut [f32], angles: &[[f32; 2]], n_rot: usize, neox: bool) {
    for (i, &[cos, sin]) in angles.iter().enumerate() {
        let (a, b) = if neox { (i, i + n_rot / 2) } else { (2 * i, 2 * i + 1) };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * cos - x1 * sin;
        head[b] = x0 * sin + x1 * cos;
    }
}

impl FastModel {
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        KvCache::new(self.cfg.n_layer, capacity)
    }

    /// Runs `tokens` at positions `cache.len()..`, appending to the cache. Returns the logits of
    /// every token (`all_logits`) or of the last one, `n_vocab` values per token. The caller has
    /// checked the ids and the room (`Backend::check`).
    pub fn forward(&self, cache: &mut KvCache, tokens: &[u32], all_logits: bool) -> Vec<f32> {
        self.forward_with(cache, tokens, all_logits, None)
    }

    /// [`Self::forward`] that hands layer `layer`'s intermediates to `tap` (per batch).
    pub fn forward_probed(&self, cache: &mut KvCache, tokens: &[u32], layer: usize, tap: Tap) -> Vec<f32> {
        self.forward_with(cache, tokens, false, Some((layer, tap)))
    }

    fn forward_with(&self, cache: &mut KvCache, tokens: &[u32], all_logits: bool, mut probe: Option<(usize, Tap)>) -> Vec<f32> {
        assert!(cache.len + tokens.len() <= cache.capacity, "context of {} tokens exceeded", cache.capacity);
        let mut logits = Vec::new();
        let n_batches = tokens.len().div_ceil(BATCH);
        for (bi, batch) in tokens.chunks(BATCH).enumerate() {
            let last = bi + 1 == n_batches;
            let x = self.batch(cache, batch, &mut probe);
            if all_logits || last {
                let rows = if all_logits { &x[..] } else { &x[(batch.len() - 1) * self.cfg.n_embd..] };
                logits.extend(self.logits(rows));
            }
        }
        logits
    }

    /// The hidden states after the last layer for one batch.
    fn batch(&self, cache: &mut KvCache, tokens: &[u32], probe: &mut Option<(usize, Tap)>) -> Vec<f32> {
        let (cfg, e) = (&self.cfg, self.cfg.n_embd);
        let mut x = vec![0f32; tokens.len() * e];
        for (&tok, row) in tokens.iter().zip(x.chunks_exact_mut(e)) {
            self.w.token_embd.row_f32(tok as usize, row);
        }
        if let Some(s) = cfg.embed_scale {
            x.iter_mut().for_each(|v| *v *= s);
        }
        for il in 0..cfg.n_layer {
            let mut tap = |name: &str, v: &[f32]| {
                if let Some((l, f)) = probe.as_mut() {
                    if *l == il {
                        f(name, v);
                    }
                }
            };
            self.layer(il, cache, &mut x, tokens.len(), &mut tap);
        }
        cache.len += tokens.len();
        x
    }

    fn logits(&self, rows: &[f32]) -> Vec<f32> {
        let mut h = rows.to_vec();
        rms_norm(&mut h, self.cfg.n_embd, &self.w.output_norm, self.cfg.rms_eps);
        let out = self.w.output.as_ref().unwrap_or(&self.w.token_embd);
        let mut logits = matmul1(&h, out);
        if let Some(cap) = self.cfg.final_softcap {
            softcap(&mut logits, cap);
        }
        logits
    }

    fn layer(&self, il: usize, cache: &mut KvCache, x: &mut [f32], t_count: usize, tap: &mut dyn FnMut(&str, &[f32])) {
        let cfg = &self.cfg;
        let w = &self.w.layers[il];
        let lc = cfg.layers[il];
        let (e, hd) = (cfg.n_embd, cfg.head_dim);
        let p0 = cache.len;

        let mut h = x.to_vec();
        rms_norm_par(&mut h, e, &w.attn_norm, cfg.rms_eps);
        tap("attn_norm", &h);
        let (mut q, mut k, mut v) =
            (vec![0f32; t_count * cfg.q_dim()], vec![0f32; t_count * cfg.kv_dim()], vec![0f32; t_count * cfg.v_dim()]);
        matmul(&Input::new(&h, e), &[Part::all(&w.wq), Part::all(&w.wk), Part::all(&w.wv)], &mut [&mut q, &mut k, &mut v]);
        for (y, b) in [(&mut q, &w.bq), (&mut k, &w.bk), (&mut v, &w.bv)] {
            if let Some(b) = b {
                add_rows(y, b);
            }
        }
        if let (Some(qn), Some(kn)) = (&w.q_norm, &w.k_norm) {
            rms_norm_par(&mut q, hd, qn, cfg.rms_eps);
            rms_norm_par(&mut k, hd, kn, cfg.rms_eps);
        }
        let freqs = RopeFreqs {
            n_rot: cfg.rope_dim,
            base: lc.rope_base,
            scale: lc.rope_scale,
            mscale: lc.rope_mscale,
            factors: self.w.rope_freqs.as_deref(),
        };
        let kd = cfg.kv_dim();
        let ks = Shared::new(&mut k);
        par_rows(&mut q, cfg.q_dim(), |t0, qs| {
            // The rows of k at the same positions as these of q: this task's alone.
            let kt = ks.slice(t0 * kd, qs.len() / cfg.q_dim() * kd);
            for (t, (qt, kt)) in qs.chunks_exact_mut(cfg.q_dim()).zip(kt.chunks_exact_mut(kd)).enumerate() {
                let angles = rope_angles(p0 + t0 + t, &freqs);
                for head in qt.chunks_exact_mut(hd).chain(kt.chunks_exact_mut(hd)) {
                    rope_head(head, &angles, cfg.rope_dim, cfg.rope_neox);
                }
            }
        });
        tap("q", &q);
        tap("k", &k);
        tap("v", &v);
        cache.k[il].extend_from_slice(&k);
        cache.v[il].extend_from_slice(&v);

        let shape = AttnShape {
            n_head: cfg.n_head,
            n_head_kv: cfg.n_head_kv,
            head_dim: hd,
            head_dim_v: cfg.head_dim_v,
            scale: cfg.attn_scale,
            softcap: cfg.attn_softcap,
            window: lc.sliding_window,
        };
        let attn = attention(&shape, &q, &cache.k[il], &cache.v[il], p0, t_count);
        tap("attn_out", &attn);
        let mut o = matmul1(&attn, &w.wo);
        if let Some(n) = &w.post_attn_norm {
            rms_norm_par(&mut o, e, n, cfg.rms_eps);
        }
        x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        tap("attn_res", x);

        let mut h = x.to_vec();
        rms_norm_par(&mut h, e, &w.ffn_norm, cfg.rms_eps);
        tap("ffn_norm", &h);
        let mut d = self.ffn(il, &h, t_count);
        if let Some(n) = &w.post_ffn_norm {
            rms_norm_par(&mut d, e, n, cfg.rms_eps);
        }
        x.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
        tap("layer_out", x);
    }

    fn ffn(&self, il: usize, h: &[f32], t_count: usize) -> Vec<f32> {
        let (cfg, w, e) = (&self.cfg, &self.w.layers[il], self.cfg.n_embd);
        let gated = |input: &Input, gate: Part, up: Part| -> Vec<f32> {
            let (mut g, mut u) = (vec![0f32; input.n() * gate.rows], vec![0f32; input.n() * up.rows]);
            matmul(input, &[gate, up], &mut [&mut g, &mut u]);
            gated(cfg.activation, &g, &u)
        };
        match (&w.router, cfg.moe) {
            (Some(router), Some(m)) => {
                // Per token: the router's picks, each expert's gated FFN, summed by weight in the
                // order picked (as llama.cpp adds them).
                let mut d = vec![0f32; h.len()];
                for (ht, dt) in h.chunks_exact(e).zip(d.chunks_exact_mut(e)) {
                    let input = Input::new(ht, e);
                    let mut r = vec![0f32; router.rows];
                    matmul(&input, &[Part::all(router)], &mut [&mut r]);
                    for (j, wj) in top_experts(&r, m.n_used, m.norm_weights) {
                        let rows = |mat, n| Part { m: mat, row0: j * n, rows: n };
                        let a = gated(&input, rows(&w.gate, m.n_ff_exp), rows(&w.up, m.n_ff_exp));
                        let mut y = vec![0f32; e];
                        matmul(&Input::new(&a, m.n_ff_exp), &[rows(&w.down, e)], &mut [&mut y]);
                        dt.iter_mut().zip(&y).for_each(|(o, &v)| *o += v * wj);
                    }
                }
                d
            }
            _ => {
                let a = gated(&Input::new(h, e), Part::all(&w.gate), Part::all(&w.up));
                debug_assert_eq!(a.len(), t_count * cfg.n_ff);
                matmul1(&a, &w.down)
            }
        }
    }
}
