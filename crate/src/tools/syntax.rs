//! Each model family's call syntax, recognised from its chat template, and the grammar (llguidance
//! Lark with one `%json` sub-schema per callable function) that lets out only calls in it.
//!
//! | family | recognised by | a call |
//! |---|---|---|
//! | `hermes` (Qwen 2.5/3, Hermes) | `<tool_call>` | `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`, one per call |
//! | `llama3` (Llama 3.1-3.3) | `<\|start_header_id\|>` and `tools` | `{"name": "f", "parameters": {...}}`, the whole reply |
//! | `mistral` | `[TOOL_CALLS]` | `[TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]` |
//! | `generic` (any other template) | - | `{"tool_calls": [{"name": "f", "arguments": {...}}, ...]}`, the whole reply |
//!
//! With `tool_choice: "auto"` the reply may be text instead: for `hermes` and `mistral` text that
//! does not contain the trigger, optionally followed by calls; for `llama3` and `generic` text
//! that does not start with `{`. A reply holds at most [`MAX_CALLS`] calls (Llama 3: one). Arguments are written as Python's `json.dumps` writes them
//! (`", "` and `": "`), as the templates render past calls.

use super::{Tool, ToolRequest};
use crate::constraint::ConstraintSpec;
use crate::tokenizer::{TokenAttr, Tokenizer};
use serde_json::{json, Value};

/// The call syntax of a model family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolFamily {
    Hermes,
    Llama3,
    Mistral,
    Generic,
}

impl ToolFamily {
    /// The family whose syntax a chat template renders tool calls in; `Generic` when it does not
    /// render them (or in a syntax not listed).
    pub fn detect(template: &str) -> ToolFamily {
        if template.contains("[TOOL_CALLS]") {
            ToolFamily::Mistral
        } else if template.contains("<tool_call>") {
            ToolFamily::Hermes
        } else if template.contains("<|start_header_id|>") && template.contains("tools") && template.contains("\"parameters\"") {
            ToolFamily::Llama3
        } else {
            ToolFamily::Generic
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ToolFamily::Hermes => "hermes",
            ToolFamily::Llama3 => "llama3",
            ToolFamily::Mistral => "mistral",
            ToolFamily::Generic => "generic",
        }
    }

    /// The key of a call's arguments.
    pub(super) fn args_key(self) -> &'static str {
        match self {
            ToolFamily::Llama3 => "parameters",
            _ => "arguments",
        }
    }

    /// The text that starts the calls (`None`: a call object starts the reply).
    pub(super) fn trigger(self) -> Option<&'static str> {
        match self {
            ToolFamily::Hermes => Some("<tool_call>"),
            ToolFamily::Mistral => Some("[TOOL_CALLS]"),
            ToolFamily::Generic => Some(GENERIC_OPEN),
            ToolFamily::Llama3 => None,
        }
    }
}

/// At most this many calls in one reply (a model that keeps calling must end somewhere); one
/// with `parallel_tool_calls: false`.
pub const MAX_CALLS: usize = 8;

/// How the generic form opens.
pub(super) const GENERIC_OPEN: &str = "{\"tool_calls\": ";

/// What one request's tools need: the constraint for the session and what its parser must know.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolPlan {
    pub family: ToolFamily,
    pub constraint: ConstraintSpec,
    /// The trigger's id when the vocabulary has it as one special token (its text does not appear
    /// in the decoded output, so the parser is told the id).
    pub trigger_id: Option<u32>,
}

impl ToolPlan {
    /// The grammar of `req`'s calls in the syntax of the family of `template` (its source).
    pub fn new(req: &ToolRequest, template: &str, tok: &Tokenizer) -> ToolPlan {
        let family = ToolFamily::detect(template);
        let trigger_id = family.trigger().and_then(|t| special_id(tok, t));
        let max_calls = if req.single_call { 1 } else { MAX_CALLS };
        let constraint = ConstraintSpec::Lark(grammar(family, &req.callable(), req.must_call(), max_calls, trigger_id));
        ToolPlan { family, constraint, trigger_id }
    }

    pub fn parser(&self, id_seed: u64) -> super::ToolParser {
        super::ToolParser::new(self.family, self.trigger_id, id_seed)
    }
}

/// The id of `text` when it is one special token of the vocabulary (llguidance sees those only as
/// tokens, never as text).
fn special_id(tok: &Tokenizer, text: &str) -> Option<u32> {
    let v = &tok.vocab;
    let id = v.tokens.iter().position(|t| t == text)? as u32;
    let a = v.attrs.get(id as usize)?;
    (a.has(TokenAttr::CONTROL | TokenAttr::UNKNOWN | TokenAttr::UNUSED) || v.is_eog(id)).then_some(id)
}

