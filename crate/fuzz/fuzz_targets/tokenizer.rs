//! Arbitrary text and ids through the default models' tokenizers (SmolLM2's byte-level BPE and
//! Gemma 3's SentencePiece, loaded once per process from `models/`, or `GGUF_WEB_MODELS`).
//!
//! The first byte picks the model (bit 0) and the mode (bits 1-2): encode the rest as text (lossy
//! UTF-8; bits 3-4 are `add_special` and `parse_special`), or read it as little-endian `u32` ids
//! (mostly in range: taken modulo the vocabulary size plus 64) to decode, with and without special
//! tokens, and to stream through `StreamDecoder` piece by piece. Nothing may panic; the streamed
//! text must equal the whole text decoded at once.
#![no_main]

#[path = "common.rs"]
mod common;

use gguf_web::tokenizer::StreamDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let tok = &common::tokenizers()[usize::from(sel & 1)];
    match (sel >> 1) & 3 {
        0 | 1 => {
            let text = String::from_utf8_lossy(rest);
            let (add_special, parse_special) = (sel & 8 != 0, sel & 16 != 0);
            let ids = tok.encode(&text, add_special, parse_special).expect("encode");
            let n = tok.vocab.len() as u32;
            assert!(ids.iter().all(|&i| i < n), "id out of range: {ids:?}");
            // No round-trip check: a byte whose token the vocabulary lacks (SmolLM2 has no token
            // for 0x13) is dropped, as llama.cpp drops it.
            let _ = tok.decode(&ids, false);
            let _ = tok.decode(&ids, true);
        }
        _ => {
            let n = tok.vocab.len() as u64 + 64;
            let id = |c: &[u8]| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                (u64::from(u32::from_le_bytes(b)) % n) as u32
            };
            let ids: Vec<u32> = rest.chunks(4).map(id).collect();
            let _ = tok.decode(&ids, true);
            let _ = tok.decode(&ids, false);
            let mut stream = StreamDecoder::new();
            let mut streamed = String::new();
            let mut bytes = Vec::new();
            for &id in &ids {
                let piece = tok.piece(id);
                bytes.extend_from_slice(&piece);
                streamed.push_str(&stream.push(&piece));
            }
            streamed.push_str(&stream.finish());
            assert_eq!(streamed, String::from_utf8_lossy(&bytes), "streamed text differs, ids {ids:?}");
        }
    }
});
