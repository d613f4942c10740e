//! The one buffer in WebAssembly memory that JS copies each piece of a model file into before a
//! loader's `feedBuffered`. Allocated once for the module's life: a copy allocated per call (what
//! wasm-bindgen does for a `&[u8]` argument) came in whatever sizes the network happened to read,
//! and those transient allocations moved where the next load's large tables found room, so the
//! memory's high-water mark changed from one load to the next (the soak test saw 1.1 MiB).

use std::cell::RefCell;
use wasm_bindgen::prelude::*;

/// Bytes per piece: JS cuts the file's chunks to this.
const FEED_BYTES: usize = 256 << 10;

thread_local! {
    static INPUT: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; FEED_BYTES].into_boxed_slice());
}

/// A view of the feed buffer, to fill and hand to `feedBuffered` at once: a view of WebAssembly
/// memory is detached when the memory grows, which any call into the core may do.
#[wasm_bindgen(js_name = feedBuffer)]
pub fn feed_buffer() -> js_sys::Uint8Array {
    // SAFETY: the view is used by JS before its next call into the module (see above); the
    // buffer itself lives as long as the module.
    INPUT.with(|b| unsafe { js_sys::Uint8Array::view(&b.borrow()) })
}

/// Runs `f` on the first `len` bytes of the feed buffer.
pub(super) fn with_fed<R>(len: usize, f: impl FnOnce(&[u8]) -> Result<R, JsValue>) -> Result<R, JsValue> {
    if len > FEED_BYTES {
        return Err(super::js_error(
            crate::error_code::ErrorCode::Internal,
            &format!("a piece of {len} bytes is over the feed buffer's {FEED_BYTES}"),
        ));
    }
    INPUT.with(|b| f(&b.borrow()[..len]))
}
