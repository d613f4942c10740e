//! The vocabulary as GGUF stores it (`tokenizer.ggml.*`): token texts, scores, types and the
//! special ids, with llama.cpp's defaults for missing keys (`llama_vocab::impl::load`).

use super::index::TokenIndex;
use crate::gguf::{Array, Gguf};
use crate::model::ModelError;

/// Token attributes as llama.cpp keeps them: the GGUF `token_type` mapped to one bit, plus
/// bits llama.cpp adds from a token's text (an end-of-generation text makes a token CONTROL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TokenAttr(pub u16);

impl TokenAttr {
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;

    /// From `tokenizer.ggml.token_type` (1 normal … 6 byte; anything else is undefined).
    pub fn from_type_code(c: i64) -> TokenAttr {
        TokenAttr(match c {
            1 => Self::NORMAL,
            2 => Self::UNKNOWN,
            3 => Self::CONTROL,
            4 => Self::USER_DEFINED,
            5 => Self::UNUSED,
            6 => Self::BYTE,
            _ => 0,
        })
    }
    pub fn has(self, bits: u16) -> bool {
        self.0 & bits != 0
    }
}

/// Texts llama.cpp treats as end of generation, marking their tokens CONTROL whatever the file
/// says (`llama_vocab::impl::load`). Non-ASCII is written as escapes so editors cannot normalise it.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "[e~[",
];
/// Fill-in-the-middle pad, repository and file-separator tokens, which llama.cpp also ends
/// generation on (and marks CONTROL): the GGUF's id for each, else the first token with one of
/// these texts.
const FIM_EOG: [(&str, &[&str]); 3] = [
    ("tokenizer.ggml.fim_pad_token_id", &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]),
    ("tokenizer.ggml.fim_rep_token_id", &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
    ("tokenizer.ggml.fim_sep_token_id", &["<|file_sep|>"]),
];
/// The subset llama.cpp picks the end-of-turn token from when `eot_token_id` is absent.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "<end_of_utterance>",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabKind {
    /// `gpt2`: byte-level BPE with merges and a regex pre-tokenizer.
    Bpe,
    /// `llama`: SentencePiece vocabulary with scores, no merges.
    Spm,
}

pub struct Vocab {
    pub kind: VocabKind,
    /// `tokenizer.ggml.pre` (BPE pre-tokenizer name).
    pub pre: String,
    pub tokens: Vec<String>,
    pub scores: Vec<f32>,
    pub attrs: Vec<TokenAttr>,
    pub merges: Vec<String>,
    /// Text → id; for duplicated texts the last id wins, as in llama.cpp.
    index: TokenIndex,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    /// End-of-generation ids: EOS, EOT and the control tokens that end a turn.
    pub eog: Vec<u32>,
}

/// Caps on a vocabulary, checked before anything is built from it (the GGUF reader has the arrays;
/// the index, the BPE model's maps and the special-token matcher would multiply them). Real
/// vocabularies are far below: Gemma 3 has 262,144 tokens, Llama 3 280,147 merges, the longest
/// tokens are a few hundred bytes, the special tokens a few thousand.
pub const MAX_TOKENS: usize = 1 << 20;
pub const MAX_TOKEN_BYTES: usize = 16 << 10;
pub const MAX_VOCAB_BYTES: usize = 64 << 20;
pub const MAX_MERGES: usize = 1 << 21;
pub const MAX_MERGES_BYTES: usize = 128 << 20;
/// Control, unknown and user-defined tokens: every text is searched for them (one Aho-Corasick
/// automaton, whose size follows their bytes).
pub const MAX_SPECIAL_TOKENS: usize = 1 << 17;
pub const MAX_SPECIAL_BYTES: usize = 4 << 20;

/// Checks `items` (the strings of `key`) against a count, a per-item and a total byte cap.
fn check_strings(key: &str, items: &[String], max_count: usize, max_item: usize, max_total: usize) -> Result<(), ModelError> {
    if items.len() > max_count {
        return Err(err(format!("{key} has {} entries, over the limit of {max_count}", items.len())));
    }
    let mut total = 0usize;
    for (i, s) in items.iter().enumerate() {
        if s.len() > max_item {
            return Err(err(format!("{key}[{i}] is {} bytes, over the limit of {max_item}", s.len())));
        }
        total += s.len();
    }
    if total > max_total {
        return Err(err(format!("{key} holds {total} bytes, over the limit of {max_total}")));
    }
    Ok(())
}

fn err(msg: impl Into<String>) -> ModelError {
    ModelError::Tokenizer(msg.into())
}

