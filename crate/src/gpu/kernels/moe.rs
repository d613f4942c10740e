//! Mixture of experts: the router (softmax and top-k per token, on the GPU so that nothing is read
//! back) and the weighted sum of the chosen experts' outputs. The experts themselves run through
//! the matvec in its expert mode (`matvec_experts`), which reads only the chosen experts' rows.
//!
//! The route buffer holds, for `t` tokens and `k` picks each, `t·k` expert ids and then, from
//! `w_offset`, their `t·k` weights (f32 bits).

use crate::gpu::pipeline::{groups_for, Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::wgsl_params;

wgsl_params! {
    pub struct RouteParams { pub n_tokens: u32, pub n_expert: u32, pub k: u32, pub l_offset: u32, pub w_offset: u32 }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// Renormalize the chosen weights to sum to 1.
    pub norm: bool,
}

impl Kernel for Route {
    type Params = RouteParams;
    fn shader(&self) -> &'static str {
        "moe_route.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        if self.norm {
            vec![("NORM".into(), "1".into())]
        } else {
            vec![]
        }
    }
    fn workgroup(&self) -> [u32; 3] {
        [32, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::ReadWrite]
    }
}

/// Picks `k` of `n_expert` experts for each of `n_tokens` tokens from the router logits
/// (`logits[l_offset + t·n_expert ..]`) into `route` (ids, then weights from `n_tokens·k`).
pub fn route(
    rec: &mut Recorder,
    norm: bool,
    logits: &Bind,
    l_offset: u32,
    route: &Bind,
    n_tokens: u32,
    n_expert: u32,
    k: u32,
) -> Result<(), ShaderError> {
    let p = RouteParams { n_tokens, n_expert, k, l_offset, w_offset: n_tokens * k };
    rec.dispatch(&Route { norm }, &p, &[logits.clone(), route.clone()], [groups_for(n_tokens, 32), 1, 1])
}

wgsl_params! {
    pub struct CombineParams { pub n_tokens: u32, pub n: u32, pub k: u32, pub w_offset: u32, pub y_offset: u32, pub accumulate: u32 }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Combine;

impl Kernel for Combine {
    type Params = CombineParams;
    fn shader(&self) -> &'static str {
        "moe_combine.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![]
    }
    fn workgroup(&self) -> [u32; 3] {
        [256, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::ReadWrite]
    }
}

/// `y[y_offset + t·n + i] (+)= Σ_j weight[t, j] · d[(t·k + j)·n + i]`.
pub fn combine(
    rec: &mut Recorder,
    route: &Bind,
    d: &Bind,
    y: &Bind,
    y_offset: u32,
    n_tokens: u32,
    n: u32,
    k: u32,
    accumulate: bool,
) -> Result<(), ShaderError> {
    let p = CombineParams { n_tokens, n, k, w_offset: n_tokens * k, y_offset, accumulate: accumulate as u32 };
    rec.dispatch(&Combine, &p, &[route.clone(), d.clone(), y.clone()], super::matvec::grid(groups_for(n_tokens * n, 256)))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::cpu::ops::top_experts;
    use crate::gpu::buffers::{read_f32, read_u32, storage, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::{assert_nmse, kernels};
    use crate::quant::testdata::TestRng;

    #[test]
    fn routing_and_combining_match_the_cpu() {
        let k = kernels();
        let ctx = &k.ctx;
        let mut rng = TestRng::new(17);
        // (tokens, experts, picks)
        for (t, ne, kk) in [(1usize, 8usize, 2usize), (5, 128, 8), (3, 7, 7), (2, 60, 4)] {
            for norm in [true, false] {
                let mut logits = rng.normals(t * ne + 3, 2.0);
                logits[3 + 1] = logits[3]; // a tie: the lower id wins
                let bl = storage_f32(ctx, "logits", &logits);
                let br = storage(ctx, "route", (2 * t * kk * 4) as u64);
                let n = 13usize;
                let d = rng.normals(t * kk * n, 1.0);
                let y0 = rng.normals(t * n + 2, 1.0);
                let (bd, by) = (storage_f32(ctx, "d", &d), storage_f32(ctx, "y", &y0));
                let mut rec = k.recorder();
                route(&mut rec, norm, &Bind::whole(&bl), 3, &Bind::whole(&br), t as u32, ne as u32, kk as u32).unwrap();
                combine(&mut rec, &Bind::whole(&br), &Bind::whole(&bd), &Bind::whole(&by), 2, t as u32, n as u32, kk as u32, true).unwrap();
                rec.submit();
                let ids = block_on(read_u32(ctx, &br, 0, t * kk)).unwrap();
                let ws: Vec<f32> = block_on(read_u32(ctx, &br, t * kk, t * kk)).unwrap().into_iter().map(f32::from_bits).collect();
                let got_y = block_on(read_f32(ctx, &by, 0, t * n + 2)).unwrap();
                let mut want_y = y0.clone();
                for tok in 0..t {
                    let want = top_experts(&logits[3 + tok * ne..3 + (tok + 1) * ne], kk, norm);
                    let got: Vec<usize> = ids[tok * kk..(tok + 1) * kk].iter().map(|&i| i as usize).collect();
                    assert_eq!(got, want.iter().map(|w| w.0).collect::<Vec<_>>(), "experts of token {tok} (t={t} ne={ne} k={kk})");
                    let gw = &ws[tok * kk..(tok + 1) * kk];
                    let ww: Vec<f32> = want.iter().map(|w| w.1).collect();
                    assert_nmse(&format!("weights t={t} ne={ne} k={kk} norm={norm}"), gw, &ww, 1e-12);
                    let mut acc = vec![0f32; n];
                    for (j, &(_, w)) in want.iter().enumerate() {
                        acc.iter_mut().zip(&d[(tok * kk + j) * n..][..n]).for_each(|(a, &v)| *a += v * w);
                    }
                    want_y[2 + tok * n..2 + (tok + 1) * n].iter_mut().zip(&acc).for_each(|(y, a)| *y += a);
                }
                assert_nmse(&format!("combine t={t} ne={ne} k={kk} norm={norm}"), &got_y, &want_y, 1e-12);
            }
        }
    }
}