/// A Lark string literal.
fn lit(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// `s` inside a Lark `/regex/`.
fn rx_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~/\"".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The Lark grammar: one rule per callable function (its name fixed, its arguments a `%json`
/// sub-schema), framed as `family` frames calls; `must_call`: calls only, else text or calls; at
/// most `max_calls` calls.
pub fn grammar(family: ToolFamily, tools: &[&Tool], must_call: bool, max_calls: usize, trigger_id: Option<u32>) -> String {
    let mut g = String::from("%llguidance {}\n");
    let key = family.args_key();
    let id_field = if family == ToolFamily::Mistral { " MISTRAL_ID?" } else { "" };
    let names: Vec<String> = (0..tools.len()).map(|i| format!("call_{i}")).collect();
    g += &format!("call: {}\n", names.join(" | "));
    for (i, t) in tools.iter().enumerate() {
        let head = format!("{{\"name\": \"{}\", \"{key}\": ", t.name);
        g += &format!("call_{i}: {} args_{i}{id_field} \"}}\"\n", lit(&head));
        g += &format!("args_{i}: %json {}\n", python_spacing(&t.parameters));
    }
    if family == ToolFamily::Mistral {
        // Mistral's models write the call's id after the arguments; ours replace it.
        g += "MISTRAL_ID: /, \"id\": \"[a-zA-Z0-9]{9}\"/\n";
    }
    // The calls after the trigger (or the call that starts the reply), and the trigger itself.
    let trig = family.trigger().unwrap_or("");
    // The calls after the first, up to `max_calls` in all.
    let more = |item: String| if max_calls <= 1 { String::new() } else { format!(" ({item}){{0,{}}}", max_calls - 1) };
    let trig_tok = match trigger_id {
        Some(id) => format!("<[{id}]>"),
        None => lit(trig),
    };
    let rest = match family {
        ToolFamily::Hermes => {
            format!("\"\\n\" call \"\\n</tool_call>\"{}", more(format!("\"\\n\" {trig_tok} \"\\n\" call \"\\n</tool_call>\"")))
        }
        ToolFamily::Mistral => format!("\"[\" call{} \"]\"", more("\", \" call".into())),
        ToolFamily::Generic => format!("\"[\" call{} \"]}}\"", more("\", \" call".into())),
        ToolFamily::Llama3 => String::new(),
    };
    g += &match (family, must_call) {
        (ToolFamily::Llama3, true) => "start: call\n".to_string(),
        (ToolFamily::Llama3, false) => "start: TEXT | call\nTEXT: /([^{](?s:.*))?/\n".to_string(),
        (ToolFamily::Generic, false) => format!("start: TEXT | {trig_tok} calls\ncalls: {rest}\nTEXT: /([^{{](?s:.*))?/\n"),
        (_, true) => format!("start: {trig_tok} calls\ncalls: {rest}\n"),
        // Text that cannot contain the trigger, then optionally the calls: a special token ends
        // the text by itself; a textual trigger ends a lazy lexeme at its first occurrence.
        (_, false) if trigger_id.is_some() => format!("start: TEXT | TEXT? {trig_tok} calls\ncalls: {rest}\nTEXT: /(?s:.+)/\n"),
        (_, false) => {
            let t = rx_escape(trig);
            format!("start: TEXT | lead calls\nlead[lazy]: /(?s:.*){t}/\ncalls: {rest}\nTEXT: /(?s:.*)/ & ~/(?s:.*){t}(?s:.*)/\n")
        }
    };
    g
}

/// The schema with llguidance's JSON layout set to Python's `json.dumps` (unless it sets its own).
fn python_spacing(schema: &Value) -> Value {
    let mut s = schema.clone();
    if let Some(o) = s.as_object_mut() {
        o.entry("x-guidance").or_insert_with(|| json!({ "whitespace_flexible": false, "item_separator": ", ", "key_separator": ": " }));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_recognised_from_templates() {
        assert_eq!(ToolFamily::detect("{{- '<tool_call>\\n' }}"), ToolFamily::Hermes);
        assert_eq!(ToolFamily::detect("{{- \"[TOOL_CALLS][\" }}"), ToolFamily::Mistral);
        let llama = "{%- if tools %}<|start_header_id|>{\"name\": function name, \"parameters\": ...}{% endif %}";
        assert_eq!(ToolFamily::detect(llama), ToolFamily::Llama3);
        assert_eq!(ToolFamily::detect("{{ '<|im_start|>' + m.role }}"), ToolFamily::Generic);
        assert_eq!(ToolFamily::detect("<|start_header_id|>{{ m.content }}"), ToolFamily::Generic);
    }
}
