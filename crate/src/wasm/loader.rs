//! Streaming a model into the GPU from JS: `ModelLoader.create` sizes the device and buffers from
//! the header, `feed` takes the file's bytes in order as they arrive (hashing them when a sha256
//! was given), `finish` checks completeness and integrity and returns the `Model`.

use super::errors::{coded, js_error};
use super::file_hash::FileHash;
use super::model::Model;
use crate::error_code::ErrorCode;
use crate::gguf::{Gguf, PrefixSource};
use crate::gpu::loader::WeightLoader;
use crate::gpu::model::{GpuModel, LoadingModel, WarmUp};
use crate::gpu::{DeviceRequest, GpuError, Kernels};
use crate::model::ModelConfig;
use crate::tokenizer::Tokenizer;
use serde::Deserialize;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LoadOptions {
    context_length: Option<usize>,
    sha256: Option<String>,
    /// Create the device with WebGPU's default limits (tests).
    default_limits: bool,
    /// "cpu" or "gpu": the kernel shapes, instead of the adapter's (tests, benchmarks).
    tuning: Option<String>,
}

#[wasm_bindgen]
pub struct ModelLoader {
    gguf: Gguf,
    tok: Option<(Tokenizer, crate::tokenizer::ChatTemplate)>,
    info: serde_json::Value,
    plan: Option<LoadingModel>,
    loader: Option<WeightLoader>,
    hash: Option<FileHash>,
}

loader_common!(ModelLoader, |l| l.loader.as_ref().map_or(0, |l| l.bytes_done));

#[wasm_bindgen]
impl ModelLoader {
    /// `prefix` holds at least the whole header (see `parseHeader`); `opts` is
    /// `{ contextLength?, sha256?, defaultLimits?, tuning? }`.
    pub async fn create(prefix: Vec<u8>, total_len: f64, opts: JsValue) -> Result<ModelLoader, JsValue> {
        let gguf = Gguf::read(&PrefixSource { prefix: &prefix, total_len: total_len as u64 })
            .map_err(|e| js_error(ErrorCode::InvalidGGUF, &e.to_string()))?;
        drop(prefix);
        Self::from_header(gguf, opts).await
    }

    /// The parts of a split GGUF (`-00001-of-0000N.gguf`): one header prefix and one length per
    /// part, in order. The bytes are then fed at their offsets in the parts' concatenation.
    #[wasm_bindgen(js_name = createSplit)]
    pub async fn create_split(prefixes: js_sys::Array, lengths: Vec<f64>, opts: JsValue) -> Result<ModelLoader, JsValue> {
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
        Self::from_header(gguf, opts).await
    }

    async fn from_header(gguf: Gguf, opts: JsValue) -> Result<ModelLoader, JsValue> {
        let opts: LoadOptions = if opts.is_undefined() || opts.is_null() {
            LoadOptions::default()
        } else {
            serde_wasm_bindgen::from_value(opts).map_err(|e| js_error(ErrorCode::InvalidArgument, &e.to_string()))?
        };
        let cfg = ModelConfig::from_gguf(&gguf).map_err(coded)?;
        crate::model::WeightTable::resolve(&cfg, &gguf).map_err(coded)?;
        let n_ctx = opts.context_length.unwrap_or(4096).min(cfg.n_ctx_train).max(16);
        let req = DeviceRequest { default_limits_only: opts.default_limits, ..Default::default() };
        let mut ctx = GpuModel::context_for(&cfg, &gguf, n_ctx, &req).await.map_err(coded)?;
        match opts.tuning.as_deref() {
            None => {}
            Some("cpu") => ctx.tuning = crate::gpu::context::Tuning::Cpu,
            Some("gpu") => ctx.tuning = crate::gpu::context::Tuning::Gpu,
            Some(t) => return Err(js_error(ErrorCode::InvalidArgument, &format!("tuning must be \"cpu\" or \"gpu\", not {t:?}"))),
        }
        let (plan, loader) = GpuModel::start_load(Kernels::new(Rc::new(ctx)), &gguf, n_ctx).map_err(coded)?;
        // The browser compiles the pipelines while the weights download, not on the first token.
        plan.warm_up(WarmUp::Decode).map_err(coded)?;
        let hash = FileHash::new(opts.sha256);
        let info = super::describe(&gguf);
        let tok = Tokenizer::from_gguf(&gguf).map_err(coded)?;
        let template = tok.chat_template(&gguf).map_err(coded)?;
        // The tokenizer has its copy of the vocabulary; the header's (hundreds of thousands of
        // token strings) would otherwise sit in WebAssembly memory for the whole download.
        let mut gguf = gguf;
        gguf.strip_metadata();
        Ok(ModelLoader { gguf, tok: Some((tok, template)), info, plan: Some(plan), loader: Some(loader), hash })
    }

