//! Attention over the KV cache: split-KV plus a reduction for decoding one token, and a tiled
//! flash-style kernel with online softmax for prefilling a block of tokens. Both handle grouped KV
//! heads, Gemma's sliding window and score soft-capping.

use super::attn_cpu::{AttnCpu, QUAD};
use crate::gpu::context::Tuning;
use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::wgsl_params;

/// Keys per workgroup of the decode kernel. A CPU adapter runs a workgroup as one thread, so few
/// large splits (and usually no reduction pass) are cheapest there (64-key splits, for more
/// workgroups, cost SmolLM2 6% of its decode speed on both CPU adapters); a GPU needs many workgroups
/// in flight: with 256-key splits SmolLM2's 9 heads gave 9 workgroups and 89 µs per layer on an
/// H200, where 32-key splits and the extra reduction take a fraction of that.
pub fn decode_split(tuning: Tuning) -> u32 {
    if tuning == Tuning::Cpu {
        256
    } else {
        32
    }
}

wgsl_params! {
    pub struct AttnDecodeParams {
        pub n_head: u32,
        pub group: u32,
        pub q_offset: u32,
        pub q_stride: u32,
        pub kv_stride: u32,
        // keys of the first token (its position + 1)
        pub n_keys: u32,
        pub window: u32,
        // partial results per token and head: splits × AttnGeometry::parts
        pub n_splits: u32,
        pub scale: f32,
        pub softcap: f32,
        pub out_offset: u32,
        pub out_stride: u32,
        pub scores_offset: u32,
    }
}

wgsl_params! {
    pub struct AttnReduceParams { pub n_head: u32, pub n_splits: u32, pub out_offset: u32, pub out_stride: u32 }
}

wgsl_params! {
    pub struct AttnPrefillParams {
        pub group: u32,
        pub q_offset: u32,
        pub q_stride: u32,
        pub kv_stride: u32,
        pub n_tokens: u32,
        pub pos0: u32,
        pub window: u32,
        pub out_offset: u32,
        pub out_stride: u32,
        pub scale: f32,
        pub softcap: f32,
    }
}

/// Query tile and key tile of the prefill kernel.
const QT: u32 = 4;
const KT: u32 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttnDecode {
    pub head_dim: u32,
    /// Keys per workgroup.
    pub split: u32,
    /// All keys fit one split: normalize and write the output directly (no reduction pass).
    pub single: bool,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttnReduce {
    pub head_dim: u32,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttnPrefill {
    pub head_dim: u32,
}

impl AttnDecode {
    /// Invocations per head and split: four per output vector (64 to 256), so
    /// that no step of the kernel leaves a long serial chain of loads to a few of them.
    fn wg(&self) -> u32 {
        self.head_dim.next_power_of_two().clamp(64, 256)
    }
}

impl Kernel for AttnDecode {
    type Params = AttnDecodeParams;
    fn shader(&self) -> &'static str {
        "attn_decode.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        let mut d = vec![("HEAD_DIM".into(), format!("{}u", self.head_dim)), ("SPLIT".into(), format!("{}u", self.split))];
        if self.single {
            d.push(("SINGLE".into(), "1".into()));
        }
        // Invocations per output vector and per key (see attn_decode.wgsl).
        let wg = self.wg();
        let (lanes, tpk) =
            ((wg / (self.head_dim / 4)).max(1), if self.split <= wg && wg.is_multiple_of(self.split) { wg / self.split } else { 1 });
        d.push(("LANES".into(), format!("{lanes}u")));
        d.push(("TPK".into(), format!("{tpk}u")));
        d
    }
    fn workgroup(&self) -> [u32; 3] {
        [self.wg(), 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite]
    }
}

impl Kernel for AttnReduce {
    type Params = AttnReduceParams;
    fn shader(&self) -> &'static str {
        "attn_reduce.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![("HEAD_DIM".into(), format!("{}u", self.head_dim))]
    }
    fn workgroup(&self) -> [u32; 3] {
        [64, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::ReadWrite]
    }
}

