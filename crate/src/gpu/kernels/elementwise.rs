//! Element-wise kernels: the copy used as the bandwidth reference, and soft-capping.

use crate::gpu::pipeline::{groups_for, Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::wgsl_params;

wgsl_params! {
    pub struct CopyParams { pub n: u32 }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Copy;

impl Kernel for Copy {
    type Params = CopyParams;
    fn shader(&self) -> &'static str {
        "copy.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![]
    }
    fn workgroup(&self) -> [u32; 3] {
        [256, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::ReadWrite]
    }
}

/// Copies `bytes` (a multiple of 16) from `a` to `b`.
pub fn copy(rec: &mut Recorder, a: Bind, b: Bind, bytes: u64) -> Result<(), ShaderError> {
    let n = (bytes / 16) as u32;
    let g = groups_for(n, 256);
    let (x, y) = if g > 65535 { (65535, g.div_ceil(65535)) } else { (g, 1) };
    rec.dispatch(&Copy, &CopyParams { n }, &[a, b], [x, y, 1])
}

wgsl_params! {
    pub struct SoftcapParams { pub n: u32, pub cap: f32 }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Softcap;

impl Kernel for Softcap {
    type Params = SoftcapParams;
    fn shader(&self) -> &'static str {
        "softcap.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![]
    }
    fn workgroup(&self) -> [u32; 3] {
        [256, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::ReadWrite]
    }
}

/// y[..n] = cap · tanh(y / cap) (final logit soft-capping).
pub fn softcap(rec: &mut Recorder, y: &Bind, n: u32, cap: f32) -> Result<(), ShaderError> {
    rec.dispatch(&Softcap, &SoftcapParams { n, cap }, std::slice::from_ref(y), super::matvec::grid(n.div_ceil(256)))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::gpu::buffers::{read_f32, storage_f32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::{assert_nmse, kernels};

    #[test]
    fn copy_copies() {
        let k = kernels();
        let ctx = &k.ctx;
        for n in [4usize, 8, 20, 1000] {
            let y: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
            let (by, out) = (storage_f32(ctx, "y", &y), storage_f32(ctx, "out", &vec![0.0; n + 4]));
            let mut rec = k.recorder();
            copy(&mut rec, Bind::whole(&by), Bind::whole(&out), (n * 4) as u64).unwrap();
            rec.submit();
            let got = block_on(read_f32(ctx, &out, 0, n + 4)).unwrap();
            assert_eq!(&got[..n], &y[..], "copy n={n}");
            assert!(got[n..].iter().all(|&x| x == 0.0), "copy n={n} wrote past its end");
        }
    }

    #[test]
    fn softcap_matches_cpu() {
        let k = kernels();
        let y: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) * 0.3).collect();
        let by = storage_f32(&k.ctx, "y", &y);
        let mut rec = k.recorder();
        softcap(&mut rec, &Bind::whole(&by), 1000, 30.0).unwrap();
        rec.submit();
        let got = block_on(read_f32(&k.ctx, &by, 0, 1001)).unwrap();
        let mut want = y[..1000].to_vec();
        crate::cpu::ops::softcap(&mut want, 30.0);
        want.push(y[1000]);
        assert_nmse("softcap", &got, &want, 1e-12);
    }
}
