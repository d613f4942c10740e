//! Byte-level BPE (`tokenizer.ggml.model = gpt2`) on the `tokenizers` crate: the GGUF's tokens and
//! merges form the BPE model; `tokenizer.ggml.pre` picks the regex pre-tokenizer, with the same
//! expressions llama.cpp uses (`llama_vocab::impl::load`, `llm_tokenizer_bpe`).

use super::vocab::Vocab;
use crate::model::ModelError;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The regexes applied in sequence for a pre-tokenizer name, and whether whole words that are
/// tokens skip the merges (llama.cpp's `ignore_merges`, set for llama3).
pub fn pre_tokenizer(pre: &str) -> Result<(Vec<&'static str>, bool), String> {
    Ok(match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2" => (vec![LLAMA3], true),
        "dbrx" | "smaug-bpe" => (vec![LLAMA3], false),
        "qwen2" | "deepseek-r1-qwen" | "megrez" | "stablelm2" | "hunyuan" | "kormo" => (vec![QWEN2], false),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => (vec![r"\p{N}", GPT2], false),
        // llama.cpp spells it "gpt-2"; "gpt2" is accepted too, as the tokenizer model is named so.
        "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" | "jais" | "trillion" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
        | "jina-v2-de" | "exaone4" => (vec![GPT2], false),
        "default" => (vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"], false),
        other => {
            return Err(format!(
                "BPE pre-tokenizer {other:?} is not supported (supported: llama-bpe, qwen2, smollm, gpt-2, default and their aliases)"
            ))
        }
    })
}

/// llama.cpp adds BOS by default for the llama3 family.
pub fn adds_bos_by_default(pre: &str) -> bool {
    matches!(pre, "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2")
}

/// Whether llama.cpp's detokenizer removes spaces before punctuation (`clean_spaces`): on for BPE
/// except the pre-tokenizers that turn it off.
pub fn cleans_spaces(pre: &str) -> bool {
    !matches!(pre, "qwen2" | "deepseek-r1-qwen" | "kormo" | "smollm" | "command-r" | "hunyuan")
}

/// llama.cpp's three `clean_spaces` passes: no space before ? ! . , ; " ' " becomes "'"; no space
/// before 's 'm 're 've.
pub fn clean_up_spaces(text: &str) -> String {
    let t = text.replace(" ?", "?").replace(" !", "!").replace(" .", ".").replace(" ,", ",");
    let t = t.replace(" ' ", "'");
    t.replace(" 's", "'s").replace(" 'm", "'m").replace(" 're", "'re").replace(" 've", "'ve")
}

pub fn build(vocab: &Vocab) -> Result<Tokenizer, ModelError> {
    let (regexes, ignore_merges) = pre_tokenizer(&vocab.pre).map_err(ModelError::Tokenizer)?;
    // A merge line splits at its first space after the first character. The tokenizers crate
    // refuses merges of unknown tokens (llama.cpp ignores them) and keeps the last of duplicates
    // (llama.cpp the first), so both are filtered here.
    let mut seen = std::collections::HashSet::new();
    let mut merges = Vec::with_capacity(vocab.merges.len());
    for m in &vocab.merges {
        let split = m.char_indices().skip(1).find(|&(_, c)| c == ' ').map(|(i, _)| i);
        let Some(i) = split else {
            return Err(ModelError::Tokenizer(format!("merge {m:?} is not two space-separated tokens")));
        };
        let (a, b) = (&m[..i], &m[i + 1..]);
        let known = vocab.id(a).is_some() && vocab.id(b).is_some() && vocab.id(&format!("{a}{b}")).is_some();
        if known && seen.insert((a, b)) {
            merges.push((a.to_string(), b.to_string()));
        }
    }
    let model = BPE::builder()
        .vocab_and_merges(
            vocab.tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect::<tokenizers::models::bpe::Vocab>(),
            merges,
        )
        .ignore_merges(ignore_merges)
        .build()
        .map_err(|e| ModelError::Tokenizer(format!("BPE model: {e}")))?;
    let mut pre: Vec<PreTokenizerWrapper> = Vec::new();
    for re in regexes {
        let split = Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| ModelError::Tokenizer(format!("pre-tokenizer regex: {e}")))?;
        pre.push(split.into());
    }
    pre.push(ByteLevel::new(false, false, false).into());
    let mut tk = Tokenizer::new(model);
    tk.with_pre_tokenizer(Some(Sequence::new(pre)));
    Ok(tk)
}
