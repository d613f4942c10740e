//! The interface the generation loop drives: a model plus its KV cache on some device.

use super::sampler::Sampler;
use crate::cpu::{CpuModel, KvCache};
use crate::model::ModelConfig;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum EngineError {
    #[error("the context is full: {needed} tokens needed, the context holds {capacity}")]
    ContextFull { needed: usize, capacity: usize },
    #[error("token id {id} is outside the vocabulary of {n_vocab}")]
    BadToken { id: u32, n_vocab: usize },
    #[error("GPU: {0}")]
    Gpu(String),
    #[error("aborted")]
    Aborted,
    #[error("{0}")]
    Other(String),
}

/// A forward pass with its cache: tokens go in at the next positions, logits come out.
pub trait Backend {
    fn config(&self) -> &ModelConfig;
    /// Number of positions in the cache.
    fn position(&self) -> usize;
    fn capacity(&self) -> usize;
    /// Forgets cached positions from `pos` on.
    fn truncate(&mut self, pos: usize);
    /// Appends `tokens`; returns `n_vocab` logits for the last token, or for every token.
    fn eval(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, EngineError>;
    /// A short description for reports ("cpu", or the GPU adapter).
    fn describe(&self) -> String;

    /// Appends `tokens` and picks the next token with `sampler` (advancing its draw counter).
    /// Backends that can sample where the logits are (the GPU) override this.
    fn eval_sample(&mut self, tokens: &[u32], sampler: &mut Sampler, history: &[u32]) -> Result<u32, EngineError> {
        let mut logits = self.eval(tokens, false)?;
        Ok(sampler.sample(&mut logits, history))
    }

    /// Checks the ids and the space before running `tokens`.
    fn check(&self, tokens: &[u32]) -> Result<(), EngineError> {
        let n_vocab = self.config().n_vocab;
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(EngineError::BadToken { id, n_vocab });
        }
        let needed = self.position() + tokens.len();
        if needed > self.capacity() {
            return Err(EngineError::ContextFull { needed, capacity: self.capacity() });
        }
        Ok(())
    }
}

/// The CPU reference engine as a backend.
pub struct CpuBackend {
    pub model: CpuModel,
    cache: KvCache,
}

impl CpuBackend {
    pub fn new(model: CpuModel, context: usize) -> CpuBackend {
        let cache = model.new_cache(context);
        CpuBackend { model, cache }
    }
}

impl Backend for CpuBackend {
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
    fn eval(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, EngineError> {
        self.check(tokens)?;
        if tokens.is_empty() {
            return Err(EngineError::Other("no tokens to evaluate".into()));
        }
        Ok(self.model.forward(&mut self.cache, tokens, all_logits))
    }
    fn describe(&self) -> String {
        "cpu".into()
    }
}

/// Boxed and borrowed backends are backends (the CLI picks one at run time; tests lend one).
macro_rules! forward_backend {
    ($($ty:ty),*) => {$(
        impl<T: Backend + ?Sized> Backend for $ty {
            fn config(&self) -> &ModelConfig { (**self).config() }
            fn position(&self) -> usize { (**self).position() }
            fn capacity(&self) -> usize { (**self).capacity() }
            fn truncate(&mut self, pos: usize) { (**self).truncate(pos) }
            fn eval(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, EngineError> {
                (**self).eval(tokens, all_logits)
            }
            fn describe(&self) -> String { (**self).describe() }
            fn eval_sample(&mut self, tokens: &[u32], sampler: &mut Sampler, history: &[u32]) -> Result<u32, EngineError> {
                (**self).eval_sample(tokens, sampler, history)
            }
        }
    )*};
}
forward_backend!(Box<T>, &mut T);
