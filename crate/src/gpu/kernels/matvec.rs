//! Quantized matrix × vector for decoding one token: `y = W x`, every quant type from one shader
//! (`matvec.wgsl`) with the type's block decoder included. The variant (threads per row, rows per
//! workgroup) is part of the key so that the fastest one can be picked per adapter.

use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::gpu::weights::GpuMatrix;
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
}

impl MatVec {
    /// The default variant for a type; benchmarks may pick another.
    pub fn for_type(ty: GgmlType) -> MatVec {
        MatVec { ty, threads_per_row: 1, groups_of_rows: 64, rows_per_thread: 4 }
    }
    pub fn rows_per_group(&self) -> u32 {
        self.groups_of_rows * self.rows_per_thread
    }
}

impl Kernel for MatVec {
    type Params = MatVecParams;
    fn shader(&self) -> &'static str {
        "matvec.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![("TYPE_FILE".into(), quant_file(self.ty)), ("ROWS".into(), format!("{}u", self.rows_per_thread))]
    }
    fn workgroup(&self) -> [u32; 3] {
        [self.threads_per_row, self.groups_of_rows, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::ReadWrite]
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
    debug_assert_eq!(key.ty, w.ty);
    for p in &w.parts {
        let params = MatVecParams {
            rows: p.rows as u32,
            blocks_per_row: w.blocks_per_row() as u32,
            scale_base: p.scale_base,
            x_offset,
            y_offset: y_offset + p.row0 as u32,
            accumulate: accumulate as u32,
        };
        let groups = grid((p.rows as u32).div_ceil(key.rows_per_group()));
        rec.dispatch(&key, &params, &[Bind::whole(&p.buffer), x.clone(), y.clone()], groups)?;
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::cpu::{ops, Matrix};
    use crate::gpu::buffers::{read_f32, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::{assert_nmse, kernels};
    use crate::quant::testdata::{random_tensor, TestRng};
    use crate::quant::dequantize;

    /// f32 accumulation in a different order than the CPU; dequantization is exact.
    const TOL: f64 = 1e-10;

    fn check(k: &crate::gpu::Kernels, key: MatVec, rows: usize, cols: usize, max_binding: u64, seed: u64) {
        let ctx = &k.ctx;
        let mut rng = TestRng::new(seed);
        let raw = random_tensor(key.ty, rows * cols, 1.0, &mut rng);
        let mut wf = vec![0f32; rows * cols];
        dequantize(key.ty, &raw, &mut wf).unwrap();
        let x = rng.normals(cols + 8, 1.0);
        let want = ops::matmul(&x[4..4 + cols], &Matrix { rows, cols, data: wf });
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
        assert_nmse(&format!("{key:?} {rows}x{cols} parts={}", w.parts.len()), &got, &want, TOL);
    }

    #[test]
    fn matvec_matches_cpu_for_every_type_and_awkward_shapes() {
        let k = kernels();
        let mut n = 0;
        for ty in GgmlType::all().filter(|t| t.is_supported()) {
            let qk = crate::gpu::weights::gpu_block_elems(ty).max(32);
            for (rows, blocks) in [(1, 1), (5, 3), (7, 2), (13, 5), (33, 1), (64, 4)] {
                for (tpr, g, rpt) in [(1, 64, 4), (1, 7, 1), (4, 16, 2), (32, 2, 3), (1, 32, 8)] {
                    check(&k, MatVec { ty, threads_per_row: tpr, groups_of_rows: g, rows_per_thread: rpt }, rows, qk * blocks, 1 << 30, n);
                    n += 1;
                }
            }
        }
        println!("{n} matvec cases");
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
}
