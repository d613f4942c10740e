//! The generation loop over a [`Backend`]: prompt prefill (reusing the cached prefix of the last
//! conversation), sampling, end-of-generation and stop strings, and streaming text that never
//! splits a UTF-8 character or leaks the start of a stop string.

use super::backend::{Backend, EngineError};
use super::clock::now_ms;
use super::sampler::{Sampler, SamplingParams};
use crate::tokenizer::{StreamDecoder, Tokenizer};

#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Generation ends before any of these strings; they are not part of the text.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens (tests compare fixed-length runs).
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_tokens: 256, sampling: SamplingParams::default(), stop: Vec::new(), ignore_eos: false }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-generation token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The caller asked to stop.
    Aborted,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Aborted => "abort",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub prompt_ids: Vec<u32>,
    /// Prompt tokens taken from the cache instead of recomputed.
    pub reused_tokens: usize,
    pub ids: Vec<u32>,
    pub text: String,
    pub finish: FinishReason,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    /// Time from the start of the call to the first sampled token.
    pub first_token_ms: f64,
}

impl Generation {
    pub fn prefill_tok_s(&self) -> f64 {
        rate(self.prompt_ids.len() - self.reused_tokens, self.prefill_ms)
    }
    /// Tokens per second after the first (which comes out of the prefill).
    pub fn decode_tok_s(&self) -> f64 {
        rate(self.ids.len().saturating_sub(1), self.decode_ms)
    }
}

fn rate(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// What the streaming callback sees for each generated token.
pub struct TokenEvent<'a> {
    pub id: u32,
    /// New text that is final (may be empty while a character or a possible stop string is pending).
    pub text: &'a str,
}

/// A model with its cache and tokenizer; remembers which ids the cache holds.
pub struct Session<B: Backend> {
    pub backend: B,
    cached: Vec<u32>,
}

impl<B: Backend> Session<B> {
    pub fn new(backend: B) -> Self {
        Session { backend, cached: Vec::new() }
    }

    /// Forgets the cache.
    pub fn reset(&mut self) {
        self.backend.truncate(0);
        self.cached.clear();
    }

    /// Generates from `prompt_ids`. `on_token` is called for every token; returning `false`
    /// stops generation (finish reason `Aborted`).
    pub fn generate(
        &mut self,
        tok: &Tokenizer,
        prompt_ids: &[u32],
        opts: &GenerateOptions,
        on_token: &mut dyn FnMut(&TokenEvent) -> bool,
    ) -> Result<Generation, EngineError> {
        opts.sampling.validate().map_err(EngineError::Other)?;
        if prompt_ids.is_empty() {
            return Err(EngineError::Other("the prompt is empty".into()));
        }
        let t0 = now_ms();
        // Reuse the cached prefix; at least the last prompt token is evaluated for its logits.
        let common = self.cached.iter().zip(prompt_ids).take_while(|(a, b)| a == b).count();
        let reuse = common.min(prompt_ids.len() - 1);
        self.backend.truncate(reuse);
        self.cached.truncate(reuse);
        let mut sampler = Sampler::new(opts.sampling.clone());
        let mut history = prompt_ids.to_vec();
        let mut next = if opts.max_tokens == 0 {
            None
        } else {
            Some(self.backend.eval_sample(&prompt_ids[reuse..], &mut sampler, &history).inspect_err(|_| self.reset())?)
        };
        self.cached.extend_from_slice(&prompt_ids[reuse..]);
        let prefill_ms = now_ms() - t0;
        let first_token_ms = prefill_ms;

        let mut decoder = StreamDecoder::new();
        let mut text = String::new();
        let mut emitted = 0; // bytes of `text` already passed to the callback
        let mut ids = Vec::new();
        let t1 = now_ms();
        let mut finish = FinishReason::Length;
        while let Some(id) = next.take() {
            if !opts.ignore_eos && tok.vocab.is_eog(id) {
                finish = FinishReason::Stop;
                break;
            }
            ids.push(id);
            history.push(id);
            text += &decoder.push(tok.piece(id));
            let (stop_at, hold) = scan_stops(&text, &opts.stop);
            if let Some(cut) = stop_at {
                text.truncate(cut);
            }
            let safe = if stop_at.is_some() { text.len() } else { text.len() - hold };
            let delta = &text[emitted.min(safe)..safe];
            emitted = emitted.max(safe);
            if !on_token(&TokenEvent { id, text: delta }) {
                finish = FinishReason::Aborted;
                break;
            }
            if stop_at.is_some() {
                finish = FinishReason::Stop;
                break;
            }
            if ids.len() == opts.max_tokens {
                break;
            }
            next = Some(self.backend.eval_sample(&[id], &mut sampler, &history).inspect_err(|_| self.reset())?);
            self.cached.push(id);
        }
        if finish != FinishReason::Stop {
            text += &decoder.finish();
        }
        Ok(Generation {
            prompt_ids: prompt_ids.to_vec(),
            reused_tokens: reuse,
            ids,
            text,
            finish,
            prefill_ms,
            decode_ms: now_ms() - t1,
            first_token_ms,
        })
    }
}

/// Where the first stop string starts in `text`, if any, and how many trailing bytes must be held
/// back because they could be the start of a stop string.
fn scan_stops(text: &str, stops: &[String]) -> (Option<usize>, usize) {
    let first = stops.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min();
    if first.is_some() {
        return (first, 0);
    }
    let mut hold = 0;
    for s in stops {
        for k in (1..s.len()).rev() {
            if k > hold && s.is_char_boundary(k) && text.ends_with(&s[..k]) {
                hold = k;
                break;
            }
        }
    }
    (None, hold)
}

#[cfg(test)]
mod tests {
    use super::scan_stops;

    #[test]
    fn stops_are_found_and_prefixes_held_back() {
        let stops = vec!["\nUser:".to_string()];
        assert_eq!(scan_stops("Hello\nUs", &stops), (None, 3));
        assert_eq!(scan_stops("Hello\nUser: hi", &stops), (Some(5), 0));
        assert_eq!(scan_stops("Hello", &stops), (None, 0));
    }
}
