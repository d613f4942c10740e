//! Tokenizers built from GGUF metadata, matching llama.cpp's token ids: byte-level BPE (`gpt2`)
//! and SentencePiece with scores (`llama`), special-token splitting, BOS/EOS rules, detokenizing
//! and chat templates.

mod bpe;
pub mod chat;
pub mod detok;
mod index;
mod special;
mod spm;
pub mod vocab;

pub use chat::{ChatMessage, ChatTemplate, TemplateError, TemplateLimits};
pub use detok::StreamDecoder;
pub use vocab::{TokenAttr, Vocab, VocabKind};

use crate::gguf::Gguf;
use crate::model::ModelError;
use special::{Fragment, SpecialTokens};

pub struct Tokenizer {
    pub vocab: Vocab,
    /// The byte-level BPE model (`None` for SentencePiece vocabularies, tokenized by `spm`).
    bpe: Option<tokenizers::Tokenizer>,
    special: SpecialTokens,
}

impl Tokenizer {
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer, ModelError> {
        let vocab = Vocab::from_gguf(g)?;
        let bpe = match vocab.kind {
            VocabKind::Bpe => Some(bpe::build(&vocab)?),
            VocabKind::Spm => None,
        };
        let special = SpecialTokens::new(&vocab).map_err(ModelError::Tokenizer)?;
        Ok(Tokenizer { vocab, bpe, special })
    }

    /// Text to ids like llama.cpp's `llama_tokenize(text, add_special, parse_special)`:
    /// `add_special` adds BOS/EOS when the vocabulary asks for them; `parse_special` turns
    /// control-token texts such as `<|im_start|>` into their ids.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>, ModelError> {
        let mut out = Vec::new();
        if add_special && self.vocab.add_bos {
            out.extend(self.vocab.bos);
        }
        let mut prev_special = true;
        for frag in self.special.split(text, parse_special).map_err(ModelError::Tokenizer)? {
            match frag {
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Text(t) => {
                    match &self.bpe {
                        Some(bpe) => {
                            let enc = bpe.encode(t, false).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
                            out.extend_from_slice(enc.get_ids());
                        }
                        None => {
                            let prefix = if self.vocab.add_space_prefix && prev_special { " " } else { "" };
                            spm::encode(&self.vocab, &spm::escape_whitespace(&format!("{prefix}{t}")), &mut out);
                        }
                    }
                    prev_special = false;
                }
            }
        }
        if add_special && self.vocab.add_eos {
            out.extend(self.vocab.eos);
        }
        Ok(out)
    }

    /// The bytes a token contributes to text (empty for control tokens).
    pub fn piece(&self, id: u32) -> Vec<u8> {
        detok::piece(&self.vocab, id)
    }

    /// Ids to text as llama.cpp's `llama_detokenize(remove_special = false)`. With
    /// `render_special`, control tokens appear as their text.
    pub fn decode(&self, ids: &[u32], render_special: bool) -> String {
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let attr = self.vocab.attrs.get(id as usize).copied().unwrap_or_default();
            let piece = if render_special && attr.has(TokenAttr::CONTROL | TokenAttr::UNKNOWN) {
                self.vocab.tokens[id as usize].as_bytes().to_vec()
            } else {
                self.piece(id)
            };
            // SentencePiece's added prefix space is taken off the first token only.
            let skip = usize::from(i == 0 && self.vocab.add_space_prefix && piece.first() == Some(&b' '));
            bytes.extend_from_slice(&piece[skip..]);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if self.vocab.kind == VocabKind::Bpe && bpe::cleans_spaces(&self.vocab.pre) {
            bpe::clean_up_spaces(&text)
        } else {
            text
        }
    }

    /// The model's chat template, or llama.cpp's built-in fallback for its architecture. A
    /// `tokenizer.chat_template` that is not a string is a [`TemplateError::Parse`] too.
    pub fn chat_template(&self, g: &Gguf) -> Result<ChatTemplate, TemplateError> {
        let meta = |e: crate::gguf::GgufError| TemplateError::Parse(chat::cap_message(&e.to_string(), chat::MAX_ERROR_MESSAGE));
        let text = g.get_str("tokenizer.chat_template").map_err(meta)?;
        let arch = g.get_str("general.architecture").map_err(meta)?.unwrap_or("");
        let tok = |id: Option<u32>| id.map(|i| self.vocab.tokens[i as usize].clone()).unwrap_or_default();
        ChatTemplate::new(text, arch, &tok(self.vocab.bos), &tok(self.vocab.eos))
    }
}
