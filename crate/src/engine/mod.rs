//! Sessions over a backend: sampling, the generation loop, stop conditions, streaming text.

pub mod backend;
pub mod clock;
pub mod generate;
pub mod rng;
pub mod sampler;

pub use backend::{Backend, CpuBackend, EngineError};
pub use generate::{FinishReason, GenerateOptions, Generation, Session, TokenEvent};
pub use sampler::{Sampler, SamplingParams};
