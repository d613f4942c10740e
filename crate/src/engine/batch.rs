//! How many decode steps (K) the session asks the backend for per round trip. A round trip costs
//! the same whatever K (0.3 ms in Chromium, 4.5 ms or more in Firefox, tens of ms on a busy phone):
//! K steps share it. K is 1 for the step that runs the prompt, so the first token comes as soon as
//! prefill is done, then doubles each batch up to [`MAX_ADAPTIVE_K`], never past what one batch
//! may take at the measured step time ([`BATCH_BUDGET_MS`]): the browser sees an abort only
//! between batches. The session caps it further by `max_tokens` and the context's room.

/// Wall time one batch may take at the measured time per step. An abort waits for the batch in
/// flight, so this bounds its latency (the target is 100 ms; half is left for the read-back, the
/// host's work and jitter).
pub const BATCH_BUDGET_MS: f64 = 50.0;

/// The adaptive K grows no further: past a few tens of steps per round trip, the round trip's
/// share of a token is already small, and more steps only add tokens drawn past the end.
pub const MAX_ADAPTIVE_K: usize = 32;

/// The session's choice of K, and what it measured.
#[derive(Clone, Debug, Default)]
pub struct DecodeBatch {
    /// A fixed K for every batch, the prompt's included (tests compare K = 1 with K > 1); `None`
    /// adapts.
    pub fixed: Option<usize>,
    /// Wall milliseconds per decode step, averaged over recent batches (round trip included).
    step_ms: Option<f64>,
}

impl DecodeBatch {
    pub fn new(fixed: Option<usize>) -> DecodeBatch {
        DecodeBatch { fixed: fixed.map(|k| k.max(1)), step_ms: None }
    }

    /// The environment's choice natively: `GGUF_WEB_DECODE_K=N` fixes K (the CLI and tests);
    /// unset or empty, K adapts.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_env() -> Result<DecodeBatch, String> {
        match std::env::var("GGUF_WEB_DECODE_K") {
            Ok(v) if !v.trim().is_empty() => match v.trim().parse::<usize>() {
                Ok(k) if k >= 1 => Ok(DecodeBatch::new(Some(k))),
                _ => Err(format!("GGUF_WEB_DECODE_K = {v:?}: expected a whole number of decode steps, at least 1")),
            },
            _ => Ok(DecodeBatch::new(None)),
        }
    }

    /// K for the next batch of a request whose last batch ran `prev` steps (0: none yet, the
    /// prompt's batch is next).
    pub fn next(&self, prev: usize) -> usize {
        if let Some(k) = self.fixed {
            return k;
        }
        if prev == 0 {
            return 1;
        }
        let by_time = self.step_ms.map_or(1, |ms| (BATCH_BUDGET_MS / ms.max(1e-3)) as usize);
        (prev * 2).min(MAX_ADAPTIVE_K).min(by_time).max(1)
    }

    /// Records that a batch of `k` decode steps took `ms` of wall time.
    pub fn observe(&mut self, k: usize, ms: f64) {
        let per_step = ms / k.max(1) as f64;
        self.step_ms = Some(self.step_ms.map_or(per_step, |old| 0.5 * old + 0.5 * per_step));
    }

    /// The measured wall time per decode step, if any.
    pub fn step_ms(&self) -> Option<f64> {
        self.step_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_one_within_the_time_budget() {
        let mut b = DecodeBatch::new(None);
        assert_eq!(b.next(0), 1, "the prompt's batch");
        assert_eq!(b.next(1), 1, "nothing measured yet");
        b.observe(1, 2.0);
        let ks: Vec<usize> = std::iter::successors(Some(1), |&k| Some(b.next(k))).take(8).collect();
        assert_eq!(ks, [1, 2, 4, 8, 16, 25, 25, 25], "doubling, capped at 50 ms / 2 ms");
        b.observe(4, 400.0);
        assert_eq!(b.next(16), 1, "a slow step: one at a time");
        for _ in 0..20 {
            b.observe(1, 0.01);
        }
        assert_eq!(b.next(1000), MAX_ADAPTIVE_K);
    }

    #[test]
    fn a_fixed_k_is_kept() {
        let b = DecodeBatch::new(Some(5));
        assert_eq!((b.next(0), b.next(5)), (5, 5));
        assert_eq!(DecodeBatch::new(Some(0)).next(0), 1);
    }
}
