//! The one generation core: a pull-style session over a [`Backend`]. `begin` checks a request
//! (prompt ids, sampling, room in the context) and reuses the cached prefix of the last one; each
//! `next` gives one [`Event`]. The CLI drives it with `block_on` (or [`Session::generate`]), the
//! browser's `Model` awaits `next` once per token, so both share every rule: stop strings, end of
//! generation, `max_tokens` capped to the context, cache bookkeeping.
//!
//! Decode runs K steps per round trip to the backend ([`DecodeBatch`] picks K): the ids of a batch
//! wait in the session and `next` hands them out one at a time. When the generation ends inside a
//! batch, the ids drawn past the end are dropped and the cache is cut back to what one step per
//! round trip would have left, so the output and the next request's prefix reuse are the same as
//! with K = 1. Constrained decoding and the repetition penalty need the host between two draws:
//! their requests run with K = 1.
//!
//! Unless K is fixed at 1, each batch also asks the backend to start the batch after it, if the
//! generation may go on past it (`ahead`): the GPU runs that one while the host reads this one's
//! ids and hands them out, and the next batch only waits for its ids. When the generation ends
//! first, the batch ahead is dropped with the rest (the cache cut back, its ids never read).

use super::backend::{Backend, EngineError};
use super::batch::DecodeBatch;
use super::clock::now_ms;
#[cfg(not(target_arch = "wasm32"))]
use super::generate::TokenEvent;
use super::generate::{room, FinishReason, GenerateOptions, Generation, Step, Stepper};
use crate::constraint::{Constraint, TokenTable};
use crate::tokenizer::Tokenizer;
use std::collections::VecDeque;
use std::rc::Rc;

/// Rows of logits a scoring pass keeps in memory at once.
const SCORE_BATCH: usize = 32;

/// What `begin` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were already in the cache.
    pub reused_tokens: usize,
}

/// One step of a generation.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A token of the output and the text it made final (may be empty while a character or a
    /// possible stop string is pending).
    Token { id: u32, text: String },
    /// The generation is over. `id` is the last token sampled when it ended the generation with
    /// text still to send (`text`: its own, or text held back until then).
    Done { id: Option<u32>, text: String, summary: Generation },
}

struct Gen {
    st: Stepper,
    /// Tokens to run before the next draw: the prompt's unreused part, then each sampled id.
    pending: Vec<u32>,
    prompt_ids: Vec<u32>,
    reused: usize,
    t0: f64,
    first_token_ms: Option<f64>,
    decode_t0: f64,
    /// The request's constraint (JSON schema, grammar, regex), compiled in `begin`.
    constraint: Option<Constraint>,
    /// Ids of the last batch not yet handed out; all but its last are in the cache already.
    ready: VecDeque<u32>,
    /// Steps of the last batch (0 before the first), and the most of any batch.
    last_k: usize,
    max_k: usize,
    /// Steps of the batch the backend was asked to start ahead (0: none).
    ahead: usize,
    /// When the last batch's ids came back.
    batch_end_ms: f64,
    /// The backend's count of batches taken over ahead when the request began.
    ahead_taken0: u64,
    /// Whether batches start the next one ahead where the request does not say.
    ahead_default: bool,
}

/// A model with its cache and tokenizer; remembers which ids the cache holds.
pub struct Session<B: Backend> {
    pub backend: B,
    tok: Rc<Tokenizer>,
    /// Ids whose keys and values are in the cache, in order.
    cached: Vec<u32>,
    gen: Option<Gen>,
    /// The vocabulary for constrained decoding, built on the first constrained request.
    table: Option<Rc<TokenTable>>,
    /// Decode steps per round trip.
    pub batch: DecodeBatch,
}

impl<B: Backend> Session<B> {
    pub fn new(backend: B, tok: Rc<Tokenizer>) -> Self {
        Session { backend, tok, cached: Vec::new(), gen: None, table: None, batch: DecodeBatch::default() }
    }

    pub fn tokenizer(&self) -> &Rc<Tokenizer> {
        &self.tok
    }

    /// Forgets the cache (and any generation in progress).
    pub fn reset(&mut self) {
        self.backend.truncate(0);
        self.cached.clear();
        self.gen = None;
    }

    /// Whether a generation has begun and not yet ended.
    pub fn in_progress(&self) -> bool {
        self.gen.is_some()
    }

