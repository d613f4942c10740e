//! The WebGPU engine as a [`Backend`] (native: blocking on the GPU's futures).

use super::backend::{Backend, EngineError};
use super::sampler::Sampler;
use crate::gguf::{ByteSource, Gguf};
use crate::gpu::context::block_on;
use crate::gpu::model::{GpuModel, Logits};
use crate::gpu::{DeviceRequest, Kernels};
use crate::model::{ModelConfig, ModelError};
use std::rc::Rc;

pub struct GpuBackend {
    pub model: GpuModel,
}

impl GpuBackend {
    /// Creates a device sized for the model and streams the weights in.
    pub fn open(
        src: &dyn ByteSource,
        g: &Gguf,
        n_ctx: usize,
        req: DeviceRequest,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<GpuBackend, ModelError> {
        let cfg = ModelConfig::from_gguf(g)?;
        let ctx = block_on(GpuModel::context_for(&cfg, g, n_ctx, &req)).map_err(|e| ModelError::Gpu(e.to_string()))?;
        let k = Kernels::new(Rc::new(ctx));
        let model = GpuModel::load(k, src, g, n_ctx, progress)?;
        Ok(GpuBackend { model })
    }
}

fn gpu(e: crate::gpu::GpuError) -> EngineError {
    EngineError::Gpu(e.to_string())
}

impl Backend for GpuBackend {
    fn config(&self) -> &ModelConfig {
        &self.model.cfg
    }
    fn position(&self) -> usize {
        self.model.pos
    }
    fn capacity(&self) -> usize {
        self.model.n_ctx
    }
    fn truncate(&mut self, pos: usize) {
        self.model.truncate(pos);
    }
    fn eval(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, EngineError> {
        self.check(tokens)?;
        if tokens.is_empty() {
            return Err(EngineError::Other("no tokens to evaluate".into()));
        }
        let want = if all_logits { Logits::All } else { Logits::Last };
        block_on(self.model.forward(tokens, want)).map_err(gpu)
    }
    fn eval_sample(&mut self, tokens: &[u32], sampler: &mut Sampler, history: &[u32]) -> Result<u32, EngineError> {
        self.check(tokens)?;
        if tokens.is_empty() {
            return Err(EngineError::Other("no tokens to evaluate".into()));
        }
        let id = block_on(self.model.forward_sample(tokens, &sampler.params, sampler.step, history)).map_err(gpu)?;
        sampler.step += 1;
        Ok(id)
    }
    fn describe(&self) -> String {
        format!("gpu: {}", self.model.ctx().describe())
    }
}
