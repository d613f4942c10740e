//! Tool calls (crate/src/tools/): templates render tools and past calls as Python's jinja2 renders
//! them (tests/fixtures/tool_chat.json, written by gen_tool_chat.py); each family's syntax parses,
//! streamed or whole, into the same calls; on random-weight models (models/gen/, where the grammar
//! alone makes the output valid) every call of `auto`, `required` and a named function, sampled at
//! temperature 1 with several seeds, parses and its arguments validate against the function's
//! `parameters` (the `jsonschema` crate); bad requests fail before any token.

mod common;
use common::golden::load_cpu;
use common::*;
use gguf_web::engine::{CpuBackend, EngineError, FinishReason, GenerateOptions, SamplingParams, Session};
use gguf_web::tokenizer::{ChatMessage, ChatTemplate};
use gguf_web::tools::{render_chat, ToolCall, ToolDelta, ToolFamily, ToolParser, ToolPlan, ToolRequest};
use serde_json::{json, Value};

fn template_file(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("templates").join(format!("{name}.jinja"))).unwrap()
}

/// Today's date as the Llama template writes it, put back to the oracle's fixed date.
fn fixed_date(s: &str, date: &str) -> String {
    let re = regex::Regex::new(r"Today Date: \d{2} [A-Z][a-z]{2} \d{4}").unwrap();
    re.replace_all(s, format!("Today Date: {date}").as_str()).into_owned()
}

#[test]
fn templates_render_tools_and_history_like_jinja2() {
    let fx = json(&fixtures().join("tool_chat.json"));
    let date = fx["date"].as_str().unwrap();
    let smol_src = {
        let src = gguf_web::gguf::FileSource::open(model(SMOLLM)).unwrap();
        let g = gguf_web::gguf::Gguf::read(&src).unwrap();
        g.get_str("tokenizer.chat_template").unwrap().unwrap().to_string()
    };
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for c in cases {
        let name = c["template"].as_str().unwrap();
        let source = if name == "smollm2" { smol_src.clone() } else { template_file(name) };
        let t = ChatTemplate::new(Some(&source), "llama", "<s>", "</s>").unwrap();
        let msgs: Vec<ChatMessage> = serde_json::from_value(c["messages"].clone()).unwrap();
        let req = ToolRequest::from_request(Some(&c["tools"]), None).unwrap();
        let got = render_chat(&t, &msgs, req.as_ref()).unwrap_or_else(|e| panic!("{name} {}: {e}", c["chat"]));
        assert_eq!(fixed_date(&got, date), c["rendered"].as_str().unwrap(), "{name} {}", c["chat"]);
    }
}

fn weather() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 24},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city"], "additionalProperties": false}}})
}

fn add() -> Value {
    json!({"type": "function", "function": {"name": "add_numbers",
        "parameters": {"type": "object", "properties": {
            "a": {"type": "integer", "minimum": -1000, "maximum": 1000},
            "b": {"type": "integer", "minimum": -1000, "maximum": 1000},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3}},
        "required": ["a", "b"], "additionalProperties": false}}})
}

/// Feeds `text` to a parser in pieces of `step` bytes (on character boundaries); returns the
/// deltas and the final reply.
fn parse_in_pieces(family: ToolFamily, text: &str, step: usize) -> (Vec<ToolDelta>, Option<String>, Vec<ToolCall>) {
    let mut p = ToolParser::new(family, None, 7);
    let mut deltas = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let mut j = (i + step).min(text.len());
        while !text.is_char_boundary(j) {
            j += 1;
        }
        deltas.extend(p.push(&text[i..j]));
        i = j;
    }
    let (rest, content, calls) = p.finish();
    deltas.extend(rest);
    (deltas, content, calls)
}

