//! The sha256 a load may be given (`LoadOptions::sha256`): the whole file hashed as its bytes
//! stream in, which needs them in file order; checked once the download is over. Shared by the
//! GPU and the CPU path's loaders.

use super::errors::js_error;
use crate::error_code::ErrorCode;
use sha2::{Digest, Sha256};
use wasm_bindgen::JsValue;

pub(super) struct FileHash {
    hasher: Sha256,
    /// The expected digest, lowercase hex.
    want: String,
    hashed: u64,
}

impl FileHash {
    /// A hash to check, if the load was given one.
    pub(super) fn new(want: Option<String>) -> Option<FileHash> {
        want.map(|w| FileHash { hasher: Sha256::new(), want: w.to_ascii_lowercase(), hashed: 0 })
    }

    /// Takes the bytes at `offset`, which must follow the bytes before.
    pub(super) fn update(&mut self, offset: u64, chunk: &[u8]) -> Result<(), JsValue> {
        if offset != self.hashed {
            return Err(js_error(ErrorCode::Internal, &format!("bytes at {offset} arrived out of order (expected {})", self.hashed)));
        }
        self.hasher.update(chunk);
        self.hashed += chunk.len() as u64;
        Ok(())
    }

    /// A download that ended short is a NetworkError, a different file an IntegrityError.
    pub(super) fn verify(self, file_len: u64) -> Result<(), JsValue> {
        if self.hashed != file_len {
            return Err(js_error(ErrorCode::NetworkError, &format!("the download ended after {} of {file_len} bytes", self.hashed)));
        }
        let got: String = self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if got != self.want {
            return Err(js_error(ErrorCode::IntegrityError, &format!("sha256 mismatch: expected {}, the file has {got}", self.want)));
        }
        Ok(())
    }
}
