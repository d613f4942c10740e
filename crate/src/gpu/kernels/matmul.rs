//! Quantized matrix × matrix for prefill: Y[t, :] = W · X[t, :] for a block of tokens, with a
//! register tile of rows × tokens per invocation (`matmul.wgsl`).

use super::matvec::{grid, quant_file};
use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::gpu::weights::GpuMatrix;
use crate::quant::GgmlType;
use crate::wgsl_params;

wgsl_params! {
    pub struct MatMulParams {
        pub rows: u32,
        pub blocks_per_row: u32,
        pub scale_base: u32,
        pub n_tokens: u32,
        pub x_offset: u32,
        pub x_stride: u32,
        pub y_offset: u32,
        pub y_stride: u32,
        pub accumulate: u32,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatMul {
    pub ty: GgmlType,
    pub rows_per_thread: u32,
    pub tokens_per_thread: u32,
}

impl MatMul {
    pub fn for_type(ty: GgmlType) -> MatMul {
        MatMul { ty, rows_per_thread: 4, tokens_per_thread: 8 }
    }
}

impl Kernel for MatMul {
    type Params = MatMulParams;
    fn shader(&self) -> &'static str {
        "matmul.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![
            ("TYPE_FILE".into(), quant_file(self.ty)),
            ("ROWS".into(), format!("{}u", self.rows_per_thread)),
            ("TOK".into(), format!("{}u", self.tokens_per_thread)),
        ]
    }
    fn workgroup(&self) -> [u32; 3] {
        [64, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::ReadWrite]
    }
}

/// Where a batch of tokens reads x and writes y (the matmul, and the matvec over a batch): row t of
/// x starts at `x_offset + t·x_stride` (offsets and strides multiples of 4); row t of y at
/// `y_offset + t·y_stride`.
pub struct MatMulIo<'a> {
    pub x: &'a Bind,
    pub x_offset: u32,
    pub x_stride: u32,
    pub y: &'a Bind,
    pub y_offset: u32,
    pub y_stride: u32,
}

pub fn matmul(rec: &mut Recorder, key: MatMul, w: &GpuMatrix, io: MatMulIo, n_tokens: u32, accumulate: bool) -> Result<(), ShaderError> {
    for p in &w.parts {
        let params = MatMulParams {
            rows: p.rows as u32,
            blocks_per_row: w.blocks_per_row() as u32,
            scale_base: p.scale_base,
            n_tokens,
            x_offset: io.x_offset,
            x_stride: io.x_stride,
            y_offset: io.y_offset + p.row0 as u32,
            y_stride: io.y_stride,
            accumulate: accumulate as u32,
        };
        let gx = (p.rows as u32).div_ceil(key.rows_per_thread * 64);
        let gy = n_tokens.div_ceil(key.tokens_per_thread);
        let [x, y, _] = grid(gx);
        debug_assert_eq!(y, 1, "rows beyond 65535 workgroups");
        rec.dispatch(&key, &params, &[Bind::whole(&p.buffer), io.x.clone(), io.y.clone()], [x, gy, 1])?;
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
    use crate::quant::dequantize;
    use crate::quant::testdata::{random_tensor, TestRng};

    #[test]
    fn matmul_matches_cpu_for_every_type_and_token_count() {
        let k = kernels();
        let ctx = &k.ctx;
        for ty in GgmlType::all().filter(|t| t.is_supported()) {
            let cols = crate::gpu::weights::gpu_block_elems(ty).max(32) * 2;
            for (rows, t) in [(1usize, 1usize), (5, 5), (13, 7), (33, 13), (300, 33)] {
                let mut rng = TestRng::new((rows * 7 + t) as u64);
                let raw = random_tensor(ty, rows * cols, 1.0, &mut rng);
                let mut wf = vec![0f32; rows * cols];
                dequantize(ty, &raw, &mut wf).unwrap();
                let x = rng.normals(t * cols + 4, 1.0);
                let want = ops::matmul(&x[4..], &Matrix { rows, cols, data: wf });
                let w = GpuMatrix::new(&ctx.device, "w", ty, cols, rows, 1 << 30).unwrap();
                w.upload_rows(&ctx.queue, 0, &raw).unwrap();
                let (bx, by) = (storage_f32(ctx, "x", &x), storage_f32(ctx, "y", &vec![0.0; t * rows]));
                let mut rec = k.recorder();
                let io = MatMulIo {
                    x: &Bind::whole(&bx),
                    x_offset: 4,
                    x_stride: cols as u32,
                    y: &Bind::whole(&by),
                    y_offset: 0,
                    y_stride: rows as u32,
                };
                matmul(&mut rec, MatMul::for_type(ty), &w, io, t as u32, false).unwrap();
                rec.submit();
                let got = block_on(read_f32(ctx, &by, 0, t * rows)).unwrap();
                assert_nmse(&format!("matmul {ty} {rows}x{cols} t={t}"), &got, &want, 1e-10);
            }
        }
    }
}
