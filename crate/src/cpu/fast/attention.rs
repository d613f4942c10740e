//! Causal grouped-query attention over the f32 KV cache, the reference's formula
//! (`cpu::ops::attention`) with every (query, head) pair a task of its own.

use super::par::{run_tasks, Shared};
use crate::cpu::ops::{dot, softmax, AttnShape};

/// `t_count` queries at positions `p0..` over the cached keys and values
/// (`[position][n_head_kv · head_dim]`), which already include the queries' own.
pub fn attention(s: &AttnShape, q: &[f32], kc: &[f32], vc: &[f32], p0: usize, t_count: usize) -> Vec<f32> {
    let (hd, hdv) = (s.head_dim, s.head_dim_v);
    let (q_dim, kv_dim, v_dim) = (s.n_head * hd, s.n_head_kv * hd, s.n_head_kv * hdv);
    let group = s.n_head / s.n_head_kv;
    let mut out = vec![0f32; t_count * s.n_head * hdv];
    let shared = Shared::new(&mut out);
    run_tasks(t_count * s.n_head, |task| {
        let (t, h) = (task / s.n_head, task % s.n_head);
        let pos = p0 + t;
        let first = s.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        let kvh = h / group;
        let qh = &q[t * q_dim + h * hd..][..hd];
        let mut scores: Vec<f32> = (first..=pos)
            .map(|k| {
                let sc = dot(qh, &kc[k * kv_dim + kvh * hd..][..hd]) * s.scale;
                match s.softcap {
                    Some(cap) => cap * (sc / cap).tanh(),
                    None => sc,
                }
            })
            .collect();
        softmax(&mut scores);
        // Task `task` alone writes this head's output.
        let o = shared.slice(task * hdv, hdv);
        for (k, &p) in (first..=pos).zip(&scores) {
            for (oo, &vv) in o.iter_mut().zip(&vc[k * v_dim + kvh * hdv..][..hdv]) {
                *oo += p * vv;
            }
        }
    });
    out
}
