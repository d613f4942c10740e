//! Test-only hooks of the wasm core for the browser tests (tests/browser). None of this is the
//! package's API: every hook needs a key that no app passes by accident.

use super::errors::js_error;
use super::loader::ModelLoader;
use super::model::Model;
use crate::error_code::ErrorCode;
use crate::gpu::GpuContext;
use wasm_bindgen::prelude::*;

/// What a test passes to say it means it (the trap).
const KEY: &str = "gguf-web test hook: trap this instance";
/// What a test passes to destroy the device.
const LOSE_KEY: &str = "gguf-web test hook: lose this device";

fn refuse(hook: &str) -> JsValue {
    js_error(ErrorCode::InvalidArgument, &format!("{hook} is a test hook of gguf-web's browser tests"))
}

/// Destroys the device (`GPUDevice.destroy()`): its `lost` promise resolves with the reason
/// "destroyed", as after a driver reset, and every later use of the device fails.
fn lose(ctx: &GpuContext) {
    ctx.device.destroy();
}

#[wasm_bindgen]
impl Model {
    /// Traps the WebAssembly instance in the middle of a `&mut self` call (a panic, which aborts
    /// as `unreachable`, as an allocation that fails would), leaving the model borrowed: the
    /// browser tests check that the engine survives it (issue 19). Any other `key` is an
    /// InvalidArgument error and nothing happens.
    #[wasm_bindgen(js_name = __testTrap)]
    pub fn test_trap(&mut self, key: &str) -> Result<(), JsValue> {
        if key != KEY {
            return Err(refuse("__testTrap"));
        }
        panic!("Model.__testTrap: a trap on purpose");
    }

    /// Destroys the model's WebGPU device, as a lost device would be (issue 19): the next
    /// generation step must fail with a DeviceLost error. Any other `key` is an InvalidArgument
    /// error and nothing happens.
    #[wasm_bindgen(js_name = __testLoseDevice)]
    pub fn test_lose_device(&self, key: &str) -> Result<(), JsValue> {
        if key != LOSE_KEY {
            return Err(refuse("__testLoseDevice"));
        }
        let ctx = self.gpu_ctx().ok_or_else(|| js_error(ErrorCode::InvalidState, "the model runs on the CPU: it has no device to lose"))?;
        lose(ctx);
        Ok(())
    }
}

#[wasm_bindgen]
impl ModelLoader {
    /// Destroys the loader's WebGPU device between two chunks of a load (issue 19): the next
    /// `feed` or `finish` must fail with a DeviceLost error. Any other `key` is an InvalidArgument
    /// error and nothing happens.
    #[wasm_bindgen(js_name = __testLoseDevice)]
    pub fn test_lose_device(&self, key: &str) -> Result<(), JsValue> {
        if key != LOSE_KEY {
            return Err(refuse("__testLoseDevice"));
        }
        match self.gpu_ctx() {
            Some(ctx) => lose(&ctx),
            None => return Err(js_error(ErrorCode::InvalidState, "the loader has finished")),
        }
        Ok(())
    }
}