/// The calls and content that the deltas add up to, as a streaming client reassembles them.
fn reassemble(deltas: &[ToolDelta]) -> (String, Vec<(String, String, String)>) {
    let mut content = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for d in deltas {
        match d {
            ToolDelta::Content(t) => content += t,
            ToolDelta::Start { index, id, name } => {
                assert_eq!(*index, calls.len());
                calls.push((id.clone(), name.clone(), String::new()));
            }
            ToolDelta::Arguments { index, fragment } => calls[*index].2 += fragment,
        }
    }
    (content, calls)
}

/// A reply's text, its content and its calls (name, arguments).
type Case<'a> = (ToolFamily, String, Option<&'a str>, Vec<(&'a str, &'a str)>);

/// Each family's syntax, whole and streamed a byte, three bytes or a token-sized piece at a
/// time: the same calls (names and arguments as written), the same content, and the deltas add
/// up to the final reply.
#[test]
fn each_family_parses_whole_and_streamed() {
    let a1 = r#"{"city": "Zürich", "days": 2}"#;
    let a2 = r#"{"a": 1, "b": -2, "tags": ["x}", "y\"]"]}"#;
    let cases: Vec<Case> = vec![
        (
            ToolFamily::Hermes,
            format!("Let me look.\n<tool_call>\n{{\"name\": \"get_weather\", \"arguments\": {a1}}}\n</tool_call>\n<tool_call>\n{{\"name\": \"add_numbers\", \"arguments\": {a2}}}\n</tool_call>"),
            Some("Let me look."),
            vec![("get_weather", a1), ("add_numbers", a2)],
        ),
        (ToolFamily::Hermes, "No tools <tool needed> here.\n".into(), Some("No tools <tool needed> here.\n"), vec![]),
        (ToolFamily::Llama3, format!("{{\"name\": \"get_weather\", \"parameters\": {a1}}}"), None, vec![("get_weather", a1)]),
        (ToolFamily::Llama3, "Plain {text}.".into(), Some("Plain {text}."), vec![]),
        (
            ToolFamily::Mistral,
            format!("[TOOL_CALLS][{{\"name\": \"get_weather\", \"arguments\": {a1}, \"id\": \"abcDEF123\"}}, {{\"name\": \"add_numbers\", \"arguments\": {a2}}}]"),
            None,
            vec![("get_weather", a1), ("add_numbers", a2)],
        ),
        (
            ToolFamily::Generic,
            format!("{{\"tool_calls\": [{{\"name\": \"add_numbers\", \"arguments\": {a2}}}, {{\"name\": \"get_weather\", \"arguments\": {a1}}}]}}"),
            None,
            vec![("add_numbers", a2), ("get_weather", a1)],
        ),
        (ToolFamily::Generic, "  Hello there".into(), Some("  Hello there"), vec![]),
    ];
    for (family, text, content, expected) in cases {
        let mut first: Option<Vec<ToolCall>> = None;
        for step in [usize::MAX, 1, 3, 5] {
            let (deltas, got_content, calls) = parse_in_pieces(family, &text, step.min(text.len()));
            let what = format!("{} {text:?} in pieces of {step}", family.name());
            assert_eq!(got_content.as_deref(), content, "{what}");
            let names: Vec<(&str, &str)> = calls.iter().map(|c| (c.name.as_str(), c.arguments.as_str())).collect();
            assert_eq!(names, expected, "{what}");
            let (streamed_content, streamed) = reassemble(&deltas);
            assert_eq!(streamed_content, got_content.clone().unwrap_or_default(), "{what}");
            let whole: Vec<(String, String, String)> = calls.iter().map(|c| (c.id.clone(), c.name.clone(), c.arguments.clone())).collect();
            assert_eq!(streamed, whole, "{what}");
            for c in &calls {
                assert!(c.id.len() == 9 && c.id.bytes().all(|b| b.is_ascii_alphanumeric()), "{what}: id {}", c.id);
            }
            match &first {
                None => first = Some(calls),
                Some(f) => assert_eq!(f, &calls, "{what}: differs from the whole text's"),
            }
        }
    }
}

