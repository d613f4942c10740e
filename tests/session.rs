//! The generation session's bookkeeping on SmolLM2 (CPU engine): what its cache holds after a
//! request that ran nothing, and a context too small for `max_tokens`.

mod common;
use common::golden::load_cpu;
use common::*;
use gguf_web::engine::{Backend, CpuBackend, EngineError, FinishReason, GenerateOptions, LocalFuture, Sampler, SamplingParams, Session};

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions { max_tokens, sampling: SamplingParams::greedy(), stop: vec![], ignore_eos: true, ..Default::default() }
}

/// A request with `max_tokens: 0` evaluates nothing, so the next request must not count its
/// prompt as cached (it once did: the reused prompt then ran without its context).
#[test]
fn a_request_that_runs_nothing_leaves_nothing_cached() {
    let (tok, model) = load_cpu(SMOLLM);
    let ids = tok.encode("The capital of France is", true, false).unwrap();
    let mut session = Session::new(CpuBackend::new(model, 64), tok.clone());
    let fresh = session.generate(&ids, &greedy(4), &mut |_| true).unwrap();
    session.reset();
    let none = session.generate(&ids, &greedy(0), &mut |_| true).unwrap();
    assert!(none.ids.is_empty());
    let again = session.generate(&ids, &greedy(4), &mut |_| true).unwrap();
    assert_eq!(again.reused_tokens, 0, "nothing was cached by the empty request");
    assert_eq!(again.ids, fresh.ids);
}

/// `max_tokens` beyond the context ends the generation at the context's end ("length"), keeping
/// what was generated, instead of failing mid-way and losing it.
#[test]
fn generation_stops_at_the_end_of_the_context() {
    let (tok, model) = load_cpu(SMOLLM);
    let ids = tok.encode("Hi", true, false).unwrap();
    let capacity = ids.len() + 3;
    let mut session = Session::new(CpuBackend::new(model, capacity), tok.clone());
    let g = session.generate(&ids, &greedy(50), &mut |_| true).unwrap();
    // The last sampled id is never run: a prompt of P ids leaves room for capacity - P + 1.
    assert_eq!(g.ids.len(), capacity - ids.len() + 1);
    assert_eq!(g.finish, FinishReason::Length);
}

/// The CPU engine gains nothing by decode batches (each would only delay its first token): the
/// session runs it one step per call unless a request fixes K, and a fixed K gives the ids of
/// K = 1 (through the default `Backend::eval_sample_many`).
#[test]
fn decode_batches_only_where_they_save_a_round_trip() {
    let (tok, model) = load_cpu(SMOLLM);
    let ids = tok.encode("The capital of France is", true, false).unwrap();
    let mut session = Session::new(CpuBackend::new(model, 64), tok.clone());
    let one = session.generate(&ids, &greedy(6), &mut |_| true).unwrap();
    assert_eq!(one.decode_k, 1, "adaptive K on the CPU");
    session.reset();
    let four = session.generate(&ids, &GenerateOptions { decode_k: Some(4), ..greedy(6) }, &mut |_| true).unwrap();
    assert_eq!((four.decode_k, &four.ids), (4, &one.ids));
}

/// The CPU engine posing as a backend that batches decode steps, recording what the session asks
/// of it: (tokens run first, K, steps ahead) per `eval_sample_many`, and each truncation.
struct Spy {
    inner: CpuBackend,
    calls: Vec<(usize, usize, usize)>,
    truncations: Vec<usize>,
}

