//! The step between the q, k, v projections and attention: biases, Gemma 3's per-head RMSNorm,
//! RoPE, and the scatter of q into its buffer and of k, v into the KV cache (see rope.wgsl).

pub use crate::cpu::ops::RopeFreqs;
use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::wgsl_params;

wgsl_params! {
    pub struct RopeParams {
        pub n_head: u32,
        pub n_kv: u32,
        pub head_dim: u32,
        pub head_dim_v: u32,
        pub n_rot: u32,
        // floats per token in the source: q | k | v
        pub src_stride: u32,
        pub q_stride: u32,
        pub k_offset: u32,
        pub k_stride: u32,
        pub v_offset: u32,
        pub v_stride: u32,
        pub pos0: u32,
        // where this layer's table starts in the angles buffer, in (cos, sin) pairs
        pub angles_offset: u32,
        pub norm: u32,
        pub eps: f32,
        pub q_norm_offset: u32,
        pub k_norm_offset: u32,
        pub bias: u32,
        pub q_bias: u32,
        pub k_bias: u32,
        pub v_bias: u32,
    }
}

impl RopeParams {
    /// Floats per token of the q | k | v source.
    pub fn qkv_width(&self) -> u32 {
        (self.n_head + self.n_kv) * self.head_dim + self.n_kv * self.head_dim_v
    }
}

/// Heads per workgroup of the serial variant: the CPU adapters' SIMD width.
const SERIAL_HEADS: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rope {
    pub neox: bool,
    /// One invocation per head, in workgroups of 4 (CPU adapters, see reduce.wgsl), else a
    /// workgroup of 64 per head.
    pub serial: bool,
}

impl Kernel for Rope {
    type Params = RopeParams;
    fn shader(&self) -> &'static str {
        "rope.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        let mut d = vec![];
        if self.neox {
            d.push(("NEOX".into(), "1".into()));
        }
        if self.serial {
            d.push(("SERIAL".into(), "1".into()));
        }
        d
    }
    fn workgroup(&self) -> [u32; 3] {
        [if self.serial { SERIAL_HEADS } else { 64 }, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite, Access::ReadWrite]
    }
}

/// The (cos, sin) table of positions `0..n_pos`: `n_pos × n_rot/2` pairs, flattened.
pub fn rope_table(n_pos: usize, f: &RopeFreqs) -> Vec<f32> {
    (0..n_pos).flat_map(|p| crate::cpu::ops::rope_angles(p, f)).flatten().collect()
}

pub struct RopeArgs<'a> {
    pub angles: &'a Bind,
    /// Norm weights and biases (neither used: any buffer).
    pub vectors: &'a Bind,
    /// The projections' output, `qkv_width` floats per token.
    pub src: &'a Bind,
    pub q: &'a Bind,
    pub k: &'a Bind,
    pub v: &'a Bind,
}

