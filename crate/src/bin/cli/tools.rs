//! `generate`'s chat options: `--chat-template FILE` (a Jinja template instead of the GGUF's),
//! `--tools FILE` (a JSON array of OpenAI tool objects) and `--tool-choice auto|none|required|NAME`.
//! Tools imply `--chat`; the calls come back in `--json`'s `tool_calls` (the JS API's shape).

use super::args::Args;
use gguf_web::constraint::ConstraintSpec;
use gguf_web::engine::{FinishReason, Generation};
use gguf_web::gguf::Gguf;
use gguf_web::tokenizer::{ChatMessage, ChatTemplate, Tokenizer};
use gguf_web::tools::{render_chat, ToolParser, ToolPlan, ToolRequest};
use serde_json::{json, Value};

pub struct ChatTools {
    template: ChatTemplate,
    req: Option<ToolRequest>,
    plan: Option<ToolPlan>,
}

impl ChatTools {
    pub fn from_args(args: &Args, gguf: &Gguf, tok: &Tokenizer) -> Result<ChatTools, String> {
        let template = match args.get("chat-template") {
            Some(path) => {
                let src = std::fs::read_to_string(path).map_err(|e| format!("--chat-template {path}: {e}"))?;
                let v = &tok.vocab;
                let text = |id: Option<u32>| id.map(|i| v.tokens[i as usize].clone()).unwrap_or_default();
                ChatTemplate::new(Some(&src), "", &text(v.bos), &text(v.eos)).map_err(|e| format!("--chat-template {path}: {e}"))?
            }
            None => tok.chat_template(gguf).map_err(|e| e.to_string())?,
        };
        let tools: Option<Value> = match args.get("tools") {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("--tools {path}: {e}"))?;
                Some(serde_json::from_str(&text).map_err(|e| format!("--tools {path}: not JSON: {e}"))?)
            }
            None => None,
        };
        let choice = args.get("tool-choice").map(|c| match c {
            "auto" | "none" | "required" => json!(c),
            name => json!({ "type": "function", "function": { "name": name } }),
        });
        let req = ToolRequest::from_request(tools.as_ref(), choice.as_ref()).map_err(|e| e.to_string())?;
        let plan = req.as_ref().map(|r| ToolPlan::new(r, template.source(), tok));
        Ok(ChatTools { template, req, plan })
    }

    /// Whether the prompt must go through the chat template (`--chat`, or tools given).
    pub fn chat(&self, args: &Args) -> bool {
        args.flag("chat") || args.get("tools").is_some()
    }

    /// One user message, with the tools, as the template renders it.
    pub fn render(&self, prompt: &str) -> Result<String, String> {
        render_chat(&self.template, &[ChatMessage::new("user", prompt)], self.req.as_ref()).map_err(|e| e.to_string())
    }

    /// The output constraint: the tools' grammar, or `other` (not both).
    pub fn constraint(&self, other: Option<ConstraintSpec>) -> Result<Option<ConstraintSpec>, String> {
        match (&self.plan, other) {
            (Some(_), Some(_)) => Err("give --tools or an output constraint (--json-schema, --grammar, ...), not both".into()),
            (Some(p), None) => Ok(Some(p.constraint.clone())),
            (None, o) => Ok(o),
        }
    }

    pub fn parser(&self, seed: u64) -> Option<ToolParser> {
        self.plan.as_ref().map(|p| p.parser(seed))
    }

    /// `--json`'s fields for a reply parsed by `parser`: `tool_calls` when the model called tools
    /// (then `finish_reason` is `tool_calls`), and `content`, the text outside the calls.
    pub fn report(&self, parser: &mut ToolParser, g: &Generation, out: &mut Value) {
        let (_, content, calls) = parser.finish();
        out["tool_family"] = json!(self.plan.as_ref().map(|p| p.family.name()));
        out["content"] = json!(content);
        if !calls.is_empty() {
            out["tool_calls"] = Value::Array(calls.iter().map(|c| c.to_openai()).collect());
            if g.finish == FinishReason::Stop {
                out["finish_reason"] = json!("tool_calls");
            }
        }
    }
}
