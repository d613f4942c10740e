//! How many decode steps (K) the session asks the backend for per round trip. A round trip costs
//! the same whatever K (0.3 ms in Chromium, 0.2 to 4.5 ms in Firefox with the queue nudged, 100 ms
//! without): K steps share it. K is 1 for the step that runs the prompt, so the first token comes as
//! soon as prefill is done, then doubles each batch up to [`MAX_ADAPTIVE_K`], as long as the K steps
//! themselves take at most [`BATCH_BUDGET_MS`] at the measured time per step: the browser sees an
//! abort only between batches, so an abort waits at most that plus one round trip. The time per
//! step is the slope of a batch's wall time against its K (a least-squares line over recent
//! batches, older ones weighing less), so a slow round trip does not pass for slow steps. The
//! session caps K further by `max_tokens` and the context's room.

/// Wall time the K steps of one batch may take at the measured time per step: an abort waits for
/// the batch in flight (its steps and one round trip). The target is 100 ms; half is left for the
/// round trip, the host's work and jitter.
pub const BATCH_BUDGET_MS: f64 = 50.0;

/// The adaptive K grows no further: past a few tens of steps per round trip, the round trip's
/// share of a token is already small, and more steps only add tokens drawn past the end.
pub const MAX_ADAPTIVE_K: usize = 32;

/// How much an older batch weighs against the next one in the line fit.
const DECAY: f64 = 0.6;

/// The session's choice of K, and what it measured.
#[derive(Clone, Debug, Default)]
pub struct DecodeBatch {
    /// A fixed K for every batch, the prompt's included (tests compare K = 1 with K > 1); `None`
    /// adapts.
    pub fixed: Option<usize>,
    /// Each batch waits for its ids before the next one is recorded, instead of starting the next
    /// one ahead (see `Session`): for measuring what starting ahead buys.
    pub no_ahead: bool,
    /// Decayed sums of (1, k, k², ms, k·ms) over decode batches: the line ms = a + b·k.
    sums: [f64; 5],
    /// The last batch's milliseconds per step (round trip included): the fallback slope.
    last_per_step: Option<f64>,
}

impl DecodeBatch {
    pub fn new(fixed: Option<usize>) -> DecodeBatch {
        DecodeBatch { fixed: fixed.map(|k| k.max(1)), ..Default::default() }
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
        // Nothing timed but single steps: a batch of 2 gives the slope.
        let cap = self.step_ms().map_or(2, |ms| (BATCH_BUDGET_MS / ms + 1e-9) as usize);
        (prev * 2).min(MAX_ADAPTIVE_K).min(cap).max(1)
    }

    /// Records that a batch of `k` decode steps took `ms` of wall time.
    pub fn observe(&mut self, k: usize, ms: f64) {
        let k = k.max(1) as f64;
        for (s, x) in self.sums.iter_mut().zip([1.0, k, k * k, ms, k * ms]) {
            *s = *s * DECAY + x;
        }
        self.last_per_step = Some(ms / k);
    }

    /// The measured wall time of one more step in a batch: the fitted slope, or where the batches
    /// timed so far do not give one (one size only, or noise), the last batch's time per step (an
    /// upper bound: it includes the round trip). `None` before any batch of more than one step.
    pub fn step_ms(&self) -> Option<f64> {
        let [w, k, kk, m, km] = self.sums;
        let det = w * kk - k * k;
        if det <= 1e-3 * w * w && k <= 1.5 * w {
            return None;
        }
        let slope = (det > 1e-3 * w * w).then(|| (w * km - k * m) / det).filter(|&b| b > 0.0);
        // A flat line from noise never gets below a hundredth of a millisecond per step.
        slope.map(|b| b.max(0.01)).or(self.last_per_step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The K chosen batch after batch from a request's start, each decode batch timed as `ms(k)`
    /// (the prompt's is not: it includes the prefill).
    fn ks(b: &mut DecodeBatch, n: usize, ms: impl Fn(usize) -> f64) -> Vec<usize> {
        let mut out = vec![b.next(0)];
        let mut k = b.next(1);
        for _ in 0..n {
            out.push(k);
            b.observe(k, ms(k));
            k = b.next(k);
        }
        out
    }

    #[test]
    fn grows_past_a_slow_round_trip_within_the_time_budget() {
        // 100 ms round trip, 2.5 ms steps: 50 ms buys 20 steps.
        let mut b = DecodeBatch::new(None);
        assert_eq!(ks(&mut b, 8, |k| 100.0 + 2.5 * k as f64), [1, 2, 1, 2, 4, 8, 16, 20, 20]);
        // 0.3 ms round trip, 0.5 ms steps: the cap of 32.
        let mut b = DecodeBatch::new(None);
        assert_eq!(ks(&mut b, 7, |k| 0.3 + 0.5 * k as f64), [1, 2, 4, 8, 16, 32, 32, 32]);
        assert!((b.step_ms().unwrap() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn slow_steps_run_one_at_a_time() {
        // 30 ms steps: two would take 60 ms.
        let mut b = DecodeBatch::new(None);
        assert_eq!(ks(&mut b, 4, |k| 0.3 + 30.0 * k as f64), [1, 2, 1, 1, 1]);
        // Steps that slow down (a busy machine): K comes back down.
        let mut b = DecodeBatch::new(None);
        ks(&mut b, 6, |k| 1.0 + 2.0 * k as f64);
        assert_eq!(b.next(16), 25);
        for _ in 0..12 {
            b.observe(1, 41.0);
            b.observe(2, 81.0);
        }
        assert_eq!(b.next(16), 1);
    }

    #[test]
    fn a_fixed_k_is_kept() {
        let b = DecodeBatch::new(Some(5));
        assert_eq!((b.next(0), b.next(5)), (5, 5));
        assert_eq!(DecodeBatch::new(Some(0)).next(0), 1);
    }
}
