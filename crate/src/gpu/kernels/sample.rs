//! Sampling on the GPU, so that a decode step reads back only the token id. It repeats
//! `engine::sampler::sample_at` exactly: same candidates (the cap included), same f32 operations
//! in the same order, same counter-based random number; only `exp` may round differently.
//!
//! Greedy: 2 dispatches (per-workgroup argmax with the repetition penalty applied in place, then
//! the argmax of the partials). Otherwise 5: the same first pass, a histogram of how far each
//! logit is below the best, the threshold bin where the k-th best falls, a gather of every logit
//! in that bin or better, and one workgroup that selects the exact k best, sorts them and draws.
//! With `top_k == 0` or above [`MAX_CANDIDATES`], only that many most likely tokens are candidates
//! (on the CPU too). Logits must be finite or -inf; non-finite ones are never candidates.

use crate::engine::sampler::{penalized_ids, SamplingParams, MAX_CANDIDATES};
use crate::gpu::buffers::storage;
use crate::gpu::context::GpuContext;
use crate::gpu::pipeline::{Access, Bind, Kernel, Kernels, Recorder};
use crate::gpu::shader::ShaderError;
use crate::wgsl_params;
use std::rc::Rc;

/// Logits per workgroup in the passes over the vocabulary.
const CHUNK: u32 = 4096;
/// Histogram bins (see `bin_of` in sample_common.wgsl).
const BINS: u32 = 2048;
/// Small workgroups: WebGPU zero-initialises workgroup memory (the reductions' arrays are one slot
/// per invocation), and CPU drivers compile that into a store per element.
const WG: u32 = 64;

wgsl_params! {
    pub struct SampleParams {
        pub n: u32,
        pub logits_offset: u32,
        pub n_pen: u32,
        pub n_groups: u32,
        pub k: u32,
        pub top_p: f32,
        pub min_p: f32,
        pub inv_temp: f32,
        pub pen: f32,
        pub inv_pen: f32,
        pub seed_lo: u32,
        pub seed_hi: u32,
        pub step_lo: u32,
        pub step_hi: u32,
    }
}

/// The sampler's kernels, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sample {
    Reduce,
    Argmax,
    Hist,
    Threshold,
    Gather,
    Draw,
    /// Constrained decoding: forbidden tokens' logits to -inf (see [`GpuSampler::record_masked`]).
    Mask,
}

impl Kernel for Sample {
    type Params = SampleParams;
    fn shader(&self) -> &'static str {
        match self {
            Sample::Reduce => "sample_reduce.wgsl",
            Sample::Argmax => "sample_argmax.wgsl",
            Sample::Hist => "sample_hist.wgsl",
            Sample::Threshold => "sample_threshold.wgsl",
            Sample::Gather => "sample_gather.wgsl",
            Sample::Draw => "sample_draw.wgsl",
            Sample::Mask => "sample_mask.wgsl",
        }
    }
    fn defines(&self) -> Vec<(String, String)> {
        vec![("CHUNK".into(), format!("{CHUNK}u")), ("NB".into(), format!("{BINS}u")), ("CAP".into(), format!("{MAX_CANDIDATES}u"))]
    }
    fn workgroup(&self) -> [u32; 3] {
        [WG, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        use Access::*;
        match self {
            Sample::Reduce => vec![ReadWrite, Read, ReadWrite, ReadWrite],
            Sample::Argmax => vec![Read, ReadWrite],
            Sample::Hist => vec![Read, Read, ReadWrite],
            Sample::Threshold => vec![Read, Read, ReadWrite],
            Sample::Gather => vec![Read, ReadWrite, ReadWrite],
            Sample::Draw => vec![ReadWrite, Read, ReadWrite, ReadWrite],
            Sample::Mask => vec![ReadWrite, Read],
        }
    }
    fn name(&self) -> String {
        format!("sample_{self:?}")
    }
}

/// Sampling for one vocabulary size, with its scratch buffers; create once per model.
pub struct GpuSampler {
    ctx: Rc<GpuContext>,
    n_vocab: u32,
    n_groups: u32,
    pen: wgpu::Buffer,
    partials: wgpu::Buffer,
    hist: wgpu::Buffer,
    state: wgpu::Buffer,
    cand: wgpu::Buffer,
    work: wgpu::Buffer,
    out: wgpu::Buffer,
    /// The allowed tokens of a constrained step, one bit each.
    mask: wgpu::Buffer,
}

