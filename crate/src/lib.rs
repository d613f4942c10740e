//! gguf-web: run stock GGUF language models on WebGPU, in the browser and natively.
//!
//! The core is organised along the path of one request: [`gguf`] reads the container, [`quant`]
//! decodes weight blocks, [`tokenizer`] turns text into ids, [`model`] knows each architecture's
//! hyper-parameters and tensors, [`cpu`] is the plain reference engine (the oracle for the GPU
//! kernels) and [`engine`] holds sampling and the generation loop.
// The CPU pool's workers sleep on `memory.atomic.wait32` (cpu/pool_wasm.rs, threaded build only;
// the wasm build already runs with RUSTC_BOOTSTRAP for build-std).
#![cfg_attr(all(target_arch = "wasm32", target_feature = "atomics"), feature(stdarch_wasm_atomic_wait))]

pub mod constraint;
pub mod cpu;
pub mod engine;
pub mod error_code;
pub mod gguf;
pub mod gpu;
pub mod model;
pub mod quant;
pub mod tokenizer;
pub mod tools;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
