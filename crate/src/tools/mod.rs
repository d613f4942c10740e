//! Tool (function) calls, OpenAI-shaped, on top of the generation core without changing it: a
//! request's `tools` and `tool_choice` are checked here ([`ToolRequest`]), rendered by the model's
//! own chat template (`prompt.rs`), turned into a grammar that only lets out calls whose
//! `arguments` validate against their function's `parameters` (`syntax.rs`, handed to the session
//! as an ordinary `GenerateOptions::constraint`), and the output is parsed back into `tool_calls`,
//! incrementally for streaming (`parse.rs`).
//!
//! The call syntax is the model family's, recognised from its chat template ([`ToolFamily`]):
//! Qwen 2.5/3 and Hermes `<tool_call>` JSON, Llama 3.x JSON, Mistral `[TOOL_CALLS]`, and a
//! documented generic form for templates without tool support (docs/api.md, "Tool calls").

mod parse;
mod prompt;
mod syntax;

pub use parse::{ToolCall, ToolDelta, ToolParser};
pub use prompt::{chat_messages, generic_instructions};
pub use syntax::{ToolFamily, ToolPlan};

use crate::constraint::ConstraintSpec;
use crate::engine::EngineError;
use crate::tokenizer::{ChatMessage, ChatTemplate, TemplateError};
use serde_json::{json, Value};

/// A chat's prompt text: `messages` (which may hold past tool calls and results) and the
/// request's tools, as the template's family renders them ([`chat_messages`]), with the prompt
/// for the assistant's turn.
pub fn render_chat(template: &ChatTemplate, messages: &[ChatMessage], req: Option<&ToolRequest>) -> Result<String, TemplateError> {
    let (msgs, tools) = chat_messages(ToolFamily::detect(template.source()), messages, req);
    template.render_with_tools(&msgs, tools.as_ref(), true)
}

/// At most this many tools in a request (OpenAI's limit).
pub const MAX_TOOLS: usize = 128;

/// One function the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// A JSON schema of the `arguments` object.
    pub parameters: Value,
}

/// What the model must do with the tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    /// Answer in text or call tools.
    Auto,
    /// Call one tool or more.
    Required,
    /// Call this function (one call or more).
    Named(String),
}

/// A request's tools, checked. `tool_choice: "none"` (or no tools) is no `ToolRequest`: the tools
/// are not offered to the model and nothing is parsed, as in OpenAI's API.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolRequest {
    pub tools: Vec<Tool>,
    pub choice: ToolChoice,
    /// The tools as the template's `tools` variable sees them (the request's own objects).
    pub json: Value,
    /// At most one call per reply (OpenAI's `parallel_tool_calls: false`).
    pub single_call: bool,
}

impl ToolRequest {
    /// From OpenAI-style request fields. Every problem is an `InvalidArgument` naming the field:
    /// a tool that is not `{type: "function", function: {name, description?, parameters?}}`, a
    /// name that is not 1 to 64 letters, digits, `_` or `-`, a duplicate name, a `parameters`
    /// schema llguidance cannot compile, a `tool_choice` that is not `"auto"`, `"none"`,
    /// `"required"` or `{type: "function", function: {name}}` naming one of the tools.
    pub fn from_request(tools: Option<&Value>, tool_choice: Option<&Value>) -> Result<Option<ToolRequest>, EngineError> {
        let bad = |m: String| EngineError::InvalidArgument(m);
        let list = match tools {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(bad("tools must be an array of {type: \"function\", function: {...}} objects".into())),
        };
        if list.len() > MAX_TOOLS {
            return Err(bad(format!("tools has {} entries, more than {MAX_TOOLS}", list.len())));
        }
        let choice = match tool_choice {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "none" => return Ok(None),
            Some(Value::String(s)) if s == "auto" => Some(ToolChoice::Auto),
            Some(Value::String(s)) if s == "required" => Some(ToolChoice::Required),
            Some(c) => match (c.get("type").and_then(Value::as_str), c.pointer("/function/name").and_then(Value::as_str)) {
                (Some("function"), Some(name)) => Some(ToolChoice::Named(name.to_string())),
                _ => {
                    return Err(
                        bad("tool_choice must be \"auto\", \"none\", \"required\" or {type: \"function\", function: {name}}".into()),
                    )
                }
            },
        };
        if list.is_empty() {
            return match choice {
                None => Ok(None),
                Some(_) => Err(bad("tool_choice needs tools".into())),
            };
        }
        let mut parsed: Vec<Tool> = Vec::with_capacity(list.len());
        for (i, t) in list.iter().enumerate() {
            let tool = tool(i, t)?;
            if parsed.iter().any(|p| p.name == tool.name) {
                return Err(bad(format!("tools[{i}].function.name {:?} is given twice", tool.name)));
            }
            parsed.push(tool);
        }
        let choice = choice.unwrap_or(ToolChoice::Auto);
        if let ToolChoice::Named(n) = &choice {
            if !parsed.iter().any(|t| &t.name == n) {
                return Err(bad(format!("tool_choice names {n:?}, which is not one of the tools")));
            }
        }
        Ok(Some(ToolRequest { tools: parsed, choice, json: Value::Array(list.to_vec()), single_call: false }))
    }

