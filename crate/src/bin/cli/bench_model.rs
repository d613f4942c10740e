//! `bench`: end-to-end prefill and decode speed of the GPU engine, with the numbers that explain
//! it (dispatches and submits per token, GPU memory against the weights, decode time against the
//! adapter's bandwidth bound measured in the same run).

use super::args::Args;
use gguf_web::engine::{Backend, DecodeBatch, GpuBackend, SamplingParams};
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::gpu::bench::copy_gbps;
use gguf_web::gpu::context::block_on;
use gguf_web::gpu::DeviceRequest;
use gguf_web::model::{ModelConfig, WeightTable};
use serde_json::json;

fn median_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

pub fn bench(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(
        argv,
        &["model", "prompt-tokens", "gen-tokens", "runs", "json-schema", "backend"],
        &["json", "default-limits", "profile"],
    )?;
    let path = args.required("model")?;
    if let Some(schema) = args.get("json-schema") {
        return bench_schema(path, schema, &args);
    }
    let n_prompt: usize = args.parsed("prompt-tokens")?.unwrap_or(64);
    let n_gen: usize = args.parsed("gen-tokens")?.unwrap_or(32);
    let runs: usize = args.parsed("runs")?.unwrap_or(3).max(1);
    if n_prompt == 0 || n_gen == 0 {
        return Err("--prompt-tokens and --gen-tokens must be at least 1".into());
    }
    match args.get("backend").unwrap_or("gpu") {
        "gpu" => {}
        b @ ("cpu" | "reference") => return super::bench_cpu::bench_cpu(path, b, n_prompt, n_gen, runs, args.flag("json")),
        other => return Err(format!("--backend must be gpu, cpu or reference, not {other:?}")),
    }
    let src = FileSource::open(path).map_err(|e| e.to_string())?;
    let g = Gguf::read(&src).map_err(|e| format!("{path}: {e}"))?;
    let cfg = ModelConfig::from_gguf(&g).map_err(|e| e.to_string())?;
    let weights_bytes = WeightTable::resolve(&cfg, &g).map_err(|e| e.to_string())?.weight_bytes();
    let profile = args.flag("profile");
    let req = DeviceRequest { default_limits_only: args.flag("default-limits"), allow_timestamps: profile, ..Default::default() };
    let t0 = std::time::Instant::now();
    let mut b = GpuBackend::open(&src, &g, n_prompt + n_gen + 1, req, &mut |_, _| {}).map_err(|e| e.to_string())?;
    let load_s = t0.elapsed().as_secs_f64();
    let copy = block_on(copy_gbps(&b.model.k, 64 << 20)).map_err(|e| e.to_string())?;
    // A fixed pseudo-prompt of ordinary token ids (past the special ones at the start).
    let base = 1000.min(cfg.n_vocab / 2);
    let prompt: Vec<u32> = (0..n_prompt).map(|i| (base + (i * 7919) % (cfg.n_vocab - base)) as u32).collect();
    let (mut prefill, mut decode_ahead, mut decode_k1, mut decode_no_ahead) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut dispatches, mut submits_per_token, mut k_max) = (0u32, 0.0, 0);
    // The engine's K (adaptive, or GGUF_WEB_DECODE_K) starting each batch ahead, the same without,
    // and one step per round trip, in turn. The engine's default is one of the first two
    // (`Backend::ahead_by_default`).
    let mut batch = DecodeBatch::from_env()?;
    let mut batch_no_ahead = batch.clone();
    batch_no_ahead.no_ahead = true;
    for _ in 0..runs {
        let (pf, dc, _) = run_decode(&mut b, &prompt, n_gen, &mut DecodeBatch::new(Some(1)))?;
        prefill.push(pf);
        decode_k1.push(dc);
        decode_no_ahead.push(run_decode(&mut b, &prompt, n_gen, &mut batch_no_ahead)?.1);
        let submits0 = b.model.submits;
        let (_, dc, k) = run_decode(&mut b, &prompt, n_gen, &mut batch)?;
        decode_ahead.push(dc);
        k_max = k;
        dispatches = b.model.last_dispatches;
        submits_per_token = (b.model.submits - submits0) as f64 / (n_prompt.div_ceil(32) + n_gen) as f64;
    }
    let record_ms = b.model.record_ms(20).map_err(|e| e.to_string())?;
    let profiles = if profile { Some(profile_steps(&mut b, &prompt)?) } else { None };
    let (pf, pf_lo, pf_hi) = median_range(prefill);
    let (dca, dca_lo, dca_hi) = median_range(decode_ahead);
    let (dc1, dc1_lo, dc1_hi) = median_range(decode_k1);
    let (dcn, dcn_lo, dcn_hi) = median_range(decode_no_ahead);
    let ahead_default = b.ahead_by_default();
    let (dc, dc_lo, dc_hi) = if ahead_default { (dca, dca_lo, dca_hi) } else { (dcn, dcn_lo, dcn_hi) };
    let bytes = b.model.bytes_per_token();
    let bound_ms = bytes as f64 / (copy * 1e9) * 1e3;
    let decode_ms = 1e3 / dc;
    let gpu_bytes = b.model.gpu_bytes();
    let weights_gpu = b.model.w.gpu_bytes();
    let out = json!({
        "model": path, "adapter": b.describe(), "prompt_tokens": n_prompt, "gen_tokens": n_gen, "runs": runs,
        "load_s": load_s,
        "prefill_tok_s": pf, "prefill_tok_s_range": [pf_lo, pf_hi],
        "decode_tok_s": dc, "decode_tok_s_range": [dc_lo, dc_hi],
        "decode_k": k_max, "decode_k_fixed": batch.fixed.is_some(), "decode_step_ms": batch.step_ms(),
        "decode_tok_s_k1": dc1, "decode_tok_s_k1_range": [dc1_lo, dc1_hi], "decode_k_ratio": dc / dc1,
        "decode_ahead_default": ahead_default,
        "decode_tok_s_ahead": dca, "decode_tok_s_ahead_range": [dca_lo, dca_hi],
        "decode_tok_s_no_ahead": dcn, "decode_tok_s_no_ahead_range": [dcn_lo, dcn_hi], "decode_ahead_ratio": dca / dcn,
        "dispatches_per_token": dispatches, "dispatches_per_layer": dispatches as f64 / cfg.n_layer as f64,
        "submits_per_token": submits_per_token,
        "weights_bytes": weights_bytes, "weights_gpu_bytes": weights_gpu, "gpu_bytes": gpu_bytes,
        "weights_gpu_ratio": weights_gpu as f64 / weights_bytes as f64,
        "bytes_per_token": bytes, "copy_gbps": copy,
        "decode_ms_per_token": decode_ms, "bound_ms_per_token": bound_ms, "decode_over_bound": decode_ms / bound_ms,
        "record_ms_per_token": record_ms,
    });
    let mut out = out;
    if let Some((pre, dec)) = &profiles {
        let list = |v: &Vec<(String, f64, u32)>| {
            v.iter().map(|(n, ns, c)| json!({"kernel": n, "us": ns / 1e3, "dispatches": c})).collect::<Vec<_>>()
        };
        out["profile"] = json!({"prefill": list(pre), "decode": list(dec)});
    }
    if args.flag("json") {
        println!("{out}");
        return Ok(());
    }
    println!("model:      {path}\nadapter:    {}", b.describe());
    println!("prefill:    {pf:.2} tok/s (range {pf_lo:.2}..{pf_hi:.2}, {n_prompt} tokens, {runs} runs)");
    let k_how = if batch.fixed.is_some() { "fixed" } else { "adaptive" };
    println!("decode:     {dc:.2} tok/s (range {dc_lo:.2}..{dc_hi:.2}, {n_gen} tokens) at {k_how} K up to {k_max} steps per round trip");
    println!("decode K=1: {dc1:.2} tok/s (range {dc1_lo:.2}..{dc1_hi:.2}); K {k_max} / K 1: {:.2}x", dc / dc1);
    let default = if ahead_default { "the default here" } else { "not the default here (a CPU adapter)" };
    println!("ahead:      {dca:.2} tok/s (range {dca_lo:.2}..{dca_hi:.2}) with each batch starting the next one ahead, {default}");
    println!("no ahead:   {dcn:.2} tok/s (range {dcn_lo:.2}..{dcn_hi:.2}) with each batch recorded after the last one is read; ahead / not: {:.2}x", dca / dcn);
    println!("per token:  {dispatches} dispatches ({:.1} per layer), {submits_per_token:.2} submits; recording them takes the host {record_ms:.2} ms",
        dispatches as f64 / cfg.n_layer as f64);
    println!(
        "memory:     weights {:.1} MiB in the GGUF, {:.1} MiB on the GPU ({:.3}x); {:.1} MiB allocated in all",
        weights_bytes as f64 / 1048576.0,
        weights_gpu as f64 / 1048576.0,
        weights_gpu as f64 / weights_bytes as f64,
        gpu_bytes as f64 / 1048576.0
    );
    println!(
        "bandwidth:  copy {copy:.2} GB/s; {:.1} MiB read per token -> bound {bound_ms:.1} ms; decode {decode_ms:.1} ms ({:.2}x the bound)",
        bytes as f64 / 1048576.0,
        decode_ms / bound_ms
    );
    if let Some((pre, dec)) = &profiles {
        print_profile(&format!("prefill of {n_prompt} tokens"), pre);
        print_profile("one decode step", dec);
    }
    Ok(())
}

