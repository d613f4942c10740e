//! The model's tokenizer and chat template as their own JS object, sharing them with the `Model`:
//! a `Model` stays borrowed while `next()` runs (an async call holds its `&mut self`), and text
//! calls from the page (`engine.tokenize` while a reply streams) must not wait for it or fail.

use super::errors::js_error;
use crate::error_code::ErrorCode;
use crate::tokenizer::{ChatMessage, ChatTemplate, Tokenizer};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
#[derive(Clone)]
pub struct Text {
    pub(crate) tok: Rc<Tokenizer>,
    pub(crate) template: Rc<ChatTemplate>,
}

#[wasm_bindgen]
impl Text {
    /// Text to ids (no BOS unless `add_special`; special-token texts parsed when `parse_special`).
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>, JsValue> {
        self.tok.encode(text, add_special, parse_special).map_err(|e| js_error(ErrorCode::InvalidArgument, &e.to_string()))
    }

    pub fn detokenize(&self, ids: &[u32]) -> Result<String, JsValue> {
        let n = self.tok.vocab.tokens.len();
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= n) {
            return Err(js_error(ErrorCode::InvalidArgument, &format!("token id {bad} is outside the vocabulary of {n}")));
        }
        Ok(self.tok.decode(ids, false))
    }

    /// The model's chat template applied to `messages` (`[{role, content, tool_calls?,
    /// tool_call_id?}]`) and the request's `tools` and `tool_choice` (OpenAI's shapes; undefined:
    /// none), with the prompt for the assistant's turn (crate/src/tools/prompt.rs).
    #[wasm_bindgen(js_name = applyChatTemplate)]
    pub fn apply_chat_template(&self, messages: JsValue, tools: JsValue, tool_choice: JsValue) -> Result<String, JsValue> {
        let msgs: Vec<ChatMessage> =
            serde_wasm_bindgen::from_value(messages).map_err(|e| js_error(ErrorCode::InvalidArgument, &format!("messages: {e}")))?;
        let req = tool_request(tools, tool_choice)?;
        // A TemplateError (its code: TemplateError), capped and typed by the template's bounds.
        crate::tools::render_chat(&self.template, &msgs, req.as_ref()).map_err(super::errors::coded)
    }

    /// Prompt ids of a chat: the rendered template, special tokens parsed, BOS as the model wants
    /// unless the template already wrote it.
    #[wasm_bindgen(js_name = chatPromptIds)]
    pub fn chat_prompt_ids(&self, messages: JsValue, tools: JsValue, tool_choice: JsValue) -> Result<Vec<u32>, JsValue> {
        let text = self.apply_chat_template(messages, tools, tool_choice)?;
        let v = &self.tok.vocab;
        let bos_in_text = v.bos.is_some_and(|b| text.starts_with(v.tokens[b as usize].as_str()));
        self.tokenize(&text, !bos_in_text, true)
    }

    /// Prompt ids of a raw completion, as llama.cpp tokenizes it (BOS if the model adds one).
    #[wasm_bindgen(js_name = completionPromptIds)]
    pub fn completion_prompt_ids(&self, prompt: &str) -> Result<Vec<u32>, JsValue> {
        self.tokenize(prompt, true, false)
    }
}

/// A JS value as JSON (`undefined` and `null`: none).
pub(super) fn json_arg(v: JsValue, what: &str) -> Result<Option<serde_json::Value>, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    serde_wasm_bindgen::from_value(v).map(Some).map_err(|e| js_error(ErrorCode::InvalidArgument, &format!("{what}: {e}")))
}

/// The request's tools, checked (`None`: no tools, or `tool_choice: "none"`).
fn tool_request(tools: JsValue, tool_choice: JsValue) -> Result<Option<crate::tools::ToolRequest>, JsValue> {
    let (tools, choice) = (json_arg(tools, "tools")?, json_arg(tool_choice, "tool_choice")?);
    crate::tools::ToolRequest::from_request(tools.as_ref(), choice.as_ref()).map_err(super::errors::coded)
}

/// What a test passes to say it means it (see [`Text::test_with_template`]).
const TEMPLATE_KEY: &str = "gguf-web test hook: use this chat template";

#[wasm_bindgen]
impl Text {
    /// A test hook of the browser tests (issue 19), not the package's API: the same tokenizer
    /// with the chat template `source`, as a hostile GGUF would bring it, so that a test can time
    /// its bounds in WebAssembly. Any other `key` is an InvalidArgument error.
    #[wasm_bindgen(js_name = __testWithTemplate)]
    pub fn test_with_template(&self, key: &str, source: &str) -> Result<Text, JsValue> {
        if key != TEMPLATE_KEY {
            return Err(js_error(ErrorCode::InvalidArgument, "__testWithTemplate is a test hook of gguf-web's browser tests"));
        }
        let v = &self.tok.vocab;
        let tok = |id: Option<u32>| id.map(|i| v.tokens[i as usize].clone()).unwrap_or_default();
        let template = ChatTemplate::new(Some(source), "llama", &tok(v.bos), &tok(v.eos)).map_err(super::errors::coded)?;
        Ok(Text { tok: self.tok.clone(), template: Rc::new(template) })
    }
}
