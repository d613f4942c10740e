//! Constrained decoding (crate/src/constraint/): every schema of tests/fixtures/schemas/ sampled
//! at temperature 1 with several seeds on random-weight models (models/gen/, where the constraint
//! alone makes the output valid) and a subset on SmolLM2; each output parsed and checked by an
//! independent validator (the `jsonschema` crate). Also: what llguidance refuses fails closed
//! before any token, Lark grammars and regexes constrain, `max_tokens` inside a structure ends
//! with `length`, and the GPU's masked draw picks the CPU's ids.

mod common;
use common::golden::load_cpu;
use common::*;
use gguf_web::constraint::ConstraintSpec;
use gguf_web::cpu::fast::{FastBackend, FastModel};
use gguf_web::engine::{Backend, CpuBackend, EngineError, FinishReason, GenerateOptions, Generation, GpuBackend, SamplingParams, Session};
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::gpu::DeviceRequest;
use std::rc::Rc;

const SEEDS: [u64; 3] = [1, 2, 3];

fn corpus() -> Vec<(String, serde_json::Value)> {
    let dir = fixtures().join("schemas");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), json(&p)))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(v.len() >= 40, "the corpus has {} schemas", v.len());
    v
}

/// Temperature 1 over the whole vocabulary: the harshest sampling.
fn wild(seed: u64, max_tokens: usize, spec: ConstraintSpec) -> GenerateOptions {
    let sampling = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..Default::default() };
    GenerateOptions { max_tokens, sampling, constraint: Some(spec), ..Default::default() }
}

fn cpu_session(file: &str, ctx: usize) -> Session<CpuBackend> {
    let (tok, model) = load_cpu(file);
    Session::new(CpuBackend::new(model, ctx), tok)
}

/// The output must end by the grammar (`stop`), parse as JSON and validate against `schema`.
fn check_valid(what: &str, schema: &serde_json::Value, g: &Generation) {
    assert_eq!(g.finish, FinishReason::Stop, "{what}: ended by {:?} after {} tokens: {:?}", g.finish, g.ids.len(), g.text);
    let value: serde_json::Value = serde_json::from_str(&g.text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {:?}", g.text));
    let validator = jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("{what}: the validator refuses the schema: {e}"));
    let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what}: {:?} does not validate: {errors:?}", g.text);
}

/// Schemas a random model need not finish: any number of digits may follow a decimal point, and
/// a random model keeps drawing them (it ends with `length`). SmolLM2 runs them.
const UNBOUNDED: &[&str] = &["bounded_number"];

fn run_corpus(file: &str, every: usize, seeds: &[u64]) -> usize {
    let mut s = cpu_session(file, 1024);
    let prompt = s.tokenizer().encode("Output:", true, false).unwrap();
    let mut n = 0;
    for (name, schema) in corpus().into_iter().filter(|(n, _)| !UNBOUNDED.contains(&n.as_str())).step_by(every) {
        for &seed in seeds {
            let g = s.generate(&prompt, &wild(seed, 600, ConstraintSpec::JsonSchema(schema.clone())), &mut |_| true).unwrap();
            check_valid(&format!("{file} {name} seed {seed}"), &schema, &g);
            n += 1;
        }
    }
    n
}

/// Byte-level BPE (SmolLM2's vocabulary): the whole corpus, three seeds each.
#[test]
fn corpus_on_a_random_bpe_model() {
    assert!(run_corpus("gen/qwen2.gguf", 1, &SEEDS) >= 120);
}

/// SentencePiece (Gemma's 262k vocabulary): every third schema, one seed.
#[test]
fn corpus_on_a_random_sentencepiece_model() {
    run_corpus("gen/gemma2.gguf", 3, &[7]);
}

/// Without the constraint the same random model does not produce JSON: the constraint does the
/// work in the tests above.
#[test]
fn unconstrained_random_output_is_not_json() {
    let mut s = cpu_session("gen/qwen2.gguf", 256);
    let prompt = s.tokenizer().encode("Output:", true, false).unwrap();
    for seed in SEEDS {
        let mut opts = wild(seed, 40, ConstraintSpec::JsonObject);
        opts.constraint = None;
        let g = s.generate(&prompt, &opts, &mut |_| true).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&g.text).is_err(), "seed {seed}: {:?}", g.text);
    }
}