/// A special-token trigger (Mistral's `[TOOL_CALLS]` as a control token) never appears in the
/// decoded text: the parser is told its id.
#[test]
fn a_special_token_trigger_is_seen_by_its_id() {
    let mut p = ToolParser::new(ToolFamily::Mistral, Some(5), 1);
    let mut d = p.push_token(9, "Sure.");
    d.extend(p.push_token(5, ""));
    d.extend(p.push_token(10, r#"[{"name": "f", "arguments": {"x": 1}}]"#));
    let (_, content, calls) = p.finish();
    assert_eq!(content.as_deref(), Some("Sure."));
    assert_eq!((calls[0].name.as_str(), calls[0].arguments.as_str()), ("f", r#"{"x": 1}"#));
}

struct Setup {
    template: String,
    family: ToolFamily,
}

fn setups() -> Vec<Setup> {
    let own = {
        let src = gguf_web::gguf::FileSource::open(model("gen/qwen2.gguf")).unwrap();
        let g = gguf_web::gguf::Gguf::read(&src).unwrap();
        g.get_str("tokenizer.chat_template").unwrap().unwrap().to_string()
    };
    vec![
        Setup { template: template_file("qwen2.5"), family: ToolFamily::Hermes },
        Setup { template: template_file("llama3.2"), family: ToolFamily::Llama3 },
        Setup { template: template_file("mistral-nemo"), family: ToolFamily::Mistral },
        Setup { template: own, family: ToolFamily::Generic },
    ]
}

fn validate(what: &str, req: &ToolRequest, call: &ToolCall) {
    let tool = req.callable().into_iter().find(|t| t.name == call.name).unwrap_or_else(|| panic!("{what}: calls {:?}", call.name));
    let args: Value =
        serde_json::from_str(&call.arguments).unwrap_or_else(|e| panic!("{what}: arguments not JSON ({e}): {:?}", call.arguments));
    let v = jsonschema::validator_for(&tool.parameters).unwrap();
    let errors: Vec<String> = v.iter_errors(&args).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what}: {} does not validate: {errors:?}", call.arguments);
}

/// Random weights, temperature 1 over the whole vocabulary, each family and tool_choice `auto`,
/// `required` and a named function, three seeds: every call parses and validates; `required`
/// and named replies are calls only (`finish_reason` would be `tool_calls`); an `auto` reply is
/// text without calls or valid calls; the streamed deltas add up to the final reply.
#[test]
fn calls_on_a_random_model_always_validate() {
    let (tok, model) = load_cpu("gen/qwen2.gguf");
    let mut s = Session::new(CpuBackend::new(model, 2048), tok.clone());
    let tools = json!([weather(), add()]);
    let named = json!({"type": "function", "function": {"name": "add_numbers"}});
    let mut calls_seen = 0;
    for setup in setups() {
        let template = ChatTemplate::new(Some(&setup.template), "qwen2", "<|im_start|>", "<|im_end|>").unwrap();
        for choice in [json!("auto"), json!("required"), named.clone()] {
            let req = ToolRequest::from_request(Some(&tools), Some(&choice)).unwrap().unwrap();
            let plan = ToolPlan::new(&req, template.source(), &tok);
            assert_eq!(plan.family, setup.family);
            let text = render_chat(&template, &[ChatMessage::new("user", "What is the weather in Paris?")], Some(&req)).unwrap();
            let prompt = tok.encode(&text, false, true).unwrap();
            for seed in [1, 2, 3] {
                let what = format!("{} {choice} seed {seed}", setup.family.name());
                let sampling = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..Default::default() };
                let opts = GenerateOptions { max_tokens: 700, sampling, constraint: Some(plan.constraint.clone()), ..Default::default() };
                let mut parser = plan.parser(seed);
                let mut deltas = Vec::new();
                let g = s.generate(&prompt, &opts, &mut |ev| {
                    deltas.extend(parser.push_token(ev.id, ev.text));
                    true
                });
                let g = g.unwrap_or_else(|e| panic!("{what}: {e}"));
                let (rest, content, calls) = parser.finish();
                deltas.extend(rest);
                // Free text (`auto`) may run to max_tokens; calls end by the grammar.
                assert!(g.finish == FinishReason::Stop || !req.must_call() && calls.is_empty(), "{what}: {:?}", g.text);
                if req.must_call() {
                    assert!(!calls.is_empty() && content.is_none(), "{what}: {:?}", g.text);
                } else if calls.is_empty() {
                    let trigger = ["<tool_call>", "[TOOL_CALLS]"];
                    assert!(!trigger.iter().any(|t| g.text.contains(t)), "{what}: {:?}", g.text);
                }
                for c in &calls {
                    validate(&what, &req, c);
                }
                let ids: std::collections::HashSet<&str> = calls.iter().map(|c| c.id.as_str()).collect();
                assert_eq!(ids.len(), calls.len(), "{what}: ids repeat");
                let (_, streamed) = reassemble(&deltas);
                let whole: Vec<(String, String, String)> =
                    calls.iter().map(|c| (c.id.clone(), c.name.clone(), c.arguments.clone())).collect();
                assert_eq!(streamed, whole, "{what}");
                calls_seen += calls.len();
            }
        }
    }
    assert!(calls_seen >= 24, "{calls_seen} calls");
}

/// Every family's grammar compiles for every choice, with and without parallel calls (checked
/// by llguidance over a byte vocabulary, as `parameters` are).
#[test]
fn every_grammar_compiles() {
    let tools = json!([weather(), add()]);
    let named = json!({"type": "function", "function": {"name": "add_numbers"}});
    let (tok, _) = load_cpu("gen/qwen2.gguf");
    for setup in setups() {
        for choice in [json!("auto"), json!("required"), named.clone()] {
            for single in [false, true] {
                let mut req = ToolRequest::from_request(Some(&tools), Some(&choice)).unwrap().unwrap();
                req.single_call = single;
                let plan = ToolPlan::new(&req, &setup.template, &tok);
                gguf_web::constraint::check(&plan.constraint)
                    .unwrap_or_else(|e| panic!("{} {choice} single {single}: {e}", setup.family.name()));
            }
        }
    }
}

/// Bad tools and tool choices are InvalidArgument errors naming the field, before any token; a
/// tools grammar and another constraint cannot be combined in the CLI (tested in cli.rs).
#[test]
fn bad_requests_fail_before_any_token() {
    let cases = [
        (
            json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}}}}]),
            json!("auto"),
            "tools[0].function.parameters",
        ),
        (json!([weather()]), json!({"type": "function", "function": {"name": "nope"}}), "tool_choice"),
        (json!([weather(), {"type": "function", "function": {"name": "bad name"}}]), json!("auto"), "tools[1].function.name"),
        (json!("get_weather"), json!("auto"), "tools must be an array"),
    ];
    for (tools, choice, field) in cases {
        match ToolRequest::from_request(Some(&tools), Some(&choice)) {
            Err(EngineError::InvalidArgument(m)) => assert!(m.contains(field), "{m}"),
            other => panic!("{tools} {choice}: {other:?}"),
        }
    }
}