impl Kernel for AttnPrefill {
    type Params = AttnPrefillParams;
    fn shader(&self) -> &'static str {
        "attn_prefill.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![("HEAD_DIM".into(), format!("{}u", self.head_dim)), ("QT".into(), format!("{QT}u")), ("KT".into(), format!("{KT}u"))]
    }
    fn workgroup(&self) -> [u32; 3] {
        [64, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::Read, Access::ReadWrite]
    }
}

/// Geometry shared by both paths.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnGeometry {
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    pub scale: f32,
    pub softcap: Option<f32>,
    /// Sliding window in positions (`None`: all earlier keys).
    pub window: Option<u32>,
    /// Keys per workgroup when decoding (see [`decode_split`]).
    pub split: u32,
    /// Partial results per split ([`AttnCpu::parts_for`]).
    pub parts: u32,
}

impl AttnGeometry {
    fn kv_stride(&self) -> u32 {
        self.n_head_kv * self.head_dim
    }
    /// Floats of the split path's scratch for `tokens` queries: per token, head and split, the
    /// partial result (`head_dim + 2`) and the scores (`split`; the CPU kernel's heads padded to
    /// whole quads per KV head).
    pub fn scratch_floats(&self, n_ctx: u32, tokens: u32) -> u64 {
        let score_heads = self.n_head.max(AttnCpu::jobs(self.n_head, self.n_head / self.n_head_kv) * QUAD) as u64;
        let per_split = self.n_head as u64 * (self.head_dim as u64 + 2) * self.parts as u64 + score_heads * self.split as u64;
        tokens as u64 * n_ctx.div_ceil(self.split) as u64 * per_split
    }
}

pub struct AttnBuffers<'a> {
    pub q: &'a Bind,
    pub k: &'a Bind,
    pub v: &'a Bind,
    pub out: &'a Bind,
}

/// Attention of the token at position `pos` (keys `0..=pos` are in the cache); its output goes to
/// `out[out_offset..]`. `scratch` (see [`AttnGeometry::scratch_floats`]) holds the per-split
/// partial results and scores.
pub fn attention_decode(
    rec: &mut Recorder,
    g: &AttnGeometry,
    b: AttnBuffers,
    q_offset: u32,
    pos: u32,
    out_offset: u32,
    scratch: &Bind,
) -> Result<(), ShaderError> {
    attention_split(rec, g, b, q_offset, pos, 1, out_offset, scratch)
}

/// Attention of `n_tokens` queries at positions `pos0..` through the split kernel (rows laid out as
/// for [`attention_prefill`]): decoding, and prefill (see [`prefill_by_splits`]).
#[allow(clippy::too_many_arguments)]
pub fn attention_split(
    rec: &mut Recorder,
    g: &AttnGeometry,
    b: AttnBuffers,
    q_offset: u32,
    pos0: u32,
    n_tokens: u32,
    out_offset: u32,
    scratch: &Bind,
) -> Result<(), ShaderError> {
    let row = g.n_head * g.head_dim;
    let n_splits = (pos0 + n_tokens).div_ceil(g.split);
    // Partial results per token and head, for the reduction.
    let n_parts = n_splits * g.parts;
    let p = AttnDecodeParams {
        n_head: g.n_head,
        group: g.n_head / g.n_head_kv,
        q_offset,
        q_stride: row,
        kv_stride: g.kv_stride(),
        n_keys: pos0 + 1,
        window: g.window.unwrap_or(0),
        n_splits: n_parts,
        scale: g.scale,
        softcap: g.softcap.unwrap_or(0.0),
        out_offset,
        out_stride: row,
        scores_offset: n_tokens * g.n_head * n_parts * (g.head_dim + 2),
    };
    let single = n_parts == 1;
    let binds = [b.q.clone(), b.k.clone(), b.v.clone(), b.out.clone(), scratch.clone()];
    if rec.tuning() == Tuning::Cpu {
        let key = AttnCpu::new(g.head_dim, g.split, g.parts, rec.subgroup_size(), single);
        rec.dispatch(&key, &p, &binds, [n_splits, AttnCpu::jobs(g.n_head, p.group), n_tokens])?;
    } else {
        rec.dispatch(&AttnDecode { head_dim: g.head_dim, split: g.split, single }, &p, &binds, [n_splits, g.n_head, n_tokens])?;
    }
    if single {
        return Ok(());
    }
    let r = AttnReduceParams { n_head: g.n_head, n_splits: n_parts, out_offset, out_stride: row };
    rec.dispatch(&AttnReduce { head_dim: g.head_dim }, &r, &[scratch.clone(), b.out.clone()], [g.n_head, n_tokens, 1])
}

