//! Token sampling from logits. The order follows llama.cpp's common sampler chain: repetition
//! penalty, top-k, top-p, min-p, temperature, then a seeded draw; temperature ≤ 0 is greedy.

use super::rng::Rng;
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
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        Self::default()
    }
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || self.top_k == 1
    }
    /// Checks the ranges a caller can get wrong; the message names the parameter.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |name: &str, v: f32, range: &str| Err(format!("{name} = {v} is out of range ({range})"));
        if !self.temperature.is_finite() {
            return bad("temperature", self.temperature, "a finite number");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", self.top_p, "0 < top_p ≤ 1");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", self.min_p, "0 ≤ min_p ≤ 1");
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad("repetition_penalty", self.repetition_penalty, "> 0");
        }
        Ok(())
    }
}

pub struct Sampler {
    pub params: SamplingParams,
    rng: Rng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        let rng = Rng::new(params.seed);
        Sampler { params, rng }
    }

    /// Picks the next token from `logits` (modified in place by the penalty), given the tokens
    /// seen so far (prompt and generated) for the repetition penalty.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            apply_repetition_penalty(logits, history, p.repetition_penalty, p.repeat_last_n);
        }
        if p.is_greedy() {
            return crate::cpu::ops::argmax(logits) as u32;
        }
        // Candidates sorted by logit, descending (ties by id so runs are reproducible).
        let mut cand: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l)).collect();
        let k = if p.top_k == 0 { cand.len() } else { p.top_k.min(cand.len()) };
        if k < cand.len() {
            cand.select_nth_unstable_by(k - 1, |a, b| cmp_desc(a, b));
            cand.truncate(k);
        }
        cand.sort_by(cmp_desc);
        let probs = softmax_of(&cand, 1.0);
        if p.top_p < 1.0 {
            let mut cum = 0.0;
            let keep = probs.iter().position(|&q| {
                cum += q;
                cum >= p.top_p as f64
            });
            cand.truncate(keep.map_or(cand.len(), |i| i + 1));
        }
        if p.min_p > 0.0 {
            let top = probs[0];
            let keep = probs.iter().take(cand.len()).take_while(|&&q| q >= p.min_p as f64 * top).count();
            cand.truncate(keep.max(1));
        }
        let probs = softmax_of(&cand, p.temperature);
        let r = self.rng.next_f64();
        let mut cum = 0.0;
        for (c, q) in cand.iter().zip(&probs) {
            cum += q;
            if r < cum {
                return c.0;
            }
        }
        cand.last().unwrap().0
    }
}

fn cmp_desc(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

fn softmax_of(cand: &[(u32, f32)], temperature: f32) -> Vec<f64> {
    let max = cand[0].1 as f64;
    let e: Vec<f64> = cand.iter().map(|c| ((c.1 as f64 - max) / temperature as f64).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// llama.cpp's penalty: each distinct recent token's logit is divided by `penalty` if positive,
/// multiplied if negative.
pub fn apply_repetition_penalty(logits: &mut [f32], history: &[u32], penalty: f32, last_n: usize) {
    let recent = &history[history.len().saturating_sub(last_n)..];
    let mut seen = std::collections::HashSet::new();
    for &t in recent {
        if seen.insert(t) {
            if let Some(l) = logits.get_mut(t as usize) {
                *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_argmax() {
        let mut s = Sampler::new(SamplingParams::greedy());
        assert_eq!(s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[]), 1);
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
    fn validate_names_the_parameter() {
        let e = SamplingParams { top_p: 0.0, ..Default::default() }.validate().unwrap_err();
        assert!(e.contains("top_p"));
    }
}
