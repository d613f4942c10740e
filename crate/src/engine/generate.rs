//! A generation's options, its per-token bookkeeping ([`Stepper`]: sampling state, end of
//! generation and stop strings, streaming text that never splits a UTF-8 character or leaks the
//! start of a stop string) and its result. The session (session.rs) drives it.

use super::sampler::{Sampler, SamplingParams};
use crate::constraint::{ConstraintSpec, ConstraintStats};
use crate::tokenizer::{StreamDecoder, Tokenizer};

#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Generation ends before any of these strings; they are not part of the text.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens (tests compare fixed-length runs).
    pub ignore_eos: bool,
    /// What the output must match (a JSON schema, a grammar, a regex); `None`: free text.
    pub constraint: Option<ConstraintSpec>,
    /// Decode steps per round trip to the backend, fixed for this request (tests compare K = 1
    /// with K > 1); `None`: the session's choice (see `engine::batch`).
    pub decode_k: Option<usize>,
    /// Whether each batch of decode steps starts the next one ahead (see `engine::session`):
    /// `None` the backend's choice ([`crate::engine::Backend::ahead_by_default`]); `Some(false)`
    /// records each batch after the last one is read, `Some(true)` starts it ahead on any adapter
    /// (benchmarks measure what starting ahead buys, tests run it on the CPU adapters).
    pub decode_ahead: Option<bool>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            ignore_eos: false,
            constraint: None,
            decode_k: None,
            decode_ahead: None,
        }
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
    /// What the constraint cost, when there was one.
    pub constraint: Option<ConstraintStats>,
    /// The most decode steps run per round trip to the backend (see `engine::batch`).
    pub decode_k: usize,
    /// Batches of decode steps that the backend started ahead, while the host read the batch
    /// before, and that this request then took over (see `engine::session`).
    pub decode_ahead: u64,
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

/// What a sampled token did to the generation.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// An end-of-generation token: not part of the output; generation is over.
    End,
    /// A token of the output and the text it completed; `more` is false when it was the last.
    Token { text: String, more: bool },
}

/// The per-token bookkeeping of one generation, independent of how tokens are produced: stop
/// conditions, streaming text that never splits a
/// UTF-8 character or leaks the start of a stop string, the sampler and its history.
pub struct Stepper {
    pub opts: GenerateOptions,
    pub sampler: Sampler,
    /// Prompt and generated ids (for the repetition penalty).
    pub history: Vec<u32>,
    pub ids: Vec<u32>,
    decoder: StreamDecoder,
    text: String,
    emitted: usize,
    pub finish: Option<FinishReason>,
}

impl Stepper {
    pub fn new(prompt_ids: &[u32], opts: &GenerateOptions) -> Stepper {
        Stepper {
            opts: opts.clone(),
            sampler: Sampler::new(opts.sampling.clone()),
            history: prompt_ids.to_vec(),
            ids: Vec::new(),
            decoder: StreamDecoder::new(),
            text: String::new(),
            emitted: 0,
            finish: (opts.max_tokens == 0).then_some(FinishReason::Length),
        }
    }

    /// The text so far (final once `finish` is set).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Ends the generation; returns the text held back so far (the start of a possible stop
    /// string, an unfinished character), which is part of the output all the same.
    pub fn abort(&mut self) -> String {
        self.finish.get_or_insert(FinishReason::Aborted);
        self.flush()
    }

    /// Takes the next sampled id.
    pub fn accept(&mut self, tok: &Tokenizer, id: u32) -> Step {
        if !self.opts.ignore_eos && tok.vocab.is_eog(id) {
            self.finish = Some(FinishReason::Stop);
            let rest = self.flush();
            return if rest.is_empty() { Step::End } else { Step::Token { text: rest, more: false } };
        }
        self.ids.push(id);
        self.history.push(id);
        self.text += &self.decoder.push(&tok.piece(id));
        let (stop_at, hold) = scan_stops(&self.text, &self.opts.stop);
        if let Some(cut) = stop_at {
            self.text.truncate(cut);
            self.finish = Some(FinishReason::Stop);
        } else if self.ids.len() >= self.opts.max_tokens {
            self.finish = Some(FinishReason::Length);
            self.text += &self.decoder.finish();
        }
        let safe = if self.finish.is_some() { self.text.len() } else { self.text.len() - hold };
        let delta = self.text[self.emitted.min(safe)..safe].to_string();
        self.emitted = self.emitted.max(safe);
        Step::Token { text: delta, more: self.finish.is_none() }
    }

    /// Ends the generation with `stop` after the token just accepted (a constraint that is
    /// complete); returns the text held back until then.
    pub fn finish_stop(&mut self) -> String {
        self.finish = Some(FinishReason::Stop);
        self.flush()
    }

    /// Text held back at the end (an unfinished character).
    fn flush(&mut self) -> String {
        self.text += &self.decoder.finish();
        let rest = self.text[self.emitted.min(self.text.len())..].to_string();
        self.emitted = self.text.len();
        rest
    }
}

/// How many ids a prompt of `prompt_len` ids can be followed by in a context of `capacity`: the
/// last sampled id is never run, so `capacity - prompt_len + 1` (at least 1).
pub fn room(capacity: usize, prompt_len: usize) -> usize {
    (capacity + 1).saturating_sub(prompt_len).max(1)
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