impl GpuSampler {
    pub fn new(kernels: &Kernels, n_vocab: usize) -> GpuSampler {
        let ctx = kernels.ctx.clone();
        let n_groups = (n_vocab as u32).div_ceil(CHUNK);
        assert!(n_vocab > 0 && n_groups <= 65535, "vocabulary of {n_vocab} tokens");
        let buf = |label: &str, bytes: u64| storage(&ctx, label, bytes);
        GpuSampler {
            n_vocab: n_vocab as u32,
            n_groups,
            pen: buf("sample penalized ids", n_vocab as u64 * 4),
            partials: buf("sample partials", n_groups as u64 * 8),
            hist: buf("sample histogram", BINS as u64 * 4),
            state: buf("sample state", 16),
            // Room for the whole vocabulary: the gather never drops a candidate, however tied.
            cand: buf("sample candidates", n_vocab as u64 * 8),
            // The draw's radix counts, fill counter, and keys, ids and weights of the candidates.
            work: buf("sample sort", (256 + 1 + 3 * MAX_CANDIDATES as u64) * 4),
            out: buf("sample out", 16),
            mask: buf("sample mask", (n_vocab as u64).div_ceil(32) * 4),
            ctx,
        }
    }

    /// The sampled id is the first u32; the next three are for tests (the uniform's bits, the
    /// gathered count, the candidates left after top-p/min-p).
    pub fn out(&self) -> &wgpu::Buffer {
        &self.out
    }

    /// Records the sampling of `logits[logits_offset..][..n_vocab]` for draw number `step` (tokens
    /// generated so far). The repetition penalty is applied to the logits in place, as the CPU
    /// sampler does. The penalized ids are written with `queue.write_buffer`, so record at most
    /// one sampling per submit.
    pub fn record(
        &self,
        rec: &mut Recorder,
        logits: &Bind,
        logits_offset: u32,
        params: &SamplingParams,
        step: u64,
        history: &[u32],
    ) -> Result<(), ShaderError> {
        let ids =
            if params.repetition_penalty != 1.0 { penalized_ids(history, params.repeat_last_n, self.n_vocab as usize) } else { Vec::new() };
        if !ids.is_empty() {
            self.ctx.queue.write_buffer(&self.pen, 0, bytemuck::cast_slice(&ids));
        }
        let k = if params.top_k == 0 { self.n_vocab as usize } else { params.top_k };
        let p = SampleParams {
            n: self.n_vocab,
            logits_offset,
            n_pen: ids.len() as u32,
            n_groups: self.n_groups,
            k: k.min(MAX_CANDIDATES) as u32,
            top_p: params.top_p,
            min_p: params.min_p,
            inv_temp: 1.0 / params.temperature,
            pen: params.repetition_penalty,
            inv_pen: 1.0 / params.repetition_penalty,
            seed_lo: params.seed as u32,
            seed_hi: (params.seed >> 32) as u32,
            step_lo: step as u32,
            step_hi: (step >> 32) as u32,
        };
        let b = Bind::whole;
        let vocab = [self.n_groups, 1, 1];
        rec.dispatch(&Sample::Reduce, &p, &[logits.clone(), b(&self.pen), b(&self.partials), b(&self.hist)], vocab)?;
        if params.is_greedy() {
            return rec.dispatch(&Sample::Argmax, &p, &[b(&self.partials), b(&self.out)], [1, 1, 1]);
        }
        rec.dispatch(&Sample::Hist, &p, &[logits.clone(), b(&self.partials), b(&self.hist)], vocab)?;
        rec.dispatch(&Sample::Threshold, &p, &[b(&self.partials), b(&self.hist), b(&self.state)], [1, 1, 1])?;
        rec.dispatch(&Sample::Gather, &p, &[logits.clone(), b(&self.state), b(&self.cand)], vocab)?;
        rec.dispatch(&Sample::Draw, &p, &[b(&self.state), b(&self.cand), b(&self.out), b(&self.work)], [1, 1, 1])
    }
}

