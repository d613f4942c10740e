//! The fast CPU engine as a [`Backend`]: the same outputs as the reference backend, from
//! quantized products.

use super::forward::FastModel;
use crate::cpu::parallel::in_pool;
use crate::cpu::KvCache;
use crate::engine::backend::{Backend, EngineError, LocalFuture};
use crate::engine::sampler::{sample_at, SamplingParams};
use crate::engine::Sampler;
use crate::model::ModelConfig;

pub struct FastBackend {
    pub model: FastModel,
    cache: KvCache,
    /// The logits of the last `eval_sample`, penalized as the sampler left them (for
    /// `resample_masked`).
    last_logits: Vec<f32>,
}

impl FastBackend {
    /// A backend over `model` with a cache of the context it was loaded for.
    pub fn new(model: FastModel) -> FastBackend {
        let cache = model.new_cache(model.n_ctx);
        FastBackend { model, cache, last_logits: Vec::new() }
    }
}

impl Backend for FastBackend {
    fn config(&self) -> &ModelConfig {
        &self.model.cfg
    }
    fn position(&self) -> usize {
        self.cache.len()
    }
    fn capacity(&self) -> usize {
        self.cache.capacity()
    }
    fn truncate(&mut self, pos: usize) {
        self.cache.truncate(pos, &self.model.cfg);
    }
    fn eval<'a>(&'a mut self, tokens: &'a [u32], all_logits: bool) -> LocalFuture<'a, Result<Vec<f32>, EngineError>> {
        let r = self.check(tokens).map(|_| in_pool(|| self.model.forward(&mut self.cache, tokens, all_logits)));
        Box::pin(std::future::ready(r))
    }
    fn eval_sample<'a>(
        &'a mut self,
        tokens: &'a [u32],
        sampler: &'a mut Sampler,
        history: &'a [u32],
    ) -> LocalFuture<'a, Result<u32, EngineError>> {
        let r = self.check(tokens).map(|_| {
            let (model, cache) = (&self.model, &mut self.cache);
            self.last_logits = in_pool(|| model.forward(cache, tokens, false));
            sampler.sample(&mut self.last_logits, history)
        });
        Box::pin(std::future::ready(r))
    }
    fn resample_masked<'a>(&'a mut self, sampler: &'a Sampler, mask: &'a [u32]) -> LocalFuture<'a, Result<u32, EngineError>> {
        Box::pin(std::future::ready(resample_from(&self.last_logits, sampler, mask)))
    }
    fn describe(&self) -> String {
        format!("cpu: {}, {} threads", super::simd::describe(), crate::cpu::parallel::threads())
    }
}

/// A draw again from `logits` (the last step's, penalized) among the ids set in `mask`, with the
/// last draw's number: the reference backend's `resample_masked`.
fn resample_from(last: &[f32], sampler: &Sampler, mask: &[u32]) -> Result<u32, EngineError> {
    let step = sampler.step.checked_sub(1).filter(|_| !last.is_empty()).ok_or(EngineError::InvalidState("no draw to repeat"))?;
    let mut logits = last.to_vec();
    for (i, l) in logits.iter_mut().enumerate() {
        if mask.get(i / 32).is_none_or(|w| w >> (i % 32) & 1 == 0) {
            *l = f32::NEG_INFINITY;
        }
    }
    let unpenalized = SamplingParams { repetition_penalty: 1.0, ..sampler.params.clone() };
    Ok(sample_at(&unpenalized, &mut logits, &[], step))
}
