//! Token text → id without a second copy of every token string: a map from a 64-bit hash of the
//! text to the id, checked against the vocabulary's own string. (For Gemma's 262,144 tokens a
//! `HashMap<String, u32>` would duplicate ~13 MB of strings in WebAssembly memory.)

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

#[derive(Default)]
pub struct TokenIndex {
    by_hash: HashMap<u64, u32>,
    /// Texts whose hash collides with another text's (practically never).
    collisions: HashMap<String, u32>,
}

fn hash(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl TokenIndex {
    /// Indexes `tokens`; for duplicated texts the last id wins, as in llama.cpp.
    pub fn new(tokens: &[String]) -> TokenIndex {
        let mut ix = TokenIndex { by_hash: HashMap::with_capacity(tokens.len()), collisions: HashMap::new() };
        for (i, t) in tokens.iter().enumerate() {
            match ix.by_hash.insert(hash(t), i as u32) {
                Some(prev) if tokens[prev as usize] != *t => {
                    // Keep the earlier text reachable through the collision map.
                    ix.by_hash.insert(hash(t), prev);
                    ix.collisions.insert(t.clone(), i as u32);
                }
                _ => {}
            }
        }
        ix
    }

    pub fn get(&self, tokens: &[String], text: &str) -> Option<u32> {
        if let Some(&id) = self.collisions.get(text) {
            return Some(id);
        }
        let id = *self.by_hash.get(&hash(text))?;
        (tokens[id as usize] == text).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_last_duplicate_wins() {
        let toks: Vec<String> = ["a", "b", "a", "▁c"].iter().map(|s| s.to_string()).collect();
        let ix = TokenIndex::new(&toks);
        assert_eq!(ix.get(&toks, "a"), Some(2));
        assert_eq!(ix.get(&toks, "b"), Some(1));
        assert_eq!(ix.get(&toks, "▁c"), Some(3));
        assert_eq!(ix.get(&toks, "zz"), None);
    }
}
