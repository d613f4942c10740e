//! Streaming a model into WebAssembly memory for the CPU path: the same interface as
//! `ModelLoader` (pkg/src/engine.js drives either), with the weights kept in the module's linear
//! memory instead of GPU buffers. A model whose weights, cache and scratch cannot fit in wasm32's
//! 4 GiB is refused by `create`, before any weight is downloaded.

use super::errors::{coded, js_error};
use super::model::{CpuSide, Model};
use crate::error_code::ErrorCode;
use crate::gguf::{Gguf, PrefixSource};
use crate::model::ModelConfig;
use crate::tokenizer::{ChatTemplate, Tokenizer};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;

/// What wasm32 can address: the most its linear memory can grow to.
pub(crate) const WASM32_LIMIT: u64 = 4 << 30;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LoadOptions {
    context_length: Option<usize>,
    sha256: Option<String>,
}

/// The weights on their way in (until the fast backend's streaming loader lands: the file's
/// bytes, handed to the reference engine at `finish`).
struct Incoming {
    bytes: Vec<u8>,
    done: u64,
}

#[wasm_bindgen]
pub struct CpuModelLoader {
    gguf: Gguf,
    n_ctx: usize,
    tok: Option<(Tokenizer, ChatTemplate)>,
    info: serde_json::Value,
    incoming: Option<Incoming>,
    hasher: Option<(Sha256, String)>,
    hashed: u64,
}

/// Bytes of WebAssembly memory the CPU path needs for a model: its weights, KV cache and scratch.
fn memory_needed(cfg: &ModelConfig, g: &Gguf, n_ctx: usize) -> u64 {
    let weights_f32: u64 = g.tensors.iter().map(|t| t.n_elements * 4).sum();
    let kv = 2 * cfg.n_layer as u64 * n_ctx as u64 * (cfg.n_head_kv * cfg.head_dim) as u64 * 4;
    g.file_len + weights_f32 + kv
}

#[wasm_bindgen]
impl CpuModelLoader {
    /// `prefix` holds at least the whole header (see `parseHeader`); `opts` is
    /// `{ contextLength?, sha256? }`.
    pub fn create(prefix: Vec<u8>, total_len: f64, opts: JsValue) -> Result<CpuModelLoader, JsValue> {
        let gguf = Gguf::read(&PrefixSource { prefix: &prefix, total_len: total_len as u64 })
            .map_err(|e| js_error(ErrorCode::InvalidGGUF, &e.to_string()))?;
        drop(prefix);
        Self::from_header(gguf, opts)
    }

    /// The parts of a split GGUF, as `ModelLoader.createSplit`.
    #[wasm_bindgen(js_name = createSplit)]
    pub fn create_split(prefixes: js_sys::Array, lengths: Vec<f64>, opts: JsValue) -> Result<CpuModelLoader, JsValue> {
        if prefixes.length() as usize != lengths.len() {
            return Err(js_error(ErrorCode::InvalidArgument, "one prefix per part and one length per part"));
        }
        let mut parts = Vec::new();
        for (i, p) in prefixes.iter().enumerate() {
            let bytes = js_sys::Uint8Array::new(&p).to_vec();
            let g = Gguf::read(&PrefixSource { prefix: &bytes, total_len: lengths[i] as u64 })
                .map_err(|e| js_error(ErrorCode::InvalidGGUF, &format!("part {}: {e}", i + 1)))?;
            parts.push(g);
        }
        let gguf = Gguf::merge_splits(parts).map_err(|e| js_error(ErrorCode::InvalidGGUF, &e.to_string()))?;
        Self::from_header(gguf, opts)
    }

    fn from_header(gguf: Gguf, opts: JsValue) -> Result<CpuModelLoader, JsValue> {
        let opts: LoadOptions = if opts.is_undefined() || opts.is_null() {
            LoadOptions::default()
        } else {
            serde_wasm_bindgen::from_value(opts).map_err(|e| js_error(ErrorCode::InvalidArgument, &e.to_string()))?
        };
        let cfg = ModelConfig::from_gguf(&gguf).map_err(coded)?;
        crate::model::WeightTable::resolve(&cfg, &gguf).map_err(coded)?;
        let n_ctx = opts.context_length.unwrap_or(4096).min(cfg.n_ctx_train).max(16);
        check_fits(memory_needed(&cfg, &gguf, n_ctx))?;
        let hasher = opts.sha256.map(|h| (Sha256::new(), h.to_ascii_lowercase()));
        let info = super::describe(&gguf);
        let tok = Tokenizer::from_gguf(&gguf).map_err(coded)?;
        let template = tok.chat_template(&gguf).map_err(coded)?;
        let incoming = Incoming { bytes: Vec::new(), done: 0 };
        Ok(CpuModelLoader { gguf, n_ctx, tok: Some((tok, template)), info, incoming: Some(incoming), hasher, hashed: 0 })
    }