/// A greedy prefill of `prompt`, then `n_gen` draws in batches of the K that `batch` picks, each
/// batch but at K = 1 starting the next one ahead (as `Session` does): prefill and decode tok/s,
/// and the largest K used.
fn run_decode(b: &mut GpuBackend, prompt: &[u32], n_gen: usize, batch: &mut DecodeBatch) -> Result<(f64, f64, usize), String> {
    b.truncate(0);
    let mut sampler = gguf_web::engine::Sampler::new(SamplingParams::greedy());
    let t = std::time::Instant::now();
    let mut id = block_on(b.eval_sample(prompt, &mut sampler, prompt)).map_err(|e| e.to_string())?;
    let prefill = prompt.len() as f64 / t.elapsed().as_secs_f64();
    let (mut done, mut k, mut k_max, mut ahead) = (0, 1, 0, 0);
    let pipelined = batch.fixed != Some(1) && !batch.no_ahead;
    let t = std::time::Instant::now();
    let mut last_end = t;
    while done < n_gen {
        let taken = ahead > 0;
        k = if taken { ahead } else { batch.next(k).min(n_gen - done) };
        ahead = if pipelined { batch.next(k).min(n_gen - done - k) } else { 0 };
        let tb = std::time::Instant::now();
        let ids = block_on(b.eval_sample_many(&[id], &mut sampler, &[], k, ahead)).map_err(|e| e.to_string())?;
        // A batch started ahead began about when the one before it came back.
        batch.observe(k, (if taken { last_end } else { tb }).elapsed().as_secs_f64() * 1e3);
        last_end = std::time::Instant::now();
        id = *ids.last().ok_or("no ids drawn")?;
        (done, k_max) = (done + k, k_max.max(k));
    }
    Ok((prefill, n_gen as f64 / t.elapsed().as_secs_f64(), k_max))
}

