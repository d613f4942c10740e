//! The generation session's bookkeeping on SmolLM2 (CPU engine): what its cache holds after a
//! request that ran nothing, and a context too small for `max_tokens`.

mod common;
use common::golden::load_cpu;
use common::*;
use gguf_web::engine::{CpuBackend, FinishReason, GenerateOptions, SamplingParams, Session};

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