    /// Checks a request and starts it (a generation still in progress is dropped). Nothing runs
    /// until [`Session::next`].
    pub fn begin(&mut self, prompt_ids: &[u32], opts: &GenerateOptions) -> Result<Started, EngineError> {
        if let Some(gen) = self.gen.take() {
            self.roll_back(&gen);
        }
        opts.sampling.validate().map_err(EngineError::InvalidArgument)?;
        if prompt_ids.is_empty() {
            return Err(EngineError::InvalidArgument("the prompt is empty".into()));
        }
        let n_vocab = self.backend.config().n_vocab;
        if let Some(&id) = prompt_ids.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(EngineError::BadToken { id, n_vocab });
        }
        let capacity = self.backend.capacity();
        if prompt_ids.len() > capacity {
            return Err(EngineError::ContextFull { needed: prompt_ids.len(), capacity });
        }
        let constraint = match &opts.constraint {
            Some(spec) => Some(self.token_table()?.compile(spec)?),
            None => None,
        };
        let reused = reusable_prefix(&self.cached, prompt_ids);
        self.backend.truncate(reused);
        self.cached.truncate(reused);
        // A long generation ends with 'length' at the context's end instead of failing there.
        let opts = GenerateOptions { max_tokens: opts.max_tokens.min(room(capacity, prompt_ids.len())), ..opts.clone() };
        self.gen = Some(Gen {
            st: Stepper::new(prompt_ids, &opts),
            pending: prompt_ids[reused..].to_vec(),
            prompt_ids: prompt_ids.to_vec(),
            reused,
            t0: now_ms(),
            first_token_ms: None,
            decode_t0: 0.0,
            constraint,
            ready: VecDeque::new(),
            last_k: 0,
            max_k: 0,
            ahead: 0,
            batch_end_ms: 0.0,
            ahead_taken0: self.backend.batches_taken_ahead(),
            ahead_default: self.backend.ahead_by_default(),
        });
        Ok(Started { prompt_tokens: prompt_ids.len(), reused_tokens: reused })
    }

    /// Hands out the next token: one of the last batch, or the first of a new batch (the pending
    /// tokens through the model and the draws after them).
    pub async fn next(&mut self) -> Result<Event, EngineError> {
        let Some(gen) = self.gen.as_mut() else {
            return Err(EngineError::InvalidState("no generation in progress (call begin first)"));
        };
        if gen.st.finish.is_some() {
            return Ok(self.done(None, String::new()));
        }
        let id = match gen.ready.pop_front() {
            Some(id) => id,
            None => self.run_batch().await?,
        };
        let gen = self.gen.as_mut().expect("the generation is still there");
        if gen.first_token_ms.is_none() {
            gen.first_token_ms = Some(now_ms() - gen.t0);
            gen.decode_t0 = now_ms();
        }
        let complete = gen.constraint.as_ref().is_some_and(|c| c.is_done());
        Ok(match gen.st.accept(&self.tok, id) {
            Step::End => self.done(None, String::new()),
            Step::Token { text, more: false } => self.done(Some(id), text),
            Step::Token { mut text, more: true } if complete => {
                text += &gen.st.finish_stop();
                self.done(Some(id), text)
            }
            Step::Token { text, more: true } => {
                // The last id of a batch has not run yet; the others have.
                if gen.ready.is_empty() {
                    gen.pending = vec![id];
                }
                Event::Token { id, text }
            }
        })
    }

    /// Runs the pending tokens and K draws after them; returns the first id and keeps the rest.
    async fn run_batch(&mut self) -> Result<u32, EngineError> {
        let gen = self.gen.as_mut().expect("a generation in progress");
        let tokens = std::mem::take(&mut gen.pending);
        let batches = self.backend.batches_decode();
        let batch = if batches { &self.batch } else { &DecodeBatch::new(Some(1)) };
        let (end, capacity) = (self.backend.position() + tokens.len(), self.backend.capacity());
        let drawn = gen.st.ids.len();
        // The batch asked for ahead last time is this one: it may be running already.
        let taken = gen.ahead;
        let k = if taken > 0 { taken } else { batch_size(batch, gen, gen.last_k, drawn, end, capacity).max(1) };
        let ahead = if batches && pipelined(batch, gen) { batch_size(batch, gen, k, drawn + k, end + k, capacity) } else { 0 };
        let Stepper { sampler, history, .. } = &mut gen.st;
        let t0 = now_ms();
        let r = self.backend.eval_sample_many(&tokens, sampler, history, k, ahead).await;
        let r = match (r, gen.constraint.as_mut()) {
            (Ok(ids), Some(c)) => constrained(&mut self.backend, c, sampler, ids[0]).await.map(|id| vec![id]),
            (r, _) => r,
        };
        let ids = match r {
            Ok(ids) if ids.len() == k => ids,
            Ok(_) => {
                self.reset();
                return Err(EngineError::InvalidState("the backend drew a different number of tokens than asked"));
            }
            Err(e) => {
                // The cache may hold a partial step: the next request starts from scratch.
                self.reset();
                return Err(e);
            }
        };
        let now = now_ms();
        if tokens.len() == 1 {
            // A batch started ahead began about when the one before it came back.
            let start = if taken > 0 { gen.batch_end_ms.min(t0) } else { t0 };
            self.batch.observe(k, now - start);
        }
        self.cached.extend_from_slice(&tokens);
        self.cached.extend_from_slice(&ids[..k - 1]);
        let gen = self.gen.as_mut().expect("the generation is still there");
        gen.ready.extend(&ids[1..]);
        gen.last_k = k;
        gen.max_k = gen.max_k.max(k);
        gen.ahead = ahead;
        gen.batch_end_ms = now;
        Ok(ids[0])
    }

    /// Cuts the cache back to what one step per round trip would have left when `gen` ends: the
    /// ids of its batch not handed out were drawn past the end (all but the last of them ran), and
    /// a batch started ahead ran past it too.
    fn roll_back(&mut self, gen: &Gen) {
        let keep = self.cached.len() - gen.ready.len();
        self.backend.truncate(keep);
        self.cached.truncate(keep);
    }

    /// The vocabulary table of constrained decoding, built once per session (model).
    fn token_table(&mut self) -> Result<Rc<TokenTable>, EngineError> {
        if self.table.is_none() {
            let table = TokenTable::new(&self.tok, self.backend.config().n_vocab)
                .map_err(|e| EngineError::InvalidArgument(format!("constrained decoding is not available for this vocabulary: {e}")))?;
            self.table = Some(Rc::new(table));
        }
        Ok(self.table.clone().expect("built above"))
    }

    /// Ends the generation in progress (finish reason `Aborted`); its last event carries the text
    /// held back so far. `None` when there was none.
    pub fn abort(&mut self) -> Option<Event> {
        let rest = self.gen.as_mut()?.st.abort();
        Some(self.done(None, rest))
    }

    fn done(&mut self, id: Option<u32>, text: String) -> Event {
        let gen = self.gen.take().expect("a generation in progress");
        self.roll_back(&gen);
        let now = now_ms();
        let prefill_ms = gen.first_token_ms.unwrap_or(now - gen.t0);
        let decode_ms = if gen.first_token_ms.is_some() { now - gen.decode_t0 } else { 0.0 };
        let summary = Generation {
            prompt_ids: gen.prompt_ids,
            reused_tokens: gen.reused,
            finish: gen.st.finish.unwrap_or(FinishReason::Length),
            text: gen.st.text().to_string(),
            ids: gen.st.ids,
            prefill_ms,
            decode_ms,
            first_token_ms: prefill_ms,
            constraint: gen.constraint.map(|c| c.stats),
            decode_k: gen.max_k,
            decode_ahead: self.backend.batches_taken_ahead() - gen.ahead_taken0,
        };
        Event::Done { id, text, summary }
    }

    /// Generates from `prompt_ids` to the end, natively. `on_token` is called for every token;
    /// returning `false` stops generation (finish reason `Aborted`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn generate(
        &mut self,
        prompt_ids: &[u32],
        opts: &GenerateOptions,
        on_token: &mut dyn FnMut(&TokenEvent) -> bool,
    ) -> Result<Generation, EngineError> {
        self.begin(prompt_ids, opts)?;
        loop {
            match crate::gpu::context::block_on(self.next())? {
                Event::Token { id, text } => {
                    if !on_token(&TokenEvent { id, text: &text }) {
                        if let Some(Event::Done { summary, .. }) = self.abort() {
                            return Ok(summary);
                        }
                    }
                }
                Event::Done { id, text, summary } => {
                    if let Some(id) = id {
                        on_token(&TokenEvent { id, text: &text });
                    }
                    return Ok(summary);
                }
            }
        }
    }

    /// Runs `ids` from position 0 as one teacher-forced pass and returns, for every position, the
    /// `top` largest next-token logits as `(id, logit)`, best first (ties by id). For scoring and
    /// for comparing with other engines; the cache then holds `ids`.
    pub async fn top_logits(&mut self, ids: &[u32], top: usize) -> Result<Vec<Vec<(u32, f32)>>, EngineError> {
        let (n_vocab, capacity) = (self.backend.config().n_vocab, self.backend.capacity());
        if ids.is_empty() || ids.len() > capacity {
            return Err(EngineError::InvalidArgument(format!("scoring needs 1 to {capacity} ids, got {}", ids.len())));
        }
        self.reset();
        let top = top.clamp(1, n_vocab);
        let mut out = Vec::with_capacity(ids.len());
        // A batch at a time, so that at most one batch of logits is in memory.
        for chunk in ids.chunks(SCORE_BATCH) {
            let logits = match self.backend.eval(chunk, true).await {
                Ok(l) => l,
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            };
            out.extend(logits.chunks_exact(n_vocab).map(|row| best(row, top)));
        }
        self.cached = ids.to_vec();
        Ok(out)
    }
}

