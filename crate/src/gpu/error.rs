use crate::error_code::{Coded, ErrorCode};
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
    /// A kernel's source could not be put together (a bug in gguf-web's shaders).
    #[error("shader: {0}")]
    Shader(#[from] super::shader::ShaderError),
    /// A weight the GPU layout cannot hold: its rows are not whole GPU blocks.
    #[error("tensor {name:?}: {cols} columns is not a multiple of {block}, the GPU block of its type")]
    Unaligned { name: String, cols: usize, block: usize },
}

impl Coded for GpuError {
    fn code(&self) -> ErrorCode {
        match self {
            GpuError::Unavailable(_) | GpuError::NoAdapter(_) => ErrorCode::WebGPUUnavailable,
            GpuError::AdapterTooSmall { .. } => ErrorCode::AdapterTooSmall,
            GpuError::DeviceLost(_) => ErrorCode::DeviceLost,
            GpuError::Unaligned { .. } => ErrorCode::UnsupportedQuantType,
            GpuError::Shader(_) => ErrorCode::Internal,
            GpuError::Device(_) | GpuError::Validation(_) | GpuError::Readback(_) | GpuError::OutOfMemory(_) => ErrorCode::GPUError,
        }
    }
}

/// Why streamed weight bytes could not be placed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LoadError {
    #[error("tensor {tensor:?}: bytes at {at} arrived out of order (expected {expected})")]
    OutOfOrder { tensor: String, at: u64, expected: u64 },
    #[error("tensor {tensor:?} is incomplete: the file ended before its data")]
    Incomplete { tensor: String },
    #[error("tensor {tensor:?}: {reason}")]
    BadData { tensor: String, reason: String },
    /// Bytes handed to a matrix that its layout cannot take (a bug in the loader).
    #[error("tensor {tensor:?}: {reason}")]
    Misplaced { tensor: String, reason: String },
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

impl Coded for LoadError {
    fn code(&self) -> ErrorCode {
        match self {
            LoadError::OutOfOrder { .. } | LoadError::Misplaced { .. } => ErrorCode::Internal,
            LoadError::Incomplete { .. } => ErrorCode::NetworkError,
            LoadError::BadData { .. } => ErrorCode::InvalidGGUF,
            LoadError::Gpu(e) => e.code(),
        }
    }
}
