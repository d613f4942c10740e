use crate::gguf::GgufError;
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
    #[error("{0}")]
    Gpu(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}
