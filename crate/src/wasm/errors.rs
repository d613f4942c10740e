//! Errors cross to JS as `Error` objects with a `code` (one of [`ErrorCode`]) that the wrapper
//! maps to its typed classes. Every typed error of the core knows its code ([`Coded`]).

use crate::error_code::{Coded, ErrorCode};
use wasm_bindgen::JsValue;

pub fn js_error(code: ErrorCode, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&e, &"code".into(), &code.as_str().into());
    e.into()
}

/// Any typed error of the core as a JS error with its code.
pub fn coded<E: Coded + std::fmt::Display>(e: E) -> JsValue {
    js_error(e.code(), &e.to_string())
}
