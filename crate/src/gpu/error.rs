use thiserror::Error;

/// Why the GPU cannot run (or stopped running) the model. Each names the numbers involved.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GpuError {
    #[error("WebGPU is not available: {0}")]
    Unavailable(String),
    #[error("no suitable GPU adapter found ({0})")]
    NoAdapter(String),
    #[error("the GPU adapter {adapter:?} is too small: {what} needs {needed}, the adapter offers {available}")]
    AdapterTooSmall { adapter: String, what: String, needed: u64, available: u64 },
    #[error("creating the GPU device failed: {0}")]
    Device(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    #[error("GPU error: {0}")]
    Validation(String),
    #[error("reading back from the GPU failed: {0}")]
    Readback(String),
    #[error("out of GPU memory: {0}")]
    OutOfMemory(String),
}
