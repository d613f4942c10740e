//! Token sampling from logits. The order follows llama.cpp's common sampler chain: repetition
//! penalty, top-k, top-p, min-p, temperature, then a draw by a counter-based random number of
//! (seed, step); temperature ≤ 0 or top-k 1 is greedy. `gpu::kernels::sample` repeats the chain.

use super::rng::uniform;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 (or less) picks the most likely token.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `top_p`; 1 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the top token's probability; 0 keeps all.
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recently seen tokens by this; 1 is off.
    pub repetition_penalty: f32,
    /// How many recent tokens the repetition penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams { temperature: 0.0, top_k: 0, top_p: 1.0, min_p: 0.0, repetition_penalty: 1.0, repeat_last_n: 64, seed: 0 }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        Self::default()
    }
    /// Greedy: temperature 0 or below, so small that 1/temperature overflows, or top-k 1.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || !(1.0 / self.temperature).is_finite() || self.top_k == 1
    }
    /// Checks the ranges a caller can get wrong; the message names the parameter.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |name: &str, v: f32, range: &str| Err(format!("{name} = {v} is out of range ({range})"));
        if !self.temperature.is_finite() {
            return bad("temperature", self.temperature, "a finite number");
        }
        // 0 keeps the most likely token alone, as llama.cpp does.
        if !(0.0..=1.0).contains(&self.top_p) {
            return bad("top_p", self.top_p, "0 ≤ top_p ≤ 1");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", self.min_p, "0 ≤ min_p ≤ 1");
        }
        // The penalty divides or multiplies: both it and its inverse must be finite.
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite() && (1.0 / self.repetition_penalty).is_finite()) {
            return bad("repetition_penalty", self.repetition_penalty, "> 0, its inverse finite");
        }
        Ok(())
    }
}

/// Candidates considered after top-k: with `top_k == 0` or above this, only the this many most
/// likely tokens are. The GPU sampler sorts its candidates in one workgroup, whose memory bounds
/// the count; the CPU applies the same cap so that both pick the same token.
pub const MAX_CANDIDATES: usize = 1024;

pub struct Sampler {
    pub params: SamplingParams,
    /// Tokens sampled so far: the counter of the random number (see [`uniform`]).
    pub step: u64,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        Sampler { params, step: 0 }
    }

    /// Picks the next token from `logits` (modified in place by the penalty), given the tokens
    /// seen so far (prompt and generated) for the repetition penalty.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let id = sample_at(&self.params, logits, history, self.step);
        self.step += 1;
        id
    }
}

/// The whole chain for draw number `step`. The arithmetic is f32 in a fixed order, without
/// divisions after the parameters (WGSL division is not correctly rounded), so that the GPU
/// sampler repeats it operation by operation; only `exp` may differ by an ulp or so.
pub fn sample_at(p: &SamplingParams, logits: &mut [f32], history: &[u32], step: u64) -> u32 {
    if p.repetition_penalty != 1.0 {
        apply_repetition_penalty(logits, history, p.repetition_penalty, p.repeat_last_n);
    }
    if p.is_greedy() {
        return crate::cpu::ops::argmax(logits) as u32;
    }
    let cand = top_candidates(logits, p.top_k);
    if cand.is_empty() {
        return crate::cpu::ops::argmax(logits) as u32;
    }
    let n = truncate(&cand, p.top_p, p.min_p);
    cand[draw(&cand[..n], 1.0 / p.temperature, uniform(p.seed, step))].0
}

