//! One function per subcommand. Each returns a one-line error message on failure.

use super::args::Args;
use gguf_web::constraint::ConstraintSpec;
use gguf_web::cpu::fast::{FastBackend, FastModel};
use gguf_web::cpu::ops::{argmax, log_softmax};
use gguf_web::cpu::CpuModel;
use gguf_web::engine::{eval_blocking, Backend, CpuBackend, GenerateOptions, GpuBackend, SamplingParams, Session};
use gguf_web::gguf::{ByteSource, Gguf};
use gguf_web::gpu::DeviceRequest;
use gguf_web::model::tensors::supported_quants;
use gguf_web::model::{Arch, ModelConfig, WeightTable};
use gguf_web::tokenizer::Tokenizer;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;

const USAGE: &str = "usage: gguf-web <command> [options]

commands:
  generate --model PATH --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]
           [--min-p P] [--repetition-penalty R] [--seed S] [--chat] [--backend gpu|cpu|reference] [--json]
           [--json-schema FILE | --json-object | --grammar FILE | --regex RX]
           [--tools FILE] [--tool-choice auto|none|required|NAME] [--chat-template FILE]
  tokenize --model PATH --text TEXT [--json]
  score    --model PATH --ids 1,2,3 [--backend gpu|cpu|reference] [--json]
  inspect  --model PATH [--json]";

pub fn run(argv: &[String]) -> Result<(), String> {
    let Some((cmd, rest)) = argv.split_first() else {
        println!("{USAGE}");
        return Err("no command given".into());
    };
    match cmd.as_str() {
        "generate" => generate(rest),
        "tokenize" => tokenize(rest),
        "score" => score(rest),
        "inspect" => inspect(rest),
        "bench-kernels" => super::bench::bench_kernels(rest),
        "bench" => super::bench_model::bench(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}; commands: generate, tokenize, score, inspect (gguf-web help)")),
    }
}

struct Opened {
    src: Box<dyn ByteSource>,
    gguf: Gguf,
}

/// A GGUF file, or all parts of a split GGUF (`--model name-00001-of-00003.gguf`).
fn open(path: &str) -> Result<Opened, String> {
    let (src, gguf) = gguf_web::gguf::split::open(std::path::Path::new(path)).map_err(|e| match e {
        gguf_web::gguf::GgufError::Io(m) => m,
        e => format!("{path}: {e}"),
    })?;
    Ok(Opened { src, gguf })
}

/// The engine `--backend` asks for: the GPU by default, the fast CPU engine with `cpu`, the CPU
/// reference (the oracle) with `reference`.
fn backend(m: &Opened, args: &Args, context: usize) -> Result<Box<dyn Backend>, String> {
    match args.get("backend").unwrap_or("gpu") {
        "cpu" => {
            let model = FastModel::load(&*m.src, &m.gguf, context).map_err(|e| e.to_string())?;
            Ok(Box::new(FastBackend::new(model)))
        }
        "reference" => {
            let model = CpuModel::load(&*m.src, &m.gguf).map_err(|e| e.to_string())?;
            Ok(Box::new(CpuBackend::new(model, context)))
        }
        "gpu" => {
            let b = GpuBackend::open(&*m.src, &m.gguf, context, DeviceRequest::default(), &mut |_, _| {}).map_err(|e| e.to_string())?;
            Ok(Box::new(b))
        }
        other => Err(format!("--backend must be gpu, cpu or reference, not {other:?}")),
    }
}

/// ("gpu" | "cpu" | "reference", adapter description) for JSON reports.
fn backend_fields(b: &dyn Backend) -> (String, String) {
    let d = b.describe();
    if let Some(adapter) = d.strip_prefix("gpu: ") {
        return ("gpu".into(), adapter.into());
    }
    match d.strip_prefix("cpu: ") {
        Some(how) => ("cpu".into(), how.into()),
        None => ("reference".into(), "cpu (reference engine)".into()),
    }
}

fn tokenizer(m: &Opened) -> Result<Tokenizer, String> {
    Tokenizer::from_gguf(&m.gguf).map_err(|e| e.to_string())
}

fn tokenize(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["model", "text"], &["json"])?;
    let m = open(args.required("model")?)?;
    let ids = tokenizer(&m)?.encode(args.required("text")?, false, false).map_err(|e| e.to_string())?;
    if args.flag("json") {
        println!("{}", json!({ "ids": ids }));
    } else {
        println!("{}", ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" "));
    }
    Ok(())
}

/// The prompt as ids: raw text like llama.cpp's completion (BOS if the model adds one, special
/// tokens not parsed), or wrapped as one user message in the chat template (special tokens parsed,
/// BOS not doubled when the template writes it).
fn prompt_ids(tok: &Tokenizer, prompt: &str, chat: Option<&super::tools::ChatTools>) -> Result<Vec<u32>, String> {
    let Some(chat) = chat else {
        return tok.encode(prompt, true, false).map_err(|e| e.to_string());
    };
    let text = chat.render(prompt)?;
    let bos_in_text = tok.vocab.bos.is_some_and(|b| text.starts_with(tok.vocab.tokens[b as usize].as_str()));
    tok.encode(&text, !bos_in_text, true).map_err(|e| e.to_string())
}

