//! Sessions over a backend: sampling, the generation loop, stop conditions, streaming text.

pub mod backend;
pub mod clock;
pub mod generate;
#[cfg(not(target_arch = "wasm32"))]
pub mod gpu_backend;
pub mod rng;
pub mod sampler;

pub use backend::{Backend, CpuBackend, EngineError};
pub use generate::{reusable_prefix, room, FinishReason, GenerateOptions, Generation, Session, Step, Stepper, TokenEvent};
#[cfg(not(target_arch = "wasm32"))]
pub use gpu_backend::GpuBackend;
pub use sampler::{Sampler, SamplingParams};
