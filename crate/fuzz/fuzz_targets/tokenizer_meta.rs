//! Arbitrary GGUF metadata reaching `Tokenizer::from_gguf` and the model's chat template: the
//! input is a whole GGUF header (seeded with the default models' vocabularies cut to a few hundred
//! tokens and their real templates). A tokenizer that builds must encode and decode text, and its
//! template must render a short conversation or fail with a typed error.
#![no_main]

use gguf_web::gguf::Gguf;
use gguf_web::tokenizer::{ChatMessage, Tokenizer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = Gguf::read(&data.to_vec()) else { return };
    let Ok(tok) = Tokenizer::from_gguf(&g) else { return };
    let n = tok.vocab.len() as u32;
    for (text, special) in [("Hello world, <|im_start|>user\n  ça va? 東京 \t\n", true), ("<start_of_turn>model 12345 ▁x", false)] {
        if let Ok(ids) = tok.encode(text, true, special) {
            assert!(ids.iter().all(|&i| i < n), "id out of range: {ids:?}");
            let _ = tok.decode(&ids, true);
            let _ = tok.decode(&ids, false);
        }
    }
    let ids: Vec<u32> = (0..n.min(64)).chain(n.saturating_sub(8)..n + 2).collect();
    let _ = tok.decode(&ids, true);
    if let Ok(t) = tok.chat_template(&g) {
        let msgs = [ChatMessage::new("system", "Be brief."), ChatMessage::new("user", "Hi"), ChatMessage::new("assistant", "Hello")];
        let _ = t.render(&msgs, true);
    }
});
