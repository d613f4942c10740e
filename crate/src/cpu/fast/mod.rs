//! The fast CPU engine: the reference's forward pass (`cpu/forward.rs`) over weights kept in their
//! GGUF blocks, with 8-bit quantized activations and integer dot products (as llama.cpp's
//! `vec_dot_*_q8_*`), written once over 128-bit vectors ([`simd`]: wasm simd128 in the browser,
//! SSE natively) and spread over the threads of `cpu::parallel`.
//!
//! - `simd/`: the vector abstraction and its backends;
//! - `q8.rs`: activation quantization; `blocks.rs`: each block type decoded to signed bytes;
//!   `dot.rs`: the row kernels; `matmul.rs`: matrices, products, tasks;
//! - `weights.rs`, `load.rs` (streaming and native loading, memory needed), `forward.rs`,
//!   `attention.rs`; `backend.rs`: [`FastBackend`].
//!
//! The reference engine stays the oracle: `conformance.rs` checks every kernel against it.

mod act;
mod attention;
mod backend;
mod blocks;
#[cfg(test)]
mod conformance;
mod dot;
mod forward;
mod load;
pub mod matmul;
mod par;
pub mod q8;
pub mod simd;
mod weights;

pub use backend::FastBackend;
pub use forward::FastModel;
pub use load::{cache_bytes, FastLoading};
pub use weights::{FastWeights, Layer, Weights};