fn generate(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(
        argv,
        &[
            "model",
            "prompt",
            "max-tokens",
            "temperature",
            "top-k",
            "top-p",
            "min-p",
            "repetition-penalty",
            "seed",
            "backend",
            "context",
            "json-schema",
            "grammar",
            "regex",
            "tools",
            "tool-choice",
            "chat-template",
        ],
        &["chat", "json", "ignore-eos", "json-object"],
    )?;
    let m = open(args.required("model")?)?;
    let tok = tokenizer(&m)?;
    let chat = super::tools::ChatTools::from_args(&args, &m.gguf, &tok)?;
    let ids = prompt_ids(&tok, args.required("prompt")?, chat.chat(&args).then_some(&chat))?;
    let d = SamplingParams::default();
    let sampling = SamplingParams {
        temperature: args.parsed("temperature")?.unwrap_or(0.8),
        top_k: args.parsed("top-k")?.unwrap_or(40),
        top_p: args.parsed("top-p")?.unwrap_or(0.95),
        min_p: args.parsed("min-p")?.unwrap_or(0.05),
        repetition_penalty: args.parsed("repetition-penalty")?.unwrap_or(1.0),
        seed: args.parsed("seed")?.unwrap_or_else(time_seed),
        ..d
    };
    sampling.validate()?;
    let opts = GenerateOptions {
        max_tokens: args.parsed("max-tokens")?.unwrap_or(128),
        sampling,
        stop: Vec::new(),
        ignore_eos: args.flag("ignore-eos"),
        constraint: chat.constraint(constraint(&args)?)?,
        decode_k: None,
        decode_ahead: None,
    };
    let mut parser = chat.parser(opts.sampling.seed);
    let ctx: usize = args.parsed("context")?.unwrap_or(ids.len() + opts.max_tokens);
    let mut session = Session::new(backend(&m, &args, ctx)?, std::rc::Rc::new(tok));
    session.batch = gguf_web::engine::DecodeBatch::from_env()?;
    let json_out = args.flag("json");
    let mut stdout = std::io::stdout();
    let g = session
        .generate(&ids, &opts, &mut |ev| {
            if let Some(p) = parser.as_mut() {
                p.push_token(ev.id, ev.text);
            }
            if !json_out {
                let _ = stdout.write_all(ev.text.as_bytes());
                let _ = stdout.flush();
            }
            true
        })
        .map_err(|e| e.to_string())?;
    if json_out {
        let mut out = json!({
            "prompt_ids": g.prompt_ids, "ids": g.ids, "text": g.text,
            "prefill_tok_s": g.prefill_tok_s(), "decode_tok_s": g.decode_tok_s(),
            "finish_reason": g.finish.as_str(), "decode_k": g.decode_k, "decode_batches_ahead": g.decode_ahead,
            "backend": backend_fields(&session.backend).0, "adapter": backend_fields(&session.backend).1,
        });
        if let Some(c) = g.constraint {
            // What the constraint cost: tokens checked, draws refused (a mask and a second draw
            // each), and the milliseconds in llguidance per generated token.
            out["constraint"] = json!({
                "checked": c.checked, "masked": c.masked, "ms": c.ms,
                "ms_per_token": c.ms / g.ids.len().max(1) as f64,
            });
        }
        if let Some(p) = parser.as_mut() {
            chat.report(p, &g, &mut out);
        }
        println!("{out}");
    } else {
        println!();
        eprintln!(
            "[{} prompt tokens, {} generated; prefill {:.1} tok/s, decode {:.1} tok/s (up to {} steps per round trip); {}]",
            g.prompt_ids.len(),
            g.ids.len(),
            g.prefill_tok_s(),
            g.decode_tok_s(),
            g.decode_k,
            session.backend.describe()
        );
    }
    Ok(())
}

/// The output constraint of `generate`: at most one of `--json-schema FILE`, `--json-object`,
/// `--grammar FILE` (llguidance's Lark syntax) and `--regex PATTERN`.
pub fn constraint(args: &Args) -> Result<Option<ConstraintSpec>, String> {
    let read = |flag: &str, path: &str| std::fs::read_to_string(path).map_err(|e| format!("--{flag} {path}: {e}"));
    let mut specs = Vec::new();
    if let Some(path) = args.get("json-schema") {
        let schema = serde_json::from_str(&read("json-schema", path)?).map_err(|e| format!("--json-schema {path}: not JSON: {e}"))?;
        specs.push(ConstraintSpec::JsonSchema(schema));
    }
    if args.flag("json-object") {
        specs.push(ConstraintSpec::JsonObject);
    }
    if let Some(path) = args.get("grammar") {
        specs.push(ConstraintSpec::Lark(read("grammar", path)?));
    }
    if let Some(rx) = args.get("regex") {
        specs.push(ConstraintSpec::Regex(rx.to_string()));
    }
    if specs.len() > 1 {
        return Err("give at most one of --json-schema, --json-object, --grammar and --regex".into());
    }
    Ok(specs.pop())
}