/// Whether a batch's attention runs through the split kernel (its grid: splits × heads × tokens)
/// rather than the tiled prefill kernel. It does on every adapter measured. On CPU adapters the
/// split kernel runs without barriers (one invocation per head) and took SwiftShader 3x less time
/// for a 170-token prompt. On an H200 its grid filled the chip where the tiled kernel's query
/// tiles left it idle: a 170-token prefill's attention took 2.7 ms instead of 22.8 (SmolLM2) and
/// 1.8 ms instead of 46.1 (Gemma), prefill 4066 -> 7412 and 2637 -> 8136 tok/s. The model sizes
/// its scratch for it. Natively, `GGUF_WEB_ATTN_PREFILL=tiled` selects the tiled kernel.
pub fn prefill_by_splits() -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    if std::env::var("GGUF_WEB_ATTN_PREFILL").as_deref() == Ok("tiled") {
        return false;
    }
    true
}

/// Attention of `n_tokens` queries at positions `pos0..` (their keys already in the cache); row t
/// of the output starts at `out_offset + t · n_head · head_dim`.
pub fn attention_prefill(
    rec: &mut Recorder,
    g: &AttnGeometry,
    b: AttnBuffers,
    q_offset: u32,
    pos0: u32,
    n_tokens: u32,
    out_offset: u32,
) -> Result<(), ShaderError> {
    let row = g.n_head * g.head_dim;
    let p = AttnPrefillParams {
        group: g.n_head / g.n_head_kv,
        q_offset,
        q_stride: row,
        kv_stride: g.kv_stride(),
        n_tokens,
        pos0,
        window: g.window.unwrap_or(0),
        out_offset,
        out_stride: row,
        scale: g.scale,
        softcap: g.softcap.unwrap_or(0.0),
    };
    rec.dispatch(
        &AttnPrefill { head_dim: g.head_dim },
        &p,
        &[b.q.clone(), b.k.clone(), b.v.clone(), b.out.clone()],
        [n_tokens.div_ceil(QT), g.n_head, 1],
    )
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::cpu::ops::{attention, AttnShape};
    use crate::gpu::buffers::{read_f32, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::{assert_nmse, kernel_shapes};
    use crate::quant::testdata::TestRng;

    /// Exponentials and sums in a different order than the CPU.
    const TOL: f64 = 1e-10;

    fn case(k: &crate::gpu::Kernels, g: AttnGeometry, n_ctx: usize, p0: usize, t: usize, seed: u64) {
        let ctx = &k.ctx;
        let g = AttnGeometry { parts: AttnCpu::parts_for(ctx.tuning, ctx.subgroup_size_in_use()), ..g };
        let mut rng = TestRng::new(seed);
        let (hd, nh, nkv) = (g.head_dim as usize, g.n_head as usize, g.n_head_kv as usize);
        let q = rng.normals(t * nh * hd, 1.0);
        let kc = rng.normals(n_ctx * nkv * hd, 1.0);
        let vc = rng.normals(n_ctx * nkv * hd, 1.0);
        let shape = AttnShape {
            n_head: nh,
            n_head_kv: nkv,
            head_dim: hd,
            head_dim_v: hd,
            scale: g.scale,
            softcap: g.softcap,
            window: g.window.map(|w| w as usize),
        };
        let want = attention(&shape, &q, &kc, &vc, p0, t);
        let (bq, bk, bv) = (storage_f32(ctx, "q", &q), storage_f32(ctx, "k", &kc), storage_f32(ctx, "v", &vc));
        let out = storage_f32(ctx, "out", &vec![0.0; t * nh * hd]);
        let scratch = storage_f32(ctx, "scratch", &vec![0.0; g.scratch_floats(n_ctx as u32, t as u32) as usize]);
        let (wq, wk, wv, wo) = (Bind::whole(&bq), Bind::whole(&bk), Bind::whole(&bv), Bind::whole(&out));
        let bufs = || AttnBuffers { q: &wq, k: &wk, v: &wv, out: &wo };
        let what = format!("{g:?} p0={p0} t={t}");
        // Prefill path over all t queries.
        let mut rec = k.recorder();
        attention_prefill(&mut rec, &g, bufs(), 0, p0 as u32, t as u32, 0).unwrap();
        rec.submit();
        let got = block_on(read_f32(ctx, &out, 0, want.len())).unwrap();
        assert_nmse(&format!("prefill {what}"), &got, &want, TOL);
        // Decode path, one query at a time.
        let out2 = storage_f32(ctx, "out2", &vec![0.0; t * nh * hd]);
        let mut rec = k.recorder();
        for i in 0..t {
            let row = (i * nh * hd) as u32;
            let wo2 = Bind::whole(&out2);
            let b = AttnBuffers { q: &wq, k: &wk, v: &wv, out: &wo2 };
            attention_decode(&mut rec, &g, b, row, (p0 + i) as u32, row, &Bind::whole(&scratch)).unwrap();
            // Each decode reuses the scratch: submit per token.
            rec.submit();
            rec = k.recorder();
        }
        rec.submit();
        let got = block_on(read_f32(ctx, &out2, 0, want.len())).unwrap();
        assert_nmse(&format!("decode {what}"), &got, &want, TOL);
        // Split path over all t queries at once (CPU adapters' prefill).
        let out3 = storage_f32(ctx, "out3", &vec![0.0; t * nh * hd]);
        let mut rec = k.recorder();
        let wo3 = Bind::whole(&out3);
        attention_split(&mut rec, &g, AttnBuffers { q: &wq, k: &wk, v: &wv, out: &wo3 }, 0, p0 as u32, t as u32, 0, &Bind::whole(&scratch))
            .unwrap();
        rec.submit();
        let got = block_on(read_f32(ctx, &out3, 0, want.len())).unwrap();
        assert_nmse(&format!("split batch {what}"), &got, &want, TOL);
    }

    #[test]
    fn attention_matches_cpu_over_awkward_shapes() {
        // The CPU adapters' kernel (attn_cpu.wgsl) with subgroups and without (each lane a
        // partial of its own, as in Firefox), and the GPUs' workgroups, each over every geometry.
        for k in kernel_shapes() {
            attention_case(&k);
        }
    }

    fn attention_case(k: &crate::gpu::Kernels) {
        let mut seed = 0;
        let geoms = [
            AttnGeometry { n_head: 9, n_head_kv: 3, head_dim: 64, scale: 0.125, softcap: None, window: None, split: 256, parts: 1 },
            AttnGeometry { n_head: 4, n_head_kv: 1, head_dim: 256, scale: 0.0625, softcap: None, window: Some(7), split: 256, parts: 1 },
            AttnGeometry { n_head: 2, n_head_kv: 2, head_dim: 8, scale: 0.35, softcap: Some(5.0), window: None, split: 256, parts: 1 },
            // The GPU split: several splits and the reduction already at small contexts.
            AttnGeometry { n_head: 9, n_head_kv: 3, head_dim: 64, scale: 0.125, softcap: None, window: None, split: 32, parts: 1 },
            AttnGeometry {
                n_head: 4,
                n_head_kv: 1,
                head_dim: 256,
                scale: 0.0625,
                softcap: Some(5.0),
                window: Some(40),
                split: 32,
                parts: 1,
            },
        ];
        for g in geoms {
            // (p0, tokens): first token, odd blocks, crossing the 32-key tile and the 256-key split
            // (or several 32-key splits, a window across them).
            for (p0, t) in [(0, 1), (0, 5), (3, 7), (25, 13), (250, 33), (600, 2)] {
                case(k, g, p0 + t, p0, t, seed);
                seed += 1;
            }
        }
    }
}
