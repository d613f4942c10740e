//! The CLI end to end on tiny generated models, and its errors: one clear line, a non-zero exit,
//! never a panic or a backtrace.

mod common;
use common::tiny::{tiny_model, TinySpec};
use gguf_web::gguf::{GgufWriter, Value};
use gguf_web::quant::GgmlType;
use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gguf-web"))
}

fn tmp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gguf-web-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs the CLI expecting failure; returns stderr after checking it is one clean line.
fn fails(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} should fail");
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line expected: {err}");
    err
}

#[test]
fn missing_file_is_one_line() {
    let e = fails(&["generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi"]);
    assert!(e.contains("/nonexistent/model.gguf"), "{e}");
}

#[test]
fn not_a_gguf_is_one_line() {
    let p = tmp_file("notgguf.gguf", b"<html>404 Not Found</html>");
    let e = fails(&["inspect", "--model", p.to_str().unwrap()]);
    assert!(e.contains("not a GGUF"), "{e}");
}

#[test]
fn unsupported_architecture_is_named() {
    let mut w = GgufWriter::new();
    w.add("general.architecture", Value::String("mamba".into()));
    let p = tmp_file("mamba.gguf", &w.to_bytes());
    let e = fails(&["score", "--model", p.to_str().unwrap(), "--ids", "1,2"]);
    assert!(e.contains("\"mamba\"") && e.contains("supported"), "{e}");
}

