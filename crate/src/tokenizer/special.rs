//! Splitting text around special tokens before the tokenizer model sees it, as llama.cpp's
//! `tokenizer_st_partition`: tokens are tried longest first and every occurrence is cut out.
//! User-defined tokens are always cut out; control (and unknown) tokens only when parsing specials.
//!
//! llama.cpp searches the text once per special token, which costs (number of special tokens) x
//! (text length): Gemma's ~6,000 special tokens over a megabyte of text are seconds. Here one
//! Aho-Corasick pass finds every occurrence of every special token, and the occurrences are then
//! taken in llama.cpp's order (longest token first, then lowest id; left to right for one token),
//! each unless it overlaps one already taken. That is the same cut (a token's occurrence is found
//! in a fragment exactly when it overlaps no earlier cut; `same_cuts_as_llamacpp` checks it against
//! the per-token search), in time linear in the text and its occurrences. A vocabulary whose
//! special tokens overlap so much that a text has more than [`MAX_MATCHES_PER_BYTE`] occurrences
//! per byte is refused for that text rather than searched.

use super::vocab::{TokenAttr, Vocab};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

#[derive(Debug, PartialEq)]
pub enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

pub struct SpecialTokens {
    /// (text, id, is_control_or_unknown), longest text first.
    list: Vec<(String, u32, bool)>,
    /// All of `list`'s texts (pattern i is `list[i]`); `None` when there are none.
    matcher: Option<AhoCorasick>,
}

/// Occurrences of special tokens per byte of text (plus a constant) beyond which a text is refused.
pub const MAX_MATCHES_PER_BYTE: usize = 4;

impl SpecialTokens {
    pub fn new(vocab: &Vocab) -> Result<SpecialTokens, String> {
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
        let matcher = if list.is_empty() {
            None
        } else {
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(list.iter().map(|t| t.0.as_bytes()))
                .map_err(|e| format!("special tokens: {e}"))?;
            Some(ac)
        };
        Ok(SpecialTokens { list, matcher })
    }

    pub fn split<'a>(&self, text: &'a str, parse_special: bool) -> Result<Vec<Fragment<'a>>, String> {
        // No fragment at all for no text, as llama.cpp: a space-prefixing vocabulary would
        // otherwise encode "" as the prefix's "▁".
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let Some(ac) = &self.matcher else { return Ok(vec![Fragment::Text(text)]) };
        // Every occurrence, as (priority = index in `list`, start).
        let cap = text.len().saturating_mul(MAX_MATCHES_PER_BYTE).saturating_add(1 << 16);
        let mut occ: Vec<(u32, u32)> = Vec::new();
        for m in ac.find_overlapping_iter(text) {
            let i = m.pattern().as_usize();
            if self.list[i].2 && !parse_special {
                continue;
            }
            if occ.len() >= cap {
                return Err(format!(
                    "the vocabulary's special tokens overlap more than {MAX_MATCHES_PER_BYTE} times per byte of this {}-byte text",
                    text.len()
                ));
            }
            occ.push((i as u32, m.start() as u32));
        }
        if occ.is_empty() {
            return Ok(vec![Fragment::Text(text)]);
        }
        occ.sort_unstable();
        // Taken occurrences: start -> (end, id), disjoint.
        let mut cuts: std::collections::BTreeMap<usize, (usize, u32)> = std::collections::BTreeMap::new();
        for (i, start) in occ {
            let (tok, id, _) = &self.list[i as usize];
            let (start, end) = (start as usize, start as usize + tok.len());
            // The nearest cut starting before this occurrence ends is the only one that can overlap it.
            let overlaps = cuts.range(..end).next_back().is_some_and(|(_, &(e, _))| e > start);
            if !overlaps {
                cuts.insert(start, (end, *id));
            }
        }
        let mut frags = Vec::with_capacity(2 * cuts.len() + 1);
        let mut pos = 0;
        for (start, (end, id)) in cuts {
            if start > pos {
                frags.push(Fragment::Text(&text[pos..start]));
            }
            frags.push(Fragment::Token(id));
            pos = end;
        }
        if pos < text.len() {
            frags.push(Fragment::Text(&text[pos..]));
        }
        Ok(frags)
    }

    /// llama.cpp's partition as it is written: one search of the text per special token.
    #[cfg(test)]
    fn split_per_token<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        if text.is_empty() {
            return Vec::new();
        }
        let mut frags = vec![Fragment::Text(text)];
        for (tok, id, control) in &self.list {
            if *control && !parse_special {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn specials(texts: &[(&str, bool)]) -> SpecialTokens {
        let mut list: Vec<(String, u32, bool)> = texts.iter().enumerate().map(|(i, (t, c))| (t.to_string(), i as u32, *c)).collect();
        list.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let matcher = Some(AhoCorasickBuilder::new().match_kind(MatchKind::Standard).build(list.iter().map(|t| t.0.as_bytes())).unwrap());
        SpecialTokens { list, matcher }
    }

    /// The one-pass split cuts exactly where the per-token search does, on random texts over an
    /// alphabet where special tokens overlap, nest and repeat (duplicates included).
    #[test]
    fn same_cuts_as_llamacpp() {
        let st = specials(&[
            ("ab", false),
            ("bcd", true),
            ("<a>", true),
            ("<a><b>", false),
            ("b", false),
            ("aab", true),
            ("ab", true),
            ("dd", false),
            ("é<", false),
            ("cdcd", true),
        ]);
        let alphabet = ["a", "b", "c", "d", "<", ">", "é", " "];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for n in 0..20_000 {
            let len = n % 40;
            let mut s = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s += alphabet[(seed % alphabet.len() as u64) as usize];
            }
            for parse in [false, true] {
                assert_eq!(st.split(&s, parse).unwrap(), st.split_per_token(&s, parse), "{s:?} parse_special={parse}");
            }
        }
    }

    /// A megabyte over a vocabulary of 6,000 special tokens (Gemma has about that many) takes
    /// milliseconds (8 ms here; one search per token took 263 ms, and grows with the vocabulary).
    #[test]
    fn many_special_tokens_over_a_long_text_is_fast() {
        let texts: Vec<String> = (0..6000).map(|i| format!("<unused{i}>")).collect();
        let st = specials(&texts.iter().map(|t| (t.as_str(), true)).collect::<Vec<_>>());
        let text = "<unused12> some text <unuse".repeat(40_000);
        let t0 = std::time::Instant::now();
        let frags = st.split(&text, true).unwrap();
        let dt = t0.elapsed();
        assert_eq!(frags.iter().filter(|f| matches!(f, Fragment::Token(_))).count(), 40_000);
        assert!(dt.as_secs_f64() < 0.1, "{dt:?}");
    }

    /// Nested special tokens ("a", "aa", ... 64 of them) over a long run have too many occurrences.
    #[test]
    fn pathological_overlaps_are_refused() {
        let texts: Vec<String> = (1..=64).map(|i| "a".repeat(i)).collect();
        let st = specials(&texts.iter().map(|t| (t.as_str(), false)).collect::<Vec<_>>());
        let t0 = std::time::Instant::now();
        assert!(st.split(&"a".repeat(1 << 20), false).is_err());
        assert!(t0.elapsed().as_secs_f64() < 2.0);
        assert_eq!(st.split("aaa", false).unwrap(), vec![Fragment::Token(2)]);
    }
}
