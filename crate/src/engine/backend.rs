//! The interface the generation loop drives: a model plus its KV cache on some device.

use super::sampler::Sampler;
use crate::cpu::{CpuModel, KvCache};
use crate::error_code::{Coded, ErrorCode};
use crate::gpu::GpuError;
use crate::model::ModelConfig;
use std::future::Future;
use std::pin::Pin;
use thiserror::Error;

/// Why a generation could not run. Each names what it refused; [`Coded::code`] gives the code JS
/// apps see.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EngineError {
    #[error("the context is full: {needed} tokens needed, the context holds {capacity}")]
    ContextFull { needed: usize, capacity: usize },
    #[error("token id {id} is outside the vocabulary of {n_vocab}")]
    BadToken { id: u32, n_vocab: usize },
    #[error("{0}")]
    InvalidArgument(String),
    /// A call out of order (e.g. `next` with no generation begun).
    #[error("{0}")]
    InvalidState(&'static str),
    /// Another call is using the model.
    #[error("{0}")]
    Busy(&'static str),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("aborted")]
    Aborted,
}

impl Coded for EngineError {
    fn code(&self) -> ErrorCode {
        match self {
            EngineError::ContextFull { .. } => ErrorCode::ContextFull,
            EngineError::BadToken { .. } | EngineError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            EngineError::InvalidState(_) => ErrorCode::InvalidState,
            EngineError::Busy(_) => ErrorCode::Busy,
            EngineError::Gpu(e) => e.code(),
            EngineError::Aborted => ErrorCode::Aborted,
        }
    }
}

/// A future the engine awaits: natively the CLI drives it with `block_on`, in the browser the
/// page's event loop does.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A forward pass with its cache: tokens go in at the next positions, logits come out.
pub trait Backend {
    fn config(&self) -> &ModelConfig;
    /// Number of positions in the cache.
    fn position(&self) -> usize;
    fn capacity(&self) -> usize;
    /// Forgets cached positions from `pos` on.
    fn truncate(&mut self, pos: usize);
    /// Appends `tokens`; returns `n_vocab` logits for the last token, or for every token.
    fn eval<'a>(&'a mut self, tokens: &'a [u32], all_logits: bool) -> LocalFuture<'a, Result<Vec<f32>, EngineError>>;
    /// A short description for reports ("cpu", or the GPU adapter).
    fn describe(&self) -> String;

    /// Appends `tokens` and picks the next token with `sampler` (advancing its draw counter).
    /// Backends that can sample where the logits are (the GPU) override this.
    fn eval_sample<'a>(
        &'a mut self,
        tokens: &'a [u32],
        sampler: &'a mut Sampler,
        history: &'a [u32],
    ) -> LocalFuture<'a, Result<u32, EngineError>> {
        Box::pin(async move {
            let mut logits = self.eval(tokens, false).await?;
            Ok(sampler.sample(&mut logits, history))
        })
    }

    /// Whether [`Backend::eval_sample_many`] saves anything over `k` calls of `eval_sample` (a
    /// round trip to a device per call): only then does the session batch decode steps, since a
    /// batch delays its first token until all of them are drawn.
    fn batches_decode(&self) -> bool {
        false
    }

    /// Appends `tokens`, then draws `k` tokens in a row, each the input of the next step (the
    /// last one drawn is not run): the cache grows by `tokens.len() + k - 1` and the sampler's
    /// draw number by `k`, exactly as `k` calls of [`Backend::eval_sample`] would. `history` is
    /// extended by each draw for the repetition penalty. The GPU overrides this to run the `k`
    /// steps without a round trip to the host between them.
    ///
    /// `ahead`: the size of the next batch if the generation goes on (0: none, or the host must
    /// see each draw). A backend may start it now, to have it run while the host hands out these
    /// ids; the next call that asks for exactly it (`tokens` the last id returned, `k = ahead`)
    /// then takes it over. Anything else in between (a truncation, another request) drops it;
    /// nothing that it ran shows in the results or the position.
    fn eval_sample_many<'a>(
        &'a mut self,
        tokens: &'a [u32],
        sampler: &'a mut Sampler,
        history: &'a [u32],
        k: usize,
        ahead: usize,
    ) -> LocalFuture<'a, Result<Vec<u32>, EngineError>> {
        let _ = ahead;
        Box::pin(eval_sample_each(self, tokens, sampler, history, k))
    }

    /// Batches started ahead (see [`Backend::eval_sample_many`]) and then taken over, so far.
    fn batches_taken_ahead(&self) -> u64 {
        0
    }

    /// Whether a request that does not say (`GenerateOptions::decode_ahead`) has each batch of
    /// decode steps start the next one ahead.
    fn ahead_by_default(&self) -> bool {
        true
    }

    /// Draws again from the logits of the last [`Backend::eval_sample`] (its repetition penalty
    /// applied), with the same draw number (`sampler.step - 1`), among the tokens whose bit is set
    /// in `mask` (`n_vocab` bits, bit i of word i / 32). Constrained decoding calls it when the
    /// grammar refused the first draw; the step counter does not advance.
    fn resample_masked<'a>(&'a mut self, sampler: &'a Sampler, mask: &'a [u32]) -> LocalFuture<'a, Result<u32, EngineError>> {
        let _ = (sampler, mask);
        Box::pin(std::future::ready(Err(EngineError::InvalidState("this backend cannot draw again from its last logits"))))
    }

    /// Checks the ids and the space before running `tokens`.
    fn check(&self, tokens: &[u32]) -> Result<(), EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::InvalidArgument("no tokens to evaluate".into()));
        }
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