impl Backend for Spy {
    fn config(&self) -> &gguf_web::model::ModelConfig {
        self.inner.config()
    }
    fn position(&self) -> usize {
        self.inner.position()
    }
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
    fn truncate(&mut self, pos: usize) {
        self.truncations.push(pos);
        self.inner.truncate(pos)
    }
    fn eval<'a>(&'a mut self, tokens: &'a [u32], all_logits: bool) -> LocalFuture<'a, Result<Vec<f32>, EngineError>> {
        self.inner.eval(tokens, all_logits)
    }
    fn describe(&self) -> String {
        "spy".into()
    }
    fn eval_sample<'a>(
        &'a mut self,
        tokens: &'a [u32],
        sampler: &'a mut Sampler,
        history: &'a [u32],
    ) -> LocalFuture<'a, Result<u32, EngineError>> {
        self.inner.eval_sample(tokens, sampler, history)
    }
    fn batches_decode(&self) -> bool {
        true
    }
    fn eval_sample_many<'a>(
        &'a mut self,
        tokens: &'a [u32],
        sampler: &'a mut Sampler,
        history: &'a [u32],
        k: usize,
        ahead: usize,
    ) -> LocalFuture<'a, Result<Vec<u32>, EngineError>> {
        self.calls.push((tokens.len(), k, ahead));
        self.inner.eval_sample_many(tokens, sampler, history, k, ahead)
    }
}

/// Starting the next batch ahead: each batch asks for the next one only if the generation may go
/// on past it, within `max_tokens` and the context, and the next call asks for exactly that batch;
/// never at a fixed K of 1 (the oracle), nor with a repetition penalty (the host sees each draw).
/// An end leaves the cache at what K = 1 leaves, whatever ran ahead.
#[test]
fn each_batch_starts_exactly_the_next_one_ahead() {
    let (tok, model) = load_cpu(SMOLLM);
    let ids = tok.encode("The capital of France is", true, false).unwrap();
    let spy = Spy { inner: CpuBackend::new(model, 64), calls: vec![], truncations: vec![] };
    let mut s = Session::new(spy, tok.clone());
    let run = |s: &mut Session<Spy>, o: GenerateOptions, stop_after: Option<usize>| {
        s.reset();
        s.backend.calls.clear();
        let mut n = 0;
        let g = s
            .generate(&ids, &o, &mut |_| {
                n += 1;
                stop_after.is_none_or(|m| n < m)
            })
            .unwrap();
        (g, s.backend.calls.clone(), s.backend.position())
    };

    let (g, calls, pos) = run(&mut s, greedy(13), None);
    assert_eq!(g.ids.len(), 13);
    assert_eq!(calls[0], (ids.len(), 1, 2), "the prompt's batch is one step, the next two");
    for w in calls.windows(2) {
        assert_eq!((w[1].0, w[1].1), (1, w[0].2), "each batch is the one asked for ahead: {calls:?}");
    }
    assert_eq!(calls.iter().map(|c| c.1).sum::<usize>(), 13, "{calls:?}");
    assert_eq!(calls.last().unwrap().2, 0, "nothing ahead of the last batch: {calls:?}");
    assert_eq!(pos, ids.len() + 12);

    // An abort inside a batch with one ahead: cut back to what K = 1 leaves.
    let (g, calls, pos) = run(&mut s, greedy(40), Some(5));
    assert_eq!((g.finish, g.ids.len()), (FinishReason::Aborted, 5));
    assert!(calls.last().unwrap().2 > 0, "a batch was ahead at the abort: {calls:?}");
    assert_eq!(pos, ids.len() + 4);
    assert_eq!(s.backend.truncations.last(), Some(&(ids.len() + 4)));

    let (_, calls, _) = run(&mut s, GenerateOptions { decode_k: Some(1), ..greedy(6) }, None);
    assert!(calls.iter().all(|c| c.1 == 1 && c.2 == 0), "K = 1 runs nothing ahead: {calls:?}");
    let penalty = GenerateOptions { sampling: SamplingParams { repetition_penalty: 1.3, ..SamplingParams::greedy() }, ..greedy(6) };
    let (_, calls, _) = run(&mut s, penalty, None);
    assert!(calls.iter().all(|c| c.1 == 1 && c.2 == 0), "a penalty runs nothing ahead: {calls:?}");
    let (_, calls, _) = run(&mut s, GenerateOptions { decode_k: Some(4), ..greedy(10) }, None);
    assert_eq!(calls.iter().map(|c| (c.1, c.2)).collect::<Vec<_>>(), [(4, 4), (4, 2), (2, 0)], "K = 4 within max_tokens");
}
