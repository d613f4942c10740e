//! Arbitrary chat template source and messages through `ChatTemplate` with its default limits.
//! The input is split at NUL bytes: the template, then role, content, role, content...; a complete
//! last pair asks for the generation prompt. Every outcome must be `Ok` or a typed error within
//! the libFuzzer timeout and memory limit, and errors are capped (`MAX_ERROR_MESSAGE`).
#![no_main]

use gguf_web::tokenizer::chat::MAX_ERROR_MESSAGE;
use gguf_web::tokenizer::{ChatMessage, ChatTemplate, TemplateError};
use libfuzzer_sys::fuzz_target;

fn message(e: &TemplateError) -> &str {
    match e {
        TemplateError::Parse(m) | TemplateError::Failed(m) | TemplateError::OutOfFuel(m) => m,
        TemplateError::OutputTooLarge(m) | TemplateError::ValueTooLarge(m) => m,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let source = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let messages: Vec<ChatMessage> = rest.chunks(2).map(|p| ChatMessage::new(p[0], p.get(1).copied().unwrap_or(""))).collect();
    let add_generation_prompt = rest.len() % 2 == 0;
    // Errors are capped plus a short "(N bytes in all)" suffix.
    let cap = MAX_ERROR_MESSAGE + 64;
    let t = match ChatTemplate::new(Some(source), "llama", "<s>", "</s>") {
        Ok(t) => t,
        Err(e) => {
            assert!(message(&e).len() <= cap, "parse error of {} bytes", message(&e).len());
            return;
        }
    };
    if let Err(e) = t.render(&messages, add_generation_prompt) {
        assert!(message(&e).len() <= cap, "render error of {} bytes", message(&e).len());
    }
});