impl Vocab {
    pub fn from_gguf(g: &Gguf) -> Result<Vocab, ModelError> {
        let model = g.get_str("tokenizer.ggml.model")?.ok_or_else(|| err("tokenizer.ggml.model is missing"))?;
        let kind = match model {
            "gpt2" => VocabKind::Bpe,
            "llama" => VocabKind::Spm,
            other => return Err(err(format!("tokenizer model {other:?} is not supported (supported: gpt2, llama)"))),
        };
        let tokens = match g.get_array("tokenizer.ggml.tokens")? {
            Some(Array::String(t)) if !t.is_empty() => {
                check_strings("tokenizer.ggml.tokens", t, MAX_TOKENS, MAX_TOKEN_BYTES, MAX_VOCAB_BYTES)?;
                t.clone()
            }
            _ => return Err(err("tokenizer.ggml.tokens must be a non-empty array of strings")),
        };
        let n = tokens.len();
        let scores = match g.get_array("tokenizer.ggml.scores")? {
            None => vec![0.0; n],
            Some(a) => a
                .to_f32_vec()
                .filter(|v| v.len() == n)
                .ok_or_else(|| err(format!("tokenizer.ggml.scores must hold {n} numbers, one per token")))?,
        };
        let mut attrs: Vec<TokenAttr> = match g.get_array("tokenizer.ggml.token_type")? {
            None => vec![TokenAttr(TokenAttr::NORMAL); n],
            Some(a) => a
                .to_i64_vec()
                .filter(|v| v.len() == n)
                .ok_or_else(|| err(format!("tokenizer.ggml.token_type must hold {n} integers")))?
                .into_iter()
                .map(TokenAttr::from_type_code)
                .collect(),
        };
        let merges = match g.get_array("tokenizer.ggml.merges")? {
            None => Vec::new(),
            Some(Array::String(m)) => {
                check_strings("tokenizer.ggml.merges", m, MAX_MERGES, 2 * MAX_TOKEN_BYTES + 1, MAX_MERGES_BYTES)?;
                m.clone()
            }
            Some(_) => return Err(err("tokenizer.ggml.merges must be an array of strings")),
        };
        if kind == VocabKind::Bpe && merges.is_empty() {
            return Err(err("a gpt2 (BPE) tokenizer needs tokenizer.ggml.merges"));
        }
        let index = TokenIndex::new(&tokens);
        // llama.cpp's defaults before the keys are read: SPM bos=1 eos=2 unk=0, BPE bos=eos=11.
        let (def_bos, def_eos, def_unk) = match kind {
            VocabKind::Spm => (Some(1), Some(2), Some(0)),
            VocabKind::Bpe => (Some(11), Some(11), None),
        };
        let id = |key: &str, default: Option<u64>| -> Result<Option<u32>, ModelError> {
            let v = match g.get(key) {
                None => default,
                // Some converters write -1 for "none".
                Some(v) => v.as_i64().and_then(|x| u64::try_from(x).ok()),
            };
            // An out-of-range id is ignored, as llama.cpp does.
            Ok(v.filter(|&v| (v as usize) < n).map(|v| v as u32))
        };
        let (bos, eos, unk, pad, mut eot) = (
            id("tokenizer.ggml.bos_token_id", def_bos)?,
            id("tokenizer.ggml.eos_token_id", def_eos)?,
            id("tokenizer.ggml.unknown_token_id", def_unk)?,
            id("tokenizer.ggml.padding_token_id", None)?,
            id("tokenizer.ggml.eot_token_id", None)?,
        );
        let pre = g.get_str("tokenizer.ggml.pre")?.unwrap_or("default").to_string();
        let flag = |key: &str, default: bool| -> Result<bool, ModelError> { Ok(g.get_bool(key)?.unwrap_or(default)) };
        // Defaults by tokenizer kind, as llama.cpp: SPM adds BOS and a space prefix; BPE neither,
        // except the llama3-style pre-tokenizers, which add BOS.
        let spm = kind == VocabKind::Spm;
        let bpe_bos = kind == VocabKind::Bpe && super::bpe::adds_bos_by_default(&pre);
        let add_bos = flag("tokenizer.ggml.add_bos_token", spm || bpe_bos)?;
        let add_eos = flag("tokenizer.ggml.add_eos_token", false)?;
        let add_space_prefix = spm && flag("tokenizer.ggml.add_space_prefix", true)?;

        let lookup = |t: &&str| index.get(&tokens, t);
        if eot.is_none() {
            eot = EOT_TEXTS.iter().find_map(lookup);
        }
        let mut eog: Vec<u32> = EOG_TEXTS.iter().filter_map(lookup).collect();
        for (key, texts) in FIM_EOG {
            let fim = match id(key, None)? {
                Some(i) => Some(i),
                None => texts.iter().filter_map(lookup).min(),
            };
            eog.extend(fim.filter(|i| !eog.contains(i)));
        }
        for &i in &eog {
            attrs[i as usize].0 |= TokenAttr::CONTROL;
        }
        let (mut n_special, mut special_bytes) = (0usize, 0usize);
        for (t, a) in tokens.iter().zip(&attrs) {
            if a.has(TokenAttr::CONTROL | TokenAttr::UNKNOWN | TokenAttr::USER_DEFINED) && !t.is_empty() {
                n_special += 1;
                special_bytes += t.len();
            }
        }
        if n_special > MAX_SPECIAL_TOKENS || special_bytes > MAX_SPECIAL_BYTES {
            return Err(err(format!(
                "{n_special} special (control, unknown or user-defined) tokens of {special_bytes} bytes, over the limits of \
                 {MAX_SPECIAL_TOKENS} tokens and {MAX_SPECIAL_BYTES} bytes"
            )));
        }
        for extra in [eos, eot].into_iter().flatten() {
            if !eog.contains(&extra) {
                eog.push(extra);
            }
        }
        Ok(Vocab { kind, pre, tokens, scores, attrs, merges, index, bos, eos, eot, unk, pad, add_bos, add_eos, add_space_prefix, eog })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    /// The id of a token text.
    pub fn id(&self, text: &str) -> Option<u32> {
        self.index.get(&self.tokens, text)
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }
}
