//! Token ids and detokenized text against llama.cpp (fixtures by tests/fixtures/gen_tokenizer.py),
//! and the chat templates against their references (tests/fixtures/gen_chat.py).

mod common;
use common::*;
use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::tokenizer::{ChatMessage, StreamDecoder, Tokenizer};

fn load(model_file: &str) -> (Gguf, Tokenizer) {
    let src = FileSource::open(model(model_file)).unwrap();
    let g = Gguf::read(&src).unwrap();
    let t = Tokenizer::from_gguf(&g).unwrap();
    (g, t)
}

fn check_ids(key: &str, model_file: &str) {
    let (_, tok) = load(model_file);
    let fx = json(&fixtures().join(format!("tokenizer/{key}.json")));
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "at least 40 strings per model");
    // The ids that end generation (llama_vocab_is_eog over the whole vocabulary).
    let want_eog: Vec<u32> = fx["eog"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let mut eog = tok.vocab.eog.clone();
    eog.sort_unstable();
    assert_eq!(eog, want_eog, "{key}: end-of-generation ids");
    let mut failures = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, false, false).unwrap();
        if got != want {
            failures.push(format!("{text:?}\n   ours:      {got:?}\n   llama.cpp: {want:?}"));
            continue;
        }
        let detok = c["detokenized"].as_str().unwrap();
        let ours = tok.decode(&got, false);
        if ours != detok {
            failures.push(format!("{text:?} detokenized: ours {ours:?}, llama.cpp {detok:?}"));
        }
        // Streaming the same ids one at a time gives the same text.
        let mut d = StreamDecoder::new();
        let mut streamed: String = got.iter().map(|&id| d.push(&tok.piece(id))).collect();
        streamed += &d.finish();
        if !ours.is_empty() && streamed.trim_start() != ours.trim_start() {
            failures.push(format!("{text:?} streamed {streamed:?} != {ours:?}"));
        }
    }
    println!("{key}: {} of {} strings match llama.cpp", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{key}: {} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn smollm2_token_ids_match_llamacpp() {
    check_ids("smollm2", SMOLLM);
}

#[test]
fn gemma3_token_ids_match_llamacpp() {
    check_ids("gemma3", GEMMA);
}

fn check_chat(key: &str, model_file: &str) {
    let (g, tok) = load(model_file);
    let tmpl = tok.chat_template(&g).unwrap();
    let fx = json(&fixtures().join("chat.json"));
    let convs = fx[key].as_array().unwrap();
    for c in convs {
        let msgs: Vec<ChatMessage> = serde_json::from_value(c["messages"].clone()).unwrap();
        let got = tmpl.render(&msgs, c["add_generation_prompt"].as_bool().unwrap()).unwrap();
        assert_eq!(got, c["rendered"].as_str().unwrap(), "{key}: template {} on {msgs:?}", tmpl.origin);
    }
    println!("{key}: {} conversations rendered like the reference ({})", convs.len(), tmpl.origin);
}

#[test]
fn smollm2_chat_template_matches_jinja2() {
    check_chat("smollm2", SMOLLM);
}

#[test]
fn gemma3_chat_template_matches_llamacpp_builtin() {
    check_chat("gemma3", GEMMA);
}

#[test]
fn bos_follows_add_bos_token() {
    let (_, smol) = load(SMOLLM);
    let (_, gemma) = load(GEMMA);
    assert!(!smol.vocab.add_bos);
    assert_eq!(smol.encode("hi", true, false).unwrap(), smol.encode("hi", false, false).unwrap());
    assert!(gemma.vocab.add_bos);
    assert_eq!(gemma.encode("hi", true, false).unwrap()[0], gemma.vocab.bos.unwrap());
}

#[test]
fn special_tokens_parse_only_when_asked() {
    let (_, smol) = load(SMOLLM);
    let with = smol.encode("<|im_start|>user", false, true).unwrap();
    assert_eq!(with[0], 1);
    let without = smol.encode("<|im_start|>user", false, false).unwrap();
    assert_ne!(without[0], 1);
}

/// Empty text has no tokens, even for a vocabulary that prefixes a space (Llama 2, Mistral; Gemma's
/// own file turns the prefix off, so it is turned on here): llama.cpp makes no fragment of it.
#[test]
fn empty_text_is_no_tokens() {
    let (_, mut gemma) = load(GEMMA);
    gemma.vocab.add_space_prefix = true;
    assert_eq!(gemma.encode("", false, false).unwrap(), Vec::<u32>::new());
    assert_eq!(gemma.encode("", true, false).unwrap(), vec![gemma.vocab.bos.unwrap()]);
    assert!(!gemma.encode(" ", false, false).unwrap().is_empty());
}
