//! Errors cross to JS as `Error` objects with a `code` the wrapper maps to its typed classes.

use crate::gpu::GpuError;
use crate::model::ModelError;
use wasm_bindgen::JsValue;

pub fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

pub fn gpu_error(e: &GpuError) -> JsValue {
    let code = match e {
        GpuError::Unavailable(_) | GpuError::NoAdapter(_) => "WebGPUUnavailable",
        GpuError::AdapterTooSmall { .. } => "AdapterTooSmall",
        GpuError::DeviceLost(_) => "DeviceLost",
        _ => "GPUError",
    };
    js_error(code, &e.to_string())
}

pub fn model_error(e: &ModelError) -> JsValue {
    let code = match e {
        ModelError::Gguf(_) => "InvalidGGUF",
        ModelError::UnsupportedArchitecture { .. } => "UnsupportedArchitecture",
        ModelError::UnsupportedQuant { .. } => "UnsupportedQuantType",
        ModelError::Gpu(m) if m.contains("too small") => "AdapterTooSmall",
        ModelError::Gpu(m) if m.contains("lost") => "DeviceLost",
        ModelError::Gpu(_) => "GPUError",
        _ => "InvalidGGUF",
    };
    js_error(code, &e.to_string())
}
