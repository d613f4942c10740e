//! The gated activation of the feed-forward block: act(gate) · up.

use crate::gpu::pipeline::{Access, Bind, Kernel, Recorder};
use crate::gpu::shader::ShaderError;
use crate::model::Activation;
use crate::wgsl_params;

wgsl_params! {
    pub struct GluParams { pub n: u32, pub g_offset: u32, pub u_offset: u32, pub a_offset: u32 }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Glu {
    pub act: Activation,
}

impl Kernel for Glu {
    type Params = GluParams;
    fn shader(&self) -> &'static str {
        "glu.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        match self.act {
            Activation::GeluTanh => vec![("GELU".into(), "1".into())],
            Activation::Silu => vec![],
        }
    }
    fn workgroup(&self) -> [u32; 3] {
        [256, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::ReadWrite]
    }
}

pub fn glu(rec: &mut Recorder, act: Activation, g: (&Bind, u32), u: (&Bind, u32), a: (&Bind, u32), n: u32) -> Result<(), ShaderError> {
    let p = GluParams { n, g_offset: g.1, u_offset: u.1, a_offset: a.1 };
    let groups = super::matvec::grid(n.div_ceil(256));
    rec.dispatch(&Glu { act }, &p, &[g.0.clone(), u.0.clone(), a.0.clone()], groups)
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
    fn glu_matches_cpu() {
        let k = kernels();
        let ctx = &k.ctx;
        let mut rng = TestRng::new(5);
        for n in [1usize, 7, 1536, 2048 * 5 + 3] {
            for act in [Activation::Silu, Activation::GeluTanh] {
                let mut g = rng.normals(n, 3.0);
                g[0] = 40.0; // large inputs must not overflow
                let u = rng.normals(n, 1.0);
                let (bg, bu, ba) = (storage_f32(ctx, "g", &g), storage_f32(ctx, "u", &u), storage_f32(ctx, "a", &vec![0.0; n]));
                let mut rec = k.recorder();
                glu(&mut rec, act, (&Bind::whole(&bg), 0), (&Bind::whole(&bu), 0), (&Bind::whole(&ba), 0), n as u32).unwrap();
                rec.submit();
                let got = block_on(read_f32(ctx, &ba, 0, n)).unwrap();
                let f = match act {
                    Activation::Silu => ops::silu,
                    Activation::GeluTanh => ops::gelu_tanh,
                };
                let want: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| f(g) * u).collect();
                // exp/tanh of the GPU's math library against Rust's.
                assert_nmse(&format!("glu {act:?} n={n}"), &got, &want, 1e-11);
            }
        }
    }
}
