//! SentencePiece vocabularies with scores (`tokenizer.ggml.model = llama`, as Gemma ships them) on
//! the `tokenizers` crate. llama.cpp's algorithm (`llm_tokenizer_spm`) repeatedly merges the
//! adjacent pair whose concatenation is the highest-scoring token. That is BPE whose merge ranks
//! are the merged tokens' scores, so the merges are derived from the vocabulary: every split of a
//! token into two tokens, ranked by the token's score. Unknown characters fall back to `<0xXX>`.

use super::vocab::Vocab;
use crate::model::ModelError;
use tokenizers::models::bpe::BPE;
use tokenizers::Tokenizer;

pub fn build(vocab: &Vocab) -> Result<Tokenizer, ModelError> {
    let mut ranked: Vec<(f32, u32, usize)> = Vec::new(); // (score, token id, split byte offset)
    for (id, text) in vocab.tokens.iter().enumerate() {
        for (off, _) in text.char_indices().skip(1) {
            let (a, b) = text.split_at(off);
            if vocab.index.contains_key(a) && vocab.index.contains_key(b) {
                ranked.push((vocab.scores[id], id as u32, off));
            }
        }
    }
    // Highest score first; a token's different splits keep text order.
    ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let merges: Vec<(String, String)> = ranked
        .iter()
        .map(|&(_, id, off)| {
            let (a, b) = vocab.tokens[id as usize].split_at(off);
            (a.to_string(), b.to_string())
        })
        .collect();
    let mut builder = BPE::builder().vocab_and_merges(vocab.index.iter().map(|(k, &v)| (k.clone(), v)).collect::<tokenizers::models::bpe::Vocab>(), merges).byte_fallback(true);
    if let Some(unk) = vocab.unk {
        builder = builder.unk_token(vocab.tokens[unk as usize].clone());
    }
    let model = builder.build().map_err(|e| ModelError::Tokenizer(format!("SentencePiece model: {e}")))?;
    Ok(Tokenizer::new(model))
}

/// SentencePiece marks spaces with U+2581 ("▁").
pub fn escape_whitespace(text: &str) -> String {
    text.replace(' ', "\u{2581}")
}
