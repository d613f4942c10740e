//! Running the model: forward passes (logits back, or the sampled id only), warm-up of the
//! pipelines, and the probe's read-back.

use super::graph::Probe;
use super::{GpuModel, Logits, WarmUp, MAX_BATCH, MAX_DECODE_K};
use crate::engine::clock;
use crate::engine::SamplingParams;
use crate::gpu::buffers::{read_f32, storage};
use crate::gpu::error::GpuError;
use crate::gpu::kernels::attention::decode_split;
use crate::gpu::pipeline::{Bind, Recorder};

/// A batch of decode steps submitted before the host asked for it, right behind the batch before
/// it: the GPU runs it while the host reads that batch's ids and hands them out, so the GPU does not
/// wait for the host between batches. The next [`GpuModel::forward_sample_many`] that asks for
/// exactly these steps takes it over; anything else drops it (a truncation, another request, a
/// forward pass): its cache writes lie past the committed position, where whatever runs next writes
/// after them in queue order, and its ids are never read.
pub(super) struct Ahead {
    /// The position of its first step: the committed position while it runs.
    pos: usize,
    /// The id its first step runs, the last id of the batch before it, once that is read.
    input: Option<u32>,
    step: u64,
    k: usize,
    params: SamplingParams,
    /// The staging buffer its ids go to, its last submission, and when that was.
    staging: usize,
    done: wgpu::SubmissionIndex,
    submitted_ms: f64,
}

/// The share of a batch's expected time that a browser's wait sleeps before it nudges the queue
/// (see `GpuContext::map_finish`): short enough that a batch faster than the last ones still
/// gets nudged near its end.
const QUIET_SHARE: f64 = 0.7;
/// The weight of the newest batch in the moving average of milliseconds per step.
const STEP_MS_WEIGHT: f64 = 0.3;

impl GpuModel {
    /// Runs `tokens` at the next positions. Returns the logits asked for (`n_vocab` per row).
    pub async fn forward(&mut self, tokens: &[u32], want: Logits) -> Result<Vec<f32>, GpuError> {
        self.drop_ahead();
        let mut out = Vec::new();
        for (ci, chunk) in tokens.chunks(MAX_BATCH).enumerate() {
            let last_chunk = (ci + 1) * MAX_BATCH >= tokens.len();
            let rows = match want {
                Logits::All => chunk.len(),
                Logits::Last if last_chunk => 1,
                _ => 0,
            };
            self.pipelines_ready(chunk.len(), rows, None).await?;
            self.k.ctx.queue.write_buffer(&self.s.ids, 0, bytemuck::cast_slice(chunk));
            let mut rec = self.k.recorder();
            self.record(&mut rec, chunk.len(), rows)?;
            self.last_dispatches = rec.dispatches;
            rec.submit();
            self.submits += 1;
            self.pos += chunk.len();
            if rows > 0 {
                let n = rows * self.cfg.n_vocab;
                out.extend(read_f32(&self.k.ctx, &self.s.logits, 0, n).await?);
            }
        }
        self.k.ctx.check()?;
        Ok(out)
    }

    /// Runs `tokens` and samples the next token on the GPU: only its id (4 bytes) is read back.
    /// `step` is the draw number (tokens generated so far), `history` the ids for the penalty.
    pub async fn forward_sample(&mut self, tokens: &[u32], params: &SamplingParams, step: u64, history: &[u32]) -> Result<u32, GpuError> {
        Ok(self.forward_sample_many(tokens, params, step, history, 1, 0).await?[0])
    }

