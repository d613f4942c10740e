//! What each architecture changes in the shared decoder-only transformer: hyper-parameters read
//! from GGUF metadata ([`config`]) and the tensor-name table with expected shapes ([`tensors`]).
//! Engines (the CPU reference and the GPU engine) build the same forward graph from these.

pub mod config;
pub mod error;
pub mod tensors;

pub use config::{Activation, Arch, LayerConfig, ModelConfig, MoeConfig};
pub use error::ModelError;
pub use tensors::{LayerTensors, TensorSpec, WeightTable};