/// Check-first constrained sampling: `id` (drawn freely) stands when the grammar allows it;
/// otherwise the full mask is computed and the backend draws again from the same logits with the
/// same draw number. The grammar then advances past the token kept.
async fn constrained<B: Backend>(
    backend: &mut B,
    c: &mut Constraint,
    sampler: &super::sampler::Sampler,
    id: u32,
) -> Result<u32, EngineError> {
    let id = if c.allows(id)? {
        id
    } else {
        let mask = c.mask()?;
        let again = backend.resample_masked(sampler, &mask).await?;
        if mask.get(again as usize / 32).is_none_or(|w| w >> (again % 32) & 1 == 0) {
            return Err(EngineError::InvalidState("the masked draw picked a token outside the mask"));
        }
        again
    };
    c.consume(id)?;
    Ok(id)
}

/// K for a batch of `gen` after `drawn` draws, the batch before it of `prev` steps (0: none), its
/// first step ending at cache position `end`: what the request fixes or `batch` asks for (1 where
/// the backend gains nothing by batches), within `max_tokens` and the context (0 when no draw is
/// left). Requests that need the host between two draws (a constraint, the repetition penalty) run
/// one step at a time.
fn batch_size(batch: &DecodeBatch, gen: &Gen, prev: usize, drawn: usize, end: usize, capacity: usize) -> usize {
    let opts = &gen.st.opts;
    if host_per_draw(gen) {
        return 1;
    }
    let draws_left = opts.max_tokens.saturating_sub(drawn);
    // Each draw but the last runs one more position.
    let room = (capacity + 1).saturating_sub(end);
    let k = opts.decode_k.unwrap_or_else(|| batch.next(prev));
    k.max(1).min(draws_left).min(room)
}

