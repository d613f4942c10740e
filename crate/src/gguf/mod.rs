//! The GGUF container: byte-range sources, the header/metadata/tensor-table reader, typed errors.
//! Spec: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

mod cursor;
pub mod error;
pub mod reader;
pub mod source;
pub mod split;
pub mod value;
pub mod writer;

pub use error::{GgufError, Result};
pub use reader::{Gguf, TensorInfo};
#[cfg(not(target_arch = "wasm32"))]
pub use source::FileSource;
pub use source::{ByteSource, PrefixSource};
pub use value::{Array, Value, ValueType};
pub use writer::GgufWriter;