    /// Waits for one round trip of the device after the last upload, before `finish`: a device lost
    /// while the weights streamed in is reported asynchronously (in Chromium after a round trip to
    /// its GPU process), so a load whose last chunks followed the loss closely could otherwise
    /// finish and hand back a model on a dead device. A read-back that fails here is that loss.
    pub async fn settle(&self) -> Result<(), JsValue> {
        let Some(ctx) = self.gpu_ctx() else {
            return Err(js_error(ErrorCode::Internal, "the loader has finished"));
        };
        let probe = crate::gpu::buffers::storage(&ctx, "settle", 16);
        let r = ctx.read_back(&probe, 0, 4).await;
        if let Some(lost) = ctx.lost() {
            return Err(coded(lost));
        }
        r.map(|_| ()).map_err(|e| coded(GpuError::DeviceLost(format!("the device failed a read-back after the upload: {e}"))))
    }

    /// The device the weights are going to, until `finish` (the test hooks of `testing.rs`).
    pub(super) fn gpu_ctx(&self) -> Option<Rc<crate::gpu::GpuContext>> {
        self.plan.as_ref().map(|p| p.ctx())
    }

    /// Checks that every weight arrived (and the sha256), then builds the model.
    pub fn finish(&mut self) -> Result<Model, JsValue> {
        if let Some(h) = self.hash.take() {
            h.verify(self.gguf.file_len)?;
        }
        let (plan, loader) = (self.plan.take(), self.loader.take());
        let (Some(plan), Some(loader)) = (plan, loader) else {
            return Err(js_error(ErrorCode::Internal, "the loader has finished"));
        };
        let Some((tok, template)) = self.tok.take() else {
            return Err(js_error(ErrorCode::Internal, "the loader has finished"));
        };
        // A tensor that never arrived whole is a NetworkError (the download ended short).
        let ctx = plan.ctx();
        // A lost device fails what follows as it may: its loss is the error to report.
        let gpu = plan.finish(loader).map_err(|e| ctx.lost().map_or_else(|| coded(e), coded))?;
        gpu.warm_up(WarmUp::Rest).map_err(|e| ctx.lost().map_or_else(|| coded(e), coded))?;
        if let Some(lost) = ctx.lost() {
            return Err(coded(lost));
        }
        Ok(Model::new(gpu, tok, template, self.info.clone()))
    }
}

impl ModelLoader {
    /// The file's bytes at `offset`; chunks must come in file order. Not exported: JS hands the
    /// bytes over through the feed buffer (`feedBuffered`), not a copy per call.
    fn feed(&mut self, offset: f64, chunk: &[u8]) -> Result<(), JsValue> {
        let offset = offset as u64;
        if let Some(h) = &mut self.hash {
            h.update(offset, chunk)?;
        }
        let (Some(plan), Some(loader)) = (&self.plan, &mut self.loader) else {
            return Err(js_error(ErrorCode::Internal, "the loader has finished"));
        };
        let ctx = plan.ctx();
        // Asked of the device, not read off the message: a failed upload may be its loss.
        loader.feed(&ctx, offset, chunk).map_err(|e| match ctx.take_error() {
            Some(lost @ GpuError::DeviceLost(_)) => coded(lost),
            _ => coded(e),
        })?;
        // Uploads to a lost device fail silently: without this the load would go on to the end
        // and hand back a model whose first step fails.
        ctx.lost().map_or(Ok(()), |lost| Err(coded(lost)))
    }
}
