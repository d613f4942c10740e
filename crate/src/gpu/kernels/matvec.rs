//! Quantized matrix × vector for decoding one token: `y = W x`, every quant type from one shader
//! (`matvec.wgsl`) with the type's block decoder included. The variant (threads per row, rows per
//! workgroup, fast path, x shared per subgroup) is part of the key so that the fastest one can be
//! picked per adapter.

use super::matmul::MatMulIo;
use crate::gpu::context::Tuning;
use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::gpu::weights::GpuMatrix;
use crate::model::Activation;
use crate::quant::GgmlType;
use crate::wgsl_params;

wgsl_params! {
    pub struct MatVecParams {
        pub rows: u32,
        pub blocks_per_row: u32,
        pub scale_base: u32,
        pub x_offset: u32,
        pub y_offset: u32,
        pub accumulate: u32,
        pub steps: u32,
        pub slots: u32,
        pub x_stride_token: u32,
        pub x_stride_slot: u32,
        pub y_stride: u32,
        pub g_offset: u32,
        pub gated: u32,
        pub paired: u32,
        pub tokens: u32,
        pub normed: u32,
        pub nw_offset: u32,
        pub eps: f32,
        pub x_len: u32,
    }
}

/// The shader file holding a type's block decoder (`q_get4`).
pub fn quant_file(ty: GgmlType) -> String {
    format!("{}.wgsl", ty.name().to_lowercase())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatVec {
    pub ty: GgmlType,
    /// Threads sharing one row (a power of two).
    pub threads_per_row: u32,
    /// Invocations per workgroup along the rows.
    pub groups_of_rows: u32,
    /// Consecutive rows per invocation.
    pub rows_per_thread: u32,
    /// Read the weights as whole vec4<u32> and decode a step of blocks at once (the type's
    /// `mv_head`/`mv_sub`) wherever a row is a whole number of steps; the launcher falls back to
    /// the generic per-4-values decoder otherwise.
    pub vec4: bool,
    /// Load each x vector once per subgroup and broadcast it, where the adapter has subgroups of 4
    /// or 8 lanes (the CPU adapters' SIMD width), `threads_per_row` is 1 and `groups_of_rows` a
    /// multiple of 8. CPU adapters load lane by lane, so this removes most of the x loads.
    pub share_x: bool,
    /// Expert mode: the matrix stacks the experts of a mixture and each workgroup layer z runs the
    /// expert the route buffer names (see `matvec_experts`).
    pub experts: bool,
    /// The variant that can write act(gate) · (W x), the gate read from a buffer laid out as y: a
    /// launch with a `GluIn` turns it on, one without runs the plain product (see `with_gate`).
    pub glu: Option<Activation>,
    /// Four tokens of a batch per invocation, each weight decoded once for all four (set by
    /// `matvec_tokens` where the fast path runs with one thread per row).
    pub tokens4: bool,
    /// The variant that can RMSNorm x on the way in ([`matvec_normed`]); with `glu` only, and only
    /// in the GPU shapes (the CPU adapters would pay for it on every x load, see matvec.wgsl).
    pub norm_x: bool,
}

/// Whether the fast path runs four tokens at once for `ty` (prefill): the types with small blocks.
/// The others' four-token decoders take SwiftShader seconds to compile (up to 8 s for IQ4_XS) for
/// a prefill gain of about a fifth.
pub fn four_tokens_pay(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(ty, F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0)
}

/// Blocks per fast-path step (`MV_STEP_BLOCKS` of the type's shader).
pub fn step_blocks(ty: GgmlType) -> usize {
    use GgmlType::*;
    match ty {
        F32 | F16 | BF16 => 8,
        Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | IQ4_NL => 2,
        _ => 1,
    }
}

impl MatVec {
    /// The default variant for a type: good on the CPU adapters (lavapipe, SwiftShader) and sound
    /// everywhere; benchmarks may pick another.
    pub fn for_type(ty: GgmlType) -> MatVec {
        // The 256-value blocks (k-quants, IQ4_XS) decode so much per step that 4 rows per
        // invocation beat 8 on both CPU adapters, and compile 3x faster on SwiftShader (seconds).
        // Small workgroups split the 576- and 640-row matrices (attention output, FFN down) evenly
        // over 2 threads: the others take 64 rows per workgroup, not 128 (each of those shapes
        // gained 0.10-0.17 of copy, SwiftShader decode +5%); the 256-value blocks 32, not 64
        // (the lowest shapes +0.04-0.06 of copy on both adapters once their decoders lost their
        // shifts, e.g. Q3_K 0.43 -> 0.49 on SwiftShader, 0.67 -> 0.74 on lavapipe).
        let (groups_of_rows, rows_per_thread) = if step_blocks(ty) == 1 { (8, 4) } else { (8, 8) };
        MatVec {
            ty,
            threads_per_row: 1,
            groups_of_rows,
            rows_per_thread,
            vec4: true,
            share_x: true,
            experts: false,
            glu: None,
            tokens4: false,
            norm_x: false,
        }
    }
    /// The variant for a `rows`-row matrix of `ty` on an adapter tuned as `tuning`, whose kernels
    /// may use subgroups of `subgroup_size` lanes (0: none; [`GpuContext::subgroup_size_in_use`]).
    /// On a CPU adapter [`MatVec::for_type`], except that without x shared per subgroup (Firefox's
    /// WebGPU has no subgroups) the 256-value blocks take 8 rows per invocation, not 4: every lane
    /// then loads all of x, and 8 rows share each load (Gemma 3 Q4_K_M decode on lavapipe without
    /// subgroups 7.8 -> 8.6 tok/s, alternating runs; with subgroups 4 rows stay best). On a GPU one
    /// invocation per row leaves most of the chip idle and each thread waiting on a long chain of
    /// loads: measured on an H100/H200 through Vulkan, a 576 × 576 Q4_1 product took 31 µs that way
    /// and 8 µs with 16 threads per row, near the cost of an empty dispatch. Matrices with many rows
    /// (the output) fill the chip with 4 threads per row; the 256-value blocks split best as 8
    /// threads × 2 rows.
    ///
    /// [`GpuContext::subgroup_size_in_use`]: crate::gpu::GpuContext::subgroup_size_in_use
    pub fn tuned(ty: GgmlType, rows: usize, tuning: Tuning, subgroup_size: u32) -> MatVec {
        let base = MatVec::for_type(ty);
        if tuning == Tuning::Cpu {
            let x_shared = matches!(subgroup_size, 4 | 8);
            return if !x_shared && step_blocks(ty) == 1 { MatVec { rows_per_thread: 8, ..base } } else { base };
        }
        let (threads_per_row, groups_of_rows, rows_per_thread) = if step_blocks(ty) == 1 {
            (8, 8, 2)
        } else if rows >= 16384 {
            (4, 32, 1)
        } else {
            (16, 4, 1)
        };
        MatVec { threads_per_row, groups_of_rows, rows_per_thread, share_x: false, norm_x: true, ..base }
    }
    pub fn rows_per_group(&self) -> u32 {
        self.groups_of_rows * self.rows_per_thread
    }
    /// The variant for [`matvec_paired`]: rows per invocation made even (a gate row and its up
    /// row). On CPU adapters the same pipeline as the plain product (the switch is at run time).
    pub fn paired(self) -> MatVec {
        MatVec { rows_per_thread: self.rows_per_thread.max(2) & !1, ..self }
    }
    /// The variant that runs on `w`: without the fast path when a row is not a whole number of
    /// steps.
    pub fn for_matrix(self, w: &GpuMatrix) -> MatVec {
        MatVec { vec4: self.vec4 && w.blocks_per_row().is_multiple_of(step_blocks(self.ty)), ..self }
    }
    /// The gated variant, used for plain products too: a model with a gated feed-forward then
    /// compiles one pipeline per quant type instead of two.
    pub fn with_gate(self, act: Activation) -> MatVec {
        MatVec { glu: Some(act), ..self }
    }
    fn norms_x(&self) -> bool {
        self.norm_x && self.glu.is_some() && !self.shares_x() && !self.tokens4
    }
    fn shares_x(&self) -> bool {
        self.vec4 && self.share_x && self.threads_per_row == 1 && self.groups_of_rows.is_multiple_of(8)
    }
}

impl Kernel for MatVec {
    type Params = MatVecParams;
    fn shader(&self) -> &'static str {
        "matvec.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        let mut d = vec![("TYPE_FILE".into(), quant_file(self.ty)), ("ROWS".into(), format!("{}u", self.rows_per_thread))];
        if self.vec4 {
            d.push(("MV_FAST".into(), "1".into()));
            // The fast path's per-row statements, unrolled: SwiftShader does not unroll loops and
            // indexes private arrays with a loop counter lane by lane.
            let each = |stmt: &str| (0..self.rows_per_thread).map(|r| stmt.replace('#', &format!("{r}u"))).collect::<Vec<_>>().join(" ");
            d.push(("MV_EACH_ROW_HEAD".into(), each("head[#] = mv_head(blk0[#] + b);")));
            d.push(("MV_EACH_ROW_SUB".into(), each("acc[#] += mv_sub(blk0[#] + b, c, head[#]);")));
        }
        if self.shares_x() {
            d.push(("SHARE_X".into(), "1".into()));
        }
        if self.experts {
            d.push(("EXPERTS".into(), "1".into()));
        }
        if self.tokens4 {
            d.push(("MV_TOKENS".into(), "1".into()));
        }
        if let Some(act) = self.glu {
            d.push(("GLU_OUT".into(), "1".into()));
            let g = 4 + self.vec4 as u32 + self.experts as u32;
            d.push(("G_BINDING".into(), g.to_string()));
            if self.norms_x() {
                d.push(("NORM_X".into(), "1".into()));
                d.push(("NW_BINDING".into(), (g + 1).to_string()));
            }
            if act == Activation::GeluTanh {
                d.push(("GELU".into(), "1".into()));
            }
        }
        d
    }
    fn workgroup(&self) -> [u32; 3] {
        [self.groups_of_rows, self.threads_per_row, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        let mut b = vec![Access::Read, Access::Read, Access::ReadWrite];
        if self.vec4 {
            b.push(Access::Read);
        }
        if self.experts {
            b.push(Access::Read);
        }
        if self.glu.is_some() {
            b.push(Access::Read);
        }
        if self.norms_x() {
            b.push(Access::Read);
        }
        b
    }
}

/// Splits `n` workgroups into a 2-D grid within the per-dimension limit.
pub fn grid(n: u32) -> [u32; 3] {
    if n <= 65535 {
        [n, 1, 1]
    } else {
        let y = n.div_ceil(65535);
        [n.div_ceil(y), y, 1]
    }
}

/// `y[y_offset + r] (+)= Σ_k W[r, k] · x[x_offset + k]` for every row of `w` (all its parts).
/// `x_offset` must be a multiple of 4.
pub fn matvec(
    rec: &mut Recorder,
    key: MatVec,
    w: &GpuMatrix,
    x: &Bind,
    x_offset: u32,
    y: &Bind,
    y_offset: u32,
    accumulate: bool,
) -> Result<(), ShaderError> {
    let io = MatMulIo { x, x_offset, x_stride: 0, y, y_offset, y_stride: 0 };
    matvec_tokens(rec, key, w, io, None, 1, accumulate)
}

/// The gate of a fused GLU: `y[i] = act(g[g_offset + i]) · (W x)[i]`, g laid out as y.
#[derive(Clone, Copy)]
pub struct GluIn<'a> {
    pub act: Activation,
    pub g: &'a Bind,
    pub g_offset: u32,
}

