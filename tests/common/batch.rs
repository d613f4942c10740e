//! Several decode steps per round trip (engine/batch.rs) against one: the oracle is the same
//! session run with K = 1, which every golden test checks against llama.cpp. For greedy and
//! seeded sampling at temperature 1, a script of requests (to `max_tokens`, ended by a stop
//! string, aborted, each followed by a request that reuses the cache) must give with a fixed
//! K > 1 exactly the ids, finish reasons, reused prompt tokens and cache positions of K = 1.
#![allow(dead_code)]

use gguf_web::engine::{Backend, DecodeBatch, FinishReason, GenerateOptions, SamplingParams, Session};

/// Tokens a request generates at most.
const MAX_TOKENS: usize = 21;
/// The aborted request stops after this many tokens.
const ABORT_AFTER: usize = 6;

/// What a request left: ids, finish reason, prompt tokens reused, the cache's position after.
type Outcome = (Vec<u32>, FinishReason, usize, usize);

fn opts(sampling: &SamplingParams, stop: Vec<String>) -> GenerateOptions {
    // Batches ahead on every adapter: these machines' are CPU adapters, which do not start them by default.
    GenerateOptions {
        max_tokens: MAX_TOKENS,
        sampling: sampling.clone(),
        stop,
        ignore_eos: true,
        decode_ahead: Some(true),
        ..Default::default()
    }
}

/// Runs the script with `session.batch` as set; `stop` is the stop string of the third request.
fn script<B: Backend>(s: &mut Session<B>, prompt: &[u32], sampling: &SamplingParams, stop: &str) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut run = |s: &mut Session<B>, ids: &[u32], o: &GenerateOptions, stop_after: Option<usize>| {
        let mut n = 0;
        let g = s.generate(ids, o, &mut |_| {
            n += 1;
            stop_after.is_none_or(|m| n < m)
        });
        let g = g.unwrap_or_else(|e| panic!("generation failed: {e}"));
        let r = (g.ids.clone(), g.finish, g.reused_tokens, s.backend.position());
        out.push(r);
        g
    };
    // A follow-up request: the prompt, what was generated, and a few prompt tokens more.
    let follow = |prompt: &[u32], ids: &[u32]| -> Vec<u32> { [prompt, ids, &prompt[..prompt.len().min(3)]].concat() };
    s.reset();
    let free = opts(sampling, vec![]);
    let g = run(s, prompt, &free, None);
    run(s, &follow(prompt, &g.ids[..g.ids.len() / 2]), &free, None);
    let g = run(s, prompt, &opts(sampling, vec![stop.to_string()]), None);
    run(s, &follow(prompt, &g.ids), &free, None);
    let g = run(s, prompt, &free, Some(ABORT_AFTER));
    run(s, &follow(prompt, &g.ids), &free, None);
    out
}

/// Checks K in `ks` against K = 1, greedy and seeded, on the first of `prompts` whose output has a
/// stop string to pick; returns how many requests were compared. Panics with the first difference.
/// `None` in `ks` is the adaptive K.
pub fn compare_k<B: Backend>(what: &str, s: &mut Session<B>, prompts: &[Vec<u32>], ks: &[Option<usize>]) -> usize {
    let samplings = [SamplingParams::greedy(), SamplingParams { temperature: 1.0, seed: 1234, ..SamplingParams::default() }];
    let mut compared = 0;
    for sampling in &samplings {
        s.batch = DecodeBatch::new(Some(1));
        let picked = prompts.iter().find_map(|p| {
            s.reset();
            let text = s.generate(p, &opts(sampling, vec![]), &mut |_| true).unwrap().text;
            stop_inside(&text).map(|stop| (p, stop))
        });
        let (prompt, stop) = picked.unwrap_or_else(|| panic!("{what}: no output to pick a stop string from, {sampling:?}"));
        let want = script(s, prompt, sampling, &stop);
        // The script does what it is meant to: the stop string ends its request early.
        assert_eq!(want[2].1, FinishReason::Stop, "{what}: the stop string {stop:?} did not end the request");
        assert!(want[2].0.len() < MAX_TOKENS - 2, "{what}: the stop string {stop:?} ended the request late");
        assert_eq!(want[4].0.len(), ABORT_AFTER, "{what}: the abort");
        for &k in ks {
            s.batch = DecodeBatch::new(k);
            let got = script(s, prompt, sampling, &stop);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{what}: K = {k:?}, {sampling:?}, request {i} (ids, finish, reused, position) differ from K = 1");
            }
            compared += got.len();
        }
    }
    compared
}

/// A stop string that first occurs in `text` past its first few characters and before its last
/// third: two characters from there, if any such pair occurs nowhere earlier.
fn stop_inside(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    (3..chars.len() * 2 / 3).find_map(|at| {
        let stop: String = chars[at..at + 2].iter().collect();
        let first = text.find(&stop)?;
        (text[..first].chars().count() >= 3).then_some(stop)
    })
}
