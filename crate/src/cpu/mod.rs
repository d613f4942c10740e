//! The CPU reference engine: a plain f32 forward pass with obvious loops. It is the oracle for every
//! GPU kernel, so clarity beats speed; weights are dequantized once at load time.

pub mod fast;
mod forward;
mod kv_cache;
pub mod ops;
pub mod parallel;
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
pub mod pool_wasm;
mod weights;

pub use forward::CpuModel;
pub use kv_cache::KvCache;
pub use weights::{CpuWeights, Matrix};
