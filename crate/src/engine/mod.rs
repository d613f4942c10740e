//! The generation core: backends (CPU reference, GPU), the session that drives them one event at
//! a time, sampling, stop conditions, streaming text.

pub mod backend;
pub mod batch;
pub mod clock;
pub mod generate;
pub mod gpu_backend;
pub mod rng;
pub mod sampler;
pub mod session;

#[cfg(not(target_arch = "wasm32"))]
pub use backend::{eval_blocking, eval_sample_blocking};
pub use backend::{Backend, CpuBackend, EngineError, LocalFuture};
pub use batch::DecodeBatch;
pub use generate::{room, FinishReason, GenerateOptions, Generation, Step, Stepper, TokenEvent};
pub use gpu_backend::GpuBackend;
pub use sampler::{Sampler, SamplingParams};
pub use session::{reusable_prefix, Event, Session, Started};
