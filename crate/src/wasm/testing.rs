//! Test-only hooks of the wasm core for the browser tests (tests/browser). None of this is the
//! package's API: every hook needs a key that no app passes by accident.

use super::errors::js_error;
use super::model::Model;
use crate::error_code::ErrorCode;
use wasm_bindgen::prelude::*;

/// What a test passes to say it means it.
const KEY: &str = "gguf-web test hook: trap this instance";

#[wasm_bindgen]
impl Model {
    /// Traps the WebAssembly instance in the middle of a `&mut self` call (a panic, which aborts
    /// as `unreachable`, as an allocation that fails would), leaving the model borrowed: the
    /// browser tests check that the engine survives it (issue 19). Any other `key` is an
    /// InvalidArgument error and nothing happens.
    #[wasm_bindgen(js_name = __testTrap)]
    pub fn test_trap(&mut self, key: &str) -> Result<(), JsValue> {
        if key != KEY {
            return Err(js_error(ErrorCode::InvalidArgument, "__testTrap is a test hook of gguf-web's browser tests"));
        }
        panic!("Model.__testTrap: a trap on purpose");
    }
}