fn time_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn score(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["model", "ids", "backend", "top"], &["json"])?;
    let top_n: usize = args.parsed("top")?.unwrap_or(0);
    let ids: Vec<u32> = args
        .required("ids")?
        .split(',')
        .map(|s| s.trim().parse::<u32>().map_err(|_| format!("--ids: {s:?} is not a token id")))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err("--ids: no token ids".into());
    }
    let m = open(args.required("model")?)?;
    let mut b = backend(&m, &args, ids.len())?;
    let logits = eval_blocking(&mut *b, &ids, true).map_err(|e| e.to_string())?;
    let n_vocab = b.config().n_vocab;
    let mut am = Vec::with_capacity(ids.len());
    let mut lp = Vec::with_capacity(ids.len().saturating_sub(1));
    let mut top = Vec::new();
    for (i, row) in logits.chunks_exact(n_vocab).enumerate() {
        am.push(argmax(row) as u32);
        if top_n > 0 {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            top.push(idx[..top_n.min(idx.len())].iter().map(|&t| json!([t, row[t]])).collect::<Vec<_>>());
        }
        if i + 1 < ids.len() {
            lp.push(log_softmax(row)[ids[i + 1] as usize]);
        }
    }
    if args.flag("json") {
        let (backend, adapter) = backend_fields(&b);
        let mut out = json!({ "argmax": am, "logprobs": lp, "backend": backend, "adapter": adapter });
        if top_n > 0 {
            out["top"] = json!(top);
        }
        println!("{out}");
    } else {
        let nll = -lp.iter().sum::<f64>() / lp.len().max(1) as f64;
        println!("perplexity {:.4} over {} predicted tokens", nll.exp(), lp.len());
    }
    Ok(())
}

fn inspect(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["model"], &["json"])?;
    let m = open(args.required("model")?)?;
    let g = &m.gguf;
    let mut by_type: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for t in &g.tensors {
        let e = by_type.entry(t.ty.name().to_string()).or_default();
        e.0 += 1;
        e.1 += t.n_bytes;
    }
    let arch = g.get_str("general.architecture").ok().flatten().unwrap_or("?").to_string();
    let license = g.get_str("general.license").ok().flatten().map(str::to_string);
    let name = g.get_str("general.name").ok().flatten().map(str::to_string);
    let (cfg, problem) = match ModelConfig::from_gguf(g).and_then(|c| WeightTable::resolve(&c, g).map(|_| c)) {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let weights = g.tensor_bytes();
    if args.flag("json") {
        let hp = cfg.as_ref().map(|c| {
            json!({
                "n_layer": c.n_layer, "n_embd": c.n_embd, "n_head": c.n_head, "n_head_kv": c.n_head_kv,
                "head_dim": c.head_dim, "n_ff": c.n_ff, "n_vocab": c.n_vocab, "rope_base": c.layers.last().map(|l| l.rope_base),
                "sliding_window": c.layers.iter().find_map(|l| l.sliding_window),
                "experts": c.moe.map(|m| json!({"count": m.n_expert, "used": m.n_used, "n_ff": m.n_ff_exp})),
            })
        });
        let types: BTreeMap<_, _> = by_type.iter().map(|(k, v)| (k, json!({"tensors": v.0, "bytes": v.1}))).collect();
        println!(
            "{}",
            json!({
                "name": name, "architecture": arch, "license": license, "gguf_version": g.version,
                "context_length": cfg.as_ref().map(|c| c.n_ctx_train), "hyperparameters": hp,
                "tensors": g.tensors.len(), "quant_types": types, "weights_bytes": weights,
                "supported": problem.is_none(), "problem": problem,
                "supported_architectures": Arch::ALL.iter().map(|a| a.name()).collect::<Vec<_>>(),
                "supported_quant_types": supported_quants().split(", ").collect::<Vec<_>>(),
            })
        );
        return Ok(());
    }
    println!("name:           {}", name.as_deref().unwrap_or("?"));
    println!("architecture:   {arch}");
    println!("license:        {}", license.as_deref().unwrap_or("(not stated)"));
    println!("GGUF version:   {}", g.version);
    if let Some(c) = &cfg {
        println!("context length: {}", c.n_ctx_train);
        println!(
            "layers {}, embedding {}, heads {} (kv {}), head dim {}, ffn {}, vocabulary {}",
            c.n_layer, c.n_embd, c.n_head, c.n_head_kv, c.head_dim, c.n_ff, c.n_vocab
        );
        if let Some(m) = c.moe {
            println!("experts:        {} of {} per token, ffn {} each", m.n_used, m.n_expert, m.n_ff_exp);
        }
    }
    println!("tensors:        {}", g.tensors.len());
    for (ty, (n, bytes)) in &by_type {
        println!("  {ty:<8} {n:>5} tensors {:>10.2} MiB", *bytes as f64 / (1 << 20) as f64);
    }
    println!("weights:        {:.2} MiB", weights as f64 / (1 << 20) as f64);
    match problem {
        None => println!("supported:      yes"),
        Some(p) => println!("supported:      no: {p}"),
    }
    println!("this build runs: {} (quant types {})", Arch::supported_list(), supported_quants());
    Ok(())
}
