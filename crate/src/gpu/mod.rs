//! The WebGPU engine: device and limits, the shader preprocessor and pipeline cache, weights on the
//! GPU, one module per kernel family (each with its launcher and its conformance test against the
//! CPU reference), and the forward pass.

pub mod bench;
pub mod buffers;
pub mod context;
pub mod error;
pub mod kernels;
pub mod loader;
pub mod model;
pub mod pipeline;
#[cfg(target_arch = "wasm32")]
pub(crate) mod prewarm;
pub mod profile;
pub mod shader;
pub mod weights;
#[cfg(test)]
mod wgsl_lint;

pub use context::{DeviceRequest, GpuContext};
pub use error::{GpuError, LoadError};
pub use pipeline::{Bind, Kernels, Recorder};
pub use weights::GpuMatrix;

#[cfg(all(test, not(target_arch = "wasm32")))]
pub mod testing;
