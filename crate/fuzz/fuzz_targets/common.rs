//! Shared by the fuzz targets: the default models' tokenizers, loaded once per process.
#![allow(dead_code)]

use gguf_web::gguf::{FileSource, Gguf};
use gguf_web::tokenizer::Tokenizer;
use std::sync::OnceLock;

/// The models folder: `GGUF_WEB_MODELS`, else the repository's `models/`.
fn models_dir() -> String {
    std::env::var("GGUF_WEB_MODELS").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../models").to_string())
}

fn load(name: &str) -> Tokenizer {
    let path = format!("{}/{name}", models_dir());
    let src = FileSource::open(&path).unwrap_or_else(|e| panic!("{path}: {e} (run scripts/setup.sh)"));
    let g = Gguf::read(&src).unwrap_or_else(|e| panic!("{path}: {e}"));
    Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// SmolLM2's byte-level BPE and Gemma 3's SentencePiece vocabularies.
pub fn tokenizers() -> &'static [Tokenizer; 2] {
    static T: OnceLock<[Tokenizer; 2]> = OnceLock::new();
    T.get_or_init(|| [load("SmolLM2-135M-Instruct.Q4_1.gguf"), load("gemma-3-270m-q4_k_m.gguf")])
}
