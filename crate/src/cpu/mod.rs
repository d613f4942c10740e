//! The CPU reference engine: a plain f32 forward pass with obvious loops. It is the oracle for every
//! GPU kernel, so clarity beats speed; weights are dequantized once at load time.

mod forward;
pub mod ops;
mod parallel;
mod weights;

pub use forward::{CpuModel, KvCache};
pub use weights::{CpuWeights, Matrix};