/// Finishes `n_tokens` tokens' q, k and v heads (see rope.wgsl).
pub fn rope(rec: &mut Recorder, neox: bool, a: RopeArgs, params: &RopeParams, n_tokens: u32) -> Result<(), ShaderError> {
    let binds = [a.angles.clone(), a.vectors.clone(), a.src.clone(), a.q.clone(), a.k.clone(), a.v.clone()];
    let serial = rec.tuning() == crate::gpu::context::Tuning::Cpu;
    let heads = params.n_head + 2 * params.n_kv;
    let groups = if serial { heads.div_ceil(SERIAL_HEADS) } else { heads };
    rec.dispatch(&Rope { neox, serial }, params, &binds, [groups, n_tokens, 1])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::cpu::ops;
    use crate::gpu::buffers::{read_f32, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::context::Tuning;
    use crate::gpu::testing::{assert_nmse, kernels_tuned};
    use crate::quant::testdata::TestRng;

    #[test]
    fn rope_norm_bias_and_scatter_match_cpu() {
        for tuning in [Tuning::Cpu, Tuning::Gpu] {
            rope_case(tuning);
        }
    }

    fn rope_case(tuning: Tuning) {
        let k = kernels_tuned(tuning);
        let ctx = &k.ctx;
        let mut rng = TestRng::new(11);
        // (head_dim, head_dim_v, n_rot, n_head, n_kv, tokens, pos0)
        let cases = [(64, 64, 64, 9, 3, 5, 0), (256, 256, 256, 4, 1, 3, 700), (8, 12, 4, 2, 2, 7, 13), (64, 64, 32, 3, 1, 1, 2047)];
        for (hd, hdv, n_rot, nh, nkv, t, pos0) in cases {
            for neox in [false, true] {
                for (norm, bias) in [(false, false), (true, false), (false, true)] {
                    let base = if neox { 1e6 } else { 1e4 };
                    let (qd, kd, vd) = (nh * hd, nkv * hd, nkv * hdv);
                    let width = qd + kd + vd;
                    let src = rng.normals(t * width, 1.0);
                    // The vectors buffer: q and k norm weights, then q, k and v biases.
                    let vecs = rng.normals(2 * hd + width, 1.0);
                    let factors: Vec<f32> = (0..n_rot / 2).map(|i| 1.0 + (i % 5) as f32).collect();
                    let freqs = RopeFreqs {
                        n_rot,
                        base,
                        scale: if norm { 0.5 } else { 1.0 },
                        factors: neox.then_some(&factors[..]),
                        mscale: if norm { 1.0 } else { 1.25 },
                    };
                    let table = rope_table(pos0 + t, &freqs);
                    // q, k and v land after a sentinel prefix: the cache's earlier positions.
                    let (ko, vo) = (pos0 * kd, pos0 * vd);
                    let sentinel = |n: usize| vec![-7.0f32; n];
                    let (bq, bk, bv) = (
                        storage_f32(ctx, "q", &sentinel(t * qd)),
                        storage_f32(ctx, "k", &sentinel(ko + t * kd)),
                        storage_f32(ctx, "v", &sentinel(vo + t * vd)),
                    );
                    let (bs, bn, bf) = (storage_f32(ctx, "src", &src), storage_f32(ctx, "vecs", &vecs), storage_f32(ctx, "a", &table));
                    let b0 = 2 * hd;
                    let p = RopeParams {
                        n_head: nh as u32,
                        n_kv: nkv as u32,
                        head_dim: hd as u32,
                        head_dim_v: hdv as u32,
                        n_rot: n_rot as u32,
                        src_stride: width as u32,
                        q_stride: qd as u32,
                        k_offset: ko as u32,
                        k_stride: kd as u32,
                        v_offset: vo as u32,
                        v_stride: vd as u32,
                        pos0: pos0 as u32,
                        angles_offset: 0,
                        norm: norm as u32,
                        eps: 1e-6,
                        q_norm_offset: 0,
                        k_norm_offset: hd as u32,
                        bias: bias as u32,
                        q_bias: b0 as u32,
                        k_bias: (b0 + qd) as u32,
                        v_bias: (b0 + qd + kd) as u32,
                    };
                    assert_eq!(p.qkv_width() as usize, width);
                    let mut rec = k.recorder();
                    let w = |b| Bind::whole(b);
                    let args = RopeArgs { angles: &w(&bf), vectors: &w(&bn), src: &w(&bs), q: &w(&bq), k: &w(&bk), v: &w(&bv) };
                    rope(&mut rec, neox, args, &p, t as u32).unwrap();
                    rec.submit();
                    let gq = block_on(read_f32(ctx, &bq, 0, t * qd)).unwrap();
                    let gk = block_on(read_f32(ctx, &bk, 0, ko + t * kd)).unwrap();
                    let gv = block_on(read_f32(ctx, &bv, 0, vo + t * vd)).unwrap();
                    // The reference: split each token's row, add the biases, norm, rotate.
                    let (mut wq, mut wk, mut wv) = (Vec::new(), Vec::new(), Vec::new());
                    for (i, row) in src.chunks_exact(width).enumerate() {
                        let mut row = row.to_vec();
                        if bias {
                            row.iter_mut().zip(&vecs[b0..]).for_each(|(x, b)| *x += b);
                        }
                        let (q, rest) = row.split_at_mut(qd);
                        let (kk, v) = rest.split_at_mut(kd);
                        if norm {
                            ops::rms_norm(q, hd, &vecs[..hd], 1e-6);
                            ops::rms_norm(kk, hd, &vecs[hd..2 * hd], 1e-6);
                        }
                        q.chunks_exact_mut(hd).chain(kk.chunks_exact_mut(hd)).for_each(|head| ops::rope(head, pos0 + i, &freqs, neox));
                        wq.extend_from_slice(q);
                        wk.extend_from_slice(kk);
                        wv.extend_from_slice(v);
                    }
                    let what = format!("rope {tuning:?} hd={hd} hdv={hdv} n_rot={n_rot} pos0={pos0} neox={neox} norm={norm} bias={bias}");
                    assert!(gk[..ko].iter().chain(&gv[..vo]).all(|&x| x == -7.0), "{what}: wrote before its position");
                    // Same angles as the CPU; the norm's sum of squares is f32 in another order.
                    assert_nmse(&format!("{what} q"), &gq, &wq, 1e-12);
                    assert_nmse(&format!("{what} k"), &gk[ko..], &wk, 1e-12);
                    assert_nmse(&format!("{what} v"), &gv[vo..], &wv, 1e-12);
                }
            }
        }
    }
}