/// A real model asked for JSON in a chat: a subset of the corpus at temperature 1.
#[test]
fn subset_on_smollm2() {
    let mut s = cpu_session(SMOLLM, 1024);
    for name in ["flat_object", "enum_in_object", "ref_defs", "nullable_type_list", "bounded_number"] {
        let schema = json(&fixtures().join(format!("schemas/{name}.json")));
        let chat = format!("<|im_start|>user\nReply with JSON that matches this schema: {schema}<|im_end|>\n<|im_start|>assistant\n");
        let prompt = s.tokenizer().encode(&chat, false, true).unwrap();
        let g = s.generate(&prompt, &wild(11, 200, ConstraintSpec::JsonSchema(schema.clone())), &mut |_| true).unwrap();
        check_valid(&format!("SmolLM2 {name}"), &schema, &g);
    }
}

/// Gemma 3 270M (the other default model), on the fast CPU engine (the reference engine decodes its
/// 262k-entry output at a few tokens a second): its own chat template's turn markers.
#[test]
fn subset_on_gemma3() {
    let src = FileSource::open(common::model(GEMMA)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let (tok, _) = load_cpu(GEMMA);
    let mut s = Session::new(FastBackend::new(FastModel::load(&src, &g, 1024).unwrap()), tok);
    for (name, seed) in [("flat_object", 11), ("enum_in_object", 12), ("ref_defs", 13)] {
        let schema = json(&fixtures().join(format!("schemas/{name}.json")));
        let chat = format!("<start_of_turn>user\nReply with JSON that matches this schema: {schema}<end_of_turn>\n<start_of_turn>model\n");
        let prompt = s.tokenizer().encode(&chat, true, true).unwrap();
        let g = s.generate(&prompt, &wild(seed, 200, ConstraintSpec::JsonSchema(schema.clone())), &mut |_| true).unwrap();
        check_valid(&format!("Gemma 3 {name}"), &schema, &g);
    }
}

/// What llguidance cannot compile is an InvalidArgument naming the problem, from `begin`, before
/// any token; the session holds no generation.
#[test]
fn invalid_schemas_and_grammars_fail_closed() {
    let mut s = cpu_session("gen/qwen2.gguf", 256);
    let prompt = s.tokenizer().encode("Output:", true, false).unwrap();
    let bad = [
        ConstraintSpec::JsonSchema(serde_json::json!({ "type": "frob" })),
        ConstraintSpec::JsonSchema(serde_json::json!({ "$ref": "#/$defs/missing" })),
        ConstraintSpec::JsonSchema(serde_json::json!({ "type": "string", "pattern": "(unclosed" })),
        ConstraintSpec::JsonSchema(serde_json::json!({ "type": "integer", "minimum": 5, "maximum": 1 })),
        ConstraintSpec::JsonSchema(serde_json::json!({ "$ref": "https://example.com/schema.json" })),
        ConstraintSpec::JsonSchema(serde_json::json!(42)),
        ConstraintSpec::Lark("start: foo\n".into()),
        ConstraintSpec::Lark("start: \"a\" (\n".into()),
        ConstraintSpec::Regex("[a-".into()),
    ];
    for spec in bad {
        let e = s.begin(&prompt, &wild(1, 10, spec.clone())).expect_err(&format!("{spec:?} was accepted"));
        assert!(matches!(e, EngineError::InvalidArgument(_)), "{spec:?}: {e:?}");
        assert!(e.to_string().starts_with("invalid "), "{spec:?}: the message names the kind: {e}");
        assert!(!s.in_progress(), "{spec:?}: no generation began");
    }
    for (format, grammar) in [
        (serde_json::json!({ "type": "xml" }), None),
        (serde_json::json!({ "type": "json_schema", "json_schema": { "name": "x" } }), None),
        (serde_json::json!({ "type": "json_object" }), Some(serde_json::json!("start: \"a\""))),
    ] {
        assert!(ConstraintSpec::from_request(Some(&format), grammar.as_ref()).is_err(), "{format} {grammar:?}");
    }
    let ok = ConstraintSpec::from_request(Some(&serde_json::json!({ "type": "text" })), Some(&serde_json::json!({ "regex": "a+" })));
    assert_eq!(ok, Ok(Some(ConstraintSpec::Regex("a+".into()))));
}

/// A Lark grammar and a regex constrain the output, checked by a parser and a regex of their own.
#[test]
fn lark_and_regex_constrain() {
    let mut s = cpu_session("gen/llama3.gguf", 256);
    let prompt = s.tokenizer().encode("Output:", true, false).unwrap();
    let lark = "start: \"[\" NUM (\",\" NUM){0,3} \"]\"\nNUM: /[0-9]{1,3}/\n";
    let email = "[a-z]{3,8}@[a-z]{2,5}\\.(com|org)";
    let email_re = regex::Regex::new(&format!("^{email}$")).unwrap();
    let list_re = regex::Regex::new(r"^\[[0-9]{1,3}(,[0-9]{1,3}){0,3}\]$").unwrap();
    for seed in SEEDS {
        let g = s.generate(&prompt, &wild(seed, 100, ConstraintSpec::Lark(lark.into())), &mut |_| true).unwrap();
        assert_eq!(g.finish, FinishReason::Stop, "{:?}", g.text);
        assert!(list_re.is_match(&g.text), "{:?}", g.text);
        let g = s.generate(&prompt, &wild(seed, 100, ConstraintSpec::Regex(email.into())), &mut |_| true).unwrap();
        assert_eq!(g.finish, FinishReason::Stop, "{:?}", g.text);
        assert!(email_re.is_match(&g.text), "{:?}", g.text);
    }
}

/// `max_tokens` reached inside a structure ends with `length` (the text is cut, not closed); the
/// same seed gives the same ids.
#[test]
fn max_tokens_inside_a_structure_is_length_and_seeds_repeat() {
    let mut s = cpu_session("gen/qwen2.gguf", 256);
    let prompt = s.tokenizer().encode("Output:", true, false).unwrap();
    let schema = json(&fixtures().join("schemas/object_in_array_in_object.json"));
    let g = s.generate(&prompt, &wild(5, 4, ConstraintSpec::JsonSchema(schema.clone())), &mut |_| true).unwrap();
    assert_eq!(g.finish, FinishReason::Length);
    assert_eq!(g.ids.len(), 4);
    assert!(serde_json::from_str::<serde_json::Value>(&g.text).is_err(), "{:?}", g.text);
    let a = s.generate(&prompt, &wild(9, 300, ConstraintSpec::JsonSchema(schema.clone())), &mut |_| true).unwrap();
    let b = s.generate(&prompt, &wild(9, 300, ConstraintSpec::JsonSchema(schema)), &mut |_| true).unwrap();
    assert_eq!(a.ids, b.ids);
    assert!(a.constraint.is_some_and(|c| c.checked == a.ids.len() + 1 || c.checked == a.ids.len()));
}

fn gpu_session(file: &str, ctx: usize) -> Session<GpuBackend> {
    let src = FileSource::open(model(file)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let tok = Rc::new(gguf_web::tokenizer::Tokenizer::from_gguf(&g).unwrap());
    Session::new(GpuBackend::open(&src, &g, ctx, DeviceRequest::default(), &mut |_, _| {}).unwrap(), tok)
}

/// The GPU's masking pass and second draw pick the CPU's ids: greedy, and seeded at temperature 1.
#[test]
fn gpu_and_cpu_give_the_same_constrained_ids() {
    let file = "gen/qwen2.gguf";
    let mut cpu = cpu_session(file, 512);
    let mut gpu = gpu_session(file, 512);
    let prompt = cpu.tokenizer().encode("Output:", true, false).unwrap();
    for name in ["flat_object", "oneof_tagged", "ref_recursive", "unicode_enum", "array_of_enums"] {
        let schema = json(&fixtures().join(format!("schemas/{name}.json")));
        let spec = ConstraintSpec::JsonSchema(schema.clone());
        let greedy =
            GenerateOptions { max_tokens: 200, sampling: SamplingParams::greedy(), constraint: Some(spec.clone()), ..Default::default() };
        for opts in [greedy, wild(3, 200, spec)] {
            let c = cpu.generate(&prompt, &opts, &mut |_| true).unwrap();
            let g = gpu.generate(&prompt, &opts, &mut |_| true).unwrap();
            assert_eq!(g.ids, c.ids, "{name} ({}): GPU {:?}, CPU {:?}", gpu.backend.describe(), g.text, c.text);
            check_valid(&format!("GPU {name}"), &schema, &g);
            assert!(g.constraint.is_some_and(|s| s.masked > 0), "{name}: the masked draw ran");
        }
    }
}