/// The matvec of every token of a batch in one dispatch (workgroup layer z = token, or group of 4
/// tokens with the fast path; laid out as for the matmul): cheaper than the matmul's tiles on CPU
/// adapters. Offsets and strides must be multiples of 4. With `glu`, y gets the
/// gate's activation times the product.
pub fn matvec_tokens(
    rec: &mut Recorder,
    key: MatVec,
    w: &GpuMatrix,
    io: MatMulIo,
    glu: Option<GluIn>,
    tokens: u32,
    accumulate: bool,
) -> Result<(), ShaderError> {
    matvec_gated(rec, key, w, io, glu.map_or(Gate::None, Gate::Buffer), None, tokens, accumulate)
}

/// A gated feed-forward's gate and up projections, stacked in `w` (gate rows, then as many up
/// rows; one binding): `y = act(gate · x) · (up · x)` for every token, in one dispatch.
pub fn matvec_paired(
    rec: &mut Recorder,
    key: MatVec,
    w: &GpuMatrix,
    io: MatMulIo,
    act: Activation,
    tokens: u32,
) -> Result<(), ShaderError> {
    matvec_gated(rec, key.paired(), w, io, Gate::Paired(act), None, tokens, false)
}

/// The RMSNorm a matvec applies to x as it reads it: weights at `offset` (a multiple of 4) of `w`.
#[derive(Clone, Copy)]
pub struct XNorm<'a> {
    pub w: &'a Bind,
    pub offset: u32,
    pub eps: f32,
}

