//! SentencePiece vocabularies with scores (`tokenizer.ggml.model = llama`, as Gemma ships them),
//! tokenized as llama.cpp's `llm_tokenizer_spm` does: the text's characters are symbols; the
//! adjacent pair whose concatenation is the highest-scoring vocabulary entry (leftmost on ties)
//! merges, again and again; a final symbol that is not a token falls back to its merge history,
//! then to `<0xXX>` byte tokens.
//!
//! It works on the vocabulary directly rather than through the `tokenizers` crate's BPE with
//! merges derived from the scores (the two agree token for token on our fixtures): for Gemma's
//! 262,144-entry vocabulary the derived merges (515k pairs) and the crate's maps cost tens of
//! megabytes of WebAssembly memory that the browser build cannot spare.

use super::vocab::Vocab;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// SentencePiece marks spaces with U+2581 ("▁").
pub fn escape_whitespace(text: &str) -> String {
    text.replace(' ', "\u{2581}")
}

struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// The heap's top is the highest score, then the leftmost pair.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then(o.left.cmp(&self.left))
    }
}

/// Appends the ids of `text` (already whitespace-escaped) to `out`.
pub fn encode<'t>(vocab: &Vocab, text: &'t str, out: &mut Vec<u32>) {
    let mut syms: Vec<Symbol> = Vec::new();
    for (i, (start, c)) in text.char_indices().enumerate() {
        syms.push(Symbol { start, len: c.len_utf8(), prev: i.checked_sub(1), next: Some(i + 1) });
    }
    if let Some(last) = syms.last_mut() {
        last.next = None;
    }
    let mut heap = BinaryHeap::new();
    let mut rev_merge: HashMap<&'t str, (usize, usize)> = HashMap::new();
    let try_add =
        |syms: &[Symbol], heap: &mut BinaryHeap<Bigram>, rev: &mut HashMap<&'t str, (usize, usize)>, l: Option<usize>, r: Option<usize>| {
            let (Some(l), Some(r)) = (l, r) else { return };
            let piece = &text[syms[l].start..syms[r].start + syms[r].len];
            if let Some(id) = vocab.id(piece) {
                heap.push(Bigram { score: vocab.scores[id as usize], left: l, right: r, size: piece.len() });
                rev.insert(piece, (l, r));
            }
        };
    for i in 1..syms.len() {
        try_add(&syms, &mut heap, &mut rev_merge, Some(i - 1), Some(i));
    }
    while let Some(b) = heap.pop() {
        let (l, r) = (b.left, b.right);
        // A pair one of whose symbols has merged since it was queued is stale.
        if syms[l].len == 0 || syms[r].len == 0 || syms[l].len + syms[r].len != b.size {
            continue;
        }
        syms[l].len += syms[r].len;
        syms[r].len = 0;
        syms[l].next = syms[r].next;
        if let Some(n) = syms[r].next {
            syms[n].prev = Some(l);
        }
        try_add(&syms, &mut heap, &mut rev_merge, syms[l].prev, Some(l));
        try_add(&syms, &mut heap, &mut rev_merge, Some(l), syms[l].next);
    }
    let mut i = if syms.is_empty() { None } else { Some(0) };
    while let Some(s) = i {
        resegment(vocab, text, &syms, &rev_merge, s, out);
        i = syms[s].next;
    }
}

fn resegment(vocab: &Vocab, text: &str, syms: &[Symbol], rev: &HashMap<&str, (usize, usize)>, s: usize, out: &mut Vec<u32>) {
    let piece = &text[syms[s].start..syms[s].start + syms[s].len];
    if let Some(id) = vocab.id(piece) {
        out.push(id);
        return;
    }
    match rev.get(piece) {
        Some(&(l, r)) => {
            resegment(vocab, text, syms, rev, l, out);
            resegment(vocab, text, syms, rev, r, out);
        }
        None => {
            for &b in piece.as_bytes() {
                out.extend(byte_token(vocab, b));
            }
        }
    }
}

/// `<0xXX>`, else the byte as a one-character token, else the unknown token.
fn byte_token(vocab: &Vocab, b: u8) -> Option<u32> {
    vocab.id(&format!("<0x{b:02X}>")).or_else(|| std::str::from_utf8(&[b]).ok().and_then(|s| vocab.id(s))).or(vocab.unk)
}