/// The finite logits' `min(top_k, MAX_CANDIDATES)` best (0: all, capped), sorted by logit
/// descending, ties by id. A -inf logit has no probability at any temperature, so it is never a
/// candidate (nor are +inf and NaN, which a model should not produce).
pub fn top_candidates(logits: &[f32], top_k: usize) -> Vec<(u32, f32)> {
    let mut cand: Vec<(u32, f32)> = logits.iter().enumerate().filter(|(_, &l)| l.is_finite()).map(|(i, &l)| (i as u32, l)).collect();
    let k = if top_k == 0 { cand.len() } else { top_k.min(cand.len()) }.min(MAX_CANDIDATES);
    if k == 0 {
        return Vec::new();
    }
    if k < cand.len() {
        cand.select_nth_unstable_by(k - 1, cmp_desc);
        cand.truncate(k);
    }
    cand.sort_by(cmp_desc);
    cand
}

/// `exp(l - l0)`: the unnormalized probabilities at temperature 1 (`l0` is the best logit).
pub fn weights(cand: &[(u32, f32)]) -> Vec<f32> {
    cand.iter().map(|c| (c.1 - cand[0].1).exp()).collect()
}

/// How many of the sorted candidates survive top-p, then min-p (at least one).
pub fn truncate(cand: &[(u32, f32)], top_p: f32, min_p: f32) -> usize {
    let mut n = cand.len();
    if top_p >= 1.0 && min_p <= 0.0 {
        return n;
    }
    let e = weights(cand);
    if top_p < 1.0 {
        // Σ p_i ≥ top_p with p_i = e_i / s, compared as Σ e_i ≥ top_p · s.
        let thr = top_p * e.iter().fold(0f32, |a, &x| a + x);
        let mut cum = 0f32;
        for (i, &x) in e.iter().enumerate() {
            cum += x;
            if cum >= thr {
                n = i + 1;
                break;
            }
        }
    }
    if min_p > 0.0 {
        let thr = min_p * e[0];
        n = e[..n].iter().take_while(|&&x| x >= thr).count().max(1);
    }
    n
}

/// The index drawn from the candidates at temperature `1 / inv_t` by the uniform `r`: the first
/// whose cumulative weight exceeds `r` × the total; when rounding leaves none, the last one with
/// a weight.
pub fn draw(cand: &[(u32, f32)], inv_t: f32, r: f32) -> usize {
    let w: Vec<f32> = cand.iter().map(|c| ((c.1 - cand[0].1) * inv_t).exp()).collect();
    let target = r * w.iter().fold(0f32, |a, &x| a + x);
    let (mut cum, mut last) = (0f32, 0);
    for (i, &x) in w.iter().enumerate() {
        cum += x;
        if target < cum {
            return i;
        }
        if x > 0.0 {
            last = i;
        }
    }
    last
}

