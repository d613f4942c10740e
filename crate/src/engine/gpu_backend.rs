//! The WebGPU engine as a [`Backend`]: natively and in the browser alike; the caller awaits its
//! futures (natively through `block_on`).

use super::backend::{eval_sample_each, Backend, EngineError, LocalFuture};
use super::sampler::Sampler;
use crate::gpu::model::{GpuModel, Logits, MAX_DECODE_K};
use crate::model::ModelConfig;

pub struct GpuBackend {
    pub model: GpuModel,
}

impl GpuBackend {
    /// Creates a device sized for the model and streams the weights in from a local source.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(
        src: &dyn crate::gguf::ByteSource,
        g: &crate::gguf::Gguf,
        n_ctx: usize,
        req: crate::gpu::DeviceRequest,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<GpuBackend, crate::model::ModelError> {
        use crate::gpu::context::block_on;
        let cfg = ModelConfig::from_gguf(g)?;
        let ctx = block_on(GpuModel::context_for(&cfg, g, n_ctx, &req))?;
        let k = crate::gpu::Kernels::new(std::rc::Rc::new(ctx));
        let model = GpuModel::load(k, src, g, n_ctx, progress)?;
        Ok(GpuBackend { model })
    }
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
    fn eval<'a>(&'a mut self, tokens: &'a [u32], all_logits: bool) -> LocalFuture<'a, Result<Vec<f32>, EngineError>> {
        Box::pin(async move {
            self.check(tokens)?;
            let want = if all_logits { Logits::All } else { Logits::Last };
            Ok(self.model.forward(tokens, want).await?)
        })
    }
    fn eval_sample<'a>(
        &'a mut self,
        tokens: &'a [u32],
        sampler: &'a mut Sampler,
        history: &'a [u32],
    ) -> LocalFuture<'a, Result<u32, EngineError>> {
        Box::pin(async move {
            self.check(tokens)?;
            let id = self.model.forward_sample(tokens, &sampler.params, sampler.step, history).await?;
            sampler.step += 1;
            Ok(id)
        })
    }
    fn batches_decode(&self) -> bool {
        true
    }
    fn batches_taken_ahead(&self) -> u64 {
        self.model.ahead_runs[0]
    }
    /// Not on a CPU adapter (lavapipe, SwiftShader, a browser's fallback), whose "GPU" is the
    /// cores the host records on: there the batch ahead only moves work between them, and it
    /// measured 0.75-0.87x of not starting ahead natively on lavapipe, 0.80-0.88x in Firefox and
    /// 0.95x in Chromium (docs/benchmarks.md). A GPU runs it while the host reads the ids before
    /// it (the gain on paper: docs/design.md).
    fn ahead_by_default(&self) -> bool {
        self.model.k.ctx.tuning == crate::gpu::context::Tuning::Gpu
    }
    fn eval_sample_many<'a>(
        &'a mut self,
        tokens: &'a [u32],
        sampler: &'a mut Sampler,
        history: &'a [u32],
        k: usize,
        ahead: usize,
    ) -> LocalFuture<'a, Result<Vec<u32>, EngineError>> {
        Box::pin(async move {
            // The penalty's ids are the host's: each draw would need the ones before it.
            if (k <= 1 && ahead == 0) || sampler.params.repetition_penalty != 1.0 {
                return eval_sample_each(self, tokens, sampler, history, k).await;
            }
            self.check(tokens)?;
            let needed = self.position() + tokens.len() + k - 1;
            if needed > self.capacity() {
                return Err(EngineError::ContextFull { needed, capacity: self.capacity() });
            }
            let mut ids = Vec::with_capacity(k);
            let mut input = tokens.to_vec();
            while ids.len() < k {
                let n = (k - ids.len()).min(MAX_DECODE_K);
                let then = if ids.len() + n == k && ahead <= MAX_DECODE_K { ahead } else { 0 };
                let drawn = self.model.forward_sample_many(&input, &sampler.params, sampler.step, &[], n, then).await?;
                sampler.step += n as u64;
                input = vec![*drawn.last().expect("n ≥ 1 ids")];
                ids.extend(drawn);
            }
            Ok(ids)
        })
    }
    fn resample_masked<'a>(&'a mut self, sampler: &'a Sampler, mask: &'a [u32]) -> LocalFuture<'a, Result<u32, EngineError>> {
        Box::pin(async move {
            let step = sampler.step.checked_sub(1).ok_or(EngineError::InvalidState("no draw to repeat"))?;
            Ok(self.model.resample_masked(&sampler.params, step, mask).await?)
        })
    }
    fn describe(&self) -> String {
        format!("gpu: {}", self.model.ctx().describe())
    }
}
