//! Streaming a model into WebAssembly memory for the CPU path: the same interface as
//! `ModelLoader` (pkg/src/engine.js drives either), with the weights going from each downloaded
//! chunk straight into the fast engine's storage (`FastLoading::feed`: no copy of the file is
//! kept). A model whose weights, cache and scratch cannot fit in wasm32's 4 GiB is refused by
//! `create`, before any weight is downloaded.

use super::errors::{coded, js_error};
use super::file_hash::FileHash;
use super::model::{CpuSide, Model};
use crate::cpu::fast::{FastLoading, FastModel};
use crate::error_code::ErrorCode;
use crate::gguf::{Gguf, PrefixSource};
use crate::model::ModelConfig;
use crate::tokenizer::{ChatTemplate, Tokenizer};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

/// What wasm32 can address: the most its linear memory can grow to.
pub(crate) const WASM32_LIMIT: u64 = 4 << 30;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LoadOptions {
    context_length: Option<usize>,
    sha256: Option<String>,
}

#[wasm_bindgen]
pub struct CpuModelLoader {
    gguf: Gguf,
    tok: Option<(Tokenizer, ChatTemplate)>,
    info: serde_json::Value,
    incoming: Option<FastLoading>,
    hash: Option<FileHash>,
}

loader_common!(CpuModelLoader, |l| l.incoming.as_ref().map_or(0, |l| l.bytes_done));

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
        check_fits(FastModel::memory_needed(&cfg, &gguf, n_ctx).map_err(coded)?)?;
        let hash = FileHash::new(opts.sha256);
        let info = super::describe(&gguf);
        let tok = Tokenizer::from_gguf(&gguf).map_err(coded)?;
        let template = tok.chat_template(&gguf).map_err(coded)?;
        let incoming = FastModel::start_load(&cfg, &gguf, n_ctx).map_err(coded)?;
        // The tokenizer has its copy of the vocabulary: the header's would only take room.
        let mut gguf = gguf;
        gguf.strip_metadata();
        Ok(CpuModelLoader { gguf, tok: Some((tok, template)), info, incoming: Some(incoming), hash })
    }

    /// Nothing to wait for on the CPU (`ModelLoader.settle` waits for the GPU).
    pub async fn settle(&self) -> Result<(), JsValue> {
        Ok(())
    }

    /// Checks that every weight arrived (and the sha256), then builds the model.
    pub fn finish(&mut self) -> Result<Model, JsValue> {
        if let Some(h) = self.hash.take() {
            h.verify(self.gguf.file_len)?;
        }
        let (Some(l), Some((tok, template))) = (self.incoming.take(), self.tok.take()) else {
            return Err(js_error(ErrorCode::Internal, "the loader has finished"));
        };
        // A tensor that never arrived whole is a NetworkError (the download ended short).
        let model = l.finish().map_err(coded)?;
        Ok(Model::new_cpu(CpuSide::new(model), tok, template, self.info.clone()))
    }
}

/// Refuses a model that wasm32 cannot hold, naming the limit: more than 4 GiB, or more than the
/// allocator can get now (asked for once, then given back for the model's own allocations, which
/// reuse the room). Memory that an earlier model freed counts as free: its size alone would not.
fn check_fits(needed: u64) -> Result<(), JsValue> {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let in_use = (core::arch::wasm32::memory_size(0) * 65536) as u64;
    let refuse = |why: String| {
        js_error(
            ErrorCode::AdapterTooSmall,
            &format!(
                "the CPU path keeps the model in WebAssembly memory, which wasm32 limits to 4 GiB: it needs {:.0} MiB, {why}",
                mib(needed)
            ),
        )
    };
    if needed >= WASM32_LIMIT {
        return Err(refuse("more than the whole address space".into()));
    }
    let mut probe: Vec<u8> = Vec::new();
    if probe.try_reserve_exact(needed as usize).is_err() {
        return Err(refuse(format!("which this page cannot add to the {:.0} MiB it has", mib(in_use))));
    }
    Ok(())
}

impl CpuModelLoader {
    /// The file's bytes at `offset`; chunks must come in file order. Not exported: JS hands the
    /// bytes over through the feed buffer (`feedBuffered`), not a copy per call.
    fn feed(&mut self, offset: f64, chunk: &[u8]) -> Result<(), JsValue> {
        let offset = offset as u64;
        if let Some(h) = &mut self.hash {
            h.update(offset, chunk)?;
        }
        let Some(l) = &mut self.incoming else {
            return Err(js_error(ErrorCode::Internal, "the loader has finished"));
        };
        l.feed(offset, chunk).map_err(coded)
    }
}
