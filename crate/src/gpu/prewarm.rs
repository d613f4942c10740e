//! Asynchronous pipeline compilation in a browser (see `Kernels::prepare`). wgpu has no
//! `createComputePipelineAsync`, so the pipeline is requested from the device's JS object with the
//! very descriptor wgpu's synchronous path builds (same WGSL, same layout entries); the WebGPU
//! implementation caches pipelines by content, so wgpu's later creation reuses the compiled one.

use super::pipeline::{Access, PipelineSource};
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};

fn obj(fields: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in fields {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

fn call(target: &JsValue, method: &str, arg: &JsValue) -> Option<JsValue> {
    let f: Function = Reflect::get(target, &JsValue::from_str(method)).ok()?.dyn_into().ok()?;
    f.call1(target, arg).ok()
}

/// Starts compiling `s` on `device` (once `after` has settled, if given); `None` when the device is
/// not a browser's or the call failed (the pipeline is then simply compiled on first use).
pub fn compile_async(device: &wgpu::Device, s: &PipelineSource, after: Option<&Promise>) -> Option<Promise> {
    let dev: JsValue = device.as_webgpu()?.clone().into();
    const COMPUTE: u32 = 4; // GPUShaderStage.COMPUTE
    let entries = Array::new();
    let uniform = obj(&[("type", "uniform".into()), ("hasDynamicOffset", true.into()), ("minBindingSize", (s.params_size as f64).into())]);
    entries.push(&obj(&[("binding", 0.into()), ("visibility", COMPUTE.into()), ("buffer", uniform.into())]));
    for (i, a) in s.bindings.iter().enumerate() {
        let ty = if *a == Access::Read { "read-only-storage" } else { "storage" };
        let buffer = obj(&[("type", ty.into()), ("hasDynamicOffset", false.into())]);
        entries.push(&obj(&[("binding", (i as u32 + 1).into()), ("visibility", COMPUTE.into()), ("buffer", buffer.into())]));
    }
    let bgl = call(&dev, "createBindGroupLayout", &obj(&[("entries", entries.into())]))?;
    let layout = call(&dev, "createPipelineLayout", &obj(&[("bindGroupLayouts", Array::of1(&bgl).into())]))?;
    let module = call(&dev, "createShaderModule", &obj(&[("code", s.src.as_str().into())]))?;
    let compute = obj(&[("module", module), ("entryPoint", "main".into())]);
    let desc: JsValue = obj(&[("layout", layout), ("compute", compute.into())]).into();
    let p = match after {
        None => call(&dev, "createComputePipelineAsync", &desc)?,
        Some(after) => {
            let start = Function::new_with_args("dev, desc", "return () => dev.createComputePipelineAsync(desc)")
                .call2(&JsValue::NULL, &dev, &desc)
                .ok()?;
            let settle = Function::new_with_args("p, f", "return p.then(f, f)");
            settle.call2(&JsValue::NULL, after, &start).ok()?
        }
    };
    p.dyn_into().ok()
}

/// A promise that settles when all of `ps` have.
pub fn all_settled(ps: &[Promise]) -> Option<Promise> {
    let arr: Array = ps.iter().collect();
    Promise::all_settled(&arr).dyn_into().ok()
}

/// Whether the browser's adapter runs WGSL on the CPU: SwiftShader (Chrome's fallback) or any
/// adapter flagged as a fallback. Read from `GPUDevice.adapterInfo`, which wgpu does not map.
pub fn is_cpu_emulated(device: &wgpu::Device) -> bool {
    let Some(dev) = device.as_webgpu() else { return false };
    let dev: JsValue = dev.clone().into();
    let Ok(info) = Reflect::get(&dev, &JsValue::from_str("adapterInfo")) else { return false };
    let field = |k: &str| Reflect::get(&info, &JsValue::from_str(k)).ok().and_then(|v| v.as_string()).unwrap_or_default().to_lowercase();
    let fallback = Reflect::get(&info, &JsValue::from_str("isFallbackAdapter")).ok().and_then(|v| v.as_bool()).unwrap_or(false);
    fallback
        || [field("architecture"), field("description"), field("device")]
            .iter()
            .any(|s| s.contains("swiftshader") || s.contains("llvmpipe"))
}