fn cmp_desc(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// llama.cpp's penalty: each distinct recent token's logit is divided by `penalty` if positive,
/// multiplied if negative. The division is a multiplication by the f32 reciprocal (at most an
/// ulp away) because the GPU repeats it and WGSL division is not correctly rounded.
pub fn apply_repetition_penalty(logits: &mut [f32], history: &[u32], penalty: f32, last_n: usize) {
    let inv = 1.0 / penalty;
    for t in penalized_ids(history, last_n, logits.len()) {
        let l = &mut logits[t as usize];
        *l = if *l > 0.0 { *l * inv } else { *l * penalty };
    }
}

/// The distinct ids below `n_vocab` among the last `last_n` tokens of `history`.
pub fn penalized_ids(history: &[u32], last_n: usize, n_vocab: usize) -> Vec<u32> {
    let recent = &history[history.len().saturating_sub(last_n)..];
    let mut seen = std::collections::HashSet::new();
    recent.iter().copied().filter(|&t| (t as usize) < n_vocab && seen.insert(t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_argmax() {
        let mut s = Sampler::new(SamplingParams::greedy());
        assert_eq!(s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[]), 1);
    }

    /// Edges of the parameter ranges: top_p 0 keeps the best token (as in llama.cpp); a
    /// temperature whose inverse overflows is greedy (0 · inf would make NaN weights); a penalty
    /// whose inverse overflows is refused (penalized logits would become inf and drop out).
    #[test]
    fn parameter_edges() {
        let p = SamplingParams { temperature: 1.0, top_p: 0.0, seed: 3, ..Default::default() };
        assert!(p.validate().is_ok());
        let mut s = Sampler::new(p);
        for _ in 0..20 {
            assert_eq!(s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[]), 1);
        }
        let tiny = SamplingParams { temperature: 1e-40, ..Default::default() };
        assert!(tiny.is_greedy() && tiny.validate().is_ok());
        assert_eq!(Sampler::new(tiny).sample(&mut [0.1, 3.0, -1.0, 2.9], &[]), 1);
        let penalty = SamplingParams { repetition_penalty: 1e-40, ..Default::default() };
        assert!(penalty.validate().unwrap_err().contains("repetition_penalty"));
    }

    #[test]
    fn top_k_one_is_greedy_even_with_temperature() {
        let mut s = Sampler::new(SamplingParams { temperature: 5.0, top_k: 1, ..Default::default() });
        for _ in 0..20 {
            assert_eq!(s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[]), 1);
        }
    }

    #[test]
    fn same_seed_same_draws_and_distribution_follows_probabilities() {
        let params = SamplingParams { temperature: 1.0, seed: 7, ..Default::default() };
        let logits = [0.0f32, (3.0f32).ln(), f32::NEG_INFINITY];
        let (mut a, mut b) = (Sampler::new(params.clone()), Sampler::new(params));
        let mut counts = [0usize; 3];
        for _ in 0..4000 {
            let x = a.sample(&mut logits.clone(), &[]);
            assert_eq!(x, b.sample(&mut logits.clone(), &[]));
            counts[x as usize] += 1;
        }
        assert_eq!(counts[2], 0, "a -inf logit is never drawn");
        let frac = counts[1] as f64 / 4000.0;
        assert!((frac - 0.75).abs() < 0.03, "token 1 has p = 0.75, drawn {frac}");
    }

    #[test]
    fn top_p_and_min_p_cut_the_tail() {
        let logits = [2.0f32, 1.0, 0.0, -5.0];
        let mut s = Sampler::new(SamplingParams { temperature: 1.0, top_p: 0.5, seed: 1, ..Default::default() });
        for _ in 0..200 {
            assert_eq!(s.sample(&mut logits.clone(), &[]), 0);
        }
        let mut s = Sampler::new(SamplingParams { temperature: 1.0, min_p: 0.3, seed: 1, ..Default::default() });
        for _ in 0..200 {
            assert!(s.sample(&mut logits.clone(), &[]) <= 1);
        }
    }

    #[test]
    fn repetition_penalty_changes_greedy_choice() {
        let mut s = Sampler::new(SamplingParams { repetition_penalty: 2.0, ..Default::default() });
        assert_eq!(s.sample(&mut [1.0, 3.0, 2.0], &[1]), 2);
    }

    #[test]
    fn draw_number_is_the_step_and_the_cap_bounds_candidates() {
        let params = SamplingParams { temperature: 1.0, seed: 3, ..Default::default() };
        let logits: Vec<f32> = (0..5000).map(|i| ((i * 7919) % 5000) as f32 * 1e-3).collect();
        let mut s = Sampler::new(params.clone());
        for step in 0..50 {
            assert_eq!(s.sample(&mut logits.clone(), &[]), sample_at(&params, &mut logits.clone(), &[], step));
        }
        assert_eq!(s.step, 50);
        let cand = top_candidates(&logits, 0);
        assert_eq!(cand.len(), MAX_CANDIDATES);
        assert!(cand.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn all_minus_infinity_is_the_lowest_id() {
        let params = SamplingParams { temperature: 1.0, ..Default::default() };
        assert_eq!(sample_at(&params, &mut [f32::NEG_INFINITY; 4], &[], 0), 0);
    }

    #[test]
    fn validate_names_the_parameter() {
        let e = SamplingParams { top_p: 1.5, ..Default::default() }.validate().unwrap_err();
        assert!(e.contains("top_p"));
    }
}