    /// Runs `tokens`, then draws `k` tokens (at most [`MAX_DECODE_K`]) with draw numbers `step..`,
    /// each drawn id copied on the GPU into the ids buffer that the next step's embedding reads:
    /// the host waits once, for `k` ids (4 bytes each). Each step is submitted as soon as it is
    /// recorded, so the GPU runs one step while the host records the next. The last id drawn is
    /// not run. `history` (the repetition penalty's) applies to the first draw only: the later
    /// ones would need the ids drawn before them, so with a penalty `k` must be 1.
    ///
    /// `ahead` > 0 also submits the next batch, `ahead` steps from the last id drawn, before the
    /// wait ([`Ahead`]): the GPU goes on to it while the host reads these ids and hands them out,
    /// and the next call asking for exactly it (`tokens` that last id, draw numbers `step + k..`,
    /// `k = ahead`) only waits for its ids. The committed position ([`Self::pos`]) and the ids
    /// returned are those of `ahead = 0`.
    pub async fn forward_sample_many(
        &mut self,
        tokens: &[u32],
        params: &SamplingParams,
        step: u64,
        history: &[u32],
        k: usize,
        ahead: usize,
    ) -> Result<Vec<u32>, GpuError> {
        assert!((1..=MAX_DECODE_K).contains(&k) && (k == 1 || params.repetition_penalty == 1.0), "k = {k} with {params:?}");
        assert!(ahead <= MAX_DECODE_K && (ahead == 0 || params.repetition_penalty == 1.0), "ahead = {ahead} with {params:?}");
        let taken = self
            .ahead
            .take_if(|a| a.input.is_some_and(|id| tokens == [id]) && (a.pos, a.step, a.k) == (self.pos, step, k) && a.params == *params);
        self.drop_ahead();
        // When the GPU started the batch, if it is decode steps only (else None).
        let (cur, done, started_ms) = match taken {
            Some(a) => {
                self.ahead_runs[0] += 1;
                self.pos += a.k;
                // Queued behind the batch read last, the GPU went on to it about when that came back.
                (a.staging, a.done, Some(a.submitted_ms.max(self.last_read_ms)))
            }
            None => {
                let n = tokens.len();
                let (head, last) = tokens.split_at(n - (n - 1) % MAX_BATCH - 1);
                if !head.is_empty() {
                    self.forward(head, Logits::None).await?;
                }
                self.pipelines_ready(last.len(), 1, Some(params)).await?;
                self.k.ctx.queue.write_buffer(&self.s.ids, 0, bytemuck::cast_slice(last));
                let done = self.submit_steps(last.len(), params, step, history, k, 0)?;
                self.pos += last.len() + k - 1;
                // Not timed behind a dropped batch, which the GPU may still be running.
                (0, done, (tokens.len() == 1 && !self.last_read_ms.is_nan()).then(clock::now_ms))
            }
        };
        let not_before = started_ms.zip(self.step_ms).map(|(t, ms)| t + QUIET_SHARE * ms * k as f64);
        // The map is asked for before the steps ahead are submitted, so that they do not delay it.
        let pending = self.k.ctx.map_start(&self.id_staging[cur]);
        // The steps ahead must fit the cache (positions pos..pos + ahead), and their pipelines be
        // compiled already: waiting for a browser to compile them would delay these ids.
        let ahead = ahead.min(self.n_ctx.saturating_sub(self.pos));
        let started = if ahead > 0 && self.known_ready(1, 1, Some(params)) {
            let (next, at) = (1 - cur, step + k as u64);
            self.submit_steps(1, params, at, &[], ahead, next).map(|done| {
                let submitted_ms = clock::now_ms();
                Some(Ahead { pos: self.pos, input: None, step: at, k: ahead, params: params.clone(), staging: next, done, submitted_ms })
            })
        } else {
            Ok(None)
        };
        // Waited for even when the steps ahead failed: the buffer must be unmapped for its next use.
        let bytes = self.k.ctx.map_finish(&self.id_staging[cur], pending, Some(done), not_before).await;
        let now = clock::now_ms();
        if let (Ok(_), Some(t)) = (&bytes, started_ms) {
            let per_step = (now - t) / k as f64;
            self.step_ms = Some(self.step_ms.map_or(per_step, |ms| ms + STEP_MS_WEIGHT * (per_step - ms)));
        }
        self.last_read_ms = now;
        let bytes = bytes?;
        self.ahead = started?;
        let ids: Vec<u32> = bytes.chunks_exact(4).take(k).map(|b| u32::from_le_bytes(b.try_into().unwrap())).collect();
        if let Some(a) = self.ahead.as_mut() {
            a.input = ids.last().copied();
        }
        Ok(ids)
    }

