//! The messages and `tools` a chat template renders. Templates with tool support get the tools as
//! their `tools` variable and past calls as Hugging Face passes them (each call's `arguments` as
//! an object, not the JSON text OpenAI's API carries). Templates without it (the generic family)
//! get the tools described in the system message, past calls written in the generic form as the
//! assistant's text, and tool results as user messages.

use super::syntax::{ToolFamily, GENERIC_OPEN};
use super::{ToolChoice, ToolRequest};
use crate::tokenizer::ChatMessage;
use serde_json::{json, Value};

/// The messages to render and the `tools` variable, for a template of `family`.
pub fn chat_messages(family: ToolFamily, messages: &[ChatMessage], req: Option<&ToolRequest>) -> (Vec<ChatMessage>, Option<Value>) {
    let mut msgs: Vec<ChatMessage> = messages.iter().map(with_object_arguments).collect();
    if family != ToolFamily::Generic {
        return (msgs, req.map(|r| r.json.clone()));
    }
    for m in &mut msgs {
        if let Some(calls) = m.tool_calls.take() {
            let calls: Vec<Value> = calls
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| json!({ "name": c.pointer("/function/name"), "arguments": c.pointer("/function/arguments") }))
                        .collect()
                })
                .unwrap_or_default();
            let text = format!("{GENERIC_OPEN}{}}}", crate::tokenizer::chat::python_json(&Value::Array(calls)));
            m.content = if m.content.trim().is_empty() { text } else { format!("{}\n{text}", m.content) };
        } else if m.role == "tool" {
            let id = m.tool_call_id.take().unwrap_or_default();
            m.content = format!("Result of tool call {id}: {}", m.content);
            m.role = "user".into();
            m.name = None;
        }
    }
    if let Some(r) = req {
        let text = generic_instructions(r);
        match msgs.first_mut() {
            Some(first) if first.role == "system" => first.content = format!("{}\n\n{text}", first.content),
            _ => msgs.insert(0, ChatMessage::new("system", &text)),
        }
    }
    (msgs, None)
}

/// The system message that offers tools to a template without tool support.
pub fn generic_instructions(r: &ToolRequest) -> String {
    let list: Vec<Value> = r
        .tools
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description.clone().unwrap_or_default(), "parameters": t.parameters }))
        .collect();
    let list = crate::tokenizer::chat::python_json(&Value::Array(list));
    let rule = match &r.choice {
        ToolChoice::Auto => "To call functions, reply with only this JSON; otherwise reply in text.".to_string(),
        ToolChoice::Required => "Reply by calling one function or more, with only this JSON.".to_string(),
        ToolChoice::Named(n) => format!("Reply by calling the function {n}, with only this JSON."),
    };
    format!(
        "You can call these functions (each with a JSON schema of its arguments):\n{list}\n\n{rule}\n\
         {GENERIC_OPEN}[{{\"name\": \"<function name>\", \"arguments\": {{<arguments>}}}}]}}"
    )
}

/// A message whose tool calls' `arguments` (JSON text in OpenAI's API) are objects, as templates
/// expect; text that is not JSON stays text.
fn with_object_arguments(m: &ChatMessage) -> ChatMessage {
    let mut m = m.clone();
    if let Some(Value::Array(calls)) = &mut m.tool_calls {
        for c in calls {
            if let Some(a) = c.pointer_mut("/function/arguments") {
                if let Some(v) = a.as_str().and_then(|s| serde_json::from_str::<Value>(s).ok()) {
                    *a = v;
                }
            }
        }
    }
    m
}
