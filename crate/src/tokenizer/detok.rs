//! Token ids back to text. Each token's bytes are precomputed the way llama.cpp's `token_to_piece`
//! renders them without special tokens; the streaming decoder holds back an incomplete UTF-8
//! sequence until the token that completes it arrives.

use super::vocab::{TokenAttr, Vocab, VocabKind};

/// A token's bytes as llama.cpp's `token_to_piece` renders it without special tokens: control and
/// unknown tokens are empty, user-defined ones verbatim, normal ones unmapped from byte-level BPE
/// or with SentencePiece's "▁" as a space, `<0xXX>` byte tokens as their byte.
pub fn piece(vocab: &Vocab, id: u32) -> Vec<u8> {
    let (Some(text), Some(a)) = (vocab.tokens.get(id as usize), vocab.attrs.get(id as usize)) else {
        return Vec::new();
    };
    if a.has(TokenAttr::CONTROL | TokenAttr::UNKNOWN) {
        Vec::new()
    } else if a.has(TokenAttr::USER_DEFINED) {
        text.as_bytes().to_vec()
    } else if a.has(TokenAttr::NORMAL) {
        match vocab.kind {
            VocabKind::Spm => text.replace('\u{2581}', " ").into_bytes(),
            VocabKind::Bpe => text
                .chars()
                .flat_map(|c| match byte_level_byte(c) {
                    Some(b) => vec![b],
                    None => format!("[UNK_BYTE_{text}]").into_bytes(),
                })
                .collect(),
        }
    } else if a.has(TokenAttr::BYTE) {
        parse_byte_token(text).map(|b| vec![b]).unwrap_or_default()
    } else {
        Vec::new()
    }
}

fn parse_byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// The inverse of GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to
/// U+0100 + n in byte order.
pub fn byte_level_byte(c: char) -> Option<u8> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let u = c as u32;
    if u < 256 && printable(u) {
        return Some(u as u8);
    }
    let n = u.checked_sub(256)?;
    (0u32..256).filter(|&b| !printable(b)).nth(n as usize).map(|b| b as u8)
}

/// Streams text from ids without ever emitting half a UTF-8 character.
#[derive(Default, Clone, Debug)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a token's bytes; returns the text that is now complete. Only an unfinished character
    /// at the very end is held back; invalid bytes are emitted at once as U+FFFD.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let keep = incomplete_tail(&self.pending);
        let out: Vec<u8> = self.pending.drain(..self.pending.len() - keep).collect();
        String::from_utf8_lossy(&out).into_owned()
    }
    /// Whatever is left at the end of generation (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// Length of a UTF-8 sequence at the end of `b` that has started but not finished.
fn incomplete_tail(b: &[u8]) -> usize {
    for k in 1..=3.min(b.len()) {
        let lead = b[b.len() - k];
        let need = match lead {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            0x80..=0xBF => continue, // a continuation byte: look further back
            _ => return 0,
        };
        return if need > k { k } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_decoder_holds_partial_characters() {
        let mut d = StreamDecoder::new();
        let euro = "€".as_bytes(); // 3 bytes
        assert_eq!(d.push(&euro[..1]), "");
        assert_eq!(d.push(&euro[1..2]), "");
        assert_eq!(d.push(&euro[2..]), "€");
        assert_eq!(d.push(b"ok"), "ok");
        assert_eq!(d.push(&euro[..2]), "");
        assert_eq!(d.finish(), "\u{FFFD}");
    }

    #[test]
    fn invalid_bytes_do_not_stall_the_stream() {
        let mut d = StreamDecoder::new();
        assert_eq!(d.push(&[0xFF, b'a']), "\u{FFFD}a");
    }

    #[test]
    fn byte_level_table() {
        assert_eq!(byte_level_byte('Ġ'), Some(b' '));
        assert_eq!(byte_level_byte('Ċ'), Some(b'\n'));
        assert_eq!(byte_level_byte('a'), Some(b'a'));
        let mut seen: Vec<u8> = (0u32..0x200).filter_map(char::from_u32).filter_map(byte_level_byte).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 256);
    }
}
