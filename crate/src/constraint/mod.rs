//! Constrained decoding on llguidance: output that must match a JSON schema, a Lark grammar or a
//! regular expression. [`TokenTable`] is built once per model from the GGUF vocabulary (each id's
//! bytes, special tokens marked, the end-of-generation ids); [`TokenTable::compile`] turns a
//! [`ConstraintSpec`] into a [`Constraint`] once per request, failing closed: a schema or grammar
//! llguidance cannot compile is an `InvalidArgument` naming the problem, before any token.
//!
//! The session checks each sampled token first ([`Constraint::allows`], cheap); only when the
//! grammar refuses it does it compute the full mask ([`Constraint::mask`]) and draw again from
//! the same logits with the same draw number (`Backend::resample_masked`, on the GPU a masking
//! pass over the logits buffer), so seeded runs stay deterministic and a step still reads back 4
//! bytes. End-of-generation ids pass only where the grammar may end.

use crate::engine::EngineError;
use crate::tokenizer::{TokenAttr, Tokenizer};
use llguidance::api::{ParserLimits, TopLevelGrammar};
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};
use std::sync::Arc;

/// What the output must match.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstraintSpec {
    /// A JSON Schema (draft 2020-12 as llguidance supports it; `$ref` to `$defs` within it).
    JsonSchema(serde_json::Value),
    /// Any JSON object.
    JsonObject,
    /// A grammar in llguidance's Lark syntax.
    Lark(String),
    /// A regular expression (Rust `regex` syntax) the whole output must match.
    Regex(String),
}

impl ConstraintSpec {
    /// The grammar llguidance compiles. JSON comes out compact (no whitespace between tokens)
    /// unless the schema sets its own `x-guidance` options: flexible whitespace lets a model loop
    /// on spaces and newlines.
    fn grammar(&self) -> TopLevelGrammar {
        match self {
            ConstraintSpec::JsonSchema(schema) => TopLevelGrammar::from_json_schema(compact(schema.clone())),
            ConstraintSpec::JsonObject => TopLevelGrammar::from_json_schema(compact(serde_json::json!({ "type": "object" }))),
            ConstraintSpec::Lark(g) => TopLevelGrammar::from_lark(g.clone()),
            ConstraintSpec::Regex(r) => TopLevelGrammar::from_regex(r),
        }
    }

    /// From OpenAI-style request fields: `response_format` (`{type: "text"}`, `{type:
    /// "json_object"}`, `{type: "json_schema", json_schema: {name, schema, strict}}`) and
    /// `grammar` (a Lark grammar as a string, or `{lark: "..."}`, or `{regex: "..."}`). At most one
    /// may constrain; anything else is an error naming the field.
    pub fn from_request(
        response_format: Option<&serde_json::Value>,
        grammar: Option<&serde_json::Value>,
    ) -> Result<Option<ConstraintSpec>, String> {
        use serde_json::Value;
        let format = match response_format {
            None | Some(Value::Null) => None,
            Some(f) => match f.get("type").and_then(Value::as_str) {
                Some("text") => None,
                Some("json_object") => Some(ConstraintSpec::JsonObject),
                Some("json_schema") => match f.get("json_schema").and_then(|j| j.get("schema")) {
                    Some(schema) if schema.is_object() || schema.is_boolean() => Some(ConstraintSpec::JsonSchema(schema.clone())),
                    _ => return Err("response_format.json_schema.schema must be a JSON schema (an object)".into()),
                },
                _ => return Err("response_format.type must be \"text\", \"json_object\" or \"json_schema\"".into()),
            },
        };
        let grammar = match grammar {
            None | Some(Value::Null) => None,
            Some(Value::String(g)) => Some(ConstraintSpec::Lark(g.clone())),
            Some(g) => match (g.get("lark").and_then(Value::as_str), g.get("regex").and_then(Value::as_str)) {
                (Some(l), None) => Some(ConstraintSpec::Lark(l.to_string())),
                (None, Some(r)) => Some(ConstraintSpec::Regex(r.to_string())),
                _ => return Err("grammar must be a Lark grammar (a string or {lark}) or {regex}".into()),
            },
        };
        match (format, grammar) {
            (Some(_), Some(_)) => Err("give response_format or grammar, not both".into()),
            (f, g) => Ok(f.or(g)),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ConstraintSpec::JsonSchema(_) => "JSON schema",
            ConstraintSpec::JsonObject => "JSON object",
            ConstraintSpec::Lark(_) => "grammar",
            ConstraintSpec::Regex(_) => "regular expression",
        }
    }
}

fn compact(mut schema: serde_json::Value) -> serde_json::Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("x-guidance").or_insert_with(|| serde_json::json!({ "whitespace_flexible": false }));
    }
    schema
}

/// Compiles `spec` without a model (over a vocabulary of single bytes), to check it before a
/// request reaches a session: tool `parameters` are checked one by one, so that the error can name
/// the tool. The message is llguidance's.
pub fn check(spec: &ConstraintSpec) -> Result<(), String> {
    thread_local! {
        static BYTES: Option<ParserFactory> = ParserFactory::new_simple(&ApproximateTokEnv::single_byte_env()).ok().map(|mut f| {
            f.quiet();
            f
        });
    }
    BYTES.with(|f| {
        let f = f.as_ref().ok_or("llguidance could not start")?;
        let parser = f.create_parser(spec.grammar()).map_err(|e| e.to_string())?;
        let mut matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(e);
        }
        let first = matcher.compute_mask().map_err(|e| e.to_string())?;
        if first.is_zero() && !matcher.is_accepting().unwrap_or(false) {
            return Err("no output can match it".into());
        }
        Ok(())
    })
}