/// Whether `key` can norm its x itself ([`matvec_normed`]): the GPU shapes.
pub fn can_norm_x(key: MatVec) -> bool {
    key.norms_x()
}

/// `y = W · (rmsnorm(x) · nw)` for every token (`paired`: of a stacked gate and up, as
/// [`matvec_paired`]): the norm and the product in one dispatch. Only where [`can_norm_x`].
pub fn matvec_normed(
    rec: &mut Recorder,
    key: MatVec,
    w: &GpuMatrix,
    io: MatMulIo,
    norm: XNorm,
    paired: Option<Activation>,
    tokens: u32,
) -> Result<(), ShaderError> {
    debug_assert!(can_norm_x(key) && norm.offset.is_multiple_of(4));
    match paired {
        Some(act) => matvec_gated(rec, key.paired(), w, io, Gate::Paired(act), Some(norm), tokens, false),
        None => matvec_gated(rec, key, w, io, Gate::None, Some(norm), tokens, false),
    }
}

/// Where a matvec's gate comes from.
#[derive(Clone, Copy)]
enum Gate<'a> {
    None,
    Buffer(GluIn<'a>),
    /// The matrix's first half.
    Paired(Activation),
}

#[allow(clippy::too_many_arguments)]
fn matvec_gated(
    rec: &mut Recorder,
    key: MatVec,
    w: &GpuMatrix,
    io: MatMulIo,
    gate: Gate,
    norm: Option<XNorm>,
    tokens: u32,
    accumulate: bool,
) -> Result<(), ShaderError> {
    debug_assert_eq!(key.ty, w.ty);
    debug_assert!(io.x_offset.is_multiple_of(4) && io.x_stride.is_multiple_of(4));
    let (glu, act) = match gate {
        Gate::None => (None, key.glu),
        Gate::Buffer(g) => (Some(g), Some(g.act)),
        Gate::Paired(act) => (None, Some(act)),
    };
    let paired = matches!(gate, Gate::Paired(_));
    debug_assert!(!(paired || glu.is_some()) || !accumulate);
    debug_assert!(!paired || (w.parts.len() == 1 && w.rows.is_multiple_of(2) && key.rows_per_thread.is_multiple_of(2)));
    let key = MatVec { glu: act, ..key.for_matrix(w) };
    let key = MatVec { tokens4: tokens > 1 && key.vec4 && key.threads_per_row == 1 && !key.experts && four_tokens_pay(key.ty), ..key };
    let layers = if key.tokens4 { tokens.div_ceil(4) } else { tokens };
    if norm.is_some() && !key.norms_x() {
        return Err(ShaderError(format!("{key:?} cannot norm its x (GPU shapes with a gate only)")));
    }
    for p in &w.parts {
        let out_rows = if paired { p.rows / 2 } else { p.rows } as u32;
        let params = MatVecParams {
            rows: out_rows,
            blocks_per_row: w.blocks_per_row() as u32,
            scale_base: p.scale_base,
            x_offset: io.x_offset,
            y_offset: io.y_offset + p.row0 as u32,
            accumulate: accumulate as u32,
            steps: (w.blocks_per_row() / step_blocks(w.ty)) as u32,
            slots: 1,
            x_stride_token: io.x_stride,
            x_stride_slot: 0,
            y_stride: io.y_stride,
            g_offset: glu.map_or(0, |g| g.g_offset + p.row0 as u32),
            gated: glu.is_some() as u32,
            paired: paired as u32,
            tokens,
            normed: norm.is_some() as u32,
            nw_offset: norm.map_or(0, |n| n.offset),
            eps: norm.map_or(0.0, |n| n.eps),
            x_len: w.cols as u32,
        };
        let out_per_group = key.rows_per_group() / (1 + paired as u32);
        let [gx, gy, _] = grid(out_rows.div_ceil(out_per_group));
        let wb = Bind::whole(&p.buffer);
        let mut binds = vec![wb.clone(), io.x.clone(), io.y.clone()];
        if key.vec4 {
            binds.push(wb);
        }
        if key.glu.is_some() {
            // Ungated: any buffer that is not written fills the gate's binding.
            binds.push(glu.map_or(io.x, |g| g.g).clone());
        }
        if key.norms_x() {
            // Likewise for the norm weights.
            binds.push(norm.map_or(io.x, |n| n.w).clone());
        }
        rec.dispatch(&key, &params, &binds, [gx, gy, layers])?;
    }
    Ok(())
}