impl GpuSampler {
    /// Records a second draw on logits the sampler has already run on (the repetition penalty is
    /// in them): the tokens whose bit is clear in `mask` (`n_vocab` bits, bit i of word i / 32) go
    /// to -inf, then the same chain draws with the same `step`, without the penalty again. The
    /// mask is written with `queue.write_buffer`: record at most one per submit.
    pub fn record_masked(
        &self,
        rec: &mut Recorder,
        logits: &Bind,
        logits_offset: u32,
        params: &SamplingParams,
        step: u64,
        mask: &[u32],
    ) -> Result<(), ShaderError> {
        assert_eq!(mask.len(), self.n_vocab.div_ceil(32) as usize, "a mask of n_vocab bits");
        self.ctx.queue.write_buffer(&self.mask, 0, bytemuck::cast_slice(mask));
        let p = SampleParams { n: self.n_vocab, logits_offset, ..Default::default() };
        let b = Bind::whole;
        rec.dispatch(&Sample::Mask, &p, &[logits.clone(), b(&self.mask)], [self.n_groups, 1, 1])?;
        let unpenalized = SamplingParams { repetition_penalty: 1.0, ..params.clone() };
        self.record(rec, logits, logits_offset, &unpenalized, step, &[])
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::engine::rng::uniform;
    use crate::engine::sampler::{sample_at, top_candidates, truncate, weights};
    use crate::gpu::buffers::{read_f32, read_u32};
    use crate::gpu::context::block_on;
    use crate::gpu::testing::kernels;
    use crate::quant::testdata::TestRng;

    /// The logits start this many floats into their buffer, to exercise `logits_offset`.
    const OFFSET: usize = 40;
    /// Relative distance to a decision boundary within which `exp` rounding (a few ulp per term,
    /// accumulated over up to 1024 terms) could move the CPU's and the GPU's choices apart.
    const EPS: f32 = 1e-5;

    struct Rig {
        k: Kernels,
        sampler: GpuSampler,
        logits: wgpu::Buffer,
        n: usize,
    }

    impl Rig {
        fn new(k: Kernels, n: usize) -> Rig {
            let sampler = GpuSampler::new(&k, n);
            let logits = storage(&k.ctx, "logits", ((OFFSET + n) * 4) as u64);
            Rig { k, sampler, logits, n }
        }

        /// The GPU's out words and the logits after the penalty.
        fn run(&self, logits: &[f32], p: &SamplingParams, step: u64, history: &[u32]) -> ([u32; 4], Vec<f32>) {
            let ctx = &self.k.ctx;
            ctx.queue.write_buffer(&self.logits, (OFFSET * 4) as u64, bytemuck::cast_slice(logits));
            let mut rec = self.k.recorder();
            self.sampler.record(&mut rec, &Bind::whole(&self.logits), OFFSET as u32, p, step, history).unwrap();
            rec.submit();
            let out = block_on(read_u32(ctx, self.sampler.out(), 0, 4)).unwrap();
            let after = if p.repetition_penalty != 1.0 { block_on(read_f32(ctx, &self.logits, OFFSET, self.n)).unwrap() } else { vec![] };
            ([out[0], out[1], out[2], out[3]], after)
        }
    }

    /// The CPU chain's smallest distance, relative to the sum it is compared against, between a
    /// cumulative weight and its threshold (top-p, min-p, the draw): where rounding could flip it.
    fn margin(p: &SamplingParams, logits: &[f32], step: u64) -> f32 {
        let cand = top_candidates(logits, p.top_k);
        if p.is_greedy() || cand.is_empty() {
            return f32::INFINITY;
        }
        let mut m = f32::INFINITY;
        let e = weights(&cand);
        let mut n = cand.len();
        if p.top_p < 1.0 {
            let s = e.iter().fold(0f32, |a, &x| a + x);
            let mut cum = 0f32;
            for (i, &x) in e.iter().enumerate() {
                cum += x;
                m = m.min((cum - p.top_p * s).abs() / s);
                if cum >= p.top_p * s {
                    n = i + 1;
                    break;
                }
            }
        }
        if p.min_p > 0.0 {
            for &x in &e[..n] {
                m = m.min((x - p.min_p).abs() / p.min_p);
            }
        }
        let n = truncate(&cand, p.top_p, p.min_p);
        let w: Vec<f32> = cand[..n].iter().map(|c| ((c.1 - cand[0].1) * (1.0 / p.temperature)).exp()).collect();
        let s = w.iter().fold(0f32, |a, &x| a + x);
        let goal = uniform(p.seed, step) * s;
        let mut cum = 0f32;
        for &x in &w {
            cum += x;
            m = m.min((cum - goal).abs() / s);
        }
        m
    }

    fn random_logits(rng: &mut TestRng, n: usize, kind: usize) -> Vec<f32> {
        let scale = 0.5 + 6.0 * rng.uniform();
        (0..n)
            .map(|_| {
                let x = rng.normal() * scale;
                match kind {
                    // Ties: a few hundred distinct values.
                    1 => (x * 2.0).round() / 2.0,
                    2 if rng.uniform() < 0.3 => f32::NEG_INFINITY,
                    // Massive ties at the top: more than the cap gathered.
                    3 => (x.abs() * 0.3).floor().min(2.0),
                    // A peaked distribution, as a model's.
                    4 if rng.uniform() < 0.002 => x.abs() * 4.0,
                    _ => x,
                }
            })
            .collect()
    }

    fn random_params(rng: &mut TestRng) -> SamplingParams {
        let pick = |rng: &mut TestRng, v: &[f32]| v[(rng.uniform() * v.len() as f32) as usize % v.len()];
        SamplingParams {
            temperature: pick(rng, &[0.0, 0.3, 0.8, 1.0, 1.7]),
            top_k: pick(rng, &[0.0, 0.0, 1.0, 5.0, 40.0, 1024.0, 5000.0]) as usize,
            top_p: pick(rng, &[1.0, 1.0, 0.95, 0.5, 0.0]),
            min_p: pick(rng, &[0.0, 0.0, 0.05, 0.2]),
            repetition_penalty: pick(rng, &[1.0, 1.0, 1.3, 0.8]),
            repeat_last_n: pick(rng, &[64.0, 8.0]) as usize,
            seed: rng.next_u64(),
        }
    }

    /// Compares one case; a different id is allowed only within EPS of a boundary (counted).
    fn check(rig: &Rig, logits: &[f32], p: &SamplingParams, step: u64, history: &[u32], stats: &mut Stats) {
        let mut cpu_logits = logits.to_vec();
        let want = sample_at(p, &mut cpu_logits, history, step);
        let (out, after) = rig.run(logits, p, step, history);
        let what = format!("n={} {p:?} step={step} history={}", rig.n, history.len());
        if p.repetition_penalty != 1.0 {
            assert!(after.iter().zip(&cpu_logits).all(|(a, b)| a.to_bits() == b.to_bits()), "penalized logits differ: {what}");
        }
        if !p.is_greedy() && !top_candidates(&cpu_logits, p.top_k).is_empty() {
            assert_eq!(out[1], uniform(p.seed, step).to_bits(), "uniform: {what}");
            stats.radix += (out[2] as usize > MAX_CANDIDATES) as usize;
            stats.max_gathered = stats.max_gathered.max(out[2]);
        }
        stats.cases += 1;
        if out[0] != want {
            let m = margin(p, &cpu_logits, step);
            assert!(m < EPS, "GPU drew {} and the CPU {want} (margin {m:.2e}): {what}", out[0]);
            stats.skipped += 1;
        }
    }

    #[derive(Default, Debug)]
    struct Stats {
        cases: usize,
        skipped: usize,
        radix: usize,
        max_gathered: u32,
    }

    #[test]
    fn sampler_matches_the_cpu_on_random_logits() {
        let mut k = Some(kernels());
        let mut rng = TestRng::new(2024);
        let mut stats = Stats::default();
        for (n, cases) in [(1usize, 20), (7, 100), (1000, 300), (49152, 150), (262144, 60)] {
            let rig = Rig::new(k.take().unwrap(), n);
            for c in 0..cases {
                let logits = random_logits(&mut rng, n, c % 5);
                let p = random_params(&mut rng);
                let step = if c % 7 == 3 { (1 << 32) + c as u64 } else { c as u64 };
                let history: Vec<u32> = (0..(rng.uniform() * 100.0) as usize).map(|_| (rng.uniform() * (n + 5) as f32) as u32).collect();
                check(&rig, &logits, &p, step, &history, &mut stats);
            }
            k = Some(rig.k);
        }
        println!("{stats:?}");
        assert!(stats.radix > 0, "the massive-ties path was not exercised");
        assert!(stats.skipped * 100 <= stats.cases, "too many near-boundary cases skipped");
    }

    #[test]
    fn ties_and_minus_infinity() {
        let ninf = f32::NEG_INFINITY;
        let rig = Rig::new(kernels(), 3000);
        let mut stats = Stats::default();
        let sampling = |top_k, temperature, seed| SamplingParams { top_k, temperature, seed, ..Default::default() };
        let mut cases: Vec<(Vec<f32>, SamplingParams)> = Vec::new();
        for (top_k, t) in [(0, 0.0), (0, 1.0), (40, 1.0), (1, 1.0), (2000, 2.0)] {
            // Everything tied: the lowest ids are the candidates (more than the cap when top_k = 0).
            cases.push((vec![1.5; 3000], sampling(top_k, t, 5)));
            // Nothing finite: the first id.
            cases.push((vec![ninf; 3000], sampling(top_k, t, 6)));
            // Three finite logits at the end, two of them tied.
            let mut l = vec![ninf; 3000];
            l[2997..].copy_from_slice(&[0.5, 2.0, 2.0]);
            cases.push((l, sampling(top_k, t, 7)));
            // Zeros of both signs: +0 ranks first, as f32::total_cmp.
            let l: Vec<f32> = (0..3000).map(|i| if i % 2 == 0 { -0.0 } else { 0.0 }).collect();
            cases.push((l, sampling(top_k, t, 8)));
        }
        for (i, (logits, p)) in cases.iter().enumerate() {
            for step in 0..4 {
                check(&rig, logits, p, step + 10 * i as u64, &[], &mut stats);
            }
        }
        assert_eq!(stats.skipped, 0);
        println!("{stats:?}");
    }
}