/// GPU time per kernel (timestamp queries) of a prefill of `prompt` and of one decode step.
type KernelTimes = Vec<(String, f64, u32)>;
fn profile_steps(b: &mut GpuBackend, prompt: &[u32]) -> Result<(KernelTimes, KernelTimes), String> {
    let k = &b.model.k;
    if !k.profile() {
        return Err("--profile: the adapter has no timestamp queries inside passes".into());
    }
    b.truncate(0);
    let mut sampler = gguf_web::engine::Sampler::new(SamplingParams::greedy());
    let id = block_on(b.eval_sample(prompt, &mut sampler, prompt)).map_err(|e| e.to_string())?;
    let read = |b: &GpuBackend| {
        let p = b.model.k.take_profile().unwrap();
        block_on(p.read(&b.model.k.ctx)).map_err(|e| e.to_string())
    };
    let pre = read(b)?;
    b.model.k.profile();
    block_on(b.eval_sample(&[id], &mut sampler, &[])).map_err(|e| e.to_string())?;
    Ok((pre, read(b)?))
}

/// A kernel key's type name and quant type: `MatVec { ty: Q4_1, .. }` → `MatVec Q4_1`.
fn short(name: &str) -> String {
    let kind = name.split([' ', '(']).next().unwrap_or(name);
    match name.split("ty: ").nth(1).and_then(|r| r.split([',', ' ', '}']).next()) {
        Some(ty) => format!("{kind} {ty}"),
        None => kind.to_string(),
    }
}