    #[wasm_bindgen(getter, js_name = fileBytes)]
    pub fn file_bytes(&self) -> f64 {
        self.gguf.file_len as f64
    }

    #[wasm_bindgen(getter, js_name = dataOffset)]
    pub fn data_offset(&self) -> f64 {
        self.gguf.data_offset as f64
    }

    #[wasm_bindgen(getter, js_name = needsWholeFile)]
    pub fn needs_whole_file(&self) -> bool {
        true
    }

    #[wasm_bindgen(getter, js_name = bytesDone)]
    pub fn bytes_done(&self) -> f64 {
        self.incoming.as_ref().map_or(0.0, |i| i.done as f64)
    }

    /// The file's bytes at `offset`; chunks must come in file order.
    pub fn feed(&mut self, offset: f64, chunk: &[u8]) -> Result<(), JsValue> {
        let offset = offset as u64;
        if let Some((h, _)) = &mut self.hasher {
            if offset != self.hashed {
                return Err(js_error(ErrorCode::Internal, &format!("bytes at {offset} arrived out of order (expected {})", self.hashed)));
            }
            h.update(chunk);
            self.hashed += chunk.len() as u64;
        }
        let Some(inc) = &mut self.incoming else {
            return Err(js_error(ErrorCode::Internal, "the loader has finished"));
        };
        if offset != inc.bytes.len() as u64 {
            return Err(js_error(ErrorCode::Internal, &format!("bytes at {offset} arrived out of order (expected {})", inc.bytes.len())));
        }
        inc.bytes.extend_from_slice(chunk);
        inc.done = inc.bytes.len() as u64;
        Ok(())
    }

    /// Nothing to wait for on the CPU (`ModelLoader.settle` waits for the GPU).
    pub async fn settle(&self) -> Result<(), JsValue> {
        Ok(())
    }

    /// Checks that every weight arrived (and the sha256), then builds the model.
    pub fn finish(&mut self) -> Result<Model, JsValue> {
        if let Some((h, want)) = self.hasher.take() {
            let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            if self.hashed != self.gguf.file_len {
                return Err(js_error(
                    ErrorCode::NetworkError,
                    &format!("the download ended after {} of {} bytes", self.hashed, self.gguf.file_len),
                ));
            }
            if got != want {
                return Err(js_error(ErrorCode::IntegrityError, &format!("sha256 mismatch: expected {want}, the file has {got}")));
            }
        }
        let (Some(inc), Some((tok, template))) = (self.incoming.take(), self.tok.take()) else {
            return Err(js_error(ErrorCode::Internal, "the loader has finished"));
        };
        if inc.done != self.gguf.file_len {
            return Err(js_error(
                ErrorCode::NetworkError,
                &format!("the download ended after {} of {} bytes", inc.done, self.gguf.file_len),
            ));
        }
        let model = crate::cpu::CpuModel::load(&inc.bytes, &self.gguf).map_err(coded)?;
        drop(inc);
        Ok(Model::new_cpu(CpuSide::new(model, self.n_ctx), tok, template, self.info.clone()))
    }
}

/// Refuses a model that wasm32 cannot hold, naming the limit.
fn check_fits(needed: u64) -> Result<(), JsValue> {
    let in_use = (core::arch::wasm32::memory_size(0) * 65536) as u64;
    let available = WASM32_LIMIT.saturating_sub(in_use);
    if needed > available {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        return Err(js_error(
            ErrorCode::AdapterTooSmall,
            &format!(
                "the CPU path keeps the model in WebAssembly memory, which wasm32 limits to 4 GiB: it needs {:.0} MiB, {:.0} MiB are left",
                mib(needed),
                mib(available)
            ),
        ));
    }
    Ok(())
}
