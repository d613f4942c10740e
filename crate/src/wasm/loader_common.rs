//! What both loaders (`ModelLoader` for WebGPU, `CpuModelLoader`) give JS alike: the file's
//! geometry from its header, whether the whole file must be read (a sha256 to check), progress, and
//! the feed from the shared feed buffer. wasm-bindgen exports each class's methods from its own
//! `impl`, so they are written once here and stamped on each.

/// `loader_common!(Type, |loader| bytes of weights in so far)`: the type needs fields `gguf` (the
/// header) and `hash` (an `Option`), and a method `feed(&mut self, offset: f64, chunk: &[u8])`.
macro_rules! loader_common {
    ($ty:ty, $bytes_done:expr) => {
        #[wasm_bindgen]
        impl $ty {
            /// Total bytes of the file.
            #[wasm_bindgen(getter, js_name = fileBytes)]
            pub fn file_bytes(&self) -> f64 {
                self.gguf.file_len as f64
            }

            /// Where the weights start; a loader without a sha256 may skip the bytes before.
            #[wasm_bindgen(getter, js_name = dataOffset)]
            pub fn data_offset(&self) -> f64 {
                self.gguf.data_offset as f64
            }

            #[wasm_bindgen(getter, js_name = needsWholeFile)]
            pub fn needs_whole_file(&self) -> bool {
                self.hash.is_some()
            }

            /// Bytes of weights in so far.
            #[wasm_bindgen(getter, js_name = bytesDone)]
            pub fn bytes_done(&self) -> f64 {
                let done: fn(&Self) -> u64 = $bytes_done;
                done(self) as f64
            }

            /// The first `len` bytes of the feed buffer (`feedBuffer()`), found at `offset` in the
            /// file: the file's next piece, without an allocation per call.
            #[wasm_bindgen(js_name = feedBuffered)]
            pub fn feed_buffered(&mut self, offset: f64, len: usize) -> Result<(), JsValue> {
                super::feed_buffer::with_fed(len, |chunk| self.feed(offset, chunk))
            }
        }
    };
}
