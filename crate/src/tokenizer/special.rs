//! Splitting text around special tokens before the tokenizer model sees it, as llama.cpp's
//! `tokenizer_st_partition`: tokens are tried longest first and every occurrence is cut out.
//! User-defined tokens are always cut out; control (and unknown) tokens only when parsing specials.

use super::vocab::{TokenAttr, Vocab};

#[derive(Debug, PartialEq)]
pub enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

pub struct SpecialTokens {
    /// (text, id, is_control_or_unknown), longest text first.
    list: Vec<(String, u32, bool)>,
}

impl SpecialTokens {
    pub fn new(vocab: &Vocab) -> SpecialTokens {
        let mut list: Vec<(String, u32, bool)> = vocab
            .attrs
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let control = a.has(TokenAttr::CONTROL | TokenAttr::UNKNOWN);
                let text = &vocab.tokens[i];
                (!text.is_empty() && (control || a.has(TokenAttr::USER_DEFINED))).then(|| (text.clone(), i as u32, control))
            })
            .collect();
        list.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        SpecialTokens { list }
    }

    pub fn split<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        // No fragment at all for no text, as llama.cpp: a space-prefixing vocabulary would
        // otherwise encode "" as the prefix's "▁".
        if text.is_empty() {
            return Vec::new();
        }
        let mut frags = vec![Fragment::Text(text)];
        for (tok, id, control) in &self.list {
            if *control && !parse_special {
                continue;
            }
            if !frags.iter().any(|f| matches!(f, Fragment::Text(t) if t.contains(tok.as_str()))) {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                match f {
                    Fragment::Text(t) if t.contains(tok.as_str()) => {
                        let mut rest = t;
                        while let Some(pos) = rest.find(tok.as_str()) {
                            if pos > 0 {
                                next.push(Fragment::Text(&rest[..pos]));
                            }
                            next.push(Fragment::Token(*id));
                            rest = &rest[pos + tok.len()..];
                        }
                        if !rest.is_empty() {
                            next.push(Fragment::Text(rest));
                        }
                    }
                    other => next.push(other),
                }
            }
            frags = next;
        }
        frags
    }
}