/// The vocabulary as llguidance sees it, and its parser factory: built once per model.
pub struct TokenTable {
    factory: ParserFactory,
    eog: Vec<u32>,
    n_vocab: usize,
}

impl TokenTable {
    /// From the tokenizer's vocabulary, for a model with `n_vocab` logits (ids past the
    /// vocabulary are never allowed). Normal, byte and user-defined tokens are their bytes
    /// (byte-level BPE and SentencePiece alike, through `Tokenizer::piece`); control, unknown and
    /// unused tokens are special (llguidance's 0xFF marker before their text), which no JSON,
    /// regex or Lark text matches.
    pub fn new(tok: &Tokenizer, n_vocab: usize) -> Result<TokenTable, String> {
        let v = &tok.vocab;
        let special = TokenAttr::CONTROL | TokenAttr::UNKNOWN | TokenAttr::UNUSED;
        let words: Vec<Vec<u8>> = (0..n_vocab as u32)
            .map(|id| match v.attrs.get(id as usize) {
                None => Vec::new(),
                Some(a) if a.has(special) || v.is_eog(id) => {
                    let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    w.extend_from_slice(v.tokens[id as usize].as_bytes());
                    w
                }
                Some(_) => tok.piece(id),
            })
            .collect();
        let eog: Vec<u32> = v.eog.iter().copied().filter(|&e| (e as usize) < n_vocab).collect();
        let first_eog = eog.first().copied().or(v.eos).unwrap_or(0);
        let trie = TokTrie::from(&TokRxInfo::new(n_vocab as u32, first_eog), &words);
        let trie = if eog.is_empty() { trie } else { trie.with_eos_tokens(&eog) };
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
        factory.quiet();
        *factory.limits_mut() = ParserLimits::default();
        Ok(TokenTable { factory, eog, n_vocab })
    }

    /// Compiles `spec` for one request; what llguidance refuses is an `InvalidArgument` naming it.
    pub fn compile(&self, spec: &ConstraintSpec) -> Result<Constraint, EngineError> {
        let invalid = |e: String| EngineError::InvalidArgument(format!("invalid {}: {e}", spec.kind()));
        let parser = self.factory.create_parser(spec.grammar()).map_err(|e| invalid(e.to_string()))?;
        let mut matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(invalid(e));
        }
        // A grammar that allows nothing at all (e.g. an unsatisfiable schema) fails here too.
        let first = matcher.compute_mask().map_err(|e| invalid(e.to_string()))?;
        if first.is_zero() && !matcher.is_accepting().unwrap_or(false) {
            return Err(invalid("no output can match it".into()));
        }
        Ok(Constraint { matcher, eog: self.eog.clone(), words: self.n_vocab.div_ceil(32), stats: ConstraintStats::default() })
    }
}

/// How much a generation's constraint cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ConstraintStats {
    /// Tokens checked (one per sampled token).
    pub checked: usize,
    /// Draws the grammar refused, each followed by a full mask and a second draw.
    pub masked: usize,
    /// Milliseconds in llguidance: checks, masks and advancing the parser.
    pub ms: f64,
}

/// One request's constraint: the parser state as the output grows.
pub struct Constraint {
    matcher: Matcher,
    eog: Vec<u32>,
    words: usize,
    pub stats: ConstraintStats,
}

impl Constraint {
    /// Whether `id` may come next (an end-of-generation id only where the grammar may end).
    pub fn allows(&mut self, id: u32) -> Result<bool, EngineError> {
        let t0 = crate::engine::clock::now_ms();
        self.stats.checked += 1;
        let r = if self.eog.contains(&id) {
            self.matcher.is_accepting().map_err(internal)?
        } else {
            self.matcher.validate_tokens(&[id]).map_err(internal)? == 1
        };
        self.stats.ms += crate::engine::clock::now_ms() - t0;
        Ok(r)
    }

    /// The tokens that may come next, `n_vocab` bits (bit i of word i / 32); every
    /// end-of-generation id where the grammar may end.
    pub fn mask(&mut self) -> Result<Vec<u32>, EngineError> {
        let t0 = crate::engine::clock::now_ms();
        self.stats.masked += 1;
        let vob = self.matcher.compute_mask().map_err(internal)?;
        let mut bits = vec![0u32; self.words];
        let src = vob.as_slice();
        let n = bits.len().min(src.len());
        bits[..n].copy_from_slice(&src[..n]);
        let end = self.matcher.is_accepting().map_err(internal)?;
        for &e in &self.eog {
            let (w, b) = (e as usize / 32, e % 32);
            bits[w] = (bits[w] & !(1 << b)) | (u32::from(end) << b);
        }
        self.stats.ms += crate::engine::clock::now_ms() - t0;
        if bits.iter().all(|&w| w == 0) {
            return Err(EngineError::InvalidState("the grammar allows no token here"));
        }
        Ok(bits)
    }

    /// Advances the parser past `id` (an allowed token).
    pub fn consume(&mut self, id: u32) -> Result<(), EngineError> {
        if self.eog.contains(&id) {
            return Ok(());
        }
        let t0 = crate::engine::clock::now_ms();
        self.matcher.consume_token(id).map_err(internal)?;
        self.stats.ms += crate::engine::clock::now_ms() - t0;
        Ok(())
    }

    /// Whether the grammar is complete and allows nothing more: the generation ends (`stop`).
    pub fn is_done(&self) -> bool {
        self.matcher.is_stopped()
    }
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidArgument(format!("constraint: {e}"))
}
