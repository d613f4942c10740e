//! RMSNorm of rows, writing to another buffer or adding into it (Gemma's post-norms), optionally
//! followed by the norm of the updated rows (the next block's pre-norm) in the same dispatch.

use crate::gpu::context::Tuning;
use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::wgsl_params;

wgsl_params! {
    pub struct RmsNormParams { pub n: u32, pub x_offset: u32, pub y_offset: u32, pub w_offset: u32, pub eps: f32, pub z_offset: u32, pub w2_offset: u32 }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RmsNorm {
    /// Add the result into y instead of overwriting it.
    pub add: bool,
    /// Then norm the updated y into z (`rms_norm_add_then_norm`).
    pub then_norm: bool,
    /// Invocations per row: 256 on a GPU, where a row's workgroup is alone on the chip when
    /// decoding and its passes over the row are chains of loads. On a CPU adapter one subgroup,
    /// reducing without barriers (see reduce.wgsl), else 64.
    pub width: u32,
    /// The workgroup is one subgroup.
    pub subgroup: bool,
}

impl RmsNorm {
    fn new(rec: &Recorder, add: bool, then_norm: bool) -> RmsNorm {
        let sg = rec.subgroup_size();
        let (width, subgroup) = match rec.tuning() {
            Tuning::Gpu => (256, false),
            Tuning::Cpu if (1..=64).contains(&sg) => (sg, true),
            Tuning::Cpu => (64, false),
        };
        RmsNorm { add, then_norm, width, subgroup }
    }
}

impl Kernel for RmsNorm {
    type Params = RmsNormParams;
    fn shader(&self) -> &'static str {
        "rms_norm.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        let mut d = vec![];
        if self.add {
            d.push(("ADD".into(), "1".into()));
        }
        if self.then_norm {
            d.push(("THEN_NORM".into(), "1".into()));
        }
        if self.subgroup {
            d.push(("SG_REDUCE".into(), "1".into()));
        }
        d
    }
    fn workgroup(&self) -> [u32; 3] {
        [self.width, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        let mut b = vec![Access::Read, Access::Read, Access::ReadWrite];
        if self.then_norm {
            b.push(Access::ReadWrite);
        }
        b
    }
}

pub struct NormArgs<'a> {
    pub x: &'a Bind,
    pub x_offset: u32,
    /// The buffer of norm weights and where this norm's `n` values start.
    pub w: &'a Bind,
    pub w_offset: u32,
    pub y: &'a Bind,
    pub y_offset: u32,
}

/// `rows` rows of `n` values: y = rmsnorm(x) · w (or y += …).
pub fn rms_norm(rec: &mut Recorder, a: NormArgs, n: u32, rows: u32, eps: f32, add: bool) -> Result<(), ShaderError> {
    let p = RmsNormParams { n, x_offset: a.x_offset, y_offset: a.y_offset, w_offset: a.w_offset, eps, z_offset: 0, w2_offset: 0 };
    rec.dispatch(&RmsNorm::new(rec, add, false), &p, &[a.x.clone(), a.w.clone(), a.y.clone()], [rows, 1, 1])
}