/// Inputs and outputs of the experts of a mixture for `tokens` tokens and `slots` picks each: pick
/// `j` of token `t` reads x from `x_offset + t·x_stride_token + j·x_stride_slot` and writes
/// `expert_rows` values at `y_offset + (t·slots + j)·y_stride`; `route` holds the expert ids
/// (`t·slots + j`), as the router writes them.
pub struct ExpertIo<'a> {
    pub x: &'a Bind,
    pub x_offset: u32,
    pub x_stride_token: u32,
    pub x_stride_slot: u32,
    pub y: &'a Bind,
    pub y_offset: u32,
    pub y_stride: u32,
    pub route: &'a Bind,
    pub glu: Option<GluIn<'a>>,
}

/// Runs the chosen experts of `w` (experts of `expert_rows` rows each, stacked; one binding):
/// only their rows are read.
pub fn matvec_experts(
    rec: &mut Recorder,
    key: MatVec,
    w: &GpuMatrix,
    io: ExpertIo,
    expert_rows: u32,
    tokens: u32,
    slots: u32,
) -> Result<(), ShaderError> {
    debug_assert_eq!(w.parts.len(), 1, "expert matrices must fit one binding");
    debug_assert!(io.x_offset.is_multiple_of(4) && io.x_stride_token.is_multiple_of(4) && io.x_stride_slot.is_multiple_of(4));
    let key = MatVec { experts: true, glu: io.glu.map(|g| g.act).or(key.glu), ..key.for_matrix(w) };
    let p = &w.parts[0];
    let params = MatVecParams {
        rows: expert_rows,
        blocks_per_row: w.blocks_per_row() as u32,
        scale_base: p.scale_base,
        x_offset: io.x_offset,
        y_offset: io.y_offset,
        accumulate: 0,
        steps: (w.blocks_per_row() / step_blocks(w.ty)) as u32,
        slots,
        x_stride_token: io.x_stride_token,
        x_stride_slot: io.x_stride_slot,
        y_stride: io.y_stride,
        g_offset: io.glu.map_or(0, |g| g.g_offset),
        gated: io.glu.is_some() as u32,
        paired: 0,
        tokens,
        normed: 0,
        nw_offset: 0,
        eps: 0.0,
        x_len: w.cols as u32,
    };
    let [gx, gy, _] = grid(expert_rows.div_ceil(key.rows_per_group()));
    let wb = Bind::whole(&p.buffer);
    let mut binds = vec![wb.clone(), io.x.clone(), io.y.clone()];
    if key.vec4 {
        binds.push(wb);
    }
    binds.push(io.route.clone());
    if key.glu.is_some() {
        binds.push(io.glu.map_or(io.x, |g| g.g).clone());
    }
    if key.norms_x() {
        binds.push(io.x.clone());
    }
    rec.dispatch(&key, &params, &binds, [gx, gy, tokens * slots])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::gpu::buffers::{read_f32, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::kernels;
    use crate::quant::dequantize;
    use crate::quant::testdata::{random_tensor, TestRng};

    /// f32 accumulation in a different order than the CPU (the fast path also sums a block before
    /// applying its scale); dequantization is exact.
    const TOL: f64 = 1e-10;

    /// Σ(got - want)² / max(Σ want², Σ_r Σ_k (W_rk x_k)²), `want` in f64. The second denominator
    /// is the expected Σ y² for random data: a row whose random terms cancel to nearly 0 (the
    /// 1-row shapes) would otherwise make any reordering of the f32 sum fail.
    fn nmse_vs_products(got: &[f32], w: &[f32], x: &[f32]) -> (f64, Vec<f64>) {
        let cols = x.len();
        let (mut err, mut norm, mut energy) = (0f64, 0f64, 0f64);
        let mut want = Vec::new();
        for (r, &g) in got.iter().enumerate() {
            let row = &w[r * cols..(r + 1) * cols];
            let y: f64 = row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
            energy += row.iter().zip(x).map(|(&a, &b)| (a as f64 * b as f64).powi(2)).sum::<f64>();
            err += (g as f64 - y).powi(2);
            norm += y * y;
            want.push(y);
        }
        let e = err / norm.max(energy).max(1e-30);
        (if e.is_finite() { e } else { f64::INFINITY }, want)
    }

    fn check(k: &crate::gpu::Kernels, key: MatVec, rows: usize, cols: usize, max_binding: u64, seed: u64) {
        let mut rng = TestRng::new(seed);
        let raw = random_tensor(key.ty, rows * cols, 1.0, &mut rng);
        check_raw(k, key, rows, cols, max_binding, &raw, &mut rng);
    }

    /// The matvec of the `rows` × `cols` matrix `raw` (GGUF bytes of `key.ty`) against the CPU's.
    fn check_raw(k: &crate::gpu::Kernels, key: MatVec, rows: usize, cols: usize, max_binding: u64, raw: &[u8], rng: &mut TestRng) {
        let ctx = &k.ctx;
        let mut wf = vec![0f32; rows * cols];
        dequantize(key.ty, raw, &mut wf).unwrap();
        let x = rng.normals(cols + 8, 1.0);
        let w = GpuMatrix::new(&ctx.device, "w", key.ty, cols, rows, max_binding).unwrap();
        // Upload in two chunks to exercise the streaming path.
        let row_bytes = key.ty.row_bytes(cols as u64).unwrap() as usize;
        let half = (rows / 2) & !1;
        w.upload_rows(&ctx.queue, 0, &raw[..half * row_bytes]).unwrap();
        w.upload_rows(&ctx.queue, half, &raw[half * row_bytes..]).unwrap();
        let bx = storage_f32(ctx, "x", &x);
        let by = storage_f32(ctx, "y", &vec![0.0; rows + 3]);
        let mut rec = k.recorder();
        matvec(&mut rec, key, &w, &Bind::whole(&bx), 4, &Bind::whole(&by), 3, false).unwrap();
        rec.submit();
        let got = block_on(read_f32(ctx, &by, 3, rows)).unwrap();
        let (e, want) = nmse_vs_products(&got, &wf, &x[4..4 + cols]);
        assert!(
            e <= TOL,
            "{key:?} {rows}x{cols} parts={}: NMSE {e:.3e} > {TOL:.1e}\n got[..8]  {:?}\n want[..8] {:?}",
            w.parts.len(),
            &got[..rows.min(8)],
            &want[..rows.min(8)]
        );
    }

    #[test]
    fn matvec_matches_cpu_for_every_type_and_awkward_shapes() {
        let k = kernels();
        let mut n = 0;
        for ty in GgmlType::all().filter(|t| t.is_supported()) {
            let qk = crate::gpu::weights::gpu_block_elems(ty).max(32);
            for (rows, blocks) in [(1, 1), (5, 3), (7, 2), (13, 5), (33, 1), (64, 4)] {
                // The generic path (alone and with a column split), the fast path with a column
                // split and with odd sizes, the default, x shared per subgroup with odd sizes
                // (shared only where the adapter has subgroups of 4 or 8), and the CPU adapters'
                // variant without subgroups (8 rows for the 256-value blocks).
                for (tpr, g, rpt, vec4, share_x) in [
                    (1, 64, 4, false, false),
                    (4, 16, 2, false, false),
                    (32, 2, 3, true, false),
                    (1, 7, 2, true, false),
                    (1, 8, 3, true, true),
                    (16, 4, 1, true, false),
                    (0, 0, 0, true, true),
                    (0, 1, 0, true, true),
                ] {
                    let key = match (tpr, g) {
                        (0, 0) => MatVec::for_type(ty),
                        (0, _) => MatVec::tuned(ty, rows, Tuning::Cpu, 0),
                        _ => MatVec {
                            ty,
                            threads_per_row: tpr,
                            groups_of_rows: g,
                            rows_per_thread: rpt,
                            vec4,
                            share_x,
                            experts: false,
                            glu: None,
                            tokens4: false,
                            norm_x: false,
                        },
                    };
                    check(&k, key, rows, qk * blocks, 1 << 30, n);
                    n += 1;
                }
            }
        }
        println!("{n} matvec cases");
    }

    /// F16 weights of every magnitude class, subnormal ones included (the fast path decodes halves
    /// with integer arithmetic, where subnormals need their own rebiasing: it once got them wrong).
    #[test]
    fn f16_matvec_decodes_subnormal_and_normal_halves() {
        let k = kernels();
        let mut rng = TestRng::new(5);
        let (rows, cols) = (13, 96);
        for normals in [false, true] {
            let raw: Vec<u8> = (0..rows * cols)
                .flat_map(|_| {
                    let r = rng.next_u64();
                    let sign = ((r & 1) as u16) << 15;
                    // Subnormal magnitudes 0..1023 (zero included), or normal ones up to 2^14.
                    let mag = if normals && r & 2 != 0 { 0x400 + (r >> 8) % (0x7400 - 0x400) } else { (r >> 8) % 0x400 } as u16;
                    (sign | mag).to_le_bytes()
                })
                .collect();
            for key in [MatVec::for_type(GgmlType::F16), MatVec { vec4: false, ..MatVec::for_type(GgmlType::F16) }] {
                check_raw(&k, key, rows, cols, 1 << 30, &raw, &mut rng);
            }
        }
    }

    #[test]
    fn matvec_splits_matrices_larger_than_a_binding() {
        let k = kernels();
        for ty in [GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16] {
            let cols = 512;
            let row_bytes = ty.row_bytes(cols as u64).unwrap();
            // A binding of ~6 rows: 37 rows need 7 parts.
            check(&k, MatVec::for_type(ty), 37, cols, row_bytes * 6 + 8, 99);
        }
    }

    /// A batch of tokens in one dispatch: token t reads x at a stride and writes y at another, and
    /// adds to y when accumulating.
    #[test]
    fn matvec_over_a_batch_of_tokens() {
        let k = kernels();
        let ctx = &k.ctx;
        let mut rng = TestRng::new(29);
        // Token counts around the 4-token groups of the fast path (a partial last group re-reads
        // the last token's x and writes nothing for the missing ones).
        for ty in GgmlType::all().filter(|t| t.is_supported()) {
            for (rows, blocks, t, parts_binding) in
                [(13usize, 2usize, 5usize, 1u64 << 30), (37, 3, 3, 0), (7, 1, 4, 1 << 30), (33, 2, 13, 1 << 30), (5, 1, 2, 0)]
            {
                let qk = crate::gpu::weights::gpu_block_elems(ty).max(32);
                let cols = qk * blocks;
                let raw = random_tensor(ty, rows * cols, 1.0, &mut rng);
                let mut wf = vec![0f32; rows * cols];
                dequantize(ty, &raw, &mut wf).unwrap();
                let row_bytes = ty.row_bytes(cols as u64).unwrap();
                let binding = if parts_binding == 0 { row_bytes * 6 + 8 } else { parts_binding };
                let w = GpuMatrix::new(&ctx.device, "w", ty, cols, rows, binding).unwrap();
                w.upload_rows(&ctx.queue, 0, &raw).unwrap();
                let (xs, ys) = (cols as u32 + 4, rows as u32 + 3);
                let x = rng.normals(8 + t * xs as usize, 1.0);
                let y0 = rng.normals(1 + t * ys as usize, 1.0);
                let (bx, by) = (storage_f32(ctx, "x", &x), storage_f32(ctx, "y", &y0));
                let io = MatMulIo { x: &Bind::whole(&bx), x_offset: 8, x_stride: xs, y: &Bind::whole(&by), y_offset: 1, y_stride: ys };
                let mut rec = k.recorder();
                matvec_tokens(&mut rec, MatVec::for_type(ty), &w, io, None, t as u32, true).unwrap();
                rec.submit();
                let got = block_on(read_f32(ctx, &by, 0, y0.len())).unwrap();
                for tok in 0..t {
                    let y_at = 1 + tok * ys as usize;
                    let sums: Vec<f32> = (0..rows).map(|r| got[y_at + r] - y0[y_at + r]).collect();
                    let x_at = 8 + tok * xs as usize;
                    let (e, _) = nmse_vs_products(&sums, &wf, &x[x_at..x_at + cols]);
                    assert!(e <= 1e-9, "{ty} {rows}x{cols} parts={} token {tok}: NMSE {e:.3e}", w.parts.len());
                }
                // Values between the tokens' rows are untouched.
                assert_eq!(got[1 + rows], y0[1 + rows]);
            }
        }
    }

    /// The fused GLU: y = act(g) · (W x) for a batch of tokens and for chosen experts, with g laid
    /// out as y.
    #[test]
    fn fused_glu_matches_cpu() {
        use crate::cpu::ops::{gelu_tanh, silu};
        let k = kernels();
        let ctx = &k.ctx;
        let mut rng = TestRng::new(37);
        for ty in [GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::F16] {
            for act in [Activation::Silu, Activation::GeluTanh] {
                let f: fn(f32) -> f32 = if act == Activation::Silu { silu } else { gelu_tanh };
                let (rows, t, experts) = (19usize, 3usize, 4usize);
                let cols = crate::gpu::weights::gpu_block_elems(ty).max(32) * 2;
                let raw = random_tensor(ty, experts * rows * cols, 1.0, &mut rng);
                let mut wf = vec![0f32; experts * rows * cols];
                dequantize(ty, &raw, &mut wf).unwrap();
                let w = GpuMatrix::new(&ctx.device, "w", ty, cols, experts * rows, 1 << 30).unwrap();
                w.upload_rows(&ctx.queue, 0, &raw).unwrap();
                let x = rng.normals(t * cols, 1.0);
                let g = rng.normals(3 + t * 2 * rows, 2.0);
                let (bx, bg) = (storage_f32(ctx, "x", &x), storage_f32(ctx, "g", &g));
                let by = storage_f32(ctx, "y", &vec![0.0; t * 2 * rows]);
                let gate = Some(GluIn { act, g: &Bind::whole(&bg), g_offset: 3 });
                // Tokens: rows 0..rows of the stack (expert 0); experts: picks 1 and 3 per token.
                let route = crate::gpu::buffers::storage_u32(ctx, "route", &[1, 3, 1, 3, 1, 3]);
                let mut rec = k.recorder();
                let io = MatMulIo {
                    x: &Bind::whole(&bx),
                    x_offset: 0,
                    x_stride: cols as u32,
                    y: &Bind::whole(&by),
                    y_offset: 0,
                    y_stride: rows as u32,
                };
                let w0 = GpuMatrix::new(&ctx.device, "w0", ty, cols, rows, 1 << 30).unwrap();
                w0.upload_rows(&ctx.queue, 0, &raw[..rows * ty.row_bytes(cols as u64).unwrap() as usize]).unwrap();
                matvec_tokens(&mut rec, MatVec::for_type(ty), &w0, io, gate, t as u32, false).unwrap();
                rec.submit();
                let got = block_on(read_f32(ctx, &by, 0, t * rows)).unwrap();
                let mut rec = k.recorder();
                let eio = ExpertIo {
                    x: &Bind::whole(&bx),
                    x_offset: 0,
                    x_stride_token: cols as u32,
                    x_stride_slot: 0,
                    y: &Bind::whole(&by),
                    y_offset: 0,
                    y_stride: rows as u32,
                    route: &Bind::whole(&route),
                    glu: gate,
                };
                matvec_experts(&mut rec, MatVec::for_type(ty), &w, eio, rows as u32, t as u32, 2).unwrap();
                rec.submit();
                let got_e = block_on(read_f32(ctx, &by, 0, t * 2 * rows)).unwrap();
                let dot = |e: usize, r: usize, tok: usize| -> f32 {
                    wf[(e * rows + r) * cols..][..cols].iter().zip(&x[tok * cols..][..cols]).map(|(a, b)| a * b).sum()
                };
                let want: Vec<f32> = (0..t * rows).map(|i| f(g[3 + i]) * dot(0, i % rows, i / rows)).collect();
                let want_e: Vec<f32> =
                    (0..t * 2 * rows).map(|i| f(g[3 + i]) * dot([1, 3][(i / rows) % 2], i % rows, i / (2 * rows))).collect();
                crate::gpu::testing::assert_nmse(&format!("glu {ty} {act:?} tokens"), &got, &want, 1e-9);
                crate::gpu::testing::assert_nmse(&format!("glu {ty} {act:?} experts"), &got_e, &want_e, 1e-9);
            }
        }
    }

    /// Gate and up stacked in one matrix, every kernel shape: act(gate x) · (up x) for every token, over
    /// odd row counts (the last invocation's rows run past the end), whole and partial steps.
    #[test]
    fn paired_gate_up_matches_cpu() {
        use crate::cpu::ops::{gelu_tanh, silu};
        let mut rng = TestRng::new(41);
        for k in crate::gpu::testing::kernel_shapes() {
            let (ctx, tuning) = (&k.ctx, k.ctx.tuning);
            for (ty, blocks) in [(GgmlType::Q4_1, 2), (GgmlType::Q4_1, 3), (GgmlType::Q4_K, 2), (GgmlType::Q6_K, 1), (GgmlType::F16, 4)] {
                for (act, rows, t) in [(Activation::Silu, 19usize, 1usize), (Activation::GeluTanh, 33, 5)] {
                    let f: fn(f32) -> f32 = if act == Activation::Silu { silu } else { gelu_tanh };
                    let cols = crate::gpu::weights::gpu_block_elems(ty).max(32) * blocks;
                    let raw = random_tensor(ty, 2 * rows * cols, 1.0, &mut rng);
                    let mut wf = vec![0f32; 2 * rows * cols];
                    dequantize(ty, &raw, &mut wf).unwrap();
                    let w = GpuMatrix::new(&ctx.device, "gate+up", ty, cols, 2 * rows, 1 << 30).unwrap();
                    w.upload_rows(&ctx.queue, 0, &raw).unwrap();
                    let x = rng.normals(t * cols, 1.0);
                    let (bx, by) = (storage_f32(ctx, "x", &x), storage_f32(ctx, "y", &vec![0.0; 4 + t * rows]));
                    let io = MatMulIo {
                        x: &Bind::whole(&bx),
                        x_offset: 0,
                        x_stride: cols as u32,
                        y: &Bind::whole(&by),
                        y_offset: 4,
                        y_stride: rows as u32,
                    };
                    let key = MatVec::tuned(ty, rows, tuning, k.ctx.subgroup_size_in_use()).with_gate(act);
                    let mut rec = k.recorder();
                    matvec_paired(&mut rec, key, &w, io, act, t as u32).unwrap();
                    rec.submit();
                    let got = block_on(read_f32(ctx, &by, 0, 4 + t * rows)).unwrap();
                    let dot = |r: usize, tok: usize| -> f32 {
                        wf[r * cols..][..cols].iter().zip(&x[tok * cols..][..cols]).map(|(a, b)| a * b).sum()
                    };
                    let want: Vec<f32> = (0..t * rows).map(|i| f(dot(i % rows, i / rows)) * dot(rows + i % rows, i / rows)).collect();
                    let what = format!("paired {ty} {blocks} blocks {act:?} rows={rows} t={t} {tuning:?}");
                    assert_eq!(&got[..4], &[0.0; 4], "{what}: wrote before y_offset");
                    crate::gpu::testing::assert_nmse(&what, &got[4..], &want, 1e-9);
                }
            }
        }
    }

    /// GPU shapes: x RMSNorm'ed on the way in, plain and paired, one token and several (each its
    /// own norm), against the CPU's norm followed by the product.
    #[test]
    fn normed_matvec_matches_cpu() {
        use crate::cpu::ops::{rms_norm, silu};
        use crate::gpu::context::Tuning;
        let k = crate::gpu::testing::kernels_tuned(Tuning::Gpu);
        let ctx = &k.ctx;
        let mut rng = TestRng::new(43);
        for (ty, blocks) in [(GgmlType::Q4_1, 2), (GgmlType::Q4_1, 3), (GgmlType::Q4_K, 2), (GgmlType::Q8_0, 5), (GgmlType::F16, 4)] {
            for (paired, rows, t) in [(false, 19usize, 1usize), (true, 33, 3), (false, 40, 5)] {
                let cols = crate::gpu::weights::gpu_block_elems(ty).max(32) * blocks;
                let mrows = if paired { 2 * rows } else { rows };
                let raw = random_tensor(ty, mrows * cols, 1.0, &mut rng);
                let mut wf = vec![0f32; mrows * cols];
                dequantize(ty, &raw, &mut wf).unwrap();
                let w = GpuMatrix::new(&ctx.device, "w", ty, cols, mrows, 1 << 30).unwrap();
                w.upload_rows(&ctx.queue, 0, &raw).unwrap();
                let x = rng.normals(t * cols, 3.0);
                let vecs = rng.normals(4 + cols, 1.0);
                let (bx, bv) = (storage_f32(ctx, "x", &x), storage_f32(ctx, "vecs", &vecs));
                let by = storage_f32(ctx, "y", &vec![0.0; t * rows]);
                let io = MatMulIo {
                    x: &Bind::whole(&bx),
                    x_offset: 0,
                    x_stride: cols as u32,
                    y: &Bind::whole(&by),
                    y_offset: 0,
                    y_stride: rows as u32,
                };
                let norm = XNorm { w: &Bind::whole(&bv), offset: 4, eps: 1e-5 };
                let key = MatVec::tuned(ty, rows, Tuning::Gpu, 0).with_gate(Activation::Silu);
                assert!(can_norm_x(key));
                let mut rec = k.recorder();
                matvec_normed(&mut rec, key, &w, io, norm, paired.then_some(Activation::Silu), t as u32).unwrap();
                rec.submit();
                let got = block_on(read_f32(ctx, &by, 0, t * rows)).unwrap();
                let mut h = x.clone();
                rms_norm(&mut h, cols, &vecs[4..], 1e-5);
                let dot =
                    |r: usize, tok: usize| -> f32 { wf[r * cols..][..cols].iter().zip(&h[tok * cols..][..cols]).map(|(a, b)| a * b).sum() };
                let want: Vec<f32> = (0..t * rows)
                    .map(|i| if paired { silu(dot(i % rows, i / rows)) * dot(rows + i % rows, i / rows) } else { dot(i % rows, i / rows) })
                    .collect();
                crate::gpu::testing::assert_nmse(
                    &format!("normed {ty} {blocks} blocks paired={paired} rows={rows} t={t}"),
                    &got,
                    &want,
                    1e-9,
                );
            }
        }
        // The CPU shapes have no norm: asking for one is an error, not a silently plain product.
        let key = MatVec::tuned(GgmlType::Q4_1, 64, Tuning::Cpu, 0).with_gate(Activation::Silu);
        assert!(!can_norm_x(key));
    }

    /// Expert mode: for each token and pick, the rows of the expert the route names, from that
    /// token's (or pick's) x, into its own slice of y.
    #[test]
    fn expert_matvec_reads_the_chosen_experts() {
        let k = kernels();
        let ctx = &k.ctx;
        let mut rng = TestRng::new(23);
        for ty in [GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::F32] {
            // (experts, rows per expert, blocks per row, tokens, picks, x per pick)
            for (ne, er, blocks, t, kk, per_pick) in
                [(8usize, 13usize, 2usize, 1usize, 2usize, false), (5, 40, 3, 3, 2, true), (4, 7, 1, 2, 4, false)]
            {
                let qk = crate::gpu::weights::gpu_block_elems(ty).max(32);
                let cols = qk * blocks;
                let raw = random_tensor(ty, ne * er * cols, 1.0, &mut rng);
                let mut wf = vec![0f32; ne * er * cols];
                dequantize(ty, &raw, &mut wf).unwrap();
                let w = GpuMatrix::new(&ctx.device, "w", ty, cols, ne * er, 1 << 30).unwrap();
                w.upload_rows(&ctx.queue, 0, &raw).unwrap();
                let n_x = if per_pick { t * kk } else { t };
                let x = rng.normals(4 + n_x * cols, 1.0);
                let ids: Vec<u32> = (0..t * kk).map(|i| ((i * 3 + 1) % ne) as u32).collect();
                let (bx, br) = (storage_f32(ctx, "x", &x), crate::gpu::buffers::storage_u32(ctx, "route", &ids));
                let y_stride = er as u32 + 1;
                let by = storage_f32(ctx, "y", &vec![0.0; 2 + t * kk * y_stride as usize]);
                let io = ExpertIo {
                    x: &Bind::whole(&bx),
                    x_offset: 4,
                    x_stride_token: if per_pick { (kk * cols) as u32 } else { cols as u32 },
                    x_stride_slot: if per_pick { cols as u32 } else { 0 },
                    y: &Bind::whole(&by),
                    y_offset: 2,
                    y_stride,
                    route: &Bind::whole(&br),
                    glu: None,
                };
                let mut rec = k.recorder();
                matvec_experts(&mut rec, MatVec::for_type(ty), &w, io, er as u32, t as u32, kk as u32).unwrap();
                rec.submit();
                let got = block_on(read_f32(ctx, &by, 0, by.size() as usize / 4)).unwrap();
                for (z, &id) in ids.iter().enumerate().take(t * kk) {
                    let xz = if per_pick { z } else { z / kk };
                    let xs = &x[4 + xz * cols..4 + (xz + 1) * cols];
                    let expert = id as usize;
                    let rows = &wf[expert * er * cols..(expert + 1) * er * cols];
                    let y0 = 2 + z * y_stride as usize;
                    let (e, _) = nmse_vs_products(&got[y0..y0 + er], rows, xs);
                    assert!(e <= TOL, "{ty} experts={ne}x{er} t={t} k={kk} pick {z}: NMSE {e:.3e}");
                }
            }
        }
    }
}