#[test]
fn unsupported_quant_type_is_named() {
    let p = tmp_file(
        "iq2.gguf",
        &tiny_model(&TinySpec { weight_type: GgmlType::IQ2_XXS, n_embd: 256, n_ff: 256, n_head: 4, ..Default::default() }),
    );
    let e = fails(&["score", "--model", p.to_str().unwrap(), "--ids", "1,2"]);
    assert!(e.contains("IQ2_XXS") && e.contains("not supported"), "{e}");
    // inspect still describes the file and says why it cannot run.
    let out = bin().args(["inspect", "--model", p.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("supported:      no: tensor"));
}

#[test]
fn bad_arguments_are_one_line() {
    fails(&["generate", "--prompt", "hi"]);
    fails(&["frobnicate"]);
    let p = tmp_file("tiny-args.gguf", &tiny_model(&TinySpec::default()));
    fails(&["generate", "--model", p.to_str().unwrap(), "--prompt", "hi", "--top-p", "7"]);
    fails(&["score", "--model", p.to_str().unwrap(), "--ids", "1,x"]);
    fails(&["score", "--model", p.to_str().unwrap(), "--ids", "999999"]);
    fails(&["generate", "--model", p.to_str().unwrap(), "--prompt", "hi", "--backend", "tpu"]);
}

#[test]
fn generate_json_on_a_tiny_model() {
    for arch in ["llama", "gemma3"] {
        let p = tmp_file(&format!("tiny-{arch}.gguf"), &tiny_model(&TinySpec { arch, ..Default::default() }));
        let out = bin()
            .args([
                "generate",
                "--model",
                p.to_str().unwrap(),
                "--prompt",
                "the thin",
                "--max-tokens",
                "5",
                "--temperature",
                "0",
                "--ignore-eos",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["prompt_ids", "ids", "text", "prefill_tok_s", "decode_tok_s"] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["ids"].as_array().unwrap().len(), 5);
        assert_eq!(v["backend"], "gpu", "the GPU engine is the default");
        assert!(v["adapter"].as_str().is_some_and(|a| !a.is_empty()));
        // Greedy ids agree between the engines on this tiny model.
        let cpu = bin()
            .args([
                "generate",
                "--model",
                p.to_str().unwrap(),
                "--prompt",
                "the thin",
                "--max-tokens",
                "5",
                "--temperature",
                "0",
                "--ignore-eos",
                "--json",
                "--backend",
                "cpu",
            ])
            .output()
            .unwrap();
        let cpu: serde_json::Value = serde_json::from_slice(&cpu.stdout).unwrap();
        assert_eq!(cpu["backend"], "cpu");
        assert_eq!(cpu["ids"], v["ids"], "{arch}: cpu and gpu greedy ids");
        // The kernel shapes tuned for GPUs (many threads per row, 32-key attention splits) too.
        let gpu_tuned = bin()
            .env("GGUF_WEB_TUNE", "gpu")
            .args([
                "generate",
                "--model",
                p.to_str().unwrap(),
                "--prompt",
                "the thin",
                "--max-tokens",
                "5",
                "--temperature",
                "0",
                "--ignore-eos",
                "--json",
            ])
            .output()
            .unwrap();
        let gpu_tuned: serde_json::Value = serde_json::from_slice(&gpu_tuned.stdout).unwrap();
        assert_eq!(gpu_tuned["ids"], v["ids"], "{arch}: GPU-tuned kernels' greedy ids");
        // A raw completion prompt is tokenized as `tokenize` does (no BOS: BPE, add_bos unset).
        let t = bin().args(["tokenize", "--model", p.to_str().unwrap(), "--text", "the thin", "--json"]).output().unwrap();
        let t: serde_json::Value = serde_json::from_slice(&t.stdout).unwrap();
        assert_eq!(v["prompt_ids"], t["ids"]);

        let out = bin().args(["score", "--model", p.to_str().unwrap(), "--ids", "1,2,3,4", "--json"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["argmax"].as_array().unwrap().len(), 4);
        assert_eq!(v["logprobs"].as_array().unwrap().len(), 3);
        assert!(v["logprobs"].as_array().unwrap().iter().all(|x| x.as_f64().unwrap() <= 0.0));
    }
}

/// `bench --profile` times every dispatch: the decode step's profile counts exactly the step's
/// dispatches, and every kernel took some GPU time.
#[test]
fn bench_profile_covers_every_dispatch() {
    let p = tmp_file("tiny-bench.gguf", &tiny_model(&TinySpec::default()));
    let out = bin()
        .args(["bench", "--model", p.to_str().unwrap(), "--prompt-tokens", "5", "--gen-tokens", "2", "--runs", "1", "--profile", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["record_ms_per_token"].as_f64().is_some_and(|ms| ms > 0.0), "{v}");
    for (step, want) in [("decode", v["dispatches_per_token"].as_u64().unwrap()), ("prefill", 0)] {
        let kernels = v["profile"][step].as_array().unwrap_or_else(|| panic!("no {step} profile in {v}"));
        let n: u64 = kernels.iter().map(|k| k["dispatches"].as_u64().unwrap()).sum();
        if want > 0 {
            assert_eq!(n, want, "{step}: {kernels:?}");
        }
        assert!(n > 0 && kernels.iter().all(|k| k["us"].as_f64().unwrap() > 0.0), "{step}: {kernels:?}");
    }
}

#[test]
fn tokenize_and_inspect_real_model() {
    let m = common::model(common::SMOLLM);
    let out = bin().args(["tokenize", "--model", m.to_str().unwrap(), "--text", "Hello world", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ids"], serde_json::json!([19556, 905]));
    let out = bin().args(["inspect", "--model", m.to_str().unwrap(), "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["architecture"], "llama");
    assert_eq!(v["license"], "apache-2.0");
    assert_eq!(v["context_length"], 8192);
    assert_eq!(v["supported"], true);
    assert_eq!(v["quant_types"]["Q4_1"]["tensors"], 210);
    assert!(v["supported_architectures"].as_array().unwrap().contains(&serde_json::json!("gemma3")));
    assert!(v["supported_quant_types"].as_array().unwrap().contains(&serde_json::json!("Q6_K")));
}

#[test]
fn inspect_describes_a_mixture_of_experts() {
    let m = common::model("gen/qwen3moe.gguf");
    let out = bin().args(["inspect", "--model", m.to_str().unwrap(), "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["architecture"], "qwen3moe");
    assert_eq!(v["supported"], true);
    assert_eq!(v["hyperparameters"]["experts"], serde_json::json!({"count": 8, "used": 2, "n_ff": 64}));
}

#[test]
fn split_gguf_loads_as_one_model() {
    let single = common::model(common::SMOLLM);
    let part = common::root().join("models/split/SmolLM2-135M-Instruct.Q4_1-00002-of-00003.gguf");
    assert!(part.exists(), "{} is missing: run scripts/setup.sh", part.display());
    let run = |m: &std::path::Path| {
        let out = bin()
            .args([
                "generate",
                "--model",
                m.to_str().unwrap(),
                "--prompt",
                "The capital of France is",
                "--max-tokens",
                "4",
                "--temperature",
                "0",
                "--json",
                "--backend",
                "cpu",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["ids"].clone()
    };
    assert_eq!(run(&part), run(&single));
    let out = bin().args(["inspect", "--model", part.to_str().unwrap(), "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tensors"], 272);
    assert_eq!(v["supported"], true);
}

/// `generate --tools`: a Qwen-style template (`--chat-template`) on a random-weight model, the
/// call comes back in `--json`'s `tool_calls` and its arguments validate against the tool's
/// `parameters` (the `jsonschema` crate); bad tools and tools with a schema are one-line errors.
#[test]
fn generate_with_tools_returns_valid_calls() {
    let tools = serde_json::json!([{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 16}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city", "days"], "additionalProperties": false}}}]);
    let tools_file = tmp_file("tools.json", tools.to_string().as_bytes());
    let model = common::model("gen/qwen2.gguf");
    let template = common::fixtures().join("templates/qwen2.5.jinja");
    let (m, t, f) = (model.to_str().unwrap(), template.to_str().unwrap(), tools_file.to_str().unwrap());
    for seed in ["1", "2"] {
        let out = bin()
            .args(["generate", "--model", m, "--prompt", "Weather in Oslo?", "--tools", f, "--tool-choice", "required"])
            .args([
                "--chat-template",
                t,
                "--backend",
                "cpu",
                "--temperature",
                "1",
                "--top-k",
                "0",
                "--seed",
                seed,
                "--max-tokens",
                "300",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["tool_family"], "hermes");
        assert_eq!(v["finish_reason"], "tool_calls", "{v}");
        assert!(v["text"].as_str().unwrap().starts_with("<tool_call>\n{\"name\": \"get_weather\""), "{v}");
        let validator = jsonschema::validator_for(&tools[0]["function"]["parameters"]).unwrap();
        for c in v["tool_calls"].as_array().unwrap() {
            assert_eq!(c["function"]["name"], "get_weather");
            let args: serde_json::Value = serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap();
            assert!(validator.is_valid(&args), "{args}");
        }
    }
    let bad = tmp_file("bad-tools.json", br#"[{"type": "function", "function": {"name": "a b"}}]"#);
    let e = fails(&["generate", "--model", m, "--prompt", "x", "--tools", bad.to_str().unwrap(), "--backend", "cpu"]);
    assert!(e.contains("tools[0].function.name"), "{e}");
    let e = fails(&["generate", "--model", m, "--prompt", "x", "--tools", f, "--tool-choice", "nope", "--backend", "cpu"]);
    assert!(e.contains("tool_choice"), "{e}");
    let e = fails(&["generate", "--model", m, "--prompt", "x", "--tools", f, "--json-object", "--backend", "cpu"]);
    assert!(e.contains("not both"), "{e}");
}