/// Whether the request needs the host between two draws.
fn host_per_draw(gen: &Gen) -> bool {
    gen.constraint.is_some() || gen.st.opts.sampling.repetition_penalty != 1.0
}

/// Whether each batch may start the next one ahead: not where `batch` or the request says not to, nor where each
/// draw needs the host, nor at a fixed K of 1, which stays one step per round trip, the oracle the batched runs are checked
/// against.
fn pipelined(batch: &DecodeBatch, gen: &Gen) -> bool {
    !batch.no_ahead
        && gen.st.opts.decode_ahead.unwrap_or(gen.ahead_default)
        && !host_per_draw(gen)
        && gen.st.opts.decode_k.or(batch.fixed) != Some(1)
}

/// The `top` largest entries of `row`, best first, ties by id.
fn best(row: &[f32], top: usize) -> Vec<(u32, f32)> {
    let by_logit = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    let mut order: Vec<u32> = (0..row.len() as u32).collect();
    order.select_nth_unstable_by(top - 1, by_logit);
    order.truncate(top);
    order.sort_by(by_logit);
    order.into_iter().map(|i| (i, row[i as usize])).collect()
}

/// How many leading ids of `prompt_ids` a cache holding `cached` can keep (at least the last
/// prompt token is always evaluated, for its logits).
pub fn reusable_prefix(cached: &[u32], prompt_ids: &[u32]) -> usize {
    let common = cached.iter().zip(prompt_ids).take_while(|(a, b)| a == b).count();
    common.min(prompt_ids.len().saturating_sub(1))
}