    /// Forgets the batch ahead, if any: its ids will not be read.
    pub(super) fn drop_ahead(&mut self) {
        if self.ahead.take().is_some() {
            self.ahead_runs[1] += 1;
            self.last_read_ms = f64::NAN;
        }
    }

    /// Records and submits `k` decode steps from `self.pos` (its first of `t` tokens, whose ids are
    /// in the ids buffer), draw numbers `step..`: step `i`'s id goes to staging buffer `staging`
    /// at `4 i` and to the ids buffer, which the next step (or the batch ahead) reads. Returns
    /// the last submission. `self.pos` is left as it was.
    fn submit_steps(
        &mut self,
        t: usize,
        params: &SamplingParams,
        step: u64,
        history: &[u32],
        k: usize,
        staging: usize,
    ) -> Result<wgpu::SubmissionIndex, GpuError> {
        let (mut t, mut pos) = (t, self.pos);
        let mut done = None;
        for i in 0..k {
            let mut rec = self.k.recorder();
            self.record_at(&mut rec, t, 1, pos, None)?;
            self.sampler.record(&mut rec, &Bind::whole(&self.s.logits), 0, params, step + i as u64, if i == 0 { history } else { &[] })?;
            rec.copy(self.sampler.out(), 0, &self.id_staging[staging], 4 * i as u64, 4);
            rec.copy(self.sampler.out(), 0, &self.s.ids, 0, 4);
            self.last_dispatches = rec.dispatches;
            done = Some(rec.submit());
            self.submits += 1;
            pos += t;
            t = 1;
        }
        Ok(done.expect("k ≥ 1 steps"))
    }

    /// Draws again from the logits of the last [`Self::forward_sample`], which are still in the
    /// logits buffer: only the tokens set in `mask` (`n_vocab` bits) are candidates, with the same
    /// draw number `step` (constrained decoding, when the first draw was refused). 4 bytes back.
    /// The draw before asked for no steps ahead (which would have overwritten those logits).
    pub async fn resample_masked(&mut self, params: &SamplingParams, step: u64, mask: &[u32]) -> Result<u32, GpuError> {
        debug_assert!(self.ahead.is_none(), "steps ahead overwrote the logits to draw from again");
        self.drop_ahead();
        let mut rec = self.k.recorder();
        self.sampler.record_masked(&mut rec, &Bind::whole(&self.s.logits), 0, params, step, mask)?;
        rec.copy(self.sampler.out(), 0, &self.id_staging[0], 0, 4);
        let done = rec.submit();
        self.submits += 1;
        let bytes = self.k.ctx.map_read(&self.id_staging[0], Some(done)).await?;
        Ok(u32::from_le_bytes(bytes[..4].try_into().unwrap()))
    }

    /// Records the forward pass of `t` tokens, the sampling of the next one and the copy of its id
    /// into the read-back buffer.
    fn record_sampled(&self, rec: &mut Recorder, t: usize, params: &SamplingParams, step: u64, history: &[u32]) -> Result<(), GpuError> {
        self.record(rec, t, 1)?;
        self.sampler.record(rec, &Bind::whole(&self.s.logits), 0, params, step, history)?;
        rec.copy(self.sampler.out(), 0, &self.id_staging[0], 0, 4);
        Ok(())
    }

    /// Host time in milliseconds to record one greedy decode step (the command encoding that the
    /// CPU does for every token, before the GPU starts): the mean of `reps` recordings, none
    /// submitted. On a fast GPU this, not the weights' bandwidth, can bound decode speed.
    pub fn record_ms(&self, reps: usize) -> Result<f64, GpuError> {
        let greedy = SamplingParams::greedy();
        let t0 = crate::engine::clock::now_ms();
        for _ in 0..reps {
            let mut rec = self.k.recorder();
            self.record_sampled(&mut rec, 1, &greedy, 0, &[])?;
            drop(rec.finish());
        }
        Ok((crate::engine::clock::now_ms() - t0) / reps.max(1) as f64)
    }

