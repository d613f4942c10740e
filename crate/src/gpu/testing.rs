//! Shared by the kernels' conformance tests: a device on the test adapter (lavapipe by default;
//! set `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json` for SwiftShader).

use super::context::{block_on, DeviceRequest, GpuContext};
use super::pipeline::Kernels;
use std::rc::Rc;

pub fn kernels() -> Kernels {
    build(None, true)
}

/// Kernels whose launchers pick the shapes of `tuning`, whatever the adapter is.
pub fn kernels_tuned(tuning: super::context::Tuning) -> Kernels {
    build(Some(tuning), true)
}

/// Kernels that use no subgroup operations even where the adapter has them: the shapes a browser
/// without subgroups (Firefox) runs.
pub fn kernels_without_subgroups(tuning: super::context::Tuning) -> Kernels {
    build(Some(tuning), false)
}

/// The kernel shapes the engine runs: the CPU adapters' with subgroups and without (Firefox), and
/// the GPUs'.
pub fn kernel_shapes() -> [Kernels; 3] {
    use super::context::Tuning;
    [kernels_tuned(Tuning::Cpu), kernels_without_subgroups(Tuning::Cpu), kernels_tuned(Tuning::Gpu)]
}

fn build(tuning: Option<super::context::Tuning>, subgroups: bool) -> Kernels {
    // Tests exercise part splitting with the default binding size, whatever the adapter offers.
    let req = DeviceRequest { default_limits_only: std::env::var_os("GGUF_WEB_ADAPTER_LIMITS").is_none(), ..Default::default() };
    let mut ctx = block_on(GpuContext::new(&req)).expect("a WebGPU adapter (install mesa-vulkan-drivers)");
    if let Some(t) = tuning {
        ctx.tuning = t;
    }
    if !subgroups {
        ctx.subgroups = false;
        ctx.subgroup_size = 0;
    }
    eprintln!("adapter: {} subgroups={} f16={}", ctx.describe(), ctx.subgroups, ctx.f16);
    Kernels::new(Rc::new(ctx))
}

pub fn assert_nmse(what: &str, got: &[f32], want: &[f32], tol: f64) {
    let e = super::buffers::nmse(got, want);
    assert!(
        e <= tol,
        "{what}: NMSE {e:.3e} > {tol:.1e}\n got[..8]  {:?}\n want[..8] {:?}",
        &got[..got.len().min(8)],
        &want[..want.len().min(8)]
    );
}
