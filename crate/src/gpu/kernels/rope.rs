//! RoPE of the q and k heads of a block of tokens, with Gemma 3's per-head RMSNorm fused in front.

pub use crate::cpu::ops::RopeFreqs;
use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::wgsl_params;

wgsl_params! {
    pub struct RopeParams {
        pub n_head: u32,
        pub head_dim: u32,
        pub n_rot: u32,
        pub q_offset: u32,
        pub q_stride: u32,
        pub k_offset: u32,
        pub k_stride: u32,
        pub pos0: u32,
        // where this layer's table starts in the angles buffer, in (cos, sin) pairs
        pub angles_offset: u32,
        pub norm: u32,
        pub eps: f32,
        pub q_norm_offset: u32,
        pub k_norm_offset: u32,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rope {
    pub neox: bool,
}

impl Kernel for Rope {
    type Params = RopeParams;
    fn shader(&self) -> &'static str {
        "rope.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        if self.neox {
            vec![("NEOX".into(), "1".into())]
        } else {
            vec![]
        }
    }
    fn workgroup(&self) -> [u32; 3] {
        [64, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite]
    }
}

/// The (cos, sin) table of positions `0..n_pos`: `n_pos × n_rot/2` pairs, flattened.
pub fn rope_table(n_pos: usize, f: &RopeFreqs) -> Vec<f32> {
    (0..n_pos).flat_map(|p| crate::cpu::ops::rope_angles(p, f)).flatten().collect()
}

pub struct RopeArgs<'a> {
    pub angles: &'a Bind,
    /// Norm weights (`norm` false: any buffer).
    pub norm_w: &'a Bind,
    pub q: &'a Bind,
    pub k: &'a Bind,
}

/// Applies (norm and) RoPE to `n_tokens` tokens' heads: `params.n_head` q heads then `n_kv` k heads.
pub fn rope(rec: &mut Recorder, neox: bool, a: RopeArgs, params: &RopeParams, n_kv: u32, n_tokens: u32) -> Result<(), ShaderError> {
    rec.dispatch(&Rope { neox }, params, &[a.angles.clone(), a.norm_w.clone(), a.q.clone(), a.k.clone()], [params.n_head + n_kv, n_tokens, 1])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::cpu::ops;
    use crate::gpu::buffers::{read_f32, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::{assert_nmse, kernels};
    use crate::quant::testdata::TestRng;

    #[test]
    fn rope_and_qk_norm_match_cpu() {
        let k = kernels();
        let ctx = &k.ctx;
        let mut rng = TestRng::new(11);
        // (head_dim, n_rot, n_head, n_kv, tokens, pos0)
        for (hd, n_rot, nh, nkv, t, pos0) in [(64, 64, 9, 3, 5, 0), (256, 256, 4, 1, 3, 700), (8, 4, 2, 2, 7, 13), (64, 32, 3, 1, 1, 2047)] {
            for neox in [false, true] {
                for norm in [false, true] {
                    let base = if neox { 1e6 } else { 1e4 };
                    let q = rng.normals(t * nh * hd, 1.0);
                    let kk = rng.normals(t * nkv * hd, 1.0);
                    let nw = rng.normals(2 * hd, 1.0);
                    let factors: Vec<f32> = (0..n_rot / 2).map(|i| 1.0 + (i % 5) as f32).collect();
                    let freqs = RopeFreqs { n_rot, base, scale: if norm { 0.5 } else { 1.0 }, factors: neox.then_some(&factors[..]), mscale: if norm { 1.0 } else { 1.25 } };
                    let table = rope_table(pos0 + t, &freqs);
                    let (bq, bk, bn, bf) = (storage_f32(ctx, "q", &q), storage_f32(ctx, "k", &kk), storage_f32(ctx, "nw", &nw), storage_f32(ctx, "a", &table));
                    let p = RopeParams {
                        n_head: nh as u32,
                        head_dim: hd as u32,
                        n_rot: n_rot as u32,
                        q_offset: 0,
                        q_stride: (nh * hd) as u32,
                        k_offset: 0,
                        k_stride: (nkv * hd) as u32,
                        pos0: pos0 as u32,
                        angles_offset: 0,
                        norm: norm as u32,
                        eps: 1e-6,
                        q_norm_offset: 0,
                        k_norm_offset: hd as u32,
                    };
                    let mut rec = k.recorder();
                    let args = RopeArgs { angles: &Bind::whole(&bf), norm_w: &Bind::whole(&bn), q: &Bind::whole(&bq), k: &Bind::whole(&bk) };
                    rope(&mut rec, neox, args, &p, nkv as u32, t as u32).unwrap();
                    rec.submit();
                    let gq = block_on(read_f32(ctx, &bq, 0, q.len())).unwrap();
                    let gk = block_on(read_f32(ctx, &bk, 0, kk.len())).unwrap();
                    let (mut wq, mut wk) = (q.clone(), kk.clone());
                    if norm {
                        ops::rms_norm(&mut wq, hd, &nw[..hd], 1e-6);
                        ops::rms_norm(&mut wk, hd, &nw[hd..], 1e-6);
                    }
                    for (i, head) in wq.chunks_exact_mut(hd).enumerate() {
                        ops::rope(head, pos0 + i / nh, &freqs, neox);
                    }
                    for (i, head) in wk.chunks_exact_mut(hd).enumerate() {
                        ops::rope(head, pos0 + i / nkv, &freqs, neox);
                    }
                    let what = format!("rope hd={hd} n_rot={n_rot} pos0={pos0} neox={neox} norm={norm}");
                    // Same angles as the CPU; the norm's sum of squares is f32 in another order.
                    assert_nmse(&format!("{what} q"), &gq, &wq, 1e-12);
                    assert_nmse(&format!("{what} k"), &gk, &wk, 1e-12);
                }
            }
        }
    }
}