fn print_profile(what: &str, times: &KernelTimes) {
    let mut by: Vec<(String, f64, u32)> = Vec::new();
    for (n, ns, c) in times {
        let s = short(n);
        match by.iter_mut().find(|e| e.0 == s) {
            Some(e) => {
                e.1 += ns;
                e.2 += c;
            }
            None => by.push((s, *ns, *c)),
        }
    }
    by.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = by.iter().map(|e| e.1).sum();
    println!("GPU time, {what}: {:.3} ms in {} dispatches", total / 1e6, by.iter().map(|e| e.2).sum::<u32>());
    for (n, ns, c) in by {
        println!("  {n:<28} {:>6} dispatches {:>10.1} us {:>5.1}%", c, ns / 1e3, 100.0 * ns / total.max(1.0));
    }
}

/// `bench --json-schema FILE`: the same greedy chat request with the schema and without it (as many
/// tokens, past end of generation), `runs` times each: decode tok/s of both, their ratio, and the
/// constraint's time per token (checks, masks and parser steps in llguidance).
fn bench_schema(path: &str, schema_path: &str, args: &Args) -> Result<(), String> {
    use gguf_web::constraint::ConstraintSpec;
    use gguf_web::engine::{GenerateOptions, Session};
    use gguf_web::tokenizer::{ChatMessage, Tokenizer};
    let runs: usize = args.parsed("runs")?.unwrap_or(3).max(1);
    let n_gen: usize = args.parsed("gen-tokens")?.unwrap_or(256);
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).map_err(|e| format!("{schema_path}: {e}"))?)
        .map_err(|e| format!("{schema_path}: {e}"))?;
    let src = FileSource::open(path).map_err(|e| e.to_string())?;
    let g = Gguf::read(&src).map_err(|e| format!("{path}: {e}"))?;
    let tok = Tokenizer::from_gguf(&g).map_err(|e| e.to_string())?;
    let ask = format!("Reply with JSON that matches this schema: {schema}");
    let text =
        tok.chat_template(&g).map_err(|e| e.to_string())?.render(&[ChatMessage::new("user", &ask)], true).map_err(|e| e.to_string())?;
    let prompt = tok.encode(&text, false, true).map_err(|e| e.to_string())?;
    let req = DeviceRequest { default_limits_only: args.flag("default-limits"), ..Default::default() };
    let b = GpuBackend::open(&src, &g, prompt.len() + n_gen + 1, req, &mut |_, _| {}).map_err(|e| e.to_string())?;
    let adapter = b.describe();
    let mut s = Session::new(b, std::rc::Rc::new(tok));
    let constrained = GenerateOptions { max_tokens: n_gen, constraint: Some(ConstraintSpec::JsonSchema(schema)), ..Default::default() };
    let (mut with, mut without, mut mask_ms, mut masked, mut n) = (Vec::new(), Vec::new(), Vec::new(), 0, 0);
    for _ in 0..runs {
        s.reset();
        let c = s.generate(&prompt, &constrained, &mut |_| true).map_err(|e| e.to_string())?;
        n = c.ids.len();
        let stats = c.constraint.unwrap_or_default();
        with.push(c.decode_tok_s());
        mask_ms.push(stats.ms / n.max(1) as f64);
        masked = stats.masked;
        s.reset();
        let free = GenerateOptions { max_tokens: n.max(2), ignore_eos: true, ..Default::default() };
        without.push(s.generate(&prompt, &free, &mut |_| true).map_err(|e| e.to_string())?.decode_tok_s());
    }
    let (w, f, m) = (median_range(with).0, median_range(without).0, median_range(mask_ms).0);
    let out = json!({
        "model": path, "adapter": adapter, "schema": schema_path, "runs": runs, "gen_tokens": n, "masked_draws": masked,
        "decode_tok_s_schema": w, "decode_tok_s_free": f, "ratio": if f > 0.0 { w / f } else { 0.0 },
        "constraint_ms_per_token": m,
    });
    if args.flag("json") {
        println!("{out}");
    } else {
        println!("{} ({adapter}): {n} tokens, decode {w:.1} tok/s with the schema, {f:.1} without ({:.2}x); llguidance {m:.3} ms/token, {masked} masked draws", path, w / f.max(1e-9));
    }
    Ok(())
}