/// y += rmsnorm(x) · w, then z = rmsnorm(y) · w2 (weights at `w2_offset` of the same buffer), row by
/// row in one dispatch: a post-norm into the residual stream and the next block's pre-norm.
pub fn rms_norm_add_then_norm(
    rec: &mut Recorder,
    a: NormArgs,
    z: &Bind,
    z_offset: u32,
    w2_offset: u32,
    n: u32,
    rows: u32,
    eps: f32,
) -> Result<(), ShaderError> {
    let p = RmsNormParams { n, x_offset: a.x_offset, y_offset: a.y_offset, w_offset: a.w_offset, eps, z_offset, w2_offset };
    rec.dispatch(&RmsNorm::new(rec, true, true), &p, &[a.x.clone(), a.w.clone(), a.y.clone(), z.clone()], [rows, 1, 1])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::cpu::ops;
    use crate::gpu::buffers::{read_f32, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::{assert_nmse, kernel_shapes};
    use crate::quant::testdata::TestRng;

    #[test]
    fn rms_norm_matches_cpu() {
        for k in kernel_shapes() {
            rms_norm_case(&k);
        }
    }

    fn rms_norm_case(k: &crate::gpu::Kernels) {
        let (ctx, tuning) = (&k.ctx, k.ctx.tuning);
        let mut rng = TestRng::new(3);
        for (n, rows) in [(1usize, 1usize), (5, 3), (7, 2), (64, 13), (576, 5), (640, 33)] {
            for add in [false, true] {
                let x = rng.normals(n * rows + 2, 3.0);
                let w = rng.normals(n + 1, 1.0);
                let y0 = rng.normals(n * rows, 1.0);
                let (bx, bw, by) = (storage_f32(ctx, "x", &x), storage_f32(ctx, "w", &w), storage_f32(ctx, "y", &y0));
                let mut rec = k.recorder();
                let args =
                    NormArgs { x: &Bind::whole(&bx), x_offset: 2, w: &Bind::whole(&bw), w_offset: 1, y: &Bind::whole(&by), y_offset: 0 };
                rms_norm(&mut rec, args, n as u32, rows as u32, 1e-6, add).unwrap();
                rec.submit();
                let got = block_on(read_f32(ctx, &by, 0, n * rows)).unwrap();
                let mut want = x[2..].to_vec();
                ops::rms_norm(&mut want, n, &w[1..], 1e-6);
                if add {
                    want.iter_mut().zip(&y0).for_each(|(a, b)| *a += b);
                }
                assert_nmse(&format!("rms_norm {tuning:?} n={n} rows={rows} add={add}"), &got, &want, 1e-11);
            }
        }
    }

    #[test]
    fn add_then_norm_matches_cpu() {
        for k in kernel_shapes() {
            add_then_norm_case(&k);
        }
    }

    fn add_then_norm_case(k: &crate::gpu::Kernels) {
        let (ctx, tuning) = (&k.ctx, k.ctx.tuning);
        let mut rng = TestRng::new(31);
        for (n, rows) in [(5usize, 3usize), (640, 7), (1, 1)] {
            let x = rng.normals(n * rows + 2, 3.0);
            let w = rng.normals(2 * n + 1, 1.0);
            let y0 = rng.normals(n * rows, 1.0);
            let (bx, bw, by) = (storage_f32(ctx, "x", &x), storage_f32(ctx, "w", &w), storage_f32(ctx, "y", &y0));
            let bz = storage_f32(ctx, "z", &vec![0.0; n * rows + 1]);
            let mut rec = k.recorder();
            let args = NormArgs { x: &Bind::whole(&bx), x_offset: 2, w: &Bind::whole(&bw), w_offset: 1, y: &Bind::whole(&by), y_offset: 0 };
            rms_norm_add_then_norm(&mut rec, args, &Bind::whole(&bz), 1, 1 + n as u32, n as u32, rows as u32, 1e-6).unwrap();
            rec.submit();
            let (gy, gz) = (block_on(read_f32(ctx, &by, 0, n * rows)).unwrap(), block_on(read_f32(ctx, &bz, 1, n * rows)).unwrap());
            let mut normed = x[2..].to_vec();
            ops::rms_norm(&mut normed, n, &w[1..], 1e-6);
            let want_y: Vec<f32> = y0.iter().zip(&normed).map(|(a, b)| a + b).collect();
            let mut want_z = want_y.clone();
            ops::rms_norm(&mut want_z, n, &w[1 + n..], 1e-6);
            assert_nmse(&format!("add-then-norm {tuning:?} y n={n}"), &gy, &want_y, 1e-12);
            assert_nmse(&format!("add-then-norm {tuning:?} z n={n}"), &gz, &want_z, 1e-12);
        }
    }
}