/// [`Backend::eval_sample_many`] as `k` calls of [`Backend::eval_sample`], one round trip each.
pub async fn eval_sample_each<B: Backend + ?Sized>(
    b: &mut B,
    tokens: &[u32],
    sampler: &mut Sampler,
    history: &[u32],
    k: usize,
) -> Result<Vec<u32>, EngineError> {
    let mut seen = history.to_vec();
    let mut ids = Vec::with_capacity(k);
    let mut input = tokens.to_vec();
    for _ in 0..k.max(1) {
        let id = b.eval_sample(&input, sampler, &seen).await?;
        ids.push(id);
        seen.push(id);
        input = vec![id];
    }
    Ok(ids)
}

/// [`Backend::eval`], waited for (native tests and tools).
#[cfg(not(target_arch = "wasm32"))]
pub fn eval_blocking(b: &mut dyn Backend, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, EngineError> {
    crate::gpu::context::block_on(b.eval(tokens, all_logits))
}

/// [`Backend::eval_sample`], waited for (native tests and tools).
#[cfg(not(target_arch = "wasm32"))]
pub fn eval_sample_blocking(b: &mut dyn Backend, tokens: &[u32], sampler: &mut Sampler, history: &[u32]) -> Result<u32, EngineError> {
    crate::gpu::context::block_on(b.eval_sample(tokens, sampler, history))
}

/// The CPU reference engine as a backend.
pub struct CpuBackend {
    pub model: CpuModel,
    cache: KvCache,
    /// The logits of the last `eval_sample`, penalized as the sampler left them (for
    /// `resample_masked`).
    last_logits: Vec<f32>,
}

impl CpuBackend {
    pub fn new(model: CpuModel, context: usize) -> CpuBackend {
        let cache = model.new_cache(context);
        CpuBackend { model, cache, last_logits: Vec::new() }
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
    fn eval<'a>(&'a mut self, tokens: &'a [u32], all_logits: bool) -> LocalFuture<'a, Result<Vec<f32>, EngineError>> {
        let r = self.check(tokens).map(|_| self.model.forward(&mut self.cache, tokens, all_logits));
        Box::pin(std::future::ready(r))
    }
    fn eval_sample<'a>(
        &'a mut self,
        tokens: &'a [u32],
        sampler: &'a mut Sampler,
        history: &'a [u32],
    ) -> LocalFuture<'a, Result<u32, EngineError>> {
        let r = self.check(tokens).map(|_| {
            self.last_logits = self.model.forward(&mut self.cache, tokens, false);
            sampler.sample(&mut self.last_logits, history)
        });
        Box::pin(std::future::ready(r))
    }
    fn resample_masked<'a>(&'a mut self, sampler: &'a Sampler, mask: &'a [u32]) -> LocalFuture<'a, Result<u32, EngineError>> {
        let r = match sampler.step.checked_sub(1) {
            Some(step) if !self.last_logits.is_empty() => {
                let mut logits = self.last_logits.clone();
                for (i, l) in logits.iter_mut().enumerate() {
                    if mask.get(i / 32).is_none_or(|w| w >> (i % 32) & 1 == 0) {
                        *l = f32::NEG_INFINITY;
                    }
                }
                let unpenalized = super::sampler::SamplingParams { repetition_penalty: 1.0, ..sampler.params.clone() };
                Ok(super::sampler::sample_at(&unpenalized, &mut logits, &[], step))
            }
            _ => Err(EngineError::InvalidState("no draw to repeat")),
        };
        Box::pin(std::future::ready(r))
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
            fn eval<'a>(&'a mut self, tokens: &'a [u32], all_logits: bool) -> LocalFuture<'a, Result<Vec<f32>, EngineError>> {
                (**self).eval(tokens, all_logits)
            }
            fn describe(&self) -> String { (**self).describe() }
            fn batches_decode(&self) -> bool { (**self).batches_decode() }
            fn batches_taken_ahead(&self) -> u64 { (**self).batches_taken_ahead() }
            fn ahead_by_default(&self) -> bool { (**self).ahead_by_default() }
            fn eval_sample<'a>(
                &'a mut self,
                tokens: &'a [u32],
                sampler: &'a mut Sampler,
                history: &'a [u32],
            ) -> LocalFuture<'a, Result<u32, EngineError>> {
                (**self).eval_sample(tokens, sampler, history)
            }
            fn resample_masked<'a>(&'a mut self, sampler: &'a Sampler, mask: &'a [u32]) -> LocalFuture<'a, Result<u32, EngineError>> {
                (**self).resample_masked(sampler, mask)
            }
            fn eval_sample_many<'a>(
                &'a mut self,
                tokens: &'a [u32],
                sampler: &'a mut Sampler,
                history: &'a [u32],
                k: usize,
                ahead: usize,
            ) -> LocalFuture<'a, Result<Vec<u32>, EngineError>> {
                (**self).eval_sample_many(tokens, sampler, history, k, ahead)
            }
        }
    )*};
}
forward_backend!(Box<T>, &mut T);
