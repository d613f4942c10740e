//! Typed errors of the GGUF reader. Each names the offending field and value, because a user who
//! drops in a broken or exotic file needs to know which part of it we refused.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum GgufError {
    #[error("I/O error: {0}")]
    Io(String),
    /// A ranged source (e.g. an HTTP prefix) does not hold these bytes yet; the caller may fetch up
    /// to `end` and parse again. Never returned for a complete source.
    #[error("bytes up to offset {end} are not loaded yet")]
    NeedBytes { end: u64 },
    #[error("truncated file: {what} at offset {offset} needs {needed} bytes but the file has {file_len}")]
    Truncated { what: String, offset: u64, needed: u64, file_len: u64 },
    #[error("not a GGUF file: magic bytes are {found:02x?}, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {version} (supported: 2 and 3){hint}")]
    UnsupportedVersion { version: u32, hint: &'static str },
    #[error("{what} is {count}, more than the limit {max}")]
    TooMany { what: String, count: u64, max: u64 },
    #[error("{what}: string length {len} exceeds the limit {max}")]
    StringTooLong { what: String, len: u64, max: u64 },
    #[error("{what}: invalid UTF-8 in string")]
    BadUtf8 { what: String },
    #[error("metadata key {key:?}: unknown value type tag {tag}")]
    BadValueType { key: String, tag: u32 },
    #[error("metadata key {key:?}: arrays nested deeper than {max}")]
    NestingTooDeep { key: String, max: usize },
    #[error("duplicate metadata key {key:?}")]
    DuplicateKey { key: String },
    #[error("duplicate tensor name {name:?}")]
    DuplicateTensor { name: String },
    #[error("general.alignment is {value}; it must be a non-zero power of two")]
    BadAlignment { value: u64 },
    #[error("metadata key {key:?} is missing")]
    MissingKey { key: String },
    #[error("metadata key {key:?} has type {found}, expected {expected}")]
    WrongType { key: String, expected: &'static str, found: String },
    #[error("tensor {name:?}: {reason}")]
    BadTensor { name: String, reason: String },
    #[error("tensor {name:?}: unknown ggml type id {type_id}")]
    UnknownTensorType { name: String, type_id: u32 },
    #[error("tensors {a:?} and {b:?} overlap in the data section")]
    OverlappingTensors { a: String, b: String },
}

pub type Result<T> = std::result::Result<T, GgufError>;
