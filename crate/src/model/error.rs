use crate::error_code::{Coded, ErrorCode};
use crate::gguf::GgufError;
use crate::gpu::{GpuError, LoadError};
use crate::quant::{GgmlType, QuantError};
use thiserror::Error;

/// Why a GGUF file cannot be run as a model. Raised from the header alone, before weights load.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    #[error("invalid GGUF: {0}")]
    Gguf(#[from] GgufError),
    #[error("unsupported architecture {name:?} (supported: {supported})")]
    UnsupportedArchitecture { name: String, supported: String },
    #[error("tensor {tensor:?} has quant type {ty}, which is not supported (supported: {supported})")]
    UnsupportedQuant { tensor: String, ty: GgmlType, supported: String },
    #[error("tensor {name:?} is missing")]
    MissingTensor { name: String },
    #[error("tensor {name:?} has shape {found:?}, expected {expected:?}")]
    BadShape { name: String, expected: Vec<u64>, found: Vec<u64> },
    #[error("hyper-parameter {key} = {value}: {reason}")]
    BadHyperParameter { key: String, value: String, reason: String },
    #[error("{0}")]
    Quant(#[from] QuantError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

impl Coded for ModelError {
    fn code(&self) -> ErrorCode {
        match self {
            ModelError::UnsupportedArchitecture { .. } => ErrorCode::UnsupportedArchitecture,
            ModelError::UnsupportedQuant { .. } => ErrorCode::UnsupportedQuantType,
            ModelError::Gpu(e) => e.code(),
            ModelError::Load(e) => e.code(),
            ModelError::Gguf(_)
            | ModelError::MissingTensor { .. }
            | ModelError::BadShape { .. }
            | ModelError::BadHyperParameter { .. }
            | ModelError::Quant(_)
            | ModelError::Tokenizer(_) => ErrorCode::InvalidGGUF,
        }
    }
}

impl Coded for GgufError {
    fn code(&self) -> ErrorCode {
        match self {
            GgufError::Io(_) => ErrorCode::NetworkError,
            _ => ErrorCode::InvalidGGUF,
        }
    }
}