    /// Prepares the pipelines of `part` (see [`Kernels::prepare`]): a browser compiles them in the
    /// background (one at a time, in order), instead of on first use. Natively this creates them.
    pub fn warm_up(&self, part: WarmUp) -> Result<(), GpuError> {
        let mut rec = self.k.dry_recorder();
        let logits = Bind::whole(&self.s.logits);
        match part {
            WarmUp::Decode => {
                self.record(&mut rec, 1, 1)?;
                self.sampler.record(&mut rec, &logits, 0, &SamplingParams::greedy(), 0, &[])?;
            }
            WarmUp::Rest => {
                self.k.defer_prepared();
                self.record(&mut rec, 2, 1)?;
                // Past one split of keys, attention runs its multi-split kernel and the reduction.
                let split = decode_split(self.k.ctx.tuning) as usize;
                if self.n_ctx > split {
                    self.record_at(&mut rec, 1, 1, split, None)?;
                }
                let drawn = SamplingParams { temperature: 1.0, ..SamplingParams::default() };
                self.sampler.record(&mut rec, &logits, 0, &drawn, 0, &[])?;
            }
        }
        self.k.ctx.check()
    }

    /// Waits until the pipelines of a step of `t` tokens (and its sampling) are compiled, where
    /// the warm-up left some compiling (see `LoadingModel::warm_up`).
    async fn pipelines_ready(&self, t: usize, logit_rows: usize, sampling: Option<&SamplingParams>) -> Result<(), GpuError> {
        if self.known_ready(t, logit_rows, sampling) {
            return Ok(());
        }
        let kind = step_kind(t, logit_rows, sampling);
        let mut dry = self.k.dry_recorder();
        self.record(&mut dry, t, logit_rows)?;
        if let Some(p) = sampling {
            self.sampler.record(&mut dry, &Bind::whole(&self.s.logits), 0, p, 0, &[])?;
        }
        self.k.ready(&dry.names).await;
        self.ready_steps.borrow_mut().push(kind);
        Ok(())
    }

    /// Whether the pipelines of a step are known to be compiled (see [`Self::pipelines_ready`]):
    /// checked once per kind of step, not per token, and pipelines never used stay pending.
    fn known_ready(&self, t: usize, logit_rows: usize, sampling: Option<&SamplingParams>) -> bool {
        !self.k.has_pending() || self.ready_steps.borrow().contains(&step_kind(t, logit_rows, sampling))
    }

    /// Runs `tokens` (at most [`MAX_BATCH`]) at the next positions like [`Self::forward`] (no
    /// logits) and returns layer `layer`'s intermediates (see [`Probe`]): a name and `n` values per
    /// token for each. For comparing a layer with the CPU engine.
    pub async fn forward_probed(&mut self, tokens: &[u32], layer: usize) -> Result<Vec<(String, Vec<f32>)>, GpuError> {
        assert!(!tokens.is_empty() && tokens.len() <= MAX_BATCH && layer < self.w.layers.len());
        let c = &self.cfg;
        let widest = c.n_embd.max(c.q_dim()).max(c.kv_dim()).max(c.v_dim()).max(c.n_head * c.head_dim_v);
        // At most eight taps a layer.
        let bytes = (8 * tokens.len() * widest * 4) as u64;
        self.drop_ahead();
        let probe = Probe { layer, buffer: storage(&self.k.ctx, "probe", bytes), taps: Default::default() };
        self.k.ctx.queue.write_buffer(&self.s.ids, 0, bytemuck::cast_slice(tokens));
        let mut rec = self.k.recorder();
        self.record_at(&mut rec, tokens.len(), 0, self.pos, Some(&probe))?;
        rec.submit();
        self.pos += tokens.len();
        let mut out = Vec::new();
        let taps = probe.taps.borrow().clone();
        for (name, offset, n) in taps {
            out.push((name.to_string(), read_f32(&self.k.ctx, &probe.buffer, (offset / 4) as usize, n as usize).await?));
        }
        self.k.ctx.check()?;
        Ok(out)
    }
}

/// What decides a step's pipelines (see `GpuModel::ready_steps`).
fn step_kind(t: usize, logit_rows: usize, sampling: Option<&SamplingParams>) -> super::StepKind {
    (t == 1, logit_rows.min(2), sampling.map_or(0, |p| if p.is_greedy() { 1 } else { 2 }))
}
