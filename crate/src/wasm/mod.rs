//! wasm-bindgen bindings: the JS package (pkg/) drives these. The header is parsed from an HTTP
//! prefix first (`parseHeader`), then a `ModelLoader` creates the device and buffers and takes
//! the weights chunk by chunk as they stream from `fetch`, and a `Model` generates token by token
//! (`next()` resolves with one token), so that JS can stream, abort and reuse the KV cache.

#[macro_use]
mod loader_common;
mod cpu_loader;
mod errors;
mod feed_buffer;
mod file_hash;
mod heap;
mod loader;
mod model;
mod testing;
mod text;
mod threads;

pub use cpu_loader::CpuModelLoader;
pub use errors::js_error;
pub use feed_buffer::feed_buffer;
pub use loader::ModelLoader;
pub use model::Model;
pub use text::Text;

use crate::error_code::{Coded, ErrorCode};
use crate::gguf::{Gguf, GgufError, PrefixSource};
use crate::model::{ModelConfig, WeightTable};
use serde_json::json;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys_console_error(&format!("gguf-web panicked: {info}"));
    }));
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_sys_console_error(s: &str);
}

/// The model description apps see before any weight is downloaded.
pub(crate) fn describe(g: &Gguf) -> serde_json::Value {
    let s = |k: &str| g.get_str(k).ok().flatten().map(str::to_string);
    let cfg = ModelConfig::from_gguf(g);
    let table = cfg.as_ref().ok().map(|c| WeightTable::resolve(c, g));
    let problem = match (&cfg, &table) {
        (Err(e), _) => Some(e),
        (_, Some(Err(e))) => Some(e),
        _ => None,
    };
    let mut quant = std::collections::BTreeMap::new();
    for t in &g.tensors {
        *quant.entry(t.ty.name()).or_insert(0u64) += t.n_bytes;
    }
    let c = cfg.as_ref().ok();
    json!({
        "name": s("general.name"),
        "architecture": s("general.architecture"),
        "license": s("general.license"),
        "contextLength": c.map(|c| c.n_ctx_train),
        "parameters": c.map(|c| json!({
            "layers": c.n_layer, "embedding": c.n_embd, "heads": c.n_head, "kvHeads": c.n_head_kv,
            "headDim": c.head_dim, "feedForward": c.n_ff, "vocabulary": c.n_vocab,
        })),
        "quantTypes": quant,
        "fileBytes": g.file_len,
        "weightsBytes": table.as_ref().and_then(|t| t.as_ref().ok()).map(|t| t.weight_bytes()),
        "dataOffset": g.data_offset,
        "supported": problem.is_none(),
        "problem": problem.map(|e| e.to_string()),
        "problemCode": problem.map(|e| e.code().as_str()),
    })
}

/// Parses the header in `prefix` (the first bytes of a file of `total_len` bytes). Resolves to
/// `{ need: end }` when the header continues past the prefix, else `{ info }`.
#[wasm_bindgen(js_name = parseHeader)]
pub fn parse_header(prefix: &[u8], total_len: f64) -> Result<JsValue, JsValue> {
    let src = PrefixSource { prefix, total_len: total_len as u64 };
    match Gguf::read(&src) {
        Ok(g) => to_js(&json!({ "info": describe(&g) })),
        Err(GgufError::NeedBytes { end }) => to_js(&json!({ "need": end })),
        Err(e) => Err(js_error(ErrorCode::InvalidGGUF, &e.to_string())),
    }
}

pub(crate) fn to_js(v: &serde_json::Value) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| js_error(ErrorCode::Internal, &e.to_string()))
}

use serde::Serialize;
