//! `bench --backend cpu` (or `reference`): end-to-end prefill and decode speed of a CPU engine on
//! this machine's threads (`GGUF_WEB_THREADS`, default all cores), with the same pseudo-prompt as
//! the GPU bench so that `scripts/bench-cpu.sh` can run llama.cpp on the very same ids.

use gguf_web::cpu::fast::{FastBackend, FastModel};
use gguf_web::cpu::CpuModel;
use gguf_web::engine::{eval_sample_blocking, Backend, CpuBackend, Sampler, SamplingParams};
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::model::ModelConfig;
use serde_json::json;

/// The bench's prompt: ordinary token ids (past the special ones at the start), spread over the
/// vocabulary. `scripts/bench_llamacpp.py` builds the same list.
pub fn pseudo_prompt(n_vocab: usize, n: usize) -> Vec<u32> {
    let base = 1000.min(n_vocab / 2);
    (0..n).map(|i| (base + (i * 7919) % (n_vocab - base)) as u32).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn bench_cpu(path: &str, which: &str, n_prompt: usize, n_gen: usize, runs: usize, json_out: bool) -> Result<(), String> {
    let src = FileSource::open(path).map_err(|e| e.to_string())?;
    let g = Gguf::read(&src).map_err(|e| format!("{path}: {e}"))?;
    let cfg = ModelConfig::from_gguf(&g).map_err(|e| e.to_string())?;
    let n_ctx = n_prompt + n_gen + 1;
    let t0 = std::time::Instant::now();
    let mut b: Box<dyn Backend> = match which {
        "cpu" => Box::new(FastBackend::new(FastModel::load(&src, &g, n_ctx).map_err(|e| e.to_string())?)),
        _ => Box::new(CpuBackend::new(CpuModel::load(&src, &g).map_err(|e| e.to_string())?, n_ctx)),
    };
    let load_s = t0.elapsed().as_secs_f64();
    let prompt = pseudo_prompt(cfg.n_vocab, n_prompt);
    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    let mut ids = Vec::new();
    for _ in 0..runs {
        b.truncate(0);
        let mut sampler = Sampler::new(SamplingParams::greedy());
        let t = std::time::Instant::now();
        let mut id = eval_sample_blocking(&mut *b, &prompt, &mut sampler, &[]).map_err(|e| e.to_string())?;
        prefill.push(n_prompt as f64 / t.elapsed().as_secs_f64());
        ids = vec![id];
        let t = std::time::Instant::now();
        for _ in 0..n_gen {
            id = eval_sample_blocking(&mut *b, &[id], &mut sampler, &[]).map_err(|e| e.to_string())?;
            ids.push(id);
        }
        decode.push(n_gen as f64 / t.elapsed().as_secs_f64());
    }
    let (pf, dc) = (median(prefill), median(decode));
    if json_out {
        let out = json!({
            "model": path, "backend": which, "engine": b.describe(), "prompt_tokens": n_prompt, "gen_tokens": n_gen,
            "runs": runs, "load_s": load_s, "prefill_tok_s": pf, "decode_tok_s": dc, "ids": ids,
        });
        println!("{out}");
    } else {
        println!("model:      {path}\nengine:     {}", b.describe());
        println!("prefill:    {pf:.1} tok/s ({n_prompt} tokens, median of {runs} runs)");
        println!("decode:     {dc:.1} tok/s ({n_gen} tokens)");
        println!("load:       {load_s:.2} s");
    }
    Ok(())
}