/// A matcher of `grammar` over a vocabulary of single bytes.
fn byte_matcher(grammar: &str) -> llguidance::Matcher {
    use llguidance::api::TopLevelGrammar;
    use llguidance::toktrie::ApproximateTokEnv;
    let mut f = llguidance::ParserFactory::new_simple(&ApproximateTokEnv::single_byte_env()).unwrap();
    f.quiet();
    llguidance::Matcher::new(Ok(f.create_parser(TopLevelGrammar::from_lark(grammar.to_string())).unwrap()))
}

/// Whether `grammar` admits `text` as a whole reply.
fn admits(grammar: &str, text: &str) -> bool {
    let mut m = byte_matcher(grammar);
    let bytes: Vec<u32> = text.bytes().map(u32::from).collect();
    m.validate_tokens(&bytes).unwrap() == bytes.len() && m.consume_tokens(&bytes).is_ok() && m.is_accepting().unwrap()
}

/// `auto` as each family's grammar has it: text, or text and valid calls (where the family allows
/// text before calls), but never a call whose name or arguments break the tools; and calls drawn
/// at random after the trigger (a byte at a time, uniformly among what the grammar allows) always
/// parse and validate. Random models never write a trigger themselves, so this is where `auto`'s
/// calls are tested.
#[test]
fn auto_admits_text_or_valid_calls_only() {
    let tools = json!([weather(), add()]);
    let req = ToolRequest::from_request(Some(&tools), Some(&json!("auto"))).unwrap().unwrap();
    let (tok, _) = load_cpu("gen/qwen2.gguf");
    let good = r#"{"city": "Oslo", "days": 3}"#;
    let bad_args = r#"{"city": "Oslo", "days": 9}"#;
    let call = |family: ToolFamily, name: &str, args: &str| {
        let key = if family == ToolFamily::Llama3 { "parameters" } else { "arguments" };
        format!("{{\"name\": \"{name}\", \"{key}\": {args}}}")
    };
    for setup in setups() {
        let f = setup.family;
        let plan = ToolPlan::new(&req, &setup.template, &tok);
        let gguf_web::constraint::ConstraintSpec::Lark(g) = &plan.constraint else { panic!("a Lark grammar") };
        let reply = |c: &str| match f {
            ToolFamily::Hermes => format!("Let me check.\n<tool_call>\n{c}\n</tool_call>"),
            ToolFamily::Mistral => format!("Let me check.[TOOL_CALLS][{c}]"),
            ToolFamily::Llama3 => c.to_string(),
            ToolFamily::Generic => format!("{{\"tool_calls\": [{c}]}}"),
        };
        let name = f.name();
        assert!(admits(g, "Plain text, no call."), "{name}: text");
        assert!(admits(g, &reply(&call(f, "get_weather", good))), "{name}: a valid call");
        assert!(!admits(g, &reply(&call(f, "get_weather", bad_args))), "{name}: days out of range");
        assert!(!admits(g, &reply(&call(f, "launch_rockets", good))), "{name}: an unknown function");
        assert!(!admits(g, &reply("{\"name\": \"get_weather\"}")), "{name}: no arguments");
        // Random calls after the trigger (or the `{` that starts one).
        let prefix = match f {
            ToolFamily::Hermes => "Let me check.\n<tool_call>",
            ToolFamily::Mistral => "Let me check.[TOOL_CALLS]",
            ToolFamily::Llama3 | ToolFamily::Generic => "{",
        };
        for seed in 1..=4u64 {
            let mut m = byte_matcher(g);
            let mut out: Vec<u8> = prefix.as_bytes().to_vec();
            m.consume_tokens(&out.iter().map(|&b| u32::from(b)).collect::<Vec<_>>()).unwrap();
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut rand = |n: usize| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % n as u64) as usize
            };
            for _ in 0..4000 {
                if m.is_stopped() || (m.is_accepting().unwrap() && rand(3) == 0) {
                    break;
                }
                let mask = m.compute_mask().unwrap();
                let allowed: Vec<u32> = (0..256u32).filter(|&t| mask.is_allowed(t)).collect();
                if allowed.is_empty() {
                    break;
                }
                let t = allowed[rand(allowed.len())];
                m.consume_token(t).unwrap();
                out.push(t as u8);
            }
            let text = String::from_utf8(out).unwrap();
            let what = format!("{name} seed {seed}: {text:?}");
            assert!(m.is_accepting().unwrap(), "{what}: unfinished");
            let mut p = ToolParser::new(f, None, seed);
            p.push(&text);
            let (_, _, calls) = p.finish();
            assert!(!calls.is_empty(), "{what}");
            for c in &calls {
                validate(&what, &req, c);
            }
        }
    }
}