    /// The tools the output may call (all of them, or the one `tool_choice` names).
    pub fn callable(&self) -> Vec<&Tool> {
        match &self.choice {
            ToolChoice::Named(n) => self.tools.iter().filter(|t| &t.name == n).collect(),
            _ => self.tools.iter().collect(),
        }
    }

    /// Whether the output must be calls (no text).
    pub fn must_call(&self) -> bool {
        !matches!(self.choice, ToolChoice::Auto)
    }
}

/// One tool object, checked; `i` names it in errors.
fn tool(i: usize, t: &Value) -> Result<Tool, EngineError> {
    let bad = |m: String| EngineError::InvalidArgument(format!("tools[{i}]{m}"));
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return Err(bad(".type must be \"function\"".into()));
    }
    let f = t.get("function").filter(|f| f.is_object()).ok_or_else(|| bad(".function must be an object".into()))?;
    let name = f.get("name").and_then(Value::as_str).ok_or_else(|| bad(".function.name must be a string".into()))?;
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(bad(format!(".function.name {name:?} must be 1 to 64 letters, digits, _ or -")));
    }
    let description = match f.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return Err(bad(".function.description must be a string".into())),
    };
    let parameters = match f.get("parameters") {
        None | Some(Value::Null) => json!({ "type": "object", "properties": {} }),
        Some(p @ Value::Object(o)) => {
            if o.get("type").is_some_and(|ty| ty != "object") {
                return Err(bad(".function.parameters must describe an object (its type is not \"object\")".into()));
            }
            p.clone()
        }
        Some(_) => return Err(bad(".function.parameters must be a JSON schema (an object)".into())),
    };
    // Compiled before any token, alone, so that the error names the tool.
    crate::constraint::check(&ConstraintSpec::JsonSchema(parameters.clone()))
        .map_err(|e| bad(format!(".function.parameters is not a schema llguidance can compile: {e}")))?;
    Ok(Tool { name: name.to_string(), description, parameters })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather() -> Value {
        json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    fn err(tools: Value, choice: Option<Value>) -> String {
        match ToolRequest::from_request(Some(&tools), choice.as_ref()) {
            Err(EngineError::InvalidArgument(m)) => m,
            other => panic!("{tools} {choice:?}: {other:?}"),
        }
    }

    #[test]
    fn bad_requests_name_the_field() {
        assert!(err(json!({}), None).contains("tools must be an array"));
        assert!(err(json!([{"type": "tool"}]), None).contains("tools[0].type"));
        assert!(err(json!([weather(), {"type": "function"}]), None).contains("tools[1].function must be"));
        assert!(err(json!([{"type": "function", "function": {"name": "a b"}}]), None).contains("tools[0].function.name"));
        assert!(err(json!([weather(), weather()]), None).contains("given twice"));
        let bad_schema = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "frob"}}}}}]);
        assert!(err(bad_schema, None).contains("tools[0].function.parameters"));
        let not_object = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]);
        assert!(err(not_object, None).contains("must describe an object"));
        assert!(err(json!([weather()]), Some(json!("sometimes"))).contains("tool_choice must be"));
        let other = Some(json!({"type": "function", "function": {"name": "other"}}));
        assert!(err(json!([weather()]), other).contains("not one of the tools"));
        assert!(err(json!([]), Some(json!("required"))).contains("tool_choice needs tools"));
    }

    #[test]
    fn none_and_no_tools_offer_nothing() {
        assert_eq!(ToolRequest::from_request(Some(&json!([weather()])), Some(&json!("none"))).unwrap(), None);
        assert_eq!(ToolRequest::from_request(None, None).unwrap(), None);
        let r = ToolRequest::from_request(Some(&json!([weather()])), None).unwrap().unwrap();
        assert_eq!(r.choice, ToolChoice::Auto);
        assert_eq!(r.tools[0].name, "get_weather");
    }
}
